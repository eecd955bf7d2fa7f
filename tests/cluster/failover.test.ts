/**
 * Issue 14 item 3, P9: one short failover. A private Redis Cluster of 3 durable masters + 3
 * replicas (AOF, appendfsync always, noeviction; node timeout 1 s) and an engine asking
 * REDIS_WAIT_REPLICAS=1. A stream of holds in one province, each retried with its request tag until
 * answered, as a client retries with its Idempotency-Key (REL4); mid-stream the master of the
 * province's slot is killed (kill -9). Its replica is promoted; having no replica of its own, it
 * acknowledges nothing (a replication timeout, retried) until the killed node restarts from its AOF
 * and rejoins as its replica; then the stream completes. Every hold acknowledged before the
 * promotion is on the promoted master, every hold acknowledged at all is there at the end with the
 * hold id its answer gave, each candidate holds one seat, and I1–I4 hold (engine/invariants.ts).
 */
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { ReplicationTimeoutError } from '../../engine/replicaWait.ts';
import { campus, loadFixture, T0 } from '../support/engine.ts';
import { startPrivateCluster, type PrivateCluster } from '../support/cluster.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { accountOf, bindN, runPool } from '../persistence/support.ts';

const CANDIDATES = 120;
/** The stream is this far along when the master is killed. */
const KILL_AT = 40;
const PROVINCE = '11';
const C1 = campus({ campusId: 'FO1', schoolId: 'SFO1', capacity: { CET4: CANDIDATES } });

let stores: PrivateCluster;
/** The stream's engine, asking WAIT 1, on a client of its own. */
let engine: Engine;
let writes: Cluster;
/**
 * Reads on the other client: WAIT blocks its connection, so while the shard has no replica every
 * command behind a WAIT on the same connection waits out its timeout.
 */
let reader: Engine;

beforeAll(async () => {
  stores = await startPrivateCluster({ replicasPerMaster: 1, persistent: true, nodeTimeoutMs: 1_000 });
  // the fixture and the bindings are set up without WAIT: the stream below is what is measured
  reader = new Engine(stores.client, { namespace: 'fo' });
  await loadFixture(reader, { campuses: [C1] });
  await runPool(0, CANDIDATES, 8, (n) => bindN(reader, 'fo', n, C1.campusId, T0));
  writes = stores.openClient();
  engine = new Engine(writes, { namespace: 'fo', replicaWait: { replicas: 1, timeoutMs: 500 } });
}, 120_000);

afterAll(async () => {
  writes?.disconnect();
  await stores?.stop();
});

/** Which acknowledged holds the cluster no longer has (or has under another hold id). */
async function lostOf(acknowledged: ReadonlyMap<string, number>): Promise<string[]> {
  const lost: string[] = [];
  for (const [candidateId, holdId] of acknowledged) {
    const item = (await reader.registration(PROVINCE, candidateId))?.written.find(
      (w) => w.subject === 'CET4',
    );
    if (item?.holdId !== holdId || item.status !== 'HELD') lost.push(candidateId);
  }
  return lost;
}

it('kill -9 of a master mid-stream with REDIS_WAIT_REPLICAS=1 loses 0 acknowledged holds', async () => {
  const provinceKey = engine.keys.province(PROVINCE).stream;
  const before = await stores.cluster.shardOf(provinceKey);
  expect(before.replicas).toHaveLength(1);
  const [replica] = before.replicas;

  // a subscriber connection, as the session caches and the seat hub hold one: it must be told when
  // a node leaves the pool (its subscription may have been there; they forget or resync on it)
  const subscriber = stores.client.duplicate();
  await subscriber.subscribe('fo:probe');
  const nodeLeft = new Promise<string>((resolve) =>
    subscriber.once('-node', (node: { options: { host?: string; port?: number } }) =>
      resolve(`${node.options.host}:${node.options.port}`),
    ),
  );

  const acknowledged = new Map<string, number>();
  const failures = new Map<string, number>();
  let killing: Promise<void> | undefined;
  const stream = runPool(0, CANDIDATES, 4, async (n) => {
    const candidateId = `fo${n}`;
    for (;;) {
      const held = await engine
        .reserveWritten({
          accountId: accountOf(n),
          provinceCode: PROVINCE,
          candidateId,
          subject: 'CET4',
          eligible: true,
          fee: 30,
          now: T0 + 1,
          requestTag: `request-${candidateId}`,
        })
        .catch((error: unknown) => {
          const kind = error instanceof ReplicationTimeoutError ? error.code : 'OTHER';
          failures.set(kind, (failures.get(kind) ?? 0) + 1);
          return null;
        });
      if (held === null) {
        await sleep(100); // a client's pause before its retry
        continue;
      }
      // seats for every candidate: any refusal is a defect (a retry refused as ALREADY_REGISTERED
      // would be a hold whose request tag was lost)
      if (!held.ok) throw new Error(`${candidateId}: ${held.code}`);
      acknowledged.set(candidateId, held.item.holdId);
      if (acknowledged.size === KILL_AT) killing = stores.cluster.kill(before.master);
      await sleep(20); // a stream, not a burst: the kill lands mid-way
      return;
    }
  });

  // a refusal ends the stream: let it fail the test at once, not after the wait's timeout
  await Promise.race([
    stream,
    waitFor(() => killing !== undefined, { timeoutMs: 30_000, message: `${KILL_AT} acknowledged holds` }),
  ]);
  await killing;
  const killedAt = performance.now();
  await waitFor(
    async () => (await stores.cluster.shardOf(provinceKey).catch(() => null))?.master.port === replica?.port,
    { timeoutMs: 20_000, intervalMs: 100, message: "the replica's promotion" },
  );
  const promotedAfterMs = performance.now() - killedAt;
  const left = await Promise.race([nodeLeft, sleep(20_000).then(() => 'no -node event in 20 s')]);
  expect(left).toBe(`${before.master.host}:${before.master.port}`);
  subscriber.disconnect();
  expect(promotedAfterMs).toBeLessThan(20_000);
  // what was acknowledged until now is on the promoted master
  const acknowledgedAtPromotion = new Map(acknowledged);
  expect(acknowledgedAtPromotion.size).toBeGreaterThanOrEqual(KILL_AT);
  expect(await lostOf(acknowledgedAtPromotion)).toEqual([]);
  expect(acknowledged.size, 'the stream was still running').toBeLessThan(CANDIDATES);

  // the killed node back from its AOF: it rejoins as the promoted master's replica
  await stores.cluster.restart(before.master);
  await stores.cluster.waitReady();
  const after = await stores.cluster.shardOf(provinceKey);
  expect([after.master.port, after.replicas.map((node) => node.port)]).toEqual([
    replica?.port,
    [before.master.port],
  ]);
  await stream;

  // the promoted master alone could not have a write replicated: it answered timeouts, not holds
  expect(failures.get('REPLICATION_TIMEOUT') ?? 0).toBeGreaterThan(0);
  expect(acknowledged.size).toBe(CANDIDATES);
  expect(await lostOf(acknowledged)).toEqual([]);
  const invariants = await checkInvariants(reader, [PROVINCE]);
  expect(invariants.violations).toEqual([]);
  expect(invariants.seatsUsed).toBe(CANDIDATES);
}, 90_000);
