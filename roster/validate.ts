/**
 * Per-row checks of the roster and CET4 score rows: from a row's fields (already split, in the
 * column order of csv.ts; a file line or an admin API row) to a typed row with its identity number
 * and name normalised, or the first reason the row is bad. Identity and names are checked and
 * normalised by engine/eligibility.ts (checkIdentity, normaliseIdNumber, normaliseName), the same
 * code the eligibility query runs, so a stored row is always one a candidate can find.
 * Pure functions: no keys, no I/O; the worker adds HMAC, mask and ciphertext. Details never quote
 * an ID number or a name (they go to reports and terminals).
 */
import { checkIdentity, MAX_NAME_LENGTH, normaliseIdNumber, normaliseName } from '../engine/eligibility.ts';
import { validateResidentId, type ResidentIdFailure } from '../engine/idNumber.ts';
import { isWrittenSubject, WRITTEN_SUBJECTS, type WrittenSubject } from '../engine/subjects.ts';
import { parseTicket, TICKET_LEVEL_CET4_WRITTEN } from '../engine/ticket.ts';
import type { IdType } from '../engine/world.ts';
import type { RejectReason } from './protocol.ts';

export interface Rejection {
  readonly ok: false;
  readonly reason: RejectReason;
  readonly detail: string;
}

export interface RosterRow {
  readonly candidateId: string;
  readonly idType: IdType;
  /** Normalised (engine/eligibility.ts normaliseIdNumber): the form hashed, masked and encrypted. */
  readonly idNumber: string;
  /** As written, trimmed: what is shown. */
  readonly name: string;
  /** engine/eligibility.ts normaliseName: what lookups compare. */
  readonly nameNormalised: string;
  readonly provinceCode: string;
  readonly schoolId: string;
  readonly campusId: string;
  readonly grade: string;
  /** Deduplicated, in WRITTEN_SUBJECTS order (so a re-import compares equal). */
  readonly eligibleSubjects: readonly WrittenSubject[];
  readonly cet6Barred: boolean;
}

export interface ScoreRow {
  readonly ticketNumber: string;
  readonly idNumber: string;
  readonly name: string;
  readonly nameNormalised: string;
  readonly score: number;
  readonly year: number;
}

const reject = (reason: RejectReason, detail: string): Rejection => ({ ok: false, reason, detail });

const RESIDENT_SHAPE = /^\d{17}[\dX]$/;
/** Any non-resident document as engine/eligibility.ts accepts one (its passport shape is the
 * widest: permits are 8-10 characters of the same alphabet). */
const DOCUMENT_NUMBER = /^[A-Z0-9]{5,17}$/;
const CANDIDATE_ID = /^\d{1,20}$/;
const PROVINCE_CODE = /^\d{2}$/;
const REFERENCE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
const GRADE = /^\d{4}$/;
const INTEGER = /^-?\d{1,6}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** The first CET was held in 1987 (also the lower bound of cet4_scores.year). */
const FIRST_CET_YEAR = 1987;
const CHINA_OFFSET_MS = 8 * 3_600_000;

const ID_FAILURES: Record<ResidentIdFailure, RejectReason> = {
  LENGTH: 'ID_LENGTH',
  FORMAT: 'ID_FORMAT',
  REGION: 'ID_REGION',
  BIRTH_DATE: 'ID_BIRTH_DATE',
  CHECK_DIGIT: 'ID_CHECK_DIGIT',
};

/** The display name (trimmed) must hold no control character; normalisation would hide them. */
function checkDisplayName(raw: string): { ok: true; name: string } | Rejection {
  const name = raw.trim();
  if (CONTROL.test(name)) return reject('BAD_NAME', 'the name holds a control character');
  if (name.length > 4 * MAX_NAME_LENGTH) return reject('BAD_NAME', `the name has ${name.length} characters`);
  return { ok: true, name };
}

/**
 * Identity and name exactly as the eligibility query checks them (engine/eligibility.ts
 * checkIdentity), so that a row is imported if and only if a candidate could find it.
 */
function checkRosterIdentity(
  idTypeRaw: string,
  idRaw: string,
  nameRaw: string,
  today: Date,
): { ok: true; idType: IdType; idNumber: string; nameNormalised: string } | Rejection {
  const checked = checkIdentity({ idType: idTypeRaw.trim(), idNumber: idRaw, name: nameRaw }, today);
  if (checked.ok) {
    return {
      ok: true,
      idType: checked.idType,
      idNumber: checked.normalisedId,
      nameNormalised: checked.normalisedName,
    };
  }
  switch (checked.code) {
    case 'ID_TYPE_NOT_ACCEPTED':
      return reject('ID_TYPE_NOT_ACCEPTED', 'MILITARY_OFFICER');
    case 'INVALID_ID_NUMBER':
      if (idTypeRaw.trim() !== 'RESIDENT_ID') {
        return reject('BAD_DOCUMENT_NUMBER', `${idTypeRaw.trim()}: ${checked.details.reason}`);
      }
      return reject(ID_FAILURES[checked.details.reason], `resident ID number: ${checked.details.reason}`);
    case 'VALIDATION_FAILED':
      if (checked.details.field === 'idType') return reject('UNKNOWN_ID_TYPE', clip(idTypeRaw.trim()));
      if (checked.details.reason === 'EMPTY') return reject('EMPTY_NAME', 'the name is empty or only spaces');
      return reject('BAD_NAME', `the name: ${checked.details.reason}`);
  }
}

