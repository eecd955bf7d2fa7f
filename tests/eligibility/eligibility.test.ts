/**
 * The eligibility service against a real PostgreSQL (a fresh database, migrated, with a small
 * generated roster and hand-made edge cases), in inline mode and on the worker pool.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { normaliseName } from '../../engine/eligibility.ts';
import { idKeysFromEnv } from '../../config/index.ts';
import { makeResidentId } from '../../engine/idNumber.ts';
import { makeTicket } from '../../engine/ticket.ts';
import type { Campus, Cet4Score, RosterEntry } from '../../engine/world.ts';
import { createPool, query, type Pool } from '../../db/pool.ts';
import { migrate } from '../../db/migrate.ts';
import { EligibilityService, type EligibilityAnswer } from '../../gateway/eligibility.ts';
import { WorkerPool } from '../../gateway/workers/pool.ts';
import { generateWorld, type GeneratedWorld } from '../../loadtest/seed/generate.ts';
import type { SeededCandidate } from '../../loadtest/seed/candidates.ts';
import { freshDatabase, type FreshDatabase } from '../support/pg.ts';
import { UNHURRIED_LANES } from '../support/lanes.ts';
import { insertCet4Scores, insertReference, insertRoster } from '../../db/sql/seedRows.ts';

const keys = idKeysFromEnv({ env: {}, allowDevelopmentKeys: true });

// Hand-made campuses in Beijing (province 11, present in the generated world): one with CET6, one without.
const SCHOOL = { schoolId: '119999', name: '测试大学', provinceCode: '11' };
const campus = (campusId: string, withCet6: boolean): Campus => ({
  campusId,
  name: `测试大学${campusId}`,
  provinceCode: '11',
  schoolId: SCHOOL.schoolId,
  studentsMayTakeOralElsewhere: true,
  capacity: withCet6 ? { CET4: 100, CET6: 50 } : { CET4: 100 },
  oralOpens: { ownSchoolAt: Date.UTC(2025, 8, 10), provinceWideAt: null },
});
const CET6_CAMPUS = campus('1199991', true);
const NO_CET6_CAMPUS = campus('1199992', false);

const rid = (seq: number): string => makeResidentId('110105', '2003-05-17', seq);
const person = (
  candidateId: string,
  seq: number,
  name: string,
  eligibleSubjects: RosterEntry['eligibleSubjects'],
  over: Partial<RosterEntry> = {},
): RosterEntry => ({
  candidateId,
  idType: 'RESIDENT_ID',
  idNumber: rid(seq),
  name,
  provinceCode: '11',
  schoolId: SCHOOL.schoolId,
  campusId: CET6_CAMPUS.campusId,
  grade: '2023',
  eligibleSubjects,
  cet6Barred: false,
  ...over,
});

const PASS_425 = person('900001', 101, '王五', ['CET4', 'CET6']);
const FAIL_424 = person('900002', 103, '赵六', ['CET4', 'CET6']);
const BARRED = person('900003', 105, '孙七', ['CET4', 'CET6', 'CJT4'], { cet6Barred: true });
const NO_CET6_HERE = person('900004', 107, '周八', ['CET4'], { campusId: NO_CET6_CAMPUS.campusId });
const LAGGING = person('900005', 109, '阿依古丽·买买提', ['CET4']); // passed, records lag: R9
const PASSPORT = person('900006', 0, 'Zhang San', ['CET4'], { idType: 'PASSPORT', idNumber: 'E87654321' });
const NOT_ON_ROSTER = rid(111);

const ticket = (year: number, sequence: number): string =>
  makeTicket({ siteCode: SCHOOL.schoolId, year, half: 2, level: 1, sequence });
const T_LAGGING = ticket(2023, 1);
const T_PENDING = ticket(2023, 2); // LAGGING's name, an older ID number
const T_2004 = ticket(2004, 3); // LAGGING's ID and name, before 2005
const T_LOW = ticket(2022, 4); // LAGGING's ID, 424
const T_STRANGER = ticket(2023, 5);
const T_UNKNOWN = ticket(2023, 6);
const score = (
  ticketNumber: string,
  idNumber: string,
  name: string,
  value: number,
  year: number,
): Cet4Score => ({
  ticketNumber,
  idNumber,
  name,
  score: value,
  year,
});
const HAND_SCORES: Cet4Score[] = [
  score(ticket(2022, 10), PASS_425.idNumber, PASS_425.name, 425, 2022),
  score(ticket(2021, 11), PASS_425.idNumber, PASS_425.name, 380, 2021),
  score(ticket(2022, 12), FAIL_424.idNumber, FAIL_424.name, 424, 2022),
  score(ticket(2022, 13), BARRED.idNumber, BARRED.name, 600, 2022),
  score(T_LAGGING, LAGGING.idNumber, '阿依古丽•买买提', 500, 2023), // bullet typed for the dot
  score(T_PENDING, makeResidentId('110106', '2003-05-17', 109), LAGGING.name, 470, 2023),
  score(T_2004, LAGGING.idNumber, LAGGING.name, 560, 2004),
  score(T_LOW, LAGGING.idNumber, LAGGING.name, 424, 2022),
  score(T_STRANGER, rid(113), '钱九', 520, 2023),
];

let db: FreshDatabase;
let pool: Pool;
let workers: WorkerPool;
let world: GeneratedWorld;
let inline: EligibilityService;
let pooled: EligibilityService;

const ask = (entry: Pick<RosterEntry, 'idType' | 'idNumber' | 'name'>, service = inline) =>
  service.query({ idType: entry.idType, idNumber: entry.idNumber, name: entry.name });
const answered = async (entry: Pick<RosterEntry, 'idType' | 'idNumber' | 'name'>, service = inline) => {
  const answer = await ask(entry, service);
  if (!answer.ok) throw new Error(`expected an answer, got ${answer.code}`);
  return answer;
};

async function tableDigest(): Promise<string> {
  const [row] = await query<{ digest: string }>(
    pool,
    `SELECT md5(coalesce((SELECT string_agg(r::text, '|' ORDER BY candidate_id) FROM roster r), '') ||
                coalesce((SELECT string_agg(s::text, '|' ORDER BY ticket_number) FROM cet4_scores s), '')) AS digest`,
  );
  return row!.digest;
}

beforeAll(async () => {
  db = await freshDatabase();
  pool = createPool(db.url, { max: 4, applicationName: 'tests:eligibility' });
  await migrate(pool);
  world = generateWorld({ seed: 3, provinces: 2, candidates: 3_000, now: Date.UTC(2025, 8, 10, 1) });
  await insertReference(pool, {
    provinces: world.world.provinces,
    schools: [...world.world.schools, SCHOOL],
    campuses: [...world.world.campuses, CET6_CAMPUS, NO_CET6_CAMPUS],
  });
  await insertRoster(pool, keys, [
    ...world.roster(),
    PASS_425,
    FAIL_424,
    BARRED,
    NO_CET6_HERE,
    LAGGING,
    PASSPORT,
  ]);
  await insertCet4Scores(pool, keys, [...world.cet4Scores(), ...HAND_SCORES]);
  workers = new WorkerPool({ threads: 2, lanes: UNHURRIED_LANES });
  inline = new EligibilityService({
    mode: 'inline',
    db: pool,
    hmacKey: keys.hmacKey,
    batch: { maxItems: 1 },
  });
  pooled = new EligibilityService({ mode: 'pool', pool: workers, db: pool, hmacKey: keys.hmacKey });
});

afterAll(async () => {
  await workers?.close();
  await pool?.end();
  await db?.drop();
});

describe('R3 identity refusals', () => {
  const refusals = [
    {
      idType: 'MILITARY_OFFICER',
      idNumber: PASS_425.idNumber,
      name: PASS_425.name,
      code: 'ID_TYPE_NOT_ACCEPTED',
    },
    {
      idType: 'RESIDENT_ID',
      idNumber: `${PASS_425.idNumber.slice(0, 17)}${PASS_425.idNumber.endsWith('1') ? '2' : '1'}`,
      name: PASS_425.name,
      code: 'INVALID_ID_NUMBER',
      reason: 'CHECK_DIGIT',
    },
    {
      idType: 'RESIDENT_ID',
      idNumber: makeResidentId('110105', '20030230', 101), // right check digit, no 30 February
      name: PASS_425.name,
      code: 'INVALID_ID_NUMBER',
      reason: 'BIRTH_DATE',
    },
    { idType: 'PASSPORT', idNumber: 'E1', name: 'Zhang San', code: 'INVALID_ID_NUMBER', reason: 'FORMAT' },
    { idType: 'RESIDENT_ID', idNumber: PASS_425.idNumber, name: '\u3000', code: 'VALIDATION_FAILED' },
  ] as const;

  for (const mode of ['inline', 'pool'] as const) {
    it(`refuses before any lookup and changes nothing (${mode})`, async () => {
      const service = mode === 'inline' ? inline : pooled;
      const before = await tableDigest();
      const spy = vi.spyOn(pool, 'query');
      try {
        for (const { code, ...input } of refusals) {
          const answer = await service.query(input);
          expect(answer).toMatchObject({ ok: false, code });
          if ('reason' in input) expect(answer).toMatchObject({ details: { reason: input.reason } });
          expect(JSON.stringify(answer)).not.toContain(input.idNumber || '\u0000');
          const review = await service.reviewMatch({ ...input, ticketNumber: T_LAGGING });
          expect(review).toMatchObject({ ok: false, code });
        }
        expect(spy).not.toHaveBeenCalled();
      } finally {
        spy.mockRestore();
      }
      expect(await tableDigest()).toBe(before);
    });
  }
});

describe('R4 eligible subjects', () => {
  it('gives CET6 with a best CET4 score of 425 and not with 424', async () => {
    expect((await answered(PASS_425)).eligibleSubjects).toEqual(['CET4', 'CET6']);
    expect((await answered(FAIL_424)).eligibleSubjects).toEqual(['CET4']);
  });

  it('never gives CET6 to a barred candidate, even with an approved review; other subjects as listed', async () => {
    const answer = await inline.query(BARRED, {
      review: { candidateId: BARRED.candidateId, status: 'APPROVED' },
    });
    expect(answer).toMatchObject({ ok: true, eligibleSubjects: ['CET4', 'CJT4'] });
  });

  it('opens CET6 for an approved review of this candidate, not for another candidate’s', async () => {
    const approved = await inline.query(LAGGING, {
      review: { candidateId: LAGGING.candidateId, status: 'APPROVED' },
    });
    expect(approved).toMatchObject({
      ok: true,
      eligibleSubjects: ['CET4', 'CET6'],
      cet6Review: { offered: false, status: 'APPROVED' },
    });
    const pending = await inline.query(LAGGING, {
      review: { candidateId: LAGGING.candidateId, status: 'PENDING' },
    });
    expect(pending).toMatchObject({
      eligibleSubjects: ['CET4'],
      cet6Review: { offered: true, status: 'PENDING' },
    });
    const other = await inline.query(LAGGING, {
      review: { candidateId: PASS_425.candidateId, status: 'APPROVED' },
    });
    expect(other).toMatchObject({
      eligibleSubjects: ['CET4'],
      cet6Review: { offered: true, status: 'NONE' },
    });
  });

  it('returns the school record with the ID masked, never in full', async () => {
    const answer = await answered(PASS_425);
    expect(answer.candidate).toEqual({
      candidateId: PASS_425.candidateId,
      name: PASS_425.name,
      idMasked: `${PASS_425.idNumber.slice(0, 6)}********${PASS_425.idNumber.slice(14)}`,
      idType: 'RESIDENT_ID',
      provinceCode: '11',
      schoolId: SCHOOL.schoolId,
      campusId: CET6_CAMPUS.campusId,
      grade: '2023',
    });
    expect(JSON.stringify(answer)).not.toContain(PASS_425.idNumber);
    expect((await answered(PASSPORT)).candidate.idMasked).toBe('E8*****21');
  });

  it('finds names typed with full-width letters, blanks, lower case or another middle dot', async () => {
    expect((await answered({ ...PASSPORT, name: 'ｚｈａｎｇ　ｓａｎ' })).candidate.candidateId).toBe(
      PASSPORT.candidateId,
    );
    expect((await answered({ ...LAGGING, name: '阿依古丽・买买提' })).candidate.candidateId).toBe(
      LAGGING.candidateId,
    );
    expect((await answered({ ...LAGGING, name: ' 阿依古丽 ‧ 买买提 ' })).candidate.candidateId).toBe(
      LAGGING.candidateId,
    );
    expect(
      (await answered({ ...LAGGING, idNumber: LAGGING.idNumber.toLowerCase() })).candidate.candidateId,
    ).toBe(LAGGING.candidateId);
  });

  it('agrees with the seed: subjects exactly as the generated school records list them', async () => {
    const sample = [...world.candidates()].slice(0, 600);
    for (const seeded of sample) {
      const answer = await answered(seeded.entry);
      expect(answer.eligibleSubjects, seeded.entry.candidateId).toEqual(seeded.entry.eligibleSubjects);
    }
  });
});

describe('CANDIDATE_NOT_FOUND', () => {
  it('answers 404 for a valid ID not on the roster, a roster ID with the wrong name, or the wrong ID type', async () => {
    expect(await ask({ idType: 'RESIDENT_ID', idNumber: NOT_ON_ROSTER, name: '王五' })).toEqual({
      ok: false,
      code: 'CANDIDATE_NOT_FOUND',
    });
    expect(await ask({ ...PASS_425, name: '王六' })).toEqual({ ok: false, code: 'CANDIDATE_NOT_FOUND' });
    expect(await ask({ ...PASSPORT, idType: 'HK_MACAO_PERMIT', idNumber: 'H87654321' })).toEqual({
      ok: false,
      code: 'CANDIDATE_NOT_FOUND',
    });
  });
});

describe('R9 review offer', () => {
  it('is offered when CET6 is not eligible at a CET6 campus for a candidate not barred', async () => {
    expect((await answered(LAGGING)).cet6Review).toEqual({ offered: true, status: 'NONE' });
    expect((await answered(FAIL_424)).cet6Review).toEqual({ offered: true, status: 'NONE' });
  });

  it('is not offered when CET6 is eligible, the candidate is barred, or the campus has no CET6', async () => {
    expect((await answered(PASS_425)).cet6Review.offered).toBe(false);
    expect((await answered(BARRED)).cet6Review.offered).toBe(false);
    expect((await answered(NO_CET6_HERE)).cet6Review.offered).toBe(false);
  });

  it('is offered to every seeded candidate the seed expects it for', async () => {
    const expected = [...world.candidates()].filter((c) => c.cet6ReviewExpected);
    expect(expected.length).toBeGreaterThan(0);
    for (const seeded of expected) {
      const answer = await answered(seeded.entry);
      expect(answer.cet6Review.offered, seeded.entry.candidateId).toBe(true);
      expect(answer.eligibleSubjects).not.toContain('CET6');
    }
  });
});

describe('R10 review match', () => {
  const apply = (ticketNumber: string, over: Partial<RosterEntry> = {}) =>
    inline.reviewMatch({
      idType: LAGGING.idType,
      idNumber: LAGGING.idNumber,
      name: LAGGING.name,
      ...over,
      ticketNumber,
    });

  it('approves ticket + ID number at once, whatever the name on the record', async () => {
    expect(await apply(T_LAGGING)).toEqual({ ok: true, status: 'APPROVED' });
    expect(await apply(T_LAGGING, { name: '另一个名字' })).toEqual({ ok: true, status: 'APPROVED' });
  });

  it('is pending on ticket + name with another ID number', async () => {
    expect(await apply(T_PENDING)).toEqual({ ok: true, status: 'PENDING' });
  });

  it('refuses an unknown ticket, a stranger’s record, a malformed ticket and a score of 424', async () => {
    expect(await apply(T_UNKNOWN)).toEqual({ ok: true, status: 'REFUSED', reason: 'NO_RECORD' });
    expect(await apply(T_STRANGER)).toEqual({ ok: true, status: 'REFUSED', reason: 'NO_MATCH' });
    expect(await apply('12345')).toEqual({ ok: true, status: 'REFUSED', reason: 'TICKET_MALFORMED' });
    expect(await apply(T_LOW)).toEqual({ ok: true, status: 'REFUSED', reason: 'SCORE_BELOW_PASS' });
  });

  it('agrees with the seed’s planted cases', async () => {
    const planted = [...world.candidates()].flatMap((c: SeededCandidate) =>
      c.scores.filter((s) => s.kind !== 'NORMAL').map((s) => ({ entry: c.entry, score: s })),
    );
    const kinds = new Set(planted.map((p) => p.score.kind));
    expect(kinds).toEqual(new Set(['BEFORE_2005', 'NAME_DIFFERS', 'ID_DIFFERS']));
    const expected = { NAME_DIFFERS: 'APPROVED', ID_DIFFERS: 'PENDING', BEFORE_2005: 'REFUSED' } as const;
    for (const { entry, score: record } of planted) {
      const match = await inline.reviewMatch({ ...entry, ticketNumber: record.ticketNumber });
      expect(match, `${record.kind} ${entry.candidateId}`).toMatchObject({
        ok: true,
        status: expected[record.kind as keyof typeof expected],
      });
    }
  });
});

describe('R14 tickets before 2005', () => {
  it('refuses a 2004 ticket even with a passing record of the same ID and name', async () => {
    expect(await inline.reviewMatch({ ...LAGGING, ticketNumber: T_2004 })).toEqual({
      ok: true,
      status: 'REFUSED',
      reason: 'TICKET_OUT_OF_SCOPE',
    });
  });
});

describe('micro-batching', () => {
  it('gives the same answers as inline under 1,000 concurrent queries, in far fewer pool tasks', async () => {
    const seeded = [...world.candidates()].slice(0, 700).map((c) => c.entry);
    const inputs = Array.from({ length: 1_000 }, (_, i) => {
      const entry = seeded[i % seeded.length]!;
      switch (i % 10) {
        case 7:
          return { idType: entry.idType, idNumber: entry.idNumber, name: `${entry.name}x` }; // wrong name
        case 8:
          return { idType: 'RESIDENT_ID', idNumber: `${entry.idNumber.slice(0, 17)}Z`, name: entry.name }; // invalid
        case 9:
          return { idType: 'MILITARY_OFFICER', idNumber: entry.idNumber, name: entry.name };
        default:
          return { idType: entry.idType, idNumber: entry.idNumber, name: entry.name };
      }
    });
    const runSpy = vi.spyOn(workers, 'run');
    const batchedAnswers = await Promise.all(inputs.map((input) => pooled.query(input)));
    const poolTasks = runSpy.mock.calls.length;
    runSpy.mockRestore();
    const inlineAnswers = await Promise.all(inputs.map((input) => inline.query(input)));
    expect(batchedAnswers).toEqual(inlineAnswers);
    expect(poolTasks).toBeLessThanOrEqual(Math.ceil(1_000 / 64) + 2);
    const found = batchedAnswers.filter((a): a is EligibilityAnswer => a.ok);
    expect(found.length).toBe(700);
    expect(batchedAnswers.filter((a) => !a.ok && a.code === 'CANDIDATE_NOT_FOUND').length).toBe(100);
    expect(normaliseName(found[0]!.candidate.name)).toBe(normaliseName(seeded[0]!.name));
  });

  it('takes the review as a promise read beside the lookup: each answer waits for its own only', async () => {
    let approve!: (review: { candidateId: string; status: 'APPROVED' }) => void;
    const slowReview = new Promise<{ candidateId: string; status: 'APPROVED' }>(
      (resolve) => (approve = resolve),
    );
    const refused = Promise.reject(new Error('the account may not register'));
    refused.catch(() => undefined); // as readyLookup's caller awaits it at once
    // three queries in one batch: a review still being read, one whose read failed, none at all
    const [slow, failed, plain] = [
      pooled.query(LAGGING, { review: slowReview }),
      pooled.query(PASS_425, { review: refused }),
      pooled.query(FAIL_424, { review: Promise.resolve(null) }),
    ];
    await expect(failed).rejects.toThrow('the account may not register');
    expect(await plain).toMatchObject({ ok: true, eligibleSubjects: ['CET4'] });
    let settled = false;
    void slow.finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    approve({ candidateId: LAGGING.candidateId, status: 'APPROVED' });
    expect(await slow).toMatchObject({
      ok: true,
      eligibleSubjects: ['CET4', 'CET6'],
      cet6Review: { offered: false, status: 'APPROVED' },
    });
  });

  it('answers a lone request without waiting for companions (the batch timer flushes it)', async () => {
    await answered(PASS_425, pooled); // warm
    const started = performance.now();
    expect((await answered(FAIL_424, pooled)).eligibleSubjects).toEqual(['CET4']);
    expect(performance.now() - started).toBeLessThan(250);
  });
});
