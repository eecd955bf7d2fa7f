import { describe, expect, it } from 'vitest';
import {
  CET6_PASS_SCORE,
  cet6ReviewOffered,
  checkIdentity,
  eligibleSubjects,
  evaluateEligibility,
  matchReview,
  normaliseIdNumber,
  normaliseName,
  type Cet4Record,
  type EligibilityFacts,
  type SchoolRecord,
} from './eligibility.ts';
import { makeResidentId } from './idNumber.ts';
import { makeTicket } from './ticket.ts';

const TODAY = new Date(Date.UTC(2025, 8, 10));
const RESIDENT = '11010519491231002X';
const identity = (idType: string, idNumber: string, name = '张三') =>
  checkIdentity({ idType, idNumber, name }, TODAY);

describe('names (normaliseName)', () => {
  it('folds full-width Latin letters to half-width and upper-cases them', () => {
    expect(normaliseName('Ｚｈａｎｇ Ｓａｎ')).toBe('ZHANGSAN');
    expect(normaliseName('zhang san')).toBe(normaliseName('ZHANG SAN'));
  });

  it('removes every white space, the ideographic space U+3000 and invisible characters included', () => {
    expect(normaliseName(' 张\u3000三 ')).toBe('张三');
    expect(normaliseName('张\t三\n')).toBe('张三');
    expect(normaliseName('张\u200b三\ufeff')).toBe('张三');
    expect(normaliseName('\u3000 \u00a0')).toBe('');
  });

  it('unifies middle-dot variants to U+00B7 and leaves CJK characters alone', () => {
    const expected = '阿依古丽\u00b7买买提';
    for (const dot of ['\u00b7', '\u30fb', '\u2022', '\u2027', '\u2219', '\u22c5', '\uff65', '\u0387']) {
      expect(normaliseName(`阿依古丽${dot}买买提`), `dot U+${dot.codePointAt(0)!.toString(16)}`).toBe(
        expected,
      );
    }
    expect(normaliseName('阿依古丽 · 买买提')).toBe(expected);
    expect(normaliseName('张')).not.toBe(normaliseName('張')); // simplified vs traditional stay distinct
    expect(normaliseName('J.R. SMITH')).toBe('J.R.SMITH'); // ASCII full stop is not a middle dot
  });

  it('normalises ID numbers the same way (full-width digits, lower-case x, blanks)', () => {
    expect(normaliseIdNumber('１１０１０５１９４９１２３１００２ｘ')).toBe(RESIDENT);
    expect(normaliseIdNumber(' h1234 5678 ')).toBe('H12345678');
  });
});

