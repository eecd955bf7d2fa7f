/**
 * The conventional baseline under real concurrency (I1, I3): many clients at once through HTTP,
 * each request its own fetch (undici opens a connection per request in flight), the answers
 * tallied, and the tables checked with checkBaselineInvariants afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, query, type Pool } from '../../db/pool.ts';
import {
  checkBaselineInvariants,
  seedBaseline,
  startBaseline,
  type BaselineServer,
} from '../../loadtest/baseline/index.ts';
import { freshDatabase, type FreshDatabase } from '../support/pg.ts';

const T0 = Date.UTC(2025, 2, 1, 1, 0, 0);
const CLIENTS = 500;
const SEATS = 50;

let database: FreshDatabase;
let pool: Pool;
let server: BaselineServer;

beforeAll(async () => {
  database = await freshDatabase();
  pool = createPool(database.url, { max: 4, applicationName: 'tests:baseline-concurrency' });
  server = await startBaseline({ databaseUrl: database.url, poolSize: 20, now: () => T0 });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await pool?.end();
  await database?.drop();
});

async function post(token: string, path: string, body: unknown): Promise<string> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as { error?: { code: string } };
  return response.status < 300 ? String(response.status) : `${response.status} ${answer.error?.code}`;
}

async function del(token: string, path: string): Promise<string> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}` },
  });
  const answer = (await response.json()) as { error?: { code: string } };
  return response.status < 300 ? String(response.status) : `${response.status} ${answer.error?.code}`;
}

function tally(outcomes: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return counts;
}

async function seatRow(campusId: string, subject: string) {
  const [row] = await query<{ capacity: number; taken: number }>(
    pool,
    'SELECT capacity, taken FROM baseline.capacity WHERE campus_id = $1 AND subject = $2',
    [campusId, subject],
  );
  return row;
}

describe('the conventional baseline under concurrency', () => {
  it(`${CLIENTS} clients race for ${SEATS} written seats: exactly ${SEATS} win, nothing oversold (I1)`, async () => {
    const { tokens, campusIds } = await seedBaseline(pool, {
      candidates: CLIENTS,
      campuses: 1,
      capacityPerCampus: { CET4: SEATS },
      now: T0,
    });
    const started = performance.now();
    const outcomes = await Promise.all(
      tokens.map((token) => post(token, '/api/v1/registration/written', { subject: 'CET4' })),
    );
    console.info(
      `baseline: ${CLIENTS} written reservations in ${(performance.now() - started).toFixed(0)} ms: ${JSON.stringify(tally(outcomes))}`,
    );
    expect(tally(outcomes)).toEqual({ '201': SEATS, '409 SOLD_OUT': CLIENTS - SEATS });
    expect(await seatRow(campusIds[0]!, 'CET4')).toEqual({ capacity: SEATS, taken: SEATS });
    const report = await checkBaselineInvariants(pool);
    expect(report.violations).toEqual([]);
    expect(report.checked.liveItems).toBe(SEATS);
  });

  it('one candidate firing 20 reservations of one subject at once gets exactly one seat', async () => {
    const { tokens, campusIds } = await seedBaseline(pool, {
      candidates: 2,
      campuses: 1,
      capacityPerCampus: { CET4: 100, CJT4: 100 },
      eligibleSubjects: ['CET4', 'CJT4'],
      now: T0,
    });
    const same = await Promise.all(
      Array.from({ length: 20 }, () => post(tokens[0]!, '/api/v1/registration/written', { subject: 'CET4' })),
    );
    expect(tally(same)).toEqual({ '201': 1, '409 ALREADY_REGISTERED': 19 });
    expect(await seatRow(campusIds[0]!, 'CET4')).toEqual({ capacity: 100, taken: 1 });

    // R16 under a race: two subjects of one level, alternated, still one winner
    const sameLevel = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(tokens[1]!, '/api/v1/registration/written', { subject: i % 2 === 0 ? 'CET4' : 'CJT4' }),
      ),
    );
    expect(sameLevel.filter((outcome) => outcome === '201')).toHaveLength(1);
    expect(
      sameLevel.every((o) => ['201', '409 ALREADY_REGISTERED', '409 SAME_LEVEL_TAKEN'].includes(o)),
    ).toBe(true);
    expect((await checkBaselineInvariants(pool)).violations).toEqual([]);
  });

  it('cancelling CET4 while reserving CET-SET4 never leaves an oral item without its written one (I3)', async () => {
    const candidates = 60;
    const { tokens, campusIds } = await seedBaseline(pool, {
      candidates,
      campuses: 1,
      capacityPerCampus: { CET4: candidates, 'CET-SET4': candidates },
      now: T0,
    });
    const held = await Promise.all(
      tokens.map((token) => post(token, '/api/v1/registration/written', { subject: 'CET4' })),
    );
    expect(tally(held)).toEqual({ '201': candidates });
    const raced = await Promise.all(
      tokens.flatMap((token) => [
        post(token, '/api/v1/registration/oral', { subject: 'CET-SET4', campusId: campusIds[0] }),
        del(token, '/api/v1/registration/written/CET4'),
      ]),
    );
    expect(raced.every((o) => ['200', '201', '409 WRITTEN_REQUIRED'].includes(o))).toBe(true);
    const report = await checkBaselineInvariants(pool);
    expect(report.violations).toEqual([]);
    // every cancellation won in the end: the oral holds that got in went with their written subject
    expect(report.checked.liveItems).toBe(0);
    expect(await seatRow(campusIds[0]!, 'CET-SET4')).toEqual({ capacity: candidates, taken: 0 });
  });
});
