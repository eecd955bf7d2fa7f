/**
 * Eligibility, binding and subjects (API.md "Eligibility and binding", "Subjects"; R3–R8,
 * R15–R21): the eligibility query, "save and continue" (binding with the R7 snapshot), the saved
 * registration, written and oral holds and their cancellation, and the oral campus list.
 *
 * Object-level authorization: nothing here takes a candidate id from a request. Lookups are by
 * identity (idType, idNumber, name) and answer only what whoever knows that identity may see;
 * every call on a registration reaches the session's own bound candidate (requireBound), so a
 * session can never read or change another account's registration, whatever its body says.
 * Eligibility for a subject is decided here from the saved snapshot (R7) and the account's CET6
 * review (R10); seats, levels, windows and campuses are decided atomically by the engine.
 */
import { bind, type BoundRef } from '../../engine/binding.ts';
import type { EngineCode, Refusal } from '../../engine/codes.ts';
import type { HoldGuard } from '../../engine/engine.ts';
import { ID_TYPES } from '../../engine/eligibility.ts';
import {
  isOralSubject,
  isWrittenSubject,
  ORAL_SUBJECTS,
  WRITTEN_SUBJECTS,
  type Subject,
} from '../../engine/subjects.ts';
import type { RegistrationView, ReviewView } from '../../engine/views.ts';
import {
  evaluateSaved,
  type EligibilityAnswer,
  type EligibilityRefusal,
  type CandidateView,
} from '../eligibility.ts';
import type { Evaluation, IdentityInput } from '../../engine/eligibility.ts';
import { ApiError } from '../errors.ts';
import { created, ok, route, type RouteDef, type ScriptLimit } from '../http/route.ts';
import { strictObject, Type } from '../http/schemas.ts';
import type { Services } from '../services.ts';
import {
  isoChina,
  itemBody,
  onBound,
  passRequiredError,
  refusalError,
  registrationBody,
  requireBound,
} from './common.ts';

// ------------------------------------------------------------------ shapes shared with review.ts

export const IdTypeSchema = Type.Union(ID_TYPES.map((idType) => Type.Literal(idType)));
export const IdNumberSchema = Type.String({ minLength: 1, maxLength: 64 });
export const NameSchema = Type.String({ minLength: 1, maxLength: 128 });

const IdentityBody = strictObject({ idType: IdTypeSchema, idNumber: IdNumberSchema, name: NameSchema });
const RegistrationBody = strictObject({
  idType: IdTypeSchema,
  idNumber: IdNumberSchema,
  name: NameSchema,
  confirm: Type.Literal(true),
});
const WrittenSubjectSchema = Type.Union(WRITTEN_SUBJECTS.map((subject) => Type.Literal(subject)));
const OralSubjectSchema = Type.Union(ORAL_SUBJECTS.map((subject) => Type.Literal(subject)));
const WrittenBody = strictObject({ subject: WrittenSubjectSchema });
const OralBody = strictObject({
  subject: OralSubjectSchema,
  campusId: Type.String({ minLength: 1, maxLength: 64 }),
});
const OralCampusesQuery = strictObject({ subject: OralSubjectSchema });

/** R1, R2: a phone bound and the agreement accepted, before any eligibility or registration call. */
async function requireReady(services: Services, accountId: string): Promise<void> {
  const refusal = await services.auth.accounts.requireRegistrationReady(accountId);
  if (refusal !== null) throw new ApiError(refusal);
}

/**
 * `requireReady`, with the account's CET6 review (Redis) read while PostgreSQL answers it: one
 * round trip fewer for the eligibility query, the binding and the review calls. The review is
 * answered only once the account may register (R1, R2 first, as before).
 */
export async function readyWithReview(services: Services, accountId: string): Promise<ReviewView | null> {
  const review = services.engine.review(accountId);
  review.catch(() => undefined); // awaited below, unless the account may not register yet
  await requireReady(services, accountId);
  return review;
}

