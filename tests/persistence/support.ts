/**
 * Persistence test support: a fresh, migrated PostgreSQL database with the reference data, roster
 * and accounts the projections' foreign keys need (candidate `<prefix><n>` ↔ account 1000000 + n),
 * and small helpers to drive the engine and drain a writer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { migrate } from '../../db/migrate.ts';
import { createPool, type Pool } from '../../db/pool.ts';
import type { StreamWriter } from '../../db/writer.ts';
import { bind, type Engine } from '../../engine/index.ts';
import { WRITER_GROUP } from '../../engine/outbox.ts';
import type { EngineRedis } from '../../engine/scripts.ts';
import type { TickParams } from '../../engine/queue.ts';
import type { Campus } from '../../engine/world.ts';
import { freshDatabase } from '../support/pg.ts';
import { snapshot, tickParams } from '../support/engine.ts';
import { waitFor } from '../support/wait.ts';

export interface PersistenceDb {
  readonly url: string;
  readonly db: Pool;
  close(): Promise<void>;
}

export async function persistenceDb(url?: string): Promise<PersistenceDb> {
  const fresh = url ? undefined : await freshDatabase();
  const dbUrl = url ?? fresh!.url;
  const db = createPool(dbUrl, { max: 4 });
  db.on('error', () => undefined);
  await migrate(db);
  return {
    url: dbUrl,
    db,
    async close() {
      await db.end();
      await fresh?.drop();
    },
  };
}

export const accountOf = (n: number): string => String(1_000_000 + n);

/** Provinces, schools, campuses (+ capacity) of `campuses`; roster rows and accounts for 0..count-1. */
export async function seedWorld(
  db: Pool,
  campuses: readonly Campus[],
  prefix: string,
  count: number,
): Promise<void> {
  const provinces = [...new Set(campuses.map((c) => c.provinceCode))];
  await db.query(
    `INSERT INTO provinces (province_code, name) SELECT p, 'P' || p FROM unnest($1::text[]) p ON CONFLICT DO NOTHING`,
    [provinces],
  );
  for (const c of campuses) {
    await db.query(
      `INSERT INTO schools (school_id, name, province_code) VALUES ($1, $1, $2) ON CONFLICT DO NOTHING`,
      [c.schoolId, c.provinceCode],
    );
    await db.query(
      `INSERT INTO campuses (campus_id, name, province_code, school_id, students_may_take_oral_elsewhere, oral_own_school_opens_at, oral_province_wide_opens_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [
        c.campusId,
        c.name,
        c.provinceCode,
        c.schoolId,
        c.studentsMayTakeOralElsewhere,
        new Date(c.oralOpens.ownSchoolAt).toISOString(),
        c.oralOpens.provinceWideAt === null ? null : new Date(c.oralOpens.provinceWideAt).toISOString(),
      ],
    );
    for (const [subject, seats] of Object.entries(c.capacity)) {
      await db.query(
        `INSERT INTO campus_capacity (campus_id, subject, capacity) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
        [c.campusId, subject, seats ?? 0],
      );
    }
  }
  const first = campuses[0]!;
  await db.query(
    `INSERT INTO roster (candidate_id, id_type, id_hmac, id_masked, name, name_normalised, province_code, school_id, campus_id, grade, eligible_subjects)
     SELECT $1 || n, 'RESIDENT_ID', sha256(convert_to($1 || n, 'UTF8')), 'masked', 'N' || n, 'n' || n, $2, $3, $4, '2024', ARRAY['CET4', 'CET6']
       FROM generate_series(0, $5::int - 1) n
     ON CONFLICT DO NOTHING`,
    [prefix, first.provinceCode, first.schoolId, first.campusId, count],
  );
  await db.query(
    `INSERT INTO accounts (account_id, email, password_hash)
     SELECT 1000000 + n, 'u' || n || '@' || $1 || '.test', 'x' FROM generate_series(0, $2::int - 1) n
     ON CONFLICT DO NOTHING`,
    [prefix, count],
  );
}

/** Binds candidate `<prefix><n>` to account 1000000 + n, its claim finalized (step 3 included). */
export async function bindN(
  engine: Engine,
  prefix: string,
  n: number,
  campusId: string,
  now: number,
  provinceCode = '11',
) {
  const ref = { accountId: accountOf(n), provinceCode, candidateId: `${prefix}${n}` };
  const outcome = await bind(engine, { ...ref, campusId, snapshot: snapshot(), now });
  if (!outcome.ok) throw new Error(`bind ${ref.candidateId}: ${outcome.code}`);
  await engine.idle();
  return ref;
}

/** bindN, then a written CET4 hold at its own campus (R15, R17); the bound reference. Throws if either is refused. */
export async function bindAndHold(
  engine: Engine,
  prefix: string,
  n: number,
  campusId: string,
  now: number,
  provinceCode = '11',
) {
  const ref = await bindN(engine, prefix, n, campusId, now, provinceCode);
  const held = await engine.reserveWritten({
    ...ref,
    subject: 'CET4',
    eligible: true,
    fee: 30,
    now: now + 1,
  });
  if (!held.ok) throw new Error(`hold ${ref.candidateId}: ${held.code}`);
  return ref;
}

/** Drains until a read returns nothing. */
export async function drain(writer: StreamWriter): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await writer.drainOnce('>');
    if (n === 0) return total;
    total += n;
  }
}

/** Entries the writer group has read from `stream` and not acknowledged yet. */
export async function pendingOf(redis: EngineRedis, stream: string): Promise<number> {
  return Number(((await redis.xpending(stream, WRITER_GROUP)) as [number])[0]);
}

/** Until the writer has acknowledged every entry it read from `streams`. */
export async function nothingPending(redis: EngineRedis, streams: readonly string[]): Promise<void> {
  await waitFor(
    async () => {
      for (const stream of streams) if ((await pendingOf(redis, stream)) > 0) return false;
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 100, message: 'nothing pending' },
  );
}

export async function streamTotal(engine: Engine, streams: readonly string[]): Promise<number> {
  let total = 0;
  for (const stream of streams) total += await engine.redis.xlen(stream);
  return total;
}

export async function eventCount(db: Pool): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM events`);
  return Number(rows[0]!.n);
}

export const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Runs `task(i)` for i in [from, to) with `concurrency` in flight; returns the results in order. */
export async function runPool<T>(
  from: number,
  to: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array<T>(Math.max(0, to - from));
  let next = from;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < to) {
        const i = next++;
        results[i - from] = await task(i);
      }
    }),
  );
  return results;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A writer in a process of its own (`npm run writer`: scripts/writer.ts) under `consumer`, on the
 * stores `env` names (its Redis variables, DATABASE_URL, KEY_NAMESPACE, batch size), claiming a
 * dead consumer's entries after a second; added to `children` until it exits, so that the test file
 * can kill what is left.
 */
export function spawnWriter(
  children: Set<ChildProcess>,
  consumer: string,
  env: NodeJS.ProcessEnv,
): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/writer.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      WRITER_CONSUMER: consumer,
      WRITER_CLAIM_IDLE_MS: '1000',
      WRITER_CLAIM_INTERVAL_MS: '500',
      LOG_LEVEL: 'error',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A waiting room's tick for the tests: up to 3 active, admissions not paced, a 10 s rate average. */
export const TEST_TICK: TickParams = tickParams({
  targetActive: 3,
  burst: 100,
  maxBatch: 100,
  drainGraceMs: 60_000,
});
