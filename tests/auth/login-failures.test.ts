/**
 * The login-failure backoff (issue 16 item 1) on real PostgreSQL and Redis with the real argon2id:
 * per login and client address, before the KDF, the same for logins naming no account, never
 * holding an address that has not failed; its growth, its cap, the distributed guesser, and
 * concurrent attempts, on a driven clock.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountHashTag } from '../../engine/keys.ts';
import { ApiError } from '../../gateway/errors.ts';
import { LoginFailures, type AdmittedAttempt, type LoginAttempt } from '../../gateway/auth/loginFailures.ts';
import { sleep } from '../support/wait.ts';
import { newAuthFixture, smsCodeFor, solvedCaptcha, uniquePhone, type AuthFixture } from './fixture.ts';

const PASSWORD = 'correct horse 1';

let f: AuthFixture;

beforeAll(async () => {
  f = await newAuthFixture({ threads: 1 });
});

afterAll(async () => {
  await f?.close();
});

async function newAccount(): Promise<{ phone: string; accountId: string }> {
  const phone = uniquePhone();
  const { accountId } = await f.accounts.register({
    phone,
    smsCode: await smsCodeFor(f.sms, phone),
    password: PASSWORD,
  });
  return { phone, accountId };
}

interface Outcome {
  /** 'ok', or the refusal's code. */
  readonly code: string;
  readonly retryAfterSeconds?: number | undefined;
  readonly rule?: unknown;
  /** The KDF verifications the attempt ran. */
  readonly kdfRuns: number;
}

async function loginFrom(login: string, password: string, address: string): Promise<Outcome> {
  const verifies = f.kdf.calls.verify;
  const outcome = await f.accounts
    .login({ login, password, ...(await solvedCaptcha(f.captchas)) }, address)
    .then(
      () => ({ code: 'ok' }),
      (e: unknown) => {
        if (!(e instanceof ApiError)) throw e;
        return { code: e.code, retryAfterSeconds: e.retryAfterSeconds, rule: e.details?.rule };
      },
    );
  return { ...outcome, kdfRuns: f.kdf.calls.verify - verifies };
}

function admitted(attempt: LoginAttempt): AdmittedAttempt {
  if (!attempt.admitted) throw new Error(`held back for ${attempt.retryAfterSeconds} s`);
  return attempt;
}

