/**
 * Every error code of the public contract, produced through HTTP with its status (API.md).
 * The codes and statuses are read from API.md itself (`NNN CODE` and `` `CODE` (NNN) `` in
 * backticks), so a code added to the contract without a test here fails the last test. Each answer
 * seen is recorded in a registry (code → statuses); the last test asserts that every API.md code
 * was produced, with exactly the status API.md gives, and that API.md agrees with the gateway's own
 * table (gateway/errors.ts). Admission control (503 OVERLOADED, 429 RATE_LIMITED) needs low limits:
 * a second, "tight" gateway runs with MAX_IN_FLIGHT=1 and RATE_SMS_PER_IP_PER_MINUTE=1.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, execute, type Pool } from '../../db/pool.ts';
import { makeResidentId } from '../../engine/idNumber.ts';
import { AuthKeys } from '../../gateway/auth/keys.ts';
import { Sessions } from '../../gateway/auth/sessions.ts';
import { API_CODES, isApiCode } from '../../gateway/errors.ts';
import { encodeNotification, NOTIFICATION_CONTENT_TYPE } from '../../gateway/payments/notification.ts';
import {
  HttpClient,
  login,
  newPhone,
  signUp,
  startTestGateway,
  type HttpAnswer,
  type TestGateway,
} from '../support/gateway.ts';
import {
  HOUR_MS,
  insertReadyAccounts,
  registeredCandidate,
  seedTestWorld,
  type CandidateSpec,
  type TestWorld,
} from '../support/world.ts';

// ../shared/API.md beside the repository (where CI lays it), unless API_MD says otherwise
const API_MD = process.env.API_MD ?? fileURLToPath(new URL('../../../shared/API.md', import.meta.url));

/** API.md's error codes with their statuses. */
function contractCodes(): Map<string, number> {
  if (!existsSync(API_MD)) throw new Error(`the API contract is not at ${API_MD} (set API_MD)`);
  const text = readFileSync(API_MD, 'utf8');
  const statuses = new Map<string, Set<number>>();
  const add = (code: string, status: string) => {
    const seen = statuses.get(code) ?? new Set<number>();
    seen.add(Number(status));
    statuses.set(code, seen);
  };
  for (const [, status, code] of text.matchAll(/`([1-5]\d\d) ([A-Z][A-Z0-9_]+)`/g)) add(code!, status!);
  for (const [, code, status] of text.matchAll(/`([A-Z][A-Z0-9_]+)` \(([1-5]\d\d)\)/g)) add(code!, status!);
  const codes = new Map<string, number>();
  for (const [code, seen] of statuses) {
    if (seen.size !== 1) throw new Error(`API.md gives ${code} several statuses: ${[...seen].join(', ')}`);
    codes.set(code, [...seen][0]!);
  }
  return codes;
}

const CONTRACT = contractCodes();

/** code → the statuses it was answered with, in this file. */
const produced = new Map<string, Set<number>>();

/** Asserts the answer is the error `code` (with its contract status) and records it. */
function saw(answer: HttpAnswer, code: string): void {
  expect(answer.body?.error?.code, `${answer.status} ${answer.text}`).toBe(code);
  expect(answer.body.error.message).toEqual(expect.any(String));
  const statuses = produced.get(code) ?? new Set<number>();
  statuses.add(answer.status);
  produced.set(code, statuses);
  const expected = CONTRACT.get(code) ?? (isApiCode(code) ? API_CODES[code].status : undefined);
  expect(answer.status, code).toBe(expected);
}

let gw: TestGateway;
let tight: TestGateway;
let world: TestWorld;
let db: Pool;

beforeAll(async () => {
  [gw, tight] = await Promise.all([
    startTestGateway(),
    startTestGateway({
      MAX_IN_FLIGHT: '1',
      RATE_SMS_PER_IP_PER_MINUTE: '1',
      RATE_LOOKUP_PER_IP_PER_MINUTE: '2',
    }),
  ]);
  world = await seedTestWorld(gw);
  db = createPool(gw.databaseUrl, { max: 2, applicationName: 'tests:error-codes' });
}, 120_000);