describe('R3 identity check before any lookup', () => {
  it('accepts a valid resident ID and returns the normalised number and name', () => {
    expect(
      checkIdentity({ idType: 'RESIDENT_ID', idNumber: '11010519491231002x', name: ' 张　三' }, TODAY),
    ).toEqual({
      ok: true,
      idType: 'RESIDENT_ID',
      normalisedId: RESIDENT,
      normalisedName: '张三',
    });
  });

  it('refuses the military officer ID whatever the number', () => {
    expect(identity('MILITARY_OFFICER', RESIDENT)).toEqual({ ok: false, code: 'ID_TYPE_NOT_ACCEPTED' });
    expect(identity('MILITARY_OFFICER', '')).toEqual({ ok: false, code: 'ID_TYPE_NOT_ACCEPTED' });
  });

  it('refuses resident IDs failing GB 11643 with the reason, never the number', () => {
    const badCheck = `${RESIDENT.slice(0, 17)}1`;
    const badDate = makeResidentId('110105', '19490230', 2); // correct check digit, no such date
    const future = makeResidentId('110105', '20300101', 2);
    const cases: [string, string][] = [
      [badCheck, 'CHECK_DIGIT'],
      [badDate, 'BIRTH_DATE'],
      [future, 'BIRTH_DATE'],
      ['1101051949123100', 'LENGTH'],
      ['71010519491231002X', 'REGION'],
      ['1101051949123100A2', 'FORMAT'],
    ];
    for (const [number, reason] of cases) {
      const result = identity('RESIDENT_ID', number);
      expect(result).toEqual({ ok: false, code: 'INVALID_ID_NUMBER', details: { reason } });
      expect(JSON.stringify(result)).not.toContain(number);
    }
  });

  it('checks other documents for a plausible format', () => {
    const ok = (idType: string, idNumber: string) => expect(identity(idType, idNumber).ok).toBe(true);
    const bad = (idType: string, idNumber: string) =>
      expect(identity(idType, idNumber)).toEqual({
        ok: false,
        code: 'INVALID_ID_NUMBER',
        details: { reason: 'FORMAT' },
      });
    ok('PASSPORT', 'E12345678');
    ok('PASSPORT', 'ab123'); // 5, upper-cased
    ok('PASSPORT', 'A'.repeat(17));
    bad('PASSPORT', 'E123');
    bad('PASSPORT', 'A'.repeat(18));
    bad('PASSPORT', 'E1234-5678');
    ok('HK_MACAO_PERMIT', 'H12345678');
    ok('HK_MACAO_PERMIT', 'm1234567801');
    bad('HK_MACAO_PERMIT', 'K12345678');
    bad('HK_MACAO_PERMIT', 'H123456789');
    ok('TAIWAN_PERMIT', '12345678');
    ok('TAIWAN_PERMIT', '1234567801');
    bad('TAIWAN_PERMIT', '1234567');
    bad('TAIWAN_PERMIT', 'T12345678');
  });

  it('refuses an empty or over-long name, and an unknown ID type, as VALIDATION_FAILED', () => {
    expect(identity('RESIDENT_ID', RESIDENT, ' \u3000 ')).toEqual({
      ok: false,
      code: 'VALIDATION_FAILED',
      details: { field: 'name', reason: 'EMPTY' },
    });
    expect(identity('RESIDENT_ID', RESIDENT, '张'.repeat(65))).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'name' },
    });
    expect(identity('STUDENT_CARD', RESIDENT)).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'idType' },
    });
  });

  it('reports the ID type refusal before the number, and the number before the name', () => {
    expect(identity('MILITARY_OFFICER', 'garbage', '')).toMatchObject({ code: 'ID_TYPE_NOT_ACCEPTED' });
    expect(identity('RESIDENT_ID', 'garbage', '')).toMatchObject({ code: 'INVALID_ID_NUMBER' });
  });
});

const record = (eligible: SchoolRecord['eligibleSubjects'], cet6Barred = false): SchoolRecord => ({
  eligibleSubjects: eligible,
  cet6Barred,
});
const facts = (over: Partial<EligibilityFacts> = {}): EligibilityFacts => ({
  cet4Best: 500,
  reviewApproved: false,
  campusOffersCet6: true,
  ...over,
});

describe('R4 eligible subjects', () => {
  it('keeps the non-CET6 subjects the school record lists, in subject order', () => {
    expect(eligibleSubjects(record(['TFU4', 'CJT4', 'CET4']), facts({ cet4Best: null }))).toEqual([
      'CET4',
      'CJT4',
      'TFU4',
    ]);
  });

  it('gives CET6 at 425 and not at 424', () => {
    const listed = record(['CET4', 'CET6']);
    expect(eligibleSubjects(listed, facts({ cet4Best: CET6_PASS_SCORE }))).toEqual(['CET4', 'CET6']);
    expect(eligibleSubjects(listed, facts({ cet4Best: CET6_PASS_SCORE - 1 }))).toEqual(['CET4']);
    expect(eligibleSubjects(listed, facts({ cet4Best: null }))).toEqual(['CET4']);
  });

  it('does not give CET6 from a passing score the school record does not list (R9 review instead)', () => {
    expect(eligibleSubjects(record(['CET4']), facts({ cet4Best: 600 }))).toEqual(['CET4']);
  });

  it('gives CET6 with an approved review even without a score', () => {
    expect(eligibleSubjects(record(['CET4']), facts({ cet4Best: null, reviewApproved: true }))).toEqual([
      'CET4',
      'CET6',
    ]);
  });

  it('never gives CET6 to a barred candidate, or at a campus without CET6', () => {
    expect(eligibleSubjects(record(['CET4', 'CET6'], true), facts({ reviewApproved: true }))).toEqual([
      'CET4',
    ]);
    expect(eligibleSubjects(record(['CET4', 'CET6']), facts({ campusOffersCet6: false }))).toEqual(['CET4']);
    expect(
      eligibleSubjects(record(['CET4']), facts({ campusOffersCet6: false, reviewApproved: true })),
    ).toEqual(['CET4']);
  });
});

