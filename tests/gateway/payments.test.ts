/**
 * Payment through HTTP (R22, R23) against the whole running system: orders, the provider
 * simulator and its signed notifications, exactly-once confirmation, duplicates and replays,
 * forged notifications, late confirmations (LATE_REFUND, no seat revived), object-level access.
 * Registrations are set up directly in the engine (bind + holds) for accounts made through HTTP.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bind } from '../../engine/binding.ts';
import type { Subject } from '../../engine/subjects.ts';
import { createPool, type Pool } from '../../db/pool.ts';
import { DrivenClock } from '../../gateway/clock.ts';
import { FeeTable } from '../../gateway/fees.ts';
import {
  encodeNotification,
  NOTIFICATION_CONTENT_TYPE,
  type Notification,
} from '../../gateway/payments/notification.ts';
import { clockKey } from '../../gateway/services.ts';
import { HOUR_MS, campus, snapshot, streamEvents } from '../support/engine.ts';
import { signUp, startTestGateway, type SignedUp, type TestGateway } from '../support/gateway.ts';
import { waitFor } from '../support/wait.ts';

let gw: TestGateway;
let clock: DrivenClock;
let db: Pool;
let simulatorUrl: string;
let secret: string;

const FEES = { CET4: 30, 'CET-SET4': 50 } as const;

beforeAll(async () => {
  gw = await startTestGateway();
  clock = new DrivenClock(gw.redis, clockKey(gw.namespace));
  db = createPool(gw.databaseUrl, { max: 2 });
  simulatorUrl = gw.system.paymentSimulator!.url;
  secret = gw.system.config.paymentSecret;
  const now = await clock.now();
  for (const provinceCode of ['11', '12']) {
    await gw.engine.setCalendar(
      { provinceCode, registrationOpensAt: now - HOUR_MS, registrationClosesAt: now + 30 * 24 * HOUR_MS },
      now,
    );
  }
  const opens = { ownSchoolAt: now - HOUR_MS, provinceWideAt: now - HOUR_MS };
  for (const c of [
    campus({ campusId: 'PAY1', oralOpens: opens }),
    campus({ campusId: 'PAY2', provinceCode: '12', oralOpens: opens }),
  ]) {
    const upserted = await gw.engine.upsertCampus(c, now);
    if (!upserted.ok) throw new Error(upserted.code);
  }
  await new FeeTable(gw.redis, gw.namespace).set(FEES);
}, 120_000);

afterAll(async () => {
  await db?.end();
  await gw?.close();
});

interface Candidate extends SignedUp {
  readonly provinceCode: string;
  readonly candidateId: string;
}

/** An account through HTTP, bound in the engine, holding `subjects` at campus PAY1 (or PAY2 in 12). */
async function candidate(
  subjects: readonly ('CET4' | 'CET-SET4')[] = ['CET4', 'CET-SET4'],
  provinceCode = '11',
): Promise<Candidate> {
  const user = await signUp(gw.http);
  const candidateId = `c${randomBytes(5).toString('hex')}`;
  const campusId = provinceCode === '11' ? 'PAY1' : 'PAY2';
  const ref = { accountId: user.accountId, provinceCode, candidateId };
  const now = await clock.now();
  const bound = await bind(gw.engine, { ...ref, campusId, snapshot: snapshot(), now });
  if (!bound.ok) throw new Error(`bind: ${bound.code}`);
  for (const subject of subjects) {
    const held =
      subject === 'CET4'
        ? await gw.engine.reserveWritten({ ...ref, subject, eligible: true, fee: FEES[subject], now })
        : await gw.engine.reserveOral({ ...ref, subject, campusId, fee: FEES[subject], now });
    if (!held.ok) throw new Error(`hold ${subject}: ${held.code}`);
  }
  return { ...user, provinceCode, candidateId };
}

async function openOrder(who: Candidate, method: 'ALIPAY' | 'BANK' = 'ALIPAY') {
  const answer = await gw.http.post('/api/v1/payments', { method }, { token: who.token });
  expect(answer.status, answer.text).toBe(201);
  return answer.body as {
    orderId: string;
    amount: number;
    payUrl: string;
    items: { subject: string; fee: number }[];
  };
}

async function pay(payUrl: string, result: 'SUCCESS' | 'FAIL') {
  const response = await fetch(payUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ result }),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown> & {
      gateway?: { status: number; answer: string };
    },
  };
}

