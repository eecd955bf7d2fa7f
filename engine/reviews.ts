/**
 * CET6 eligibility review applications (R9–R14) on the account shard: one per account (R12).
 * Whether an application is offered (R9) and how it matches the CET4 records (R10, R14) is
 * decided by the eligibility service (PostgreSQL, issue 3) and passed in; a refused application
 * is never stored. The scripts enforce the life cycle: pending cannot be changed (R11), rejected
 * may be edited or deleted, approved is final (R12).
 */
import { randomBytes } from 'node:crypto';
import type { Outcome } from './codes.ts';
import type { Engine } from './engine.ts';
import { decodeReview, type ReviewView } from './views.ts';

export interface ReviewSubmission {
  readonly accountId: string;
  /** R10: APPROVED when ticket + ID number matched a passing CET4 record; PENDING when ticket + name did. */
  readonly status: 'APPROVED' | 'PENDING';
  readonly ticketNumber: string;
  readonly candidateId: string;
  readonly provinceCode: string;
  readonly now: number;
}

/** Review ids carry the account ("<accountId>.<random>") so staff decisions find the shard. */
export function accountOfReview(reviewId: string): string | null {
  const dot = reviewId.lastIndexOf('.');
  return dot > 0 ? reviewId.slice(0, dot) : null;
}

export async function submitReview(
  engine: Engine,
  input: ReviewSubmission,
): Promise<Outcome<{ review: ReviewView }, 'REVIEW_EXISTS' | 'REVIEW_APPROVED_FINAL'>> {
  const keys = engine.keys.account(input.accountId);
  const reviewId = `${input.accountId}.${randomBytes(6).toString('base64url')}`;
  const answer = await engine.run(
    'submitReview',
    [keys.reviews, keys.stream],
    [
      input.accountId,
      reviewId,
      input.status,
      input.ticketNumber,
      input.candidateId,
      input.provinceCode,
      input.now,
    ],
  );
  if (!answer.ok) return engine.refusal(answer, ['REVIEW_EXISTS', 'REVIEW_APPROVED_FINAL'] as const);
  return { ok: true, review: decodeReview(answer.review) };
}

export async function editReview(
  engine: Engine,
  input: ReviewSubmission,
): Promise<Outcome<{ review: ReviewView }, 'REVIEW_NOT_FOUND' | 'REVIEW_APPROVED_FINAL' | 'REVIEW_PENDING'>> {
  const keys = engine.keys.account(input.accountId);
  const answer = await engine.run(
    'editReview',
    [keys.reviews, keys.stream],
    [input.accountId, input.status, input.ticketNumber, input.candidateId, input.provinceCode, input.now],
  );
  if (!answer.ok) {
    return engine.refusal(answer, ['REVIEW_NOT_FOUND', 'REVIEW_APPROVED_FINAL', 'REVIEW_PENDING'] as const);
  }
  return { ok: true, review: decodeReview(answer.review) };
}

export async function deleteReview(
  engine: Engine,
  input: { accountId: string; now: number },
): Promise<Outcome<object, 'REVIEW_NOT_FOUND' | 'REVIEW_APPROVED_FINAL' | 'REVIEW_PENDING'>> {
  const keys = engine.keys.account(input.accountId);
  const answer = await engine.run('deleteReview', [keys.reviews, keys.stream], [input.accountId, input.now]);
  if (!answer.ok) {
    return engine.refusal(answer, ['REVIEW_NOT_FOUND', 'REVIEW_APPROVED_FINAL', 'REVIEW_PENDING'] as const);
  }
  return { ok: true };
}

/** School staff (R11). */
export async function decideReview(
  engine: Engine,
  input: { reviewId: string; approve: boolean; now: number },
): Promise<Outcome<{ review: ReviewView }, 'REVIEW_NOT_FOUND' | 'REVIEW_NOT_PENDING'>> {
  const accountId = accountOfReview(input.reviewId);
  if (accountId === null) return { ok: false, code: 'REVIEW_NOT_FOUND' };
  const keys = engine.keys.account(accountId);
  const answer = await engine.run(
    'decideReview',
    [keys.reviews, keys.stream],
    [accountId, input.reviewId, input.approve ? '1' : '0', input.now],
  );
  if (!answer.ok) return engine.refusal(answer, ['REVIEW_NOT_FOUND', 'REVIEW_NOT_PENDING'] as const);
  return { ok: true, review: decodeReview(answer.review) };
}
