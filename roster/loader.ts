/**
 * The PostgreSQL side of the roster import: one session per file, one transaction per chunk.
 *
 * Each chunk's good rows are COPYed into a temporary staging table (ON COMMIT DELETE ROWS), rows
 * that only the database or the rest of the file can judge are rejected and removed there, and the
 * rest is upserted (roster by candidate_id, cet4_scores by ticket_number). All of it commits
 * together or not at all, so a crash leaves whole chunks only; the upsert makes a re-run complete
 * the file and leave every row it already holds untouched.
 *
 * Why per chunk, not per file: a file of a million rows would otherwise be one transaction of
 * minutes (WAL, locks, and everything lost on a crash at 99 %), while a chunk commits in tens of
 * milliseconds. Readers may see a file half imported; each row is right on its own, and the
 * import is repeatable.
 *
 * "Earlier line" rules (first one wins) hold across chunks because chunks are applied in file
 * order and the run remembers what it kept in session-scoped temp tables (candidate ids with their
 * line, tickets with their line), so memory in Node stays bounded whatever the file. An ID number
 * repeated from an earlier chunk is found in the roster itself (that chunk is committed) and its
 * holder in the kept candidates. The temp tables are probed row by row through their primary key
 * (scalar subqueries): they have no statistics, and a hash join would read the whole kept set for
 * every chunk (quadratic in the file). So a kept row is never the later of two lines with the same
 * candidate id, ticket, or (ID type, ID number).
 */
import { copyFrom } from '../db/copy.ts';
import { isUniqueViolation, pgErrorInfo, query, runInTransaction, SqlState } from '../db/pool.ts';
import type { Pool, PoolClient } from '../db/pool.ts';
import type { ImportKind, RejectedRow, RejectReason } from './protocol.ts';

export interface AppliedChunk {
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly rejects: RejectedRow[];
}

export interface ChunkLoader {
  /** Applies one chunk's COPY text in one transaction; chunks must come in file order. */
  apply(copyText: string, goodRows: number, chunkIndex: number): Promise<AppliedChunk>;
  close(): Promise<void>;
}

export interface LoaderOptions {
  /** Test seam: runs inside a chunk's transaction just before COMMIT (throw to simulate a crash). */
  readonly beforeCommit?: (chunkIndex: number) => void | Promise<void>;
}

// --- roster -------------------------------------------------------------------------------------

const ROSTER_SESSION = [
  `CREATE TEMP TABLE roster_stage (
     line integer NOT NULL, candidate_id text NOT NULL, id_type text NOT NULL, id_hmac bytea NOT NULL,
     id_masked text NOT NULL, id_cipher bytea NOT NULL, name text NOT NULL, name_normalised text NOT NULL,
     province_code text NOT NULL, school_id text NOT NULL, campus_id text NOT NULL, grade text NOT NULL,
     eligible_subjects text[] NOT NULL, cet6_barred boolean NOT NULL
   ) ON COMMIT DELETE ROWS`,
  `CREATE TEMP TABLE roster_kept_candidates (candidate_id text PRIMARY KEY, line integer NOT NULL)`,
];

const ROSTER_COPY = `COPY roster_stage (line, candidate_id, id_type, id_hmac, id_masked, id_cipher, name,
  name_normalised, province_code, school_id, campus_id, grade, eligible_subjects, cet6_barred) FROM STDIN`;

/** Each step removes the rows it rejects from the stage and returns them; order matters. */
const ROSTER_CHECKS: readonly string[] = [
  // Reference data: the row must name a school of its province and a campus of its school (R15).
  `DELETE FROM roster_stage s USING (
     SELECT st.line,
            CASE WHEN sc.school_id IS NULL THEN 'UNKNOWN_SCHOOL'
                 WHEN sc.province_code <> st.province_code THEN 'PROVINCE_MISMATCH'
                 WHEN ca.campus_id IS NULL THEN 'UNKNOWN_CAMPUS'
                 WHEN ca.school_id <> st.school_id THEN 'CAMPUS_NOT_OF_SCHOOL' END AS reason
       FROM roster_stage st
       LEFT JOIN schools sc ON sc.school_id = st.school_id
       LEFT JOIN campuses ca ON ca.campus_id = st.campus_id) bad
   WHERE bad.reason IS NOT NULL AND s.line = bad.line
   RETURNING s.line, bad.reason, NULL::integer AS first_line`,
  // The same candidate id on an earlier line: of this chunk, or kept from an earlier chunk.
  `DELETE FROM roster_stage s USING (
     SELECT st.line,
            coalesce((SELECT k.line FROM roster_kept_candidates k WHERE k.candidate_id = st.candidate_id),
                     min(st.line) OVER (PARTITION BY st.candidate_id)) AS first_line
       FROM roster_stage st) dup
   WHERE s.line = dup.line AND dup.first_line <> dup.line
   RETURNING s.line, 'DUPLICATE_CANDIDATE' AS reason, dup.first_line`,
  // The same ID (type and number) as another candidate on an earlier line of this chunk (candidate
  // ids are unique in the stage by now, so two rows with one digest are two people) ...
  `DELETE FROM roster_stage s USING (
     SELECT line, min(line) OVER (PARTITION BY id_type, id_hmac) AS first_line FROM roster_stage) dup
   WHERE s.line = dup.line AND dup.first_line <> dup.line
   RETURNING s.line, 'DUPLICATE_ID' AS reason, dup.first_line`,
  // ... or held in the roster by another candidate: one this run imported from an earlier chunk
  // (DUPLICATE_ID, with its line), or one it has not given another number (ID_IN_USE).
  `WITH gone AS (
     DELETE FROM roster_stage s USING roster r
     WHERE r.id_type = s.id_type AND r.id_hmac = s.id_hmac AND r.candidate_id <> s.candidate_id
     RETURNING s.line, r.candidate_id AS holder)
   SELECT line, CASE WHEN first_line IS NULL THEN 'ID_IN_USE' ELSE 'DUPLICATE_ID' END AS reason, first_line
     FROM (SELECT line, (SELECT k.line FROM roster_kept_candidates k WHERE k.candidate_id = gone.holder) AS first_line
             FROM gone) held`,
];

