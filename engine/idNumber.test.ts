import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAINLAND_PROVINCE_CODES,
  makeResidentId,
  maskIdNumber,
  normalizeResidentId,
  residentIdCheckDigit,
  validateResidentId,
  type ResidentIdResult,
} from './idNumber.ts';

const TODAY = new Date('2025-09-10T01:00:00Z'); // 09:00 in Beijing

describe('residentIdCheckDigit', () => {
  it('computes the published example', () => {
    expect(residentIdCheckDigit('11010519491231002')).toBe('X');
  });

  it('refuses input that is not 17 digits', () => {
    expect(() => residentIdCheckDigit('1101051949123100')).toThrow(RangeError);
    expect(() => residentIdCheckDigit('1101051949123100A')).toThrow(RangeError);
  });
});

describe('validateResidentId', () => {
  it('accepts the GB 11643 example and reads it', () => {
    expect(validateResidentId('11010519491231002X', TODAY)).toEqual({
      ok: true,
      normalized: '11010519491231002X',
      birthDate: '1949-12-31',
      regionCode: '110105',
      sex: 'F',
    });
  });

  it('accepts a lowercase x and normalises it to X', () => {
    const result = validateResidentId('11010519491231002x', TODAY);
    expect(result).toMatchObject({ ok: true, normalized: '11010519491231002X' });
    expect(normalizeResidentId('11010519491231002x')).toBe('11010519491231002X');
  });

  it('reads an odd sequence digit as male', () => {
    const id = makeResidentId('440106', '2003-07-15', 123);
    expect(validateResidentId(id, TODAY)).toMatchObject({ ok: true, sex: 'M', birthDate: '2003-07-15' });
  });

  it('refuses a wrong check digit', () => {
    expect(validateResidentId('110105194912310021', TODAY)).toEqual({ ok: false, reason: 'CHECK_DIGIT' });
  });

  it('refuses 17 and 19 characters as LENGTH', () => {
    expect(validateResidentId('11010519491231002', TODAY)).toEqual({ ok: false, reason: 'LENGTH' });
    expect(validateResidentId('11010519491231002X0', TODAY)).toEqual({ ok: false, reason: 'LENGTH' });
    expect(validateResidentId('', TODAY)).toEqual({ ok: false, reason: 'LENGTH' });
  });

  it('refuses letters and an X anywhere but last as FORMAT', () => {
    expect(validateResidentId('1101051949123100AX', TODAY)).toEqual({ ok: false, reason: 'FORMAT' });
    expect(validateResidentId('X10105194912310021', TODAY)).toEqual({ ok: false, reason: 'FORMAT' });
    expect(validateResidentId('11010519491231002Y', TODAY)).toEqual({ ok: false, reason: 'FORMAT' });
    expect(validateResidentId('１1010519491231002X', TODAY)).toEqual({ ok: false, reason: 'FORMAT' });
  });

  it('refuses Hong Kong, Macao, Taiwan and unknown province prefixes as REGION', () => {
    for (const prefix of ['71', '81', '82', '83', '00', '10', '99']) {
      const id = makeResidentId(`${prefix}0101`, '2000-01-01', 1);
      expect(validateResidentId(id, TODAY)).toEqual({ ok: false, reason: 'REGION' });
    }
  });

  it('knows February: 30 never, 29 only in leap years (2000 yes, 1900 no)', () => {
    const at = (date: string) => validateResidentId(makeResidentId('110105', date, 2), TODAY);
    expect(at('20010230')).toEqual({ ok: false, reason: 'BIRTH_DATE' });
    expect(at('20000230')).toEqual({ ok: false, reason: 'BIRTH_DATE' });
    expect(at('19000229')).toEqual({ ok: false, reason: 'BIRTH_DATE' });
    expect(at('20010229')).toEqual({ ok: false, reason: 'BIRTH_DATE' });
    expect(at('2000-02-29')).toMatchObject({ ok: true, birthDate: '2000-02-29' });
    expect(at('2004-02-29')).toMatchObject({ ok: true });
  });

  it('refuses month 00/13, day 00/32 and April 31', () => {
    for (const date of ['20010015', '20011315', '20010100', '20010132', '20010431']) {
      expect(validateResidentId(makeResidentId('110105', date, 2), TODAY)).toEqual({
        ok: false,
        reason: 'BIRTH_DATE',
      });
    }
  });

  it('refuses births before 1900 and after today (in China time)', () => {
    const at = (date: string, today: Date) => validateResidentId(makeResidentId('110105', date, 2), today);
    expect(at('18991231', TODAY)).toEqual({ ok: false, reason: 'BIRTH_DATE' });
    expect(at('19000101', TODAY)).toMatchObject({ ok: true });
    expect(at('20250910', TODAY)).toMatchObject({ ok: true });
    expect(at('20250911', TODAY)).toEqual({ ok: false, reason: 'BIRTH_DATE' });
    // 2025-09-10T20:00Z is already 2025-09-11 04:00 in Beijing.
    expect(at('20250911', new Date('2025-09-10T20:00:00Z'))).toMatchObject({ ok: true });
  });
});

