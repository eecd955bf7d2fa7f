/**
 * Written and oral subjects through HTTP (API.md "Subjects"; R15–R22), against the whole running
 * system with the hand-made world of tests/support/world.ts (clock inside province 11's window).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startTestGateway, type TestGateway } from '../support/gateway.ts';
import {
  FEES,
  registeredCandidate,
  seedTestWorld,
  type CandidateSpec,
  type TestWorld,
} from '../support/world.ts';
import { statusAndCode } from '../support/answers.ts';

let gw: TestGateway;
let world: TestWorld;
beforeAll(async () => {
  gw = await startTestGateway();
  world = await seedTestWorld(gw);
}, 120_000);
afterAll(async () => {
  await world?.close();
  await gw?.close();
});

const WRITTEN = '/api/v1/registration/written';
const ORAL = '/api/v1/registration/oral';
const CAMPUSES = '/api/v1/oral/campuses';

const registered = (spec: CandidateSpec = {}) => registeredCandidate(gw, world, spec);

/** The winners of the race for the small campus's written seats (R21 is checked with them). */
let smallWinners: Awaited<ReturnType<typeof registered>>[] = [];

async function used(campusId: string, subject: string): Promise<number> {
  const counts = await gw.engine.seatCounts('11');
  return counts.find((count) => count.campusId === campusId && count.subject === subject)?.used ?? 0;
}