/**
 * R1, R2, then R3, R4, R9: the candidate named by `identity`, for an account that may register. The
 * lookup (the identity check in its lane, then PostgreSQL) runs beside the readiness check and the
 * review's read, which it needs only at its end: one step fewer one after another for the
 * eligibility query and the binding. Its answer is used only once the account is ready: a refusal of
 * R1 or R2 comes first, as before, and with nothing of the record.
 */
async function readyLookup(
  services: Services,
  accountId: string,
  identity: IdentityInput,
): Promise<EligibilityAnswer> {
  const review = readyWithReview(services, accountId);
  const answer = lookupCandidate(services, identity, review);
  answer.catch(() => undefined); // answered below, once the account may register
  await review;
  return answer;
}

/** An identity or lookup refusal of the eligibility service, as the API answers it. */
export function eligibilityError(refusal: EligibilityRefusal): ApiError {
  switch (refusal.code) {
    case 'VALIDATION_FAILED':
      return new ApiError('VALIDATION_FAILED', {
        details: { errors: [{ field: `/${refusal.details.field}`, problem: refusal.details.reason }] },
      });
    case 'INVALID_ID_NUMBER':
      return new ApiError('INVALID_ID_NUMBER', { details: { reason: refusal.details.reason } });
    default:
      return new ApiError(refusal.code);
  }
}

/** R3, R4, R9: the candidate named by an identity, or the refusal thrown. */
export async function lookupCandidate(
  services: Services,
  identity: IdentityInput,
  review: ReviewView | null | Promise<ReviewView | null>,
): Promise<EligibilityAnswer> {
  const answer = await services.eligibility.query(identity, { review });
  if (!answer.ok) throw eligibilityError(answer);
  return answer;
}

/** R4, R9, R13 for a saved registration (its snapshot, the current records, the account's review). */
export async function savedEvaluation(
  services: Services,
  registration: RegistrationView,
  review: ReviewView | null,
): Promise<Evaluation> {
  const facts = await services.eligibility.candidateRecord({
    candidateId: registration.candidateId,
    campusId: registration.campusId,
  });
  return evaluateSaved(
    { candidateId: registration.candidateId, eligibleSubjects: registration.snapshot.eligibleSubjects },
    facts,
    review,
  );
}

function candidateBody(candidate: CandidateView) {
  return {
    candidateId: candidate.candidateId,
    name: candidate.name,
    idType: candidate.idType,
    idNumber: candidate.idMasked,
    provinceCode: candidate.provinceCode,
    schoolId: candidate.schoolId,
    campusId: candidate.campusId,
    grade: candidate.grade,
  };
}

/** The registration object, plus the subjects open to it now (snapshot + an approved review). */
function savedBody(registration: RegistrationView, evaluation: Evaluation) {
  return {
    ...registrationBody(registration, evaluation.cet6Review),
    eligibleSubjects: evaluation.eligibleSubjects,
  };
}

/** A hold or cancel refusal; an instant in its details is given as ISO-8601 like every time. */
function holdError(refusal: Refusal<EngineCode>, now: number): ApiError {
  if (refusal.code === 'QUEUE_PASS_REQUIRED') return passRequiredError(refusal, now);
  const opensAt = refusal.details?.opensAt;
  if (typeof opensAt !== 'number') return refusalError(refusal);
  return new ApiError(refusal.code, { details: { ...refusal.details, opensAt: isoChina(opensAt) } });
}

/** The per-account limit of holds, counted by the hold's own script (gateway/app.ts `rateLimitRules`). */
const RESERVE_RULE = 'reserve';

/**
 * A hold on the account's bound candidate whose `reserve` limit is counted by the hold's own script
 * (issue 13, P2: a reservation is one script call, the session being in this thread's cache): the
 * script's RATE_LIMITED answers the access step's 429 naming the rule, with nothing changed. An
 * account with no binding has no province to count under: it is counted in its own counter, so
 * that past the limit it is told 429 as before, not 404.
 */
