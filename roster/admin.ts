/**
 * School records and CET4 scores by API (PUT /api/v1/admin/roster, /cet4-scores): the file
 * importer's path (run.ts) for the small corrections school staff make after the bulk import. The
 * uWS thread checks only each row's shape; the rows then go to the worker pool, in batches, to the
 * importer's worker (roster.worker.ts): the importer's validators (validate.ts), the ID number kept
 * only as HMAC, mask and AES-GCM ciphertext (stage.ts), the name normalised. The good rows go
 * through the importer's chunk loader (loader.ts): staging table, the checks that need the database
 * (school and campus exist and agree, one candidate per identity), the idempotent upsert. Each
 * loader reject comes back as a rejected row with the importer's reason.
 *
 * Candidate ids (the API's rows carry none): a row whose identity (ID type, HMAC of the ID number)
 * is already in the roster keeps that candidate's id, so re-sending a person updates them. A new
 * identity gets an id derived from its HMAC: "9" followed by 18 digits of
 * HMAC(hmacKey, "candidate-id|type|attempt|" ‖ id_hmac). Derived, not drawn from a sequence, so the
 * same new person sent twice at once gets one id (no race, no migration), and nobody can compute
 * it without the server's key. The 19-digit "9…" space is apart from the seed's 1..n; should a
 * derived id be held by another identity (a file import may use any 1-20 digits), the next attempt
 * is taken.
 *
 * R7: this only writes the roster in PostgreSQL. A saved registration keeps the snapshot the
 * engine took when it was saved (its Redis record), so roster changes never reach it.
 *
 * It must never put an ID number or a name in a message, a log or an error.
 */
import { createHmac } from 'node:crypto';
import { copyRow } from '../db/copyText.ts';
import { query } from '../db/pool.ts';
import type { IdKeys } from '../engine/idCrypto.ts';
import type { IdType } from '../engine/world.ts';
import { BulkOutcome, checkRow, FirstRowWins, type BulkAnswer } from '../gateway/admin/rows.ts';
import type { ApiCode } from '../gateway/errors.ts';
import { strictObject, Type } from '../gateway/http/schemas.ts';
import type { Services } from '../gateway/services.ts';
import { openChunkLoader, type AppliedChunk } from './loader.ts';
import {
  REJECT_REASONS,
  type EncodedRow,
  type ImportKind,
  type RejectReason,
  type RowsResult,
  type RowsTask,
} from './protocol.ts';
import { ROSTER_STAGE_COLUMN } from './stage.ts';

/** Shapes only: the importer's validators judge the contents, so both paths refuse alike. */
export const RosterRow = strictObject({
  idType: Type.String({ maxLength: 32 }),
  idNumber: Type.String({ maxLength: 64 }),
  name: Type.String({ maxLength: 256 }),
  schoolId: Type.String({ maxLength: 64 }),
  campusId: Type.String({ maxLength: 64 }),
  grade: Type.Union([Type.String({ maxLength: 16 }), Type.Integer({ minimum: 0, maximum: 9999 })]),
  eligibleSubjects: Type.Array(Type.String({ pattern: '^[A-Z0-9-]{1,16}$' }), { maxItems: 16 }),
  cet6Barred: Type.Boolean(),
});

export const ScoreRow = strictObject({
  ticketNumber: Type.String({ maxLength: 32 }),
  idNumber: Type.String({ maxLength: 64 }),
  name: Type.String({ maxLength: 256 }),
  score: Type.Integer({ minimum: -999_999, maximum: 999_999 }),
  year: Type.Integer({ minimum: -999_999, maximum: 999_999 }),
});

/** Stand-ins for the two importer columns an API row does not carry (filled in after the checks). */
const UNSET_CANDIDATE_ID = '0';
const UNSET_PROVINCE = '00';
const DERIVED_ID_ATTEMPTS = 4;
/** Rows per worker task: a body of 10,000 rows spreads over the pool's threads. */
const ROWS_PER_TASK = 500;

