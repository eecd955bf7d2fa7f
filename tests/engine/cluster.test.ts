/**
 * The key design on a real Redis Cluster (3 masters started by the test): every script's keys
 * share one hash tag, so each runs on the node owning its slot; the binding crosses shards
 * ({aN} and {pNN} tags live on different nodes) through the two-step protocol. The whole flow
 * runs unchanged, then the invariant checker reads everything back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { Engine, bind, boundCandidate, decideReview, expireDue, submitReview } from '../../engine/index.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { startRedisCluster, type RedisCluster } from '../../devstack/index.ts';
import { HOUR_MS, T0, campus, openWindow, snapshot } from '../support/engine.ts';

let cluster: RedisCluster;
let client: Cluster;
let engine: Engine;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  // No enableAutoPipelining on Cluster: ioredis routes an auto-pipelined script by its first
  // argument, which for a variable-key script (expireDue) is the key count (redis/ioredis#2109).
  client = new Cluster(cluster.nodes);
  engine = new Engine(client, { namespace: 'cluster' });
  for (const province of ['11', '31', '44']) {
    await engine.setCalendar(openWindow(province), T0);
    await engine.upsertCampus(
      campus({ campusId: `${province}00011`, provinceCode: province, capacity: { CET4: 5, 'CET-SET4': 2 } }),
      T0,
    );
  }
}, 60_000);

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

describe('Redis Cluster smoke (key design)', () => {
  it('spreads the shards over more than one node', async () => {
    const slots = new Set<string>();
    for (const key of [
      engine.keys.province('11').stream,
      engine.keys.province('31').stream,
      engine.keys.province('44').stream,
      ...Array.from({ length: 16 }, (_, n) => `cluster:{a${n}}:ev`),
    ]) {
      const slot = Number(await client.cluster('KEYSLOT', key));
      const owner = (await client.cluster('SLOTS')).find(([from, to]) => slot >= from && slot <= to);
      slots.add(`${owner?.[2]?.[1]}`);
    }
    expect(slots.size).toBe(3);
  });

  it('runs bind → written → oral → pay → expire → review across nodes, invariants intact', async () => {
    const refs = [];
    for (const [n, province] of ['11', '31', '44', '11', '31', '44'].entries()) {
      const ref = { accountId: `acc${n}`, provinceCode: province, candidateId: `c${n}` };
      const bound = await bind(engine, {
        ...ref,
        campusId: `${province}00011`,
        snapshot: snapshot(),
        now: T0,
      });
      expect(bound.ok).toBe(true);
      refs.push(ref);
    }
    // I2 across shards: a second account for c0, a second candidate for acc0
    const again = await bind(engine, {
      accountId: 'other',
      provinceCode: '11',
      candidateId: 'c0',
      campusId: '1100011',
      snapshot: snapshot(),
      now: T0,
    });
    expect(again.ok ? 'ok' : again.code).toBe('CANDIDATE_ALREADY_BOUND');
    const second = await bind(engine, {
      accountId: 'acc0',
      provinceCode: '44',
      candidateId: 'c99',
      campusId: '4400011',
      snapshot: snapshot(),
      now: T0,
    });
    expect(second.ok ? 'ok' : second.code).toBe('ACCOUNT_ALREADY_BOUND');
    expect((await boundCandidate(engine, 'acc0'))?.candidateId).toBe('c0');

    for (const ref of refs) {
      const written = await engine.reserveWritten({
        ...ref,
        subject: 'CET4',
        eligible: true,
        fee: 30,
        now: T0,
      });
      expect(written.ok).toBe(true);
    }
    const oral = await engine.reserveOral({
      ...refs[0]!,
      subject: 'CET-SET4',
      campusId: '1100011',
      fee: 50,
      now: T0,
    });
    expect(oral.ok).toBe(true);
    const order = await engine.createOrder({ ...refs[0]!, method: 'ALIPAY', now: T0 + 1000 });
    if (!order.ok) throw new Error(order.code);
    const paid = await engine.confirmPayment({
      orderId: order.order.orderId,
      now: T0 + 2000,
      providerTx: 'tx1',
    });
    expect(paid.ok && paid.order.status).toBe('PAID');

    // everyone else's hold expires (R22) on each province's node; the index is per whole second
    const swept = await Promise.all(
      ['11', '31', '44'].map((p) => expireDue(engine, p, T0 + 12 * HOUR_MS + 999)),
    );
    expect(swept.reduce((n, s) => n + s.expired.length, 0)).toBe(5);

    const review = await submitReview(engine, {
      accountId: 'acc1',
      status: 'PENDING',
      ticketNumber: '310011202101001',
      candidateId: 'c1',
      provinceCode: '31',
      now: T0,
    });
    if (!review.ok) throw new Error(review.code);
    const decided = await decideReview(engine, { reviewId: review.review.reviewId, approve: true, now: T0 });
    expect(decided.ok && decided.review.status).toBe('APPROVED');

    const report = await checkInvariants(engine, ['11', '31', '44']);
    expect(report.violations).toEqual([]);
    expect(report.registrations).toBe(6);
    expect(report.liveItems).toBe(2); // c0's paid CET4 and CET-SET4
  });
});