describe('issue 16 item 1: failed logins back off per login and client address', () => {
  it('lets 5 wrong passwords through, holds the 6th before the KDF; an address that has not failed logs in; a success forgets', async () => {
    const { phone, accountId } = await newAccount();
    for (let i = 0; i < 5; i++) {
      expect(await loginFrom(phone, `wrong pass ${i}`, '203.0.113.5')).toEqual({
        code: 'INVALID_CREDENTIALS',
        retryAfterSeconds: undefined,
        rule: undefined,
        kdfRuns: 1,
      });
    }
    // even the right password is not checked there now: no argon2id is spent
    const held = await loginFrom(phone, PASSWORD, '203.0.113.5');
    expect(held).toMatchObject({ code: 'RATE_LIMITED', rule: 'loginFailures', kdfRuns: 0 });
    expect(held.retryAfterSeconds).toBe(1);
    // the owner elsewhere is not held, and the guesser's failures did not touch that address
    expect(await loginFrom(phone, PASSWORD, '198.51.100.7')).toEqual({
      code: 'ok',
      kdfRuns: 1,
    });
    // once the backoff is over, a success from the guesser's address forgets its failures
    await sleep(held.retryAfterSeconds! * 1000 + 50);
    expect((await loginFrom(phone, PASSWORD, '203.0.113.5')).code).toBe('ok');
    expect(await f.redis.exists(f.keys.loginFailures(accountHashTag(accountId), '203.0.113.5'))).toBe(0);
    expect((await loginFrom(phone, 'wrong pass 9', '203.0.113.5')).code).toBe('INVALID_CREDENTIALS');
  });

  it('holds a login naming no account alike, and keeps no login name in Redis', async () => {
    const nobody = `nobody.${randomBytes(4).toString('hex')}@example.edu.cn`;
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await loginFrom(nobody, `wrong pass ${i}`, '203.0.113.6'));
    expect(answers.map((a) => a.code)).toEqual([...Array(5).fill('INVALID_CREDENTIALS'), 'RATE_LIMITED']);
    expect(answers.map((a) => a.kdfRuns)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(answers[5]).toMatchObject({ rule: 'loginFailures', retryAfterSeconds: 1 });
    // another spelling of the same email is the same login
    expect((await loginFrom(nobody.toUpperCase(), 'x', '203.0.113.6')).code).toBe('RATE_LIMITED');
    const keys = await f.redis.keys(`${f.keys.namespace}:auth:lf:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((key) => key.toLowerCase().includes('nobody') || key.includes(nobody))).toEqual([]);
  });
});

describe('issue 16 item 1: the backoff on a driven clock', () => {
  const clock = { now: 1_000_000_000_000 };
  let failures: LoginFailures;
  beforeAll(() => {
    failures = new LoginFailures({
      redis: f.redis,
      keys: f.keys,
      loginDigestKey: randomBytes(32),
      now: () => clock.now,
    });
  });

  /** Fails one attempt now; throws if it was held. */
  async function fail(accountId: string, address: string): Promise<void> {
    await failures.settle(admitted(await failures.begin(accountId, 'x', address)), 'failed');
  }

  it('doubles from 1 s per failure after the fifth, up to 15 min', async () => {
    const accountId = `9${Date.now()}`;
    for (let i = 0; i < 5; i++) await fail(accountId, '192.0.2.1');
    const waits: number[] = [];
    for (let i = 0; i < 14; i++) {
      const held = await failures.begin(accountId, 'x', '192.0.2.1');
      if (held.admitted) throw new Error('not held');
      waits.push(held.retryAfterSeconds);
      clock.now += held.retryAfterSeconds * 1000 - 1;
      expect((await failures.begin(accountId, 'x', '192.0.2.1')).admitted).toBe(false);
      clock.now += 1;
      await fail(accountId, '192.0.2.1');
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]);
  });

  it('takes back an attempt whose password was never checked (the KDF lane shed it)', async () => {
    const accountId = `8${Date.now()}`;
    for (let i = 0; i < 4; i++) await fail(accountId, '192.0.2.2');
    // the fifth is admitted, then shed unchecked: it is no failure, so a fifth is admitted again
    await failures.settle(admitted(await failures.begin(accountId, 'x', '192.0.2.2')), 'unchecked');
    await fail(accountId, '192.0.2.2');
    expect((await failures.begin(accountId, 'x', '192.0.2.2')).admitted).toBe(false);
  });

  it('past 100 failures of one login from every address, an address that failed at all waits from its first failure; one that never failed is not held', async () => {
    const accountId = `7${Date.now()}`;
    // a guesser spread over 101 addresses, one failure each: none of them is held yet
    for (let i = 0; i < 101; i++) await fail(accountId, `10.1.${i >> 8}.${i & 255}`);
    const again = await failures.begin(accountId, 'x', '10.1.0.0');
    expect(again).toEqual({ admitted: false, retryAfterSeconds: 1 });
    // the owner's address never failed: admitted, and its success is not a failure of the login
    const owner = admitted(await failures.begin(accountId, 'x', '198.51.100.8'));
    await failures.settle(owner, 'succeeded');
    expect(await f.redis.get(f.keys.loginFailuresOfSubject(accountHashTag(accountId)))).toBe('101');
  });

  it('admits one attempt of many concurrent ones at the threshold: the count cannot be raced', async () => {
    const accountId = `6${Date.now()}`;
    for (let i = 0; i < 4; i++) await fail(accountId, '192.0.2.3');
    const attempts = await Promise.all(
      Array.from({ length: 20 }, () => failures.begin(accountId, 'x', '192.0.2.3')),
    );
    expect(attempts.filter((attempt) => attempt.admitted)).toHaveLength(1);
  });
});