afterAll(async () => {
  await db?.end();
  await world?.close();
  await Promise.all([gw?.close(), tight?.close()]);
});

const PASSWORD = 'opening2026';
let emailSeq = 0;
const newEmail = () => `codes${++emailSeq}.${Date.now()}@example.com`;

const registered = (spec: CandidateSpec = {}) => registeredCandidate(gw, world, spec);

describe('request shape and transport', () => {
  it('400 VALIDATION_FAILED, 413 PAYLOAD_TOO_LARGE, 401 UNAUTHORIZED, 404 NOT_FOUND', async () => {
    saw(await gw.http.post('/api/v1/sms-codes', { phone: newPhone(), extra: 1 }), 'VALIDATION_FAILED');
    saw(
      await gw.http.post('/api/v1/sms-codes', undefined, {
        raw: '{"phone":',
        headers: { 'content-type': 'application/json' },
      }),
      'VALIDATION_FAILED',
    );
    saw(
      await gw.http.post('/api/v1/sms-codes', undefined, {
        raw: JSON.stringify({ phone: 'x'.repeat(20 * 1024) }),
        headers: { 'content-type': 'application/json' },
      }),
      'PAYLOAD_TOO_LARGE',
    );
    saw(await gw.http.get('/api/v1/registration'), 'UNAUTHORIZED');
    saw(await gw.http.get('/api/v1/no-such-thing'), 'NOT_FOUND');
  });
});

describe('accounts and sessions', () => {
  it('400 WEAK_PASSWORD, 400 SMS_CODE_INVALID, 409 ACCOUNT_EXISTS', async () => {
    saw(await gw.http.post('/api/v1/accounts', { email: newEmail(), password: 'short' }), 'WEAK_PASSWORD');
    saw(
      await gw.http.post('/api/v1/accounts', { phone: newPhone(), smsCode: '000000', password: PASSWORD }),
      'SMS_CODE_INVALID',
    );
    const email = newEmail();
    expect((await gw.http.post('/api/v1/accounts', { email, password: PASSWORD })).status).toBe(201);
    saw(
      await gw.http.post('/api/v1/accounts', { email: email.toUpperCase(), password: PASSWORD }),
      'ACCOUNT_EXISTS',
    );
  });

  it('400 CAPTCHA_FAILED, 401 INVALID_CREDENTIALS', async () => {
    const user = await signUp(gw.http);
    const captcha = await gw.http.get('/api/v1/captcha');
    const wrongAnswer = String(captcha.body.testAnswer) === 'zzzz' ? 'yyyy' : 'zzzz';
    saw(
      await gw.http.post('/api/v1/sessions', {
        login: user.phone,
        password: user.password,
        captchaId: captcha.body.captchaId,
        captchaAnswer: wrongAnswer,
      }),
      'CAPTCHA_FAILED',
    );
    const fresh = await gw.http.get('/api/v1/captcha');
    saw(
      await gw.http.post('/api/v1/sessions', {
        login: user.phone,
        password: `${user.password}x`,
        captchaId: fresh.body.captchaId,
        captchaAnswer: fresh.body.testAnswer,
      }),
      'INVALID_CREDENTIALS',
    );
  });

  it('403 PHONE_NOT_BOUND, 409 PHONE_IN_USE, 403 AGREEMENT_REQUIRED', async () => {
    const email = newEmail();
    expect((await gw.http.post('/api/v1/accounts', { email, password: PASSWORD })).status).toBe(201);
    const token = await login(gw.http, email, PASSWORD);
    const candidate = await world.candidate();
    saw(await gw.http.post('/api/v1/eligibility/query', candidate.identity, { token }), 'PHONE_NOT_BOUND');

    // a phone another account already holds, with a valid code for it
    const taken = newPhone();
    await execute(db, `INSERT INTO accounts (phone, password_hash) VALUES ($1, 'not-a-login')`, [taken]);
    const code = await gw.http.post('/api/v1/sms-codes', { phone: taken });
    expect(code.status).toBe(200);
    saw(
      await gw.http.post(
        '/api/v1/accounts/me/phone',
        { phone: taken, smsCode: code.body.testCode },
        { token },
      ),
      'PHONE_IN_USE',
    );

    const unagreed = await signUp(gw.http, { agreement: false });
    saw(
      await gw.http.post('/api/v1/eligibility/query', candidate.identity, { token: unagreed.token }),
      'AGREEMENT_REQUIRED',
    );
  });
});

