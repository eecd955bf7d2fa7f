/**
 * The CET6 eligibility review (API.md "CET6 eligibility review"; R9–R14): apply, view, edit after
 * a rejection, delete after a rejection. The application belongs to the account (R12), so every
 * route reaches the session's own application only.
 *
 * Whose application it is: once the account is bound, the bound candidate, and the body may not
 * name anyone (400 VALIDATION_FAILED if it tries); before binding (the eligibility-confirmation
 * step, R13) the body names the candidate by identity. After binding the clear ID number is no
 * longer known, so the application is matched with the roster's ID digest for that candidate.
 * A refused application (R10, R14) stores nothing and answers 422 REVIEW_NO_MATCH; the reason is
 * given only when it is about the ticket's form (never whether a ticket exists or whose it is).
 */
import { boundCandidate } from '../../engine/binding.ts';
import { evaluateEligibility, type ReviewRefusalReason } from '../../engine/eligibility.ts';
import { deleteReview, editReview, submitReview } from '../../engine/reviews.ts';
import type { ReviewView } from '../../engine/views.ts';
import { evaluateSaved, type ReviewMatchAnswer } from '../eligibility.ts';
import { ApiError } from '../errors.ts';
import { created, ok, route, type RouteDef } from '../http/route.ts';
import { strictObject, Type } from '../http/schemas.ts';
import type { Services } from '../services.ts';
import { isoChina, refusalError } from './common.ts';
import {
  eligibilityError,
  IdNumberSchema,
  IdTypeSchema,
  lookupCandidate,
  NameSchema,
  readyWithReview,
} from './registration.ts';

const Ticket = Type.String({ minLength: 1, maxLength: 32 });
const ApplyBody = strictObject({
  ticketNumber: Ticket,
  confirm: Type.Literal(true),
  idType: Type.Optional(IdTypeSchema),
  idNumber: Type.Optional(IdNumberSchema),
  name: Type.Optional(NameSchema),
});
const EditBody = strictObject({ ticketNumber: Ticket, confirm: Type.Literal(true) });

/** Refusal reasons about the ticket as typed; the others would tell who holds a ticket. */
const SHOWN_REASONS: ReadonlySet<ReviewRefusalReason> = new Set([
  'TICKET_MALFORMED',
  'NOT_CET4_TICKET',
  'TICKET_OUT_OF_SCOPE',
]);

/** The candidate an application is for, whether it may be made (R9), and how to match it (R10). */
interface ReviewTarget {
  readonly candidateId: string;
  readonly provinceCode: string;
  readonly offered: boolean;
  match(ticketNumber: string): Promise<ReviewMatchAnswer>;
}

function reviewBody(review: ReviewView) {
  return {
    status: review.status,
    ticketNumber: review.ticketNumber,
    submittedAt: isoChina(review.submittedAt),
    decidedAt: review.decidedAt === null ? null : isoChina(review.decidedAt),
  };
}

function validationError(field: string, problem: string): ApiError {
  return new ApiError('VALIDATION_FAILED', { details: { errors: [{ field, problem }] } });
}

/** R12: one application per account; an approved one is final. */
function existingRefusal(existing: ReviewView): ApiError {
  return new ApiError(existing.status === 'APPROVED' ? 'REVIEW_APPROVED_FINAL' : 'REVIEW_EXISTS');
}