async function getOrder(who: SignedUp, orderId: string) {
  return gw.http.get(`/api/v1/payments/${encodeURIComponent(orderId)}`, { token: who.token });
}

async function statuses(who: Candidate): Promise<Record<string, string>> {
  const registration = await gw.engine.registration(who.provinceCode, who.candidateId);
  return Object.fromEntries(
    [...(registration?.written ?? []), ...(registration?.oral ?? [])].map((item) => [
      item.subject,
      item.status,
    ]),
  );
}

async function confirmations(orderId: string, provinceCode = '11'): Promise<Record<string, unknown>[]> {
  return (await streamEvents(gw.redis, gw.engine.keys.province(provinceCode).stream))
    .filter((event) => event.type === 'PAYMENT_CONFIRMED' && event.data.orderId === orderId)
    .map((event) => event.data);
}

/** The PAYMENT_CONFIRMED rows the writer copied to PostgreSQL, once there are `expected`. */
async function storedConfirmations(orderId: string, expected: number): Promise<number> {
  return waitFor(
    async () => {
      const { rows } = await db.query<{ n: string }>(
        `select count(*) as n from events where type = 'PAYMENT_CONFIRMED' and data->>'orderId' = $1`,
        [orderId],
      );
      const count = Number(rows[0]!.n);
      return count >= expected ? count : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 100, message: `${expected} PAYMENT_CONFIRMED rows in PostgreSQL` },
  );
}

async function notify(provider: string, body: string, contentType = NOTIFICATION_CONTENT_TYPE) {
  return gw.http.request('POST', `/api/v1/payments/notify/${provider}`, undefined, {
    raw: body,
    headers: { 'content-type': contentType },
  });
}

/** A notification as the provider would sign it (the test plays the provider: it knows the secret). */
async function signedBy(
  order: { orderId: string; amount: number },
  overrides: Partial<Notification> = {},
  provider: 'alipay' | 'bank' = 'alipay',
  key = secret,
): Promise<string> {
  return encodeNotification(
    {
      notifyId: randomBytes(16).toString('base64url'),
      notifyTime: await clock.now(),
      orderId: order.orderId,
      tradeNo: `T${randomBytes(10).toString('hex')}`,
      tradeStatus: 'TRADE_SUCCESS',
      totalAmount: order.amount.toFixed(2),
      ...overrides,
    },
    key,
    provider,
  );
}

async function deliveries(orderId: string): Promise<{ body: string; notifyId: string; tradeNo: string }[]> {
  const response = await fetch(`${simulatorUrl}/notifications/${encodeURIComponent(orderId)}`);
  return ((await response.json()) as { deliveries: { body: string; notifyId: string; tradeNo: string }[] })
    .deliveries;
}