describe('eligibility and binding', () => {
  it('400 INVALID_ID_NUMBER, 400 ID_TYPE_NOT_ACCEPTED, 404 CANDIDATE_NOT_FOUND', async () => {
    const { token } = await signUp(gw.http);
    const valid = makeResidentId('110105', '1999-01-01', 999);
    const wrongCheckDigit = valid.slice(0, 17) + (valid.endsWith('0') ? '1' : '0');
    const query = (body: object) => gw.http.post('/api/v1/eligibility/query', body, { token });
    saw(await query({ idType: 'RESIDENT_ID', idNumber: wrongCheckDigit, name: '王伟' }), 'INVALID_ID_NUMBER');
    saw(
      await query({ idType: 'MILITARY_OFFICER', idNumber: '军字第123456号', name: '王伟' }),
      'ID_TYPE_NOT_ACCEPTED',
    );
    saw(await query({ idType: 'RESIDENT_ID', idNumber: valid, name: '王伟' }), 'CANDIDATE_NOT_FOUND');
  });

  it('403 REGISTRATION_NOT_OPEN, 403 REGISTRATION_CLOSED, 404 NO_REGISTRATION', async () => {
    const { token } = await signUp(gw.http);
    const [upcoming, closed] = await Promise.all([
      world.candidate({ campus: 'upcoming' }),
      world.candidate({ campus: 'closed' }),
    ]);
    const bind = (identity: object) =>
      gw.http.post('/api/v1/registration', { ...identity, confirm: true }, { token });
    saw(await bind(upcoming.identity), 'REGISTRATION_NOT_OPEN');
    saw(await bind(closed.identity), 'REGISTRATION_CLOSED');
    saw(await gw.http.get('/api/v1/registration', { token }), 'NO_REGISTRATION');
  });

  it('409 ACCOUNT_ALREADY_BOUND, 409 CANDIDATE_ALREADY_BOUND', async () => {
    const [bound, other, stranger] = await Promise.all([registered(), signUp(gw.http), world.candidate()]);
    saw(
      await gw.http.post(
        '/api/v1/registration',
        { ...stranger.identity, confirm: true },
        { token: bound.token },
      ),
      'ACCOUNT_ALREADY_BOUND',
    );
    saw(
      await gw.http.post(
        '/api/v1/registration',
        { ...bound.candidate.identity, confirm: true },
        { token: other.token },
      ),
      'CANDIDATE_ALREADY_BOUND',
    );
  });
});

