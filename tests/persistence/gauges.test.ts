/**
 * The persistence gauges of /metrics (gateway/metrics.ts readPersistenceGauges): writer lag (events
 * not yet in PostgreSQL and the age of the oldest), dead letters, sweeper lag.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StreamWriter } from '../../db/writer.ts';
import { persistenceMetricsText, readPersistenceGauges } from '../../gateway/metrics.ts';
import { campus, loadFixture, newTestEngine, T0, type TestEngine } from '../support/engine.ts';
import { sleep } from '../support/wait.ts';
import { bindN, drain, persistenceDb, seedWorld, type PersistenceDb } from './support.ts';

const C1 = campus({ campusId: 'PG1', schoolId: 'SPG1', capacity: { CET4: 10 } });
let te: TestEngine;
let pg: PersistenceDb;

beforeAll(async () => {
  te = await newTestEngine({ holdMs: 60_000 });
  pg = await persistenceDb();
  await loadFixture(te.engine, { campuses: [C1] });
  await seedWorld(pg.db, [C1], 'g', 5);
});

afterAll(async () => {
  await te?.close();
  await pg?.close();
});

it('reports writer lag, dead letters and sweeper lag', async () => {
  const { engine } = te;
  const streams = engine.keys.allStreams(['11']);
  const dueSets = [engine.keys.province('11').dueSet];
  const ref = await bindN(engine, 'g', 0, C1.campusId, T0);
  expect(
    (await engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 })).ok,
  ).toBe(true);
  await sleep(20); // the oldest event gets an age

  const before = await readPersistenceGauges(te.redis, streams, dueSets, T0);
  expect(before.writerLagEvents).toBe(4); // CALENDAR_SET, CAMPUS_UPSERTED, BOUND, HELD
  expect(before.writerLagSeconds).toBeGreaterThan(0);
  expect(before.deadLetters).toBe(0);
  expect(before.sweeperLagSeconds).toBe(0);

  await te.redis.xadd(engine.keys.province('11').stream, '*', 'garbage', '1');
  const writer = new StreamWriter(te.redis, pg.db, { streams, consumer: 'g' });
  await drain(writer);
  await writer.stop();
  const after = await readPersistenceGauges(te.redis, streams, dueSets, T0 + 60_000 + 10_000);
  expect(after.writerLagEvents).toBe(0);
  expect(after.writerLagSeconds).toBe(0);
  expect(after.deadLetters).toBe(1);
  expect(after.sweeperLagSeconds).toBeGreaterThan(5); // the hold's pay-by passed, not swept yet
  const text = persistenceMetricsText(after);
  expect(text).toMatch(/^writer_dead_letters 1$/m);
  expect(text).toMatch(/^writer_lag_events 0$/m);
  expect(text).toMatch(/^sweeper_lag_seconds \d/m);
});
