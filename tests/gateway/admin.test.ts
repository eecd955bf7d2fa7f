/**
 * Administration through HTTP against the whole running system (API.md "Administration"):
 * the admin token and nothing else, campuses / calendar / fees landing in both PostgreSQL and the
 * engine's Redis copy, per-row rejections, idempotent re-runs, the capacity rule, stats, and the
 * test-mode clock (404 outside test mode). Roster, CET4 scores and reviews: admin-records.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, query, type Pool } from '../../db/pool.ts';
import { bind, boundCandidate } from '../../engine/binding.ts';
import { ADMIN_TOKEN, signUp, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { sleep, waitFor } from '../support/wait.ts';

const PROVINCE = '11';
const DAY_MS = 24 * 3_600_000;

let gw: TestGateway;
let db: Pool;
beforeAll(async () => {
  gw = await startTestGateway();
  db = createPool(gw.databaseUrl, { max: 2 });
}, 120_000);
afterAll(async () => {
  await db?.end();
  await gw?.close();
});

const iso = (ms: number): string => new Date(ms).toISOString();

async function clockNow(): Promise<number> {
  const stats = await gw.http.admin('GET', '/api/v1/admin/stats');
  expect(stats.status).toBe(200);
  return stats.body.clock.nowMs as number;
}

function campus(campusId: string, overrides: Record<string, unknown> = {}) {
  return {
    campusId,
    name: `考点 ${campusId}`,
    provinceCode: PROVINCE,
    schoolId: 'S11001',
    studentsMayTakeOralElsewhere: true,
    capacity: { CET4: 300, CET6: 200, 'CET-SET4': 40 },
    oralOpens: { ownSchoolAt: '2026-03-02T09:00:00+08:00', provinceWideAt: '2026-03-03T09:00:00+08:00' },
    ...overrides,
  };
}

async function pgCounts() {
  const [row] = await query<{ campuses: string; capacities: string; calendar: string; fees: string }>(
    db,
    `SELECT (SELECT count(*) FROM campuses) AS campuses, (SELECT count(*) FROM campus_capacity) AS capacities,
            (SELECT count(*) FROM registration_calendar) AS calendar, (SELECT count(*) FROM fees) AS fees`,
  );
  return row;
}

async function openCalendar(now: number): Promise<void> {
  const put = await gw.http.admin('PUT', '/api/v1/admin/calendar', [
    {
      provinceCode: PROVINCE,
      registrationOpensAt: iso(now - DAY_MS),
      registrationClosesAt: iso(now + 60 * DAY_MS),
    },
  ]);
  expect(put.body).toEqual({ upserted: 1, rejected: [] });
}

let accountSeq = 0;
/** A saved registration straight through the engine (the registration routes are not under test here). */
async function bindCandidate(candidateId: string, campusId: string, now: number): Promise<string> {
  const accountId = `9${String(++accountSeq).padStart(5, '0')}`;
  const outcome = await bind(gw.engine, {
    accountId,
    provinceCode: PROVINCE,
    candidateId,
    campusId,
    now,
    snapshot: {
      name: '测试',
      idType: 'RESIDENT_ID',
      idMasked: '110105********0011',
      schoolId: 'S11001',
      grade: '2023',
      eligibleSubjects: ['CET4'],
    },
  });
  expect(outcome.ok).toBe(true);
  return accountId;
}

