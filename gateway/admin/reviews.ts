/**
 * CET6 review applications for school staff (R11): the list to work through and the decision.
 *
 * Where the list comes from: the engine keeps each application on its account's Redis shard. The
 * writer copies every REVIEW_* event into `events` and projects it onto `cet6_reviews`
 * (db/sql/projections.ts), but the list is built from the events, not from that table: a
 * projection can fail where the event row is still stored (the writer dead-letters it with
 * `stored: event`), and then the table lacks a live application the events name. The projection
 * refuses, for instance, an account or candidate PostgreSQL does not know (foreign keys), a
 * decision the admin clock dated before its submission, and, after one of those, the deletion or
 * resubmission that follows. So the list is the latest state per reviewId in `events` (submitted /
 * edited carry the ticket and candidate, decided the status, deleted removes it), and each entry
 * is then confirmed against the engine (`engine.review(accountId)`, one HGET each), which is
 * authoritative: an application decided, edited or deleted since its last written event shows as
 * it is now, or not at all.
 * The lag: an application submitted (or resubmitted after a rejection) appears once the writer has
 * copied its event, normally well under a second (the writer's lag in GET /api/v1/admin/stats);
 * a decision is visible at once. Cost: one scan of the REVIEW_* events (no index on `type` yet)
 * and one HGET per listed entry.
 *
 * Each entry carries what staff compare by hand (R10: the ticket's CET4 record matched by name but
 * not by ID number): the candidate's school record (masked ID number) and the ticket's CET4 record.
 */
import { query } from '../../db/pool.ts';
import type { Engine } from '../../engine/engine.ts';
import { payloadError, type EventPayload } from '../../engine/outbox.ts';
import { accountOfReview, decideReview } from '../../engine/reviews.ts';
import type { ReviewStatus, ReviewView } from '../../engine/views.ts';
import { ApiError } from '../errors.ts';
import { strictObject, Type } from '../http/schemas.ts';
import { isoChina } from '../routes/common.ts';
import type { Services } from '../services.ts';

export const ReviewListQuery = strictObject({
  status: Type.Optional(
    Type.Union([Type.Literal('PENDING'), Type.Literal('APPROVED'), Type.Literal('REJECTED')]),
  ),
  limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: '1-9999, default 500' })),
});

export const DecisionBody = strictObject({ approve: Type.Boolean() });

const DEFAULT_LIMIT = 500;
const REVIEW_EVENTS = ['REVIEW_SUBMITTED', 'REVIEW_EDITED', 'REVIEW_DECIDED', 'REVIEW_DELETED'] as const;
type ReviewEventType = (typeof REVIEW_EVENTS)[number];
/** A row of `events` holding a REVIEW_* event (its data is the outbox payload, engine/outbox.ts). */
type ReviewEventRow = { [T in ReviewEventType]: { type: T; data: EventPayload<T> } }[ReviewEventType];
const MAX_REVIEW_ID_LENGTH = 128;

interface EventState {
  readonly reviewId: string;
  readonly accountId: string;
  status: ReviewStatus;
  deleted: boolean;
}

/** Latest state per reviewId from the written events, in stream order (entry ids, not `at`: the
 * admin clock may move `at` backwards in test mode). */
async function reviewsFromEvents(services: Services): Promise<Map<string, EventState>> {
  const events = await query<ReviewEventRow>(
    services.db,
    `SELECT type, data FROM events WHERE type = ANY($1::text[])
      ORDER BY stream,
               split_part(split_part(event_id, '/', 2), '-', 1)::bigint,
               split_part(split_part(event_id, '/', 2), '-', 2)::bigint`,
    [[...REVIEW_EVENTS]],
  );
  const states = new Map<string, EventState>();
  for (const event of events) {
    // a row whose payload breaks the outbox contract (kept by a dead letter) says nothing reliable
    if (payloadError(event.type, event.data) !== undefined) continue;
    const { reviewId, accountId } = event.data;
    const state = states.get(reviewId) ?? { reviewId, accountId, status: 'PENDING', deleted: false };
    if (event.type === 'REVIEW_DELETED') state.deleted = true;
    else {
      state.deleted = false;
      state.status = event.data.status;
    }
    states.set(reviewId, state);
  }
  return states;
}

