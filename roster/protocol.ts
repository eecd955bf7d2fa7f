/**
 * What the roster worker (roster.worker.ts) is given and gives back. From the file import: a chunk
 * of whole CSV lines with the number of its first line, and back the chunk's good rows as a COPY
 * text payload plus its bad rows with line numbers and reasons. From the admin API (admin.ts):
 * rows already split into fields, and back each good row's staging columns. Also the one table of
 * reject reasons, shared by the worker (per-row checks), the loader (checks that need the database
 * or the rest of the file) and the API. Types and constants only.
 */
import type { IdType } from '../engine/world.ts';

/** Which file a chunk comes from, decided by its header (header.ts). */
export type ImportKind = 'roster' | 'scores';

export interface ChunkTask {
  readonly kind: ImportKind;
  /** Line number (1-based, the header being line 1) of the first line in `data`. */
  readonly firstLine: number;
  /** Whole lines, UTF-8, each ending in "\n" except perhaps the file's last. */
  readonly data: Uint8Array;
  /** Lines whose bytes were dropped because they were longer than the limit (rejected as LINE_TOO_LONG). */
  readonly tooLongLines: readonly number[];
  /** For each expected column (in ROSTER_COLUMNS / CET4_SCORE_COLUMNS order), its index in the file. */
  readonly columnIndexes: readonly number[];
  /** Number of columns the header has: every line must have exactly this many. */
  readonly columnCount: number;
  /** HMAC and encryption keys, hex (engine/idCrypto.ts). */
  readonly hmacKeyHex: string;
  readonly encryptionKeyHex: string;
  /** "Today" for birth dates and score years, epoch ms (a driven clock in tests). */
  readonly todayMs: number;
}

/** The admin API's rows: fields in ROSTER_COLUMNS / CET4_SCORE_COLUMNS order, one array per row. */
export interface RowsTask {
  readonly kind: ImportKind;
  /** Each row's "line": its index in the request body. */
  readonly lines: readonly number[];
  readonly rows: readonly (readonly string[])[];
  readonly hmacKeyHex: string;
  readonly encryptionKeyHex: string;
  readonly todayMs: number;
}

export interface EncodedRow {
  readonly line: number;
  /** The staging table's COPY columns (stage.ts), each already escaped. */
  readonly columns: string[];
  /** Roster rows: what the API looks up before it fills in candidate id and province. */
  readonly roster?: {
    readonly idType: IdType;
    /** The ID number's HMAC, hex (a Buffer would arrive as a bare Uint8Array). */
    readonly idHmacHex: string;
    readonly schoolId: string;
  };
  /** Score rows: the ticket, which one request may hold once. */
  readonly ticketNumber?: string;
}

export interface RowsResult {
  /** The rows that passed the per-row checks, in task order. */
  readonly encoded: EncodedRow[];
  readonly rejects: RejectedRow[];
}

export interface RejectedRow {
  readonly line: number;
  readonly reason: RejectReason;
  /** A short explanation; never an ID number or a name. */
  readonly detail: string;
}

export interface ChunkResult {
  /** Data lines seen (blank lines are skipped and not counted). */
  readonly rows: number;
  /** Rows that passed the per-row checks: COPY text, one line per row, in file order. */
  readonly goodRows: number;
  readonly copyText: string;
  readonly rejects: RejectedRow[];
}

export const REJECT_REASONS = {
  // the line itself
  LINE_TOO_LONG: 'line longer than the limit',
  BAD_ENCODING: 'not valid UTF-8',
  BAD_QUOTING: 'CSV quoting is broken (RFC 4180)',
  COLUMN_COUNT: 'wrong number of columns',
  // roster fields
  BAD_CANDIDATE_ID: 'candidate id is not 1-20 digits',
  UNKNOWN_ID_TYPE: 'ID type is not one of RESIDENT_ID, PASSPORT, HK_MACAO_PERMIT, TAIWAN_PERMIT',
  ID_TYPE_NOT_ACCEPTED: 'military officer ID is not accepted (R3)',
  ID_LENGTH: 'resident ID number is not 18 characters',
  ID_FORMAT: 'resident ID number is not 17 digits and a check character',
  ID_REGION: 'resident ID number has no mainland region code',
  ID_BIRTH_DATE: 'resident ID number has an impossible birth date',
  ID_CHECK_DIGIT: 'resident ID number has a wrong check digit',
  BAD_DOCUMENT_NUMBER: 'passport or permit number has the wrong shape',
  EMPTY_NAME: 'name is empty',
  BAD_NAME: 'name has control characters or is too long',
  BAD_PROVINCE_CODE: 'province code is not two digits',
  BAD_SCHOOL_ID: 'school id is malformed',
  BAD_CAMPUS_ID: 'campus id is malformed',
  BAD_GRADE: 'grade is not a four-digit year',
  UNKNOWN_SUBJECT: 'eligible subjects hold an unknown or non-written subject',
  BAD_BOOLEAN: 'cet6Barred is not true or false',
  // score fields
  BAD_TICKET: 'ticket number is not a 15-digit admission ticket',
  TICKET_NOT_CET4: 'ticket is not a CET4 written ticket',
  BAD_SCORE: 'score is not an integer 0-710',
  BAD_YEAR: 'year is not a plausible CET year',
  TICKET_YEAR_MISMATCH: 'year differs from the ticket year',
  // checks against the database or the rest of the file (loader.ts)
  UNKNOWN_SCHOOL: 'school is not in the reference data',
  PROVINCE_MISMATCH: 'school belongs to another province',
  UNKNOWN_CAMPUS: 'campus is not in the reference data',
  CAMPUS_NOT_OF_SCHOOL: 'campus belongs to another school',
  DUPLICATE_CANDIDATE: 'candidate id already on an earlier line',
  DUPLICATE_ID: 'same ID number as another candidate on an earlier line',
  ID_IN_USE: 'ID number already held by another candidate in the roster',
  DUPLICATE_TICKET: 'ticket number already on an earlier line',
} as const;

export type RejectReason = keyof typeof REJECT_REASONS;
