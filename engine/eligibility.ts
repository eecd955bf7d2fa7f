/**
 * Eligibility rules (R3, R4, R9, R10, R14) as pure functions: identity checks before any lookup,
 * the subjects a school record allows, whether the CET6 review is offered, and how a review
 * application matches the CET4 records of its ticket. No I/O, no clock other than the `today`
 * argument; the gateway (gateway/eligibility.ts) feeds them what PostgreSQL holds.
 *
 * It must never put an ID number or a name into a refusal's details or a message: refusals carry
 * a reason code only.
 *
 * Whoever writes `roster.name_normalised`, `cet4_scores.name_normalised` and the `id_hmac` inputs
 * (the roster importer) must use `normaliseName` and `normaliseIdNumber` from here, or names and
 * numbers typed by candidates will not match the stored ones.
 */
import { validateResidentId, type ResidentIdFailure } from './idNumber.ts';
import { WRITTEN_SUBJECTS, type WrittenSubject } from './subjects.ts';
import { parseTicket, FIRST_IN_SCOPE_TICKET_YEAR, TICKET_LEVEL_CET4_WRITTEN } from './ticket.ts';
import type { IdType } from './world.ts';

/** R4, R10: the CET4 written score that opens CET6. */
export const CET6_PASS_SCORE = 425;

/** Longest name accepted after normalisation (characters): Uyghur names with a father's name
 * reach ~15; 64 leaves room for long transliterated passport names and bounds the work. */
export const MAX_NAME_LENGTH = 64;

export const ID_TYPES: readonly IdType[] = [
  'RESIDENT_ID',
  'PASSPORT',
  'HK_MACAO_PERMIT',
  'TAIWAN_PERMIT',
  'MILITARY_OFFICER',
];

export function isIdType(value: unknown): value is IdType {
  return typeof value === 'string' && (ID_TYPES as readonly string[]).includes(value);
}

// ---------------------------------------------------------------------------------------------
// Names

const MIDDLE_DOT = '\u00b7';
/**
 * Characters people type for the dot between the parts of a transliterated name (阿依古丽·买买提),
 * mapped to U+00B7 MIDDLE DOT, the form the public-security records use:
 *   U+30FB KATAKANA MIDDLE DOT ・ (Chinese IMEs produce it; U+FF65 half-width ･ becomes it by NFKC)
 *   U+2022 BULLET •               (seen in real records: the seed plants it, loadtest/seed/names.ts)
 *   U+2027 HYPHENATION POINT ‧     (Taiwan/Big5 input methods)
 *   U+2219 BULLET OPERATOR ∙, U+22C5 DOT OPERATOR ⋅ (symbol pickers, Word autocorrect)
 * U+0387 GREEK ANO TELEIA needs no entry: NFKC already turns it into U+00B7.
 * The ASCII full stop '.' is deliberately NOT mapped: it is a real character of Latin names
 * ("J.R. SMITH"), and widening the net is a product decision, not a normalisation.
 */
const DOT_VARIANTS = /[\u30fb\u2022\u2027\u2219\u22c5]/g;
/** White space of every kind (JS \s covers U+3000 IDEOGRAPHIC SPACE, NBSP, U+FEFF) plus the
 * invisible format (Cf: zero-width space/joiners, bidi marks) and control (Cc) characters that
 * copy-paste brings along. None of them can be part of a name as the records write it. */
const INVISIBLE = /[\s\p{Cf}\p{Cc}]/gu;

/**
 * The comparable form of a person's name. Applied identically to the stored records and to what a
 * candidate types, so each step only has to be a function, not a perfect inverse:
 *  1. NFKC: full-width Latin letters and digits (Ｚｈａｎｇ) become ASCII, half-width katakana dot
 *     becomes ・, compatibility ideographs fold to their unified form. NFKC never changes ordinary
 *     CJK characters, so 张 and 張 stay different (simplified vs traditional is not ours to merge).
 *  2. Remove all white space and invisible characters (step 1 already turned U+3000 into a space;
 *     both are removed anyway): "张 三", "张<U+3000>三" and "张三" are one name, and Latin names typed
 *     "ZHANG SAN" or "ZhangSan" compare equal.
 *  3. Middle-dot variants → U+00B7 (see DOT_VARIANTS).
 *  4. Upper-case (locale-independent): passport names are printed in capitals (the machine-readable
 *     zone) and typed in any case; CJK is unaffected.
 *  5. Trim: implied by step 2, kept as the documented last step so a future change of step 2
 *     cannot reintroduce leading/trailing blanks.
 * An empty result means "no name" (VALIDATION_FAILED for a query).
 */
