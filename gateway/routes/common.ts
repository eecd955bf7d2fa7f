/**
 * Pieces every candidate-facing route module shares: the bound registration of the session's
 * account (object-level authorization: a session only ever reaches its own candidate), turning an
 * engine refusal into the API's error, and the API's shapes of times and registrations.
 */
import { boundCandidate, type BoundRef } from '../../engine/binding.ts';
import type { CandidateRef } from '../../engine/engine.ts';
import type { EngineCode, Refusal } from '../../engine/codes.ts';
import type { ItemView, RegistrationView, ReviewView } from '../../engine/views.ts';
import { passRefusalTicket, type TicketView } from '../../engine/queue.ts';
import { ApiError } from '../errors.ts';
import type { Services } from '../services.ts';

/** ISO-8601 with the +08:00 offset (China Standard Time has no daylight saving). */
export function isoChina(ms: number): string {
  const shifted = new Date(ms + 8 * 3_600_000).toISOString();
  return `${shifted.slice(0, -1)}+08:00`;
}

export function refusalError(refusal: Refusal<EngineCode>): ApiError {
  return new ApiError(refusal.code, refusal.details ? { details: refusal.details } : {});
}

/** API.md's waiting-room `ticket`. */
export function ticketBody(ticket: TicketView) {
  return {
    ticketId: ticket.ticketId,
    provinceCode: ticket.provinceCode,
    state: ticket.state,
    position: ticket.position,
    etaSeconds: ticket.etaSeconds,
    joinedAt: isoChina(ticket.joinedAt),
    admittedAt: ticket.admittedAt === null ? null : isoChina(ticket.admittedAt),
    passExpiresAt: ticket.passExpiresAt === null ? null : isoChina(ticket.passExpiresAt),
  };
}

/**
 * A gated write refused for want of a pass (API.md "Waiting room"): `details.ticket` is the
 * account's ticket in that province as the script saw it, or null when it has none.
 */
export function passRequiredError(refusal: Refusal<EngineCode>, now: number): ApiError {
  const ticket = passRefusalTicket(refusal.details, now);
  return new ApiError('QUEUE_PASS_REQUIRED', {
    details: { ticket: ticket === null ? null : ticketBody(ticket) },
  });
}

/**
 * The session account's bound candidate from this thread's cache, else from Redis (then cached):
 * a binding does not change while it lives and its snapshot is frozen (R7), so a reservation
 * costs no extra round trip. The scripts still check that the record is bound to this account,
 * and a written hold that it is the same binding (`savedAt`: one deleted under R8 and bound anew,
 * perhaps with other eligible subjects, is not); when one answers NO_REGISTRATION call
 * `forgetBound`. Other threads' copies are not told: each finds out on its own next hold.
 */
export async function boundRef(services: Services, accountId: string): Promise<BoundRef> {
  const cached = services.boundCache.get(accountId);
  if (cached) return cached;
  const bound = await requireBound(services, accountId);
  const ref: BoundRef = {
    accountId,
    provinceCode: bound.provinceCode,
    candidateId: bound.candidateId,
    eligibleSubjects: bound.registration.snapshot.eligibleSubjects,
    savedAt: bound.registration.savedAt,
  };
  services.boundCache.set(accountId, ref);
  return ref;
}

export function forgetBound(services: Services, accountId: string): void {
  services.boundCache.delete(accountId);
}

/**
 * Runs an engine call on the account's bound candidate. If the call answers NO_REGISTRATION on a
 * cached binding (deleted under R8, perhaps bound anew since), the cache entry is dropped and the
 * call is tried once more on a fresh read.
 */
export async function onBound<T extends { ok: boolean; code?: string }>(
  services: Services,
  accountId: string,
  attempt: (bound: BoundRef) => Promise<T>,
): Promise<T> {
  const wasCached = services.boundCache.has(accountId);
  const outcome = await attempt(await boundRef(services, accountId));
  if (outcome.ok || outcome.code !== 'NO_REGISTRATION') return outcome;
  forgetBound(services, accountId);
  return wasCached ? attempt(await boundRef(services, accountId)) : outcome;
}

/** The session account's bound candidate, or 404 NO_REGISTRATION. */
export async function requireBound(
  services: Services,
  accountId: string,
): Promise<CandidateRef & { registration: RegistrationView }> {
  const bound = await boundCandidate(services.engine, accountId);
  if (!bound) throw new ApiError('NO_REGISTRATION');
  return bound;
}

export function itemBody(item: ItemView) {
  return {
    subject: item.subject,
    campusId: item.campusId,
    status: item.status,
    heldAt: isoChina(item.heldAt),
    payBy: isoChina(item.payBy),
    fee: item.fee,
    ...(item.settledAt === null ? {} : { settledAt: isoChina(item.settledAt) }),
  };
}

export type ReviewStatus = 'NONE' | 'PENDING' | 'APPROVED' | 'REJECTED';

/** API.md's `registration` object (R24: progress tells the home page what is left to do). */
export function registrationBody(view: RegistrationView, review: { offered: boolean; status: ReviewStatus }) {
  const live = [...view.written, ...view.oral].filter(
    (item) => item.status === 'HELD' || item.status === 'PAID',
  );
  return {
    candidate: {
      candidateId: view.candidateId,
      name: view.snapshot.name,
      idType: view.snapshot.idType,
      idNumber: view.snapshot.idMasked,
      provinceCode: view.provinceCode,
      schoolId: view.snapshot.schoolId,
      campusId: view.campusId,
      grade: view.snapshot.grade,
      eligibleSubjects: view.snapshot.eligibleSubjects,
    },
    savedAt: isoChina(view.savedAt),
    written: view.written.map(itemBody),
    oral: view.oral.map(itemBody),
    amountDue: view.amountDue,
    cet6Review: review,
    progress: {
      saved: true,
      writtenRegistered: view.written.some((item) => item.status === 'HELD' || item.status === 'PAID'),
      oralRegistered: view.oral.some((item) => item.status === 'HELD' || item.status === 'PAID'),
      paid: live.length > 0 && live.every((item) => item.status === 'PAID'),
      unpaid: live.filter((item) => item.status === 'HELD').map((item) => item.subject),
    },
    ...(view.deleteAt === null ? {} : { deleteAt: isoChina(view.deleteAt) }),
  };
}

export function reviewStatusOf(review: ReviewView | null, candidateId: string | null): ReviewStatus {
  if (!review || (candidateId !== null && review.candidateId !== candidateId)) return 'NONE';
  return review.status;
}
