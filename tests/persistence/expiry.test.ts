/**
 * I4 with a driven clock (the admin clock of TEST_MODE): 10,000 holds pass their pay-by; two
 * sweepers following the clock release each exactly once; PostgreSQL shows them EXPIRED; the seats
 * are sold again; a payment confirmation after the expiry ends as LATE_REFUND.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { reconcile } from '../../db/reconcile.ts';
import { StreamWriter } from '../../db/writer.ts';
import { decodeEvent } from '../../engine/events.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { Sweeper } from '../../engine/sweeper.ts';
import { DrivenClock } from '../../gateway/clock.ts';
import { clockKey } from '../../gateway/services.ts';
import { campus, loadFixture, newTestEngine, T0, type TestEngine } from '../support/engine.ts';
import { accountOf, bindN, drain, persistenceDb, runPool, seedWorld, type PersistenceDb } from './support.ts';
import { waitFor } from '../support/wait.ts';

const HOLDS = 10_000;
const HOLD_MS = 60_000;
const C1 = campus({ campusId: 'PE1', schoolId: 'SPE1', capacity: { CET4: HOLDS } });

let te: TestEngine;
let pg: PersistenceDb;

beforeAll(async () => {
  te = await newTestEngine({ holdMs: HOLD_MS });
  pg = await persistenceDb();
  await loadFixture(te.engine, { campuses: [C1] });
  await seedWorld(pg.db, [C1], 'e', HOLDS);
});

afterAll(async () => {
  await te?.close();
  await pg?.close();
});

it(`${HOLDS} holds pass their deadline: each released exactly once, EXPIRED in PostgreSQL, seats sold again, late payment refunded`, async () => {
  const { engine } = te;
  const clock = new DrivenClock(te.redis, clockKey(te.namespace));
  await clock.set({ nowMs: T0 });
  const ref = (n: number) => ({ accountId: accountOf(n), provinceCode: '11', candidateId: `e${n}` });
  await runPool(0, HOLDS, 64, async (n) => {
    await bindN(engine, 'e', n, C1.campusId, T0);
    const held = await engine.reserveWritten({
      ...ref(n),
      subject: 'CET4',
      eligible: true,
      fee: 30,
      now: T0 + 1,
    });
    if (!held.ok) throw new Error(held.code);
  });
  const order = await engine.createOrder({ ...ref(0), method: 'ALIPAY', now: T0 + 2 });
  if (!order.ok) throw new Error(order.code);
  const full = await engine.reserveWritten({
    ...ref(0),
    subject: 'CET4',
    eligible: true,
    fee: 30,
    now: T0 + 3,
  });
  expect(full.ok).toBe(false);

  const sweepers = [1, 2].map(
    (i) => new Sweeper(engine, { intervalMs: 20, now: () => clock.now(), provinces: ['11'], name: `s${i}` }),
  );
  const expiredSoFar = () => sweepers[0]!.current.expired + sweepers[1]!.current.expired;
  /** Until each sweeper has made a whole pass that began after this call. */
  const wholePass = async (message: string) => {
    const done = sweepers.map((sweeper) => sweeper.current.sweeps + 2);
    await waitFor(() => sweepers.every((sweeper, i) => sweeper.current.sweeps >= done[i]!), { message });
  };
  for (const sweeper of sweepers) sweeper.start();
  try {
    await wholePass('a pass of each sweeper before the deadline');
    expect(expiredSoFar()).toBe(0); // not due yet
    await clock.set({ nowMs: T0 + HOLD_MS + 5_000 });
    await waitFor(() => expiredSoFar() >= HOLDS, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: 'every hold expired',
    });
    // and each sweeper looks again once all is released: nothing more to release
    await wholePass('a pass of each sweeper after the expiry');
  } finally {
    for (const sweeper of sweepers) await sweeper.stop();
  }
  // exactly once: the sweepers together released HOLDS, and the stream says EXPIRED once per hold
  expect(sweepers[0]!.current.expired + sweepers[1]!.current.expired).toBe(HOLDS);
  expect(Math.max(...sweepers.map((s) => s.current.lagMs))).toBeLessThan(5_000);
  const stream = engine.keys.province('11').stream;
  const expiredHolds = new Map<string, number>();
  for (const [id, fields] of await te.redis.xrange(stream, '-', '+')) {
    const event = decodeEvent(stream, id, fields);
    if (event.type === 'EXPIRED') {
      const key = String(event.data.holdId);
      expiredHolds.set(key, (expiredHolds.get(key) ?? 0) + 1);
    }
  }
  expect(expiredHolds.size).toBe(HOLDS);
  expect([...expiredHolds.values()].every((n) => n === 1)).toBe(true);
  expect(Number(await te.redis.hget(engine.keys.province('11').used, `${C1.campusId}|CET4`))).toBe(0);

  const streams = engine.keys.allStreams(['11']);
  const writer = new StreamWriter(te.redis, pg.db, { streams, consumer: 'ex', batchSize: 2_000 });
  await drain(writer);
  const expired = await pg.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM registration_items WHERE status = 'EXPIRED'`,
  );
  expect(Number(expired.rows[0]!.n)).toBe(HOLDS);

  // the seats are sold again
  const after = T0 + HOLD_MS + 6_000;
  const again = await runPool(0, HOLDS, 64, (n) =>
    engine.reserveWritten({ ...ref(n), subject: 'CET4', eligible: true, fee: 30, now: after }),
  );
  expect(again.filter((outcome) => !outcome.ok)).toEqual([]);
  // the old order's confirmation arrives after the expiry
  const late = await engine.confirmPayment({
    orderId: order.order.orderId,
    now: after + 1,
    providerTx: 'late-1',
  });
  expect(late.ok && late.order.status).toBe('LATE_REFUND');

  await drain(writer);
  const items = await pg.db.query<{ status: string; n: string }>(
    `SELECT status, count(*) AS n FROM registration_items GROUP BY status ORDER BY status`,
  );
  expect(items.rows.map((r) => `${r.status}:${r.n}`)).toEqual([`EXPIRED:${HOLDS}`, `HELD:${HOLDS}`]);
  const orders = await pg.db.query(`SELECT status FROM payment_orders`);
  expect(orders.rows).toEqual([{ status: 'LATE_REFUND' }]);
  const outcome = await pg.db.query(`SELECT outcome FROM payment_order_items`);
  expect(outcome.rows).toEqual([{ outcome: 'LATE_REFUND' }]);

  expect((await checkInvariants(engine, ['11'])).violations).toEqual([]);
  const report = await reconcile(engine, pg.db, { provinces: ['11'], streams });
  expect(report.differences).toEqual([]);
  await writer.stop();
}, 300_000);