const IDENTITY_REASONS: ReadonlySet<RejectReason> = new Set([
  'ID_LENGTH',
  'ID_FORMAT',
  'ID_REGION',
  'ID_BIRTH_DATE',
  'ID_CHECK_DIGIT',
  'BAD_DOCUMENT_NUMBER',
]);

/** The API code of an importer reject reason: the eligibility query's codes for identity problems. */
function codeOf(reason: RejectReason): ApiCode {
  if (reason === 'ID_TYPE_NOT_ACCEPTED') return 'ID_TYPE_NOT_ACCEPTED';
  return IDENTITY_REASONS.has(reason) ? 'INVALID_ID_NUMBER' : 'VALIDATION_FAILED';
}

function rejectRow(outcome: BulkOutcome, index: number, reason: RejectReason, detail: string): void {
  // the loader's details count in lines; here a line is a row index
  const where = detail.replace(/\bline\b/g, 'row');
  outcome.reject(index, codeOf(reason), `${REJECT_REASONS[reason]}${where ? ` (${where})` : ''}`, reason);
}

/** Rows that passed the shape check, as fields in the importer's column order, by body index. */
interface ShapedRows {
  readonly lines: number[];
  readonly rows: string[][];
}

/**
 * The importer's per-row checks and encoding, on the worker pool (never on the uWS thread): the
 * rows' rejects go into `outcome`, the good rows come back in body order.
 */
async function encodeOnPool(
  services: Services,
  kind: ImportKind,
  shaped: ShapedRows,
  now: number,
  outcome: BulkOutcome,
): Promise<EncodedRow[]> {
  const batches: Promise<RowsResult>[] = [];
  for (let first = 0; first < shaped.rows.length; first += ROWS_PER_TASK) {
    const task: RowsTask = {
      kind,
      lines: shaped.lines.slice(first, first + ROWS_PER_TASK),
      rows: shaped.rows.slice(first, first + ROWS_PER_TASK),
      hmacKeyHex: services.idKeys.hmacKey.toString('hex'),
      encryptionKeyHex: services.idKeys.encryptionKey.toString('hex'),
      todayMs: now,
    };
    batches.push(services.tasks.run<RowsResult>('roster', task));
  }
  const encoded: EncodedRow[] = [];
  for (const result of await Promise.all(batches)) {
    for (const reject of result.rejects) rejectRow(outcome, reject.line, reject.reason, reject.detail);
    encoded.push(...result.encoded);
  }
  return encoded;
}

/** Runs the importer's loader on one COPY payload (lines are row indexes) and reports its rejects. */
async function load(
  services: Services,
  kind: ImportKind,
  copyText: string,
  rows: number,
  outcome: BulkOutcome,
): Promise<AppliedChunk> {
  const loader = await openChunkLoader(services.db, kind);
  try {
    const applied = await loader.apply(copyText, rows, 0);
    for (const reject of applied.rejects) rejectRow(outcome, reject.line, reject.reason, reject.detail);
    return applied;
  } finally {
    await loader.close();
  }
}

// ---------------------------------------------------------------------------------- roster

interface CheckedRosterRow {
  readonly index: number;
  readonly idType: IdType;
  readonly schoolId: string;
  readonly hmac: Buffer;
  /** The staging columns, candidate id and province still unset. */
  readonly columns: string[];
}

/** A new identity's candidate id (see the module comment). */
export function derivedCandidateId(keys: IdKeys, idType: IdType, hmac: Buffer, attempt: number): string {
  const digest = createHmac('sha256', keys.hmacKey)
    .update(`candidate-id|${idType}|${attempt}|`)
    .update(hmac)
    .digest();
  return `9${(digest.readBigUInt64BE(0) % 10n ** 18n).toString().padStart(18, '0')}`;
}