describe('POST /api/v1/registration/written (R15–R17, R22)', () => {
  it('holds a seat at the own written campus for 12 hours at the fee of the table', async () => {
    const me = await registered({ campus: 'fixed', eligibleSubjects: ['CET4'] });
    const held = await me.written('CET4');
    expect(held.status).toBe(201);
    expect(held.body.item).toMatchObject({
      subject: 'CET4',
      campusId: 'C11B',
      status: 'HELD',
      fee: FEES.CET4,
    });
    expect(Date.parse(held.body.item.payBy) - Date.parse(held.body.item.heldAt)).toBe(12 * 3_600_000);
    const view = await me.view();
    expect(view.written).toEqual([held.body.item]);
    expect(view).toMatchObject({
      amountDue: FEES.CET4,
      progress: { writtenRegistered: true, paid: false, unpaid: ['CET4'] },
    });
    expect(view.deleteAt).toBeUndefined();
  });

  it('R16: one subject per level (409 SAME_LEVEL_TAKEN), CET4 with CET6 is fine; 409 ALREADY_REGISTERED', async () => {
    const me = await registered({ eligibleSubjects: ['CET4', 'CET6', 'CJT4'], cet4: { score: 500 } });
    expect((await me.written('CET4')).status).toBe(201);
    const again = await me.written('CET4');
    expect(statusAndCode(again)).toEqual([409, 'ALREADY_REGISTERED']);
    const sameLevel = await me.written('CJT4');
    expect(statusAndCode(sameLevel)).toEqual([409, 'SAME_LEVEL_TAKEN']);
    expect(sameLevel.body.error.details).toEqual({ subject: 'CET4' });
    expect((await me.written('CET6')).status).toBe(201);
    expect((await me.view()).amountDue).toBe((FEES.CET4 ?? 0) + (FEES.CET6 ?? 0));
  });

  it('403 NOT_ELIGIBLE for a subject the saved record does not list (CET6 without a pass included)', async () => {
    const me = await registered({ eligibleSubjects: ['CET4', 'CET6'], cet4: { score: 400 } });
    expect(statusAndCode(await me.written('CET6'))).toEqual([403, 'NOT_ELIGIBLE']);
    expect(statusAndCode(await me.written('CJT6'))).toEqual([403, 'NOT_ELIGIBLE']);
    expect((await me.view()).written).toEqual([]);
  });

  it('409 SUBJECT_NOT_OFFERED when the own campus has no sitting for the subject', async () => {
    const me = await registered({ campus: 'small', eligibleSubjects: ['CET4', 'CJT6'] });
    expect(statusAndCode(await me.written('CJT6'))).toEqual([409, 'SUBJECT_NOT_OFFERED']);
  });

  it('R17/I1: 5 candidates racing for 3 seats: 3 holds, 2 × 409 SOLD_OUT, never more than the capacity', async () => {
    const racers = await Promise.all(
      Array.from({ length: 5 }, () => registered({ campus: 'small', eligibleSubjects: ['CET4', 'CJT4'] })),
    );
    const answers = await Promise.all(racers.map((racer) => racer.written('CET4')));
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(3);
    for (const refused of answers.filter((answer) => answer.status !== 201)) {
      expect(statusAndCode(refused)).toEqual([409, 'SOLD_OUT']);
    }
    expect(await used('C11C', 'CET4')).toBe(3);
    smallWinners = racers.filter((_, index) => answers[index]!.status === 201);
  });

  it('400 VALIDATION_FAILED for an oral or unknown subject and for unknown fields; 404 NO_REGISTRATION unbound', async () => {
    const me = await registered();
    for (const body of [
      { subject: 'CET-SET4' },
      { subject: 'XYZ4' },
      { subject: 'CET4', campusId: 'C11B' },
      {},
    ]) {
      expect(statusAndCode(await gw.http.post(WRITTEN, body, { token: me.token }))).toEqual([
        400,
        'VALIDATION_FAILED',
      ]);
    }
    const unbound = await signUp(gw.http);
    expect(statusAndCode(await gw.http.post(WRITTEN, { subject: 'CET4' }, { token: unbound.token }))).toEqual(
      [404, 'NO_REGISTRATION'],
    );
    expect(statusAndCode(await gw.http.post(WRITTEN, { subject: 'CET4' }))).toEqual([401, 'UNAUTHORIZED']);
  });

  it('Idempotency-Key: the same key and body twice → one hold, identical answers; another body → 422', async () => {
    const me = await registered();
    const before = await used('C11A', 'CET4');
    const key = `hold-${me.candidate.candidateId}`;
    const first = await me.written('CET4', key);
    const replay = await me.written('CET4', key);
    expect([first.status, replay.status]).toEqual([201, 201]);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await used('C11A', 'CET4')).toBe(before + 1);
    expect((await me.view()).written).toHaveLength(1);
    const reused = await me.written('CJT4', key);
    expect(statusAndCode(reused)).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    // without the key, a repeat is a refusal, never a second seat
    expect(statusAndCode(await me.written('CET4'))).toEqual([409, 'ALREADY_REGISTERED']);
    expect(await used('C11A', 'CET4')).toBe(before + 1);
  });

  it('counts reservations per outcome in /metrics', async () => {
    const metrics = await gw.http.get('/metrics');
    expect(metrics.text).toMatch(/reservations_total\{[^}]*kind="WRITTEN"[^}]*outcome="OK"[^}]*\} [1-9]/);
    expect(metrics.text).toMatch(
      /reservations_total\{[^}]*kind="WRITTEN"[^}]*outcome="SOLD_OUT"[^}]*\} [1-9]/,
    );
  });
});

