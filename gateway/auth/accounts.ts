/**
 * Accounts (R1, R2): registration by email and/or phone (a phone only with its SMS code), login by
 * email or phone with password and captcha, phone binding, the registration agreement, and the
 * readiness check that eligibility and registration calls make first (PHONE_NOT_BOUND, then
 * AGREEMENT_REQUIRED). Refusals are thrown as ApiError with API.md's codes.
 *
 * Login never tells which logins exist: the captcha is checked (and consumed) first, then the
 * login's failure backoff for the client address (loginFailures.ts: before any KDF, the same for
 * logins naming no account), then an unknown login runs one full KDF verification against
 * DUMMY_HASH, exactly like a wrong password, and both answer INVALID_CREDENTIALS. The uniqueness
 * of emails (whatever their case) and phones is PostgreSQL's (accounts_email_key,
 * accounts_phone_key); the pre-checks here only save a KDF.
 * This module logs account ids and outcomes, never a login, phone, email, password or code.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isUniqueViolation, execute, query, type Pool } from '../../db/pool.ts';
import { ApiError } from '../errors.ts';
import type { Captchas } from './captcha.ts';
import { LaneOverloaded } from '../admission/lane.ts';
import { AuthKeys } from './keys.ts';
import { createAuthLogger } from './log.ts';
import { LOGIN_FAILURES_RULE, type AdmittedAttempt, type LoginFailures } from './loginFailures.ts';
import { DUMMY_HASH, isAcceptablePassword, needsRehash, type PasswordKdf } from './passwords.ts';
import type { Session, Sessions } from './sessions.ts';
import { isMobilePhone, type SmsCodes } from './sms.ts';

const EMAIL_MAX_LENGTH = 254;
/** Deliberately loose: one @, something on both sides, a dot in the domain, no spaces. */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** The client address of a login made in-process, without a request (tests, tools). */
export const LOCAL_ADDRESS = 'local';

export interface RegisterInput {
  readonly email?: string | undefined;
  readonly phone?: string | undefined;
  readonly smsCode?: string | undefined;
  readonly password: string;
}

export interface LoginInput {
  /** An email or a mainland mobile number. */
  readonly login: string;
  readonly password: string;
  readonly captchaId: string;
  readonly captchaAnswer: string;
}

export interface LoginResult extends Session {
  readonly phoneBound: boolean;
}

export interface AccountStatus {
  readonly phoneBound: boolean;
  readonly agreementAccepted: boolean;
}

export type ReadinessRefusal = 'PHONE_NOT_BOUND' | 'AGREEMENT_REQUIRED';

export interface AccountsOptions {
  readonly db: Pool;
  readonly redis: Redis | Cluster;
  readonly kdf: PasswordKdf;
  readonly captchas: Captchas;
  /** The failure backoff per login and client address (issue 16 item 1). */
  readonly loginFailures: LoginFailures;
  readonly sms: SmsCodes;
  readonly sessions: Sessions;
  readonly keys?: AuthKeys;
  readonly logger?: Logger;
  /**
   * How long a ready account is remembered in Redis (default 6 h). Readiness never goes back, so
   * this only bounds memory: the entries of accounts active in the surge, not of every account.
   */
  readonly readyCacheSeconds?: number;
}

export function isEmail(value: unknown): value is string {
  return typeof value === 'string' && value.length <= EMAIL_MAX_LENGTH && EMAIL.test(value);
}

export class Accounts {
  private readonly db: Pool;
  private readonly redis: Redis | Cluster;
  private readonly kdf: PasswordKdf;
  private readonly captchas: Captchas;
  private readonly loginFailures: LoginFailures;
  private readonly sms: SmsCodes;
  private readonly sessions: Sessions;
  private readonly keys: AuthKeys;
  private readonly logger: Logger;
  private readonly readyCacheSeconds: number;

