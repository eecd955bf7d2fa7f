/**
 * The reservation rules of the conventional baseline (see server.ts), one PostgreSQL transaction
 * per call: the bound candidate read, the checks in the engine's order, then `SELECT … FOR UPDATE`
 * on the capacity row before the seat is taken (R17, I1). The partial UNIQUE indexes of schema.sql
 * catch what a concurrent request of the same candidate slips past the checks (server.ts maps
 * them). A refusal is thrown as `Refusal` with the API's code; the transaction then rolls back.
 */
import { query, withTransaction, type Pool, type PoolClient } from '../../db/pool.ts';
import { isOralSubject, isWrittenSubject, oralInfo, writtenInfo } from '../../engine/subjects.ts';
import { API_CODES, type ApiCode } from '../../gateway/errors.ts';

const HOLD_MS = 12 * 3_600_000; // R22
const LIVE = `status IN ('HELD', 'PAID')`;

export class Refusal extends Error {
  constructor(
    readonly code: ApiCode,
    readonly details?: Record<string, unknown>,
  ) {
    super(API_CODES[code].message);
  }
}

interface Candidate {
  candidate_id: string;
  province_code: string;
  campus_id: string;
  eligible_subjects: string[];
  opens_at: Date | null;
  closes_at: Date | null;
}
interface ItemRow {
  subject: string;
  kind: 'written' | 'oral';
  campus_id: string;
  status: string;
  fee: string;
  held_at: Date;
  pay_by: Date;
}
const ITEM_COLUMNS = 'subject, kind, campus_id, status, fee, held_at, pay_by';

/** ISO-8601 with the +08:00 offset, as the gateway answers times. */
export function isoChina(at: Date): string {
  return `${new Date(at.getTime() + 8 * 3_600_000).toISOString().slice(0, -1)}+08:00`;
}

export function itemBody(row: ItemRow) {
  const { subject, campus_id: campusId, status } = row;
  return {
    subject,
    campusId,
    status,
    heldAt: isoChina(row.held_at),
    payBy: isoChina(row.pay_by),
    fee: Number(row.fee),
  };
}

async function boundCandidate(tx: PoolClient, accountId: string): Promise<Candidate> {
  const rows = await query<Candidate>(
    tx,
    `SELECT c.candidate_id, c.province_code, c.campus_id, c.eligible_subjects, cal.opens_at, cal.closes_at
     FROM baseline.bindings b JOIN baseline.candidates c USING (candidate_id)
     LEFT JOIN baseline.calendar cal ON cal.province_code = c.province_code
     WHERE b.account_id = $1`,
    [accountId],
  );
  if (rows[0] === undefined) throw new Refusal('NO_REGISTRATION');
  return rows[0];
}

/** R5: subject calls only inside the province's registration window. */
function checkWindow(candidate: Candidate, now: number): void {
  if (candidate.opens_at === null || now < candidate.opens_at.getTime())
    throw new Refusal('REGISTRATION_NOT_OPEN');
  if (candidate.closes_at !== null && now >= candidate.closes_at.getTime())
    throw new Refusal('REGISTRATION_CLOSED');
}

async function liveItems(
  tx: PoolClient,
  candidateId: string,
): Promise<{ subject: string; kind: string; level: number }[]> {
  return query(tx, `SELECT subject, kind, level FROM baseline.items WHERE candidate_id = $1 AND ${LIVE}`, [
    candidateId,
  ]);
}

/** R17, I1: lock the capacity row, refuse when full, take one seat, record the hold (R22). */
async function takeSeatAndHold(
  tx: PoolClient,
  hold: {
    candidateId: string;
    subject: string;
    level: number;
    kind: 'written' | 'oral';
    campusId: string;
    requires: string | null;
  },
  now: number,
): Promise<ItemRow> {
  const [seat] = await query<{ capacity: number; taken: number }>(
    tx,
    'SELECT capacity, taken FROM baseline.capacity WHERE campus_id = $1 AND subject = $2 FOR UPDATE',
    [hold.campusId, hold.subject],
  );
  if (seat === undefined) throw new Refusal('SUBJECT_NOT_OFFERED');
  if (seat.taken >= seat.capacity) throw new Refusal('SOLD_OUT');
  const [item] = await query<ItemRow>(
    tx,
    `INSERT INTO baseline.items (candidate_id, subject, level, kind, campus_id, requires_subject, status, fee, held_at, pay_by)
     VALUES ($1, $2, $3, $4, $5, $6, 'HELD', coalesce((SELECT fee FROM baseline.fees WHERE subject = $2), 0), $7, $8)
     RETURNING ${ITEM_COLUMNS}`,
    [
      hold.candidateId,
      hold.subject,
      hold.level,
      hold.kind,
      hold.campusId,
      hold.requires,
      new Date(now),
      new Date(now + HOLD_MS),
    ],
  );
  await query(tx, 'UPDATE baseline.capacity SET taken = taken + 1 WHERE campus_id = $1 AND subject = $2', [
    hold.campusId,
    hold.subject,
  ]);
  return item!;
}

export async function reserveWritten(
  tx: PoolClient,
  accountId: string,
  subject: string,
  now: number,
): Promise<ItemRow> {
  const candidate = await boundCandidate(tx, accountId);
  checkWindow(candidate, now);
  if (!isWrittenSubject(subject) || !candidate.eligible_subjects.includes(subject))
    throw new Refusal('NOT_ELIGIBLE');
  const { level } = writtenInfo(subject);
  const live = await liveItems(tx, candidate.candidate_id);
  if (live.some((item) => item.subject === subject)) throw new Refusal('ALREADY_REGISTERED');
  const sameLevel = live.find((item) => item.kind === 'written' && item.level === level);
  if (sameLevel) throw new Refusal('SAME_LEVEL_TAKEN', { subject: sameLevel.subject }); // R16
  // R15: at the candidate's own written campus
  const hold = {
    candidateId: candidate.candidate_id,
    subject,
    level,
    kind: 'written' as const,
    campusId: candidate.campus_id,
    requires: null,
  };
  return takeSeatAndHold(tx, hold, now);
}

