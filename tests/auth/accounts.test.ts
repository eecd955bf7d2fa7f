/**
 * Accounts (R1, R2) on real PostgreSQL and Redis, with the real argon2id KDF on a one-thread pool:
 * registration by email and by phone, login with captcha, equal work for unknown logins and wrong
 * passwords, phone binding, the agreement, and the readiness check that gates registration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../db/pool.ts';
import { ApiError, type ApiCode } from '../../gateway/errors.ts';
import { DUMMY_HASH, KDF_PARAMS } from '../../gateway/auth/passwords.ts';
import { parsePhc } from '../../gateway/auth/phc.ts';
import { SmsCodes, LogSmsSender } from '../../gateway/auth/sms.ts';
import { sleep } from '../support/wait.ts';
import { newAuthFixture, smsCodeFor, solvedCaptcha, uniquePhone, type AuthFixture } from './fixture.ts';

let f: AuthFixture;

beforeAll(async () => {
  f = await newAuthFixture({ threads: 1 });
  // The first task on a thread loads the worker module: keep that out of every measurement.
  await f.kdf.verify(DUMMY_HASH, 'warm-up-1');
});

afterAll(async () => {
  await f?.close();
});

async function refusal(promise: Promise<unknown>): Promise<ApiCode> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(err)}`);
  return err.code;
}

let emailCounter = 0;
const uniqueEmail = (): string => `Candidate.${++emailCounter}.${process.pid}@Example.edu.cn`;
const PASSWORD = 'correct horse 42';

async function storedHash(accountId: string): Promise<string> {
  const [row] = await query<{ password_hash: string }>(
    f.db,
    'SELECT password_hash FROM accounts WHERE account_id = $1',
    [accountId],
  );
  if (row === undefined) throw new Error('no such account');
  return row.password_hash;
}

describe('R1: registration', () => {
  it('registers by email; the stored hash is argon2id with the intended parameters', async () => {
    const email = uniqueEmail();
    const before = f.kdf.calls.hash;
    const created = await f.accounts.register({ email, password: PASSWORD });
    expect(created.phoneBound).toBe(false);
    expect(created.accountId).toMatch(/^\d+$/);
    expect(f.kdf.calls.hash).toBe(before + 1);

    const stored = await storedHash(created.accountId);
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const phc = parsePhc(stored);
    expect(phc).toMatchObject({
      algorithm: 'argon2id',
      version: 19,
      memoryCost: 19_456,
      timeCost: 2,
      parallelism: 1,
    });
    expect(phc.salt.length).toBe(KDF_PARAMS.saltBytes);
    expect(phc.hash.length).toBe(KDF_PARAMS.hashBytes);
    expect(stored).not.toContain(PASSWORD);
  });

  it('refuses the same email in another case with ACCOUNT_EXISTS, before spending a KDF', async () => {
    const email = uniqueEmail();
    await f.accounts.register({ email, password: PASSWORD });
    const hashes = f.kdf.calls.hash;
    expect(await refusal(f.accounts.register({ email: email.toUpperCase(), password: 'other pass 1' }))).toBe(
      'ACCOUNT_EXISTS',
    );
    expect(
      await refusal(f.accounts.register({ email: ` ${email.toLowerCase()} `, password: 'other pass 1' })),
    ).toBe('ACCOUNT_EXISTS');
    expect(f.kdf.calls.hash).toBe(hashes);
  });

  it('lets exactly one of several concurrent registrations of one email through', async () => {
    const email = uniqueEmail();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 4 }, (_, i) =>
        f.accounts.register({ email: i % 2 === 0 ? email : email.toLowerCase(), password: PASSWORD }),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected')
        expect(outcome.reason).toMatchObject({ code: 'ACCOUNT_EXISTS', status: 409 });
    }
    const [row] = await query<{ n: string }>(
      f.db,
      'SELECT count(*)::text AS n FROM accounts WHERE lower(email) = lower($1)',
      [email],
    );
    expect(row?.n).toBe('1');
  });

  it('refuses weak passwords with WEAK_PASSWORD and never hashes them', async () => {
    const hashes = f.kdf.calls.hash;
    const weak = ['abc123', 'onlyletters', '1234567890', `a1${'x'.repeat(127)}`, ''];
    for (const password of weak) {
      expect(await refusal(f.accounts.register({ email: uniqueEmail(), password })), password).toBe(
        'WEAK_PASSWORD',
      );
    }
    expect(f.kdf.calls.hash).toBe(hashes);
    // The bounds themselves are accepted: 8 characters, and 128.
    await f.accounts.register({ email: uniqueEmail(), password: 'abcdefg1' });
    await f.accounts.register({ email: uniqueEmail(), password: `a1${'x'.repeat(126)}` });
  });

  it('needs an email or a phone, well-formed, and an SMS code with a phone (VALIDATION_FAILED)', async () => {
    expect(await refusal(f.accounts.register({ password: PASSWORD }))).toBe('VALIDATION_FAILED');
    expect(await refusal(f.accounts.register({ email: 'not-an-email', password: PASSWORD }))).toBe(
      'VALIDATION_FAILED',
    );
    expect(
      await refusal(f.accounts.register({ phone: '12012345678', smsCode: '123456', password: PASSWORD })),
    ).toBe('VALIDATION_FAILED');
    expect(await refusal(f.accounts.register({ phone: uniquePhone(), password: PASSWORD }))).toBe(
      'VALIDATION_FAILED',
    );
  });

  it('registers by phone with its SMS code; wrong, used and expired codes are SMS_CODE_INVALID', async () => {
    const phone = uniquePhone();
    const code = await smsCodeFor(f.sms, phone);
    const wrong = code === '000000' ? '000001' : '000000';
    expect(await refusal(f.accounts.register({ phone, smsCode: wrong, password: PASSWORD }))).toBe(
      'SMS_CODE_INVALID',
    );

    const created = await f.accounts.register({ phone, smsCode: code, password: PASSWORD });
    expect(created.phoneBound).toBe(true);

    // Used: the same code again (for another phone-less attempt on the same phone).
    expect(await refusal(f.accounts.register({ phone, smsCode: code, password: PASSWORD }))).toBe(
      'SMS_CODE_INVALID',
    );

    // Expired: a code sent with a short lifetime, checked after it.
    const other = uniquePhone();
    const shortLived = new SmsCodes({
      redis: f.redis,
      keys: f.keys,
      sender: new LogSmsSender({ logger: f.logger }),
      codeTtlMs: 150,
    });
    const expiring = await smsCodeFor(shortLived, other);
    await sleep(300);
    expect(await refusal(f.accounts.register({ phone: other, smsCode: expiring, password: PASSWORD }))).toBe(
      'SMS_CODE_INVALID',
    );
  });

  it('refuses a phone that already has an account with ACCOUNT_EXISTS', async () => {
    const phone = uniquePhone();
    await f.accounts.register({ phone, smsCode: await smsCodeFor(f.sms, phone), password: PASSWORD });
    await f.redis.del(f.keys.sms(phone).interval);
    const again = await smsCodeFor(f.sms, phone);
    expect(await refusal(f.accounts.register({ phone, smsCode: again, password: PASSWORD }))).toBe(
      'ACCOUNT_EXISTS',
    );
  });
});

describe('R1: login with email or phone, password and captcha', () => {
  let email: string;
  let phone: string;
  let accountId: string;

  beforeAll(async () => {
    email = uniqueEmail();
    phone = uniquePhone();
    const created = await f.accounts.register({
      email,
      phone,
      smsCode: await smsCodeFor(f.sms, phone),
      password: PASSWORD,
    });
    accountId = created.accountId;
  });

  it('logs in by email (any case) and by phone, answering a session', async () => {
    const byEmail = await f.accounts.login({
      login: email.toLowerCase(),
      password: PASSWORD,
      ...(await solvedCaptcha(f.captchas)),
    });
    expect(byEmail).toMatchObject({ accountId, phoneBound: true });
    expect(byEmail.token).toMatch(new RegExp(`^${accountId}\\.[A-Za-z0-9_-]{43}$`));
    expect(Date.parse(byEmail.expiresAt)).toBeGreaterThan(f.clock.now);
    expect(await f.sessions.authenticate(byEmail.token)).toBe(accountId);

    const byPhone = await f.accounts.login({
      login: phone,
      password: PASSWORD,
      ...(await solvedCaptcha(f.captchas)),
    });
    expect(byPhone.accountId).toBe(accountId);
    expect(byPhone.token).not.toBe(byEmail.token);
  });

  it('checks the captcha first: a wrong answer is CAPTCHA_FAILED, costs no KDF, and burns the captcha', async () => {
    const { captchaId, captchaAnswer } = await solvedCaptcha(f.captchas);
    const verifies = f.kdf.calls.verify;
    expect(
      await refusal(
        f.accounts.login({ login: email, password: PASSWORD, captchaId, captchaAnswer: 'WRONG' }),
      ),
    ).toBe('CAPTCHA_FAILED');
    // The right answer cannot be tried on the same captcha afterwards.
    expect(
      await refusal(f.accounts.login({ login: email, password: PASSWORD, captchaId, captchaAnswer })),
    ).toBe('CAPTCHA_FAILED');
    expect(f.kdf.calls.verify).toBe(verifies);
  });

  it('accepts a right captcha answer once only, even when the password was wrong', async () => {
    const { captchaId, captchaAnswer } = await solvedCaptcha(f.captchas);
    const session = await f.accounts.login({
      login: email,
      password: PASSWORD,
      captchaId,
      captchaAnswer: ` ${captchaAnswer} `,
    });
    expect(session.accountId).toBe(accountId);
    expect(
      await refusal(f.accounts.login({ login: email, password: PASSWORD, captchaId, captchaAnswer })),
    ).toBe('CAPTCHA_FAILED');

    const second = await solvedCaptcha(f.captchas);
    expect(await refusal(f.accounts.login({ login: email, password: 'wrong pass 1', ...second }))).toBe(
      'INVALID_CREDENTIALS',
    );
    expect(await refusal(f.accounts.login({ login: email, password: PASSWORD, ...second }))).toBe(
      'CAPTCHA_FAILED',
    );
  });

  it('answers an unknown login and a wrong password alike, each after one full KDF verification', async () => {
    // One verification on its own, measured on the same pool: the fastest of three before the
    // attempts and three after, so that a load spike on the machine at either end cannot raise the
    // bar (the call counts below do not depend on timing).
    const stored = await storedHash(accountId);
    let single = Infinity;
    const measureSingle = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await f.kdf.verify(stored, 'not the password 1');
        single = Math.min(single, performance.now() - started);
      }
    };
    await measureSingle();

    const attempt = async (
      login: string,
    ): Promise<{ code: ApiCode; ms: number; verifies: number; hash?: string }> => {
      const captcha = await solvedCaptcha(f.captchas);
      const verifies = f.kdf.calls.verify;
      const started = performance.now();
      const code = await refusal(f.accounts.login({ login, password: 'wrong pass 1', ...captcha }));
      const ms = performance.now() - started;
      const hash = f.kdf.verifiedHashes.at(-1);
      return { code, ms, verifies: f.kdf.calls.verify - verifies, ...(hash === undefined ? {} : { hash }) };
    };
    const unknownEmail = await attempt('nobody.here@example.edu.cn');
    const unknownPhone = await attempt(uniquePhone());
    const notALogin = await attempt('neither email nor phone');
    const wrongPassword = await attempt(email);
    await measureSingle();
    expect(single).toBeGreaterThan(1);

    for (const outcome of [unknownEmail, unknownPhone, notALogin, wrongPassword]) {
      expect(outcome.code).toBe('INVALID_CREDENTIALS');
      expect(outcome.verifies).toBe(1);
      expect(outcome.ms).toBeGreaterThanOrEqual(0.5 * single);
    }
    // Unknown logins are verified against the dummy, which carries the real parameters.
    expect(unknownEmail.hash).toBe(DUMMY_HASH);
    expect(wrongPassword.hash).toBe(stored);
    const dummy = parsePhc(DUMMY_HASH);
    const real = parsePhc(stored);
    expect([dummy.memoryCost, dummy.timeCost, dummy.parallelism, dummy.hash.length]).toEqual([
      real.memoryCost,
      real.timeCost,
      real.parallelism,
      real.hash.length,
    ]);
  });

  it('never writes the login, the password or the phone to the log', () => {
    expect(f.logs.lines.length).toBeGreaterThan(0);
    for (const secret of [
      email,
      email.toLowerCase(),
      phone,
      PASSWORD,
      'wrong pass 1',
      'nobody.here@example.edu.cn',
    ]) {
      expect(f.logs.text).not.toContain(secret);
    }
    expect(f.logs.text).toContain(`${phone.slice(0, 3)}****${phone.slice(-4)}`);
  });
});

describe('R1: an account must bind a phone before it may register', () => {
  it('says PHONE_NOT_BOUND until a phone is bound with its SMS code', async () => {
    const { accountId, phoneBound } = await f.accounts.register({ email: uniqueEmail(), password: PASSWORD });
    expect(phoneBound).toBe(false);
    expect(await f.accounts.accountStatus(accountId)).toEqual({
      phoneBound: false,
      agreementAccepted: false,
    });
    expect(await f.accounts.requireRegistrationReady(accountId)).toBe('PHONE_NOT_BOUND');

    const phone = uniquePhone();
    const code = await smsCodeFor(f.sms, phone);
    expect(
      await refusal(f.accounts.bindPhone(accountId, phone, code === '123456' ? '654321' : '123456')),
    ).toBe('SMS_CODE_INVALID');
    expect(await f.accounts.bindPhone(accountId, phone, code)).toEqual({ phoneBound: true });
    expect((await f.accounts.accountStatus(accountId)).phoneBound).toBe(true);
    expect(await f.accounts.requireRegistrationReady(accountId)).toBe('AGREEMENT_REQUIRED');
    // The code was used by the binding.
    expect(await refusal(f.accounts.bindPhone(accountId, phone, code))).toBe('SMS_CODE_INVALID');
  });

  it('refuses a phone bound to another account with PHONE_IN_USE', async () => {
    const phone = uniquePhone();
    await f.accounts.register({ phone, smsCode: await smsCodeFor(f.sms, phone), password: PASSWORD });
    const other = await f.accounts.register({ email: uniqueEmail(), password: PASSWORD });
    await f.redis.del(f.keys.sms(phone).interval);
    const code = await smsCodeFor(f.sms, phone);
    expect(await refusal(f.accounts.bindPhone(other.accountId, phone, code))).toBe('PHONE_IN_USE');
    expect(await f.accounts.requireRegistrationReady(other.accountId)).toBe('PHONE_NOT_BOUND');
  });
});

describe('R2: registration starts only after the agreement is accepted', () => {
  it('gives PHONE_NOT_BOUND, then AGREEMENT_REQUIRED, then null', async () => {
    const { accountId } = await f.accounts.register({ email: uniqueEmail(), password: PASSWORD });
    // Accepting first does not skip R1.
    await f.accounts.acceptAgreement(accountId);
    expect(await f.accounts.accountStatus(accountId)).toEqual({ phoneBound: false, agreementAccepted: true });
    expect(await f.accounts.requireRegistrationReady(accountId)).toBe('PHONE_NOT_BOUND');

    const phoneFirst = await f.accounts.register({ email: uniqueEmail(), password: PASSWORD });
    const phone = uniquePhone();
    await f.accounts.bindPhone(phoneFirst.accountId, phone, await smsCodeFor(f.sms, phone));
    expect(await f.accounts.requireRegistrationReady(phoneFirst.accountId)).toBe('AGREEMENT_REQUIRED');
    await f.accounts.acceptAgreement(phoneFirst.accountId);
    await f.accounts.acceptAgreement(phoneFirst.accountId);
    expect(await f.accounts.accountStatus(phoneFirst.accountId)).toEqual({
      phoneBound: true,
      agreementAccepted: true,
    });
    expect(await f.accounts.requireRegistrationReady(phoneFirst.accountId)).toBeNull();
    // Once ready, the answer comes from Redis.
    expect(await f.redis.get(f.keys.registrationReady(phoneFirst.accountId))).toBe('1');
  });

  it('keeps the first acceptance time', async () => {
    const { accountId } = await f.accounts.register({ email: uniqueEmail(), password: PASSWORD });
    await f.accounts.acceptAgreement(accountId);
    const read = async (): Promise<string> => {
      const [row] = await query<{ at: string }>(
        f.db,
        'SELECT agreement_accepted_at::text AS at FROM accounts WHERE account_id = $1',
        [accountId],
      );
      return row?.at ?? '';
    };
    const first = await read();
    await sleep(5);
    await f.accounts.acceptAgreement(accountId);
    expect(await read()).toBe(first);
  });

  it('refuses unknown accounts with UNAUTHORIZED', async () => {
    expect(await refusal(f.accounts.acceptAgreement('999999999'))).toBe('UNAUTHORIZED');
    expect(await refusal(f.accounts.requireRegistrationReady('999999999'))).toBe('UNAUTHORIZED');
  });
});
