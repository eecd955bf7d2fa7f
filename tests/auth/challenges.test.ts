/**
 * The two challenges of R1 on a real Redis: the login captcha (an ALTCHA proof of work, single-use
 * answers with a lifetime) and SMS codes (6 digits, single-use, limited guesses, per-phone send limits),
 * and what the stand-in SMS sender may write to the log.
 */
import { createHash } from 'node:crypto';
import { verifySolution } from 'altcha-lib/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../gateway/errors.ts';
import { createAuthLogger } from '../../gateway/auth/log.ts';
import { createLogger } from '../../gateway/log.ts';
import { LogSmsSender, SmsCodes } from '../../gateway/auth/sms.ts';
import { sleep } from '../support/wait.ts';
import { LogCapture, newAuthFixture, smsCodeFor, uniquePhone, type AuthFixture } from './fixture.ts';

let f: AuthFixture;

beforeAll(async () => {
  f = await newAuthFixture();
});

afterAll(async () => {
  await f?.close();
});

async function thrown(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(err)}`);
  return err;
}

describe('R1: login captcha', () => {
  it('is an ALTCHA SHA-256 challenge beside an informational SVG badge; the number only when asked (TEST_MODE)', async () => {
    const plain = await f.captchas.issue();
    expect(plain).not.toHaveProperty('testAnswer');
    expect(plain.captchaId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const prefix = 'data:image/svg+xml;base64,';
    expect(plain.image.startsWith(prefix)).toBe(true);
    const svg = Buffer.from(plain.image.slice(prefix.length), 'base64').toString('utf8');
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).toContain('Proof-of-work check');
    expect(plain.challenge).toEqual({
      algorithm: 'SHA-256',
      challenge: expect.stringMatching(/^[0-9a-f]{64}$/),
      salt: expect.stringMatching(/^[0-9a-f]{24}\?expires=\d+&$/),
      signature: expect.stringMatching(/^[0-9a-f]{64}$/),
      maxnumber: f.captchas.maxNumber,
    });

    const testing = await f.captchas.issue({ includeAnswer: true });
    expect(testing.captchaId).not.toBe(plain.captchaId);
    expect(testing.image).toBe(plain.image);
    expect(testing.testAnswer).toMatch(/^\d+$/);
    const secret = Number(testing.testAnswer);
    expect(secret).toBeLessThanOrEqual(f.captchas.maxNumber);
    const { challenge, salt } = testing.challenge;
    expect(createHash('sha256').update(`${salt}${secret}`).digest('hex')).toBe(challenge);
    // what the ALTCHA widget sends back verifies with ALTCHA's own library under the server's key
    const payload = { ...testing.challenge, number: secret };
    expect(await verifySolution(payload, f.captchaHmacKey.toString('hex'))).toBe(true);
    expect(await verifySolution({ ...payload, number: secret + 1 }, f.captchaHmacKey.toString('hex'))).toBe(
      false,
    );
  });

  it('draws the number afresh for every captcha, from the whole range', async () => {
    const numbers = await Promise.all(
      Array.from({ length: 40 }, async () =>
        Number((await f.captchas.issue({ includeAnswer: true })).testAnswer),
      ),
    );
    expect(new Set(numbers).size).toBeGreaterThan(35);
    expect(Math.max(...numbers)).toBeGreaterThan(f.captchas.maxNumber / 2);
  });

  it('keeps an answer in Redis for its lifetime only', async () => {
    const { captchaId } = await f.captchas.issue();
    const ttl = await f.redis.ttl(f.keys.captcha(captchaId));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(f.captchas.ttlSeconds);
  });

  it('accepts the number once (surrounding spaces ignored)', async () => {
    const { captchaId, testAnswer = '' } = await f.captchas.issue({ includeAnswer: true });
    expect(await f.captchas.verify(captchaId, ` ${testAnswer} `)).toBe(true);
    expect(await f.captchas.verify(captchaId, testAnswer)).toBe(false);
  });

  it('burns the captcha on a wrong answer', async () => {
    for (const wrong of ['nope', (n: number) => String(n + 1), (n: number) => `${n}.5`, () => '-0']) {
      const { captchaId, testAnswer = '' } = await f.captchas.issue({ includeAnswer: true });
      const answer = typeof wrong === 'string' ? wrong : wrong(Number(testAnswer));
      expect(await f.captchas.verify(captchaId, answer)).toBe(false);
      expect(await f.captchas.verify(captchaId, testAnswer)).toBe(false);
      expect(await f.redis.exists(f.keys.captcha(captchaId))).toBe(0);
    }
  });

  it('refuses unknown, malformed and missing ids and answers', async () => {
    const { captchaId, testAnswer = '' } = await f.captchas.issue({ includeAnswer: true });
    expect(await f.captchas.verify('A'.repeat(22), testAnswer)).toBe(false);
    expect(await f.captchas.verify('../../x', testAnswer)).toBe(false);
    expect(await f.captchas.verify(undefined, testAnswer)).toBe(false);
    expect(await f.captchas.verify(captchaId, undefined)).toBe(false);
  });
});

describe('R1: SMS codes', () => {
  it('sends 6 digits valid for a limited time, the code only when asked (TEST_MODE)', async () => {
    const phone = uniquePhone();
    expect(await f.sms.send(phone)).toEqual({ sent: true });
    const other = uniquePhone();
    const code = await smsCodeFor(f.sms, other);
    expect(code).toMatch(/^\d{6}$/);
    const ttl = await f.redis.pttl(f.keys.sms(other).code);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(f.sms.codeTtlMs);
  });

  it('accepts a code once, for its own phone only', async () => {
    const phone = uniquePhone();
    const elsewhere = uniquePhone();
    const code = await smsCodeFor(f.sms, phone);
    expect(await f.sms.consume(elsewhere, code)).toBe(false);
    expect(await f.sms.consume(phone, code)).toBe(true);
    expect(await f.sms.consume(phone, code)).toBe(false);
  });

  it(`throws a code away after too many wrong guesses`, async () => {
    const phone = uniquePhone();
    const code = await smsCodeFor(f.sms, phone);
    const wrong = (n: number): string => String((Number(code) + n) % 1_000_000).padStart(6, '0');
    for (let i = 1; i <= f.sms.maxAttempts; i++) expect(await f.sms.consume(phone, wrong(i))).toBe(false);
    expect(await f.sms.consume(phone, code)).toBe(false);
  });

  it('refuses malformed phones with VALIDATION_FAILED', async () => {
    for (const phone of ['12812345678', '1381234567', '138123456789', '+8613812345678', undefined]) {
      expect((await thrown(f.sms.send(phone))).code).toBe('VALIDATION_FAILED');
    }
  });

  it('limits sends per phone: one per interval, then a daily cap (RATE_LIMITED with retryAfterSeconds)', async () => {
    const phone = uniquePhone();
    await f.sms.send(phone);
    const early = await thrown(f.sms.send(phone));
    expect(early.code).toBe('RATE_LIMITED');
    expect(early.status).toBe(429);
    expect(early.retryAfterSeconds).toBeGreaterThan(0);
    expect(early.retryAfterSeconds).toBeLessThanOrEqual(60);
    // Another phone is not affected.
    await f.sms.send(uniquePhone());

    const capped = new SmsCodes({
      redis: f.redis,
      keys: f.keys,
      sender: new LogSmsSender({ logger: f.logger }),
      minIntervalMs: 1,
      dailyLimit: 3,
    });
    const busy = uniquePhone();
    for (let i = 0; i < 3; i++) {
      await capped.send(busy);
      await sleep(5);
    }
    const daily = await thrown(capped.send(busy));
    expect(daily.code).toBe('RATE_LIMITED');
    expect(daily.retryAfterSeconds).toBeGreaterThan(23 * 3600);
    expect(daily.retryAfterSeconds).toBeLessThanOrEqual(24 * 3600);
  });

  it('admits one send per interval under concurrency', async () => {
    const phone = uniquePhone();
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => f.sms.send(phone)));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
  });

  it('logs the masked phone, never the full phone or the code; the code only in TEST_MODE', async () => {
    const phone = '13812341234';
    const logs = new LogCapture();
    const quiet = new SmsCodes({
      redis: f.redis,
      keys: f.keys,
      sender: new LogSmsSender({ logger: createAuthLogger({ destination: logs }) }),
    });
    const code = await smsCodeFor(quiet, phone);
    expect(logs.text).toContain('sent code to 138****1234');
    expect(logs.text).not.toContain(phone);
    expect(logs.text).not.toContain(code);

    const testLogs = new LogCapture();
    const revealing = new SmsCodes({
      redis: f.redis,
      keys: f.keys,
      sender: new LogSmsSender({ logger: createAuthLogger({ destination: testLogs }), revealCode: true }),
    });
    const other = '13912345678';
    const shown = await smsCodeFor(revealing, other);
    expect(testLogs.text).toContain(shown);
    expect(testLogs.text).not.toContain(other);
  });

  it('redacts personal fields that a caller logs by mistake', () => {
    const logs = new LogCapture();
    const logger = createAuthLogger({ destination: logs });
    logger.info(
      { phone: '13812341234', password: 'hunter2abc', nested: { email: 'a@b.cn', smsCode: '123456' } },
      'oops',
    );
    for (const secret of ['13812341234', 'hunter2abc', 'a@b.cn', '123456'])
      expect(logs.text).not.toContain(secret);
    expect(logs.text).toContain('[redacted]');
  });

  it('keeps what Redis and PostgreSQL attach to their errors (arguments, detail) out of every logger (issue 16 item 5)', async () => {
    const phone = uniquePhone();
    const name = '欧阳明月';
    const idNumber = '11010519491231002X';
    const smsCode = '482913';
    // ioredis attaches a failed command's arguments (error.command.args): a list command on a hash
    const key = f.keys.sms(phone).code;
    await f.redis.hset(key, 'attempts', '0');
    const redisError = await f.redis.lpush(key, phone, name, idNumber, smsCode).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(redisError)).toContain('WRONGTYPE');
    expect(JSON.stringify((redisError as { command?: unknown }).command)).toContain(phone);
    // PostgreSQL quotes the duplicated key's values in `detail`
    await f.db.query(
      'CREATE TABLE leak_probe (name text, phone text, id_number text, UNIQUE (name, phone, id_number))',
    );
    const row = [name, phone, idNumber];
    await f.db.query('INSERT INTO leak_probe VALUES ($1, $2, $3)', row);
    const pgError = await f.db.query('INSERT INTO leak_probe VALUES ($1, $2, $3)', row).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((pgError as { detail?: string }).detail).toContain(idNumber);
    // values that reach a message: a cast failing on a phone, a code in a thrown message
    const castError = await f.db.query('SELECT $1::int', [`${name} ${phone} ${idNumber}`]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(castError)).toContain(`${name} ${phone}`);
    const codeError = new Error(`sms code ${smsCode} rejected for +86${phone}`, { cause: redisError });

    const auth = new LogCapture();
    const gateway = new LogCapture();
    for (const logger of [
      createAuthLogger({ destination: auth }),
      createLogger({ destination: gateway, name: 'gateway.0' }),
    ]) {
      // as the pipeline's catch (gateway/http/mount.ts) and the writer's onError (gateway/system.ts) log
      logger.error({ err: redisError, route: '/api/v1/sms-codes', method: 'POST' }, 'request failed');
      logger.error({ err: pgError }, 'writer batch failed');
      logger.error({ err: castError }, 'writer batch failed');
      logger.error({ err: codeError }, 'request failed');
      logger.warn(pgError as Error, 'logged bare');
    }
    for (const logs of [auth, gateway]) {
      expect(logs.lines).toHaveLength(5);
      for (const secret of [phone, name, idNumber, smsCode]) expect(logs.text).not.toContain(secret);
      // what an operator needs is still there
      expect(logs.text).toContain('WRONGTYPE');
      expect(logs.text).toContain('lpush');
      expect(logs.text).toContain('23505');
      expect(logs.text).toContain('leak_probe_name_phone_id_number_key');
      expect(logs.text).toContain('22P02');
      expect(logs.text).toContain('at ');
    }
  });
});
