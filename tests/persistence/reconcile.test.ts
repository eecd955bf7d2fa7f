/**
 * Reconcile: reports every difference between Redis and PostgreSQL, `--repair` re-delivers events
 * still in the stream (the writer's code path) and rebuilds from Redis what is gone from the stream;
 * the command exits non-zero while drift remains.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { reconcile } from '../../db/reconcile.ts';
import { StreamWriter } from '../../db/writer.ts';
import { decodeEvent } from '../../engine/events.ts';
import { campus, loadFixture, newTestEngine, T0, type TestEngine } from '../support/engine.ts';
import { redisUrl } from '../support/env.ts';
import { bindN, drain, persistenceDb, seedWorld, type PersistenceDb } from './support.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const C1 = campus({ campusId: 'PC1', schoolId: 'SPC1', capacity: { CET4: 100 } });
const run = promisify(execFile);

let te: TestEngine;
let pg: PersistenceDb;

beforeAll(async () => {
  te = await newTestEngine();
  pg = await persistenceDb();
  await loadFixture(te.engine, { campuses: [C1] });
  await seedWorld(pg.db, [C1], 'c', 10);
});

afterAll(async () => {
  await te?.close();
  await pg?.close();
});

async function cli(args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/reconcile.ts', '--province', '11', ...args],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          REDIS_URL: redisUrl(),
          DATABASE_URL: pg.url,
          KEY_NAMESPACE: te.namespace,
          LOG_LEVEL: 'error',
        },
      },
    );
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

it('reports drift, repairs it (re-delivery, then rebuild from Redis), and exits non-zero while drift remains', async () => {
  const { engine } = te;
  const streams = engine.keys.allStreams(['11']);
  for (let n = 0; n < 6; n++) {
    const ref = await bindN(engine, 'c', n, C1.campusId, T0);
    expect(
      (await engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 + 1 })).ok,
    ).toBe(true);
  }
  const writer = new StreamWriter(te.redis, pg.db, { streams, consumer: 'rc' });
  await drain(writer);
  await writer.stop();
  expect((await reconcile(engine, pg.db, { provinces: ['11'], streams })).differences).toEqual([]);
  expect((await cli([])).code).toBe(0);

  // drift 1: c0's events lost by PostgreSQL (still in the stream)
  await pg.db.query(`DELETE FROM registration_items WHERE candidate_id = 'c0'`);
  await pg.db.query(`DELETE FROM registrations WHERE candidate_id = 'c0'`);
  await pg.db.query(`DELETE FROM events WHERE data->>'candidateId' = 'c0'`);
  // drift 2: c1's events gone from PostgreSQL and from the stream
  const stream = engine.keys.province('11').stream;
  for (const [id, fields] of await te.redis.xrange(stream, '-', '+')) {
    if (decodeEvent(stream, id, fields).data.candidateId === 'c1') await te.redis.xdel(stream, id);
  }
  await pg.db.query(`DELETE FROM registration_items WHERE candidate_id = 'c1'`);
  await pg.db.query(`DELETE FROM registrations WHERE candidate_id = 'c1'`);
  // drift 3: a row that says something else than Redis
  await pg.db.query(
    `UPDATE registration_items SET status = 'CANCELLED', ended_at = held_at WHERE candidate_id = 'c2'`,
  );

  const drift = await reconcile(engine, pg.db, { provinces: ['11'], streams });
  const kinds = drift.differences.map((d) => `${d.kind}:${d.kind === 'EVENT' ? 'c0' : d.key}`).sort();
  expect(kinds).toEqual(
    [
      'EVENT:c0',
      'EVENT:c0',
      'ITEM:p11/1',
      'ITEM:p11/2',
      'ITEM:p11/3',
      `REGISTRATION:c0/${T0}`,
      `REGISTRATION:c1/${T0}`,
      `SEATS:${C1.campusId}|CET4`,
    ].sort(),
  );
  const before = await cli([]);
  expect(before.code).toBe(1);
  expect(before.stdout).toContain('"kind":"SEATS"');

  const repaired = await cli(['--repair']);
  expect(repaired.code, repaired.stdout).toBe(0);
  const summary = JSON.parse(repaired.stdout.trim().split('\n').pop()!) as Record<string, number>;
  expect(summary.drift).toBe(0);
  expect(summary.redeliveredEvents).toBe(2);
  expect(summary.rebuiltRows).toBeGreaterThanOrEqual(3);
  expect((await cli([])).code).toBe(0);
  const items = await pg.db.query(`SELECT candidate_id, status FROM registration_items ORDER BY 1`);
  expect(items.rows.every((row) => row.status === 'HELD')).toBe(true);
  expect(items.rows).toHaveLength(6);
}, 120_000);