async function guardedHold<T extends { ok: boolean; code?: string }>(
  services: Services,
  accountId: string,
  scriptLimits: Readonly<Record<string, ScriptLimit>>,
  hold: (bound: BoundRef, guard: HoldGuard) => Promise<T>,
): Promise<T> {
  const limit = scriptLimits[RESERVE_RULE];
  if (limit === undefined) throw new Error(`the ${RESERVE_RULE} rule is not counted in this route's script`);
  // the rate windows run on the system clock, as the access step's (the admin clock is the rules')
  const nowMs = Date.now();
  let outcome: T;
  try {
    outcome = await onBound(services, accountId, (bound) => {
      const keys = services.engine.keys.province(bound.provinceCode);
      return hold(
        bound,
        limit.guard((rule, window) => keys.accountCounter(rule, accountId, window), nowMs),
      );
    });
  } catch (error) {
    if (error instanceof ApiError && error.code === 'NO_REGISTRATION') await limit.hitApart(accountId, nowMs);
    throw error;
  }
  if (!outcome.ok && outcome.code === 'RATE_LIMITED') throw limit.refusal(nowMs);
  return outcome;
}

function subjectParam(value: string | undefined, accept: (value: unknown) => value is Subject): Subject {
  if (!accept(value)) {
    throw new ApiError('VALIDATION_FAILED', {
      details: { errors: [{ field: 'subject', problem: 'unknown subject for this route' }] },
    });
  }
  return value;
}

// ------------------------------------------------------------------ routes

