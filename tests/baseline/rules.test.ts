/**
 * The conventional baseline (loadtest/baseline/) answers the reservation rules as the gateway does
 * (API.md "Subjects"; R15–R22, I1), through HTTP, on a small world seeded afresh for every test:
 * 8 candidates over 2 campuses, candidate i writing at campus i % 2, clock inside the window.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPool, execute, query, type Pool } from '../../db/pool.ts';
import {
  checkBaselineInvariants,
  seedBaseline,
  startBaseline,
  type BaselineServer,
} from '../../loadtest/baseline/index.ts';
import { freshDatabase, type FreshDatabase } from '../support/pg.ts';
import { statusAndCode } from '../support/answers.ts';

const HOUR_MS = 3_600_000;
const T0 = Date.UTC(2025, 2, 1, 1, 0, 0);
const WRITTEN = '/api/v1/registration/written';
const ORAL = '/api/v1/registration/oral';

let database: FreshDatabase;
let pool: Pool;
let server: BaselineServer;
let clock = T0;
let tokens: string[] = [];
let campusIds: string[] = [];

beforeAll(async () => {
  database = await freshDatabase();
  pool = createPool(database.url, { max: 4, applicationName: 'tests:baseline-rules' });
  server = await startBaseline({ databaseUrl: database.url, poolSize: 4, now: () => clock });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await pool?.end();
  await database?.drop();
});
beforeEach(async () => {
  clock = T0;
  ({ tokens, campusIds } = await seedBaseline(pool, {
    candidates: 8,
    campuses: 2,
    capacityPerCampus: { CET4: 2, CET6: 5, CJT4: 5, 'CET-SET4': 3, 'CET-SET6': 3 },
    eligibleSubjects: ['CET4', 'CET6', 'CJT4'],
    now: T0,
  }));
});

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; raw?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${path}`, { method, headers, body: payload });
  const text = await response.text();
  return { status: response.status, body: text === '' ? null : JSON.parse(text) };
}

const written = (i: number, subject: string) =>
  call('POST', WRITTEN, { token: tokens[i], body: { subject } });
const oral = (i: number, subject: string, campusId: string) =>
  call('POST', ORAL, { token: tokens[i], body: { subject, campusId } });
const cancel = (i: number, kind: 'written' | 'oral', subject: string) =>
  call('DELETE', `/api/v1/registration/${kind}/${subject}`, { token: tokens[i] });
async function expectRefusal(answer: Promise<Answer>, status: number, errorCode: string): Promise<void> {
  expect(statusAndCode(await answer)).toEqual([status, errorCode]);
}

async function taken(campusId: string, subject: string): Promise<number> {
  const [row] = await query<{ taken: number }>(
    pool,
    'SELECT taken FROM baseline.capacity WHERE campus_id = $1 AND subject = $2',
    [campusId, subject],
  );
  return row!.taken;
}

describe('written subjects (R15–R17, R22)', () => {
  it('GET /healthz answers 200', async () => {
    expect((await call('GET', '/healthz')).status).toBe(200);
  });

  it('R15: the seat is at the candidate’s own written campus; R22: payBy = heldAt + 12 h', async () => {
    const first = await written(0, 'CET4');
    const second = await written(1, 'CET4');
    expect(first.status).toBe(201);
    expect(first.body.item).toMatchObject({
      subject: 'CET4',
      campusId: campusIds[0],
      status: 'HELD',
      fee: 30,
    });
    expect(second.body.item.campusId).toBe(campusIds[1]);
    expect(Date.parse(first.body.item.heldAt)).toBe(T0);
    expect(Date.parse(first.body.item.payBy) - Date.parse(first.body.item.heldAt)).toBe(12 * HOUR_MS);
    expect(first.body.item.heldAt).toMatch(/\+08:00$/);
  });

  it('R16: one written subject per level (CET4 then CJT4 refused, CET6 allowed)', async () => {
    expect((await written(0, 'CET4')).status).toBe(201);
    const refused = await written(0, 'CJT4');
    expect(statusAndCode(refused)).toEqual([409, 'SAME_LEVEL_TAKEN']);
    expect(refused.body.error.details).toEqual({ subject: 'CET4' });
    expect((await written(0, 'CET6')).status).toBe(201);
  });

  it('the same subject twice is ALREADY_REGISTERED; a subject outside eligibility is NOT_ELIGIBLE', async () => {
    expect((await written(0, 'CET4')).status).toBe(201);
    await expectRefusal(written(0, 'CET4'), 409, 'ALREADY_REGISTERED');
    await expectRefusal(written(0, 'CGT4'), 403, 'NOT_ELIGIBLE');
  });

  it('R17/I1: a full campus answers SOLD_OUT; a cancellation gives the seat back', async () => {
    // candidates 0, 2, 4 write at campus 0, which has 2 CET4 seats
    expect((await written(0, 'CET4')).status).toBe(201);
    expect((await written(2, 'CET4')).status).toBe(201);
    await expectRefusal(written(4, 'CET4'), 409, 'SOLD_OUT');
    expect((await written(1, 'CET4')).status).toBe(201); // the other campus is not affected
    expect(await taken(campusIds[0]!, 'CET4')).toBe(2);

    const cancelled = await cancel(0, 'written', 'CET4');
    expect(cancelled).toEqual({ status: 200, body: { cancelled: ['CET4'] } });
    expect(await taken(campusIds[0]!, 'CET4')).toBe(1);
    expect((await written(4, 'CET4')).status).toBe(201);
    await expectRefusal(cancel(0, 'written', 'CET4'), 404, 'NOT_REGISTERED');
    expect((await checkBaselineInvariants(pool)).violations).toEqual([]);
  });

  it('R5: outside the province’s window, REGISTRATION_NOT_OPEN before and REGISTRATION_CLOSED after', async () => {
    clock = T0 - 2 * HOUR_MS;
    await expectRefusal(written(0, 'CET4'), 403, 'REGISTRATION_NOT_OPEN');
    clock = T0 + 48 * HOUR_MS;
    await expectRefusal(written(0, 'CET4'), 403, 'REGISTRATION_CLOSED');
    clock = T0 + 47 * HOUR_MS;
    expect((await written(0, 'CET4')).status).toBe(201);
  });
});

describe('oral subjects (R18–R20)', () => {
  it('R18: CET-SET4 needs CET4 (WRITTEN_REQUIRED); cancelling CET4 takes CET-SET4 with it', async () => {
    const refused = await oral(0, 'CET-SET4', campusIds[0]!);
    expect(statusAndCode(refused)).toEqual([409, 'WRITTEN_REQUIRED']);
    expect(refused.body.error.details).toEqual({ subject: 'CET4' });
    expect((await written(0, 'CJT4')).status).toBe(201); // same level, other language: still refused
    await expectRefusal(oral(0, 'CET-SET4', campusIds[0]!), 409, 'WRITTEN_REQUIRED');
    expect((await written(0, 'CET6')).status).toBe(201);
    await expectRefusal(oral(0, 'CET-SET4', campusIds[0]!), 409, 'WRITTEN_REQUIRED');
    expect((await oral(0, 'CET-SET6', campusIds[1]!)).status).toBe(201);

    expect(await cancel(0, 'written', 'CET6')).toEqual({
      status: 200,
      body: { cancelled: ['CET6', 'CET-SET6'] },
    });
    expect(await taken(campusIds[1]!, 'CET-SET6')).toBe(0);
    expect((await checkBaselineInvariants(pool)).violations).toEqual([]);
  });

  it('R19: a campus that keeps its students answers EXTERNAL_ORAL_NOT_ALLOWED elsewhere', async () => {
    await execute(
      pool,
      'UPDATE baseline.campuses SET students_may_take_oral_elsewhere = false WHERE campus_id = $1',
      [campusIds[0]],
    );
    expect((await written(0, 'CET4')).status).toBe(201);
    await expectRefusal(oral(0, 'CET-SET4', campusIds[1]!), 403, 'EXTERNAL_ORAL_NOT_ALLOWED');
    const own = await oral(0, 'CET-SET4', campusIds[0]!);
    expect(own.status).toBe(201);
    expect(own.body.item).toMatchObject({ subject: 'CET-SET4', campusId: campusIds[0], status: 'HELD' });
    await expectRefusal(oral(0, 'CET-SET4', campusIds[0]!), 409, 'ALREADY_REGISTERED');
    // the other campus's students may still come here
    expect((await written(1, 'CET4')).status).toBe(201);
    expect((await oral(1, 'CET-SET4', campusIds[0]!)).status).toBe(201);
  });

  it('R20: CAMPUS_NOT_OPEN before the opening that applies to the candidate', async () => {
    // campus 1: open to its own written candidates now, to the rest of the province in an hour
    await execute(pool, 'UPDATE baseline.campuses SET oral_province_wide_at = $2 WHERE campus_id = $1', [
      campusIds[1],
      new Date(T0 + HOUR_MS),
    ]);
    expect((await written(0, 'CET4')).status).toBe(201);
    expect((await written(1, 'CET4')).status).toBe(201);
    const early = await oral(0, 'CET-SET4', campusIds[1]!);
    expect(statusAndCode(early)).toEqual([403, 'CAMPUS_NOT_OPEN']);
    expect(Date.parse(early.body.error.details.opensAt)).toBe(T0 + HOUR_MS);
    expect((await oral(1, 'CET-SET4', campusIds[1]!)).status).toBe(201); // own campus: open
    clock = T0 + HOUR_MS;
    expect((await oral(0, 'CET-SET4', campusIds[1]!)).status).toBe(201);
  });

  it('R20: never open province-wide, later for its own; another province’s campus is refused', async () => {
    await execute(
      pool,
      'UPDATE baseline.campuses SET oral_own_school_at = $2, oral_province_wide_at = NULL WHERE campus_id = $1',
      [campusIds[1], new Date(T0 + HOUR_MS)],
    );
    expect((await written(0, 'CET4')).status).toBe(201);
    expect((await written(1, 'CET4')).status).toBe(201);
    await expectRefusal(oral(1, 'CET-SET4', campusIds[1]!), 403, 'CAMPUS_NOT_OPEN');
    clock = T0 + 2 * HOUR_MS;
    await expectRefusal(oral(0, 'CET-SET4', campusIds[1]!), 403, 'CAMPUS_NOT_OPEN');
    expect((await oral(1, 'CET-SET4', campusIds[1]!)).status).toBe(201);

    await execute(pool, `UPDATE baseline.campuses SET province_code = '12' WHERE campus_id = $1`, [
      campusIds[1],
    ]);
    await expectRefusal(oral(0, 'CET-SET4', campusIds[1]!), 404, 'CAMPUS_NOT_FOUND');
  });

  it('ALREADY_PAID: a paid subject stays, and so does the written subject under a paid oral', async () => {
    expect((await written(0, 'CET4')).status).toBe(201);
    expect((await oral(0, 'CET-SET4', campusIds[0]!)).status).toBe(201);
    await execute(pool, `UPDATE baseline.items SET status = 'PAID' WHERE subject = 'CET-SET4'`);
    await expectRefusal(cancel(0, 'oral', 'CET-SET4'), 409, 'ALREADY_PAID');
    await expectRefusal(cancel(0, 'written', 'CET4'), 409, 'ALREADY_PAID');
    await execute(pool, `UPDATE baseline.items SET status = 'PAID' WHERE subject = 'CET4'`);
    await expectRefusal(cancel(0, 'written', 'CET4'), 409, 'ALREADY_PAID');
    expect(await taken(campusIds[0]!, 'CET4')).toBe(1);
  });
});

describe('the saved registration, authentication and request shape', () => {
  it('GET /api/v1/registration lists the subjects and the amount due; unbound → NO_REGISTRATION', async () => {
    expect((await written(0, 'CET4')).status).toBe(201);
    expect((await oral(0, 'CET-SET4', campusIds[0]!)).status).toBe(201);
    await execute(pool, `UPDATE baseline.items SET status = 'PAID' WHERE subject = 'CET4'`);
    const view = await call('GET', '/api/v1/registration', { token: tokens[0] });
    expect(view.status).toBe(200);
    expect(view.body.registration).toMatchObject({
      candidateId: 'BK0000000',
      written: [{ subject: 'CET4', status: 'PAID' }],
      oral: [{ subject: 'CET-SET4', status: 'HELD', campusId: campusIds[0] }],
      amountDue: 50,
    });

    await execute(pool, `INSERT INTO baseline.accounts (account_id) VALUES ('unbound')`);
    await execute(
      pool,
      `INSERT INTO baseline.sessions (token, account_id, expires_at) VALUES ('unbound-token', 'unbound', $1)`,
      [new Date(T0 + HOUR_MS)],
    );
    await expectRefusal(
      call('GET', '/api/v1/registration', { token: 'unbound-token' }),
      404,
      'NO_REGISTRATION',
    );
    await expectRefusal(
      call('POST', WRITTEN, { token: 'unbound-token', body: { subject: 'CET4' } }),
      404,
      'NO_REGISTRATION',
    );
  });

  it('401 UNAUTHORIZED without a token, with an unknown one, and with an expired session', async () => {
    await expectRefusal(call('POST', WRITTEN, { body: { subject: 'CET4' } }), 401, 'UNAUTHORIZED');
    await expectRefusal(
      call('POST', WRITTEN, { token: 'nobody', body: { subject: 'CET4' } }),
      401,
      'UNAUTHORIZED',
    );
    clock = T0 + 72 * HOUR_MS; // seeded sessions end there
    await expectRefusal(call('GET', '/api/v1/registration', { token: tokens[0] }), 401, 'UNAUTHORIZED');
  });

  it('400 VALIDATION_FAILED on an unknown field, a wrong type, an unknown subject, bad JSON', async () => {
    const unknownField = await call('POST', WRITTEN, {
      token: tokens[0],
      body: { subject: 'CET4', campusId: 'x' },
    });
    expect(statusAndCode(unknownField)).toEqual([400, 'VALIDATION_FAILED']);
    expect(unknownField.body.error.details.errors).toContainEqual({
      field: '/campusId',
      problem: 'unknown field',
    });
    await expectRefusal(
      call('POST', WRITTEN, { token: tokens[0], body: { subject: 4 } }),
      400,
      'VALIDATION_FAILED',
    );
    await expectRefusal(
      call('POST', WRITTEN, { token: tokens[0], body: { subject: 'CET-SET4' } }),
      400,
      'VALIDATION_FAILED',
    );
    await expectRefusal(
      call('POST', WRITTEN, { token: tokens[0], raw: '{"subject":' }),
      400,
      'VALIDATION_FAILED',
    );
    await expectRefusal(
      call('POST', ORAL, { token: tokens[0], body: ['CET-SET4'] }),
      400,
      'VALIDATION_FAILED',
    );
    await expectRefusal(cancel(0, 'oral', 'CET4'), 400, 'VALIDATION_FAILED');
    expect(await taken(campusIds[0]!, 'CET4')).toBe(0);
  });

  it('413 PAYLOAD_TOO_LARGE past 16 KiB, and the connection still serves the next request', async () => {
    const big = JSON.stringify({ subject: 'CET4', padding: 'x'.repeat(17 * 1024) });
    await expectRefusal(call('POST', WRITTEN, { token: tokens[0], raw: big }), 413, 'PAYLOAD_TOO_LARGE');
    expect((await written(0, 'CET4')).status).toBe(201);
  });

  it('unknown routes answer 404 NOT_FOUND', async () => {
    await expectRefusal(call('GET', '/api/v1/nothing', { token: tokens[0] }), 404, 'NOT_FOUND');
  });
});

describe('checkBaselineInvariants', () => {
  it('finds a planted I1 violation (taken = capacity + 1)', async () => {
    expect((await written(0, 'CET4')).status).toBe(201);
    const clean = await checkBaselineInvariants(pool);
    expect(clean).toMatchObject({ ok: true, violations: [] });
    expect(clean.checked).toMatchObject({ bindings: 8, liveItems: 1, candidates: 8 });

    await execute(
      pool,
      `UPDATE baseline.capacity SET taken = capacity + 1 WHERE campus_id = $1 AND subject = 'CET4'`,
      [campusIds[0]],
    );
    const report = await checkBaselineInvariants(pool);
    expect(report.ok).toBe(false);
    expect(report.violations).toContain(`I1 ${campusIds[0]}|CET4: taken 3 > capacity 2`);
  });

  it('finds a planted I3 violation (an oral item whose written item was cancelled behind its back)', async () => {
    expect((await written(0, 'CET4')).status).toBe(201);
    expect((await oral(0, 'CET-SET4', campusIds[0]!)).status).toBe(201);
    await execute(
      pool,
      `UPDATE baseline.items SET status = 'CANCELLED', ended_at = held_at WHERE subject = 'CET4'`,
    );
    const report = await checkBaselineInvariants(pool);
    expect(report.ok).toBe(false);
    expect(report.violations.some((v) => v.includes('oral without its written subject'))).toBe(true);
  });
});
