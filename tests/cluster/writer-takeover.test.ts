/**
 * Issue 14 item 2, REL3 on a Redis Cluster: two writer processes (scripts/writer.ts with
 * REDIS_CLUSTER_NODES) share the outbox streams of three provinces on three masters through the
 * consumer group, each reading every stream on its master (db/writer.ts). Mid-drain — events
 * already in PostgreSQL, the rest behind a lock the test holds on `events`, so that both writers
 * are caught holding batches read and not acknowledged — one is killed with `kill -9`; the other
 * takes its entries over with XAUTOCLAIM once they are idle for WRITER_CLAIM_IDLE_MS. PostgreSQL
 * ends with exactly the events the streams hold (0 missing, 0 duplicates, I5), nothing stays
 * pending, and reconcile finds no difference.
 * And two live writers on one stream: an update read while its creating event is still in the
 * other writer's hands is deferred, then written by its own writer within a moment of the other's
 * commit (db/writer.ts retryDeferred), not after WRITER_CLAIM_IDLE_MS (30 s by default).
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { reconcile } from '../../db/reconcile.ts';
import { Engine } from '../../engine/engine.ts';
import { StreamWriter } from '../../db/writer.ts';
import { eventIdOf } from '../../engine/events.ts';
import { WRITER_GROUP } from '../../engine/outbox.ts';
import { campus, loadFixture, openWindow, T0 } from '../support/engine.ts';
import { startPrivateCluster, type PrivateCluster } from '../support/cluster.ts';
import { waitFor } from '../support/wait.ts';
import {
  bindAndHold,
  eventCount,
  nothingPending,
  persistenceDb,
  runPool,
  seedWorld,
  spawnWriter,
  streamTotal,
  type PersistenceDb,
} from '../persistence/support.ts';

/** Candidates per province: three provinces, each a bind and a hold per candidate. */
const PER_PROVINCE = 1_500;
const PROVINCES = [
  {
    code: '11',
    prefix: 'a',
    campus: campus({ campusId: 'WT11', provinceCode: '11', capacity: { CET4: 2_000 } }),
  },
  {
    code: '31',
    prefix: 'b',
    campus: campus({ campusId: 'WT31', provinceCode: '31', capacity: { CET4: 2_000 } }),
  },
  {
    code: '44',
    prefix: 'c',
    campus: campus({ campusId: 'WT44', provinceCode: '44', capacity: { CET4: 2_000 } }),
  },
];
const NAMESPACE = 'wt';

let stores: PrivateCluster;
let pg: PersistenceDb;
let engine: Engine;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  stores = await startPrivateCluster();
  pg = await persistenceDb();
  engine = new Engine(stores.client, { namespace: NAMESPACE });
  await loadFixture(engine, {
    calendar: PROVINCES.map((p) => openWindow(p.code)),
    campuses: PROVINCES.map((p) => p.campus),
  });
  // candidates <prefix><n>, n over disjoint ranges per province, so that accounts 1000000 + n differ
  for (const p of PROVINCES) await seedWorld(pg.db, [p.campus], p.prefix, PROVINCES.length * PER_PROVINCE);
  // the burst, before any writer runs: every writer then starts with a backlog on every master
  await runPool(0, PROVINCES.length * PER_PROVINCE, 48, async (n) => {
    const p = PROVINCES[Math.floor(n / PER_PROVINCE)]!;
    await bindAndHold(engine, p.prefix, n, p.campus.campusId, T0, p.code);
  });
}, 120_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await pg?.close();
  await stores?.stop();
});

const startWriter = (consumer: string): ChildProcess =>
  spawnWriter(children, consumer, {
    REDIS_URL: '',
    REDIS_CLUSTER_NODES: stores.nodes,
    DATABASE_URL: pg.url,
    KEY_NAMESPACE: NAMESPACE,
    WRITER_BATCH_SIZE: '50',
  });

/** Entries the group delivered to `consumer` and that are not acknowledged, over `streams`. */
async function pendingWith(streams: readonly string[], consumer: string): Promise<number> {
  let total = 0;
  for (const stream of streams) {
    const [, , , consumers] = (await stores.client.xpending(stream, WRITER_GROUP)) as [
      number,
      string | null,
      string | null,
      [string, string][] | null,
    ];
    total += Number(consumers?.find(([name]) => name === consumer)?.[1] ?? 0);
  }
  return total;
}

/** The writers' published stats (db/writer.ts publishStats), by consumer. */
async function writerStats(): Promise<Record<string, { written: number; claimed: number }>> {
  const raw = await stores.client.hgetall(engine.keys.writerStats);
  return Object.fromEntries(Object.entries(raw).map(([name, json]) => [name, JSON.parse(json)]));
}

