/**
 * End to end, all through HTTP, against the whole running system (gateway threads, worker pool,
 * writer, sweeper, payment-provider simulator, real Redis and PostgreSQL): operators set up a
 * province through the admin API, then one candidate walks the seed's whole flow (R1–R24):
 * SMS code → account → captcha login → agreement → eligibility → save → written CET4 → oral
 * CET-SET4 (campus list first) → payment at the provider → paid registration; and the writer has
 * copied every event of that candidate to PostgreSQL (I5).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, query, type Pool } from '../../db/pool.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { makeResidentId } from '../../engine/idNumber.ts';
import { newPhone, startTestGateway, type TestGateway } from '../support/gateway.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** 2026-03-10 10:00 China time. */
const NOW = Date.UTC(2026, 2, 10, 2, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();

const CAMPUS = 'E2E-C1';
const SCHOOL = 'E2E-S1';
const FEES = { CET4: 30, 'CET-SET4': 50 } as const;
const ID_NUMBER = makeResidentId('110105', '2004-05-06', 321);
const NAME = '端到端';
const PASSWORD = 'opening2026';

let gw: TestGateway;
let db: Pool;

beforeAll(async () => {
  gw = await startTestGateway();
  db = createPool(gw.databaseUrl, { max: 2, applicationName: 'tests:e2e' });
}, 120_000);

afterAll(async () => {
  await db?.end();
  await gw?.close();
});

/** Stream order of "<tag>/<ms>-<seq>" event ids. */
function streamOrder(a: string, b: string): number {
  const [aMs, aSeq] = a.split('/')[1]!.split('-').map(Number) as [number, number];
  const [bMs, bSeq] = b.split('/')[1]!.split('-').map(Number) as [number, number];
  return aMs - bMs || aSeq - bSeq;
}

interface EventRow {
  event_id: string;
  type: string;
  data: Record<string, unknown>;
}

/** The candidate's events the writer copied to PostgreSQL, once all of `expected` are there. */
async function persistedEvents(candidateId: string, expected: number): Promise<EventRow[]> {
  let rows: EventRow[] = [];
  for (let waited = 0; waited < 20_000; waited += 100) {
    rows = await query<EventRow>(
      db,
      `SELECT event_id, type, data FROM events WHERE data->>'candidateId' = $1`,
      [candidateId],
    );
    if (rows.length >= expected) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return rows.sort((a, b) => streamOrder(a.event_id, b.event_id));
}

describe('one candidate through the whole flow, all through HTTP', () => {
  let candidateId = '';

  it('operators set up the province through the admin API', async () => {
    const { http } = gw;
    const clock = await http.admin('POST', '/api/v1/admin/clock', { nowMs: NOW });
    expect(clock.status).toBe(200);
    expect(clock.body.nowMs).toBeGreaterThanOrEqual(NOW);

    const campuses = await http.admin('PUT', '/api/v1/admin/campuses', [
      {
        campusId: CAMPUS,
        name: '端到端考点',
        provinceCode: '11',
        schoolId: SCHOOL,
        studentsMayTakeOralElsewhere: true,
        capacity: { CET4: 200, 'CET-SET4': 20 },
        oralOpens: { ownSchoolAt: iso(NOW - HOUR_MS), provinceWideAt: iso(NOW - HOUR_MS) },
      },
    ]);
    expect(campuses.body).toEqual({ upserted: 1, rejected: [] });
    const calendar = await http.admin('PUT', '/api/v1/admin/calendar', [
      {
        provinceCode: '11',
        registrationOpensAt: iso(NOW - DAY_MS),
        registrationClosesAt: iso(NOW + 10 * DAY_MS),
      },
    ]);
    expect(calendar.body).toEqual({ upserted: 1, rejected: [] });
    const fees = await http.admin('PUT', '/api/v1/admin/fees', FEES);
    expect(fees.status).toBe(200);
    const roster = await http.admin('PUT', '/api/v1/admin/roster', [
      {
        idType: 'RESIDENT_ID',
        idNumber: ID_NUMBER,
        name: NAME,
        schoolId: SCHOOL,
        campusId: CAMPUS,
        grade: '2024',
        eligibleSubjects: ['CET4'],
        cet6Barred: false,
      },
    ]);
    expect(roster.status).toBe(200);
    expect(roster.body.upserted).toBe(1);
    expect(roster.body.rejected).toEqual([]);
    candidateId = String(roster.body.candidates[0].candidateId);
    expect(candidateId).not.toBe('');
  });

  it('registers, logs in, saves, holds CET4 and CET-SET4, pays; the registration is PAID', async () => {
    expect(candidateId).not.toBe('');
    const { http } = gw;

    // R1: an SMS code, then the account with that phone
    const phone = newPhone();
    const sms = await http.post('/api/v1/sms-codes', { phone });
    expect(sms.status).toBe(200);
    expect(sms.body.sent).toBe(true);
    expect(sms.body.testCode).toMatch(/^\d{6}$/);
    const account = await http.post('/api/v1/accounts', {
      phone,
      smsCode: sms.body.testCode,
      password: PASSWORD,
    });
    expect(account.status).toBe(201);
    expect(account.body.phoneBound).toBe(true);
    const accountId = String(account.body.accountId);

    // R1: login with a captcha
    const captcha = await http.get('/api/v1/captcha');
    expect(captcha.status).toBe(200);
    expect(captcha.body.image).toMatch(/^data:image\/(svg\+xml|png)/);
    const session = await http.post('/api/v1/sessions', {
      login: phone,
      password: PASSWORD,
      captchaId: captcha.body.captchaId,
      captchaAnswer: captcha.body.testAnswer,
    });
    expect(session.status).toBe(200);
    expect(String(session.body.accountId)).toBe(accountId);
    expect(session.body.phoneBound).toBe(true);
    const token = String(session.body.token);

    // R2: nothing before the agreement, then the agreement
    const identity = { idType: 'RESIDENT_ID', idNumber: ID_NUMBER, name: NAME };
    const early = await http.post('/api/v1/eligibility/query', identity, { token });
    expect([early.status, early.body.error?.code]).toEqual([403, 'AGREEMENT_REQUIRED']);
    expect((await http.post('/api/v1/agreement', { accepted: true }, { token })).status).toBe(200);

    // R3, R4: the eligibility query, masked
    const eligibility = await http.post('/api/v1/eligibility/query', identity, { token });
    expect(eligibility.status).toBe(200);
    expect(eligibility.body.candidate).toMatchObject({
      candidateId,
      provinceCode: '11',
      schoolId: SCHOOL,
      campusId: CAMPUS,
      name: NAME,
    });
    expect(eligibility.body.candidate.idNumber).not.toBe(ID_NUMBER);
    expect(eligibility.body.candidate.idNumber).toMatch(/^\d{6}\*+[\dX]{4}$/);
    expect(eligibility.body.eligibleSubjects).toEqual(['CET4']);
    expect(eligibility.text).not.toContain(ID_NUMBER);

    // R6, R7: save and continue
    const saved = await http.post('/api/v1/registration', { ...identity, confirm: true }, { token });
    expect(saved.status).toBe(201);
    expect(saved.body.registration).toMatchObject({
      candidate: { candidateId, campusId: CAMPUS },
      written: [],
      oral: [],
      amountDue: 0,
      progress: { saved: true, writtenRegistered: false, oralRegistered: false, paid: false },
    });
    expect(saved.body.registration.deleteAt).toEqual(expect.any(String)); // R8: no subject yet

    // R15: written CET4 at the own campus
    const written = await http.post('/api/v1/registration/written', { subject: 'CET4' }, { token });
    expect(written.status).toBe(201);
    expect(written.body.item).toMatchObject({
      subject: 'CET4',
      campusId: CAMPUS,
      status: 'HELD',
      fee: FEES.CET4,
    });

    // R20, R21: the campus list first, then the oral seat at a campus of that list
    const campuses = await http.get('/api/v1/oral/campuses?subject=CET-SET4', { token });
    expect(campuses.status).toBe(200);
    expect(campuses.body).toEqual([
      expect.objectContaining({ campusId: CAMPUS, remaining: 20, capacity: 20, color: 'GREEN' }),
    ]);
    const oral = await http.post(
      '/api/v1/registration/oral',
      { subject: 'CET-SET4', campusId: campuses.body[0].campusId },
      { token },
    );
    expect(oral.status).toBe(201);
    expect(oral.body.item).toMatchObject({
      subject: 'CET-SET4',
      campusId: CAMPUS,
      status: 'HELD',
      fee: FEES['CET-SET4'],
    });
    const after = await http.get('/api/v1/oral/campuses?subject=CET-SET4', { token });
    expect(after.body[0]).toMatchObject({ remaining: 19, color: 'GREEN' });

    const due = await http.get('/api/v1/registration', { token });
    expect(due.body.registration).toMatchObject({
      amountDue: FEES.CET4 + FEES['CET-SET4'],
      progress: { writtenRegistered: true, oralRegistered: true, paid: false, unpaid: ['CET4', 'CET-SET4'] },
    });
    expect(due.body.registration.deleteAt).toBeUndefined();

    // R23: an order for everything unpaid, paid at the provider (the simulator notifies the gateway)
    const order = await http.post('/api/v1/payments', { method: 'ALIPAY' }, { token });
    expect(order.status).toBe(201);
    expect(order.body.amount).toBe(FEES.CET4 + FEES['CET-SET4']);
    expect(order.body.items.map((item: { subject: string }) => item.subject).sort()).toEqual([
      'CET-SET4',
      'CET4',
    ]);
    expect(order.body.payUrl.startsWith(gw.system.paymentSimulator!.url)).toBe(true);
    const orderPath = `/api/v1/payments/${encodeURIComponent(order.body.orderId)}`;
    expect((await http.get(orderPath, { token })).body.status).toBe('PENDING');

    const paid = await fetch(order.body.payUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ result: 'SUCCESS' }),
    });
    const paidBody = (await paid.json()) as { acknowledged?: boolean };
    expect(paid.status).toBe(200);
    expect(paidBody.acknowledged).toBe(true);
    expect((await http.get(orderPath, { token })).body.status).toBe('PAID');

    // R24: after a fresh login, the home page shows everything paid
    const captcha2 = await http.get('/api/v1/captcha');
    const session2 = await http.post('/api/v1/sessions', {
      login: phone,
      password: PASSWORD,
      captchaId: captcha2.body.captchaId,
      captchaAnswer: captcha2.body.testAnswer,
    });
    expect(session2.status).toBe(200);
    const home = await http.get('/api/v1/registration', { token: session2.body.token });
    expect(home.status).toBe(200);
    const registration = home.body.registration;
    expect(
      registration.written.map((item: { subject: string; status: string }) => [item.subject, item.status]),
    ).toEqual([['CET4', 'PAID']]);
    expect(
      registration.oral.map((item: { subject: string; status: string }) => [item.subject, item.status]),
    ).toEqual([['CET-SET4', 'PAID']]);
    expect(registration.amountDue).toBe(0);
    expect(registration.progress).toMatchObject({ paid: true, unpaid: [] });
    expect(home.text).not.toContain(ID_NUMBER);

    // the seats are taken exactly once; I1–I4 hold
    const counts = await gw.engine.seatCounts('11');
    const used = (subject: string) =>
      counts.find((c) => c.campusId === CAMPUS && c.subject === subject)?.used;
    expect([used('CET4'), used('CET-SET4')]).toEqual([1, 1]);
    const report = await checkInvariants(gw.engine, ['11']);
    expect(report.violations).toEqual([]);
  });

  it('I5: the writer has put the candidate’s events in PostgreSQL, in order, without the clear ID number', async () => {
    expect(candidateId).not.toBe('');
    const rows = await persistedEvents(candidateId, 5);
    expect(rows.map((row) => row.type)).toEqual([
      'BOUND',
      'HELD',
      'HELD',
      'ORDER_CREATED',
      'PAYMENT_CONFIRMED',
    ]);
    expect(rows.filter((row) => row.type === 'HELD').map((row) => row.data.subject)).toEqual([
      'CET4',
      'CET-SET4',
    ]);
    const confirmed = rows.find((row) => row.type === 'PAYMENT_CONFIRMED')!;
    expect(confirmed.data.status).toBe('PAID');
    expect([...(confirmed.data.paid as string[])].sort()).toEqual(['CET-SET4', 'CET4']);
    const created = rows.find((row) => row.type === 'ORDER_CREATED')!;
    expect(created.data.orderId).toBe(confirmed.data.orderId);
    expect(JSON.stringify(rows)).not.toContain(ID_NUMBER);
    // each event exactly once (the id is the primary key; no second copy under another id)
    const [{ n }] = (await query<{ n: string }>(
      db,
      `SELECT count(*)::text AS n FROM events WHERE data->>'candidateId' = $1`,
      [candidateId],
    )) as [{ n: string }];
    expect(Number(n)).toBe(5);
  });
});