export function normaliseName(name: string): string {
  return name.normalize('NFKC').replace(INVISIBLE, '').replace(DOT_VARIANTS, MIDDLE_DOT).toUpperCase().trim();
}

// ---------------------------------------------------------------------------------------------
// Identity (R3)

const PASSPORT = /^[A-Z0-9]{5,17}$/;
const HK_MACAO_PERMIT = /^[HM]\d{8}(?:\d{2})?$/;
const TAIWAN_PERMIT = /^\d{8}(?:\d{2})?$/;

export type IdNumberFailure = ResidentIdFailure;

/**
 * The form of an ID number that is validated, hashed (id_hmac) and masked: NFKC (full-width
 * digits and letters typed with a Chinese IME become ASCII), white space removed, letters
 * upper-cased (a resident ID's check digit x → X; permit and passport letters).
 */
export function normaliseIdNumber(idNumber: string): string {
  return idNumber.normalize('NFKC').replace(INVISIBLE, '').toUpperCase();
}

export type IdentityRefusal =
  | { readonly ok: false; readonly code: 'ID_TYPE_NOT_ACCEPTED' }
  | {
      readonly ok: false;
      readonly code: 'INVALID_ID_NUMBER';
      readonly details: { readonly reason: IdNumberFailure };
    }
  | {
      readonly ok: false;
      readonly code: 'VALIDATION_FAILED';
      readonly details: { readonly field: 'idType' | 'idNumber' | 'name'; readonly reason: string };
    };

export type IdentityResult =
  | {
      readonly ok: true;
      readonly idType: IdType;
      readonly normalisedId: string;
      readonly normalisedName: string;
    }
  | IdentityRefusal;

export interface IdentityInput {
  /** Typed as unknown-ish string: it comes from a request body. */
  readonly idType: string;
  readonly idNumber: string;
  readonly name: string;
}

/**
 * R3, checked in this order so that the first failing rule is the one reported:
 *  - unknown ID type → VALIDATION_FAILED (field idType);
 *  - MILITARY_OFFICER → ID_TYPE_NOT_ACCEPTED, whatever the number;
 *  - the number: RESIDENT_ID by GB 11643 (validateResidentId; its reason in details); passport
 *    5–17 letters/digits; HK/Macao permit H|M + 8 digits (+ 2 for the older card); Taiwan permit
 *    8 digits (+ 2) → INVALID_ID_NUMBER {reason: LENGTH|FORMAT|REGION|BIRTH_DATE|CHECK_DIGIT};
 *  - the name: empty after normalisation, or longer than MAX_NAME_LENGTH → VALIDATION_FAILED.
 * `today` bounds resident-ID birth dates (China time), so tests can pin it.
 */
export function checkIdentity(input: IdentityInput, today: Date = new Date()): IdentityResult {
  const { idType } = input;
  if (!isIdType(idType)) {
    return { ok: false, code: 'VALIDATION_FAILED', details: { field: 'idType', reason: 'UNKNOWN_ID_TYPE' } };
  }
  if (idType === 'MILITARY_OFFICER') return { ok: false, code: 'ID_TYPE_NOT_ACCEPTED' };
  if (typeof input.idNumber !== 'string' || typeof input.name !== 'string') {
    const field = typeof input.idNumber !== 'string' ? 'idNumber' : 'name';
    return { ok: false, code: 'VALIDATION_FAILED', details: { field, reason: 'NOT_A_STRING' } };
  }

  const candidateId = normaliseIdNumber(input.idNumber);
  let normalisedId: string;
  if (idType === 'RESIDENT_ID') {
    const checked = validateResidentId(candidateId, today);
    if (!checked.ok) return { ok: false, code: 'INVALID_ID_NUMBER', details: { reason: checked.reason } };
    normalisedId = checked.normalized;
  } else {
    const shape =
      idType === 'PASSPORT' ? PASSPORT : idType === 'HK_MACAO_PERMIT' ? HK_MACAO_PERMIT : TAIWAN_PERMIT;
    if (!shape.test(candidateId))
      return { ok: false, code: 'INVALID_ID_NUMBER', details: { reason: 'FORMAT' } };
    normalisedId = candidateId;
  }

  const normalisedName = normaliseName(input.name);
  if (normalisedName === '') {
    return { ok: false, code: 'VALIDATION_FAILED', details: { field: 'name', reason: 'EMPTY' } };
  }
  if (normalisedName.length > MAX_NAME_LENGTH) {
    return { ok: false, code: 'VALIDATION_FAILED', details: { field: 'name', reason: 'TOO_LONG' } };
  }
  return { ok: true, idType, normalisedId, normalisedName };
}