describe('admin authentication', () => {
  it('refuses a missing token, a wrong token and a candidate session with 401, changing nothing', async () => {
    const body = [campus('AUTH1')];
    const candidate = await signUp(gw.http);
    const answers = await Promise.all([
      gw.http.put('/api/v1/admin/campuses', body),
      gw.http.put('/api/v1/admin/campuses', body, { token: `${ADMIN_TOKEN}x` }),
      gw.http.put('/api/v1/admin/campuses', body, { token: candidate.token }),
      gw.http.put('/api/v1/admin/fees', { CET4: 1 }, { token: candidate.token }),
      gw.http.get('/api/v1/admin/stats', { token: candidate.token }),
      gw.http.get('/api/v1/admin/cet6-reviews'),
      gw.http.post('/api/v1/admin/clock', { advanceMs: DAY_MS }, { token: candidate.token }),
      gw.http.request('PUT', '/api/v1/admin/calendar', [], { headers: { authorization: ADMIN_TOKEN } }),
    ]);
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(answer.body.error.code).toBe('UNAUTHORIZED');
    }
    const rows = await query(db, 'SELECT 1 FROM campuses WHERE campus_id = $1', ['AUTH1']);
    expect(rows).toHaveLength(0);
    expect((await gw.engine.campuses(PROVINCE)).has('AUTH1')).toBe(false);
    expect(await gw.redis.hget(`${gw.namespace}:fees`, 'CET4')).toBeNull();
    const now = await clockNow();
    expect(Math.abs(now - Date.now())).toBeLessThan(DAY_MS / 2); // the clock did not move
  });
});