export function reviewRoutes(services: Services): RouteDef[] {
  const { engine, eligibility } = services;

  /** The bound candidate (from the saved registration and the current records), or null. */
  async function boundTarget(accountId: string, review: ReviewView | null): Promise<ReviewTarget | null> {
    const bound = await boundCandidate(engine, accountId);
    if (!bound) return null;
    const { registration } = bound;
    const record = await eligibility.candidateRecord({
      candidateId: bound.candidateId,
      campusId: registration.campusId,
    });
    if (record === null) throw new ApiError('CANDIDATE_NOT_FOUND');
    const evaluation = evaluateSaved(
      { candidateId: bound.candidateId, eligibleSubjects: registration.snapshot.eligibleSubjects },
      record,
      review,
    );
    return {
      candidateId: bound.candidateId,
      provinceCode: bound.provinceCode,
      offered: evaluation.cet6Review.offered,
      match: (ticketNumber) => eligibility.reviewMatchForRecord(record, ticketNumber),
    };
  }

  /** An unbound account's application for the candidate it applied for before (an edit). */
  async function recordTarget(candidateId: string, review: ReviewView): Promise<ReviewTarget> {
    const record = await eligibility.candidateRecord({ candidateId });
    if (record === null) throw new ApiError('CANDIDATE_NOT_FOUND');
    const evaluation = evaluateEligibility(candidateId, record, record, review);
    return {
      candidateId,
      provinceCode: record.provinceCode,
      offered: evaluation.cet6Review.offered,
      match: (ticketNumber) => eligibility.reviewMatchForRecord(record, ticketNumber),
    };
  }

  /** R9 then R10: the match of an offered application, or the refusal thrown. */
  async function accepted(target: ReviewTarget, ticketNumber: string): Promise<'APPROVED' | 'PENDING'> {
    if (!target.offered) throw new ApiError('REVIEW_NOT_OFFERED');
    const match = await target.match(ticketNumber);
    if (!match.ok) throw eligibilityError(match);
    if (match.status === 'REFUSED') {
      throw new ApiError(
        'REVIEW_NO_MATCH',
        SHOWN_REASONS.has(match.reason) ? { details: { reason: match.reason } } : {},
      );
    }
    return match.status;
  }

  return [
    route({
      method: 'POST',
      path: '/api/v1/cet6-review',
      summary: 'Apply for the CET6 eligibility review with a CET4 ticket (R9–R14)',
      tags: ['cet6-review'],
      auth: 'session',
      body: ApplyBody,
      idempotent: true,
      rateLimits: ['writes'],
      responses: {
        201: '{status: APPROVED|PENDING, ticketNumber, submittedAt, decidedAt}',
        400: 'VALIDATION_FAILED (identity missing before binding, or given after), INVALID_ID_NUMBER, ID_TYPE_NOT_ACCEPTED',
        403: 'REVIEW_NOT_OFFERED, PHONE_NOT_BOUND, AGREEMENT_REQUIRED',
        404: 'CANDIDATE_NOT_FOUND',
        409: 'REVIEW_EXISTS, REVIEW_APPROVED_FINAL',
        422: 'REVIEW_NO_MATCH (nothing stored)',
      },
      handler: async (ctx) => {
        const accountId = ctx.accountId!;
        const { ticketNumber, idType, idNumber, name } = ctx.body;
        const existing = await readyWithReview(services, accountId);
        if (existing) throw existingRefusal(existing);
        const named = idType !== undefined || idNumber !== undefined || name !== undefined;
        let target = await boundTarget(accountId, existing);
        if (target && named) {
          throw validationError('/idType', 'the application is for the bound candidate: name nobody');
        }
        if (!target) {
          if (idType === undefined || idNumber === undefined || name === undefined) {
            const missing = idType === undefined ? 'idType' : idNumber === undefined ? 'idNumber' : 'name';
            throw validationError(`/${missing}`, 'required before the account is bound');
          }
          const identity = { idType, idNumber, name };
          const answer = await lookupCandidate(services, identity, existing);
          target = {
            candidateId: answer.candidate.candidateId,
            provinceCode: answer.candidate.provinceCode,
            offered: answer.cet6Review.offered,
            match: (ticket) => eligibility.reviewMatch({ ...identity, ticketNumber: ticket }),
          };
        }
        const status = await accepted(target, ticketNumber);
        const outcome = await submitReview(engine, {
          accountId,
          status,
          ticketNumber,
          candidateId: target.candidateId,
          provinceCode: target.provinceCode,
          now: ctx.now,
        });
        if (!outcome.ok) throw refusalError(outcome);
        return created(reviewBody(outcome.review));
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/cet6-review',
      summary: "The account's own CET6 review application (R12, R13)",
      tags: ['cet6-review'],
      auth: 'session',
      responses: {
        200: '{status: PENDING|APPROVED|REJECTED, ticketNumber, submittedAt, decidedAt}',
        404: 'REVIEW_NOT_FOUND',
      },
      handler: async (ctx) => {
        const review = await engine.review(ctx.accountId!);
        if (!review) throw new ApiError('REVIEW_NOT_FOUND');
        return ok(reviewBody(review));
      },
    }),
    route({
      method: 'PUT',
      path: '/api/v1/cet6-review',
      summary: 'Resubmit a rejected application with another ticket (R11)',
      tags: ['cet6-review'],
      auth: 'session',
      body: EditBody,
      rateLimits: ['writes'],
      responses: {
        200: '{status: APPROVED|PENDING, ticketNumber, submittedAt, decidedAt}',
        400: 'VALIDATION_FAILED',
        403: 'REVIEW_NOT_OFFERED, PHONE_NOT_BOUND, AGREEMENT_REQUIRED',
        404: 'REVIEW_NOT_FOUND',
        409: 'REVIEW_PENDING, REVIEW_APPROVED_FINAL',
        422: 'REVIEW_NO_MATCH (the rejected application stays as it was)',
      },
      handler: async (ctx) => {
        const accountId = ctx.accountId!;
        const existing = await readyWithReview(services, accountId);
        if (!existing) throw new ApiError('REVIEW_NOT_FOUND');
        if (existing.status === 'APPROVED') throw new ApiError('REVIEW_APPROVED_FINAL');
        if (existing.status === 'PENDING') throw new ApiError('REVIEW_PENDING');
        const target =
          (await boundTarget(accountId, existing)) ?? (await recordTarget(existing.candidateId, existing));
        const status = await accepted(target, ctx.body.ticketNumber);
        const outcome = await editReview(engine, {
          accountId,
          status,
          ticketNumber: ctx.body.ticketNumber,
          candidateId: target.candidateId,
          provinceCode: target.provinceCode,
          now: ctx.now,
        });
        if (!outcome.ok) throw refusalError(outcome);
        return ok(reviewBody(outcome.review));
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/cet6-review',
      summary: 'Delete a rejected application (R11)',
      tags: ['cet6-review'],
      auth: 'session',
      rateLimits: ['writes'],
      responses: {
        200: '{deleted: true}',
        404: 'REVIEW_NOT_FOUND',
        409: 'REVIEW_PENDING, REVIEW_APPROVED_FINAL',
      },
      handler: async (ctx) => {
        const outcome = await deleteReview(engine, { accountId: ctx.accountId!, now: ctx.now });
        if (!outcome.ok) throw refusalError(outcome);
        return ok({ deleted: true });
      },
    }),
  ];
}