describe('GET /api/v1/oral/campuses and POST /api/v1/registration/oral (R18–R21)', () => {
  it('R20: lists only campuses open to the candidate now; R21: colour follows the remaining seats', async () => {
    expect(smallWinners).toHaveLength(3);
    const [first, second, third] = smallWinners as [
      (typeof smallWinners)[0],
      (typeof smallWinners)[0],
      (typeof smallWinners)[0],
    ];
    const listed = await first.campuses('CET-SET4');
    expect(listed.status).toBe(200);
    const small = () => listed.body.find((campus: { campusId: string }) => campus.campusId === 'C11C');
    expect(listed.body.map((campus: { campusId: string }) => campus.campusId).sort()).toEqual([
      'C11A',
      'C11B',
      'C11C',
    ]);
    expect(small()).toEqual({
      campusId: 'C11C',
      name: '测试校区C11C',
      remaining: 2,
      capacity: 2,
      color: 'GREEN',
      opensAt: expect.stringMatching(/\+08:00$/),
    });
    const held = await first.oral('CET-SET4', 'C11C');
    expect(held.status).toBe(201);
    expect(held.body.item).toMatchObject({
      subject: 'CET-SET4',
      campusId: 'C11C',
      status: 'HELD',
      fee: FEES['CET-SET4'],
    });
    const yellow = await first.campuses('CET-SET4');
    expect(yellow.body.find((c: { campusId: string }) => c.campusId === 'C11C')).toMatchObject({
      remaining: 1,
      color: 'YELLOW',
    });
    expect((await second.oral('CET-SET4', 'C11C')).status).toBe(201);
    const red = await third.campuses('CET-SET4');
    expect(red.body.find((c: { campusId: string }) => c.campusId === 'C11C')).toMatchObject({
      remaining: 0,
      color: 'RED',
    });
    expect(statusAndCode(await third.oral('CET-SET4', 'C11C'))).toEqual([409, 'SOLD_OUT']);
    // the candidate may go elsewhere (its campus allows it)
    expect((await third.oral('CET-SET4', 'C11A')).status).toBe(201);
  });

  it('R20: 403 CAMPUS_NOT_OPEN (with opensAt) for a campus not open to this candidate yet, or never', async () => {
    const me = await registered();
    expect((await me.written('CET4')).status).toBe(201);
    const listed = await me.campuses('CET-SET4');
    expect(listed.body.map((campus: { campusId: string }) => campus.campusId).sort()).toEqual([
      'C11A',
      'C11B',
    ]);
    const later = await me.oral('CET-SET4', 'C11C');
    expect(statusAndCode(later)).toEqual([403, 'CAMPUS_NOT_OPEN']);
    expect(Date.parse(later.body.error.details.opensAt)).toBe(world.campuses.small.oralOpens.provinceWideAt);
    expect(later.body.error.details.opensAt).toMatch(/\+08:00$/);
    const never = await me.oral('CET-SET4', 'C11D');
    expect(statusAndCode(never)).toEqual([403, 'CAMPUS_NOT_OPEN']);
    expect(never.body.error.details).toEqual({ opensAt: null });
  });

  it('R19: a campus that keeps its students lists only itself; elsewhere is 403 EXTERNAL_ORAL_NOT_ALLOWED', async () => {
    const me = await registered({ campus: 'fixed', eligibleSubjects: ['CET4'] });
    expect((await me.written('CET4')).status).toBe(201);
    const listed = await me.campuses('CET-SET4');
    expect(listed.body.map((campus: { campusId: string }) => campus.campusId)).toEqual(['C11B']);
    expect(statusAndCode(await me.oral('CET-SET4', 'C11A'))).toEqual([403, 'EXTERNAL_ORAL_NOT_ALLOWED']);
    expect((await me.oral('CET-SET4', 'C11B')).status).toBe(201);
  });

  it('R18: 409 WRITTEN_REQUIRED without the written subject; 409 ALREADY_REGISTERED; 404 CAMPUS_NOT_FOUND', async () => {
    const me = await registered();
    const first = await me.oral('CET-SET4', 'C11A');
    expect(statusAndCode(first)).toEqual([409, 'WRITTEN_REQUIRED']);
    expect(first.body.error.details).toEqual({ subject: 'CET4' });
    expect((await me.written('CET4')).status).toBe(201);
    expect(statusAndCode(await me.oral('CET-SET6', 'C11A'))).toEqual([409, 'WRITTEN_REQUIRED']);
    expect(statusAndCode(await me.oral('CET-SET4', 'NOPE'))).toEqual([404, 'CAMPUS_NOT_FOUND']);
    // a campus of another province is not one of the candidate's province
    expect(statusAndCode(await me.oral('CET-SET4', 'C31A'))).toEqual([404, 'CAMPUS_NOT_FOUND']);
    expect((await me.oral('CET-SET4', 'C11A')).status).toBe(201);
    expect(statusAndCode(await me.oral('CET-SET4', 'C11B'))).toEqual([409, 'ALREADY_REGISTERED']);
    const view = await me.view();
    expect(view.oral.map((item: { subject: string }) => item.subject)).toEqual(['CET-SET4']);
    expect(view.progress).toMatchObject({
      writtenRegistered: true,
      oralRegistered: true,
      unpaid: ['CET4', 'CET-SET4'],
    });
  });

  it('validates the subject (400) and needs a registration (404 NO_REGISTRATION)', async () => {
    const me = await registered();
    for (const path of [`${CAMPUSES}?subject=CET4`, CAMPUSES, `${CAMPUSES}?subject=CET-SET4&campusId=C11A`]) {
      expect(statusAndCode(await gw.http.get(path, { token: me.token }))).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect(
      statusAndCode(await gw.http.post(ORAL, { subject: 'CET4', campusId: 'C11A' }, { token: me.token })),
    ).toEqual([400, 'VALIDATION_FAILED']);
    const unbound = await signUp(gw.http);
    expect(
      statusAndCode(await gw.http.get(`${CAMPUSES}?subject=CET-SET4`, { token: unbound.token })),
    ).toEqual([404, 'NO_REGISTRATION']);
    expect(
      statusAndCode(
        await gw.http.post(ORAL, { subject: 'CET-SET4', campusId: 'C11A' }, { token: unbound.token }),
      ),
    ).toEqual([404, 'NO_REGISTRATION']);
  });
});

describe('DELETE a subject (unpaid only)', () => {
  it('cancelling a written subject takes the oral subject of its level; the seats come back', async () => {
    const me = await registered();
    expect((await me.written('CET4')).status).toBe(201);
    expect((await me.oral('CET-SET4', 'C11A')).status).toBe(201);
    const seats = await used('C11A', 'CET-SET4');
    const cancelled = await gw.http.delete(`${WRITTEN}/CET4`, { token: me.token });
    expect(cancelled.status).toBe(200);
    expect([...cancelled.body.cancelled].sort()).toEqual(['CET-SET4', 'CET4']);
    expect(await used('C11A', 'CET-SET4')).toBe(seats - 1);
    const view = await me.view();
    expect([...view.written, ...view.oral].map((item: { status: string }) => item.status)).toEqual([
      'CANCELLED',
      'CANCELLED',
    ]);
    expect(view.amountDue).toBe(0);
    expect(view.deleteAt).toEqual(expect.stringMatching(/\+08:00$/));
    expect(statusAndCode(await gw.http.delete(`${WRITTEN}/CET4`, { token: me.token }))).toEqual([
      404,
      'NOT_REGISTERED',
    ]);
    // the level is free again
    expect((await me.written('CJT4')).status).toBe(201);
  });

  it('cancels an oral subject alone; 404 NOT_REGISTERED; 400 for a subject of the other kind', async () => {
    const me = await registered();
    expect((await me.written('CET4')).status).toBe(201);
    expect((await me.oral('CET-SET4', 'C11B')).status).toBe(201);
    const cancelled = await gw.http.delete(`${ORAL}/CET-SET4`, { token: me.token });
    expect([cancelled.status, cancelled.body]).toEqual([200, { cancelled: ['CET-SET4'] }]);
    expect(statusAndCode(await gw.http.delete(`${ORAL}/CET-SET4`, { token: me.token }))).toEqual([
      404,
      'NOT_REGISTERED',
    ]);
    expect(statusAndCode(await gw.http.delete(`${ORAL}/CET-SET6`, { token: me.token }))).toEqual([
      404,
      'NOT_REGISTERED',
    ]);
    for (const path of [`${ORAL}/CET4`, `${WRITTEN}/CET-SET4`, `${WRITTEN}/XYZ`, `${WRITTEN}/cet4`]) {
      expect(statusAndCode(await gw.http.delete(path, { token: me.token }))).toEqual([
        400,
        'VALIDATION_FAILED',
      ]);
    }
    expect((await me.view()).written.map((item: { status: string }) => item.status)).toEqual(['HELD']);
  });

  it('409 ALREADY_PAID for a paid subject', async () => {
    const me = await registered();
    expect((await me.written('CET4')).status).toBe(201);
    expect((await me.oral('CET-SET4', 'C11A')).status).toBe(201);
    const ref = { accountId: me.user.accountId, provinceCode: '11', candidateId: me.candidate.candidateId };
    const now = await world.clock.now();
    const order = await gw.engine.createOrder({ ...ref, method: 'ALIPAY', now });
    if (!order.ok) throw new Error(order.code);
    const paid = await gw.engine.confirmPayment({
      orderId: order.order.orderId,
      now: now + 1000,
      providerTx: 'tx-1',
    });
    expect(paid.ok).toBe(true);
    expect(statusAndCode(await gw.http.delete(`${WRITTEN}/CET4`, { token: me.token }))).toEqual([
      409,
      'ALREADY_PAID',
    ]);
    expect(statusAndCode(await gw.http.delete(`${ORAL}/CET-SET4`, { token: me.token }))).toEqual([
      409,
      'ALREADY_PAID',
    ]);
    const view = await me.view();
    expect(view.progress).toMatchObject({ paid: true, unpaid: [] });
    expect(view.amountDue).toBe(0);
  });
});

describe("object-level authorization of subjects: B never touches A's items", () => {
  it('every subject route works on the session’s own candidate only', async () => {
    const a = await registered();
    expect((await a.written('CET4')).status).toBe(201);
    expect((await a.oral('CET-SET4', 'C11A')).status).toBe(201);
    const aBefore = await a.view();
    const b = await registered({ eligibleSubjects: ['CET4', 'CJT4'] });
    const unbound = await signUp(gw.http);

    // B's calls reach B's registration: nothing of A's is cancelled or shown
    expect(statusAndCode(await gw.http.delete(`${WRITTEN}/CET4`, { token: b.token }))).toEqual([
      404,
      'NOT_REGISTERED',
    ]);
    expect(statusAndCode(await gw.http.delete(`${ORAL}/CET-SET4`, { token: b.token }))).toEqual([
      404,
      'NOT_REGISTERED',
    ]);
    expect(statusAndCode(await gw.http.delete(`${WRITTEN}/CET4`, { token: unbound.token }))).toEqual([
      404,
      'NO_REGISTRATION',
    ]);
    expect(statusAndCode(await gw.http.delete(`${ORAL}/CET-SET4`, { token: unbound.token }))).toEqual([
      404,
      'NO_REGISTRATION',
    ]);
    // naming A's candidate or account in a body is refused, not honoured
    for (const body of [
      { subject: 'CET4', candidateId: a.candidate.candidateId },
      { subject: 'CET4', accountId: a.user.accountId },
    ]) {
      expect(statusAndCode(await gw.http.post(WRITTEN, body, { token: b.token }))).toEqual([
        400,
        'VALIDATION_FAILED',
      ]);
    }
    expect(
      statusAndCode(
        await gw.http.post(
          ORAL,
          { subject: 'CET-SET4', campusId: 'C11A', candidateId: a.candidate.candidateId },
          { token: b.token },
        ),
      ),
    ).toEqual([400, 'VALIDATION_FAILED']);
    // a query string naming A changes nothing either
    expect(
      statusAndCode(
        await gw.http.delete(`${WRITTEN}/CET4?candidateId=${a.candidate.candidateId}`, { token: b.token }),
      ),
    ).toEqual([404, 'NOT_REGISTERED']);
    // B's own hold lands on B's registration
    expect((await b.written('CJT4')).status).toBe(201);
    const bView = await b.view();
    expect(bView.candidate.candidateId).toBe(b.candidate.candidateId);
    expect(bView.written.map((item: { subject: string }) => item.subject)).toEqual(['CJT4']);

    expect(await a.view()).toEqual(aBefore);
  });
});
