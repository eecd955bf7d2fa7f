/**
 * Reads for the eligibility query (R3, R4, R9) and the CET6 review match (R10, R14): the roster
 * row found by (id_type, id_hmac) and normalised name, with the best CET4 score on file for that
 * ID and whether the written campus offers CET6; and the CET4 records of review tickets.
 * One statement per batch (array parameters), read-only. ID numbers arrive as HMAC digests (hex),
 * never in clear.
 */
import { query } from '../pool.ts';
import type { Queryable } from '../pool.ts';
import type { WrittenSubject } from '../../engine/subjects.ts';
import type { IdType } from '../../engine/world.ts';

export interface RosterLookup {
  readonly idType: IdType;
  /** HMAC-SHA-256 of the normalised ID number, hex. */
  readonly idHmacHex: string;
  readonly nameNormalised: string;
}

export interface RosterMatch {
  readonly candidateId: string;
  readonly idType: IdType;
  readonly name: string;
  readonly provinceCode: string;
  readonly schoolId: string;
  readonly campusId: string;
  readonly grade: string;
  readonly eligibleSubjects: WrittenSubject[];
  readonly cet6Barred: boolean;
  /** Best CET4 written score with this ID number (any name, any year), null when none. */
  readonly cet4Best: number | null;
  /** The written campus has a CET6 capacity row (a subject without a row is not offered). */
  readonly campusOffersCet6: boolean;
}

interface RosterRow {
  ord: string;
  candidate_id: string;
  id_type: IdType;
  name: string;
  province_code: string;
  school_id: string;
  campus_id: string;
  grade: string;
  eligible_subjects: WrittenSubject[];
  cet6_barred: boolean;
  cet4_best: number | null;
  campus_offers_cet6: boolean;
}

// The best score is computed as a set (semi-join + GROUP BY), not as a correlated sub-select per
// row: with an index on cet4_scores (id_hmac) the planner uses it; without one it reads the table
// once per batch instead of once per candidate.
/** The best CET4 written score per ID digest of the rows in `found` (R4, R9). */
const BEST_CET4 = `best AS (
    SELECT s.id_hmac, max(s.score)::int AS cet4_best
    FROM cet4_scores s
    WHERE s.id_hmac IN (SELECT id_hmac FROM found)
    GROUP BY s.id_hmac
  )`;

const FIND_CANDIDATES = `
  WITH wanted AS (
    SELECT w.id_type, decode(w.id_hmac_hex, 'hex') AS id_hmac, w.name_normalised, w.ord
    FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS w(id_type, id_hmac_hex, name_normalised, ord)
  ), found AS (
    SELECT w.ord, r.*
    FROM wanted w
    JOIN roster r ON r.id_type = w.id_type AND r.id_hmac = w.id_hmac AND r.name_normalised = w.name_normalised
  ), ${BEST_CET4}
  SELECT f.ord, f.candidate_id, f.id_type, f.name, f.province_code, f.school_id, f.campus_id, f.grade,
         f.eligible_subjects, f.cet6_barred, b.cet4_best,
         EXISTS (SELECT 1 FROM campus_capacity c WHERE c.campus_id = f.campus_id AND c.subject = 'CET6')
           AS campus_offers_cet6
  FROM found f
  LEFT JOIN best b ON b.id_hmac = f.id_hmac`;

/**
 * The roster rows matching each lookup, in the lookups' order; null where none matches (no such
 * ID of that type, or the name differs: the caller must not tell the two apart).
 */
export async function findCandidates(
  db: Queryable,
  lookups: readonly RosterLookup[],
): Promise<(RosterMatch | null)[]> {
  const matches: (RosterMatch | null)[] = new Array<RosterMatch | null>(lookups.length).fill(null);
  if (lookups.length === 0) return matches;
  const rows = await query<RosterRow>(db, FIND_CANDIDATES, [
    lookups.map((lookup) => lookup.idType),
    lookups.map((lookup) => lookup.idHmacHex),
    lookups.map((lookup) => lookup.nameNormalised),
  ]);
  for (const row of rows) {
    matches[Number(row.ord) - 1] = {
      candidateId: row.candidate_id,
      idType: row.id_type,
      name: row.name,
      provinceCode: row.province_code,
      schoolId: row.school_id,
      campusId: row.campus_id,
      grade: row.grade,
      eligibleSubjects: row.eligible_subjects,
      cet6Barred: row.cet6_barred,
      cet4Best: row.cet4_best,
      campusOffersCet6: row.campus_offers_cet6,
    };
  }
  return matches;
}

