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
import {
  newPhone,
  startTestGateway,
  type HttpAnswer,
  type HttpClient,
  type TestGateway,
} from '../support/gateway.ts';
import { waitFor } from '../support/wait.ts';

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
/** What the operators' calls answered. */
let setup: ProvinceSetup;
/** The candidate the roster upload created. */
let candidateId: string;
/** What every step of the candidate's walk answered. */
let walk: Walk;

// the whole flow runs once, here; each test below reads what it needs from its answers
beforeAll(async () => {
  gw = await startTestGateway();
  db = createPool(gw.databaseUrl, { max: 2, applicationName: 'tests:e2e' });
  setup = await setUpProvince(gw.http);
  candidateId = String(setup.roster.body?.candidates?.[0]?.candidateId ?? '');
  walk = await walkThrough(gw);
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
  const rows = await waitFor(
    async () => {
      const found = await query<EventRow>(
        db,
        `SELECT event_id, type, data FROM events WHERE data->>'candidateId' = $1`,
        [candidateId],
      );
      return found.length >= expected ? found : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100, message: `${expected} events of the candidate in PostgreSQL` },
  );
  return rows.sort((a, b) => streamOrder(a.event_id, b.event_id));
}

interface ProvinceSetup {
  readonly clock: HttpAnswer;
  readonly campuses: HttpAnswer;
  readonly calendar: HttpAnswer;
  readonly fees: HttpAnswer;
  readonly roster: HttpAnswer;
}

/** Operators set up the province through the admin API: clock, campus, calendar, fees, roster. */
async function setUpProvince(http: HttpClient): Promise<ProvinceSetup> {
  const clock = await http.admin('POST', '/api/v1/admin/clock', { nowMs: NOW });
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
  const calendar = await http.admin('PUT', '/api/v1/admin/calendar', [
    {
      provinceCode: '11',
      registrationOpensAt: iso(NOW - DAY_MS),
      registrationClosesAt: iso(NOW + 10 * DAY_MS),
    },
  ]);
  const fees = await http.admin('PUT', '/api/v1/admin/fees', FEES);
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
  return { clock, campuses, calendar, fees, roster };
}

const IDENTITY = { idType: 'RESIDENT_ID', idNumber: ID_NUMBER, name: NAME } as const;

interface Walk {
  readonly sms: HttpAnswer;
  readonly account: HttpAnswer;
  readonly captcha: HttpAnswer;
  readonly session: HttpAnswer;
  /** The eligibility query before the agreement, the agreement, then the query again. */
  readonly early: HttpAnswer;
  readonly agreement: HttpAnswer;
  readonly eligibility: HttpAnswer;
  readonly saved: HttpAnswer;
  readonly written: HttpAnswer;
  readonly campuses: HttpAnswer;
  readonly oral: HttpAnswer;
  readonly campusesAfter: HttpAnswer;
  readonly due: HttpAnswer;
  readonly order: HttpAnswer;
  readonly orderBeforePaying: HttpAnswer;
  /** The provider's answer to the candidate paying there. */
  readonly paid: { readonly status: number; readonly body: { acknowledged?: boolean } };
  readonly orderAfterPaying: HttpAnswer;
  readonly session2: HttpAnswer;
  readonly home: HttpAnswer;
}

/**
 * One candidate through the whole flow (R1–R24), all through HTTP, every answer kept. A step that
 * went wrong leaves the next ones to fail as they may: the test says which answer was wrong.
 */
async function walkThrough({ http }: TestGateway): Promise<Walk> {
  // R1: an SMS code, then the account with that phone; login with a captcha
  const phone = newPhone();
  const sms = await http.post('/api/v1/sms-codes', { phone });
  const account = await http.post('/api/v1/accounts', {
    phone,
    smsCode: sms.body?.testCode,
    password: PASSWORD,
  });
  const captcha = await http.get('/api/v1/captcha');
  const session = await http.post('/api/v1/sessions', {
    login: phone,
    password: PASSWORD,
    captchaId: captcha.body?.captchaId,
    captchaAnswer: captcha.body?.testAnswer,
  });
  const token = String(session.body?.token);

  // R2: nothing before the agreement, then the agreement; R3, R4: the eligibility query
  const early = await http.post('/api/v1/eligibility/query', IDENTITY, { token });
  const agreement = await http.post('/api/v1/agreement', { accepted: true }, { token });
  const eligibility = await http.post('/api/v1/eligibility/query', IDENTITY, { token });

  // R6, R7: save and continue; R15: written CET4 at the own campus
  const saved = await http.post('/api/v1/registration', { ...IDENTITY, confirm: true }, { token });
  const written = await http.post('/api/v1/registration/written', { subject: 'CET4' }, { token });

  // R20, R21: the campus list first, then the oral seat at a campus of that list
  const campuses = await http.get('/api/v1/oral/campuses?subject=CET-SET4', { token });
  const oral = await http.post(
    '/api/v1/registration/oral',
    { subject: 'CET-SET4', campusId: campuses.body?.[0]?.campusId },
    { token },
  );
  const campusesAfter = await http.get('/api/v1/oral/campuses?subject=CET-SET4', { token });
  const due = await http.get('/api/v1/registration', { token });

  // R23: an order for everything unpaid, paid at the provider (the simulator notifies the gateway)
  const order = await http.post('/api/v1/payments', { method: 'ALIPAY' }, { token });
  const orderPath = `/api/v1/payments/${encodeURIComponent(String(order.body?.orderId))}`;
  const orderBeforePaying = await http.get(orderPath, { token });
  const payUrl: unknown = order.body?.payUrl;
  let paid: Walk['paid'] = { status: 0, body: {} };
  if (typeof payUrl === 'string') {
    const paying = await fetch(payUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ result: 'SUCCESS' }),
    });
    paid = { status: paying.status, body: (await paying.json()) as Walk['paid']['body'] };
  }
  const orderAfterPaying = await http.get(orderPath, { token });

  // R24: after a fresh login, the home page
  const captcha2 = await http.get('/api/v1/captcha');
  const session2 = await http.post('/api/v1/sessions', {
    login: phone,
    password: PASSWORD,
    captchaId: captcha2.body?.captchaId,
    captchaAnswer: captcha2.body?.testAnswer,
  });
  const home = await http.get('/api/v1/registration', { token: String(session2.body?.token) });
  return {
    sms,
    account,
    captcha,
    session,
    early,
    agreement,
    eligibility,
    saved,
    written,
    campuses,
    oral,
    campusesAfter,
    due,
    order,
    orderBeforePaying,
    paid,
    orderAfterPaying,
    session2,
    home,
  };
}