/** The engine's current view of a review, if the account still holds that very application. */
async function current(engine: Engine, reviewId: string, accountId: string): Promise<ReviewView | null> {
  const review = await engine.review(accountId);
  return review !== null && review.reviewId === reviewId ? review : null;
}

export function reviewBody(review: ReviewView, accountId: string) {
  return {
    reviewId: review.reviewId,
    accountId,
    candidateId: review.candidateId,
    provinceCode: review.provinceCode,
    ticketNumber: review.ticketNumber,
    status: review.status,
    submittedAt: isoChina(review.submittedAt),
    decidedAt: review.decidedAt === null ? null : isoChina(review.decidedAt),
  };
}

export async function listReviews(
  services: Services,
  status: ReviewStatus | undefined,
  limit = DEFAULT_LIMIT,
) {
  const fromEvents = [...(await reviewsFromEvents(services)).values()].filter(
    // a stale status can only be older than the engine's: keep every live one, filter after confirming
    (state) => !state.deleted,
  );
  const confirmed = (
    await Promise.all(
      fromEvents.map(async (state) => {
        const review = await current(services.engine, state.reviewId, state.accountId);
        return review === null ? null : { review, accountId: state.accountId };
      }),
    )
  )
    .filter((entry): entry is { review: ReviewView; accountId: string } => entry !== null)
    .filter((entry) => status === undefined || entry.review.status === status)
    .sort(
      (a, b) =>
        a.review.submittedAt - b.review.submittedAt || a.review.reviewId.localeCompare(b.review.reviewId),
    );
  const page = confirmed.slice(0, limit);

  const [candidates, scores] = await Promise.all([
    query<{
      candidate_id: string;
      name: string;
      id_type: string;
      id_masked: string;
      school_id: string;
      campus_id: string;
    }>(
      services.db,
      `SELECT candidate_id, name, id_type, id_masked, school_id, campus_id FROM roster
        WHERE candidate_id = ANY($1::text[])`,
      [[...new Set(page.map((entry) => entry.review.candidateId))]],
    ),
    query<{ ticket_number: string; name: string; score: number; year: number }>(
      services.db,
      'SELECT ticket_number, name, score, year FROM cet4_scores WHERE ticket_number = ANY($1::text[])',
      [[...new Set(page.map((entry) => entry.review.ticketNumber))]],
    ),
  ]);
  const candidateOf = new Map(candidates.map((c) => [c.candidate_id, c]));
  const scoreOf = new Map(scores.map((s) => [s.ticket_number, s]));
  return {
    reviews: page.map(({ review, accountId }) => {
      const candidate = candidateOf.get(review.candidateId);
      const score = scoreOf.get(review.ticketNumber);
      return {
        ...reviewBody(review, accountId),
        candidate: candidate
          ? {
              name: candidate.name,
              idType: candidate.id_type,
              idNumber: candidate.id_masked,
              schoolId: candidate.school_id,
              campusId: candidate.campus_id,
            }
          : null,
        cet4Record: score ? { name: score.name, score: score.score, year: score.year } : null,
      };
    }),
    total: confirmed.length,
  };
}

/** R11: approve (→ CET6 eligible, final) or reject a pending application. */
export async function decide(services: Services, reviewId: string, approve: boolean, now: number) {
  const accountId = accountOfReview(reviewId);
  if (reviewId.length > MAX_REVIEW_ID_LENGTH || accountId === null) throw new ApiError('REVIEW_NOT_FOUND');
  const outcome = await decideReview(services.engine, { reviewId, approve, now });
  if (!outcome.ok) throw new ApiError(outcome.code);
  return { review: reviewBody(outcome.review, accountId) };
}