/** Fields in ROSTER_COLUMNS order. */
export function validateRosterFields(fields: readonly string[], today: Date): RosterRow | Rejection {
  const [candidateId = '', idTypeRaw = '', idRaw = '', nameRaw = ''] = fields;
  const [provinceCode = '', schoolId = '', campusId = '', grade = '', subjectsRaw = '', barredRaw = ''] =
    fields.slice(4);

  if (!CANDIDATE_ID.test(candidateId)) return reject('BAD_CANDIDATE_ID', clip(candidateId));
  const identity = checkRosterIdentity(idTypeRaw, idRaw, nameRaw, today);
  if (!identity.ok) return identity;
  const name = checkDisplayName(nameRaw);
  if (!name.ok) return name;
  if (!PROVINCE_CODE.test(provinceCode)) return reject('BAD_PROVINCE_CODE', clip(provinceCode));
  if (!REFERENCE_ID.test(schoolId)) return reject('BAD_SCHOOL_ID', clip(schoolId));
  if (!REFERENCE_ID.test(campusId)) return reject('BAD_CAMPUS_ID', clip(campusId));
  if (!GRADE.test(grade)) return reject('BAD_GRADE', clip(grade));

  const subjects = new Set<WrittenSubject>();
  for (const item of subjectsRaw.split(';')) {
    const subject = item.trim();
    if (subject === '') continue;
    if (!isWrittenSubject(subject)) return reject('UNKNOWN_SUBJECT', clip(subject));
    subjects.add(subject);
  }
  const barred = barredRaw.trim().toLowerCase();
  if (barred !== 'true' && barred !== 'false') return reject('BAD_BOOLEAN', clip(barredRaw));

  return {
    candidateId,
    idType: identity.idType,
    idNumber: identity.idNumber,
    name: name.name,
    nameNormalised: identity.nameNormalised,
    provinceCode,
    schoolId,
    campusId,
    grade,
    eligibleSubjects: WRITTEN_SUBJECTS.filter((subject) => subjects.has(subject)),
    cet6Barred: barred === 'true',
  };
}

/** Fields in CET4_SCORE_COLUMNS order. */
export function validateScoreFields(fields: readonly string[], today: Date): ScoreRow | Rejection {
  const [ticketRaw = '', idRaw = '', nameRaw = '', scoreRaw = '', yearRaw = ''] = fields;
  const ticketNumber = ticketRaw.trim();
  const ticket = parseTicket(ticketNumber);
  if (!ticket.ok) return reject('BAD_TICKET', `${ticketNumber.length} characters`);
  if (ticket.level !== TICKET_LEVEL_CET4_WRITTEN) return reject('TICKET_NOT_CET4', `level ${ticket.level}`);
  // A score record has no ID type: an 18-character resident-shaped number is checked as one.
  const idNumber = normaliseIdNumber(idRaw);
  let storedId = idNumber;
  if (RESIDENT_SHAPE.test(idNumber)) {
    const resident = validateResidentId(idNumber, today);
    if (!resident.ok) return reject(ID_FAILURES[resident.reason], `resident ID number: ${resident.reason}`);
    storedId = resident.normalized;
  } else if (!DOCUMENT_NUMBER.test(idNumber)) {
    return reject('BAD_DOCUMENT_NUMBER', `${idNumber.length} characters after normalising`);
  }
  const name = checkDisplayName(nameRaw);
  if (!name.ok) return name;
  const nameNormalised = normaliseName(name.name);
  if (nameNormalised === '') return reject('EMPTY_NAME', 'the name is empty or only spaces');
  if (nameNormalised.length > MAX_NAME_LENGTH) {
    return reject('BAD_NAME', `the name has ${nameNormalised.length} characters`);
  }

  const score = INTEGER.test(scoreRaw.trim()) ? Number(scoreRaw.trim()) : Number.NaN;
  if (!(score >= 0 && score <= 710)) return reject('BAD_SCORE', clip(scoreRaw));
  const year = INTEGER.test(yearRaw.trim()) ? Number(yearRaw.trim()) : Number.NaN;
  const thisYear = new Date(today.getTime() + CHINA_OFFSET_MS).getUTCFullYear();
  if (!(year >= FIRST_CET_YEAR && year <= thisYear)) {
    return reject('BAD_YEAR', `${clip(yearRaw)} (${FIRST_CET_YEAR}-${thisYear})`);
  }
  if (ticket.year !== year) return reject('TICKET_YEAR_MISMATCH', `ticket ${ticket.year}, year ${year}`);
  return {
    ticketNumber,
    idNumber: storedId,
    name: name.name,
    nameNormalised,
    score,
    year,
  };
}

/**
 * How a bad value is quoted in a detail: only when it cannot be personal data (upper-case codes,
 * at most 4 digits, e.g. "DRIVER_LICENCE", "CET9", "yes"); otherwise only its length, since a
 * shifted column can put an ID number or a name anywhere.
 */
function clip(value: string): string {
  const digits = value.replace(/\D/g, '').length;
  if (value.length <= 24 && digits <= 4 && /^[A-Za-z0-9_;-]*$/.test(value) && !/[a-z]{6}/.test(value)) {
    return value;
  }
  return `<${value.length} characters>`;
}
