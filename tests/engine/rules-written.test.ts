/**
 * Rule tests against real Redis: written registration at the candidate's own campus (R15), one
 * written subject per level (R16), finite seats and the other refusals of a written hold (R17),
 * cancelling unpaid subjects, and the operators' capacity changes (I1).
 * Every test runs in a namespace of its own and ends with the invariant checker.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CandidateRef } from '../../engine/engine.ts';
import type { WrittenSubject } from '../../engine/subjects.ts';
import {
  HOUR_MS,
  T0,
  bindOrThrow,
  closeCheckingInvariants,
  campus,
  loadFixture,
  newTestEngine,
  seatOf,
  streamEvents,
  type StreamEvent,
  type TestEngine,
} from '../support/engine.ts';

let t: TestEngine;

beforeEach(async () => {
  t = await newTestEngine();
  await loadFixture(t.engine, {
    campuses: [
      campus({ campusId: 'C1', capacity: { CET4: 3, CET6: 5, CJT4: 5, 'CET-SET4': 5, 'CET-SET6': 5 } }),
      campus({ campusId: 'C2', capacity: { CET4: 5, CET6: 5, CJT4: 5 } }),
    ],
  });
});

afterEach(async () => {
  expect(await closeCheckingInvariants(t)).toEqual([]);
});

const events = (): Promise<StreamEvent[]> => streamEvents(t.redis, t.engine.keys.province('11').stream);

async function eventsOf(type: string): Promise<StreamEvent[]> {
  return (await events()).filter((event) => event.type === type);
}

const seat = (campusId: string, subject: string) => seatOf(t.engine, campusId, subject);

function written(ref: CandidateRef, subject: WrittenSubject, now = T0, eligible = true) {
  return t.engine.reserveWritten({ ...ref, subject, eligible, fee: 30, now });
}

describe('R15 written seat at the candidate’s own written campus', () => {
  it('holds the seat at the campus saved with the registration, and only there', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C2' });
    const outcome = await written(ref, 'CET4', T0 + 5);
    if (!outcome.ok) throw new Error(outcome.code);
    expect(outcome.item).toEqual({
      subject: 'CET4',
      kind: 'WRITTEN',
      campusId: 'C2',
      status: 'HELD',
      heldAt: T0 + 5,
      payBy: T0 + 5 + 12 * HOUR_MS,
      holdId: outcome.item.holdId,
      fee: 30,
      requiresWritten: null,
      settledAt: null,
    });
    expect(outcome.remaining).toBe(4);
    expect(outcome.capacity).toBe(5);
    const registration = await t.engine.registration('11', 'c1');
    expect(registration?.written).toEqual([outcome.item]);
    expect(registration?.amountDue).toBe(30);
    expect(await seat('C2', 'CET4')).toMatchObject({ used: 1, remaining: 4 });
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 0, remaining: 3 });
    const held = await eventsOf('HELD');
    expect(held).toEqual([
      {
        type: 'HELD',
        data: {
          candidateId: 'c1',
          subject: 'CET4',
          kind: 'WRITTEN',
          campusId: 'C2',
          holdId: outcome.item.holdId,
          fee: 30,
          heldAt: T0 + 5,
          payBy: T0 + 5 + 12 * HOUR_MS,
        },
      },
    ]);
  });

  it('refuses NO_REGISTRATION without a saved registration or for another account', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    expect(await written({ ...ref, candidateId: 'c2' }, 'CET4')).toEqual({
      ok: false,
      code: 'NO_REGISTRATION',
    });
    expect(await written({ ...ref, accountId: 'intruder' }, 'CET4')).toEqual({
      ok: false,
      code: 'NO_REGISTRATION',
    });
    expect((await t.engine.registration('11', 'c1'))?.written).toEqual([]);
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 0 });
    expect(await eventsOf('HELD')).toEqual([]);
  });
});

describe('REL4: a retry of the same request finds the hold its first attempt made', () => {
  it('the same request tag answers the same hold again (no second seat), another tag or none ALREADY_REGISTERED', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const hold = (requestTag?: string, now = T0) =>
      t.engine.reserveWritten({
        ...ref,
        subject: 'CET4',
        eligible: true,
        fee: 30,
        now,
        ...(requestTag ? { requestTag } : {}),
      });
    const first = await hold('tag-one-0123456');
    if (!first.ok) throw new Error(first.code);
    expect(first.replayed).toBeUndefined();
    // the answer was lost (a gateway or Redis died before it was stored): the retry, later, as is
    const retried = await hold('tag-one-0123456', T0 + HOUR_MS);
    expect(retried).toEqual({ ...first, replayed: true });
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 1 });
    expect(await hold('tag-two-0123456')).toMatchObject({ ok: false, code: 'ALREADY_REGISTERED' });
    expect(await hold()).toMatchObject({ ok: false, code: 'ALREADY_REGISTERED' });
    expect(await eventsOf('HELD')).toHaveLength(1);
    // once paid, the same retry still answers that hold, now paid
    const paid = await t.engine.createOrder({ ...ref, method: 'ALIPAY', now: T0 + 2 * HOUR_MS });
    if (!paid.ok) throw new Error(paid.code);
    await t.engine.confirmPayment({ orderId: paid.order.orderId, now: T0 + 2 * HOUR_MS, providerTx: 'p1' });
    const afterPayment = await hold('tag-one-0123456', T0 + 3 * HOUR_MS);
    expect(afterPayment).toMatchObject({
      ok: true,
      replayed: true,
      item: { status: 'PAID', holdId: first.item.holdId },
    });
  });
});

describe('R16 one written subject per level', () => {
  it('refuses CJT4 after CET4 with SAME_LEVEL_TAKEN, and changes nothing', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    expect((await written(ref, 'CET4')).ok).toBe(true);
    const before = await t.engine.registration('11', 'c1');
    expect(await written(ref, 'CJT4', T0 + 1)).toEqual({
      ok: false,
      code: 'SAME_LEVEL_TAKEN',
      details: { subject: 'CET4' },
    });
    expect(await t.engine.registration('11', 'c1')).toEqual(before);
    expect(await seat('C1', 'CJT4')).toMatchObject({ used: 0, remaining: 5 });
    expect((await eventsOf('HELD')).map((e) => e.data.subject)).toEqual(['CET4']);
  });

  it('allows CET4 and CET6 together (different levels)', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    expect((await written(ref, 'CET4')).ok).toBe(true);
    expect((await written(ref, 'CET6', T0 + 1)).ok).toBe(true);
    const registration = await t.engine.registration('11', 'c1');
    expect(registration?.written.map((item) => [item.subject, item.status])).toEqual([
      ['CET4', 'HELD'],
      ['CET6', 'HELD'],
    ]);
    expect(registration?.amountDue).toBe(60);
  });

  it('allows CJT4 once CET4 is cancelled', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await written(ref, 'CET4');
    expect(await t.engine.cancel({ ...ref, subject: 'CET4', now: T0 + 1 })).toEqual({
      ok: true,
      cancelled: ['CET4'],
    });
    const outcome = await written(ref, 'CJT4', T0 + 2);
    expect(outcome.ok).toBe(true);
    const registration = await t.engine.registration('11', 'c1');
    expect(registration?.written.map((item) => [item.subject, item.status])).toEqual([
      ['CET4', 'CANCELLED'],
      ['CJT4', 'HELD'],
    ]);
    // and now CET4 is the one refused
    expect(await written(ref, 'CET4', T0 + 3)).toEqual({
      ok: false,
      code: 'SAME_LEVEL_TAKEN',
      details: { subject: 'CJT4' },
    });
  });
});

describe('R17 finite written seats and the other refusals', () => {
  it('sells the capacity (3) and refuses the 4th with SOLD_OUT', async () => {
    const refs: CandidateRef[] = [];
    for (let n = 1; n <= 4; n++)
      refs.push(await bindOrThrow(t.engine, { candidateId: `c${n}`, campusId: 'C1' }));
    const remaining: number[] = [];
    for (const ref of refs.slice(0, 3)) {
      const outcome = await written(ref, 'CET4');
      if (!outcome.ok) throw new Error(outcome.code);
      remaining.push(outcome.remaining);
    }
    expect(remaining).toEqual([2, 1, 0]);
    expect(await written(refs[3]!, 'CET4')).toEqual({ ok: false, code: 'SOLD_OUT' });
    expect((await t.engine.registration('11', 'c4'))?.written).toEqual([]);
    expect(await seat('C1', 'CET4')).toEqual({
      campusId: 'C1',
      subject: 'CET4',
      capacity: 3,
      used: 3,
      remaining: 0,
      color: 'RED',
    });
    expect(await eventsOf('HELD')).toHaveLength(3);
  });

  it('never oversells under a concurrent rush', async () => {
    const refs = await Promise.all(
      Array.from({ length: 30 }, (_, n) => bindOrThrow(t.engine, { candidateId: `r${n}`, campusId: 'C1' })),
    );
    const outcomes = await Promise.all(refs.map((ref) => written(ref, 'CET4')));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(3);
    expect(outcomes.filter((o) => !o.ok && o.code === 'SOLD_OUT')).toHaveLength(27);
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 3, remaining: 0 });
  });

  it('refuses SUBJECT_NOT_OFFERED for a subject the campus lacks', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C2' });
    expect(await written(ref, 'CGT4')).toEqual({ ok: false, code: 'SUBJECT_NOT_OFFERED' });
    expect((await t.engine.registration('11', 'c1'))?.written).toEqual([]);
    expect(await eventsOf('HELD')).toEqual([]);
  });

  it('refuses NOT_ELIGIBLE when the candidate is not eligible for the subject', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    expect(await written(ref, 'CET6', T0, false)).toEqual({ ok: false, code: 'NOT_ELIGIBLE' });
    expect((await t.engine.registration('11', 'c1'))?.written).toEqual([]);
    expect(await seat('C1', 'CET6')).toMatchObject({ used: 0 });
  });

  it('refuses ALREADY_REGISTERED on a repeat, held or paid', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const first = await written(ref, 'CET4');
    expect(first.ok).toBe(true);
    expect(await written(ref, 'CET4', T0 + 1)).toEqual({ ok: false, code: 'ALREADY_REGISTERED' });
    const order = await t.engine.createOrder({ ...ref, method: 'alipay', now: T0 + 2 });
    if (!order.ok) throw new Error(order.code);
    await t.engine.confirmPayment({ orderId: order.order.orderId, now: T0 + 3, providerTx: 'tx1' });
    expect(await written(ref, 'CET4', T0 + 4)).toEqual({ ok: false, code: 'ALREADY_REGISTERED' });
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 1 });
    expect(await eventsOf('HELD')).toHaveLength(1);
  });
});

describe('Cancel: unpaid subjects only', () => {
  it('cancels a held subject: status CANCELLED, seat back, event', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const held = await written(ref, 'CET4');
    if (!held.ok) throw new Error(held.code);
    expect(await t.engine.cancel({ ...ref, subject: 'CET4', now: T0 + 10 })).toEqual({
      ok: true,
      cancelled: ['CET4'],
    });
    const [item] = (await t.engine.registration('11', 'c1'))?.written ?? [];
    expect(item).toMatchObject({ subject: 'CET4', status: 'CANCELLED', settledAt: T0 + 10 });
    expect((await t.engine.registration('11', 'c1'))?.amountDue).toBe(0);
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 0, remaining: 3 });
    expect(await eventsOf('CANCELLED')).toEqual([
      {
        type: 'CANCELLED',
        data: {
          candidateId: 'c1',
          subject: 'CET4',
          holdId: held.item.holdId,
          campusId: 'C1',
          reason: 'BY_CANDIDATE',
        },
      },
    ]);
  });

  it('refuses NOT_REGISTERED for a subject never held or already cancelled', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    expect(await t.engine.cancel({ ...ref, subject: 'CET6', now: T0 })).toEqual({
      ok: false,
      code: 'NOT_REGISTERED',
    });
    await written(ref, 'CET4');
    await t.engine.cancel({ ...ref, subject: 'CET4', now: T0 + 1 });
    expect(await t.engine.cancel({ ...ref, subject: 'CET4', now: T0 + 2 })).toEqual({
      ok: false,
      code: 'NOT_REGISTERED',
    });
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 0 });
    expect(await eventsOf('CANCELLED')).toHaveLength(1);
  });

  it('refuses NO_REGISTRATION for an unknown candidate or another account', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await written(ref, 'CET4');
    expect(await t.engine.cancel({ ...ref, candidateId: 'nobody', subject: 'CET4', now: T0 })).toEqual({
      ok: false,
      code: 'NO_REGISTRATION',
    });
    expect(await t.engine.cancel({ ...ref, accountId: 'intruder', subject: 'CET4', now: T0 })).toEqual({
      ok: false,
      code: 'NO_REGISTRATION',
    });
    expect((await t.engine.registration('11', 'c1'))?.written[0]?.status).toBe('HELD');
  });

  it('refuses ALREADY_PAID after payment, keeping the seat', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await written(ref, 'CET4');
    const order = await t.engine.createOrder({ ...ref, method: 'alipay', now: T0 + 1 });
    if (!order.ok) throw new Error(order.code);
    await t.engine.confirmPayment({ orderId: order.order.orderId, now: T0 + 2, providerTx: 'tx1' });
    expect(await t.engine.cancel({ ...ref, subject: 'CET4', now: T0 + 3 })).toEqual({
      ok: false,
      code: 'ALREADY_PAID',
    });
    expect((await t.engine.registration('11', 'c1'))?.written[0]?.status).toBe('PAID');
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 1 });
    expect(await eventsOf('CANCELLED')).toEqual([]);
  });

  it('cancelling CET4 also cancels CET-SET4: both CANCELLED, both seats back', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await written(ref, 'CET4');
    const oral = await t.engine.reserveOral({
      ...ref,
      subject: 'CET-SET4',
      campusId: 'C1',
      fee: 50,
      now: T0 + 1,
    });
    if (!oral.ok) throw new Error(oral.code);
    expect(await t.engine.cancel({ ...ref, subject: 'CET4', now: T0 + 2 })).toEqual({
      ok: true,
      cancelled: ['CET4', 'CET-SET4'],
    });
    const registration = await t.engine.registration('11', 'c1');
    expect(registration?.written.map((item) => item.status)).toEqual(['CANCELLED']);
    expect(registration?.oral.map((item) => item.status)).toEqual(['CANCELLED']);
    expect(registration?.amountDue).toBe(0);
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 0 });
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 0 });
    expect((await eventsOf('CANCELLED')).map((e) => [e.data.subject, e.data.reason])).toEqual([
      ['CET4', 'BY_CANDIDATE'],
      ['CET-SET4', 'WRITTEN_ENDED'],
    ]);
  });

  it('cancelling the oral subject alone keeps the written one', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await written(ref, 'CET4');
    await t.engine.reserveOral({ ...ref, subject: 'CET-SET4', campusId: 'C1', fee: 50, now: T0 + 1 });
    expect(await t.engine.cancel({ ...ref, subject: 'CET-SET4', now: T0 + 2 })).toEqual({
      ok: true,
      cancelled: ['CET-SET4'],
    });
    const registration = await t.engine.registration('11', 'c1');
    expect(registration?.written.map((item) => item.status)).toEqual(['HELD']);
    expect(registration?.oral.map((item) => item.status)).toEqual(['CANCELLED']);
    expect(registration?.deleteAt).toBeNull();
    expect(registration?.amountDue).toBe(30);
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 1 });
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 0 });
  });

  it('refuses ALREADY_PAID for the written and the oral subject once both are paid', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await written(ref, 'CET4');
    await t.engine.reserveOral({ ...ref, subject: 'CET-SET4', campusId: 'C1', fee: 50, now: T0 + 1 });
    const order = await t.engine.createOrder({ ...ref, method: 'alipay', now: T0 + 2 });
    if (!order.ok) throw new Error(order.code);
    await t.engine.confirmPayment({ orderId: order.order.orderId, now: T0 + 3, providerTx: 'tx1' });
    expect(await t.engine.cancel({ ...ref, subject: 'CET-SET4', now: T0 + 4 })).toEqual({
      ok: false,
      code: 'ALREADY_PAID',
    });
    expect(await t.engine.cancel({ ...ref, subject: 'CET4', now: T0 + 4 })).toEqual({
      ok: false,
      code: 'ALREADY_PAID',
    });
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 1 });
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 1 });
  });
});

describe('Admin: upsertCampus capacity changes (I1)', () => {
  async function takeTwo() {
    for (const candidateId of ['c1', 'c2']) {
      const ref = await bindOrThrow(t.engine, { candidateId, campusId: 'C1' });
      expect((await written(ref, 'CET4')).ok).toBe(true);
    }
  }

  it('refuses to lower a capacity below the seats taken, changing nothing', async () => {
    await takeTwo();
    const campusesBefore = await t.engine.campuses('11');
    const seatsBefore = await t.engine.seatCounts('11');
    const eventCount = (await events()).length;
    const outcome = await t.engine.upsertCampus(
      campus({ campusId: 'C1', name: 'Renamed', capacity: { CET4: 1, CET6: 50, CJT4: 50 } }),
      T0 + 1,
    );
    expect(outcome).toEqual({
      ok: false,
      code: 'CAPACITY_BELOW_TAKEN',
      details: { subject: 'CET4', used: 2, capacity: 1 },
    });
    expect(await t.engine.campuses('11')).toEqual(campusesBefore);
    expect(await t.engine.seatCounts('11')).toEqual(seatsBefore);
    expect((await events()).length).toBe(eventCount);
  });

  it('allows raising a capacity, and lowering it down to exactly the seats taken', async () => {
    await takeTwo();
    const raised = await t.engine.upsertCampus(
      campus({ campusId: 'C1', name: 'Bigger', capacity: { CET4: 6, CET6: 5, CJT4: 5 } }),
      T0 + 1,
    );
    expect(raised).toEqual({ ok: true });
    expect(await seat('C1', 'CET4')).toEqual({
      campusId: 'C1',
      subject: 'CET4',
      capacity: 6,
      used: 2,
      remaining: 4,
      color: 'GREEN',
    });
    expect((await t.engine.campuses('11')).get('C1')?.name).toBe('Bigger');
    expect((await eventsOf('CAMPUS_UPSERTED')).at(-1)?.data).toMatchObject({
      campusId: 'C1',
      capacity: { CET4: 6, CET6: 5, CJT4: 5 },
    });

    expect(await t.engine.upsertCampus(campus({ campusId: 'C1', capacity: { CET4: 2 } }), T0 + 2)).toEqual({
      ok: true,
    });
    expect(await seat('C1', 'CET4')).toMatchObject({ capacity: 2, used: 2, remaining: 0, color: 'RED' });
    const ref = await bindOrThrow(t.engine, { candidateId: 'c3', campusId: 'C1' });
    expect(await written(ref, 'CET4', T0 + 3)).toEqual({ ok: false, code: 'SOLD_OUT' });
  });
});