describe('R9 review offer', () => {
  const offered = (
    cet6Barred: boolean,
    campusOffersCet6: boolean,
    subjects: SchoolRecord['eligibleSubjects'],
  ) => cet6ReviewOffered({ cet6Barred, campusOffersCet6, eligibleSubjects: subjects });

  it('is offered when the campus offers CET6, the candidate is not barred and CET6 is not eligible', () => {
    expect(offered(false, true, ['CET4'])).toBe(true);
  });

  it('is not offered when CET6 is already eligible, the candidate is barred, or the campus has no CET6', () => {
    expect(offered(false, true, ['CET4', 'CET6'])).toBe(false);
    expect(offered(true, true, ['CET4'])).toBe(false);
    expect(offered(false, false, ['CET4'])).toBe(false);
  });

  it('is offered to a listed-CET6 candidate whose best score is 424 (the pass is proven by the application)', () => {
    const result = evaluateEligibility('1', record(['CET4', 'CET6']), facts({ cet4Best: 424 }), null);
    expect(result).toEqual({ eligibleSubjects: ['CET4'], cet6Review: { offered: true, status: 'NONE' } });
  });
});

describe('R11 pending and rejected reviews do not open CET6', () => {
  it('keeps CET6 closed and the review offered (to view, or to edit after rejection)', () => {
    for (const status of ['PENDING', 'REJECTED'] as const) {
      expect(evaluateEligibility('7', record(['CET4']), facts(), { candidateId: '7', status })).toEqual({
        eligibleSubjects: ['CET4'],
        cet6Review: { offered: true, status },
      });
    }
  });
});

describe('R12 an approved review is final and opens CET6', () => {
  it('makes CET6 eligible and closes the offer', () => {
    expect(
      evaluateEligibility('7', record(['CET4']), facts(), { candidateId: '7', status: 'APPROVED' }),
    ).toEqual({
      eligibleSubjects: ['CET4', 'CET6'],
      cet6Review: { offered: false, status: 'APPROVED' },
    });
  });
});

describe('R13 the review is visible from both pages, for its own candidate only', () => {
  it('reports an approved status even though the review is no longer offered', () => {
    const result = evaluateEligibility('7', record(['CET4']), facts(), {
      candidateId: '7',
      status: 'APPROVED',
    });
    expect(result.cet6Review.status).toBe('APPROVED');
    expect(result.cet6Review.offered).toBe(false);
  });

  it('ignores the account’s review for another candidate (R5: several look-ups before binding)', () => {
    expect(
      evaluateEligibility('8', record(['CET4']), facts(), { candidateId: '7', status: 'APPROVED' }),
    ).toEqual({
      eligibleSubjects: ['CET4'],
      cet6Review: { offered: true, status: 'NONE' },
    });
  });
});

const ID = 'id-key-of-applicant';
const NAME = '阿依古丽\u00b7买买提';
const ticket = (year: number, level: 1 | 2 = 1) =>
  makeTicket({ siteCode: '650001', year, half: 2, level, sequence: 7 });
