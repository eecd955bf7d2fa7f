/**
 * Rule tests against real Redis: the CET6 eligibility review life cycle (R9–R12) on the account
 * shard. Whether an application is offered and how its ticket matched (R9, R10, R14) is decided
 * by the eligibility service and passed in as APPROVED or PENDING; these tests cover what the
 * engine enforces: one application per account, pending is frozen, approved is final.
 * Every test runs in a namespace of its own and ends with the invariant checker.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decideReview,
  deleteReview,
  editReview,
  submitReview,
  type ReviewSubmission,
} from '../../engine/reviews.ts';
import type { ReviewView } from '../../engine/views.ts';
import {
  T0,
  closeCheckingInvariants,
  newTestEngine,
  streamEvents,
  type StreamEvent,
  type TestEngine,
} from '../support/engine.ts';

const TICKET = '110001052100001';
const OTHER_TICKET = '110001062100002';

let t: TestEngine;

beforeEach(async () => {
  t = await newTestEngine();
});

afterEach(async () => {
  expect(await closeCheckingInvariants(t)).toEqual([]);
});

async function accountEvents(accountId: string): Promise<StreamEvent[]> {
  const events = await streamEvents(t.redis, t.engine.keys.account(accountId).stream);
  return events.filter((event) => event.data.accountId === accountId);
}

function submission(overrides: Partial<ReviewSubmission> = {}): ReviewSubmission {
  return {
    accountId: 'a1',
    status: 'PENDING',
    ticketNumber: TICKET,
    candidateId: 'c1',
    provinceCode: '11',
    now: T0,
    ...overrides,
  };
}

async function submitted(overrides: Partial<ReviewSubmission> = {}): Promise<ReviewView> {
  const outcome = await submitReview(t.engine, submission(overrides));
  if (!outcome.ok) throw new Error(outcome.code);
  return outcome.review;
}

async function decided(reviewId: string, approve: boolean, now = T0 + 1000): Promise<ReviewView> {
  const outcome = await decideReview(t.engine, { reviewId, approve, now });
  if (!outcome.ok) throw new Error(outcome.code);
  return outcome.review;
}

describe('R9–R12 CET6 review life cycle', () => {
  it('stores an application approved at once (ticket + ID number matched, R10)', async () => {
    const review = await submitted({ status: 'APPROVED' });
    expect(review).toEqual({
      reviewId: review.reviewId,
      status: 'APPROVED',
      ticketNumber: TICKET,
      candidateId: 'c1',
      provinceCode: '11',
      submittedAt: T0,
      decidedAt: T0,
    });
    expect(review.reviewId.startsWith('a1.')).toBe(true);
    expect(await t.engine.review('a1')).toEqual(review);
    expect(await accountEvents('a1')).toEqual([
      {
        type: 'REVIEW_SUBMITTED',
        data: {
          reviewId: review.reviewId,
          accountId: 'a1',
          candidateId: 'c1',
          provinceCode: '11',
          status: 'APPROVED',
          ticketNumber: TICKET,
        },
      },
    ]);
  });

  it('stores an application pending manual review (ticket + name matched, R10)', async () => {
    const review = await submitted({ status: 'PENDING' });
    expect(review).toMatchObject({ status: 'PENDING', submittedAt: T0, decidedAt: null });
    expect(await t.engine.review('a1')).toEqual(review);
  });

  it('holds one application per account: REVIEW_EXISTS, or REVIEW_APPROVED_FINAL once approved (R12)', async () => {
    const pending = await submitted({ accountId: 'a1', status: 'PENDING' });
    expect(
      await submitReview(t.engine, submission({ accountId: 'a1', ticketNumber: OTHER_TICKET, now: T0 + 1 })),
    ).toEqual({
      ok: false,
      code: 'REVIEW_EXISTS',
    });
    expect(await t.engine.review('a1')).toEqual(pending);

    const approved = await submitted({ accountId: 'a2', status: 'APPROVED' });
    expect(
      await submitReview(
        t.engine,
        submission({ accountId: 'a2', status: 'PENDING', ticketNumber: OTHER_TICKET }),
      ),
    ).toEqual({ ok: false, code: 'REVIEW_APPROVED_FINAL' });
    expect(await t.engine.review('a2')).toEqual(approved);

    // a rejected application is edited, not submitted anew
    await decided(pending.reviewId, false);
    expect(await submitReview(t.engine, submission({ accountId: 'a1', now: T0 + 2 }))).toEqual({
      ok: false,
      code: 'REVIEW_EXISTS',
    });
    expect((await accountEvents('a1')).map((e) => e.type)).toEqual(['REVIEW_SUBMITTED', 'REVIEW_DECIDED']);
    expect((await accountEvents('a2')).map((e) => e.type)).toEqual(['REVIEW_SUBMITTED']);
  });

  it('freezes a pending application: edit and delete refused with REVIEW_PENDING (R11)', async () => {
    const pending = await submitted();
    expect(await editReview(t.engine, submission({ ticketNumber: OTHER_TICKET, now: T0 + 1 }))).toEqual({
      ok: false,
      code: 'REVIEW_PENDING',
    });
    expect(await deleteReview(t.engine, { accountId: 'a1', now: T0 + 1 })).toEqual({
      ok: false,
      code: 'REVIEW_PENDING',
    });
    expect(await t.engine.review('a1')).toEqual(pending);
    expect((await accountEvents('a1')).map((e) => e.type)).toEqual(['REVIEW_SUBMITTED']);
  });

  it('lets staff approve a pending application, which is then final (R11, R12)', async () => {
    const pending = await submitted();
    const approved = await decided(pending.reviewId, true, T0 + 5000);
    expect(approved).toEqual({ ...pending, status: 'APPROVED', decidedAt: T0 + 5000 });
    expect(await t.engine.review('a1')).toEqual(approved);

    expect(
      await decideReview(t.engine, { reviewId: pending.reviewId, approve: false, now: T0 + 6000 }),
    ).toEqual({
      ok: false,
      code: 'REVIEW_NOT_PENDING',
    });
    expect(await editReview(t.engine, submission({ ticketNumber: OTHER_TICKET, now: T0 + 6000 }))).toEqual({
      ok: false,
      code: 'REVIEW_APPROVED_FINAL',
    });
    expect(await deleteReview(t.engine, { accountId: 'a1', now: T0 + 6000 })).toEqual({
      ok: false,
      code: 'REVIEW_APPROVED_FINAL',
    });
    expect(await submitReview(t.engine, submission({ now: T0 + 6000 }))).toEqual({
      ok: false,
      code: 'REVIEW_APPROVED_FINAL',
    });
    expect(await t.engine.review('a1')).toEqual(approved);
    const events = await accountEvents('a1');
    expect(events.map((e) => e.type)).toEqual(['REVIEW_SUBMITTED', 'REVIEW_DECIDED']);
    expect(events[1]?.data).toEqual({ reviewId: pending.reviewId, accountId: 'a1', status: 'APPROVED' });
  });

  it('refuses to decide an application approved at submission: REVIEW_NOT_PENDING', async () => {
    const approved = await submitted({ status: 'APPROVED' });
    expect(
      await decideReview(t.engine, { reviewId: approved.reviewId, approve: false, now: T0 + 1 }),
    ).toEqual({
      ok: false,
      code: 'REVIEW_NOT_PENDING',
    });
    expect(await t.engine.review('a1')).toEqual(approved);
  });

  it('answers REVIEW_NOT_FOUND for a wrong review id, changing nothing', async () => {
    const pending = await submitted();
    for (const reviewId of [
      'a1.wrongId',
      'a2.' + pending.reviewId.slice(3),
      'noDotAtAll',
      '.leadingDot',
      '',
    ]) {
      expect(await decideReview(t.engine, { reviewId, approve: true, now: T0 + 1 })).toEqual({
        ok: false,
        code: 'REVIEW_NOT_FOUND',
      });
    }
    expect(await t.engine.review('a1')).toEqual(pending);
    expect((await accountEvents('a1')).map((e) => e.type)).toEqual(['REVIEW_SUBMITTED']);
  });

  it('lets the applicant edit a rejected application, which goes back to review (R11)', async () => {
    const pending = await submitted();
    const rejected = await decided(pending.reviewId, false, T0 + 1000);
    expect(rejected).toMatchObject({ status: 'REJECTED', decidedAt: T0 + 1000 });

    const edited = await editReview(
      t.engine,
      submission({ status: 'PENDING', ticketNumber: OTHER_TICKET, now: T0 + 2000 }),
    );
    if (!edited.ok) throw new Error(edited.code);
    expect(edited.review).toEqual({
      reviewId: pending.reviewId,
      status: 'PENDING',
      ticketNumber: OTHER_TICKET,
      candidateId: 'c1',
      provinceCode: '11',
      submittedAt: T0 + 2000,
      decidedAt: null,
    });
    expect(await t.engine.review('a1')).toEqual(edited.review);
    // pending again: frozen, and staff may decide it again
    expect(await editReview(t.engine, submission({ now: T0 + 3000 }))).toEqual({
      ok: false,
      code: 'REVIEW_PENDING',
    });
    expect((await decided(pending.reviewId, true, T0 + 4000)).status).toBe('APPROVED');
    expect((await accountEvents('a1')).map((e) => e.type)).toEqual([
      'REVIEW_SUBMITTED',
      'REVIEW_DECIDED',
      'REVIEW_EDITED',
      'REVIEW_DECIDED',
    ]);
  });

  it('approves an edited application at once when its new ticket matched the ID number', async () => {
    const pending = await submitted();
    await decided(pending.reviewId, false);
    const edited = await editReview(t.engine, submission({ status: 'APPROVED', now: T0 + 2000 }));
    expect(edited.ok && edited.review).toMatchObject({ status: 'APPROVED', decidedAt: T0 + 2000 });
    expect(await deleteReview(t.engine, { accountId: 'a1', now: T0 + 3000 })).toEqual({
      ok: false,
      code: 'REVIEW_APPROVED_FINAL',
    });
  });

  it('lets the applicant delete a rejected application, and apply again afterwards (R11)', async () => {
    const pending = await submitted();
    await decided(pending.reviewId, false);
    expect(await deleteReview(t.engine, { accountId: 'a1', now: T0 + 2000 })).toEqual({ ok: true });
    expect(await t.engine.review('a1')).toBeNull();

    expect(await deleteReview(t.engine, { accountId: 'a1', now: T0 + 3000 })).toEqual({
      ok: false,
      code: 'REVIEW_NOT_FOUND',
    });
    expect(await editReview(t.engine, submission({ now: T0 + 3000 }))).toEqual({
      ok: false,
      code: 'REVIEW_NOT_FOUND',
    });
    expect(
      await decideReview(t.engine, { reviewId: pending.reviewId, approve: true, now: T0 + 3000 }),
    ).toEqual({
      ok: false,
      code: 'REVIEW_NOT_FOUND',
    });

    const again = await submitted({ ticketNumber: OTHER_TICKET, now: T0 + 4000 });
    expect(again.reviewId).not.toBe(pending.reviewId);
    expect((await accountEvents('a1')).map((e) => e.type)).toEqual([
      'REVIEW_SUBMITTED',
      'REVIEW_DECIDED',
      'REVIEW_DELETED',
      'REVIEW_SUBMITTED',
    ]);
  });

  it('keeps accounts apart: one account’s application is not another’s', async () => {
    await submitted({ accountId: 'a1' });
    expect(await t.engine.review('a2')).toBeNull();
    expect(await editReview(t.engine, submission({ accountId: 'a2' }))).toEqual({
      ok: false,
      code: 'REVIEW_NOT_FOUND',
    });
    expect(await deleteReview(t.engine, { accountId: 'a2', now: T0 })).toEqual({
      ok: false,
      code: 'REVIEW_NOT_FOUND',
    });
    expect((await submitted({ accountId: 'a2', status: 'APPROVED' })).status).toBe('APPROVED');
  });
});