  constructor(options: AccountsOptions) {
    this.db = options.db;
    this.redis = options.redis;
    this.kdf = options.kdf;
    this.captchas = options.captchas;
    this.loginFailures = options.loginFailures;
    this.sms = options.sms;
    this.sessions = options.sessions;
    this.keys = options.keys ?? new AuthKeys();
    this.logger = options.logger ?? createAuthLogger();
    this.readyCacheSeconds = options.readyCacheSeconds ?? 6 * 3600;
  }

  /**
   * VALIDATION_FAILED (no login, malformed email or phone, phone without smsCode), WEAK_PASSWORD,
   * SMS_CODE_INVALID, ACCOUNT_EXISTS. The SMS code is checked before any lookup, so this call
   * cannot be used to learn whether a phone is registered without receiving its code.
   */
  async register(input: RegisterInput): Promise<{ accountId: string; phoneBound: boolean }> {
    const email = input.email === undefined ? null : input.email.trim();
    const phone = input.phone ?? null;
    if (email === null && phone === null) {
      throw new ApiError('VALIDATION_FAILED', {
        message: 'An email or a phone is required',
        details: { fields: ['email', 'phone'] },
      });
    }
    if (email !== null && !isEmail(email)) {
      throw new ApiError('VALIDATION_FAILED', { details: { field: 'email' } });
    }
    if (phone !== null && !isMobilePhone(phone)) {
      throw new ApiError('VALIDATION_FAILED', { details: { field: 'phone' } });
    }
    if (phone !== null && input.smsCode === undefined) {
      throw new ApiError('VALIDATION_FAILED', {
        message: 'An SMS code is required with a phone',
        details: { field: 'smsCode' },
      });
    }
    if (!isAcceptablePassword(input.password)) throw new ApiError('WEAK_PASSWORD');
    if (phone !== null && !(await this.sms.consume(phone, input.smsCode))) {
      throw new ApiError('SMS_CODE_INVALID');
    }

    const taken = await query(
      this.db,
      'SELECT 1 FROM accounts WHERE lower(email) = lower($1) OR phone = $2 LIMIT 1',
      [email, phone],
    );
    if (taken.length > 0) throw new ApiError('ACCOUNT_EXISTS');

    const passwordHash = await this.kdf.hash(input.password);
    try {
      const rows = await query<{ account_id: string; phone_bound: boolean }>(
        this.db,
        `INSERT INTO accounts (email, phone, password_hash) VALUES ($1, $2, $3)
         RETURNING account_id::text, phone_bound`,
        [email, phone, passwordHash],
      );
      const row = rows[0];
      if (row === undefined) throw new Error('INSERT … RETURNING gave no row');
      this.logger.info({ accountId: row.account_id, phoneBound: row.phone_bound }, 'account registered');
      return { accountId: row.account_id, phoneBound: row.phone_bound };
    } catch (err) {
      // Lost a race with a concurrent registration of the same email or phone.
      if (isUniqueViolation(err)) throw new ApiError('ACCOUNT_EXISTS');
      throw err;
    }
  }