const cet4 = (over: Partial<Cet4Record> = {}): Cet4Record => ({
  ticketNumber: ticket(2023),
  idKey: ID,
  nameNormalised: NAME,
  score: 480,
  year: 2023,
  ...over,
});
const apply = (over: Partial<{ ticketNumber: string; idKey: string; normalisedName: string }> = {}) => ({
  ticketNumber: ticket(2023),
  idKey: ID,
  normalisedName: NAME,
  ...over,
});

describe('R10 review matching', () => {
  it('approves at once on ticket + ID number, whatever the name', () => {
    expect(matchReview(apply(), [cet4()])).toEqual({ status: 'APPROVED' });
    expect(matchReview(apply({ normalisedName: '张三' }), [cet4()])).toEqual({ status: 'APPROVED' });
  });

  it('is pending on ticket + name with another ID number', () => {
    expect(matchReview(apply({ idKey: 'other' }), [cet4()])).toEqual({ status: 'PENDING' });
  });

  it('matches a bullet-typed name once both sides are normalised', () => {
    const typed = normaliseName('阿依古丽•买买提');
    expect(matchReview(apply({ idKey: 'other', normalisedName: typed }), [cet4()])).toEqual({
      status: 'PENDING',
    });
  });

  it('refuses a wrong ticket, or neither ID nor name matching', () => {
    expect(matchReview(apply(), [])).toEqual({ status: 'REFUSED', reason: 'NO_RECORD' });
    expect(matchReview(apply({ idKey: 'other', normalisedName: '张三' }), [cet4()])).toEqual({
      status: 'REFUSED',
      reason: 'NO_MATCH',
    });
    // a record of another ticket handed in by mistake does not count
    expect(matchReview(apply(), [cet4({ ticketNumber: ticket(2022) })])).toEqual({
      status: 'REFUSED',
      reason: 'NO_RECORD',
    });
  });

  it('refuses a matching record below 425 (424), and accepts exactly 425', () => {
    expect(matchReview(apply(), [cet4({ score: 424 })])).toEqual({
      status: 'REFUSED',
      reason: 'SCORE_BELOW_PASS',
    });
    expect(matchReview(apply({ idKey: 'other' }), [cet4({ score: 424 })])).toEqual({
      status: 'REFUSED',
      reason: 'SCORE_BELOW_PASS',
    });
    expect(matchReview(apply(), [cet4({ score: 425 })])).toEqual({ status: 'APPROVED' });
  });

  it('refuses malformed tickets and CET6 tickets', () => {
    expect(matchReview(apply({ ticketNumber: '12345' }), [cet4()])).toEqual({
      status: 'REFUSED',
      reason: 'TICKET_MALFORMED',
    });
    const cet6Ticket = ticket(2023, 2);
    expect(matchReview(apply({ ticketNumber: cet6Ticket }), [cet4({ ticketNumber: cet6Ticket })])).toEqual({
      status: 'REFUSED',
      reason: 'NOT_CET4_TICKET',
    });
  });
});

describe('R14 tickets before 2005 are out of scope', () => {
  it('refuses a 2004 ticket even with a passing, fully matching record; accepts 2005', () => {
    const old = ticket(2004);
    expect(matchReview(apply({ ticketNumber: old }), [cet4({ ticketNumber: old, year: 2004 })])).toEqual({
      status: 'REFUSED',
      reason: 'TICKET_OUT_OF_SCOPE',
    });
    const first = ticket(2005);
    expect(matchReview(apply({ ticketNumber: first }), [cet4({ ticketNumber: first, year: 2005 })])).toEqual({
      status: 'APPROVED',
    });
  });

  it('refuses a record whose own year is before 2005 whatever its ticket says', () => {
    expect(matchReview(apply(), [cet4({ year: 2004 })])).toEqual({
      status: 'REFUSED',
      reason: 'TICKET_OUT_OF_SCOPE',
    });
  });

  it('refuses a 1999 ticket (two-digit year 99) before looking for records', () => {
    expect(matchReview(apply({ ticketNumber: ticket(1999) }), [])).toEqual({
      status: 'REFUSED',
      reason: 'TICKET_OUT_OF_SCOPE',
    });
  });
});