// ---------------------------------------------------------------------------------------------
// Subjects (R4) and the review offer (R9)

/** What the school record says (the roster row). */
export interface SchoolRecord {
  readonly eligibleSubjects: readonly WrittenSubject[];
  readonly cet6Barred: boolean;
}

export interface EligibilityFacts {
  /** Best CET4 written score on file for the candidate's ID number (any name), null when none. */
  readonly cet4Best: number | null;
  /** The candidate's CET6 review is APPROVED (R10 at once, or by staff R11). */
  readonly reviewApproved: boolean;
  /** The written campus holds a CET6 sitting (a campus_capacity row for CET6). */
  readonly campusOffersCet6: boolean;
}

/**
 * R4: the written subjects the candidate may take, in WRITTEN_SUBJECTS order.
 *  - every subject other than CET6: as the school record lists it;
 *  - CET6 needs all of: the written campus offers CET6, the candidate is not barred, and either an
 *    approved review or (the school record lists CET6 and a CET4 score ≥ 425 is on file).
 * Why the school record's CET6 entry is still needed beside a passing score: the records decide
 * CET6, the score table only guards them (a listed CET6 without any passing score is refused).
 * A passing score the records have not caught up with is exactly the case R9 offers the review
 * for; the review (R10: ticket + ID number) approves it at once. Granting CET6 from the score
 * table alone would bypass that flow and R14 (pre-2005 records) — see DOMAIN.md R9.
 */
export function eligibleSubjects(record: SchoolRecord, facts: EligibilityFacts): WrittenSubject[] {
  const listed = new Set(record.eligibleSubjects);
  const passed = facts.cet4Best !== null && facts.cet4Best >= CET6_PASS_SCORE;
  const cet6 =
    facts.campusOffersCet6 && !record.cet6Barred && (facts.reviewApproved || (listed.has('CET6') && passed));
  return WRITTEN_SUBJECTS.filter((subject) => (subject === 'CET6' ? cet6 : listed.has(subject)));
}

/**
 * R9: the review is offered when the written campus offers CET6, the candidate is not barred, and
 * CET6 is not already eligible. Whether the candidate really passed CET4 is not asked here: the
 * application proves it (R10).
 */
export function cet6ReviewOffered(input: {
  readonly cet6Barred: boolean;
  readonly campusOffersCet6: boolean;
  readonly eligibleSubjects: readonly WrittenSubject[];
}): boolean {
  return input.campusOffersCet6 && !input.cet6Barred && !input.eligibleSubjects.includes('CET6');
}

export type Cet6ReviewStatus = 'NONE' | 'PENDING' | 'APPROVED' | 'REJECTED';

/** The account's review application as the engine holds it (engine/reviews.ts ReviewView). */
export interface AccountReview {
  readonly candidateId: string;
  readonly status: Exclude<Cet6ReviewStatus, 'NONE'>;
}

export interface Evaluation {
  readonly eligibleSubjects: WrittenSubject[];
  readonly cet6Review: { readonly offered: boolean; readonly status: Cet6ReviewStatus };
}

/**
 * R4 + R9 + R13 for one candidate, given the account's review application (if any):
 *  - the review counts only when it is for this candidate: before binding an account may look up
 *    several candidates (R5), and its application for one must not open CET6 for another, nor be
 *    shown as theirs;
 *  - only an APPROVED review opens CET6; PENDING (R11) and REJECTED do not;
 *  - R13: the status is reported whatever `offered` says, so the application can be viewed from
 *    both pages, also once approved (then CET6 is eligible and the review no longer offered).
 */
