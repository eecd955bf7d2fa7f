/**
 * The writer against real Redis and PostgreSQL: a flow projected correctly (registrations, items,
 * orders, reviews), a redelivery that changes nothing, and a poison event dead-lettered with its
 * reason while the events behind it still land.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareState, reconcile } from '../../db/reconcile.ts';
import { deadLetterStreamOf, isTransient, StreamWriter } from '../../db/writer.ts';
import { DatabaseError } from 'pg';
import { decideReview, expireDue, submitReview } from '../../engine/index.ts';
import { campus, loadFixture, newTestEngine, T0, type TestEngine } from '../support/engine.ts';
import { sleep, waitFor } from '../support/wait.ts';
import {
  accountOf,
  bindN,
  drain,
  pendingOf,
  persistenceDb,
  seedWorld,
  type PersistenceDb,
} from './support.ts';

const HOLD_MS = 60_000;
const C1 = campus({ campusId: 'PW1', schoolId: 'SPW1', capacity: { CET4: 100, CET6: 100, 'CET-SET4': 10 } });

let te: TestEngine;
let pg: PersistenceDb;

beforeAll(async () => {
  te = await newTestEngine({ holdMs: HOLD_MS });
  pg = await persistenceDb();
  await loadFixture(te.engine, { campuses: [C1] });
  await seedWorld(pg.db, [C1], 'w', 20);
});

afterAll(async () => {
  await te?.close();
  await pg?.close();
});

async function tableDump(): Promise<string> {
  const tables = [
    'events',
    'registrations',
    'registration_items',
    'payment_orders',
    'payment_order_items',
    'cet6_reviews',
  ];
  const out: unknown[] = [];
  for (const table of tables) {
    const { rows } = await pg.db.query(`SELECT * FROM ${table} ORDER BY 1, 2`);
    out.push(rows.map((row: Record<string, unknown>) => ({ ...row, written_at: undefined })));
  }
  return JSON.stringify(out);
}

describe('writer projections', () => {
  it('projects a whole flow, and a redelivery changes nothing', async () => {
    const { engine } = te;
    const [c0, c1, c2, c3] = [
      await bindN(engine, 'w', 0, C1.campusId, T0),
      await bindN(engine, 'w', 1, C1.campusId, T0),
      await bindN(engine, 'w', 2, C1.campusId, T0),
      await bindN(engine, 'w', 3, C1.campusId, T0),
    ];
    // c0: written + oral, paid
    expect(
      (await engine.reserveWritten({ ...c0, subject: 'CET4', eligible: true, fee: 30, now: T0 + 1 })).ok,
    ).toBe(true);
    expect(
      (await engine.reserveOral({ ...c0, subject: 'CET-SET4', campusId: C1.campusId, fee: 50, now: T0 + 2 }))
        .ok,
    ).toBe(true);
    const order0 = await engine.createOrder({ ...c0, method: 'ALIPAY', now: T0 + 3 });
    if (!order0.ok) throw new Error(order0.code);
    expect(
      (await engine.confirmPayment({ orderId: order0.order.orderId, now: T0 + 4, providerTx: 'tx-0' })).ok,
    ).toBe(true);
    // c1: held then cancelled
    expect(
      (await engine.reserveWritten({ ...c1, subject: 'CET4', eligible: true, fee: 30, now: T0 + 5 })).ok,
    ).toBe(true);
    expect((await engine.cancel({ ...c1, subject: 'CET4', now: T0 + 6 })).ok).toBe(true);
    // c2: held, ordered, expired, then the late confirmation
    expect(
      (await engine.reserveWritten({ ...c2, subject: 'CET6', eligible: true, fee: 30, now: T0 + 7 })).ok,
    ).toBe(true);
    const order2 = await engine.createOrder({ ...c2, method: 'BANK', now: T0 + 8 });
    if (!order2.ok) throw new Error(order2.code);
    const sweep = await expireDue(engine, '11', T0 + HOLD_MS + 2_000);
    expect(sweep.expired).toHaveLength(1);
    const late = await engine.confirmPayment({
      orderId: order2.order.orderId,
      now: T0 + HOLD_MS + 3_000,
      providerTx: 'tx-2',
    });
    expect(late.ok && late.order.status).toBe('LATE_REFUND');
    // c3: a CET6 review, decided
    const review = await submitReview(engine, {
      accountId: c3.accountId,
      status: 'PENDING',
      ticketNumber: '123456789012345',
      candidateId: c3.candidateId,
      provinceCode: '11',
      now: T0 + 9,
    });
    if (!review.ok) throw new Error(review.code);
    expect(
      (await decideReview(engine, { reviewId: review.review.reviewId, approve: true, now: T0 + 10 })).ok,
    ).toBe(true);

    const streams = engine.keys.allStreams(['11']);
    const writer = new StreamWriter(te.redis, pg.db, { streams, consumer: 'w1' });
    const written = await drain(writer);
    expect(written).toBeGreaterThanOrEqual(15);
    expect(writer.current.written).toBe(written);
    expect(writer.current.deadLetters).toBe(0);

    const regs = await pg.db.query(
      `SELECT candidate_id, account_id::text, deleted_at FROM registrations ORDER BY 1`,
    );
    expect(regs.rows.map((r) => [r.candidate_id, r.account_id, r.deleted_at])).toEqual([
      ['w0', accountOf(0), null],
      ['w1', accountOf(1), null],
      ['w2', accountOf(2), null],
      ['w3', accountOf(3), null],
    ]);
    const items = await pg.db.query(
      `SELECT candidate_id, subject, status FROM registration_items ORDER BY 1, 2`,
    );
    expect(items.rows.map((r) => `${r.candidate_id}:${r.subject}:${r.status}`)).toEqual([
      'w0:CET-SET4:PAID',
      'w0:CET4:PAID',
      'w1:CET4:CANCELLED',
      'w2:CET6:EXPIRED',
    ]);
    const orders = await pg.db.query(
      `SELECT candidate_id, status, provider_tx FROM payment_orders ORDER BY 1`,
    );
    expect(orders.rows.map((r) => `${r.candidate_id}:${r.status}:${r.provider_tx}`)).toEqual([
      'w0:PAID:tx-0',
      'w2:LATE_REFUND:tx-2',
    ]);
    const outcomes = await pg.db.query(
      `SELECT o.candidate_id, oi.outcome FROM payment_order_items oi JOIN payment_orders o USING (order_id) ORDER BY 1, 2`,
    );
    expect(outcomes.rows.map((r) => `${r.candidate_id}:${r.outcome}`)).toEqual([
      'w0:PAID',
      'w0:PAID',
      'w2:LATE_REFUND',
    ]);
    const reviews = await pg.db.query(
      `SELECT candidate_id, status, decided_at IS NOT NULL AS decided FROM cet6_reviews`,
    );
    expect(reviews.rows).toEqual([{ candidate_id: 'w3', status: 'APPROVED', decided: true }]);

    expect(await compareState(engine, pg.db, ['11'])).toEqual([]);

    // redelivery: the whole stream again, to another consumer
    const before = await tableDump();
    for (const stream of streams) await te.redis.xgroup('SETID', stream, 'writer', '0');
    const again = new StreamWriter(te.redis, pg.db, { streams, consumer: 'w2' });
    expect(await drain(again)).toBe(written);
    expect(again.current.written).toBe(0);
    expect(again.current.duplicates).toBe(written);
    expect(await tableDump()).toBe(before);

    // and once more through the COPY path: the same idempotency
    for (const stream of streams) await te.redis.xgroup('SETID', stream, 'writer', '0');
    const copied = new StreamWriter(te.redis, pg.db, { streams, consumer: 'w3', insertWith: 'copy' });
    expect(await drain(copied)).toBe(written);
    expect(copied.current.written).toBe(0);
    expect(await tableDump()).toBe(before);

    const report = await reconcile(engine, pg.db, { provinces: ['11'], streams });
    expect(report.differences).toEqual([]);
    await writer.stop();
    await again.stop();
    await copied.stop();
  });

  it('re-reads its own pending entries on start, and claims idle entries of a dead consumer', async () => {
    const { engine } = te;
    const streams = engine.keys.allStreams(['11']);
    await bindN(engine, 'w', 4, C1.campusId, T0);
    await bindN(engine, 'w', 5, C1.campusId, T0);
    // "dead" consumer: reads, never writes
    await te.redis.xreadgroup('GROUP', 'writer', 'dead', 'COUNT', 1, 'STREAMS', streams[0]!, '>');
    // "crashed" consumer w3: read one and died; on start it re-reads it
    await te.redis.xreadgroup('GROUP', 'writer', 'w3', 'COUNT', 1, 'STREAMS', streams[0]!, '>');
    const w3 = new StreamWriter(te.redis, pg.db, {
      streams,
      consumer: 'w3',
      claimIdleMs: 50,
      claimIntervalMs: 10,
      idleMs: 20,
    });
    await sleep(100); // past claimIdleMs: the dead consumer's entry is idle
    w3.start();
    await waitFor(
      async () => {
        const { rows } = await pg.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM registrations WHERE candidate_id IN ('w4', 'w5')`,
        );
        return rows[0]!.n === 2;
      },
      { timeoutMs: 10_000, intervalMs: 50, message: 'the pending entries written' },
    );
    await w3.stop();
    expect(w3.current.claimed).toBeGreaterThanOrEqual(1);
    expect(await pendingOf(te.redis, streams[0]!)).toBe(0);
  });

  it('dead-letters a poison event with its reason; the events behind it still land', async () => {
    const { engine } = te;
    const streams = engine.keys.allStreams(['11']);
    const stream = engine.keys.province('11').stream;
    const writer = new StreamWriter(te.redis, pg.db, {
      streams,
      consumer: 'w4',
      maxAttempts: 2,
      backoffBaseMs: 1,
    });
    await drain(writer);
    await te.redis.xadd(stream, '*', 'garbage', '1');
    await te.redis.xadd(
      stream,
      '*',
      't',
      'HELD',
      'at',
      String(T0),
      'd',
      JSON.stringify({
        candidateId: 'w6',
        subject: 'NOPE',
        kind: 'WRITTEN',
        campusId: C1.campusId,
        holdId: 999999,
        fee: 1,
        heldAt: T0,
        payBy: T0 + 1,
      }),
    );
    await bindN(engine, 'w', 6, C1.campusId, T0);
    expect(
      (
        await engine.reserveWritten({
          ...(await bindRef(6)),
          subject: 'CET4',
          eligible: true,
          fee: 30,
          now: T0 + 1,
        })
      ).ok,
    ).toBe(true);
    await drain(writer);
    const dead = await te.redis.xrange(deadLetterStreamOf(stream), '-', '+');
    expect(dead).toHaveLength(2);
    const reasons = dead.map(([, fields]) => fields[fields.indexOf('reason') + 1]!);
    expect(reasons[0]).toMatch(/^decode: malformed event/);
    expect(reasons[1]).toMatch(/^23502/); // no such subject: kind is NULL
    // the decodable one is still recorded in `events`; only its projection is missing
    expect(dead.map(([, fields]) => fields[fields.indexOf('stored') + 1])).toEqual(['none', 'event']);
    expect(writer.current.deadLetters).toBe(2);
    const items = await pg.db.query(`SELECT status FROM registration_items WHERE candidate_id = 'w6'`);
    expect(items.rows).toEqual([{ status: 'HELD' }]);
    expect(await pendingOf(te.redis, stream)).toBe(0);
    // reconcile lists the dead letters as an alert; the undecodable entry is an event PostgreSQL lacks
    const report = await reconcile(engine, pg.db, { provinces: ['11'], streams });
    expect(report.alerts.map((a) => `${a.kind}:${String(a.redis)}`)).toEqual(['DEAD_LETTER:2']);
    expect(report.differences.map((d) => `${d.kind}:${String(d.redis)}`)).toEqual(['EVENT:?']);
    await writer.stop();
  });
});

async function bindRef(n: number) {
  return { accountId: accountOf(n), provinceCode: '11', candidateId: `w${n}` };
}

describe('writer housekeeping', () => {
  it('classifies failures by SQLSTATE', () => {
    const pgError = (code: string) => Object.assign(new DatabaseError('x', 1, 'error'), { code });
    // a missing table is an outage to wait out (a migration not applied yet), never a dead letter
    for (const code of ['40001', '40P01', '57P01', '08006', '08001', '53300', '55P03', '42P01'])
      expect(isTransient(pgError(code)), code).toBe(true);
    for (const code of ['23505', '23503', '23502', '22P02'])
      expect(isTransient(pgError(code)), code).toBe(false);
    expect(isTransient(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(
      true,
    );
    expect(isTransient(new TypeError('bug'))).toBe(false);
  });

  it('trims acknowledged entries only: nothing at or after the oldest pending entry goes', async () => {
    const { engine } = te;
    const streams = engine.keys.allStreams(['11']);
    const stream = engine.keys.province('11').stream;
    const writer = new StreamWriter(te.redis, pg.db, { streams, consumer: 'trim', retainMs: 0 });
    await drain(writer);
    for (let n = 7; n < 10; n++) await bindN(engine, 'w', n, C1.campusId, T0);
    // a consumer that read the three BOUND entries and died: they stay pending
    const reply = (await te.redis.xreadgroup(
      'GROUP',
      'writer',
      'stuck',
      'COUNT',
      10,
      'STREAMS',
      stream,
      '>',
    )) as [string, [string, string[]][]][];
    const pendingIds = reply[0]![1].map(([id]) => id);
    expect(pendingIds).toHaveLength(3);
    for (let n = 0; n < 50; n++) await te.redis.xadd(`${te.namespace}:{p11}:filler`, '*', 'x', '1');
    const before = await te.redis.xlen(stream);
    await writer.trim();
    const left = (await te.redis.xrange(stream, '-', '+')).map(([id]) => id);
    for (const id of pendingIds) expect(left).toContain(id);
    expect(left.length).toBeLessThanOrEqual(before);
    // once written and acknowledged, they may go too
    const claimer = new StreamWriter(te.redis, pg.db, {
      streams,
      consumer: 'trim',
      claimIdleMs: 0,
      retainMs: 0,
    });
    await claimer.claimIdle();
    expect(await pendingOf(te.redis, stream)).toBe(0);
    await claimer.trim();
    expect(await te.redis.xlen(stream)).toBeLessThanOrEqual(1);
    await writer.stop();
    await claimer.stop();
  });

  it('defers an update whose creating event a dead consumer holds, then writes both in order', async () => {
    const { engine } = te;
    const streams = engine.keys.allStreams(['11']);
    const stream = engine.keys.province('11').stream;
    const ref = await bindN(engine, 'w', 10, C1.campusId, T0);
    expect(
      (await engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 + 1 })).ok,
    ).toBe(true);
    expect((await engine.cancel({ ...ref, subject: 'CET4', now: T0 + 2 })).ok).toBe(true);
    // a consumer takes BOUND and HELD and dies
    await te.redis.xreadgroup('GROUP', 'writer', 'ghost', 'COUNT', 2, 'STREAMS', stream, '>');
    const writer = new StreamWriter(te.redis, pg.db, {
      streams,
      consumer: 'live',
      claimIdleMs: 300,
      backoffBaseMs: 1,
    });
    expect(await writer.drainOnce('>')).toBe(1); // CANCELLED: its item is not written yet
    expect(writer.current.deferred).toBe(1);
    expect(writer.current.deadLetters).toBe(0);
    expect(await pendingOf(te.redis, stream)).toBe(3);
    await sleep(400); // past claimIdleMs
    await writer.claimIdle(); // BOUND, HELD (the ghost's) and CANCELLED (its own), in id order
    const items = await pg.db.query(`SELECT status FROM registration_items WHERE candidate_id = 'w10'`);
    expect(items.rows).toEqual([{ status: 'CANCELLED' }]);
    expect(await pendingOf(te.redis, stream)).toBe(0);
    expect(writer.current.deadLetters).toBe(0);
    await writer.stop();
  });
});
