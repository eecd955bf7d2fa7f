/**
 * REL2 / REL3 faults with private servers:
 *  - PostgreSQL stopped in the middle of a burst and started again (same port, same data): the
 *    writer backs off (transient SQLSTATE / connection errors), resumes, loses nothing;
 *  - `kill -9` of a private Redis (AOF, appendfsync always) in the middle of a burst of
 *    reservations, restarted from its AOF: every reservation the client saw acknowledged is still
 *    there, no seat is counted twice (checkInvariants), and the writer delivers all of them; every
 *    call retried with its request tag until answered gets the seat its first attempt took (REL4).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { reconcile } from '../../db/reconcile.ts';
import { StreamWriter } from '../../db/writer.ts';
import { Engine } from '../../engine/index.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { startRedisServer, startStack, type RedisServerHandle, type Stack } from '../../devstack/index.ts';
import { campus, loadFixture, newTestEngine, T0 } from '../support/engine.ts';
import { sleep, waitFor } from '../support/wait.ts';
import {
  bindN,
  eventCount,
  nothingPending,
  persistenceDb,
  runPool,
  seedWorld,
  streamTotal,
} from './support.ts';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

it('PostgreSQL stopped mid-burst and started again: the writer backs off, resumes, loses nothing', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pg-fault-'));
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const stack: Stack = await startStack({ redis: false, postgres: true, dataDir, quiet: true, env });
  cleanups.push(async () => {
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const pg = await persistenceDb(stack.databaseUrl);
  cleanups.push(() => pg.close());
  const CANDIDATES = 5_000;
  const C1 = campus({ campusId: 'PF1', schoolId: 'SPF1', capacity: { CET4: CANDIDATES } });
  await seedWorld(pg.db, [C1], 'f', CANDIDATES);
  const te = await newTestEngine();
  cleanups.push(() => te.close());
  await loadFixture(te.engine, { campuses: [C1] });
  const streams = te.engine.keys.allStreams(['11']);
  const errors: unknown[] = [];
  const writer = new StreamWriter(te.redis, pg.db, {
    streams,
    consumer: 'pgf',
    batchSize: 200,
    backoffBaseMs: 20,
    backoffMaxMs: 500,
    onError: (error) => errors.push(error),
  });
  writer.start();
  cleanups.push(() => writer.stop());

  let burstDone = false;
  const burst = runPool(0, CANDIDATES, 32, async (n) => {
    const ref = await bindN(te.engine, 'f', n, C1.campusId, T0);
    const held = await te.engine.reserveWritten({
      ...ref,
      subject: 'CET4',
      eligible: true,
      fee: 30,
      now: T0 + 1,
    });
    if (!held.ok) throw new Error(held.code);
  }).finally(() => {
    burstDone = true;
  });
  await waitFor(async () => (await eventCount(pg.db)) >= 1_000, {
    timeoutMs: 60_000,
    intervalMs: 100,
    message: 'first events',
  });
  await stack.postgres!.stop();
  const stoppedMidBurst = !burstDone;
  // down long enough for the writer to fail and back off a few times
  const retriesBefore = writer.current.retries;
  await waitFor(() => writer.current.retries >= retriesBefore + 3, {
    timeoutMs: 30_000,
    message: 'the writer retrying while PostgreSQL is down',
  });
  await stack.postgres!.restart();
  await burst;
  expect(stoppedMidBurst).toBe(true);
  const total = await streamTotal(te.engine, streams);
  await waitFor(async () => (await eventCount(pg.db).catch(() => -1)) >= total, {
    timeoutMs: 120_000,
    intervalMs: 100,
    message: 'every event',
  });
  await nothingPending(te.redis, streams);
  expect(await eventCount(pg.db)).toBe(total);
  expect(writer.current.deadLetters).toBe(0);
  const report = await reconcile(te.engine, pg.db, { provinces: ['11'], streams });
  expect(report.differences).toEqual([]);
}, 300_000);

it('kill -9 of Redis (AOF always) mid-burst: acknowledged reservations survive, no seat twice, all reach PostgreSQL', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'redis-fault-'));
  const server: RedisServerHandle = await startRedisServer({ dir, appendfsync: 'always' });
  cleanups.push(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const redis = new Redis(server.url, {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  });
  redis.on('error', () => undefined);
  const writerRedis = new Redis(server.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
  writerRedis.on('error', () => undefined);
  cleanups.push(async () => {
    redis.disconnect();
    writerRedis.disconnect();
  });
  const engine = new Engine(redis, { namespace: 'rk' });
  const pg = await persistenceDb();
  cleanups.push(() => pg.close());
  const CANDIDATES = 3_000;
  const SEATS = 2_000; // fewer seats than candidates: SOLD_OUT must hold across the crash too
  const C1 = campus({ campusId: 'PR1', schoolId: 'SPR1', capacity: { CET4: SEATS } });
  await seedWorld(pg.db, [C1], 'r', CANDIDATES);
  await loadFixture(engine, { campuses: [C1] });
  await runPool(0, CANDIDATES, 32, (n) => bindN(engine, 'r', n, C1.campusId, T0));

  const streams = engine.keys.allStreams(['11']);
  const writer = new StreamWriter(writerRedis, pg.db, {
    streams,
    consumer: 'rk',
    batchSize: 200,
    idleMs: 100,
  });
  writer.start();
  cleanups.push(() => writer.stop());

  const acknowledged: string[] = [];
  const refusedAsTaken: string[] = [];
  let failed = 0;
  let replayed = 0;
  let killed = false;
  // each call retried with the same request tag until it has a final answer, as a client retries
  // with its Idempotency-Key (REL4): a hold whose answer died with Redis is answered on the retry
  const burst = runPool(0, CANDIDATES, 16, async (n) => {
    for (;;) {
      try {
        const held = await engine.reserveWritten({
          accountId: String(1_000_000 + n),
          provinceCode: '11',
          candidateId: `r${n}`,
          subject: 'CET4',
          eligible: true,
          fee: 30,
          now: T0 + 1,
          requestTag: `request-r${n}`,
        });
        if (held.ok) acknowledged.push(`r${n}`);
        if (held.ok && held.replayed) replayed++;
        if (!held.ok && held.code === 'ALREADY_REGISTERED') refusedAsTaken.push(`r${n}`);
        return;
      } catch {
        failed++;
        await sleep(50);
      }
    }
  });
  await waitFor(async () => acknowledged.length >= 500, {
    timeoutMs: 60_000,
    intervalMs: 100,
    message: 'first reservations',
  });
  await server.kill('SIGKILL');
  killed = true;
  const acknowledgedBeforeKill = acknowledged.length;
  await sleep(300); // down for a while: the clients' calls fail meanwhile
  await server.restart();
  await burst;
  expect(killed).toBe(true);
  expect(acknowledgedBeforeKill).toBeLessThan(SEATS);

  // every acknowledged reservation is still there
  for (const candidateId of acknowledged) {
    const reg = await engine.registration('11', candidateId);
    expect(reg?.written.find((item) => item.subject === 'CET4')?.status, candidateId).toBe('HELD');
  }
  const invariants = await checkInvariants(engine, ['11']);
  expect(invariants.violations).toEqual([]);
  expect(invariants.seatsUsed).toBeLessThanOrEqual(SEATS);
  // REL4: no retry was refused for the seat its own first attempt took, and every seat taken was
  // acknowledged to the one who asked for it
  expect(refusedAsTaken).toEqual([]);
  expect(invariants.liveItems).toBe(acknowledged.length);
  expect(new Set(acknowledged).size).toBe(acknowledged.length);

  // and the writer delivers all of them
  const total = await streamTotal(engine, streams);
  await waitFor(async () => (await eventCount(pg.db)) >= total, {
    timeoutMs: 120_000,
    intervalMs: 100,
    message: 'every event',
  });
  const { rows } = await pg.db.query<{ candidate_id: string }>(
    `SELECT candidate_id FROM registration_items WHERE status = 'HELD' AND subject = 'CET4'`,
  );
  const inPostgres = new Set(rows.map((row) => row.candidate_id));
  expect(acknowledged.filter((candidateId) => !inPostgres.has(candidateId))).toEqual([]);
  const report = await reconcile(engine, pg.db, { provinces: ['11'], streams });
  expect(report.differences).toEqual([]);
  console.log(
    'redis kill',
    JSON.stringify({ acknowledgedBeforeKill, acknowledged: acknowledged.length, failed, replayed, total }),
  );
}, 300_000);