  /**
   * CAPTCHA_FAILED (checked and consumed first); RATE_LIMITED (`details.rule` loginFailures, with
   * retryAfterSeconds) while this login backs off at this client address, before any KDF; then
   * INVALID_CREDENTIALS for any other failure. `clientAddress` is the request's (ctx.ip).
   */
  async login(input: LoginInput, clientAddress: string = LOCAL_ADDRESS): Promise<LoginResult> {
    // the account is looked up while the captcha is checked (one round trip fewer at opening); a
    // failed captcha answers without waiting for it, so its timing says nothing of the account
    const lookup = this.findByLogin(input.login);
    lookup.catch(() => undefined); // awaited below, unless the captcha fails first
    if (!(await this.captchas.verify(input.captchaId, input.captchaAnswer))) {
      this.logger.info({ outcome: 'captcha_failed' }, 'login refused');
      throw new ApiError('CAPTCHA_FAILED');
    }
    const account = await lookup;
    let checked: { attempt: AdmittedAttempt; matches: boolean };
    try {
      checked = await this.checkPassword(
        account?.account_id,
        input.login,
        account?.password_hash ?? DUMMY_HASH,
        String(input.password),
        clientAddress,
        'login refused',
      );
    } catch (error) {
      // shed before the password was checked: the retry may use the same captcha
      if (error instanceof LaneOverloaded)
        await this.captchas.reinstate(input.captchaId, input.captchaAnswer);
      throw error;
    }
    const { attempt, matches: passwordMatches } = checked;
    if (account !== undefined && passwordMatches) {
      // the backoff is cleared while the session is made: one round trip fewer per login
      const [, session] = await Promise.all([
        this.loginFailures.settle(attempt, 'succeeded'),
        this.sessionFor(account, input.password),
      ]);
      return session;
    }
    await this.loginFailures.settle(attempt, 'failed');
    this.logger.info(
      { outcome: 'invalid_credentials', ...(account === undefined ? {} : { accountId: account.account_id }) },
      'login refused',
    );
    throw new ApiError('INVALID_CREDENTIALS');
  }

  private async sessionFor(
    account: { readonly account_id: string; readonly password_hash: string; readonly phone_bound: boolean },
    password: string,
  ): Promise<LoginResult> {
    if (needsRehash(account.password_hash)) await this.rehash(account.account_id, password);
    const session = await this.sessions.create(account.account_id);
    return { ...session, phoneBound: account.phone_bound };
  }

