/**
 * School records, CET4 scores and CET6 review decisions through the admin API, against the whole
 * running system: the roster importer's rules per row (identity, reference data, duplicates), ID
 * numbers kept as HMAC + mask + ciphertext, candidate ids kept or derived, idempotent re-runs,
 * R7 (a saved registration keeps its snapshot), and the staff's review list and decisions (R11).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, query, type Pool } from '../../db/pool.ts';
import { bind } from '../../engine/binding.ts';
import { normaliseName } from '../../engine/eligibility.ts';
import { idKeysFromEnv } from '../../config/index.ts';
import { decryptId, idHmac } from '../../engine/idCrypto.ts';
import { makeResidentId, maskIdNumber } from '../../engine/idNumber.ts';
import { deleteReview, submitReview } from '../../engine/reviews.ts';
import { makeTicket } from '../../engine/ticket.ts';
import { ADMIN_TOKEN, signUp, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { waitFor } from '../support/wait.ts';

const PROVINCE = '11';
const DAY_MS = 24 * 3_600_000;
const keys = idKeysFromEnv({ allowDevelopmentKeys: true }); // the gateway's keys: same environment, same rule

let gw: TestGateway;
let db: Pool;
beforeAll(async () => {
  gw = await startTestGateway();
  db = createPool(gw.databaseUrl, { max: 2 });
  const campus = (campusId: string, schoolId: string) => ({
    campusId,
    name: campusId,
    provinceCode: PROVINCE,
    schoolId,
    studentsMayTakeOralElsewhere: true,
    capacity: { CET4: 100, CET6: 100 },
    oralOpens: { ownSchoolAt: Date.now(), provinceWideAt: null },
  });
  const put = await gw.http.admin('PUT', '/api/v1/admin/campuses', [
    campus('C1101', 'S11001'),
    campus('C1102', 'S11002'),
  ]);
  expect(put.body).toEqual({ upserted: 2, rejected: [] });
}, 120_000);
afterAll(async () => {
  await db?.end();
  await gw?.close();
});

let idSeq = 0;
const residentId = (): string => makeResidentId('110105', '2004-05-06', ++idSeq);
/** A resident ID number whose check digit is wrong (and nothing else). */
const withWrongCheckDigit = (id: string): string => id.slice(0, 17) + (id[17] === '0' ? '1' : '0');

function student(idNumber: string, overrides: Record<string, unknown> = {}) {
  return {
    idType: 'RESIDENT_ID',
    idNumber,
    name: '张 三',
    schoolId: 'S11001',
    campusId: 'C1101',
    grade: '2023',
    eligibleSubjects: ['CET6', 'CET4'],
    cet6Barred: false,
    ...overrides,
  };
}

interface RosterRow {
  candidate_id: string;
  id_type: string;
  id_hmac: Buffer;
  id_masked: string;
  id_cipher: Buffer;
  name: string;
  name_normalised: string;
  province_code: string;
  school_id: string;
  campus_id: string;
  grade: string;
  eligible_subjects: string[];
  cet6_barred: boolean;
}

const rosterRow = async (candidateId: string): Promise<RosterRow | undefined> =>
  (await query<RosterRow>(db, 'SELECT * FROM roster WHERE candidate_id = $1', [candidateId]))[0];
const rosterCount = async (): Promise<number> =>
  Number((await query<{ n: string }>(db, 'SELECT count(*) AS n FROM roster'))[0]!.n);