describe('subjects', () => {
  it('409 WRITTEN_REQUIRED, 403 NOT_ELIGIBLE, 409 ALREADY_REGISTERED, 409 SAME_LEVEL_TAKEN, 403 CAMPUS_NOT_OPEN', async () => {
    const me = await registered({ campus: 'main', eligibleSubjects: ['CET4', 'CJT4'] });
    saw(await me.oral('CET-SET4', 'C11A'), 'WRITTEN_REQUIRED');
    saw(await me.written('CET6'), 'NOT_ELIGIBLE');
    expect((await me.written('CET4')).status).toBe(201);
    saw(await me.written('CET4'), 'ALREADY_REGISTERED');
    saw(await me.written('CJT4'), 'SAME_LEVEL_TAKEN');
    // the small campus opens its oral seats to the rest of the province only in 30 days (R20)
    saw(await me.oral('CET-SET4', 'C11C'), 'CAMPUS_NOT_OPEN');
    // extensions of the contract, recorded too
    saw(await me.oral('CET-SET4', 'C11X'), 'CAMPUS_NOT_FOUND');
    saw(await gw.http.delete('/api/v1/registration/oral/CET-SET4', { token: me.token }), 'NOT_REGISTERED');
  });

  it('403 EXTERNAL_ORAL_NOT_ALLOWED (R19)', async () => {
    const me = await registered({ campus: 'fixed', eligibleSubjects: ['CET4'] });
    expect((await me.written('CET4')).status).toBe(201);
    saw(await me.oral('CET-SET4', 'C11A'), 'EXTERNAL_ORAL_NOT_ALLOWED');
  });

  it('409 SOLD_OUT: the small campus has 3 CET4 seats', async () => {
    const racers = await Promise.all(
      [1, 2, 3, 4].map(() => registered({ campus: 'small', eligibleSubjects: ['CET4'] })),
    );
    const statuses: number[] = [];
    for (const racer of racers.slice(0, 3)) statuses.push((await racer.written('CET4')).status);
    expect(statuses).toEqual([201, 201, 201]);
    saw(await racers[3]!.written('CET4'), 'SOLD_OUT');
  });
});

describe('payment', () => {
  it('409 NOTHING_TO_PAY, 400 BAD_SIGNATURE, 409 ALREADY_PAID', async () => {
    const me = await registered();
    const pay = () => gw.http.post('/api/v1/payments', { method: 'ALIPAY' }, { token: me.token });
    saw(await pay(), 'NOTHING_TO_PAY');

    expect((await me.written('CET4')).status).toBe(201);
    const order = await pay();
    expect(order.status).toBe(201);
    const forged = encodeNotification(
      {
        notifyId: 'forgedNotification0001',
        notifyTime: await world.clock.now(),
        orderId: order.body.orderId,
        tradeNo: 'A00000000000000000000001',
        tradeStatus: 'TRADE_SUCCESS',
        totalAmount: '30.00',
      },
      'not-the-gateway-secret-at-all',
      'alipay',
    );
    saw(
      await gw.http.post('/api/v1/payments/notify/alipay', undefined, {
        raw: forged,
        headers: { 'content-type': NOTIFICATION_CONTENT_TYPE },
      }),
      'BAD_SIGNATURE',
    );
    const orderPath = `/api/v1/payments/${encodeURIComponent(order.body.orderId)}`;
    expect((await gw.http.get(orderPath, { token: me.token })).body.status).toBe('PENDING');

    const paid = await fetch(order.body.payUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ result: 'SUCCESS' }),
    });
    expect(paid.status).toBe(200);
    await paid.arrayBuffer();
    saw(await gw.http.delete('/api/v1/registration/written/CET4', { token: me.token }), 'ALREADY_PAID');
    // another account asking for this order: the extension code, as for a missing one
    const other = await signUp(gw.http);
    saw(await gw.http.get(orderPath, { token: other.token }), 'ORDER_NOT_FOUND');
  });
});