describe('POST /api/v1/payments (R23)', () => {
  it('opens an order for every unpaid held subject, with a payUrl at the simulator; Idempotency-Key replays it', async () => {
    const who = await candidate();
    const first = await gw.http.post(
      '/api/v1/payments',
      { method: 'BANK' },
      { token: who.token, idempotencyKey: 'order-1' },
    );
    expect(first.status).toBe(201);
    expect(first.body.amount).toBe(80);
    expect(first.body.items).toEqual([
      { subject: 'CET-SET4', fee: 50 },
      { subject: 'CET4', fee: 30 },
    ]);
    expect(first.body.orderId).toMatch(/^11-/);
    expect(
      first.body.payUrl.startsWith(`${simulatorUrl}/pay/${encodeURIComponent(first.body.orderId)}?`),
    ).toBe(true);
    const replay = await gw.http.post(
      '/api/v1/payments',
      { method: 'BANK' },
      { token: who.token, idempotencyKey: 'order-1' },
    );
    expect(replay.body.orderId).toBe(first.body.orderId);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it('answers NOTHING_TO_PAY, NO_REGISTRATION, REGISTRATION_CLOSED and refuses bad bodies', async () => {
    const empty = await candidate([]);
    const nothing = await gw.http.post('/api/v1/payments', { method: 'ALIPAY' }, { token: empty.token });
    expect([nothing.status, nothing.body.error.code]).toEqual([409, 'NOTHING_TO_PAY']);

    const unbound = await signUp(gw.http);
    const none = await gw.http.post('/api/v1/payments', { method: 'ALIPAY' }, { token: unbound.token });
    expect([none.status, none.body.error.code]).toEqual([404, 'NO_REGISTRATION']);

    const bad = await gw.http.post('/api/v1/payments', { method: 'CASH' }, { token: empty.token });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    const extra = await gw.http.post(
      '/api/v1/payments',
      { method: 'ALIPAY', amount: 0 },
      { token: empty.token },
    );
    expect([extra.status, extra.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    const anonymous = await gw.http.post('/api/v1/payments', { method: 'ALIPAY' });
    expect(anonymous.status).toBe(401);

    const late = await candidate(['CET4'], '12');
    const now = await clock.now();
    await gw.engine.setCalendar(
      { provinceCode: '12', registrationOpensAt: now - 2 * HOUR_MS, registrationClosesAt: now - 1 },
      now,
    );
    const closed = await gw.http.post('/api/v1/payments', { method: 'ALIPAY' }, { token: late.token });
    expect([closed.status, closed.body.error.code]).toEqual([403, 'REGISTRATION_CLOSED']);
  });
});

describe('paying through the provider simulator', () => {
  it('SUCCESS → the order and its items are PAID; exactly one PAYMENT_CONFIRMED, in Redis and PostgreSQL', async () => {
    const who = await candidate();
    const order = await openOrder(who);
    expect((await getOrder(who, order.orderId)).body.status).toBe('PENDING');

    const paid = await pay(order.payUrl, 'SUCCESS');
    expect(paid.status).toBe(200);
    expect(paid.body.gateway).toEqual({ status: 200, answer: 'success' });

    const view = await getOrder(who, order.orderId);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({
      orderId: order.orderId,
      status: 'PAID',
      amount: 80,
      paid: ['CET-SET4', 'CET4'],
      refund: [],
      refundAmount: 0,
    });
    expect(view.body.paidAt).toMatch(/\+08:00$/);
    expect(await statuses(who)).toEqual({ CET4: 'PAID', 'CET-SET4': 'PAID' });
    expect(await confirmations(order.orderId)).toHaveLength(1);
    expect(await storedConfirmations(order.orderId, 1)).toBe(1);

    const again = await gw.http.post('/api/v1/payments', { method: 'ALIPAY' }, { token: who.token });
    expect([again.status, again.body.error.code]).toEqual([409, 'NOTHING_TO_PAY']);
  });

  it('FAIL leaves the order PENDING (nothing recorded); a later SUCCESS pays it', async () => {
    const who = await candidate(['CET4']);
    const order = await openOrder(who);
    const failed = await pay(order.payUrl, 'FAIL');
    expect(failed.status).toBe(200);
    expect(failed.body.gateway).toEqual({ status: 200, answer: 'success' });
    expect((await getOrder(who, order.orderId)).body.status).toBe('PENDING');
    expect(await statuses(who)).toEqual({ CET4: 'HELD' });
    expect(await confirmations(order.orderId)).toHaveLength(0);

    expect((await pay(order.payUrl, 'SUCCESS')).status).toBe(200);
    expect((await getOrder(who, order.orderId)).body.status).toBe('PAID');
    expect(await statuses(who)).toEqual({ CET4: 'PAID' });
  });

  it('refuses a payment link whose amount or provider was altered (the simulator checks the gateway signature)', async () => {
    const who = await candidate(['CET4']);
    const order = await openOrder(who);
    const cheaper = order.payUrl.replace('total_amount=30.00', 'total_amount=0.01');
    expect(cheaper).not.toBe(order.payUrl);
    expect((await pay(cheaper, 'SUCCESS')).status).toBe(400);
    const otherProvider = order.payUrl.replace('provider=alipay', 'provider=bank');
    expect((await pay(otherProvider, 'SUCCESS')).status).toBe(400);
    expect((await getOrder(who, order.orderId)).body.status).toBe('PENDING');
  });
});

describe('duplicates and replays change nothing', () => {
  it('a second payment re-delivers the same notification: same answer, same order, one confirmation', async () => {
    const who = await candidate();
    const order = await openOrder(who);
    const first = await pay(order.payUrl, 'SUCCESS');
    const before = (await getOrder(who, order.orderId)).body;
    const second = await pay(order.payUrl, 'SUCCESS');
    expect(second.status).toBe(200);
    expect(second.body.gateway).toEqual(first.body.gateway);
    expect(second.body.notifyId).toBe(first.body.notifyId);
    expect(second.body.tradeNo).toBe(first.body.tradeNo);
    expect((await getOrder(who, order.orderId)).body).toEqual(before);
    expect(await confirmations(order.orderId)).toHaveLength(1);
  });

  it('concurrent identical notifications: all acknowledged, exactly one applied', async () => {
    const who = await candidate();
    const order = await openOrder(who, 'BANK');
    const body = await signedBy(order, {}, 'bank');
    const answers = await Promise.all(Array.from({ length: 12 }, () => notify('bank', body)));
    expect(answers.map((a) => [a.status, a.text])).toEqual(answers.map(() => [200, 'success']));
    expect(answers[0]!.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await getOrder(who, order.orderId)).body.status).toBe('PAID');
    expect(await confirmations(order.orderId)).toHaveLength(1);
    expect(await storedConfirmations(order.orderId, 1)).toBe(1);
  });

  it('a captured notification replayed: "success" and no change inside the window, BAD_SIGNATURE after it', async () => {
    const who = await candidate();
    const order = await openOrder(who);
    await pay(order.payUrl, 'SUCCESS');
    const captured = (await deliveries(order.orderId)).at(-1)!;
    expect(captured.body).toContain('sign=');
    const before = (await getOrder(who, order.orderId)).body;

    const replay = await notify('alipay', captured.body);
    expect([replay.status, replay.text]).toEqual([200, 'success']);
    expect((await getOrder(who, order.orderId)).body).toEqual(before);

    await clock.set({ advanceMs: 6 * 60_000 });
    const stale = await notify('alipay', captured.body);
    expect([stale.status, stale.body.error.code, stale.body.error.details.reason]).toEqual([
      400,
      'BAD_SIGNATURE',
      'STALE',
    ]);
    expect((await getOrder(who, order.orderId)).body).toEqual(before);
    expect(await confirmations(order.orderId)).toHaveLength(1);
  });

  it('a replayed FAIL after the payment changes nothing', async () => {
    const who = await candidate(['CET4']);
    const order = await openOrder(who);
    await pay(order.payUrl, 'FAIL');
    const failure = (await deliveries(order.orderId)).at(-1)!;
    await pay(order.payUrl, 'SUCCESS');
    const before = (await getOrder(who, order.orderId)).body;
    const replay = await notify('alipay', failure.body);
    expect([replay.status, replay.text]).toEqual([200, 'success']);
    expect((await getOrder(who, order.orderId)).body).toEqual(before);
    expect(before.status).toBe('PAID');
  });
});

describe('forged and altered notifications: 400 BAD_SIGNATURE, nothing changed', () => {
  it('refuses every tampering of a valid notification and applies none', async () => {
    const who = await candidate();
    const order = await openOrder(who);
    const valid = await signedBy(order);
    const params = () => new URLSearchParams(valid);
    const edited = (edit: (p: URLSearchParams) => void) => {
      const p = params();
      edit(p);
      return p.toString();
    };
    const otherWho = await candidate(['CET4']);
    const otherOrder = await openOrder(otherWho);

    const forgeries: [string, string, string?][] = [
      ['altered amount', edited((p) => p.set('total_amount', '0.01'))],
      ['altered order', edited((p) => p.set('out_trade_no', otherOrder.orderId))],
      ['altered trade_no', edited((p) => p.set('trade_no', 'T0000000000000000'))],
      ['altered notify_time', edited((p) => p.set('notify_time', String(Number(p.get('notify_time')) + 1)))],
      ['missing field', edited((p) => p.delete('notify_id'))],
      ['missing signature', edited((p) => p.delete('sign'))],
      ['empty signature', edited((p) => p.set('sign', ''))],
      ['extra field', `${valid}&buyer_id=2088`],
      ['repeated field', `${valid}&total_amount=${order.amount.toFixed(2)}`],
      ['other sign_type', edited((p) => p.set('sign_type', 'RSA2'))],
      ['truncated signature', edited((p) => p.set('sign', p.get('sign')!.slice(0, 20)))],
      ['wrong key', await signedBy(order, {}, 'alipay', 'not-the-payment-secret-0123')],
      ['signed for the bank', await signedBy(order, {}, 'bank')],
      ['not form-encoded', JSON.stringify(Object.fromEntries(params())), 'application/json'],
      ['too old', await signedBy(order, { notifyTime: (await clock.now()) - 10 * 60_000 })],
      ['from the future', await signedBy(order, { notifyTime: (await clock.now()) + 10 * 60_000 })],
      ['garbage', '%%%&&&==='],
      ['empty', ''],
    ];
    for (const [name, body, contentType] of forgeries) {
      const answer = await notify('alipay', body, contentType);
      expect([name, answer.status, answer.body?.error?.code]).toEqual([name, 400, 'BAD_SIGNATURE']);
    }
    const unknownProvider = await notify('paypal', valid);
    expect(unknownProvider.status).toBe(404);

    expect((await getOrder(who, order.orderId)).body.status).toBe('PENDING');
    expect((await getOrder(otherWho, otherOrder.orderId)).body.status).toBe('PENDING');
    expect(await statuses(who)).toEqual({ CET4: 'HELD', 'CET-SET4': 'HELD' });
    expect(await confirmations(order.orderId)).toHaveLength(0);
    expect(await confirmations(otherOrder.orderId)).toHaveLength(0);

    // the untouched notification still works
    const genuine = await notify('alipay', await signedBy(order));
    expect([genuine.status, genuine.text]).toEqual([200, 'success']);
    expect((await getOrder(who, order.orderId)).body.status).toBe('PAID');
  });

  it('refuses an authentic notification whose amount is not the order’s, or for an unknown order', async () => {
    const who = await candidate(['CET4']);
    const order = await openOrder(who);
    const wrongAmount = await notify('alipay', await signedBy(order, { totalAmount: '1.00' }));
    expect([wrongAmount.status, wrongAmount.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    const unknown = await notify('alipay', await signedBy({ orderId: '11-nosuchorder', amount: 30 }));
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'ORDER_NOT_FOUND']);
    expect((await getOrder(who, order.orderId)).body.status).toBe('PENDING');
  });
});

describe('GET /api/v1/payments/{orderId}: object-level authorization', () => {
  it('another account gets 404 ORDER_NOT_FOUND, exactly as for a missing order', async () => {
    const owner = await candidate(['CET4']);
    const order = await openOrder(owner);
    const stranger = await signUp(gw.http);
    const foreign = await getOrder(stranger, order.orderId);
    expect([foreign.status, foreign.body.error.code]).toEqual([404, 'ORDER_NOT_FOUND']);
    expect(foreign.text).not.toContain(order.orderId);
    const missing = await getOrder(stranger, '11-doesnotexist');
    expect(missing.body).toEqual(foreign.body);
    const anonymous = await gw.http.get(`/api/v1/payments/${order.orderId}`);
    expect(anonymous.status).toBe(401);
    expect((await getOrder(owner, order.orderId)).status).toBe(200);
  });
});

// Last: moves the shared clock past every hold's deadline.
describe('a confirmation after the hold expired (R22, R23)', () => {
  it('answers "success", records LATE_REFUND, and does not revive the seat', async () => {
    const who = await candidate();
    const order = await openOrder(who);
    await clock.set({ advanceMs: 13 * HOUR_MS });
    await waitFor(async () => Object.values(await statuses(who)).every((status) => status === 'EXPIRED'), {
      timeoutMs: 15_000,
      intervalMs: 100,
      message: 'the sweeper to expire the holds',
    });
    const seats = async () => (await gw.engine.seatCounts('11')).filter((seat) => seat.campusId === 'PAY1');
    const seatsBefore = await seats();

    const paid = await pay(order.payUrl, 'SUCCESS');
    expect(paid.status).toBe(200);
    expect(paid.body.gateway).toEqual({ status: 200, answer: 'success' });

    const view = (await getOrder(who, order.orderId)).body;
    expect(view).toMatchObject({ status: 'LATE_REFUND', paid: [], refundAmount: 80 });
    expect([...view.refund].sort()).toEqual(['CET-SET4', 'CET4'] satisfies Subject[]);
    expect(await statuses(who)).toEqual({ CET4: 'EXPIRED', 'CET-SET4': 'EXPIRED' });
    expect(await seats()).toEqual(seatsBefore);
    const events = await confirmations(order.orderId);
    expect(events.map((event) => event.status)).toEqual(['LATE_REFUND']);

    // and the provider's retry changes nothing
    expect((await pay(order.payUrl, 'SUCCESS')).status).toBe(200);
    expect((await getOrder(who, order.orderId)).body).toEqual(view);
    expect(await confirmations(order.orderId)).toHaveLength(1);
    expect(await seats()).toEqual(seatsBefore);
  });
});