  /**
   * Binds a phone (R1): VALIDATION_FAILED (malformed phone), SMS_CODE_INVALID, PHONE_IN_USE
   * (another account has it). Changing a phone already bound to another number also needs the account's
   * password (issue 16 item 17: a stolen session must not move the account to the thief's phone),
   * checked before the SMS code is spent, with the login's failure backoff at this client address:
   * 403 PASSWORD_REQUIRED when it is missing or wrong, 429 RATE_LIMITED while backing off.
   */
  async bindPhone(
    accountId: string,
    phone: string,
    smsCode: string,
    password?: string,
    clientAddress: string = LOCAL_ADDRESS,
  ): Promise<{ phoneBound: true }> {
    if (!isMobilePhone(phone)) throw new ApiError('VALIDATION_FAILED', { details: { field: 'phone' } });
    const [current] = await query<{ phone: string | null; password_hash: string }>(
      this.db,
      'SELECT phone, password_hash FROM accounts WHERE account_id = $1',
      [accountId],
    );
    if (current === undefined) throw new ApiError('UNAUTHORIZED');
    if (current.phone !== null && current.phone !== phone) {
      if (password === undefined) throw new ApiError('PASSWORD_REQUIRED');
      const { attempt, matches } = await this.checkPassword(
        accountId,
        current.phone,
        current.password_hash,
        password,
        clientAddress,
        'phone change refused',
      );
      await this.loginFailures.settle(attempt, matches ? 'succeeded' : 'failed');
      if (!matches) {
        this.logger.info({ accountId, outcome: 'wrong_password' }, 'phone change refused');
        throw new ApiError('PASSWORD_REQUIRED');
      }
    }
    if (!(await this.sms.consume(phone, smsCode))) throw new ApiError('SMS_CODE_INVALID');
    let updated: number;
    try {
      updated = await execute(this.db, 'UPDATE accounts SET phone = $2 WHERE account_id = $1', [
        accountId,
        phone,
      ]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError('PHONE_IN_USE');
      throw err;
    }
    if (updated === 0) throw new ApiError('UNAUTHORIZED');
    this.logger.info({ accountId }, 'phone bound');
    return { phoneBound: true };
  }

  /**
   * One password check behind the login's failure backoff (loginFailures.ts), for a login or a
   * phone change: RATE_LIMITED before any KDF while this login backs off at this client address;
   * a check that never ran (shed by the KDF lane, or failed) counts nothing and rethrows. The
   * caller settles the attempt with what it makes of the answer.
   */
  private async checkPassword(
    accountId: string | undefined,
    login: string,
    storedHash: string,
    password: string,
    clientAddress: string,
    refused: string,
  ): Promise<{ attempt: AdmittedAttempt; matches: boolean }> {
    const attempt = await this.loginFailures.begin(accountId, login, clientAddress);
    if (!attempt.admitted) {
      this.logger.info(
        { outcome: 'login_backoff', ...(accountId === undefined ? {} : { accountId }) },
        refused,
      );
      throw new ApiError('RATE_LIMITED', {
        message: 'Too many failed password checks from this address; retry later',
        details: { retryAfterSeconds: attempt.retryAfterSeconds, rule: LOGIN_FAILURES_RULE },
      });
    }
    try {
      return { attempt, matches: await this.kdf.verify(storedHash, password) };
    } catch (error) {
      await this.loginFailures.settle(attempt, 'unchecked');
      throw error;
    }
  }

  /** R2; idempotent: the first acceptance time is kept. */
  async acceptAgreement(accountId: string): Promise<void> {
    const updated = await execute(
      this.db,
      'UPDATE accounts SET agreement_accepted_at = coalesce(agreement_accepted_at, now()) WHERE account_id = $1',
      [accountId],
    );
    if (updated === 0) throw new ApiError('UNAUTHORIZED');
  }

  async accountStatus(accountId: string): Promise<AccountStatus> {
    const rows = await query<{ phone_bound: boolean; agreement_accepted: boolean }>(
      this.db,
      `SELECT phone_bound, agreement_accepted_at IS NOT NULL AS agreement_accepted
         FROM accounts WHERE account_id = $1`,
      [accountId],
    );
    const row = rows[0];
    if (row === undefined) throw new ApiError('UNAUTHORIZED');
    return { phoneBound: row.phone_bound, agreementAccepted: row.agreement_accepted };
  }

  /**
   * The refusal an eligibility or registration call gets before the account may register (R1 then
   * R2), or null. Readiness never goes back (a bound phone can be changed, not removed; the
   * agreement stays accepted), so a ready account is remembered in Redis for a while and costs one
   * GET instead of a PostgreSQL query on its next calls.
   */
  async requireRegistrationReady(accountId: string): Promise<ReadinessRefusal | null> {
    const key = this.keys.registrationReady(accountId);
    if ((await this.redis.get(key)) !== null) return null;
    const status = await this.accountStatus(accountId);
    if (!status.phoneBound) return 'PHONE_NOT_BOUND';
    if (!status.agreementAccepted) return 'AGREEMENT_REQUIRED';
    await this.redis.set(key, '1', 'EX', this.readyCacheSeconds);
    return null;
  }

  private async findByLogin(
    login: unknown,
  ): Promise<{ account_id: string; password_hash: string; phone_bound: boolean } | undefined> {
    const trimmed = typeof login === 'string' ? login.trim() : '';
    let where: string;
    if (isMobilePhone(trimmed)) where = 'phone = $1';
    else if (isEmail(trimmed)) where = 'lower(email) = lower($1)';
    else return undefined;
    const rows = await query<{ account_id: string; password_hash: string; phone_bound: boolean }>(
      this.db,
      `SELECT account_id::text, password_hash, phone_bound FROM accounts WHERE ${where}`,
      [trimmed],
    );
    return rows[0];
  }

  /** Upgrades a hash made with older parameters; a failure here must not fail the login. */
  private async rehash(accountId: string, password: string): Promise<void> {
    try {
      const passwordHash = await this.kdf.hash(password);
      await execute(this.db, 'UPDATE accounts SET password_hash = $2 WHERE account_id = $1', [
        accountId,
        passwordHash,
      ]);
    } catch (err) {
      this.logger.warn(
        { accountId, err: err instanceof Error ? err.message : String(err) },
        'password rehash failed',
      );
    }
  }
}