const identityKey = (idType: string, hmac: Buffer): string => `${idType}:${hmac.toString('hex')}`;

/** Existing candidate ids by identity, and the school's province of each school named. */
async function rosterFacts(services: Services, rows: readonly CheckedRosterRow[]) {
  const [held, schools] = await Promise.all([
    query<{ candidate_id: string; id_type: string; id_hmac: Buffer }>(
      services.db,
      `SELECT r.candidate_id, r.id_type, r.id_hmac FROM roster r
         JOIN unnest($1::text[], $2::bytea[]) AS given (id_type, id_hmac)
           ON r.id_type = given.id_type AND r.id_hmac = given.id_hmac`,
      [rows.map((r) => r.idType), rows.map((r) => r.hmac)],
    ),
    query<{ school_id: string; province_code: string }>(
      services.db,
      'SELECT school_id, province_code FROM schools WHERE school_id = ANY($1::text[])',
      [[...new Set(rows.map((r) => r.schoolId))]],
    ),
  ]);
  return {
    candidateOf: new Map(held.map((r) => [identityKey(r.id_type, r.id_hmac), r.candidate_id])),
    provinceOf: new Map(schools.map((r) => [r.school_id, r.province_code])),
  };
}

/** Derived ids for new identities, skipping any held by another identity. */
async function allocate(
  services: Services,
  fresh: readonly CheckedRosterRow[],
): Promise<Map<number, string | null>> {
  const chosen = new Map<number, string | null>();
  let pending = [...fresh];
  for (let attempt = 0; attempt < DERIVED_ID_ATTEMPTS && pending.length > 0; attempt++) {
    const proposed = pending.map((r) => ({
      checked: r,
      candidateId: derivedCandidateId(services.idKeys, r.idType, r.hmac, attempt),
    }));
    const holders = await query<{ candidate_id: string; id_type: string; id_hmac: Buffer }>(
      services.db,
      'SELECT candidate_id, id_type, id_hmac FROM roster WHERE candidate_id = ANY($1::text[])',
      [proposed.map((p) => p.candidateId)],
    );
    const holderOf = new Map(holders.map((h) => [h.candidate_id, identityKey(h.id_type, h.id_hmac)]));
    const next: CheckedRosterRow[] = [];
    for (const { checked, candidateId } of proposed) {
      const holder = holderOf.get(candidateId);
      if (holder === undefined || holder === identityKey(checked.idType, checked.hmac)) {
        chosen.set(checked.index, candidateId);
      } else next.push(checked);
    }
    pending = next;
  }
  for (const r of pending) chosen.set(r.index, null);
  return chosen;
}

/** The rows of a roster body that pass the importer's checks, each person once (the first row wins). */
async function checkRosterRows(
  services: Services,
  rows: readonly unknown[],
  now: number,
  outcome: BulkOutcome,
): Promise<CheckedRosterRow[]> {
  const shaped: ShapedRows = { lines: [], rows: [] };
  rows.forEach((row, index) => {
    const shape = checkRow(RosterRow, row);
    if (!shape.ok) return outcome.invalid(index, shape.message);
    const r = shape.value;
    shaped.lines.push(index);
    shaped.rows.push([
      UNSET_CANDIDATE_ID,
      r.idType,
      r.idNumber,
      r.name,
      UNSET_PROVINCE,
      r.schoolId,
      r.campusId,
      String(r.grade),
      r.eligibleSubjects.join(';'),
      String(r.cet6Barred),
    ]);
  });
  if (shaped.rows.length === 0) return [];
  const samePerson = new FirstRowWins();
  const checked: CheckedRosterRow[] = [];
  for (const { line: index, columns, roster } of await encodeOnPool(
    services,
    'roster',
    shaped,
    now,
    outcome,
  )) {
    if (roster === undefined) throw new Error('the roster worker answered a roster row without its identity');
    const hmac = Buffer.from(roster.idHmacHex, 'hex');
    const earlier = samePerson.claim(identityKey(roster.idType, hmac), index);
    if (earlier !== undefined) rejectRow(outcome, index, 'DUPLICATE_ID', `same ID number as row ${earlier}`);
    else checked.push({ index, idType: roster.idType, schoolId: roster.schoolId, hmac, columns });
  }
  return checked;
}

