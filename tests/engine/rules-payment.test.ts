/**
 * Rule tests against real Redis: the 12-hour payment deadline and its sweeper (R22, I4), and
 * payment orders with their exactly-once, never-reviving confirmations (R23).
 * Every test runs in a namespace of its own and ends with the invariant checker.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ORDERS_PER_HOLD_SPAN, type CandidateRef } from '../../engine/engine.ts';
import { expireDue } from '../../engine/expiry.ts';
import { dueBucketOf } from '../../engine/keys.ts';
import type { OrderView } from '../../engine/views.ts';
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

const TWELVE_HOURS = 12 * HOUR_MS;
/**
 * Deadlines are indexed per whole second and a second is swept once all of it is due
 * (engine/keys.ts dueBucketOf). Holding at .999 ms puts payBy on the last millisecond of its
 * second, where "due" and "swept" coincide to the millisecond.
 */
const HELD_AT = T0 + 999;

let t: TestEngine;

beforeEach(async () => {
  t = await newTestEngine();
  await loadFixture(t.engine, {
    campuses: [campus({ campusId: 'C1' }), campus({ campusId: 'ONE', capacity: { CET4: 1, 'CET-SET4': 1 } })],
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

async function statuses(candidateId: string): Promise<Record<string, string>> {
  const registration = await t.engine.registration('11', candidateId);
  const all = [...(registration?.written ?? []), ...(registration?.oral ?? [])];
  return Object.fromEntries(all.map((item) => [item.subject, item.status]));
}

async function holdCet4(ref: CandidateRef, now: number, fee = 30) {
  const held = await t.engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee, now });
  if (!held.ok) throw new Error(held.code);
  return held.item;
}

async function holdOral(ref: CandidateRef, campusId: string, now: number, fee = 50) {
  const held = await t.engine.reserveOral({ ...ref, subject: 'CET-SET4', campusId, fee, now });
  if (!held.ok) throw new Error(held.code);
  return held.item;
}

async function order(ref: CandidateRef, now: number): Promise<OrderView> {
  const outcome = await t.engine.createOrder({ ...ref, method: 'alipay', now });
  if (!outcome.ok) throw new Error(outcome.code);
  return outcome.order;
}

describe('R22 pay within 12 hours or the hold is released', () => {
  it('sets payBy = heldAt + 12h', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const item = await holdCet4(ref, T0 + 1234);
    expect(item.payBy).toBe(T0 + 1234 + TWELVE_HOURS);
    expect((await t.engine.registration('11', 'c1'))?.written[0]).toMatchObject({
      heldAt: T0 + 1234,
      payBy: T0 + 1234 + TWELVE_HOURS,
    });
  });

  it('releases nothing at payBy − 1 ms and releases the hold at payBy, exactly once', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'ONE' });
    const item = await holdCet4(ref, HELD_AT);
    const payBy = HELD_AT + TWELVE_HOURS;
    expect(dueBucketOf(payBy).score).toBe(payBy);

    const early = await expireDue(t.engine, '11', payBy - 1);
    expect(early.expired).toEqual([]);
    expect(await statuses('c1')).toEqual({ CET4: 'HELD' });
    expect(await seat('ONE', 'CET4')).toMatchObject({ used: 1, remaining: 0 });
    expect(await eventsOf('EXPIRED')).toEqual([]);

    const due = await expireDue(t.engine, '11', payBy);
    expect(due.expired).toEqual([{ candidateId: 'c1', subject: 'CET4', holdId: item.holdId }]);
    const registration = await t.engine.registration('11', 'c1');
    expect(registration?.written[0]).toMatchObject({ status: 'EXPIRED', settledAt: payBy });
    expect(registration?.amountDue).toBe(0);
    expect(await seat('ONE', 'CET4')).toMatchObject({ used: 0, remaining: 1, color: 'GREEN' });

    const seatsAfter = await t.engine.seatCounts('11');
    const eventCount = (await events()).length;
    for (const now of [payBy, payBy + HOUR_MS]) {
      const again = await expireDue(t.engine, '11', now);
      expect(again.expired).toEqual([]);
    }
    expect(await t.engine.seatCounts('11')).toEqual(seatsAfter);
    expect((await events()).length).toBe(eventCount);
    expect(await eventsOf('EXPIRED')).toEqual([
      {
        type: 'EXPIRED',
        data: {
          candidateId: 'c1',
          subject: 'CET4',
          holdId: item.holdId,
          campusId: 'ONE',
          reason: 'PAY_BY_PASSED',
        },
      },
    ]);
  });

  it('lets another candidate take the released seat', async () => {
    const first = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'ONE' });
    await holdCet4(first, HELD_AT);
    // saved late enough not to be deleted as empty (R8) by the sweep below
    const second = await bindOrThrow(t.engine, {
      candidateId: 'c2',
      campusId: 'ONE',
      now: T0 + 11 * HOUR_MS,
    });
    const payBy = HELD_AT + TWELVE_HOURS;
    expect(
      await t.engine.reserveWritten({ ...second, subject: 'CET4', eligible: true, fee: 30, now: payBy - 1 }),
    ).toEqual({ ok: false, code: 'SOLD_OUT' });
    await expireDue(t.engine, '11', payBy);
    const resold = await holdCet4(second, payBy + 1);
    expect(resold).toMatchObject({ status: 'HELD', campusId: 'ONE' });
    expect(await seat('ONE', 'CET4')).toMatchObject({ used: 1, remaining: 0 });
    expect(await statuses('c1')).toEqual({ CET4: 'EXPIRED' });
    // the first candidate may hold it again only once it is free again
    expect(
      await t.engine.reserveWritten({ ...first, subject: 'CET4', eligible: true, fee: 30, now: payBy + 2 }),
    ).toEqual({ ok: false, code: 'SOLD_OUT' });
  });

  it('expires a dependent oral hold together with its written hold', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const writtenItem = await holdCet4(ref, HELD_AT);
    const oralItem = await holdOral(ref, 'C1', HELD_AT + HOUR_MS);
    const sweep = await expireDue(t.engine, '11', writtenItem.payBy);
    expect(sweep.expired).toEqual([
      { candidateId: 'c1', subject: 'CET4', holdId: writtenItem.holdId },
      { candidateId: 'c1', subject: 'CET-SET4', holdId: oralItem.holdId },
    ]);
    expect(await statuses('c1')).toEqual({ CET4: 'EXPIRED', 'CET-SET4': 'EXPIRED' });
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 0 });
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 0 });
    // the oral hold's own deadline later finds nothing left to release
    expect((await expireDue(t.engine, '11', oralItem.payBy)).expired).toEqual([]);
    expect((await eventsOf('EXPIRED')).map((e) => [e.data.subject, e.data.reason])).toEqual([
      ['CET4', 'PAY_BY_PASSED'],
      ['CET-SET4', 'WRITTEN_ENDED'],
    ]);
  });

  it('expires an unpaid oral hold alone, keeping a paid written subject', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await holdCet4(ref, T0);
    const paid = await t.engine.confirmPayment({
      orderId: (await order(ref, T0 + 1)).orderId,
      now: T0 + 2,
      providerTx: 'tx',
    });
    expect(paid.ok && paid.order.status).toBe('PAID');
    const oralItem = await holdOral(ref, 'C1', HELD_AT + HOUR_MS);
    expect((await expireDue(t.engine, '11', oralItem.payBy)).expired).toEqual([
      { candidateId: 'c1', subject: 'CET-SET4', holdId: oralItem.holdId },
    ]);
    expect(await statuses('c1')).toEqual({ CET4: 'PAID', 'CET-SET4': 'EXPIRED' });
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 1 });
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 0 });
  });

  it('never releases a paid hold', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'ONE' });
    const item = await holdCet4(ref, HELD_AT);
    await t.engine.confirmPayment({
      orderId: (await order(ref, T0 + HOUR_MS)).orderId,
      now: T0 + HOUR_MS,
      providerTx: 'tx',
    });
    expect((await expireDue(t.engine, '11', item.payBy + HOUR_MS)).expired).toEqual([]);
    expect(await statuses('c1')).toEqual({ CET4: 'PAID' });
    expect(await seat('ONE', 'CET4')).toMatchObject({ used: 1 });
    expect(await eventsOf('EXPIRED')).toEqual([]);
  });

  it('stops a hold from being paid at payBy, and sweeps it by the end of that second', async () => {
    // payBy in the middle of a second: the sweep of that second waits for its last millisecond
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'ONE' });
    const item = await holdCet4(ref, T0 + 500);
    const early = await order(ref, T0 + HOUR_MS);
    expect((await expireDue(t.engine, '11', item.payBy - 1)).expired).toEqual([]);
    expect(await t.engine.createOrder({ ...ref, method: 'alipay', now: item.payBy })).toEqual({
      ok: false,
      code: 'NOTHING_TO_PAY',
    });
    const late = await t.engine.confirmPayment({ orderId: early.orderId, now: item.payBy, providerTx: 'tx' });
    expect(late.ok && late.order.status).toBe('LATE_REFUND');
    const endOfSecond = dueBucketOf(item.payBy).score;
    expect(endOfSecond - item.payBy).toBeLessThan(1000);
    expect((await expireDue(t.engine, '11', endOfSecond)).expired).toEqual([
      { candidateId: 'c1', subject: 'CET4', holdId: item.holdId },
    ]);
    expect(await statuses('c1')).toEqual({ CET4: 'EXPIRED' });
    expect(await seat('ONE', 'CET4')).toMatchObject({ used: 0 });
  });
});

