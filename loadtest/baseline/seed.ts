/**
 * Schema and data of the conventional baseline (loadtest/baseline/schema.sql, PostgreSQL schema
 * `baseline`). The baseline serves no binding, login, eligibility or payment over HTTP: this module
 * creates accounts, sessions and bindings directly, because the comparison is about the contended
 * reservation path. Seeding replaces whatever was seeded before, with set-based
 * INSERT … SELECT generate_series so that 100,000 candidates take a few seconds.
 * It must never touch tables outside schema `baseline`.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { execute, withTransaction, type Pool } from '../../db/pool.ts';

const HOUR_MS = 3_600_000;
const SCHEMA_URL = new URL('./schema.sql', import.meta.url);

/** Subject fees in yuan; the baseline has no fee administration. */
export const BASELINE_FEES: Readonly<Record<string, number>> = {
  CET4: 30,
  CET6: 30,
  CJT4: 30,
  CJT6: 30,
  CGT4: 30,
  CGT6: 30,
  CRT4: 30,
  CRT6: 30,
  TFU4: 30,
  'CET-SET4': 50,
  'CET-SET6': 50,
};

/** Applies schema.sql; idempotent, and serialized by an advisory lock when two processes start. */
export async function migrateBaseline(pool: Pool): Promise<void> {
  const ddl = await readFile(SCHEMA_URL, 'utf8');
  await withTransaction(pool, async (tx) => {
    await execute(tx, 'SELECT pg_advisory_xact_lock(hashtext($1))', ['loadtest-baseline-schema']);
    await execute(tx, ddl);
  });
}

export interface BaselineSeedOptions {
  readonly candidates: number;
  readonly campuses: number;
  /** Seats per campus for each subject offered, e.g. {CET4: 1200, 'CET-SET4': 100}. */
  readonly capacityPerCampus: Record<string, number>;
  /** Default '11'. */
  readonly provinceCode?: string;
  readonly now: number;
  /** Written subjects every candidate may take (R4); default ['CET4']. */
  readonly eligibleSubjects?: string[];
}

export interface BaselineSeed {
  /** tokens[i] is the session of account i, bound to candidate i. */
  readonly tokens: string[];
  readonly campusIds: string[];
}

/**
 * Candidate i (0-based) is bound to account i, whose session is tokens[i], and writes at
 * campusIds[i % campuses]. Each campus is its own school's. The province's registration window is
 * open from now − 1 h to now + 48 h; oral seats open to own and to province-wide candidates at
 * now − 1 h; every campus lets its students take the oral exam elsewhere (R19). Sessions last
 * until now + 72 h, past the window.
 */
export async function seedBaseline(pool: Pool, opts: BaselineSeedOptions): Promise<BaselineSeed> {
  const { candidates, campuses, now } = opts;
  if (!Number.isInteger(candidates) || candidates < 0) throw new RangeError('candidates: a count ≥ 0');
  if (!Number.isInteger(campuses) || campuses < 1) throw new RangeError('campuses: a count ≥ 1');
  const provinceCode = opts.provinceCode ?? '11';
  const eligible = opts.eligibleSubjects ?? ['CET4'];
  const campusIds = Array.from(
    { length: campuses },
    (_, k) => `B${provinceCode}C${String(k).padStart(5, '0')}`,
  );
  const entropy = randomBytes(16 * candidates).toString('hex');
  const tokens = Array.from({ length: candidates }, (_, i) => entropy.slice(32 * i, 32 * (i + 1)));
  const capacity = Object.entries(opts.capacityPerCampus);
  const at = (offsetMs: number) => new Date(now + offsetMs);

  await migrateBaseline(pool);
  await withTransaction(pool, async (tx) => {
    await execute(
      tx,
      `TRUNCATE baseline.items, baseline.sessions, baseline.bindings, baseline.accounts,
                baseline.candidates, baseline.capacity, baseline.campuses, baseline.calendar,
                baseline.fees RESTART IDENTITY`,
    );
    await execute(
      tx,
      `INSERT INTO baseline.fees (subject, fee) SELECT * FROM unnest($1::text[], $2::numeric[])`,
      [Object.keys(BASELINE_FEES), Object.values(BASELINE_FEES)],
    );
    await execute(
      tx,
      `INSERT INTO baseline.calendar (province_code, opens_at, closes_at) VALUES ($1, $2, $3)`,
      [provinceCode, at(-HOUR_MS), at(48 * HOUR_MS)],
    );
    await execute(
      tx,
      `INSERT INTO baseline.campuses (campus_id, province_code, school_id, students_may_take_oral_elsewhere,
                                      oral_own_school_at, oral_province_wide_at)
       SELECT id, $2, 'S' || substr(id, 2), true, $3, $3 FROM unnest($1::text[]) AS id`,
      [campusIds, provinceCode, at(-HOUR_MS)],
    );
    await execute(
      tx,
      `INSERT INTO baseline.capacity (campus_id, subject, capacity, taken)
       SELECT c.campus_id, s.subject, s.seats, 0
       FROM baseline.campuses c CROSS JOIN unnest($1::text[], $2::int[]) AS s(subject, seats)`,
      [capacity.map(([subject]) => subject), capacity.map(([, seats]) => seats)],
    );
    await execute(
      tx,
      `INSERT INTO baseline.accounts (account_id)
       SELECT 'BA' || lpad(g::text, 7, '0') FROM generate_series(0, $1::int - 1) AS g`,
      [candidates],
    );
    await execute(
      tx,
      `INSERT INTO baseline.candidates (candidate_id, province_code, school_id, campus_id, eligible_subjects)
       SELECT 'BK' || lpad(g::text, 7, '0'), c.province_code, c.school_id, c.campus_id, $3::text[]
       FROM generate_series(0, $1::int - 1) AS g
       JOIN baseline.campuses c ON c.campus_id = ($2::text[])[g % cardinality($2::text[]) + 1]`,
      [candidates, campusIds, eligible],
    );
    await execute(
      tx,
      `INSERT INTO baseline.bindings (account_id, candidate_id, bound_at)
       SELECT 'BA' || lpad(g::text, 7, '0'), 'BK' || lpad(g::text, 7, '0'), $2
       FROM generate_series(0, $1::int - 1) AS g`,
      [candidates, at(0)],
    );
    await execute(
      tx,
      `INSERT INTO baseline.sessions (token, account_id, expires_at)
       SELECT t.token, 'BA' || lpad((t.n - 1)::text, 7, '0'), $2
       FROM unnest($1::text[]) WITH ORDINALITY AS t(token, n)`,
      [tokens, at(72 * HOUR_MS)],
    );
  });
  // what autovacuum would do soon anyway: the planner sees the real row counts from the start
  await execute(
    pool,
    `ANALYZE baseline.campuses, baseline.capacity, baseline.candidates, baseline.accounts,
             baseline.sessions, baseline.bindings, baseline.items`,
  );
  return { tokens, campusIds };
}