export async function putRoster(services: Services, rows: readonly unknown[], now: number) {
  const outcome = new BulkOutcome();
  const checked = await checkRosterRows(services, rows, now, outcome);
  if (checked.length === 0)
    return outcome.answer(0, { inserted: 0, updated: 0, unchanged: 0, candidates: [] });

  const facts = await rosterFacts(services, checked);
  const allocated = await allocate(
    services,
    checked.filter((r) => !facts.candidateOf.has(identityKey(r.idType, r.hmac))),
  );
  const assigned: { index: number; candidateId: string }[] = [];
  let copyText = '';
  for (const { index, idType, schoolId, hmac, columns } of checked) {
    const candidateId = facts.candidateOf.get(identityKey(idType, hmac)) ?? allocated.get(index) ?? null;
    if (candidateId === null) {
      outcome.invalid(index, 'no free candidate id could be derived for this identity; retry the row');
      continue;
    }
    assigned.push({ index, candidateId });
    const staged = [...columns];
    staged[ROSTER_STAGE_COLUMN.candidateId] = candidateId;
    // an unknown school has no province: the loader rejects the row as UNKNOWN_SCHOOL
    staged[ROSTER_STAGE_COLUMN.provinceCode] = facts.provinceOf.get(schoolId) ?? UNSET_PROVINCE;
    copyText += copyRow(staged);
  }
  if (assigned.length === 0)
    return outcome.answer(0, { inserted: 0, updated: 0, unchanged: 0, candidates: [] });
  const applied = await load(services, 'roster', copyText, assigned.length, outcome);
  const refused = new Set(applied.rejects.map((reject) => reject.line));
  return outcome.answer(assigned.length - refused.size, {
    inserted: applied.inserted,
    updated: applied.updated,
    unchanged: applied.unchanged,
    candidates: assigned.filter((a) => !refused.has(a.index)),
  });
}

// ---------------------------------------------------------------------------------- CET4 scores

export async function putCet4Scores(
  services: Services,
  rows: readonly unknown[],
  now: number,
): Promise<BulkAnswer & Record<string, unknown>> {
  const outcome = new BulkOutcome();
  const shaped: ShapedRows = { lines: [], rows: [] };
  rows.forEach((row, index) => {
    const shape = checkRow(ScoreRow, row);
    if (!shape.ok) return outcome.invalid(index, shape.message);
    const r = shape.value;
    shaped.lines.push(index);
    shaped.rows.push([r.ticketNumber, r.idNumber, r.name, String(r.score), String(r.year)]);
  });
  const firstTicket = new FirstRowWins();
  let copyText = '';
  let good = 0;
  const encoded =
    shaped.rows.length === 0 ? [] : await encodeOnPool(services, 'scores', shaped, now, outcome);
  for (const { line: index, columns, ticketNumber } of encoded) {
    if (ticketNumber === undefined)
      throw new Error('the roster worker answered a score row without its ticket');
    const earlier = firstTicket.claim(ticketNumber, index);
    if (earlier !== undefined) {
      rejectRow(outcome, index, 'DUPLICATE_TICKET', `ticket already on row ${earlier}`);
      continue;
    }
    good++;
    copyText += copyRow(columns);
  }
  if (good === 0) return outcome.answer(0, { inserted: 0, updated: 0, unchanged: 0 });
  const applied = await load(services, 'scores', copyText, good, outcome);
  return outcome.answer(good - applied.rejects.length, {
    inserted: applied.inserted,
    updated: applied.updated,
    unchanged: applied.unchanged,
  });
}

export type { BulkAnswer };