describe('PUT /api/v1/admin/roster', () => {
  it('stores ID numbers only as HMAC, mask and ciphertext, names normalised, and answers the candidate ids', async () => {
    const first = residentId();
    const second = residentId();
    const put = await gw.http.admin('PUT', '/api/v1/admin/roster', [
      student(first),
      student(second, {
        idNumber: second.toLowerCase(),
        name: 'Ｚｈａｎｇ　Ｓａｎ',
        grade: 2024,
        eligibleSubjects: [],
      }),
    ]);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ upserted: 2, rejected: [], inserted: 2, updated: 0, unchanged: 0 });
    const candidates = put.body.candidates as { index: number; candidateId: string }[];
    expect(candidates.map((c) => c.index)).toEqual([0, 1]);
    for (const c of candidates) expect(c.candidateId).toMatch(/^9\d{18}$/);
    expect(put.text).not.toContain(first);

    const row = (await rosterRow(candidates[0]!.candidateId))!;
    expect(row.id_hmac.equals(idHmac(keys, first))).toBe(true);
    expect(row.id_masked).toBe(maskIdNumber(first));
    expect(decryptId(keys, row.id_cipher)).toBe(first);
    expect(row).toMatchObject({
      id_type: 'RESIDENT_ID',
      name: '张 三',
      name_normalised: normaliseName('张 三'),
      province_code: PROVINCE,
      school_id: 'S11001',
      campus_id: 'C1101',
      grade: '2023',
      eligible_subjects: ['CET4', 'CET6'],
      cet6_barred: false,
    });
    const other = (await rosterRow(candidates[1]!.candidateId))!;
    expect(other.id_hmac.equals(idHmac(keys, second))).toBe(true); // normalised before hashing
    expect(other).toMatchObject({ name_normalised: 'ZHANGSAN', grade: '2024', eligible_subjects: [] });
  });

  it('is idempotent and keeps candidate ids: the same rows again change nothing; a change updates in place', async () => {
    const id = residentId();
    const body = [student(id)];
    const first = await gw.http.admin('PUT', '/api/v1/admin/roster', body);
    const candidateId = first.body.candidates[0].candidateId as string;
    const count = await rosterCount();
    const before = await query(db, 'SELECT xmin::text, * FROM roster WHERE candidate_id = $1', [candidateId]);

    const again = await gw.http.admin('PUT', '/api/v1/admin/roster', body);
    expect(again.body).toMatchObject({ upserted: 1, rejected: [], inserted: 0, updated: 0, unchanged: 1 });
    expect(again.body.candidates).toEqual([{ index: 0, candidateId }]);
    expect(await rosterCount()).toBe(count);
    expect(
      await query(db, 'SELECT xmin::text, * FROM roster WHERE candidate_id = $1', [candidateId]),
    ).toEqual(before);

    const moved = await gw.http.admin('PUT', '/api/v1/admin/roster', [
      student(id, { grade: '2022', schoolId: 'S11002', campusId: 'C1102', cet6Barred: true }),
    ]);
    expect(moved.body).toMatchObject({ upserted: 1, inserted: 0, updated: 1, unchanged: 0 });
    expect(moved.body.candidates).toEqual([{ index: 0, candidateId }]);
    expect(await rosterCount()).toBe(count);
    expect(await rosterRow(candidateId)).toMatchObject({
      grade: '2022',
      campus_id: 'C1102',
      cet6_barred: true,
    });
  });

  it('keeps the candidate id a file import gave the same person', async () => {
    const id = residentId();
    await db.query(
      `INSERT INTO roster (candidate_id, id_type, id_hmac, id_masked, name, name_normalised, province_code,
                           school_id, campus_id, grade, eligible_subjects, cet6_barred)
       VALUES ('42', 'RESIDENT_ID', $1, $2, '李四', '李四', '11', 'S11001', 'C1101', '2023', '{CET4}', false)`,
      [idHmac(keys, id), maskIdNumber(id)],
    );
    const put = await gw.http.admin('PUT', '/api/v1/admin/roster', [
      student(id, { name: '李四', grade: '2024' }),
    ]);
    expect(put.body).toMatchObject({
      upserted: 1,
      updated: 1,
      candidates: [{ index: 0, candidateId: '42' }],
    });
    const row = (await rosterRow('42'))!;
    expect(row.grade).toBe('2024');
    expect(decryptId(keys, row.id_cipher)).toBe(id); // a missing ciphertext is filled in
  });

  it('reports each bad row with the importer’s reason while the good rows land', async () => {
    const good = residentId();
    const alsoGood = residentId();
    const badCheckDigit = withWrongCheckDigit(residentId());
    const count = await rosterCount();
    const put = await gw.http.admin('PUT', '/api/v1/admin/roster', [
      student(good),
      student(residentId(), { idType: 'MILITARY_OFFICER' }),
      student(badCheckDigit),
      student(residentId(), { campusId: 'C9999' }),
      student(residentId(), { campusId: 'C1102' }), // a campus of S11002
      student(residentId(), { eligibleSubjects: ['CET9'] }),
      student(good, { name: '王五' }), // the same person as row 0
      student(residentId(), { grade: 'freshman' }),
      student(residentId(), { schoolId: 'S99999' }),
      student(residentId(), { idType: 'DRIVER_LICENCE' }),
      { ...student(residentId()), candidateId: '1' }, // no mass assignment of ids
      student(residentId(), { name: '   ' }),
      student(alsoGood, { idType: 'PASSPORT', idNumber: 'E12345678' }),
    ]);
    expect(put.status).toBe(200);
    expect(put.body.upserted).toBe(2);
    const rejected = put.body.rejected as { index: number; code: string; reason?: string; message: string }[];
    expect(rejected.map((r) => [r.index, r.code, r.reason])).toEqual([
      [1, 'ID_TYPE_NOT_ACCEPTED', 'ID_TYPE_NOT_ACCEPTED'],
      [2, 'INVALID_ID_NUMBER', 'ID_CHECK_DIGIT'],
      [3, 'VALIDATION_FAILED', 'UNKNOWN_CAMPUS'],
      [4, 'VALIDATION_FAILED', 'CAMPUS_NOT_OF_SCHOOL'],
      [5, 'VALIDATION_FAILED', 'UNKNOWN_SUBJECT'],
      [6, 'VALIDATION_FAILED', 'DUPLICATE_ID'],
      [7, 'VALIDATION_FAILED', 'BAD_GRADE'],
      [8, 'VALIDATION_FAILED', 'UNKNOWN_SCHOOL'],
      [9, 'VALIDATION_FAILED', 'UNKNOWN_ID_TYPE'],
      [10, 'VALIDATION_FAILED', undefined],
      [11, 'VALIDATION_FAILED', 'EMPTY_NAME'],
    ]);
    expect(rejected.find((r) => r.index === 6)!.message).toContain('row 0');
    expect(rejected.find((r) => r.index === 10)!.message).toContain('/candidateId: unknown field');
    expect(put.text).not.toContain(badCheckDigit);
    expect(await rosterCount()).toBe(count + 2);
    expect(put.body.candidates.map((c: { index: number }) => c.index)).toEqual([0, 12]);
    const passport = await rosterRow(put.body.candidates[1].candidateId);
    expect(passport).toMatchObject({ id_type: 'PASSPORT', id_masked: maskIdNumber('E12345678') });
  });

  it('answers 400 when the body is not an array', async () => {
    const put = await gw.http.admin('PUT', '/api/v1/admin/roster', student(residentId()));
    expect([put.status, put.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
  });

  it('R7: a saved registration keeps its snapshot when the school record changes', async () => {
    const id = residentId();
    const put = await gw.http.admin('PUT', '/api/v1/admin/roster', [student(id, { name: '赵六' })]);
    const candidateId = put.body.candidates[0].candidateId as string;
    const now = (await gw.http.admin('GET', '/api/v1/admin/stats')).body.clock.nowMs as number;
    await gw.http.admin('PUT', '/api/v1/admin/calendar', [
      { provinceCode: PROVINCE, registrationOpensAt: now - DAY_MS, registrationClosesAt: now + 30 * DAY_MS },
    ]);
    const snapshot = {
      name: '赵六',
      idType: 'RESIDENT_ID' as const,
      idMasked: maskIdNumber(id),
      schoolId: 'S11001',
      grade: '2023',
      eligibleSubjects: ['CET4', 'CET6'],
    };
    const bound = await bind(gw.engine, {
      accountId: '880001',
      provinceCode: PROVINCE,
      candidateId,
      campusId: 'C1101',
      snapshot,
      now,
    });
    expect(bound.ok).toBe(true);

    const changed = await gw.http.admin('PUT', '/api/v1/admin/roster', [
      student(id, {
        name: '赵七',
        grade: '2021',
        eligibleSubjects: ['CET4'],
        schoolId: 'S11002',
        campusId: 'C1102',
      }),
    ]);
    expect(changed.body).toMatchObject({ upserted: 1, updated: 1, candidates: [{ index: 0, candidateId }] });
    expect(await rosterRow(candidateId)).toMatchObject({ name: '赵七', grade: '2021', campus_id: 'C1102' });
    const registration = await gw.engine.registration(PROVINCE, candidateId);
    expect(registration?.snapshot).toEqual(snapshot);
    expect(registration?.campusId).toBe('C1101');
  });
});