describe('CET6 eligibility review', () => {
  it('403 REVIEW_NOT_OFFERED, 422 REVIEW_NO_MATCH', async () => {
    const small = await registered({ campus: 'small', eligibleSubjects: ['CET4'] });
    saw(await small.review(world.unusedTicket()), 'REVIEW_NOT_OFFERED');
    const main = await registered({ campus: 'main' });
    saw(await main.review(world.unusedTicket()), 'REVIEW_NO_MATCH');
    saw(await gw.http.get('/api/v1/cet6-review', { token: main.token }), 'REVIEW_NOT_FOUND');
  });

  it('409 REVIEW_EXISTS, 409 REVIEW_PENDING, 409 REVIEW_APPROVED_FINAL', async () => {
    const pending = await registered({ campus: 'main', cet4: { score: 520, holder: 'name' } });
    const applied = await pending.review(pending.candidate.ticket!);
    expect([applied.status, applied.body.status]).toEqual([201, 'PENDING']);
    saw(await pending.review(pending.candidate.ticket!), 'REVIEW_EXISTS');
    saw(
      await gw.http.put(
        '/api/v1/cet6-review',
        { ticketNumber: pending.candidate.ticket!, confirm: true },
        { token: pending.token },
      ),
      'REVIEW_PENDING',
    );

    const approved = await registered({ campus: 'main', cet4: { score: 520, holder: 'id' } });
    const accepted = await approved.review(approved.candidate.ticket!);
    expect([accepted.status, accepted.body.status]).toEqual([201, 'APPROVED']);
    saw(
      await gw.http.put(
        '/api/v1/cet6-review',
        { ticketNumber: approved.candidate.ticket!, confirm: true },
        { token: approved.token },
      ),
      'REVIEW_APPROVED_FINAL',
    );
    saw(await gw.http.delete('/api/v1/cet6-review', { token: approved.token }), 'REVIEW_APPROVED_FINAL');
  });
});

describe('Idempotency-Key', () => {
  it('422 IDEMPOTENCY_KEY_REUSED: the same key with another body', async () => {
    const me = await registered();
    expect((await me.written('CET4', 'codes-reused')).status).toBe(201);
    saw(await me.written('CJT4', 'codes-reused'), 'IDEMPOTENCY_KEY_REUSED');
  });

  it('409 IDEMPOTENCY_IN_PROGRESS: a duplicate while the first (a KDF hash) still runs', async () => {
    const body = { email: newEmail(), password: PASSWORD };
    const key = `codes-in-progress-${Date.now()}`;
    const answers = await Promise.all(
      [1, 2, 3].map(() => gw.http.post('/api/v1/accounts', body, { idempotencyKey: key })),
    );
    // one ran; a duplicate arriving after it finished (a slow box) would be its replay
    const created = answers.filter((a) => a.status === 201 && a.headers.get('idempotent-replayed') === null);
    const running = answers.filter((answer) => answer.status !== 201);
    expect(created).toHaveLength(1);
    expect(running.length).toBeGreaterThan(0);
    for (const answer of running) saw(answer, 'IDEMPOTENCY_IN_PROGRESS');
    const replay = await gw.http.post('/api/v1/accounts', body, { idempotencyKey: key });
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(created[0]!.body);
  });
});