export interface Cet4ScoreRecord {
  readonly ticketNumber: string;
  /** id_hmac as hex. */
  readonly idHmacHex: string;
  readonly nameNormalised: string;
  readonly score: number;
  readonly year: number;
}

interface ScoreRow {
  ticket_number: string;
  id_hmac_hex: string;
  name_normalised: string;
  score: number;
  year: number;
}

const SCORES_BY_TICKET = `
  SELECT ticket_number, encode(id_hmac, 'hex') AS id_hmac_hex, name_normalised, score, year
  FROM cet4_scores
  WHERE ticket_number = ANY($1::text[])`;

/** The CET4 records of the given tickets (any order; tickets without a record are simply absent). */
export async function cet4ScoresByTicket(
  db: Queryable,
  ticketNumbers: readonly string[],
): Promise<Cet4ScoreRecord[]> {
  if (ticketNumbers.length === 0) return [];
  const rows = await query<ScoreRow>(db, SCORES_BY_TICKET, [[...new Set(ticketNumbers)]]);
  return rows.map((row) => ({
    ticketNumber: row.ticket_number,
    idHmacHex: row.id_hmac_hex,
    nameNormalised: row.name_normalised,
    score: row.score,
    year: row.year,
  }));
}

/** A roster row found by candidate id (a saved registration, or a CET6 review once bound). */
export interface RosterRecord extends RosterMatch {
  /** id_hmac as hex: what a CET4 record of the same ID number holds (R10, after binding the clear
   * number is no longer known: API.md keeps it masked only). */
  readonly idHmacHex: string;
  readonly nameNormalised: string;
}

export interface CandidateLookup {
  readonly candidateId: string;
  /** The campus to test for a CET6 sitting instead of the roster's (a saved registration's own
   * written campus, R7); null or absent: the roster's. */
  readonly campusId?: string | null;
}

interface RosterRecordRow extends Omit<RosterRow, 'ord'> {
  ord: string;
  id_hmac_hex: string;
  name_normalised: string;
}

const ROSTER_BY_CANDIDATE = `
  WITH wanted AS (
    SELECT w.candidate_id, w.campus_id, w.ord
    FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(candidate_id, campus_id, ord)
  ), found AS (
    SELECT w.ord, coalesce(w.campus_id, r.campus_id) AS cet6_campus_id, r.*
    FROM wanted w
    JOIN roster r ON r.candidate_id = w.candidate_id
  ), ${BEST_CET4}
  SELECT f.ord, f.candidate_id, f.id_type, encode(f.id_hmac, 'hex') AS id_hmac_hex, f.name, f.name_normalised,
         f.province_code, f.school_id, f.campus_id, f.grade, f.eligible_subjects, f.cet6_barred, b.cet4_best,
         EXISTS (SELECT 1 FROM campus_capacity c WHERE c.campus_id = f.cet6_campus_id AND c.subject = 'CET6')
           AS campus_offers_cet6
  FROM found f
  LEFT JOIN best b ON b.id_hmac = f.id_hmac`;

/** The roster rows of the given candidate ids, in the lookups' order; null where there is none. */
export async function rosterByCandidate(
  db: Queryable,
  lookups: readonly CandidateLookup[],
): Promise<(RosterRecord | null)[]> {
  const records: (RosterRecord | null)[] = new Array<RosterRecord | null>(lookups.length).fill(null);
  if (lookups.length === 0) return records;
  const rows = await query<RosterRecordRow>(db, ROSTER_BY_CANDIDATE, [
    lookups.map((lookup) => lookup.candidateId),
    lookups.map((lookup) => lookup.campusId ?? null),
  ]);
  for (const row of rows) {
    records[Number(row.ord) - 1] = {
      candidateId: row.candidate_id,
      idType: row.id_type,
      name: row.name,
      provinceCode: row.province_code,
      schoolId: row.school_id,
      campusId: row.campus_id,
      grade: row.grade,
      eligibleSubjects: row.eligible_subjects,
      cet6Barred: row.cet6_barred,
      cet4Best: row.cet4_best,
      campusOffersCet6: row.campus_offers_cet6,
      idHmacHex: row.id_hmac_hex,
      nameNormalised: row.name_normalised,
    };
  }
  return records;
}
