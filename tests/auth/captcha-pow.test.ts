/**
 * Issue 16 item 1, through HTTP against the whole system: the login captcha is an ALTCHA proof of
 * work whose answer no program reads off the response (it must pay the hashes), and wrong passwords
 * for one account from one address back off without spending an argon2id, while the account's
 * owner, at another address, logs in as usual. Client addresses are simulated with X-Forwarded-For
 * from a trusted proxy (the test client's loopback).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthKeys } from '../../gateway/auth/keys.ts';
import { signUp, startTestGateway, type HttpAnswer, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;
let keys: AuthKeys;

beforeAll(async () => {
  gw = await startTestGateway({ TRUSTED_PROXIES: '127.0.0.1, ::1' });
  keys = new AuthKeys(gw.namespace);
}, 120_000);

afterAll(async () => {
  await gw?.close();
});

interface Challenge {
  readonly algorithm: string;
  readonly challenge: string;
  readonly salt: string;
  readonly signature: string;
  readonly maxnumber: number;
}

/** The client's side of the proof of work: SHA-256(salt + n) for n = 0…maxnumber until it matches. */
function solve(challenge: Challenge): number | null {
  for (let n = 0; n <= challenge.maxnumber; n++) {
    if (createHash('sha256').update(`${challenge.salt}${n}`).digest('hex') === challenge.challenge) return n;
  }
  return null;
}

/** Every primitive value in a JSON answer. */
function leaves(value: unknown): unknown[] {
  if (value === null || typeof value !== 'object') return [value];
  return Object.values(value).flatMap(leaves);
}

const from = (address: string) => ({ headers: { 'x-forwarded-for': address } });

/** lane_completed_total of the KDF lane: the argon2id tasks run so far. */
async function kdfTasksRun(): Promise<number> {
  const text = (await gw.http.get('/metrics')).text;
  const match = /^lane_completed_total\{lane="password"\} (\d+)$/m.exec(text);
  if (match === null) throw new Error('no lane_completed_total for the password lane in /metrics');
  return Number(match[1]);
}

/** A captcha solved with TEST_MODE's answer, then a login, both from `address`. */
async function attempt(login: string, password: string, address: string): Promise<HttpAnswer> {
  const captcha = await gw.http.get('/api/v1/captcha', from(address));
  expect(captcha.status, captcha.text).toBe(200);
  return gw.http.post(
    '/api/v1/sessions',
    { login, password, captchaId: captcha.body.captchaId, captchaAnswer: captcha.body.testAnswer },
    from(address),
  );
}

describe('issue 16 item 1: a proof-of-work captcha', () => {
  it('keeps its answer out of the response: the image is the same for every captcha, no field holds the number, and only a brute force over [0, maxnumber] finds it (then the login passes)', async () => {
    const user = await signUp(gw.http);
    const first = await gw.http.get('/api/v1/captcha');
    const second = await gw.http.get('/api/v1/captcha');
    expect(first.status).toBe(200);
    const { testAnswer, ...shown } = first.body as { testAnswer: string; captchaId: string } & Record<
      string,
      unknown
    >;
    // API.md's fields stay; the image is informational, identical for every captcha: it carries no answer
    expect(shown.image).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(shown.image).toBe(second.body.image);
    const challenge = shown.challenge as Challenge;
    expect(challenge).toEqual({
      algorithm: 'SHA-256',
      challenge: expect.stringMatching(/^[0-9a-f]{64}$/),
      salt: expect.any(String),
      signature: expect.stringMatching(/^[0-9a-f]{64}$/),
      maxnumber: 100_000,
    });
    const stored = await gw.redis.get(keys.captcha(shown.captchaId));
    expect(stored).toBe(testAnswer);
    const secret = Number(testAnswer);
    expect(Number.isInteger(secret) && secret >= 0 && secret <= challenge.maxnumber).toBe(true);
    // outside TEST_MODE's extra field, nothing in the answer is the number
    expect(leaves(shown).filter((value) => value === secret || value === String(secret))).toEqual([]);

    const solved = solve(challenge);
    expect(solved).toBe(secret);
    const session = await gw.http.post('/api/v1/sessions', {
      login: user.phone,
      password: user.password,
      captchaId: shown.captchaId,
      captchaAnswer: String(solved),
    });
    expect(session.status, session.text).toBe(200);
    expect(session.body.accountId).toBe(user.accountId);
  });

  it('refuses a wrong number (400 CAPTCHA_FAILED), and the right number after it too: single-use', async () => {
    const user = await signUp(gw.http);
    const captcha = await gw.http.get('/api/v1/captcha');
    const right = solve(captcha.body.challenge as Challenge);
    expect(right).not.toBeNull();
    const body = { login: user.phone, password: user.password, captchaId: captcha.body.captchaId };
    const tasksBefore = await kdfTasksRun();
    const wrong = await gw.http.post('/api/v1/sessions', {
      ...body,
      captchaAnswer: String((right! + 1) % (captcha.body.challenge.maxnumber + 1)),
    });
    expect([wrong.status, wrong.body.error.code]).toEqual([400, 'CAPTCHA_FAILED']);
    const late = await gw.http.post('/api/v1/sessions', { ...body, captchaAnswer: String(right) });
    expect([late.status, late.body.error.code]).toEqual([400, 'CAPTCHA_FAILED']);
    // the captcha is checked before the password: no argon2id was spent on either
    expect(await kdfTasksRun()).toBe(tasksBefore);
  });
});

describe('issue 16 item 1: login failures back off per account and address', () => {
  it('after 5 wrong passwords from one address, that address gets 429 loginFailures with Retry-After and no argon2id; the owner elsewhere logs in', async () => {
    const owner = await signUp(gw.http);
    const guesser = '203.0.113.9';
    for (let i = 0; i < 5; i++) {
      const answer = await attempt(owner.phone, `wrong-password-${i}`, guesser);
      expect([answer.status, answer.body.error.code]).toEqual([401, 'INVALID_CREDENTIALS']);
    }
    // the next attempt is held back (the 7th at the latest, should the machine stall past the
    // first second of backoff), and a held-back attempt runs no KDF task
    let limited: HttpAnswer | undefined;
    for (let i = 0; i < 2 && limited === undefined; i++) {
      const tasksBefore = await kdfTasksRun();
      const answer = await attempt(owner.phone, `wrong-password-${5 + i}`, guesser);
      if (answer.status === 429) {
        limited = answer;
        expect(await kdfTasksRun()).toBe(tasksBefore);
      } else expect(answer.status, answer.text).toBe(401);
    }
    expect(limited, 'no 429 by the 7th attempt').toBeDefined();
    expect(limited!.body.error.code).toBe('RATE_LIMITED');
    expect(limited!.body.error.details.rule).toBe('loginFailures');
    const retryAfter = Number(limited!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(limited!.body.error.details.retryAfterSeconds).toBe(retryAfter);

    // the owner, at an address that has not failed, is not locked out
    const home = await attempt(owner.phone, owner.password, '198.51.100.20');
    expect(home.status, home.text).toBe(200);
    expect(home.body.accountId).toBe(owner.accountId);
    const direct = await attempt(owner.phone, owner.password, '2001:db8:7::1');
    expect(direct.status, direct.text).toBe(200);
  });
});

describe('issue 16 item 1: the dependency', () => {
  it('svg-captcha is gone from package.json; altcha-lib makes the challenges', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })).not.toContain(
      'svg-captcha',
    );
    expect(manifest.dependencies).toHaveProperty('altcha-lib');
  });
});
