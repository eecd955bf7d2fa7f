/**
 * The writer's acknowledgement fails after its write committed (issue 14 item 3: a master killed
 * between the COMMIT and the XACK; the entries stay pending on the promoted master, for this
 * consumer). The writer reads its own pending entries again as soon as Redis answers, instead of
 * leaving them to XAUTOCLAIM after `claimIdleMs` (here a minute, past the test's wait): the
 * demo's writer lag after a failover was that idle time. Rewriting them changes nothing (I5).
 *
 * The failure is planted with an ACL rule that refuses XACK, on a private redis-server (an ACL
 * change on a shared one would reach every other test file).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StreamWriter } from '../../db/writer.ts';
import { redisCommand, startRedisServer, type RedisServerHandle } from '../../devstack/index.ts';
import { Engine } from '../../engine/engine.ts';
import { campus, loadFixture, T0 } from '../support/engine.ts';
import { waitFor } from '../support/wait.ts';
import {
  bindAndHold,
  eventCount,
  pendingOf,
  persistenceDb,
  seedWorld,
  type PersistenceDb,
} from './support.ts';

const C1 = campus({ campusId: 'AF1', schoolId: 'SAF1', capacity: { CET4: 20 } });

let dir: string;
let server: RedisServerHandle;
let redis: Redis;
let pg: PersistenceDb;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'writer-ack-'));
  server = await startRedisServer({ dir });
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  pg = await persistenceDb();
  await seedWorld(pg.db, [C1], 'af', 10);
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
  await pg?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('an XACK refused after the COMMIT: its entries are acknowledged once Redis takes XACK again, not after claimIdleMs', async () => {
  const engine = new Engine(redis, { namespace: 'af' });
  await loadFixture(engine, { campuses: [C1] });
  const stream = engine.keys.province('11').stream;
  const writer = new StreamWriter(redis, pg.db, {
    streams: [stream],
    consumer: 'af-writer',
    claimIdleMs: 60_000,
    claimIntervalMs: 60_000,
    idleMs: 50,
  });
  await writer.drainOnce('>'); // the group exists, the fixture's events are written
  await redisCommand(server.port, ['ACL', 'SETUSER', 'default', '-xack']);
  writer.start();
  try {
    for (let n = 0; n < 10; n++) await bindAndHold(engine, 'af', n, C1.campusId, T0);
    const written = await eventCount(pg.db);
    // written to PostgreSQL, not acknowledged: pending for this consumer
    await waitFor(async () => (await pendingOf(redis, stream)) > 0 && (await eventCount(pg.db)) >= written, {
      timeoutMs: 10_000,
      message: 'entries written and left pending',
    });
    await redisCommand(server.port, ['ACL', 'SETUSER', 'default', '+xack']);
    await waitFor(async () => (await pendingOf(redis, stream)) === 0, {
      timeoutMs: 10_000,
      intervalMs: 100,
      message: "the writer's own pending entries acknowledged",
    });
    const stats = writer.current;
    expect(stats.errors).toBeGreaterThan(0);
    expect(stats.deadLetters).toBe(0);
  } finally {
    await redisCommand(server.port, ['ACL', 'SETUSER', 'default', '+xack']);
    await writer.stop();
  }
}, 60_000);