export function evaluateEligibility(
  candidateId: string,
  record: SchoolRecord,
  facts: Omit<EligibilityFacts, 'reviewApproved'>,
  review: AccountReview | null,
): Evaluation {
  const status: Cet6ReviewStatus =
    review !== null && review.candidateId === candidateId ? review.status : 'NONE';
  const subjects = eligibleSubjects(record, { ...facts, reviewApproved: status === 'APPROVED' });
  const offered = cet6ReviewOffered({
    cet6Barred: record.cet6Barred,
    campusOffersCet6: facts.campusOffersCet6,
    eligibleSubjects: subjects,
  });
  return { eligibleSubjects: subjects, cet6Review: { offered, status } };
}

// ---------------------------------------------------------------------------------------------
// Review matching (R10, R14)

/** A CET4 written record as stored: `idKey` is the normalised ID number or a keyed digest of it. */
export interface Cet4Record {
  readonly ticketNumber: string;
  readonly idKey: string;
  readonly nameNormalised: string;
  readonly score: number;
  readonly year: number;
}

export interface ReviewApplication {
  readonly ticketNumber: string;
  /** Same kind of key as Cet4Record.idKey (the service uses the hex HMAC of the normalised ID). */
  readonly idKey: string;
  readonly normalisedName: string;
}

export type ReviewRefusalReason =
  /** Not a 15-digit ticket of a mainland site (R10: wrong ticket). */
  | 'TICKET_MALFORMED'
  /** A CET6 (level 2) ticket: the review needs a CET4 written ticket. */
  | 'NOT_CET4_TICKET'
  /** R14: before 2005, handled offline by staff. */
  | 'TICKET_OUT_OF_SCOPE'
  /** No CET4 record for the ticket. */
  | 'NO_RECORD'
  /** A record exists but neither the ID number nor the name matches. */
  | 'NO_MATCH'
  /** The record matches the applicant but scores below 425. */
  | 'SCORE_BELOW_PASS';

export type ReviewMatch =
  | { readonly status: 'APPROVED' }
  | { readonly status: 'PENDING' }
  | { readonly status: 'REFUSED'; readonly reason: ReviewRefusalReason };

/**
 * R10 with R14. In order: the ticket must be well-formed, a CET4 written ticket, and from 2005 or
 * later (the ticket's own year, and the record's, must both be in scope); then among the records
 * of that ticket (at most one: ticket_number is the key, but a list costs nothing):
 *  - a passing record with the same ID → APPROVED (whatever the name);
 *  - else a passing record with the same normalised name → PENDING (manual review);
 *  - else a record matching by ID or name but below 425 → REFUSED SCORE_BELOW_PASS;
 *  - else REFUSED (NO_RECORD / NO_MATCH). A refusal stores nothing (the caller's concern).
 */
export function matchReview(
  application: ReviewApplication,
  recordsForTicket: readonly Cet4Record[],
): ReviewMatch {
  const ticket = parseTicket(application.ticketNumber);
  if (!ticket.ok) return { status: 'REFUSED', reason: 'TICKET_MALFORMED' };
  if (ticket.level !== TICKET_LEVEL_CET4_WRITTEN) return { status: 'REFUSED', reason: 'NOT_CET4_TICKET' };
  if (ticket.year < FIRST_IN_SCOPE_TICKET_YEAR) return { status: 'REFUSED', reason: 'TICKET_OUT_OF_SCOPE' };

  const records = recordsForTicket.filter((record) => record.ticketNumber === application.ticketNumber);
  if (records.length === 0) return { status: 'REFUSED', reason: 'NO_RECORD' };
  if (records.some((record) => record.year < FIRST_IN_SCOPE_TICKET_YEAR)) {
    return { status: 'REFUSED', reason: 'TICKET_OUT_OF_SCOPE' };
  }
  const byId = records.filter((record) => record.idKey === application.idKey);
  const byName = records.filter((record) => record.nameNormalised === application.normalisedName);
  const passes = (record: Cet4Record): boolean => record.score >= CET6_PASS_SCORE;
  if (byId.some(passes)) return { status: 'APPROVED' };
  if (byName.some(passes)) return { status: 'PENDING' };
  if (byId.length > 0 || byName.length > 0) return { status: 'REFUSED', reason: 'SCORE_BELOW_PASS' };
  return { status: 'REFUSED', reason: 'NO_MATCH' };
}