export function registrationRoutes(services: Services): RouteDef[] {
  const { engine, metrics } = services;

  const cancel = async (accountId: string, subject: Subject, now: number) => {
    const bound = await requireBound(services, accountId);
    const outcome = await engine.cancel({
      accountId,
      provinceCode: bound.provinceCode,
      candidateId: bound.candidateId,
      subject,
      now,
    });
    if (!outcome.ok) throw holdError(outcome, now);
    return ok({ cancelled: outcome.cancelled });
  };

  return [
    route({
      method: 'POST',
      path: '/api/v1/eligibility/query',
      summary: 'Look a candidate up by identity: school record, eligible subjects, CET6 review (R3–R5, R9)',
      tags: ['registration'],
      auth: 'session',
      body: IdentityBody,
      // a school record for a name and an ID number: guessing must be slow (issue 16 item 4)
      rateLimits: ['lookup', 'lookupIp'],
      responses: {
        200: '{candidate (masked ID), eligibleSubjects, cet6Review: {offered, status}}',
        400: 'VALIDATION_FAILED, INVALID_ID_NUMBER, ID_TYPE_NOT_ACCEPTED',
        403: 'PHONE_NOT_BOUND, AGREEMENT_REQUIRED',
        404: 'CANDIDATE_NOT_FOUND',
        409: 'CANDIDATE_ALREADY_BOUND (to another account: no candidate data)',
        429: 'RATE_LIMITED',
      },
      handler: async (ctx) => {
        const accountId = ctx.accountId!;
        const answer = await readyLookup(services, accountId, ctx.body);
        // API.md: a candidate bound to another account is shown to no one else (I2: one account each)
        const { provinceCode, candidateId } = answer.candidate;
        const bound = await engine.registration(provinceCode, candidateId);
        if (bound !== null && bound.accountId !== accountId) throw new ApiError('CANDIDATE_ALREADY_BOUND');
        return ok({
          candidate: candidateBody(answer.candidate),
          eligibleSubjects: answer.eligibleSubjects,
          cet6Review: answer.cet6Review,
        });
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/registration',
      summary: 'Save and continue: bind the account to the candidate, snapshotting the record (R6, R7)',
      tags: ['registration'],
      auth: 'session',
      priority: 'critical',
      body: RegistrationBody,
      idempotent: true,
      rateLimits: ['writes'],
      responses: {
        201: '{registration} (+ registration.eligibleSubjects: the subjects open to it now)',
        400: 'VALIDATION_FAILED, INVALID_ID_NUMBER, ID_TYPE_NOT_ACCEPTED',
        403: 'PHONE_NOT_BOUND, AGREEMENT_REQUIRED, REGISTRATION_NOT_OPEN, REGISTRATION_CLOSED',
        404: 'CANDIDATE_NOT_FOUND',
        409: 'ACCOUNT_ALREADY_BOUND, CANDIDATE_ALREADY_BOUND, BIND_ABORTED (retry)',
      },
      handler: async (ctx) => {
        const accountId = ctx.accountId!;
        const { idType, idNumber, name } = ctx.body;
        const answer = await readyLookup(services, accountId, { idType, idNumber, name });
        const { candidate } = answer;
        const outcome = await bind(engine, {
          accountId,
          provinceCode: candidate.provinceCode,
          candidateId: candidate.candidateId,
          campusId: candidate.campusId,
          snapshot: {
            name: candidate.name,
            idType: candidate.idType,
            idMasked: candidate.idMasked,
            schoolId: candidate.schoolId,
            grade: candidate.grade,
            eligibleSubjects: answer.eligibleSubjects,
          },
          now: ctx.now,
        });
        if (!outcome.ok) throw holdError(outcome, ctx.now);
        services.boundCache.set(accountId, {
          accountId,
          provinceCode: candidate.provinceCode,
          candidateId: candidate.candidateId,
          eligibleSubjects: outcome.registration.snapshot.eligibleSubjects,
          savedAt: outcome.registration.savedAt,
        });
        return created({ registration: savedBody(outcome.registration, answer) });
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/registration',
      summary: "The session's own saved registration and its progress (R7, R24)",
      tags: ['registration'],
      auth: 'session',
      responses: {
        200: '{registration} (+ registration.eligibleSubjects: the subjects open to it now)',
        404: 'NO_REGISTRATION',
      },
      handler: async (ctx) => {
        const accountId = ctx.accountId!;
        const [bound, review] = await Promise.all([
          requireBound(services, accountId),
          engine.review(accountId),
        ]);
        const evaluation = await savedEvaluation(services, bound.registration, review);
        return ok({ registration: savedBody(bound.registration, evaluation) });
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/registration/written',
      summary: 'Hold a written seat at the own written campus (R15–R17, R22)',
      tags: ['registration'],
      auth: 'session',
      priority: 'critical',
      body: WrittenBody,
      idempotent: true,
      rateLimits: [RESERVE_RULE],
      countedInScript: [RESERVE_RULE],
      responses: {
        201: '{item}',
        400: 'VALIDATION_FAILED',
        403: 'NOT_ELIGIBLE, REGISTRATION_NOT_OPEN, REGISTRATION_CLOSED',
        404: 'NO_REGISTRATION',
        409: 'SAME_LEVEL_TAKEN, SOLD_OUT, ALREADY_REGISTERED, SUBJECT_NOT_OFFERED',
        429: 'RATE_LIMITED',
      },
      handler: async (ctx) => {
        const accountId = ctx.accountId!;
        const { subject } = ctx.body;
        const outcome = await guardedHold(services, accountId, ctx.scriptLimits, async (bound, guard) => {
          let eligible = bound.eligibleSubjects.includes(subject);
          if (!eligible && subject === 'CET6') {
            // R10: an approved review opens CET6, for the candidate it was made for only
            const review = await engine.review(accountId);
            eligible = review?.status === 'APPROVED' && review.candidateId === bound.candidateId;
          }
          return engine.reserveWritten({
            accountId,
            provinceCode: bound.provinceCode,
            candidateId: bound.candidateId,
            subject,
            eligible,
            fee: await services.fees.of(subject),
            now: ctx.now,
            boundAt: bound.savedAt,
            guard,
            ...(ctx.requestTag === undefined ? {} : { requestTag: ctx.requestTag }),
          });
        });
        metrics.reservations.inc({ kind: 'WRITTEN', outcome: outcome.ok ? 'OK' : outcome.code });
        if (!outcome.ok) throw holdError(outcome, ctx.now);
        return created({ item: itemBody(outcome.item) });
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/registration/written/:subject',
      summary: 'Cancel an unpaid written subject; the oral subject of its level goes too',
      tags: ['registration'],
      auth: 'session',
      rateLimits: ['writes'],
      responses: {
        200: '{cancelled: [subject, ...]}',
        400: 'VALIDATION_FAILED (not a written subject)',
        403: 'REGISTRATION_NOT_OPEN, REGISTRATION_CLOSED',
        404: 'NO_REGISTRATION, NOT_REGISTERED',
        409: 'ALREADY_PAID',
      },
      handler: async (ctx) =>
        cancel(ctx.accountId!, subjectParam(ctx.params.subject, isWrittenSubject), ctx.now),
    }),
    route({
      method: 'GET',
      path: '/api/v1/oral/campuses',
      summary: 'Campuses open now for this oral subject, with remaining seats as a colour (R19–R21)',
      tags: ['registration'],
      auth: 'session',
      query: OralCampusesQuery,
      responses: {
        200: '[{campusId, name, remaining, capacity, color: GREEN|YELLOW|RED, opensAt}]',
        400: 'VALIDATION_FAILED',
        404: 'NO_REGISTRATION',
      },
      handler: async (ctx) => {
        const bound = await requireBound(services, ctx.accountId!);
        const campuses = await engine.oralCampuses(
          bound.provinceCode,
          ctx.query.subject,
          bound.registration.campusId,
          ctx.now,
        );
        return ok(
          campuses.map((campus) => ({
            campusId: campus.campusId,
            name: campus.name,
            remaining: campus.remaining,
            capacity: campus.capacity,
            color: campus.color,
            opensAt: isoChina(campus.opensAt),
          })),
        );
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/registration/oral',
      summary: 'Hold an oral seat at a campus open to the candidate (R18–R22)',
      tags: ['registration'],
      auth: 'session',
      priority: 'critical',
      body: OralBody,
      idempotent: true,
      rateLimits: [RESERVE_RULE],
      countedInScript: [RESERVE_RULE],
      responses: {
        201: '{item}',
        400: 'VALIDATION_FAILED',
        403: 'CAMPUS_NOT_OPEN {opensAt}, EXTERNAL_ORAL_NOT_ALLOWED, REGISTRATION_NOT_OPEN, REGISTRATION_CLOSED',
        404: 'NO_REGISTRATION, CAMPUS_NOT_FOUND',
        409: 'SOLD_OUT, WRITTEN_REQUIRED, ALREADY_REGISTERED, SUBJECT_NOT_OFFERED',
        429: 'RATE_LIMITED',
      },
      handler: async (ctx) => {
        const accountId = ctx.accountId!;
        const { subject, campusId } = ctx.body;
        const outcome = await guardedHold(services, accountId, ctx.scriptLimits, async (bound, guard) =>
          engine.reserveOral({
            accountId,
            provinceCode: bound.provinceCode,
            candidateId: bound.candidateId,
            subject,
            campusId,
            fee: await services.fees.of(subject),
            now: ctx.now,
            guard,
            ...(ctx.requestTag === undefined ? {} : { requestTag: ctx.requestTag }),
          }),
        );
        metrics.reservations.inc({ kind: 'ORAL', outcome: outcome.ok ? 'OK' : outcome.code });
        if (!outcome.ok) throw holdError(outcome, ctx.now);
        return created({ item: itemBody(outcome.item) });
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/registration/oral/:subject',
      summary: 'Cancel an unpaid oral subject',
      tags: ['registration'],
      auth: 'session',
      rateLimits: ['writes'],
      responses: {
        200: '{cancelled: [subject]}',
        400: 'VALIDATION_FAILED (not an oral subject)',
        403: 'REGISTRATION_NOT_OPEN, REGISTRATION_CLOSED',
        404: 'NO_REGISTRATION, NOT_REGISTERED',
        409: 'ALREADY_PAID',
      },
      handler: async (ctx) =>
        cancel(ctx.accountId!, subjectParam(ctx.params.subject, isOralSubject), ctx.now),
    }),
  ];
}