export async function reserveOral(
  tx: PoolClient,
  accountId: string,
  subject: string,
  campusId: string,
  now: number,
): Promise<ItemRow> {
  const candidate = await boundCandidate(tx, accountId);
  checkWindow(candidate, now);
  if (!isOralSubject(subject)) throw new Refusal('VALIDATION_FAILED');
  const { level, requiresWritten } = oralInfo(subject);
  const live = await liveItems(tx, candidate.candidate_id);
  if (live.some((item) => item.subject === subject)) throw new Refusal('ALREADY_REGISTERED');
  // R18: the written subject of the same language and level, share-locked so that a concurrent
  // cancellation of it waits for this hold and then cancels it too
  const written = await query(
    tx,
    `SELECT 1 FROM baseline.items WHERE candidate_id = $1 AND subject = $2 AND ${LIVE} FOR SHARE`,
    [candidate.candidate_id, requiresWritten],
  );
  if (written.length === 0) throw new Refusal('WRITTEN_REQUIRED', { subject: requiresWritten });
  const campuses = await query<{
    campus_id: string;
    students_may_take_oral_elsewhere: boolean;
    oral_own_school_at: Date;
    oral_province_wide_at: Date | null;
  }>(
    tx,
    `SELECT campus_id, students_may_take_oral_elsewhere, oral_own_school_at, oral_province_wide_at
     FROM baseline.campuses WHERE campus_id = ANY($1) AND province_code = $2`,
    [[campusId, candidate.campus_id], candidate.province_code],
  );
  const target = campuses.find((campus) => campus.campus_id === campusId);
  if (target === undefined) throw new Refusal('CAMPUS_NOT_FOUND'); // not a campus of the province
  const own = campusId === candidate.campus_id;
  const home = campuses.find((campus) => campus.campus_id === candidate.campus_id);
  if (!own && home?.students_may_take_oral_elsewhere !== true) throw new Refusal('EXTERNAL_ORAL_NOT_ALLOWED'); // R19
  // R20: open to the candidates whose written campus it is from ownSchoolAt, to the rest of the
  // province from provinceWideAt (NULL: never); the earlier opening that applies counts
  const openings = [target.oral_province_wide_at, own ? target.oral_own_school_at : null].filter(
    (at) => at !== null,
  );
  const opensAt = openings.length === 0 ? null : Math.min(...openings.map((at) => at.getTime()));
  if (opensAt === null || now < opensAt) {
    throw new Refusal('CAMPUS_NOT_OPEN', { opensAt: opensAt === null ? null : isoChina(new Date(opensAt)) });
  }
  const hold = {
    candidateId: candidate.candidate_id,
    subject,
    level,
    kind: 'oral' as const,
    campusId,
    requires: requiresWritten,
  };
  return takeSeatAndHold(tx, hold, now);
}

/** Unpaid only; a written subject takes its oral subject with it (R18); seats go back (I1). */
export async function cancel(
  tx: PoolClient,
  accountId: string,
  subject: string,
  now: number,
): Promise<string[]> {
  const candidate = await boundCandidate(tx, accountId);
  checkWindow(candidate, now);
  const rows = await query<{ item_id: string; subject: string; campus_id: string; status: string }>(
    tx,
    `SELECT item_id, subject, campus_id, status FROM baseline.items
     WHERE candidate_id = $1 AND (subject = $2 OR requires_subject = $2) AND ${LIVE}
     ORDER BY kind DESC FOR UPDATE`,
    [candidate.candidate_id, subject],
  );
  const target = rows.find((row) => row.subject === subject);
  if (target === undefined) throw new Refusal('NOT_REGISTERED');
  if (target.status === 'PAID') throw new Refusal('ALREADY_PAID');
  const paidDependent = rows.find((row) => row.status === 'PAID');
  if (paidDependent) throw new Refusal('ALREADY_PAID', { subject: paidDependent.subject });
  await query(
    tx,
    `UPDATE baseline.items SET status = 'CANCELLED', ended_at = $2 WHERE item_id = ANY($1::bigint[])`,
    [rows.map((row) => row.item_id), new Date(now)],
  );
  for (const row of rows) {
    await query(tx, 'UPDATE baseline.capacity SET taken = taken - 1 WHERE campus_id = $1 AND subject = $2', [
      row.campus_id,
      row.subject,
    ]);
  }
  return rows.map((row) => row.subject);
}

export async function registration(pool: Pool, accountId: string) {
  return withTransaction(pool, async (tx) => {
    const candidate = await boundCandidate(tx, accountId);
    const items = await query<ItemRow>(
      tx,
      `SELECT DISTINCT ON (subject) ${ITEM_COLUMNS} FROM baseline.items WHERE candidate_id = $1 ORDER BY subject, item_id DESC`,
      [candidate.candidate_id],
    );
    const amountDue = items
      .filter((item) => item.status === 'HELD')
      .reduce((sum, item) => sum + Number(item.fee), 0);
    return {
      candidateId: candidate.candidate_id,
      written: items.filter((item) => item.kind === 'written').map(itemBody),
      oral: items.filter((item) => item.kind === 'oral').map(itemBody),
      amountDue,
    };
  });
}