const ROSTER_KEEP = [
  `INSERT INTO roster_kept_candidates (candidate_id, line) SELECT candidate_id, line FROM roster_stage`,
];

// The ciphertext has a random IV, so a re-import would always differ: it is replaced only when the
// number itself changed (another digest) or none was stored, and is left out of the comparison.
const ROSTER_UPSERT = `
  INSERT INTO roster AS r (candidate_id, id_type, id_hmac, id_masked, id_cipher, name, name_normalised,
                           province_code, school_id, campus_id, grade, eligible_subjects, cet6_barred)
  SELECT candidate_id, id_type, id_hmac, id_masked, id_cipher, name, name_normalised,
         province_code, school_id, campus_id, grade, eligible_subjects, cet6_barred
    FROM roster_stage ORDER BY candidate_id
  ON CONFLICT (candidate_id) DO UPDATE SET
    id_type = excluded.id_type,
    id_hmac = excluded.id_hmac,
    id_masked = excluded.id_masked,
    id_cipher = CASE WHEN r.id_hmac = excluded.id_hmac AND r.id_cipher IS NOT NULL
                     THEN r.id_cipher ELSE excluded.id_cipher END,
    name = excluded.name,
    name_normalised = excluded.name_normalised,
    province_code = excluded.province_code,
    school_id = excluded.school_id,
    campus_id = excluded.campus_id,
    grade = excluded.grade,
    eligible_subjects = excluded.eligible_subjects,
    cet6_barred = excluded.cet6_barred,
    updated_at = now()
  WHERE (r.id_type, r.id_hmac, r.id_masked, r.id_cipher IS NULL, r.name, r.name_normalised,
         r.province_code, r.school_id, r.campus_id, r.grade, r.eligible_subjects, r.cet6_barred)
    IS DISTINCT FROM
        (excluded.id_type, excluded.id_hmac, excluded.id_masked, false, excluded.name,
         excluded.name_normalised, excluded.province_code, excluded.school_id, excluded.campus_id,
         excluded.grade, excluded.eligible_subjects, excluded.cet6_barred)
  RETURNING (xmax = 0) AS inserted`;

// --- CET4 scores --------------------------------------------------------------------------------

const SCORES_SESSION = [
  `CREATE TEMP TABLE scores_stage (
     line integer NOT NULL, ticket_number text NOT NULL, id_hmac bytea NOT NULL, name text NOT NULL,
     name_normalised text NOT NULL, score smallint NOT NULL, year smallint NOT NULL
   ) ON COMMIT DELETE ROWS`,
  `CREATE TEMP TABLE scores_kept_tickets (ticket_number text PRIMARY KEY, line integer NOT NULL)`,
];

const SCORES_COPY = `COPY scores_stage (line, ticket_number, id_hmac, name, name_normalised, score, year) FROM STDIN`;

const SCORES_CHECKS: readonly string[] = [
  `DELETE FROM scores_stage s USING (
     SELECT st.line,
            coalesce((SELECT k.line FROM scores_kept_tickets k WHERE k.ticket_number = st.ticket_number),
                     min(st.line) OVER (PARTITION BY st.ticket_number)) AS first_line
       FROM scores_stage st) dup
   WHERE s.line = dup.line AND dup.first_line <> dup.line
   RETURNING s.line, 'DUPLICATE_TICKET' AS reason, dup.first_line`,
];

const SCORES_KEEP = [
  `INSERT INTO scores_kept_tickets (ticket_number, line) SELECT ticket_number, line FROM scores_stage`,
];

