/**
 * REL3, the writer: `kill -9` of a writer process (tsx scripts/writer.ts) twice in the middle of a
 * burst of 50,000 events (25,000 candidates × BOUND + HELD, plus the fixture's two), restarted once under the same consumer name (re-reads its own
 * pending entries) and once under another (claims the dead one's entries with XAUTOCLAIM).
 * PostgreSQL ends with exactly the events Redis produced (0 missing, 0 duplicates), and reconcile
 * reports no drift.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { reconcile } from '../../db/reconcile.ts';
import { eventIdOf } from '../../engine/events.ts';
import { campus, loadFixture, newTestEngine, T0, type TestEngine } from '../support/engine.ts';
import { redisUrl } from '../support/env.ts';
import {
  bindAndHold,
  eventCount,
  nothingPending,
  pendingOf,
  persistenceDb,
  runPool,
  seedWorld,
  spawnWriter,
  streamTotal,
  type PersistenceDb,
} from './support.ts';
import { waitFor } from '../support/wait.ts';

const CANDIDATES = 25_000;
const C1 = campus({ campusId: 'PK1', schoolId: 'SPK1', capacity: { CET4: CANDIDATES } });

let te: TestEngine;
let pg: PersistenceDb;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  te = await newTestEngine();
  pg = await persistenceDb();
  await loadFixture(te.engine, { campuses: [C1] });
  await seedWorld(pg.db, [C1], 'k', CANDIDATES);
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await te?.close();
  await pg?.close();
});

const startWriter = (consumer: string): ChildProcess =>
  spawnWriter(children, consumer, {
    REDIS_URL: redisUrl(),
    DATABASE_URL: pg.url,
    KEY_NAMESPACE: te.namespace,
    WRITER_BATCH_SIZE: '500',
  });

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

it(`kill -9 of the writer mid-burst (${2 * CANDIDATES} events): PostgreSQL ends exactly equal to the streams`, async () => {
  const { engine } = te;
  const streams = engine.keys.allStreams(['11']);
  let writer = startWriter('w1');
  let burstDone = false;
  const kills: { midBurst: boolean; inPostgres: number }[] = [];
  const burst = runPool(0, CANDIDATES, 64, async (n) => {
    await bindAndHold(engine, 'k', n, C1.campusId, T0);
  }).finally(() => {
    burstDone = true;
  });

  await waitFor(async () => (await eventCount(pg.db)) >= 5_000, {
    timeoutMs: 60_000,
    intervalMs: 100,
    message: 'first events in PostgreSQL',
  });
  await kill9(writer);
  kills.push({ midBurst: !burstDone, inPostgres: await eventCount(pg.db) });
  writer = startWriter('w1'); // same name: re-reads its own pending entries
  await waitFor(async () => (await eventCount(pg.db)) >= 20_000, {
    timeoutMs: 60_000,
    intervalMs: 100,
    message: 'more events in PostgreSQL',
  });
  await kill9(writer);
  kills.push({ midBurst: !burstDone, inPostgres: await eventCount(pg.db) });
  writer = startWriter('w2'); // another name: claims w1's entries once idle
  await burst;
  expect(kills[0]!.midBurst).toBe(true);
  console.log('writer kills', JSON.stringify(kills));

  const total = await streamTotal(engine, streams);
  expect(total).toBe(2 * CANDIDATES + 2); // + CALENDAR_SET, CAMPUS_UPSERTED
  await waitFor(async () => (await eventCount(pg.db)) >= total, {
    timeoutMs: 120_000,
    intervalMs: 100,
    message: 'every event in PostgreSQL',
  });
  // and acknowledged in Redis (the writer acknowledges after the insert)
  await nothingPending(engine.redis, streams);
  const exited = new Promise((resolve) => writer.once('exit', resolve));
  writer.kill('SIGTERM');
  await exited;

  // exactly the events Redis produced: none missing, none extra (the primary key rules out duplicates)
  const ids = new Set<string>();
  for (const stream of streams) {
    for (const [id] of await engine.redis.xrange(stream, '-', '+')) ids.add(eventIdOf(stream, id));
  }
  const { rows } = await pg.db.query<{ event_id: string }>(`SELECT event_id FROM events`);
  expect(rows.length).toBe(ids.size);
  expect(rows.filter((row) => !ids.has(row.event_id))).toEqual([]);
  for (const stream of streams) expect(await pendingOf(engine.redis, stream)).toBe(0);
  const items = await pg.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM registration_items WHERE status = 'HELD'`,
  );
  expect(Number(items.rows[0]!.n)).toBe(CANDIDATES);

  const report = await reconcile(engine, pg.db, { provinces: ['11'], streams });
  expect(report.differences).toEqual([]);
}, 300_000);
