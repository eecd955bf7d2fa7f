/**
 * Puts a world's reference data into Redis: each province's registration window and every campus
 * with its capacities and oral opening times, through the same scripts operators use (so the
 * capacity rule applies), many calls in flight at once (ioredis pipelines them).
 */
import type { Engine } from './engine.ts';
import type { World } from './world.ts';

export interface LoadReport {
  readonly provinces: number;
  readonly campuses: number;
  readonly rejected: { campusId: string; code: string }[];
  readonly elapsedMs: number;
}

async function inBatches<T>(
  items: readonly T[],
  size: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  for (let start = 0; start < items.length; start += size) {
    await Promise.all(items.slice(start, start + size).map(work));
  }
}

export async function loadWorld(engine: Engine, world: World, now: number): Promise<LoadReport> {
  const started = performance.now();
  const rejected: { campusId: string; code: string }[] = [];
  await inBatches(world.calendar, 64, (entry) => engine.setCalendar(entry, now));
  await inBatches(world.campuses, 256, async (campus) => {
    const outcome = await engine.upsertCampus(campus, now);
    if (!outcome.ok) rejected.push({ campusId: campus.campusId, code: outcome.code });
  });
  return {
    provinces: world.calendar.length,
    campuses: world.campuses.length - rejected.length,
    rejected,
    elapsedMs: performance.now() - started,
  };
}
