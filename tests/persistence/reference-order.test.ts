/**
 * A new campus or campus subject reaches PostgreSQL before the engine's copy in Redis (issue 16
 * item 15): once Redis has it, anyone may hold a seat there, and the writer's projection of that
 * hold references the campus's capacity row (registration_items_campus_subject_fkey). If the row
 * were committed only after the Redis upsert, a hold in between would be dead-lettered.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { query } from '../../db/pool.ts';
import type { Campus } from '../../engine/world.ts';
import { putCampuses } from '../../gateway/admin/reference.ts';
import type { Services } from '../../gateway/services.ts';
import { newTestEngine, type TestEngine } from '../support/engine.ts';
import { persistenceDb, type PersistenceDb } from './support.ts';

let t: TestEngine;
let pg: PersistenceDb;
beforeAll(async () => {
  [t, pg] = await Promise.all([newTestEngine(), persistenceDb()]);
});
afterAll(async () => {
  await t?.close();
  await pg?.close();
});

const row = (capacity: Record<string, number>) => ({
  campusId: 'ORD1',
  name: '顺序校区',
  provinceCode: '11',
  schoolId: 'SORD',
  studentsMayTakeOralElsewhere: true,
  capacity,
  oralOpens: { ownSchoolAt: '2026-03-01T00:00:00+08:00', provinceWideAt: null },
});

it('a new campus, and a new subject of a known one, are committed in PostgreSQL before Redis has them', async () => {
  // what PostgreSQL shows another connection (the writer's) at the moment Redis gets the campus
  const seenAtUpsert: string[][] = [];
  const engine = t.engine;
  const upsert = engine.upsertCampus.bind(engine);
  engine.upsertCampus = async (campus: Campus, now: number) => {
    const rows = await query<{ subject: string }>(
      pg.db,
      'SELECT subject FROM campus_capacity WHERE campus_id = $1 ORDER BY subject',
      [campus.campusId],
    );
    seenAtUpsert.push(rows.map((r) => r.subject));
    return upsert(campus, now);
  };
  const services = { db: pg.db, engine } as unknown as Services;
  const now = Date.now();

  const first = await putCampuses(services, [row({ CET4: 10 })], now);
  expect(first).toMatchObject({ upserted: 1, rejected: [] });
  const second = await putCampuses(services, [row({ CET4: 12, 'CET-SET4': 5 })], now);
  expect(second).toMatchObject({ upserted: 1, rejected: [] });
  expect(seenAtUpsert).toEqual([['CET4'], ['CET-SET4', 'CET4']]);
  // and the capacities end as asked, in both stores
  const capacities = await query<{ subject: string; capacity: number }>(
    pg.db,
    'SELECT subject, capacity FROM campus_capacity WHERE campus_id = $1 ORDER BY subject',
    ['ORD1'],
  );
  expect(capacities).toEqual([
    { subject: 'CET-SET4', capacity: 5 },
    { subject: 'CET4', capacity: 12 },
  ]);
  const seats = await engine.seatCounts('11');
  expect(
    seats
      .filter((s) => s.campusId === 'ORD1')
      .map((s) => [s.subject, s.capacity])
      .sort(),
  ).toEqual([
    ['CET-SET4', 5],
    ['CET4', 12],
  ]);
});