describe('admission control (the tight gateway)', () => {
  it('503 OVERLOADED with Retry-After beyond MAX_IN_FLIGHT', async () => {
    const client = new HttpClient(tight.base);
    const answers = await Promise.all(Array.from({ length: 60 }, () => client.get('/readyz')));
    const shed = answers.filter((answer) => answer.status === 503);
    expect(shed.length).toBeGreaterThan(0);
    expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThan(0);
    for (const answer of shed) {
      saw(answer, 'OVERLOADED');
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
  });

  it('429 RATE_LIMITED with Retry-After past RATE_SMS_PER_IP_PER_MINUTE', async () => {
    const client = new HttpClient(tight.base);
    // limit 1 per fixed minute window: of three requests in a row, at least one is over the limit
    // even if a window boundary falls between two of them
    const answers: HttpAnswer[] = [];
    for (let i = 0; i < 3; i++) answers.push(await client.post('/api/v1/sms-codes', { phone: newPhone() }));
    const limited = answers.filter((answer) => answer.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThan(0);
    for (const answer of limited) {
      saw(answer, 'RATE_LIMITED');
      const retryAfter = Number(answer.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(answer.body.error.details.rule).toBe('sms');
    }
  });
});

describe('the eligibility query per client address (issue 16 item 4)', () => {
  it('429 RATE_LIMITED (rule lookupIp) past RATE_LOOKUP_PER_IP_PER_MINUTE, under the per-account limit', async () => {
    const tightDb = createPool(tight.databaseUrl, { max: 1, applicationName: 'tests:error-codes-tight' });
    try {
      const [accountId] = await insertReadyAccounts(tightDb, 1, '196');
      const sessions = new Sessions({
        db: tightDb,
        redis: tight.redis,
        keys: new AuthKeys(tight.namespace),
        lifetimeMs: HOUR_MS,
      });
      const { token } = await sessions.create(accountId!);
      // limit 2 per fixed minute window: of five lookups in a row, at least one is over it even if a
      // window boundary falls between two of them; the account's own limit (10) is not reached
      const answers: HttpAnswer[] = [];
      for (let i = 0; i < 5; i++) {
        const idNumber = makeResidentId('110101', '2003-02-01', 200 + i);
        answers.push(
          await new HttpClient(tight.base).post(
            '/api/v1/eligibility/query',
            { idType: 'RESIDENT_ID', idNumber, name: '王芳' },
            { token },
          ),
        );
      }
      const limited = answers.filter((answer) => answer.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(answers.filter((answer) => answer.status === 404).length).toBeGreaterThanOrEqual(2);
      for (const answer of limited) {
        saw(answer, 'RATE_LIMITED');
        expect(answer.body.error.details.rule).toBe('lookupIp');
      }
    } finally {
      await tightDb.end();
    }
  });
});

describe('waiting room', () => {
  it('404 PROVINCE_NOT_FOUND, 409 DRAW_NOT_DONE, 409 QUEUE_NOT_ACTIVE, 404 NO_TICKET, 403 QUEUE_PASS_REQUIRED', async () => {
    const user = await signUp(gw.http);
    saw(await gw.http.get('/api/v1/queue/99'), 'PROVINCE_NOT_FOUND');
    saw(
      await gw.http.post('/api/v1/queue/tickets', { provinceCode: '11' }, { token: user.token }),
      'QUEUE_NOT_ACTIVE',
    );
    saw(
      await gw.http.get('/api/v1/queue/tickets/current?provinceCode=11', { token: user.token }),
      'NO_TICKET',
    );
    // province 11 is open: an opening-mode room gates it at once (the last test of this file to bind there)
    const room = {
      provinceCode: '11',
      mode: 'opening',
      preQueueMinutes: 60,
      passMinutes: 15,
      maxAdmitPerMinute: null,
    };
    expect((await gw.http.admin('PUT', '/api/v1/admin/queue', [room])).body.upserted).toBe(1);
    saw(await gw.http.get('/api/v1/queue/11/draw'), 'DRAW_NOT_DONE');
    const candidate = await world.candidate();
    saw(
      await gw.http.post(
        '/api/v1/registration',
        { ...candidate.identity, confirm: true },
        { token: user.token },
      ),
      'QUEUE_PASS_REQUIRED',
    );
    await gw.http.admin('PUT', '/api/v1/admin/queue', [{ ...room, mode: 'off' }]);
  });
});

describe('the registry', () => {
  it('API.md agrees with the gateway’s code table', () => {
    expect(CONTRACT.size).toBeGreaterThanOrEqual(35);
    const disagreements = [...CONTRACT]
      .filter(([code, status]) => !isApiCode(code) || API_CODES[code].status !== status)
      .map(
        ([code, status]) =>
          `${code}: API.md ${status}, table ${isApiCode(code) ? API_CODES[code].status : 'missing'}`,
      );
    expect(disagreements).toEqual([]);
  });

  it('every error code of API.md was produced through HTTP with the status API.md gives', () => {
    const missing = [...CONTRACT.keys()].filter((code) => !produced.has(code));
    expect(missing, 'codes of API.md never produced').toEqual([]);
    const wrong = [...CONTRACT]
      .filter(([code, status]) => {
        const statuses = produced.get(code)!;
        return statuses.size !== 1 || !statuses.has(status);
      })
      .map(([code, status]) => `${code}: API.md ${status}, answered ${[...produced.get(code)!].join('/')}`);
    expect(wrong).toEqual([]);
  });
});