describe('PUT /api/v1/admin/cet4-scores', () => {
  const ticket = (sequence: number, year = 2023, level: 1 | 2 = 1): string =>
    makeTicket({ siteCode: '110001', year, half: 1, level, sequence });

  it('stores scores by ticket (ID number as HMAC), rejects bad rows, and is idempotent', async () => {
    const id = residentId();
    const rows = [
      { ticketNumber: ticket(1), idNumber: id, name: '张三', score: 512, year: 2023 },
      { ticketNumber: ticket(2, 2023, 2), idNumber: id, name: '张三', score: 512, year: 2023 }, // a CET6 ticket
      { ticketNumber: ticket(3), idNumber: id, name: '张三', score: 512, year: 2022 }, // year differs
      { ticketNumber: ticket(4), idNumber: id, name: '张三', score: 800, year: 2023 },
      { ticketNumber: ticket(1), idNumber: residentId(), name: '李四', score: 430, year: 2023 }, // same ticket
      { ticketNumber: '123', idNumber: id, name: '张三', score: 512, year: 2023 },
      { ticketNumber: ticket(7), idNumber: withWrongCheckDigit(id), name: '张三', score: 512, year: 2023 },
      { ticketNumber: ticket(8), idNumber: 'E12345678', name: 'John Smith', score: 425, year: 2023 },
      { ticketNumber: ticket(9), idNumber: id, name: '张三', score: '512', year: 2023 },
    ];
    const put = await gw.http.admin('PUT', '/api/v1/admin/cet4-scores', rows);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ upserted: 2, inserted: 2 });
    expect(
      put.body.rejected.map((r: { index: number; code: string; reason?: string }) => [
        r.index,
        r.code,
        r.reason,
      ]),
    ).toEqual([
      [1, 'VALIDATION_FAILED', 'TICKET_NOT_CET4'],
      [2, 'VALIDATION_FAILED', 'TICKET_YEAR_MISMATCH'],
      [3, 'VALIDATION_FAILED', 'BAD_SCORE'],
      [4, 'VALIDATION_FAILED', 'DUPLICATE_TICKET'],
      [5, 'VALIDATION_FAILED', 'BAD_TICKET'],
      [6, 'INVALID_ID_NUMBER', 'ID_CHECK_DIGIT'],
      [8, 'VALIDATION_FAILED', undefined],
    ]);
    const stored = await query<{
      ticket_number: string;
      id_hmac: Buffer;
      name_normalised: string;
      score: number;
    }>(db, 'SELECT ticket_number, id_hmac, name_normalised, score FROM cet4_scores ORDER BY ticket_number');
    expect(stored.map((s) => s.ticket_number)).toEqual([ticket(1), ticket(8)]);
    expect(stored[0]!.id_hmac.equals(idHmac(keys, id))).toBe(true);
    expect(stored[1]).toMatchObject({ name_normalised: 'JOHNSMITH', score: 425 });

    const before = await query(db, 'SELECT xmin::text, * FROM cet4_scores ORDER BY ticket_number');
    const again = await gw.http.admin('PUT', '/api/v1/admin/cet4-scores', [rows[0], rows[7]]);
    expect(again.body).toEqual({ upserted: 2, rejected: [], inserted: 0, updated: 0, unchanged: 2 });
    expect(await query(db, 'SELECT xmin::text, * FROM cet4_scores ORDER BY ticket_number')).toEqual(before);

    const corrected = await gw.http.admin('PUT', '/api/v1/admin/cet4-scores', [{ ...rows[0], score: 440 }]);
    expect(corrected.body).toMatchObject({ upserted: 1, updated: 1 });
  });
});