describe('maskIdNumber', () => {
  it('keeps the first 6 and last 4 of an 18-character number', () => {
    expect(maskIdNumber('11010519491231002X')).toBe('110105********002X');
  });

  it('keeps the first 2 and last 2 of any other length, and hides short ones fully', () => {
    expect(maskIdNumber('E12345678')).toBe('E1*****78');
    expect(maskIdNumber('H1234567890')).toBe('H1*******90');
    expect(maskIdNumber('1234')).toBe('****');
    expect(maskIdNumber('')).toBe('');
  });
});

describe('makeResidentId', () => {
  it('round-trips through the validator', () => {
    expect(makeResidentId('110105', '1949-12-31', 2)).toBe('11010519491231002X');
    expect(makeResidentId('110105', new Date(Date.UTC(1949, 11, 31)), 2)).toBe('11010519491231002X');
  });

  it('refuses a bad region or sequence', () => {
    expect(() => makeResidentId('11010', '2000-01-01', 1)).toThrow(RangeError);
    expect(() => makeResidentId('110105', '2000-01-01', 1000)).toThrow(RangeError);
    expect(() => makeResidentId('110105', '2000-1-1', 1)).toThrow(RangeError);
  });
});

// ---- property test against an independent reference -------------------------------------------

/** Written separately from the module on purpose: its own province list, ISO 7064 MOD 11-2 over
 * all 18 characters (the sum must be 1), and dates checked by a Date.UTC round trip. */
const REFERENCE_PROVINCES = new Set(
  '11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65'.split(' '),
);

function referenceValidate(value: string, today: Date): ResidentIdResult {
  if (value.length !== 18) return { ok: false, reason: 'LENGTH' };
  for (let i = 0; i < 18; i++) {
    const c = value[i]!;
    const isDigit = c >= '0' && c <= '9';
    if (!(isDigit || (i === 17 && (c === 'X' || c === 'x')))) return { ok: false, reason: 'FORMAT' };
  }
  if (!REFERENCE_PROVINCES.has(value.slice(0, 2))) return { ok: false, reason: 'REGION' };

  const year = parseInt(value.slice(6, 10), 10);
  const month = parseInt(value.slice(10, 12), 10);
  const day = parseInt(value.slice(12, 14), 10);
  const birth = new Date(Date.UTC(year, month - 1, day));
  const roundTrips =
    birth.getUTCFullYear() === year && birth.getUTCMonth() === month - 1 && birth.getUTCDate() === day;
  const chinaNow = new Date(today.getTime() + 8 * 3600 * 1000);
  const todayUtcMidnight = Date.UTC(chinaNow.getUTCFullYear(), chinaNow.getUTCMonth(), chinaNow.getUTCDate());
  if (!roundTrips || year < 1900 || birth.getTime() > todayUtcMidnight) {
    return { ok: false, reason: 'BIRTH_DATE' };
  }

  let sum = 0;
  for (let i = 0; i < 18; i++) {
    const c = value[i]!;
    const digit = c === 'X' || c === 'x' ? 10 : Number(c);
    sum = (sum + digit * (2 ** (17 - i) % 11)) % 11;
  }
  if (sum !== 1) return { ok: false, reason: 'CHECK_DIGIT' };
  return {
    ok: true,
    normalized: value.slice(0, 17) + value[17]!.toUpperCase(),
    birthDate: birth.toISOString().slice(0, 10),
    regionCode: value.slice(0, 6),
    sex: Number(value[16]) % 2 === 1 ? 'M' : 'F',
  };
}