describe('PUT /api/v1/admin/campuses', () => {
  it('lands good rows in PostgreSQL and Redis (ISO strings and epoch ms), creating province and school', async () => {
    const wideMs = Date.parse('2026-03-04T09:00:00+08:00');
    const put = await gw.http.admin('PUT', '/api/v1/admin/campuses', [
      campus('C1101'),
      campus('C1102', {
        name: '第二考点',
        studentsMayTakeOralElsewhere: false,
        capacity: { CET4: 10 },
        oralOpens: { ownSchoolAt: wideMs - DAY_MS, provinceWideAt: null },
      }),
    ]);
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ upserted: 2, rejected: [] });

    const rows = await query<{
      campus_id: string;
      province_code: string;
      school_id: string;
      own: Date;
      wide: Date | null;
      x: boolean;
    }>(
      db,
      `SELECT campus_id, province_code, school_id, oral_own_school_opens_at AS own,
              oral_province_wide_opens_at AS wide, students_may_take_oral_elsewhere AS x
         FROM campuses WHERE campus_id IN ('C1101', 'C1102') ORDER BY campus_id`,
    );
    expect(rows.map((r) => [r.campus_id, r.province_code, r.school_id, r.x])).toEqual([
      ['C1101', PROVINCE, 'S11001', true],
      ['C1102', PROVINCE, 'S11001', false],
    ]);
    expect(rows[0]!.own.getTime()).toBe(Date.parse('2026-03-02T09:00:00+08:00'));
    expect(rows[1]!.own.getTime()).toBe(wideMs - DAY_MS);
    expect(rows[1]!.wide).toBeNull();
    const capacities = await query<{ campus_id: string; subject: string; capacity: number }>(
      db,
      `SELECT campus_id, subject, capacity FROM campus_capacity WHERE campus_id IN ('C1101', 'C1102')
        ORDER BY campus_id, subject`,
    );
    expect(capacities).toEqual([
      { campus_id: 'C1101', subject: 'CET-SET4', capacity: 40 },
      { campus_id: 'C1101', subject: 'CET4', capacity: 300 },
      { campus_id: 'C1101', subject: 'CET6', capacity: 200 },
      { campus_id: 'C1102', subject: 'CET4', capacity: 10 },
    ]);
    const [province] = await query<{ name: string }>(
      db,
      'SELECT name FROM provinces WHERE province_code = $1',
      [PROVINCE],
    );
    expect(province?.name).toBe('北京市');
    expect(
      await query(db, `SELECT 1 FROM schools WHERE school_id = 'S11001' AND province_code = $1`, [PROVINCE]),
    ).toHaveLength(1);

    const campuses = await gw.engine.campuses(PROVINCE);
    expect(campuses.get('C1102')).toMatchObject({
      name: '第二考点',
      schoolId: 'S11001',
      studentsMayTakeOralElsewhere: false,
      ownSchoolAt: wideMs - DAY_MS,
      provinceWideAt: null,
    });
    const seats = await gw.engine.seatCounts(PROVINCE);
    expect(
      seats.filter((s) => s.campusId === 'C1101').map((s) => [s.subject, s.capacity, s.remaining]),
    ).toEqual([
      ['CET-SET4', 40, 40],
      ['CET4', 300, 300],
      ['CET6', 200, 200],
    ]);
  });

  it('reports bad rows with their index and code while the good rows land', async () => {
    const before = await pgCounts();
    const put = await gw.http.admin('PUT', '/api/v1/admin/campuses', [
      campus('M1'),
      campus('M2', { capacity: { CET9: 10 } }),
      campus('M3', { provinceCode: '99' }),
      campus('M4', { capacity: { CET4: -1 } }),
      'not a campus',
      { ...campus('M6'), colour: 'red' },
      campus('M1', { name: 'again' }),
      campus('M8', { oralOpens: { ownSchoolAt: '2026-03-02 morning' } }),
      campus('M9', { capacity: { CET4: 5 }, oralOpens: { ownSchoolAt: 1_772_000_000_000 } }),
      campus('M10', { provinceCode: '12' }), // S11001 is a school of province 11
      campus('M11', { campusId: 'bad|id' }),
    ]);
    expect(put.status).toBe(200);
    expect(put.body.upserted).toBe(2);
    const rejected = put.body.rejected as { index: number; code: string; message: string }[];
    expect(rejected.map((r) => [r.index, r.code])).toEqual([
      [1, 'VALIDATION_FAILED'],
      [2, 'VALIDATION_FAILED'],
      [3, 'VALIDATION_FAILED'],
      [4, 'VALIDATION_FAILED'],
      [5, 'VALIDATION_FAILED'],
      [6, 'VALIDATION_FAILED'],
      [7, 'VALIDATION_FAILED'],
      [9, 'VALIDATION_FAILED'],
      [10, 'VALIDATION_FAILED'],
    ]);
    const message = (index: number) => rejected.find((r) => r.index === index)!.message;
    expect(message(1)).toContain('/capacity/CET9');
    expect(message(2)).toContain('/provinceCode');
    expect(message(3)).toMatch(/\/capacity\/CET4: must be >= 0/);
    expect(message(5)).toContain('/colour: unknown field');
    expect(message(6)).toContain('row 0');
    expect(message(7)).toContain('/oralOpens/ownSchoolAt');
    expect(message(9)).toContain('province 11');

    const landed = await query<{ campus_id: string }>(
      db,
      `SELECT campus_id FROM campuses WHERE campus_id LIKE 'M%' ORDER BY campus_id`,
    );
    expect(landed.map((r) => r.campus_id)).toEqual(['M1', 'M9']);
    const after = await pgCounts();
    expect(Number(after!.campuses) - Number(before!.campuses)).toBe(2);
    const inRedis = await gw.engine.campuses(PROVINCE);
    expect(['M1', 'M2', 'M3', 'M4', 'M6', 'M8', 'M9'].filter((id) => inRedis.has(id))).toEqual(['M1', 'M9']);
    expect(await gw.engine.campuses('12')).toEqual(new Map());
    expect(inRedis.get('M1')!.name).toBe('考点 M1'); // the duplicate (row 6) did not win
  });

  it('answers 400 VALIDATION_FAILED when the body is not an array', async () => {
    for (const body of [{ campusId: 'X' }, 'x', 42]) {
      const put = await gw.http.admin('PUT', '/api/v1/admin/campuses', body);
      expect([put.status, put.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    }
    const broken = await gw.http.request('PUT', '/api/v1/admin/campuses', undefined, {
      token: ADMIN_TOKEN,
      raw: '[{',
      headers: { 'content-type': 'application/json' },
    });
    expect([broken.status, broken.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
  });

  it('is idempotent: the same PUT again changes no row in either store', async () => {
    const body = [campus('I1'), campus('I2', { capacity: { CET4: 7, 'CET-SET4': 3 } })];
    const first = await gw.http.admin('PUT', '/api/v1/admin/campuses', body);
    expect(first.body).toEqual({ upserted: 2, rejected: [] });
    const counts = await pgCounts();
    const versions = await query(
      db,
      `SELECT xmin::text, campus_id FROM campuses WHERE campus_id IN ('I1', 'I2') ORDER BY 2`,
    );
    const capVersions = await query(
      db,
      `SELECT xmin::text, campus_id, subject FROM campus_capacity WHERE campus_id IN ('I1', 'I2') ORDER BY 2, 3`,
    );
    const redisBefore = await gw.engine.seatCounts(PROVINCE);

    const again = await gw.http.admin('PUT', '/api/v1/admin/campuses', body);
    expect(again.body).toEqual(first.body);
    expect(await pgCounts()).toEqual(counts);
    expect(
      await query(
        db,
        `SELECT xmin::text, campus_id FROM campuses WHERE campus_id IN ('I1', 'I2') ORDER BY 2`,
      ),
    ).toEqual(versions);
    expect(
      await query(
        db,
        `SELECT xmin::text, campus_id, subject FROM campus_capacity WHERE campus_id IN ('I1', 'I2') ORDER BY 2, 3`,
      ),
    ).toEqual(capVersions);
    expect(await gw.engine.seatCounts(PROVINCE)).toEqual(redisBefore);
  });

  it('refuses to lower a capacity below the seats taken (CAPACITY_BELOW_TAKEN) for that row only', async () => {
    const now = await clockNow();
    await openCalendar(now);
    const put = await gw.http.admin('PUT', '/api/v1/admin/campuses', [
      campus('T1', { capacity: { CET4: 2 } }),
    ]);
    expect(put.body.upserted).toBe(1);
    for (const candidateId of ['7001', '7002']) {
      const accountId = await bindCandidate(candidateId, 'T1', now);
      const held = await gw.engine.reserveWritten({
        accountId,
        provinceCode: PROVINCE,
        candidateId,
        subject: 'CET4',
        eligible: true,
        fee: 30,
        now,
      });
      expect(held.ok).toBe(true);
    }

    const lower = await gw.http.admin('PUT', '/api/v1/admin/campuses', [
      campus('T1', { capacity: { CET4: 1 } }),
      campus('T2', { capacity: { CET4: 5 } }),
    ]);
    expect(lower.status).toBe(200);
    expect(lower.body.upserted).toBe(1);
    expect(lower.body.rejected).toHaveLength(1);
    expect(lower.body.rejected[0]).toMatchObject({ index: 0, code: 'CAPACITY_BELOW_TAKEN' });
    expect(lower.body.rejected[0].message).toContain('CET4');
    const [capacity] = await query<{ capacity: number }>(
      db,
      `SELECT capacity FROM campus_capacity WHERE campus_id = 'T1' AND subject = 'CET4'`,
    );
    expect(capacity!.capacity).toBe(2);
    const seat = (await gw.engine.seatCounts(PROVINCE)).find(
      (s) => s.campusId === 'T1' && s.subject === 'CET4',
    );
    expect(seat).toMatchObject({ capacity: 2, used: 2, remaining: 0 });
    expect((await gw.engine.campuses(PROVINCE)).has('T2')).toBe(true);

    // raising it (or keeping it at what is taken) is fine
    const raise = await gw.http.admin('PUT', '/api/v1/admin/campuses', [
      campus('T1', { capacity: { CET4: 2, CET6: 1 } }),
    ]);
    expect(raise.body).toEqual({ upserted: 1, rejected: [] });
  });

  it('refuses to move a campus to another school', async () => {
    const put = await gw.http.admin('PUT', '/api/v1/admin/campuses', [
      campus('C1101', { schoolId: 'S11002' }),
    ]);
    expect(put.body.upserted).toBe(0);
    expect(put.body.rejected[0]).toMatchObject({ index: 0, code: 'VALIDATION_FAILED' });
    expect((await gw.engine.campuses(PROVINCE)).get('C1101')!.schoolId).toBe('S11001');
  });
});

describe('PUT /api/v1/admin/calendar', () => {
  it('sets windows in PostgreSQL and Redis, rejecting bad rows', async () => {
    const opens = '2026-03-01T09:00:00+08:00';
    const closes = '2026-03-10T17:00:00+08:00';
    const put = await gw.http.admin('PUT', '/api/v1/admin/calendar', [
      { provinceCode: '31', registrationOpensAt: opens, registrationClosesAt: closes },
      { provinceCode: '32', registrationOpensAt: closes, registrationClosesAt: opens },
      { provinceCode: '00', registrationOpensAt: opens, registrationClosesAt: closes },
      { provinceCode: '31', registrationOpensAt: opens, registrationClosesAt: Date.parse(closes) + 1 },
      {
        provinceCode: '33',
        registrationOpensAt: Date.parse(opens),
        registrationClosesAt: Date.parse(closes),
      },
      { provinceCode: '34', registrationOpensAt: opens },
    ]);
    expect(put.status).toBe(200);
    expect(put.body.upserted).toBe(2);
    expect(put.body.rejected.map((r: { index: number; code: string }) => [r.index, r.code])).toEqual([
      [1, 'VALIDATION_FAILED'],
      [2, 'VALIDATION_FAILED'],
      [3, 'VALIDATION_FAILED'],
      [5, 'VALIDATION_FAILED'],
    ]);
    const rows = await query<{ province_code: string; opens_at: Date; closes_at: Date }>(
      db,
      `SELECT province_code, opens_at, closes_at FROM registration_calendar WHERE province_code IN ('31', '32', '33', '34')
        ORDER BY 1`,
    );
    expect(rows.map((r) => [r.province_code, r.opens_at.getTime(), r.closes_at.getTime()])).toEqual([
      ['31', Date.parse(opens), Date.parse(closes)],
      ['33', Date.parse(opens), Date.parse(closes)],
    ]);
    expect(await gw.redis.hgetall(gw.engine.keys.province('31').calendar)).toEqual({
      o: String(Date.parse(opens)),
      c: String(Date.parse(closes)),
    });
    expect(await gw.redis.hgetall(gw.engine.keys.province('32').calendar)).toEqual({});

    const before = await query(db, 'SELECT xmin::text, * FROM registration_calendar ORDER BY province_code');
    const again = await gw.http.admin('PUT', '/api/v1/admin/calendar', [
      { provinceCode: '31', registrationOpensAt: opens, registrationClosesAt: closes },
    ]);
    expect(again.body).toEqual({ upserted: 1, rejected: [] });
    expect(await query(db, 'SELECT xmin::text, * FROM registration_calendar ORDER BY province_code')).toEqual(
      before,
    );
  });
});

describe('PUT /api/v1/admin/fees', () => {
  it('sets fees in PostgreSQL and in the Redis fee table', async () => {
    const put = await gw.http.admin('PUT', '/api/v1/admin/fees', { CET4: 30, 'CET-SET4': 50.5 });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ upserted: 2, rejected: [], fees: { CET4: 30, 'CET-SET4': 50.5 } });
    const rows = await query<{ subject: string; yuan: string }>(
      db,
      'SELECT subject, yuan FROM fees ORDER BY subject',
    );
    expect(rows).toEqual([
      { subject: 'CET-SET4', yuan: '50.50' },
      { subject: 'CET4', yuan: '30.00' },
    ]);
    expect(await gw.redis.hgetall(`${gw.namespace}:fees`)).toEqual({ CET4: '30', 'CET-SET4': '50.5' });

    const again = await gw.http.admin('PUT', '/api/v1/admin/fees', { CET4: 30, 'CET-SET4': 50.5 });
    expect(again.body.upserted).toBe(2);
    expect(await query(db, 'SELECT subject, yuan FROM fees ORDER BY subject')).toEqual(rows);
  });

  it('refuses an unknown subject, a negative fee or fractions of a fen with 400, changing nothing', async () => {
    for (const body of [{ CET9: 30 }, { CET4: -1 }, { CET4: 30.123 }, { CET4: '30' }, [{ CET4: 30 }]]) {
      const put = await gw.http.admin('PUT', '/api/v1/admin/fees', body);
      expect([put.status, put.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect(await gw.redis.hget(`${gw.namespace}:fees`, 'CET4')).toBe('30');
    const [fee] = await query<{ yuan: string }>(db, `SELECT yuan FROM fees WHERE subject = 'CET4'`);
    expect(fee!.yuan).toBe('30.00');
  });
});

describe('GET /api/v1/admin/stats', () => {
  it('reports seats, writer lag per stream, sweeper lag and persisted counts', async () => {
    const stats = await gw.http.admin('GET', '/api/v1/admin/stats');
    expect(stats.status).toBe(200);
    const body = stats.body;
    expect(Math.abs(body.clock.nowMs - Date.now())).toBeLessThan(60_000);
    expect(body.clock.now).toMatch(/\+08:00$/);
    expect(body.clock.testMode).toBe(true);

    const seats = await gw.engine.seatCounts(PROVINCE);
    const capacity = seats.reduce((sum, s) => sum + s.capacity, 0);
    const taken = seats.reduce((sum, s) => sum + s.used, 0);
    expect(body.seats.byProvince[PROVINCE]).toMatchObject({ capacity, taken });
    expect(body.seats.bySubject.CET4.taken).toBeGreaterThanOrEqual(2);
    expect(body.seats.bySubject.CET4.soldOut).toBeGreaterThanOrEqual(1); // T1
    expect(body.seats.taken).toBe(taken);

    const provinceStream = gw.engine.keys.province(PROVINCE).stream;
    const stream = body.streams.byStream.find((s: { stream: string }) => s.stream === provinceStream);
    expect(stream.length).toBe(await gw.redis.xlen(provinceStream));
    expect(body.streams.group).toBe('writer');
    expect(body.streams.length).toBeGreaterThanOrEqual(stream.length);

    // the writer catches up: nothing left unacknowledged, and the lag says so
    const caughtUp = await waitFor(
      async () => {
        const now = (await gw.http.admin('GET', '/api/v1/admin/stats')).body;
        return now.streams.lagMs === 0 ? now : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, message: 'the writer lag at 0' },
    );
    expect(caughtUp.streams.pending).toBe(0);
    expect(caughtUp.streams.undelivered).toBe(0);

    expect(body.sweeper.lagMs).toBeLessThan(5_000);

    // persisted counts come from the events the writer stored (shared, at most 5 s old)
    const persisted = await waitFor(
      async () => {
        const now = (await gw.http.admin('GET', '/api/v1/admin/stats')).body.persisted;
        return (now?.events.HELD ?? 0) >= 2 ? now : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 250, message: 'the persisted counts to show the holds' },
    );
    expect(persisted.events.CAMPUS_UPSERTED).toBeGreaterThanOrEqual(1);
    expect(persisted.items.held).toBeGreaterThanOrEqual(2);
    expect(persisted.registrations.saved).toBeGreaterThanOrEqual(2);
    expect(persisted.ageMs).toBeLessThan(30_000);
  });

  it('shows a writer backlog: pending entries and the age of the oldest one', async () => {
    // a consumer that read an entry and never acknowledged it stands for a writer that crashed
    // mid-batch; MULTI makes it read the entry before the real writer can
    const stream = gw.engine.keys.province('65').stream;
    const answers = await gw.redis
      .multi()
      .xadd(stream, '*', 't', 'TEST_BACKLOG', 'at', '0', 'd', '{}')
      .xreadgroup('GROUP', 'writer', 'stuck-writer', 'COUNT', 1000, 'STREAMS', stream, '>')
      .exec();
    expect(answers?.every(([error]) => error === null)).toBe(true);
    await sleep(300); // the entry's age
    const body = (await gw.http.admin('GET', '/api/v1/admin/stats')).body;
    const entry = body.streams.byStream.find((s: { stream: string }) => s.stream === stream);
    expect(entry.pending).toBeGreaterThanOrEqual(1);
    expect(entry.oldestUnprocessedAgeMs).toBeGreaterThanOrEqual(250);
    expect(entry.oldestUnprocessedAgeMs).toBeLessThan(60_000);
    expect(body.streams.lagMs).toBeGreaterThanOrEqual(entry.oldestUnprocessedAgeMs);
    expect(body.streams.byStream[0].oldestUnprocessedAgeMs).toBe(body.streams.lagMs); // worst first

    // acknowledge what the stand-in read, so later lag checks see the real writer only
    const pending = (await gw.redis.xpending(stream, 'writer', '-', '+', 1000, 'stuck-writer')) as [string][];
    await gw.redis.xack(stream, 'writer', ...pending.map((p) => p[0]));
    const after = (await gw.http.admin('GET', '/api/v1/admin/stats')).body;
    expect(after.streams.byStream.find((s: { stream: string }) => s.stream === stream).pending).toBe(0);
  });
});

describe('POST /api/v1/admin/clock (TEST_MODE)', () => {
  it('sets and advances the clock every request reads', async () => {
    const target = Date.now() + 30 * DAY_MS;
    const set = await gw.http.admin('POST', '/api/v1/admin/clock', { nowMs: target });
    expect(set.status).toBe(200);
    expect(set.body.nowMs).toBeGreaterThanOrEqual(target);
    expect(set.body.nowMs).toBeLessThan(target + 5_000);
    const seen = await clockNow();
    expect(seen).toBeGreaterThanOrEqual(target);
    expect(seen).toBeLessThan(target + 5_000);

    const advanced = await gw.http.admin('POST', '/api/v1/admin/clock', { advanceMs: 3_600_000 });
    expect(advanced.body.nowMs).toBeGreaterThanOrEqual(target + 3_600_000);
    expect(advanced.body.nowMs).toBeLessThan(target + 3_600_000 + 5_000);
    expect(await clockNow()).toBeGreaterThanOrEqual(target + 3_600_000);

    for (const body of [{}, { nowMs: target, advanceMs: 1 }, { nowMs: -1 }, { advanceMs: 'soon' }]) {
      const bad = await gw.http.admin('POST', '/api/v1/admin/clock', body);
      expect([bad.status, bad.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect(await clockNow()).toBeLessThan(target + 3_600_000 + 5_000);
  });

  it('drives expiry: the sweeper deletes an empty registration once the clock passes its deadline (R8)', async () => {
    const now = await clockNow();
    await openCalendar(now);
    const accountId = await bindCandidate('7101', 'C1101', now);
    expect(await gw.engine.registration(PROVINCE, '7101')).not.toBeNull();
    expect(await boundCandidate(gw.engine, accountId)).toMatchObject({ candidateId: '7101' });
    const advanced = await gw.http.admin('POST', '/api/v1/admin/clock', {
      advanceMs: gw.engine.emptyMs + 60_000,
    });
    expect(advanced.status).toBe(200);
    await waitFor(async () => (await gw.engine.registration(PROVINCE, '7101')) === null, {
      intervalMs: 100,
      message: 'the sweeper deleting the registration',
    });
    expect(await boundCandidate(gw.engine, accountId)).toBeNull(); // the account may bind again
    const stats = (await gw.http.admin('GET', '/api/v1/admin/stats')).body;
    expect(stats.sweeper.lagMs).toBeLessThan(5_000);
    expect(stats.clock.offsetMs).toBeGreaterThan(30 * DAY_MS);
  });

  it('does not exist outside test mode: 404 NOT_FOUND, whatever the token', async () => {
    // outside TEST_MODE the development keys are refused (API.md "Running it")
    const prod = await startTestGateway({
      TEST_MODE: '0',
      ID_HMAC_KEY: randomBytes(32).toString('hex'),
      ID_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      // the run's Redis may be a scratch one (REDIS_URL): durability is tests/gateway/safe-defaults.test.ts's
      REDIS_DURABILITY: 'relaxed',
    });
    try {
      const set = await prod.http.admin('POST', '/api/v1/admin/clock', { nowMs: Date.now() + DAY_MS });
      expect([set.status, set.body.error.code]).toEqual([404, 'NOT_FOUND']);
      const anonymous = await prod.http.post('/api/v1/admin/clock', { advanceMs: 1 });
      expect(anonymous.status).toBe(404);
      const stats = await prod.http.admin('GET', '/api/v1/admin/stats');
      expect(stats.status).toBe(200);
      expect(stats.body.clock.testMode).toBe(false);
      expect(stats.body.clock.offsetMs).toBe(0);
      expect(Math.abs(stats.body.clock.nowMs - Date.now())).toBeLessThan(5_000);
    } finally {
      await prod.close();
    }
  }, 120_000);
});