describe('R23 orders and exactly-once payment confirmations', () => {
  it('opens an order for every unpaid, unexpired held subject', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const cet4 = await holdCet4(ref, T0);
    const oral = await holdOral(ref, 'C1', T0 + 1);
    const opened = await order(ref, T0 + 2);
    expect(opened).toEqual({
      orderId: opened.orderId,
      candidateId: 'c1',
      accountId: ref.accountId,
      method: 'alipay',
      status: 'PENDING',
      amount: 80,
      items: [
        { subject: 'CET-SET4', holdId: oral.holdId, fee: 50 },
        { subject: 'CET4', holdId: cet4.holdId, fee: 30 },
      ],
      createdAt: T0 + 2,
      paidAt: null,
      paid: [],
      refund: [],
      refundAmount: 0,
    });
    expect(opened.orderId.startsWith('11-')).toBe(true);
    expect(await t.engine.order(opened.orderId)).toEqual(opened);
    expect((await eventsOf('ORDER_CREATED')).map((e) => [e.data.orderId, e.data.amount])).toEqual([
      [opened.orderId, 80],
    ]);
    // creating an order changes no item
    expect(await statuses('c1')).toEqual({ CET4: 'HELD', 'CET-SET4': 'HELD' });
  });

  it('at most 20 orders within 12 hours per candidate: the 21st is TOO_MANY_ORDERS with its wait, changing nothing (issue 16 item 2)', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await holdCet4(ref, T0);
    const opened = [];
    for (let i = 0; i < ORDERS_PER_HOLD_SPAN; i++) opened.push(await order(ref, T0 + 1_000 + i * 60_000));
    const before = (await eventsOf('ORDER_CREATED')).length;
    const refused = await t.engine.createOrder({ ...ref, method: 'alipay', now: T0 + 2 * HOUR_MS });
    // the oldest of the 20 was opened at T0 + 1 s: the 21st may come 12 h after it
    expect(refused).toEqual({
      ok: false,
      code: 'TOO_MANY_ORDERS',
      details: { retryAfterSeconds: Math.ceil((T0 + 1_000 + 12 * HOUR_MS - (T0 + 2 * HOUR_MS)) / 1000) },
    });
    expect((await eventsOf('ORDER_CREATED')).length).toBe(before);
    // the open orders still pay
    const paid = await t.engine.confirmPayment({
      orderId: opened[0]!.orderId,
      now: T0 + 2 * HOUR_MS,
      providerTx: 'tx-1',
    });
    expect(paid.ok).toBe(true);
  });

  it('leaves out cancelled, paid and past-payBy items; NOTHING_TO_PAY when none is left', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    expect(await t.engine.createOrder({ ...ref, method: 'alipay', now: T0 })).toEqual({
      ok: false,
      code: 'NOTHING_TO_PAY',
    });
    await holdCet4(ref, T0);
    const cet6 = await t.engine.reserveWritten({
      ...ref,
      subject: 'CET6',
      eligible: true,
      fee: 40,
      now: T0 + 2 * HOUR_MS,
    });
    if (!cet6.ok) throw new Error(cet6.code);
    // CET4 is past its payBy (not swept yet), CET6 is not
    const later = await order(ref, T0 + 13 * HOUR_MS);
    expect(later.items).toEqual([{ subject: 'CET6', holdId: cet6.item.holdId, fee: 40 }]);
    expect(later.amount).toBe(40);

    await t.engine.confirmPayment({ orderId: later.orderId, now: T0 + 13 * HOUR_MS, providerTx: 'tx' });
    expect(await t.engine.createOrder({ ...ref, method: 'alipay', now: T0 + 13 * HOUR_MS + 1 })).toEqual({
      ok: false,
      code: 'NOTHING_TO_PAY',
    });

    const other = await bindOrThrow(t.engine, { candidateId: 'c2', campusId: 'C1' });
    await holdCet4(other, T0);
    await t.engine.cancel({ ...other, subject: 'CET4', now: T0 + 1 });
    expect(await t.engine.createOrder({ ...other, method: 'alipay', now: T0 + 2 })).toEqual({
      ok: false,
      code: 'NOTHING_TO_PAY',
    });
    expect(
      await t.engine.createOrder({ ...other, accountId: 'intruder', method: 'alipay', now: T0 + 2 }),
    ).toEqual({ ok: false, code: 'NO_REGISTRATION' });
    expect(await eventsOf('ORDER_CREATED')).toHaveLength(1);
  });

  it('marks the items PAID once; a second confirmation is a duplicate with no new event', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await holdCet4(ref, T0);
    await holdOral(ref, 'C1', T0 + 1);
    const opened = await order(ref, T0 + 2);
    const confirmed = await t.engine.confirmPayment({
      orderId: opened.orderId,
      now: T0 + 3,
      providerTx: 'tx1',
    });
    if (!confirmed.ok) throw new Error(confirmed.code);
    expect(confirmed.duplicate).toBe(false);
    expect(confirmed.order).toMatchObject({
      status: 'PAID',
      paidAt: T0 + 3,
      amount: 80,
      refund: [],
      refundAmount: 0,
    });
    expect([...confirmed.order.paid].sort()).toEqual(['CET-SET4', 'CET4']);
    const registration = await t.engine.registration('11', 'c1');
    expect(
      [...(registration?.written ?? []), ...(registration?.oral ?? [])].map((i) => [i.status, i.settledAt]),
    ).toEqual([
      ['PAID', T0 + 3],
      ['PAID', T0 + 3],
    ]);
    expect(registration?.amountDue).toBe(0);
    expect(await seat('C1', 'CET4')).toMatchObject({ used: 1 });
    expect(await t.engine.order(opened.orderId)).toEqual(confirmed.order);

    const eventCount = (await events()).length;
    for (const providerTx of ['tx1', 'tx2']) {
      const again = await t.engine.confirmPayment({ orderId: opened.orderId, now: T0 + 4, providerTx });
      expect(again).toEqual({ ok: true, order: confirmed.order, duplicate: true });
    }
    expect((await events()).length).toBe(eventCount);
    const payments = await eventsOf('PAYMENT_CONFIRMED');
    expect(payments).toHaveLength(1);
    expect(payments[0]?.data).toMatchObject({
      orderId: opened.orderId,
      candidateId: 'c1',
      status: 'PAID',
      providerTx: 'tx1',
      paidAmount: 80,
      refundAmount: 0,
    });
  });

  it('records a confirmation after payBy as LATE_REFUND and never revives the items, swept or not', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'ONE' });
    const item = await holdCet4(ref, HELD_AT);
    const opened = await order(ref, T0 + HOUR_MS);

    // before the sweeper ran
    const late = await t.engine.confirmPayment({
      orderId: opened.orderId,
      now: item.payBy,
      providerTx: 'tx',
    });
    if (!late.ok) throw new Error(late.code);
    expect(late.order).toMatchObject({
      status: 'LATE_REFUND',
      paid: [],
      refund: ['CET4'],
      refundAmount: 30,
      paidAt: item.payBy,
    });
    expect(await statuses('c1')).toEqual({ CET4: 'HELD' });
    expect((await t.engine.registration('11', 'c1'))?.written[0]?.settledAt).toBeNull();

    // the sweeper then releases it as usual
    expect((await expireDue(t.engine, '11', item.payBy)).expired).toHaveLength(1);
    expect(await statuses('c1')).toEqual({ CET4: 'EXPIRED' });
    expect(await seat('ONE', 'CET4')).toMatchObject({ used: 0 });
    expect((await eventsOf('PAYMENT_CONFIRMED')).map((e) => e.data.status)).toEqual(['LATE_REFUND']);
  });

  it('records a confirmation after the sweep as LATE_REFUND too', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'ONE' });
    const item = await holdCet4(ref, HELD_AT);
    const opened = await order(ref, T0 + HOUR_MS);
    await expireDue(t.engine, '11', item.payBy);
    const late = await t.engine.confirmPayment({
      orderId: opened.orderId,
      now: item.payBy + HOUR_MS,
      providerTx: 'tx',
    });
    expect(late.ok && late.order).toMatchObject({
      status: 'LATE_REFUND',
      refund: ['CET4'],
      refundAmount: 30,
    });
    expect(await statuses('c1')).toEqual({ CET4: 'EXPIRED' });
    expect(await seat('ONE', 'CET4')).toMatchObject({ used: 0 });
  });

  it('pays the rest and refunds an item cancelled after the order was opened', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await holdCet4(ref, T0);
    await holdOral(ref, 'C1', T0 + 1);
    const opened = await order(ref, T0 + 2);
    await t.engine.cancel({ ...ref, subject: 'CET-SET4', now: T0 + 3 });
    const confirmed = await t.engine.confirmPayment({
      orderId: opened.orderId,
      now: T0 + 4,
      providerTx: 'tx',
    });
    expect(confirmed.ok && confirmed.order).toMatchObject({
      status: 'PAID',
      paid: ['CET4'],
      refund: ['CET-SET4'],
      refundAmount: 50,
    });
    expect(await statuses('c1')).toEqual({ CET4: 'PAID', 'CET-SET4': 'CANCELLED' });
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 0 });
  });

  it('refunds an item re-held under another hold id after the order was opened', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await holdCet4(ref, T0);
    const opened = await order(ref, T0 + 1);
    await t.engine.cancel({ ...ref, subject: 'CET4', now: T0 + 2 });
    const again = await holdCet4(ref, T0 + 3);
    const confirmed = await t.engine.confirmPayment({
      orderId: opened.orderId,
      now: T0 + 4,
      providerTx: 'tx',
    });
    expect(confirmed.ok && confirmed.order).toMatchObject({ status: 'LATE_REFUND', refund: ['CET4'] });
    expect((await t.engine.registration('11', 'c1'))?.written[0]).toMatchObject({
      status: 'HELD',
      holdId: again.holdId,
    });
  });

  it('refunds a hold covered by two orders when the second of them is confirmed', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await holdCet4(ref, T0);
    const first = await order(ref, T0 + 1);
    const second = await order(ref, T0 + 2);
    expect(second.items).toEqual(first.items);

    const paid = await t.engine.confirmPayment({ orderId: second.orderId, now: T0 + 3, providerTx: 'tx2' });
    expect(paid.ok && paid.order).toMatchObject({ status: 'PAID', paid: ['CET4'], refund: [] });
    const refunded = await t.engine.confirmPayment({
      orderId: first.orderId,
      now: T0 + 4,
      providerTx: 'tx1',
    });
    expect(refunded.ok && refunded.order).toMatchObject({
      status: 'LATE_REFUND',
      paid: [],
      refund: ['CET4'],
      refundAmount: 30,
    });
    expect((await t.engine.registration('11', 'c1'))?.written[0]).toMatchObject({
      status: 'PAID',
      settledAt: T0 + 3,
    });
    expect((await eventsOf('PAYMENT_CONFIRMED')).map((e) => [e.data.orderId, e.data.status])).toEqual([
      [second.orderId, 'PAID'],
      [first.orderId, 'LATE_REFUND'],
    ]);
  });

  it('never pays an oral subject whose written subject it needs is past payBy (R18)', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const cet4 = await holdCet4(ref, T0);
    const oral = await holdOral(ref, 'C1', T0 + HOUR_MS);
    const opened = await order(ref, T0 + 2 * HOUR_MS);
    // between the two deadlines: the written item is late, the oral one is not
    const now = cet4.payBy + HOUR_MS / 2;
    expect(now).toBeLessThan(oral.payBy);
    const confirmed = await t.engine.confirmPayment({ orderId: opened.orderId, now, providerTx: 'tx' });
    expect(confirmed.ok && confirmed.order).toMatchObject({
      status: 'LATE_REFUND',
      paid: [],
      refundAmount: 80,
    });
    expect(await statuses('c1')).toEqual({ CET4: 'HELD', 'CET-SET4': 'HELD' });

    await expireDue(t.engine, '11', dueBucketOf(oral.payBy).score);
    expect(await statuses('c1')).toEqual({ CET4: 'EXPIRED', 'CET-SET4': 'EXPIRED' });
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 0 });
  });

  it('never pays an oral-only order opened after its written subject passed payBy (R18)', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const cet4 = await holdCet4(ref, T0);
    await holdOral(ref, 'C1', T0 + HOUR_MS);
    const opened = await t.engine.createOrder({ ...ref, method: 'alipay', now: cet4.payBy + 1 });
    // either no order is opened for it, or its confirmation refunds the oral subject
    if (opened.ok) {
      expect(opened.order.items.map((item) => item.subject)).toEqual(['CET-SET4']);
      const confirmed = await t.engine.confirmPayment({
        orderId: opened.order.orderId,
        now: cet4.payBy + 2,
        providerTx: 'tx',
      });
      expect(confirmed.ok && confirmed.order).toMatchObject({ status: 'LATE_REFUND', refund: ['CET-SET4'] });
    } else {
      expect(opened.code).toBe('NOTHING_TO_PAY');
    }
    expect(await statuses('c1')).toEqual({ CET4: 'HELD', 'CET-SET4': 'HELD' });
  });

  it('answers ORDER_NOT_FOUND for unknown and malformed order ids, changing nothing', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    await holdCet4(ref, T0);
    const eventCount = (await events()).length;
    for (const orderId of [
      '11-doesNotExist',
      '31-doesNotExist',
      'garbage',
      '',
      '11-',
      '1-abc',
      '11-a/b',
      '11-{x}',
    ]) {
      expect(await t.engine.confirmPayment({ orderId, now: T0 + 1, providerTx: 'tx' })).toEqual({
        ok: false,
        code: 'ORDER_NOT_FOUND',
      });
      expect(await t.engine.order(orderId)).toBeNull();
    }
    expect((await events()).length).toBe(eventCount);
    expect(await statuses('c1')).toEqual({ CET4: 'HELD' });
  });
});
