/**
 * The writer's lanes as loops of their own (`lanes` > 1, `start()`): four provinces' streams and the
 * account shards' streams (20 in all) over three lanes, candidates bound (events on both kinds of
 * stream) and holding written seats while it runs.
 * Every event lands once, PostgreSQL's projections equal Redis's state (I5), nothing stays pending,
 * and stop() ends every lane.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compareState } from '../../db/reconcile.ts';
import { StreamWriter } from '../../db/writer.ts';
import { campus, loadFixture, newTestEngine, openWindow, T0, type TestEngine } from '../support/engine.ts';
import {
  bindAndHold,
  eventCount,
  pendingOf,
  persistenceDb,
  seedWorld,
  streamTotal,
  type PersistenceDb,
} from './support.ts';
import { waitFor } from '../support/wait.ts';

const PROVINCES = ['11', '31', '44', '51'] as const;
const PER_PROVINCE = 60;
const CAMPUSES = PROVINCES.map((provinceCode) => campus({ campusId: `L${provinceCode}`, provinceCode }));

let te: TestEngine;
let pg: PersistenceDb;

beforeAll(async () => {
  te = await newTestEngine();
  pg = await persistenceDb();
  await loadFixture(te.engine, { calendar: PROVINCES.map((code) => openWindow(code)), campuses: CAMPUSES });
  // roster rows `l<code>-<n>` per province; accounts 0 … 4 × PER_PROVINCE − 1, a range per province
  for (const c of CAMPUSES)
    await seedWorld(pg.db, [c], `l${c.provinceCode}-`, PROVINCES.length * PER_PROVINCE);
});

afterAll(async () => {
  await te?.close();
  await pg?.close();
});

it('three lanes over 20 streams: every event once, projections equal Redis, nothing pending', async () => {
  const { engine } = te;
  const streams = engine.keys.allStreams([...PROVINCES]);
  expect(streams.length).toBe(PROVINCES.length + 16);
  // a client of its own, named: its duplicates (the lanes' readers) carry the name into CLIENT LIST
  const named = new Redis({ ...te.redis.options, connectionName: 'lanes-test' });
  const writer = new StreamWriter(named, pg.db, {
    streams,
    consumer: 'lanes',
    lanes: 3,
    batchSize: 25,
    idleMs: 20,
    lingerMs: 0,
  });
  const before = await streamTotal(engine, streams);
  writer.start();
  // the engine produces while the lanes write: bind, then hold a written seat, in every province
  await Promise.all(
    CAMPUSES.map(async (c, p) => {
      for (let i = 0; i < PER_PROVINCE; i++) {
        await bindAndHold(
          engine,
          `l${c.provinceCode}-`,
          p * PER_PROVINCE + i,
          c.campusId,
          T0,
          c.provinceCode,
        );
      }
    }),
  );
  const total = await streamTotal(engine, streams);
  // BOUND and HELD per candidate (after the fixture's calendar and campus events)
  expect(total - before).toBe(PROVINCES.length * PER_PROVINCE * 2);
  await waitFor(async () => (await eventCount(pg.db)) >= total, {
    timeoutMs: 20_000,
    intervalMs: 100,
    message: 'every event in PostgreSQL',
  });
  // idle now: each lane waits in its own blocking read
  const blocked = async () =>
    (((await te.redis.client('LIST')) as string).match(/name=lanes-test .*cmd=xreadgroup/g) ?? []).length;
  await waitFor(async () => (await blocked()) === 3, {
    intervalMs: 5,
    message: 'three lanes in a blocking read',
  });
  await writer.stop();
  named.disconnect();
  expect(await eventCount(pg.db)).toBe(total);
  expect(writer.current.deadLetters).toBe(0);
  expect(await compareState(engine, pg.db, [...PROVINCES])).toEqual([]);
  for (const stream of streams) expect(await pendingOf(te.redis, stream)).toBe(0);
  // each province's registrations and held items, as many as it bound
  const { rows } = await pg.db.query<{ province_code: string; n: number }>(
    `SELECT r.province_code, count(*)::int AS n FROM registration_items i
       JOIN registrations r USING (candidate_id) WHERE i.status = 'HELD' GROUP BY 1 ORDER BY 1`,
  );
  expect(rows).toEqual(PROVINCES.map((code) => ({ province_code: code, n: PER_PROVINCE })));
});