it('two writers share the streams of three masters; kill -9 of one mid-drain loses and doubles nothing', async () => {
  const streams = engine.keys.allStreams(PROVINCES.map((p) => p.code));
  const masters = new Set(
    await Promise.all(
      PROVINCES.map(
        async (p) => (await stores.cluster.shardOf(engine.keys.province(p.code).stream)).master.port,
      ),
    ),
  );
  expect(masters.size).toBe(3);
  const total = await streamTotal(engine, streams);
  expect(total).toBeGreaterThanOrEqual(2 * PROVINCES.length * PER_PROVINCE);

  const victim = startWriter('w1');
  startWriter('w2');
  await waitFor(async () => (await eventCount(pg.db)) >= 500, {
    timeoutMs: 30_000,
    intervalMs: 50,
    message: 'the writers to start draining',
  });
  // mid-drain: with `events` locked, each writer's next batch waits in its INSERT, read and not
  // acknowledged; the group has spread the streams' entries over both
  const locker = await pg.db.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE events IN EXCLUSIVE MODE');
  let held: { w1: number; w2: number };
  try {
    held = await waitFor(
      async () => {
        const both = { w1: await pendingWith(streams, 'w1'), w2: await pendingWith(streams, 'w2') };
        return both.w1 > 0 && both.w2 > 0 ? both : null;
      },
      { timeoutMs: 20_000, intervalMs: 50, message: 'both writers holding a batch' },
    );
    const exited = new Promise((resolve) => victim.once('exit', resolve));
    victim.kill('SIGKILL');
    await exited;
  } finally {
    await locker.query('ROLLBACK');
    locker.release();
  }
  const inPostgresAtKill = await eventCount(pg.db);
  console.log('writer takeover', JSON.stringify({ total, held, inPostgresAtKill }));
  expect(inPostgresAtKill).toBeGreaterThanOrEqual(500);
  expect(inPostgresAtKill).toBeLessThan(total);

  await waitFor(async () => (await eventCount(pg.db)) >= total, {
    timeoutMs: 40_000,
    intervalMs: 100,
    message: 'every event in PostgreSQL',
  });
  await nothingPending(stores.client, streams);
  expect(await pendingWith(streams, 'w1')).toBe(0);
  await waitFor(async () => ((await writerStats()).w2?.claimed ?? 0) > 0, {
    timeoutMs: 5_000,
    intervalMs: 100,
    message: "w2's stats to show the entries it claimed",
  });

  // exactly the events the streams hold: none missing, none extra (the primary key rules out duplicates)
  const ids = new Set<string>();
  for (const stream of streams) {
    for (const [id] of await stores.client.xrange(stream, '-', '+')) ids.add(eventIdOf(stream, id));
  }
  const { rows } = await pg.db.query<{ event_id: string }>(`SELECT event_id FROM events`);
  expect(rows.length).toBe(ids.size);
  expect(rows.filter((row) => !ids.has(row.event_id))).toEqual([]);
  const items = await pg.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM registration_items WHERE status = 'HELD'`,
  );
  expect(Number(items.rows[0]!.n)).toBe(PROVINCES.length * PER_PROVINCE);

  const report = await reconcile(engine, pg.db, { provinces: PROVINCES.map((p) => p.code), streams });
  expect(report.differences).toEqual([]);
  expect(report.alerts).toEqual([]);
}, 60_000);

it("two live writers on one stream: an update behind the other writer's batch lands within a moment", async () => {
  // a namespace and province of its own: the writers above never see these streams
  const shared = new Engine(stores.client, { namespace: 'ws' });
  const stream = shared.keys.province('51').stream;
  const streams = shared.keys.allStreams(['51']);
  const C51 = campus({ campusId: 'WS51', provinceCode: '51', capacity: { CET4: 10 } });
  await loadFixture(shared, { calendar: [openWindow('51')], campuses: [C51] });
  // an account beyond those bound above (accounts 1000000 + n)
  const n = PROVINCES.length * PER_PROVINCE;
  await seedWorld(pg.db, [C51], 'd', n + 1);
  // … BOUND, HELD, then a CANCELLED that needs the HELD's item row
  const ref = await bindAndHold(shared, 'd', n, C51.campusId, T0, '51');
  expect((await shared.cancel({ ...ref, subject: 'CET4', now: T0 + 2 })).ok).toBe(true);

  const first = new StreamWriter(stores.client, pg.db, { streams, consumer: 'wa' });
  const second = new StreamWriter(stores.client, pg.db, { streams, consumer: 'wb', idleMs: 50 });
  try {
    // the first writer has read everything but the CANCELLED, and has not committed it yet
    await first.ensureGroups();
    const total = await stores.client.xlen(stream);
    await stores.client.xreadgroup('GROUP', WRITER_GROUP, 'wa', 'COUNT', total - 1, 'STREAMS', stream, '>');
    second.start();
    await waitFor(() => second.current.deferred > 0, {
      timeoutMs: 10_000,
      message: 'the second writer to defer the CANCELLED (its HELD is with the first)',
    });
    const committedAt = performance.now();
    await first.drainOnce('0'); // the first writer commits and acknowledges its batch
    await waitFor(
      async () => {
        const { rows } = await pg.db.query<{ n: string }>(
          `SELECT count(*) AS n FROM events WHERE event_id LIKE 'p51/%' AND type = 'CANCELLED'`,
        );
        return Number(rows[0]!.n) === 1;
      },
      { timeoutMs: 5_000, intervalMs: 20, message: 'the deferred CANCELLED in PostgreSQL' },
    );
    const landedAfterMs = Math.round(performance.now() - committedAt);
    console.log('deferred update', JSON.stringify({ landedAfterMs }));
    expect(landedAfterMs).toBeLessThan(5_000); // WRITER_CLAIM_IDLE_MS is 30 s
    await nothingPending(stores.client, streams);
    const items = await pg.db.query(`SELECT status FROM registration_items WHERE candidate_id = $1`, [
      ref.candidateId,
    ]);
    expect(items.rows).toEqual([{ status: 'CANCELLED' }]);
    expect(second.current.deadLetters).toBe(0);
  } finally {
    await Promise.all([first.stop(), second.stop()]);
  }
});