describe('one candidate through the whole flow, all through HTTP', () => {
  it('operators set up the province through the admin API', () => {
    const { clock, campuses, calendar, fees, roster } = setup;
    expect(clock.status).toBe(200);
    expect(clock.body.nowMs).toBeGreaterThanOrEqual(NOW);
    expect(campuses.body).toEqual({ upserted: 1, rejected: [] });
    expect(calendar.body).toEqual({ upserted: 1, rejected: [] });
    expect(fees.status).toBe(200);
    expect(roster.status).toBe(200);
    expect(roster.body.upserted).toBe(1);
    expect(roster.body.rejected).toEqual([]);
    expect(candidateId).not.toBe('');
  });

  it('registers, logs in, saves, holds CET4 and CET-SET4, pays; the registration is PAID', async () => {
    // R1: an SMS code, then the account with that phone; login with a captcha
    expect(walk.sms.status).toBe(200);
    expect(walk.sms.body.sent).toBe(true);
    expect(walk.sms.body.testCode).toMatch(/^\d{6}$/);
    expect(walk.account.status).toBe(201);
    expect(walk.account.body.phoneBound).toBe(true);
    const accountId = String(walk.account.body.accountId);
    expect(walk.captcha.status).toBe(200);
    expect(walk.captcha.body.image).toMatch(/^data:image\/(svg\+xml|png)/);
    expect(walk.session.status).toBe(200);
    expect(String(walk.session.body.accountId)).toBe(accountId);
    expect(walk.session.body.phoneBound).toBe(true);

    // R2: nothing before the agreement, then the agreement
    expect([walk.early.status, walk.early.body.error?.code]).toEqual([403, 'AGREEMENT_REQUIRED']);
    expect(walk.agreement.status).toBe(200);

    // R3, R4: the eligibility query, masked
    const { eligibility } = walk;
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
    expect(walk.saved.status).toBe(201);
    expect(walk.saved.body.registration).toMatchObject({
      candidate: { candidateId, campusId: CAMPUS },
      written: [],
      oral: [],
      amountDue: 0,
      progress: { saved: true, writtenRegistered: false, oralRegistered: false, paid: false },
    });
    expect(walk.saved.body.registration.deleteAt).toEqual(expect.any(String)); // R8: no subject yet

    // R15: written CET4 at the own campus
    expect(walk.written.status).toBe(201);
    expect(walk.written.body.item).toMatchObject({
      subject: 'CET4',
      campusId: CAMPUS,
      status: 'HELD',
      fee: FEES.CET4,
    });

    // R20, R21: the campus list first, then the oral seat at a campus of that list
    expect(walk.campuses.status).toBe(200);
    expect(walk.campuses.body).toEqual([
      expect.objectContaining({ campusId: CAMPUS, remaining: 20, capacity: 20, color: 'GREEN' }),
    ]);
    expect(walk.oral.status).toBe(201);
    expect(walk.oral.body.item).toMatchObject({
      subject: 'CET-SET4',
      campusId: CAMPUS,
      status: 'HELD',
      fee: FEES['CET-SET4'],
    });
    expect(walk.campusesAfter.body[0]).toMatchObject({ remaining: 19, color: 'GREEN' });

    expect(walk.due.body.registration).toMatchObject({
      amountDue: FEES.CET4 + FEES['CET-SET4'],
      progress: { writtenRegistered: true, oralRegistered: true, paid: false, unpaid: ['CET4', 'CET-SET4'] },
    });
    expect(walk.due.body.registration.deleteAt).toBeUndefined();

    // R23: an order for everything unpaid, paid at the provider (the simulator notifies the gateway)
    const { order } = walk;
    expect(order.status).toBe(201);
    expect(order.body.amount).toBe(FEES.CET4 + FEES['CET-SET4']);
    expect(order.body.items.map((item: { subject: string }) => item.subject).sort()).toEqual([
      'CET-SET4',
      'CET4',
    ]);
    expect(order.body.payUrl.startsWith(gw.system.paymentSimulator!.url)).toBe(true);
    expect(walk.orderBeforePaying.body.status).toBe('PENDING');
    expect(walk.paid.status).toBe(200);
    expect(walk.paid.body.acknowledged).toBe(true);
    expect(walk.orderAfterPaying.body.status).toBe('PAID');

    // R24: after a fresh login, the home page shows everything paid
    expect(walk.session2.status).toBe(200);
    const { home } = walk;
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