const SCORES_UPSERT = `
  INSERT INTO cet4_scores AS c (ticket_number, id_hmac, name, name_normalised, score, year)
  SELECT ticket_number, id_hmac, name, name_normalised, score, year FROM scores_stage ORDER BY ticket_number
  ON CONFLICT (ticket_number) DO UPDATE SET
    id_hmac = excluded.id_hmac,
    name = excluded.name,
    name_normalised = excluded.name_normalised,
    score = excluded.score,
    year = excluded.year
  WHERE (c.id_hmac, c.name, c.name_normalised, c.score, c.year)
    IS DISTINCT FROM (excluded.id_hmac, excluded.name, excluded.name_normalised, excluded.score, excluded.year)
  RETURNING (xmax = 0) AS inserted`;

interface KindSql {
  readonly session: readonly string[];
  readonly copy: string;
  readonly checks: readonly string[];
  readonly keep: readonly string[];
  readonly upsert: string;
  readonly drop: string;
}

const SQL: Record<ImportKind, KindSql> = {
  roster: {
    session: ROSTER_SESSION,
    copy: ROSTER_COPY,
    checks: ROSTER_CHECKS,
    keep: ROSTER_KEEP,
    upsert: ROSTER_UPSERT,
    drop: 'DROP TABLE IF EXISTS roster_stage, roster_kept_candidates',
  },
  scores: {
    session: SCORES_SESSION,
    copy: SCORES_COPY,
    checks: SCORES_CHECKS,
    keep: SCORES_KEEP,
    upsert: SCORES_UPSERT,
    drop: 'DROP TABLE IF EXISTS scores_stage, scores_kept_tickets',
  },
};

const DETAIL: Partial<Record<RejectReason, (firstLine: number | null) => string>> = {
  DUPLICATE_CANDIDATE: (first) => `candidate id already on line ${first}`,
  DUPLICATE_ID: (first) => `same ID number as line ${first}`,
  DUPLICATE_TICKET: (first) => `ticket already on line ${first}`,
};

/** Concurrent writers (another import) can still collide on a unique key: retry the chunk. */
const RETRIES = 3;
const RETRYABLE: readonly string[] = [SqlState.serializationFailure, SqlState.deadlockDetected];

export async function openChunkLoader(
  pool: Pool,
  kind: ImportKind,
  options: LoaderOptions = {},
): Promise<ChunkLoader> {
  const sql = SQL[kind];
  const client: PoolClient = await pool.connect();
  let broken: Error | undefined;
  const onClientError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onClientError);
  try {
    // The kept tables reach ~100 MB for a million rows; keep them in memory if the session still
    // may (temp_buffers can only change before the session's first use of a temp table).
    await client.query(`SET temp_buffers = '256MB'`).catch(() => undefined);
    await client.query(sql.drop);
    for (const statement of sql.session) await client.query(statement);
  } catch (err) {
    client.off('error', onClientError);
    client.release(err instanceof Error ? err : true);
    throw err;
  }

  const applyOnce = (copyText: string, goodRows: number, chunkIndex: number): Promise<AppliedChunk> =>
    runInTransaction(
      client,
      async (tx) => {
        const rejects: RejectedRow[] = [];
        let inserted = 0;
        let updated = 0;
        let kept = 0;
        if (goodRows > 0) {
          await copyFrom(tx, sql.copy, copyText);
          for (const check of sql.checks) {
            const rows = await query<{ line: number; reason: RejectReason; first_line: number | null }>(
              tx,
              check,
            );
            for (const row of rows) {
              const detail = DETAIL[row.reason]?.(row.first_line) ?? '';
              rejects.push({ line: row.line, reason: row.reason, detail });
            }
          }
          for (const statement of sql.keep) await tx.query(statement);
          const upserted = await query<{ inserted: boolean }>(tx, sql.upsert);
          for (const row of upserted) {
            if (row.inserted) inserted++;
            else updated++;
          }
          kept = goodRows - rejects.length;
        }
        await options.beforeCommit?.(chunkIndex);
        return { inserted, updated, unchanged: kept - inserted - updated, rejects };
      },
      undefined,
      (err) => {
        broken = err;
      },
    );

  return {
    async apply(copyText, goodRows, chunkIndex) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await applyOnce(copyText, goodRows, chunkIndex);
        } catch (err) {
          const code = pgErrorInfo(err)?.code;
          const retryable = isUniqueViolation(err) || (code !== undefined && RETRYABLE.includes(code));
          if (!retryable || attempt >= RETRIES || broken !== undefined) throw err;
        }
      }
    },
    async close() {
      try {
        if (broken === undefined) await client.query(sql.drop);
      } catch (err) {
        broken = err instanceof Error ? err : new Error(String(err));
      } finally {
        client.off('error', onClientError);
        client.release(broken ?? false);
      }
    },
  };
}
