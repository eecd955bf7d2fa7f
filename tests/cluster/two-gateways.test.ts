/**
 * Issue 14 item 2: two `npm start` processes (scripts/start.ts, each with its gateway, writer,
 * sweeper and queue keeper) on different ports, against one private Redis Cluster and one
 * PostgreSQL database, behave as one system:
 *  - a candidate served by both in turn: SMS code on A, account on B, captcha from A and login on
 *    B, the agreement on A with B's session, … every state lives in Redis, none in a process;
 *  - an Idempotency-Key replayed on the other gateway gets the original answer (REL4);
 *  - a logout on A is refused on B at once (the session caches hear the revocation over pub/sub);
 *  - a waiting-room ticket taken on B is the same ticket on A (one per account and province);
 *  - one queue keeper at a time holds the room's lease, and the other takes it over when the holder
 *    stops;
 *  - the two writers share the streams, the one left drains what the stopped one left, and
 *    PostgreSQL ends equal to Redis (reconcile, I5) with I1–I4 intact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../db/pool.ts';
import { makeResidentId } from '../../engine/idNumber.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { Engine } from '../../engine/engine.ts';
import { spawnSystem, type SpawnedSystem } from '../../loadtest/runner/system.ts';
import { expectFlowPersisted, startPrivateCluster, type PrivateCluster } from '../support/cluster.ts';
import { HttpClient, TEST_SYSTEM_ENV, newPhone, type HttpAnswer } from '../support/gateway.ts';
import { freshDatabase, type FreshDatabase } from '../support/pg.ts';
import { sleep, waitFor } from '../support/wait.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const NOW = Date.UTC(2026, 2, 10, 2, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();
const NAMESPACE = 'two';
const CAMPUS = 'TG-C1';
const SCHOOL = 'TG-S1';
const PASSWORD = 'opening2026';
const IDENTITY = {
  idType: 'RESIDENT_ID',
  idNumber: makeResidentId('110105', '2003-07-08', 555),
  name: '两个',
} as const;

let stores: PrivateCluster;
let database: FreshDatabase;
let db: Pool;
let engine: Engine;
let a: SpawnedSystem;
let b: SpawnedSystem;
const logs: string[] = [];

/** Both systems at once, as two hosts would start: same stores, same namespace, own ports. */
async function startBoth(): Promise<[SpawnedSystem, SpawnedSystem]> {
  const env: NodeJS.ProcessEnv = {
    ...TEST_SYSTEM_ENV,
    THREADS: '1',
    REDIS_URL: '',
    REDIS_CLUSTER_NODES: stores.nodes,
    DATABASE_URL: database.url,
    KEY_NAMESPACE: NAMESPACE,
    QUEUE_TICK_MS: '100',
    // the writer left alone takes the stopped one's entries over soon (XAUTOCLAIM)
    WRITER_CLAIM_IDLE_MS: '1000',
    WRITER_CLAIM_INTERVAL_MS: '500',
  };
  const output = (text: string): void => void logs.push(text);
  const started = await Promise.allSettled([
    spawnSystem(env, { output, readyTimeoutMs: 60_000 }),
    spawnSystem(env, { output, readyTimeoutMs: 60_000 }),
  ]);
  const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (ok.length < 2) {
    await Promise.all(ok.map((system) => system.stop()));
    throw new Error(`a system did not start:\n${logs.join('').slice(-4000)}`);
  }
  return [ok[0]!, ok[1]!];
}

beforeAll(async () => {
  stores = await startPrivateCluster();
  database = await freshDatabase();
  db = createPool(database.url, { max: 2, applicationName: 'tests:two-gateways' });
  engine = new Engine(stores.client, { namespace: NAMESPACE });
  [a, b] = await startBoth();
}, 90_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await db?.end();
  await database?.drop();
  await stores?.stop();
});

const A = (): HttpClient => new HttpClient(a.base);
const B = (): HttpClient => new HttpClient(b.base);

/** The parts of an answer another gateway must repeat byte for byte. */
const answerOf = (answer: HttpAnswer) => ({ status: answer.status, text: answer.text });