/** The check character that makes the MOD 11-2 sum 1, found by trying all eleven. */
function referenceCheckChar(first17: string): string {
  for (const candidate of '0123456789X') {
    if (referenceValidateChecksum(first17 + candidate)) return candidate;
  }
  throw new Error('unreachable: one of 11 residues always fits');
}
function referenceValidateChecksum(value: string): boolean {
  let sum = 0;
  for (let i = 0; i < 18; i++) {
    const digit = value[i] === 'X' ? 10 : Number(value[i]);
    sum += digit * (2 ** (17 - i) % 11);
  }
  return sum % 11 === 1;
}

const digits = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n });
const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Mostly plausible numbers (real province, real-ish date, right check digit), some near misses. */
const plausibleId = fc
  .record({
    province: fc.oneof(
      { weight: 9, arbitrary: fc.constantFrom(...MAINLAND_PROVINCE_CODES) },
      { weight: 1, arbitrary: fc.constantFrom('00', '10', '71', '81', '82', '83', '99') },
    ),
    area: digits(4),
    year: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 1940, max: 2025 }) },
      { weight: 2, arbitrary: fc.integer({ min: 1880, max: 2040 }) },
    ),
    month: fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 1, max: 12 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 19 }) },
    ),
    day: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 1, max: 28 }) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 39 }) },
    ),
    seq: fc.integer({ min: 0, max: 999 }),
    lowercase: fc.boolean(),
  })
  .map(({ province, area, year, month, day, seq, lowercase }) => {
    const first17 = `${province}${area}${pad(year, 4)}${pad(month, 2)}${pad(day, 2)}${pad(seq, 3)}`;
    const check = referenceCheckChar(first17);
    return first17 + (lowercase ? check.toLowerCase() : check);
  });

const SOME_CHARS = [...'0123456789', 'X', 'x', 'A', ' ', '-', '０'];

/** One corruption of a plausible number: replace, swap, delete, insert a character, or nothing. */
const corruptedId = fc
  .tuple(
    plausibleId,
    fc.constantFrom('none', 'replace', 'swap', 'delete', 'insert'),
    fc.nat(),
    fc.constantFrom(...SOME_CHARS),
  )
  .map(([id, how, at, char]) => {
    const i = at % id.length;
    switch (how) {
      case 'replace':
        return id.slice(0, i) + char + id.slice(i + 1);
      case 'swap':
        return i + 1 < id.length ? id.slice(0, i) + id[i + 1]! + id[i]! + id.slice(i + 2) : id;
      case 'delete':
        return id.slice(0, i) + id.slice(i + 1);
      case 'insert':
        return id.slice(0, i) + char + id.slice(i);
      default:
        return id;
    }
  });

const anyId = fc.oneof(
  { weight: 3, arbitrary: plausibleId },
  { weight: 6, arbitrary: corruptedId },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...SOME_CHARS), minLength: 16, maxLength: 20 }) },
);

describe('validateResidentId against the reference implementation', () => {
  it('agrees on 120,000 random valid and corrupted numbers, covering every outcome', () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(anyId, (id) => {
        const actual = validateResidentId(id, TODAY);
        expect(actual).toEqual(referenceValidate(id, TODAY));
        const key = actual.ok ? 'OK' : actual.reason;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }),
      { numRuns: 120_000 },
    );
    for (const outcome of ['OK', 'LENGTH', 'FORMAT', 'REGION', 'BIRTH_DATE', 'CHECK_DIGIT']) {
      expect(outcomes.get(outcome) ?? 0, outcome).toBeGreaterThan(1_000);
    }
  });

  it('makeResidentId always yields numbers the reference accepts', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MAINLAND_PROVINCE_CODES),
        digits(4),
        fc.date({
          min: new Date(Date.UTC(1900, 0, 1)),
          max: new Date(Date.UTC(2025, 8, 9)),
          noInvalidDate: true,
        }),
        fc.integer({ min: 0, max: 999 }),
        (province, area, birth, seq) => {
          const id = makeResidentId(province + area, birth, seq);
          expect(referenceValidate(id, TODAY).ok).toBe(true);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});
