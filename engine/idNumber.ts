/**
 * Mainland resident identity numbers (GB 11643-1999), checked before any eligibility lookup (R3):
 * 6-digit region code, 8-digit birth date, 3-digit sequence (odd = male), check digit.
 * Pure functions; an ID number never goes into an error message or a log from here (use
 * maskIdNumber when one must be shown).
 */

/** The 31 mainland provinces by GB/T 2260 code. 71 (Taiwan), 81 (Hong Kong), 82 (Macao) and the
 * 83 of residence permits are not here: those people register with another document type. */
export const MAINLAND_PROVINCE_CODES: readonly string[] = [
  '11', '12', '13', '14', '15',
  '21', '22', '23',
  '31', '32', '33', '34', '35', '36', '37',
  '41', '42', '43', '44', '45', '46',
  '50', '51', '52', '53', '54',
  '61', '62', '63', '64', '65',
]; // prettier-ignore

const PROVINCE_CODE_SET: ReadonlySet<string> = new Set(MAINLAND_PROVINCE_CODES);

export function isMainlandProvinceCode(code: string): boolean {
  return PROVINCE_CODE_SET.has(code);
}

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const CHECK_CHARS = '10X98765432';
const FIRST17 = /^\d{17}$/;
const SHAPE = /^\d{17}[\dXx]$/;
const EARLIEST_BIRTH = '19000101';
/** Birth dates are compared with "today" in China Standard Time (UTC+8, no daylight saving). */
const CHINA_OFFSET_MS = 8 * 3_600_000;

export type ResidentIdFailure = 'LENGTH' | 'FORMAT' | 'REGION' | 'BIRTH_DATE' | 'CHECK_DIGIT';

export type ResidentIdResult =
  | {
      readonly ok: true;
      /** The number with a lowercase x check digit made uppercase: the form to store and hash. */
      readonly normalized: string;
      readonly birthDate: string; // YYYY-MM-DD
      readonly regionCode: string; // first 6 digits
      readonly sex: 'M' | 'F';
    }
  | { readonly ok: false; readonly reason: ResidentIdFailure };

export function residentIdCheckDigit(first17: string): string {
  if (!FIRST17.test(first17)) throw new RangeError('residentIdCheckDigit needs exactly 17 digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * WEIGHTS[i]!;
  return CHECK_CHARS[sum % 11]!;
}

/** Uppercases a trailing x; anything else is returned unchanged. */
export function normalizeResidentId(value: string): string {
  return value.endsWith('x') ? `${value.slice(0, -1)}X` : value;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** YYYYMMDD of the given instant in China Standard Time. */
function chinaDateKey(instant: Date): string {
  return new Date(instant.getTime() + CHINA_OFFSET_MS).toISOString().slice(0, 10).replaceAll('-', '');
}

/**
 * Checks, in this order, so that a caller can rely on the first failing one being reported:
 * LENGTH (not 18 characters), FORMAT (not 17 digits + digit/X/x), REGION (first two digits not a
 * mainland province), BIRTH_DATE (not a calendar date, before 1900-01-01, or after `today` in China
 * time), CHECK_DIGIT.
 */
export function validateResidentId(value: string, today: Date = new Date()): ResidentIdResult {
  if (value.length !== 18) return { ok: false, reason: 'LENGTH' };
  if (!SHAPE.test(value)) return { ok: false, reason: 'FORMAT' };
  if (!PROVINCE_CODE_SET.has(value.slice(0, 2))) return { ok: false, reason: 'REGION' };

  const birthKey = value.slice(6, 14);
  const year = Number(birthKey.slice(0, 4));
  const month = Number(birthKey.slice(4, 6));
  const day = Number(birthKey.slice(6, 8));
  const isCalendarDate = month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
  if (!isCalendarDate || birthKey < EARLIEST_BIRTH || birthKey > chinaDateKey(today)) {
    return { ok: false, reason: 'BIRTH_DATE' };
  }

  const normalized = normalizeResidentId(value);
  if (residentIdCheckDigit(normalized.slice(0, 17)) !== normalized[17]) {
    return { ok: false, reason: 'CHECK_DIGIT' };
  }
  return {
    ok: true,
    normalized,
    birthDate: `${birthKey.slice(0, 4)}-${birthKey.slice(4, 6)}-${birthKey.slice(6, 8)}`,
    regionCode: value.slice(0, 6),
    sex: (value.charCodeAt(16) - 48) % 2 === 1 ? 'M' : 'F',
  };
}

/**
 * What may be shown of an identity number: an 18-character one keeps its first 6 and last 4
 * characters (110105********002X); any other keeps its first 2 and last 2, and one of 4 characters
 * or fewer is masked entirely.
 */
export function maskIdNumber(value: string): string {
  if (value.length === 18) return `${value.slice(0, 6)}********${value.slice(14)}`;
  if (value.length <= 4) return '*'.repeat(value.length);
  return `${value.slice(0, 2)}${'*'.repeat(value.length - 4)}${value.slice(-2)}`;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const EIGHT_DIGITS = /^\d{8}$/;
function twoDigits(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

/**
 * Builds a resident ID number with its check digit. `birth` is a Date (its UTC calendar date) or a
 * 'YYYY-MM-DD' / 'YYYYMMDD' string; `seq3` is the 3-digit sequence (0..999, odd = male). The date is
 * not checked, so that tests can build a wrong-date number with a correct check digit.
 */
export function makeResidentId(regionCode6: string, birth: Date | string, seq3: number): string {
  if (!/^\d{6}$/.test(regionCode6)) throw new RangeError('regionCode6 must be 6 digits');
  if (!Number.isInteger(seq3) || seq3 < 0 || seq3 > 999) throw new RangeError('seq3 must be 0..999');
  let birthKey: string;
  if (typeof birth === 'string') {
    birthKey = ISO_DATE.test(birth) ? birth.slice(0, 4) + birth.slice(5, 7) + birth.slice(8, 10) : birth;
    if (!EIGHT_DIGITS.test(birthKey)) throw new RangeError('birth must be YYYY-MM-DD or YYYYMMDD');
  } else {
    const year = birth.getUTCFullYear();
    if (!(year >= 1000 && year <= 9999))
      throw new RangeError('birth must be a valid Date with a 4-digit year');
    birthKey = `${year}${twoDigits(birth.getUTCMonth() + 1)}${twoDigits(birth.getUTCDate())}`;
  }
  const first17 = `${regionCode6}${birthKey}${String(seq3).padStart(3, '0')}`;
  return first17 + residentIdCheckDigit(first17);
}