describe('two npm start processes on one Redis Cluster and one PostgreSQL (issue 14 item 2)', () => {
  let token = '';
  let candidateId = '';

  it('operators set up on A what B then serves', async () => {
    expect((await A().admin('POST', '/api/v1/admin/clock', { nowMs: NOW })).status).toBe(200);
    const campuses = await A().admin('PUT', '/api/v1/admin/campuses', [
      {
        campusId: CAMPUS,
        name: '两个考点',
        provinceCode: '11',
        schoolId: SCHOOL,
        studentsMayTakeOralElsewhere: true,
        capacity: { CET4: 100, 'CET-SET4': 10 },
        oralOpens: { ownSchoolAt: iso(NOW - HOUR_MS), provinceWideAt: iso(NOW - HOUR_MS) },
      },
    ]);
    expect(campuses.body).toEqual({ upserted: 1, rejected: [] });
    const calendar = await B().admin('PUT', '/api/v1/admin/calendar', [
      { provinceCode: '11', registrationOpensAt: iso(NOW - DAY_MS), registrationClosesAt: iso(NOW + DAY_MS) },
      // province 12 opens in an hour, behind a waiting room
      {
        provinceCode: '12',
        registrationOpensAt: iso(NOW + HOUR_MS),
        registrationClosesAt: iso(NOW + DAY_MS),
      },
    ]);
    expect(calendar.body).toEqual({ upserted: 2, rejected: [] });
    expect((await A().admin('PUT', '/api/v1/admin/fees', { CET4: 30, 'CET-SET4': 50 })).status).toBe(200);
    const roster = await B().admin('PUT', '/api/v1/admin/roster', [
      {
        ...IDENTITY,
        schoolId: SCHOOL,
        campusId: CAMPUS,
        grade: '2024',
        eligibleSubjects: ['CET4'],
        cet6Barred: false,
      },
    ]);
    expect(roster.body.upserted).toBe(1);
    candidateId = String(roster.body.candidates[0].candidateId);
    const room = await B().admin('PUT', '/api/v1/admin/queue', [
      { provinceCode: '12', mode: 'opening', preQueueMinutes: 120, passMinutes: 15, maxAdmitPerMinute: null },
    ]);
    expect(room.body.upserted).toBe(1);
  });

  it('serves one candidate alternately from A and B: account, login, binding, holds, payment', async () => {
    const phone = newPhone();
    const sms = await A().post('/api/v1/sms-codes', { phone });
    expect(sms.status).toBe(200);
    const account = await B().post('/api/v1/accounts', {
      phone,
      smsCode: sms.body.testCode,
      password: PASSWORD,
    });
    expect(account.status).toBe(201);
    const captcha = await A().get('/api/v1/captcha');
    const session = await B().post('/api/v1/sessions', {
      login: phone,
      password: PASSWORD,
      captchaId: captcha.body.captchaId,
      captchaAnswer: captcha.body.testAnswer,
    });
    expect(session.status).toBe(200);
    token = String(session.body.token);
    expect((await A().post('/api/v1/agreement', { accepted: true }, { token })).status).toBe(200);
    expect((await B().post('/api/v1/eligibility/query', IDENTITY, { token })).status).toBe(200);
    const saved = await A().post('/api/v1/registration', { ...IDENTITY, confirm: true }, { token });
    expect(saved.status).toBe(201);

    // REL4 across gateways: the same Idempotency-Key on the other gateway answers the first answer
    const written = await B().post(
      '/api/v1/registration/written',
      { subject: 'CET4' },
      { token, idempotencyKey: 'two-gateways-written' },
    );
    expect([written.status, written.body.item?.status]).toEqual([201, 'HELD']);
    const replay = await A().post(
      '/api/v1/registration/written',
      { subject: 'CET4' },
      { token, idempotencyKey: 'two-gateways-written' },
    );
    expect(answerOf(replay)).toEqual(answerOf(written));
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const reused = await A().post(
      '/api/v1/registration/written',
      { subject: 'CJT4' },
      { token, idempotencyKey: 'two-gateways-written' },
    );
    expect([reused.status, reused.body.error?.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);

    const oral = await A().post(
      '/api/v1/registration/oral',
      { subject: 'CET-SET4', campusId: CAMPUS },
      { token },
    );
    expect([oral.status, oral.body.item?.status]).toEqual([201, 'HELD']);
    const order = await B().post('/api/v1/payments', { method: 'ALIPAY' }, { token });
    expect(order.status).toBe(201);
    // B's provider simulator notifies B; A then shows the order paid
    const paying = await fetch(String(order.body.payUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ result: 'SUCCESS' }),
    });
    expect(paying.status).toBe(200);
    const onA = await A().get(`/api/v1/payments/${encodeURIComponent(String(order.body.orderId))}`, {
      token,
    });
    expect(onA.body.status).toBe('PAID');
    const home = await B().get('/api/v1/registration', { token });
    expect(home.body.registration.progress).toMatchObject({ paid: true, unpaid: [] });
  });

  it('a logout on A is refused on B (the revocation reaches the other process over pub/sub)', async () => {
    expect((await B().get('/api/v1/registration', { token })).status).toBe(200); // B remembers it
    expect((await A().delete('/api/v1/sessions/current', { token })).status).toBe(204);
    await waitFor(async () => (await B().get('/api/v1/registration', { token })).status === 401, {
      timeoutMs: 5_000,
      intervalMs: 50,
      message: "B to refuse A's logged-out session",
    });
  });

  it('a waiting-room ticket taken on B is the same ticket on A', async () => {
    const phone = newPhone();
    const sms = await B().post('/api/v1/sms-codes', { phone });
    expect(
      (await A().post('/api/v1/accounts', { phone, smsCode: sms.body.testCode, password: PASSWORD })).status,
    ).toBe(201);
    const captcha = await B().get('/api/v1/captcha');
    const session = await A().post('/api/v1/sessions', {
      login: phone,
      password: PASSWORD,
      captchaId: captcha.body.captchaId,
      captchaAnswer: captcha.body.testAnswer,
    });
    const other = String(session.body.token);
    const joined = await B().post('/api/v1/queue/tickets', { provinceCode: '12' }, { token: other });
    expect([joined.status, joined.body.ticket?.state]).toEqual([201, 'PREQUEUE']);
    const again = await A().post('/api/v1/queue/tickets', { provinceCode: '12' }, { token: other });
    expect([again.status, again.body.ticket?.ticketId]).toEqual([200, joined.body.ticket.ticketId]);
    const current = await A().get('/api/v1/queue/tickets/current?provinceCode=12', { token: other });
    expect(current.body.ticket?.ticketId).toBe(joined.body.ticket.ticketId);
    for (const gateway of [A(), B()]) {
      expect((await gateway.get('/api/v1/queue/12')).body).toMatchObject({
        mode: 'opening',
        active: true,
        waiting: 1,
      });
    }
  });

  it("one queue keeper holds the room's lease; the other takes it over when the holder stops", async () => {
    const leaseKey = engine.keys.province('12').queue.keeperLease;
    const pidOf = (holder: string | null): number => Number(/-(\d+)-[a-z0-9]+$/.exec(holder ?? '')?.[1]);
    const first = await waitFor(() => stores.client.get(leaseKey), { timeoutMs: 5_000, message: 'a lease' });
    expect([a.pid, b.pid]).toContain(pidOf(first));
    // held by the same keeper tick after tick, never by both
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      expect(await stores.client.get(leaseKey)).toBe(first);
    }
    const [holder, other] = pidOf(first) === a.pid ? [a, b] : [b, a];
    await holder.stop();
    const next = await waitFor(
      async () => {
        const value = await stores.client.get(leaseKey);
        return value !== null && value !== first ? value : null;
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'the other keeper to take the lease' },
    );
    expect(pidOf(next)).toBe(other.pid);
    // the system left answers alone
    expect((await new HttpClient(other.base).get('/api/v1/queue/12')).body.waiting).toBe(1);
  });

  it('the writers drained every shard between them: PostgreSQL equals Redis (I5), I1–I4 hold', async () => {
    await expectFlowPersisted(engine, stores.client, db, candidateId, ['11', '12']);
    const report = await checkInvariants(engine, ['11', '12']);
    expect(report.violations).toEqual([]);
    expect([report.registrations, report.liveItems, report.tickets]).toEqual([1, 2, 1]);
  });
});