describe('CET6 reviews for staff', () => {
  async function pendingReview(accountId: string, status: 'PENDING' | 'APPROVED' = 'PENDING') {
    const id = residentId();
    const put = await gw.http.admin('PUT', '/api/v1/admin/roster', [student(id, { name: '孙八' })]);
    const candidateId = put.body.candidates[0].candidateId as string;
    const ticketNumber = makeTicket({
      siteCode: '110001',
      year: 2024,
      half: 2,
      level: 1,
      sequence: 500 + idSeq,
    });
    await gw.http.admin('PUT', '/api/v1/admin/cet4-scores', [
      { ticketNumber, idNumber: residentId(), name: '孙八', score: 470, year: 2024 },
    ]);
    const submitted = await submitReview(gw.engine, {
      accountId,
      status,
      ticketNumber,
      candidateId,
      provinceCode: PROVINCE,
      now: Date.now(),
    });
    if (!submitted.ok) throw new Error(submitted.code);
    return { reviewId: submitted.review.reviewId, candidateId, ticketNumber, id };
  }

  async function listed(status?: string) {
    const answer = await gw.http.admin(
      'GET',
      `/api/v1/admin/cet6-reviews${status ? `?status=${status}` : ''}`,
    );
    expect(answer.status).toBe(200);
    return answer.body as { reviews: { reviewId: string; status: string }[]; total: number };
  }

  /** The list follows the writer: wait until it has copied the submissions. */
  async function waitListed(reviewIds: string[]) {
    return waitFor(
      async () => {
        const all = await listed();
        return reviewIds.every((id) => all.reviews.some((r) => r.reviewId === id)) ? all : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100, message: `reviews ${reviewIds.join(', ')} listed` },
    );
  }

  it('lists pending applications with what staff compare, and decides them (R11)', async () => {
    const pending = await pendingReview('770001');
    const approved = await pendingReview('770002', 'APPROVED');
    await waitListed([pending.reviewId, approved.reviewId]);

    const queue = await listed('PENDING');
    expect(queue.reviews.map((r) => r.reviewId)).toEqual([pending.reviewId]);
    expect(queue.total).toBe(1);
    const entry = (queue.reviews as Record<string, unknown>[])[0]!;
    expect(entry).toMatchObject({
      reviewId: pending.reviewId,
      accountId: '770001',
      candidateId: pending.candidateId,
      provinceCode: PROVINCE,
      ticketNumber: pending.ticketNumber,
      status: 'PENDING',
      decidedAt: null,
      candidate: {
        name: '孙八',
        idType: 'RESIDENT_ID',
        idNumber: maskIdNumber(pending.id),
        campusId: 'C1101',
      },
      cet4Record: { name: '孙八', score: 470, year: 2024 },
    });
    expect(entry.submittedAt).toMatch(/\+08:00$/);
    expect(JSON.stringify(queue)).not.toContain(pending.id);
    expect((await listed('APPROVED')).reviews.map((r) => r.reviewId)).toEqual([approved.reviewId]);

    const decided = await gw.http.admin('POST', `/api/v1/admin/cet6-reviews/${pending.reviewId}/decision`, {
      approve: true,
    });
    expect(decided.status).toBe(200);
    expect(decided.body.review).toMatchObject({ reviewId: pending.reviewId, status: 'APPROVED' });
    expect(decided.body.review.decidedAt).toMatch(/\+08:00$/);
    expect((await gw.engine.review('770001'))?.status).toBe('APPROVED');
    // the engine is authoritative: the list changes at once, before the writer copies the decision
    expect((await listed('PENDING')).reviews).toEqual([]);

    const twice = await gw.http.admin('POST', `/api/v1/admin/cet6-reviews/${pending.reviewId}/decision`, {
      approve: false,
    });
    expect([twice.status, twice.body.error.code]).toEqual([409, 'REVIEW_NOT_PENDING']);
    expect((await gw.engine.review('770001'))?.status).toBe('APPROVED');
  });

  it('rejects, and refuses unknown reviews and bad requests', async () => {
    const pending = await pendingReview('770003');
    const rejected = await gw.http.admin('POST', `/api/v1/admin/cet6-reviews/${pending.reviewId}/decision`, {
      approve: false,
    });
    expect(rejected.body.review.status).toBe('REJECTED');
    await waitListed([pending.reviewId]);
    expect((await listed('REJECTED')).reviews.map((r) => r.reviewId)).toContain(pending.reviewId);

    for (const id of ['770003.nope', 'no-dot-at-all', `${'9'.repeat(200)}.x`]) {
      const missing = await gw.http.admin(
        'POST',
        `/api/v1/admin/cet6-reviews/${encodeURIComponent(id)}/decision`,
        {
          approve: true,
        },
      );
      expect([missing.status, missing.body.error.code]).toEqual([404, 'REVIEW_NOT_FOUND']);
    }
    const badBody = await gw.http.admin('POST', `/api/v1/admin/cet6-reviews/${pending.reviewId}/decision`, {
      approve: 'yes',
    });
    expect([badBody.status, badBody.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    const badQuery = await gw.http.admin('GET', '/api/v1/admin/cet6-reviews?status=MAYBE');
    expect([badQuery.status, badQuery.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);

    const candidate = await signUp(gw.http);
    const asCandidate = await gw.http.post(
      `/api/v1/admin/cet6-reviews/${pending.reviewId}/decision`,
      { approve: true },
      { token: candidate.token },
    );
    expect(asCandidate.status).toBe(401);
    const anonymous = await gw.http.get('/api/v1/admin/cet6-reviews');
    expect(anonymous.status).toBe(401);
    const wrong = await gw.http.get('/api/v1/admin/cet6-reviews', { token: `x${ADMIN_TOKEN}` });
    expect(wrong.status).toBe(401);
  });

  it('drops a deleted application from the list', async () => {
    const pending = await pendingReview('770004');
    await gw.http.admin('POST', `/api/v1/admin/cet6-reviews/${pending.reviewId}/decision`, {
      approve: false,
    });
    await waitListed([pending.reviewId]);
    const deleted = await deleteReview(gw.engine, { accountId: '770004', now: Date.now() });
    expect(deleted.ok).toBe(true);
    expect((await listed()).reviews.map((r) => r.reviewId)).not.toContain(pending.reviewId);
  });
});
