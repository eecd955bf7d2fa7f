/**
 * Failed logins back off per login and client address (issue 16 item 1), so that guessing one
 * account's password is slow whatever the guesser's captcha costs, and the account's owner is
 * never locked out by someone else's failures:
 *  - an address may fail `freeFailures` times (5) for one login; after that its next attempt for
 *    that login waits 1 s, doubled per further failure, at most 15 min; a success forgets its
 *    failures. Another address that has not failed (the owner's) is never held.
 *  - past `accountAlarm` failures (100) of one login from every address within an hour (a guesser
 *    spread over many addresses), an address that failed at all waits from its first failure.
 * A held attempt is refused before the KDF lane (RATE_LIMITED, rule `loginFailures`, with
 * Retry-After): it costs no argon2id. Counting is in Redis (gateway/auth/lua/*LoginAttempt-2.lua),
 * so the limit holds across threads and gateways; an admitted attempt is counted as a failure at
 * once and settled after the password check, so concurrent attempts cannot slip past the count.
 *
 * The subject is the account a login names (its hash tag), so an email and a phone of one account
 * count together; a login naming no account counts under a keyed digest of the login name, with
 * the same limits and answers: the backoff tells nothing about which logins exist. Behind a NAT
 * the address is shared: a guesser there holds back that address only, for that login only.
 * This module never stores or logs a login name.
 */
import { createHmac } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULTS } from '../../config/defaults.ts';
import { accountHashTag, unknownLoginHashTag } from '../../engine/keys.ts';
import { AuthKeys } from './keys.ts';
import { AUTH_SCRIPTS } from './scripts.ts';

/** The rule a held-back login names in its RATE_LIMITED answer (`details.rule`). */
export const LOGIN_FAILURES_RULE = 'loginFailures';

export type LoginFailureLimits = typeof DEFAULTS.loginFailures;

export interface LoginFailuresOptions {
  readonly redis: Redis | Cluster;
  readonly keys?: AuthKeys;
  /** Keys the digest of a login naming no account: a deployment secret, the same on every gateway. */
  readonly loginDigestKey: Uint8Array;
  readonly limits?: Partial<LoginFailureLimits>;
  readonly now?: () => number;
}

/** An attempt admitted (and counted as a failure until settled). */
export interface AdmittedAttempt {
  readonly admitted: true;
  readonly addressKey: string;
  readonly subjectKey: string;
  readonly previousLast: number;
}

export interface HeldAttempt {
  readonly admitted: false;
  readonly retryAfterSeconds: number;
}

export type LoginAttempt = AdmittedAttempt | HeldAttempt;

/** failed: a wrong password; succeeded; unchecked: no password was checked (the KDF lane shed it). */
export type LoginOutcome = 'failed' | 'succeeded' | 'unchecked';

export class LoginFailures {
  private readonly redis: Redis | Cluster;
  private readonly keys: AuthKeys;
  private readonly loginDigestKey: Uint8Array;
  readonly limits: LoginFailureLimits;
  private readonly now: () => number;

  constructor(options: LoginFailuresOptions) {
    this.redis = options.redis;
    this.keys = options.keys ?? new AuthKeys();
    this.loginDigestKey = options.loginDigestKey;
    this.limits = { ...DEFAULTS.loginFailures, ...options.limits };
    this.now = options.now ?? Date.now;
    AUTH_SCRIPTS.define(this.redis);
  }

  /** The hash tag of what a login names: its account, or a keyed digest of the login name. */
  subjectTag(accountId: string | undefined, login: unknown): string {
    if (accountId !== undefined) return accountHashTag(accountId);
    // emails match whatever their case (accounts.ts findByLogin); phones are digits
    const name = typeof login === 'string' ? login.trim().toLowerCase() : '';
    const digest = createHmac('sha256', this.loginDigestKey).update(name).digest('hex').slice(0, 32);
    return unknownLoginHashTag(digest);
  }

  /**
   * Admits an attempt of the login (`accountId` when it names an account) from `address`, counting
   * it as a failure until `settle`, or holds it back with the seconds to wait.
   */
  async begin(accountId: string | undefined, login: unknown, address: string): Promise<LoginAttempt> {
    const tag = this.subjectTag(accountId, login);
    const addressKey = this.keys.loginFailures(tag, address);
    const subjectKey = this.keys.loginFailuresOfSubject(tag);
    const { freeFailures, accountAlarm, backoffBaseMs, backoffCapMs, addressWindowMs, accountWindowMs } =
      this.limits;
    const [admitted, value] = (await AUTH_SCRIPTS.call(
      this.redis,
      'beginLoginAttempt',
      [addressKey, subjectKey],
      [this.now(), freeFailures, accountAlarm, backoffBaseMs, backoffCapMs, addressWindowMs, accountWindowMs],
    )) as [number, number];
    if (admitted !== 1) return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil(value / 1000)) };
    return { admitted: true, addressKey, subjectKey, previousLast: value };
  }

  async settle(attempt: AdmittedAttempt, outcome: LoginOutcome): Promise<void> {
    await AUTH_SCRIPTS.call(
      this.redis,
      'settleLoginAttempt',
      [attempt.addressKey, attempt.subjectKey],
      [outcome, this.now(), attempt.previousLast, this.limits.addressWindowMs],
    );
  }
}
