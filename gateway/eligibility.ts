/**
 * The eligibility service behind `POST /api/v1/eligibility/query` (R3, R4, R9) and the match step
 * of `POST /api/v1/cet6-review` (R10, R14). Requests are micro-batched: whatever arrives within
 * `maxWaitMs` (or until `maxItems` are waiting) becomes one batch, whose CPU part (identity check,
 * ID HMAC, mask) runs as ONE worker-pool task (mode 'pool') or on this thread (mode 'inline', for
 * measurement and small deployments), and whose PostgreSQL part is one statement per kind of
 * request (db/sql/eligibility.ts). An invalid identity never reaches PostgreSQL (R3).
 *
 * It owns no state but the batch being collected; it never logs or returns an ID number in clear
 * (answers carry the masked number), and it writes nothing. A full worker queue rejects the batch
 * with WorkerPoolFull (the HTTP layer answers 503 OVERLOADED).
 */
import {
  cet6ReviewOffered,
  evaluateEligibility,
  matchReview,
  type AccountReview,
  type Cet6ReviewStatus,
  type Evaluation,
  type IdentityInput,
  type IdentityRefusal,
  type ReviewRefusalReason,
} from '../engine/eligibility.ts';
import { WRITTEN_SUBJECTS, type WrittenSubject } from '../engine/subjects.ts';
import type { IdType } from '../engine/world.ts';
import type { Queryable } from '../db/pool.ts';
import {
  cet4ScoresByTicket,
  findCandidates,
  rosterByCandidate,
  type CandidateLookup,
  type RosterMatch,
  type RosterRecord,
} from '../db/sql/eligibility.ts';
import type { TaskRunner } from './workers/pool.ts';
import {
  checkIdentityBatch,
  type CheckedIdentity,
  type EligibilityTask,
} from './workers/eligibility.worker.ts';

/**
 * Refusals carry the codes of gateway/errors.ts (the one table of codes, statuses and messages):
 * VALIDATION_FAILED, INVALID_ID_NUMBER, ID_TYPE_NOT_ACCEPTED (400), CANDIDATE_NOT_FOUND (404); a
 * review match REFUSED is answered as REVIEW_NO_MATCH (422) and stores nothing.
 */
export type EligibilityRefusal =
  IdentityRefusal | { readonly ok: false; readonly code: 'CANDIDATE_NOT_FOUND' };

export interface CandidateView {
  readonly candidateId: string;
  readonly name: string;
  /** Masked, e.g. 110105********002X (API.md: never in full). */
  readonly idMasked: string;
  readonly idType: IdType;
  readonly provinceCode: string;
  readonly schoolId: string;
  /** The written campus (R15). */
  readonly campusId: string;
  readonly grade: string;
}

export interface EligibilityAnswer {
  readonly ok: true;
  readonly candidate: CandidateView;
  readonly eligibleSubjects: WrittenSubject[];
  readonly cet6Review: { readonly offered: boolean; readonly status: Cet6ReviewStatus };
}

export type ReviewMatchAnswer =
  | { readonly ok: true; readonly status: 'APPROVED' | 'PENDING' }
  | { readonly ok: true; readonly status: 'REFUSED'; readonly reason: ReviewRefusalReason }
  | IdentityRefusal;

export interface QueryOptions {
  /**
   * The account's CET6 review application (engine/reviews.ts, `engine.review(accountId)`), if any.
   * It counts only for its own candidate: APPROVED opens CET6 (R4); its status is reported (R13).
   * A promise is awaited only once the record is found, so that the caller's own reads can run
   * beside the lookup; when it rejects, so does the query, with its reason.
   */
  readonly review?: AccountReview | null | Promise<AccountReview | null>;
}

export interface BatchOptions {
  /** Most requests in one batch (default 64). 1 turns batching off. */
  readonly maxItems?: number;
  /** Longest a request waits for companions, ms (default 1; 0 = until the current I/O turn ends). */
  readonly maxWaitMs?: number;
}

export type EligibilityServiceOptions = {
  readonly db: Queryable;
  /** The ID HMAC key (IdKeys.hmacKey: 32 bytes). */
  readonly hmacKey: Buffer;
  readonly batch?: BatchOptions;
  /** Epoch ms; bounds resident-ID birth dates (default Date.now). */
  readonly clock?: () => number;
} & (
  | {
      readonly mode: 'pool';
      /** The WorkerPool (main thread) or its RemoteTaskRunner proxy (gateway app threads: one more
       * thread hop per task, which batching amortises too). */
      readonly pool: TaskRunner;
    }
  | { readonly mode: 'inline' }
);

type Pending =
  | {
      readonly kind: 'query';
      readonly input: IdentityInput;
      readonly review: AccountReview | null | Promise<AccountReview | null>;
      resolve(answer: EligibilityAnswer | EligibilityRefusal): void;
      reject(error: unknown): void;
    }
  | {
      readonly kind: 'review';
      readonly input: IdentityInput;
      readonly ticketNumber: string;
      resolve(answer: ReviewMatchAnswer): void;
      reject(error: unknown): void;
    };

type Accepted = CheckedIdentity & { readonly ok: true };

export const DEFAULT_BATCH_ITEMS = 64;
export const DEFAULT_BATCH_WAIT_MS = 1;

export class EligibilityService {
  private readonly maxItems: number;
  private readonly maxWaitMs: number;
  private readonly clock: () => number;
  /** The key in its own 32-byte ArrayBuffer: structured clone copies a view's whole buffer, and a
   * Buffer may be a slice of Node's 8 KiB pool. */
  private readonly hmacKey: Uint8Array;
  private waiting: Pending[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;

  constructor(private readonly options: EligibilityServiceOptions) {
    this.maxItems = Math.max(1, Math.floor(options.batch?.maxItems ?? DEFAULT_BATCH_ITEMS));
    this.maxWaitMs = Math.max(0, options.batch?.maxWaitMs ?? DEFAULT_BATCH_WAIT_MS);
    this.clock = options.clock ?? Date.now;
    if (options.hmacKey.length !== 32) throw new RangeError('hmacKey must be 32 bytes');
    this.hmacKey = new Uint8Array(options.hmacKey);
  }

  get mode(): 'pool' | 'inline' {
    return this.options.mode;
  }

  /** R3, R4, R9: the candidate's school record, subjects and CET6 review offer, or a refusal. */
  query(input: IdentityInput, opts: QueryOptions = {}): Promise<EligibilityAnswer | EligibilityRefusal> {
    return new Promise((resolve, reject) => {
      this.enqueue({
        kind: 'query',
        input: pickIdentity(input),
        review: opts.review ?? null,
        resolve,
        reject,
      });
    });
  }

  /**
   * R10, R14: how a review application with this ticket matches the CET4 records, for the
   * candidate named by (idType, idNumber, name). Whether the review is offered at all (R9) is the
   * caller's check (from `query`); a REFUSED answer must store nothing (422 REVIEW_NO_MATCH).
   */
  reviewMatch(input: IdentityInput & { readonly ticketNumber: string }): Promise<ReviewMatchAnswer> {
    return new Promise((resolve, reject) => {
      this.enqueue({
        kind: 'review',
        input: pickIdentity(input),
        ticketNumber: typeof input.ticketNumber === 'string' ? input.ticketNumber : '',
        resolve,
        reject,
      });
    });
  }

  /**
   * The roster row of a candidate known by id (a saved registration: the clear ID number is not
   * kept after binding), with the facts R9 needs; `campusId` tests that campus for a CET6 sitting
   * (the registration's own written campus, R7). One indexed read, not batched: it serves the
   * registration page and review applications, not the opening-time surge of queries.
   */
  async candidateRecord(lookup: CandidateLookup): Promise<RosterRecord | null> {
    const [record] = await rosterByCandidate(this.options.db, [lookup]);
    return record ?? null;
  }

  /**
   * R10, R14 for a candidate known by id: the application is matched with the roster's ID digest
   * and normalised name, exactly as `reviewMatch` matches typed ones. A REFUSED answer must store
   * nothing (422 REVIEW_NO_MATCH).
   */
  async reviewMatchForRecord(
    record: Pick<RosterRecord, 'idHmacHex' | 'nameNormalised'>,
    ticketNumber: string,
  ): Promise<ReviewMatchAnswer> {
    const records = /^\d{15}$/.test(ticketNumber)
      ? await cet4ScoresByTicket(this.options.db, [ticketNumber])
      : [];
    const match = matchReview(
      { ticketNumber, idKey: record.idHmacHex, normalisedName: record.nameNormalised },
      records.map((entry) => ({ ...entry, idKey: entry.idHmacHex })),
    );
    return { ok: true, ...match };
  }

  /** Answers whatever is still waiting; later calls still work (nothing to close otherwise). */
  async drain(): Promise<void> {
    this.cancelTimer();
    await this.flush();
  }

  private enqueue(pending: Pending): void {
    this.waiting.push(pending);
    if (this.waiting.length >= this.maxItems) {
      this.cancelTimer();
      void this.flush();
    } else if (this.timer === undefined) {
      this.timer =
        this.maxWaitMs === 0
          ? setImmediate(() => void this.onTimer())
          : setTimeout(() => void this.onTimer(), this.maxWaitMs);
    }
  }

  private onTimer(): Promise<void> {
    this.timer = undefined;
    return this.flush();
  }

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  private async flush(): Promise<void> {
    const batch = this.waiting;
    if (batch.length === 0) return;
    this.waiting = [];
    try {
      await this.answer(batch);
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }

  private async checkIdentities(items: IdentityInput[]): Promise<CheckedIdentity[]> {
    const nowMs = this.clock();
    if (this.options.mode === 'inline') return checkIdentityBatch(items, this.hmacKey, new Date(nowMs));
    const task: EligibilityTask = { items, hmacKey: this.hmacKey, nowMs };
    return this.options.pool.run<CheckedIdentity[]>('eligibility', task);
  }

  private async answer(batch: Pending[]): Promise<void> {
    const checked = await this.checkIdentities(batch.map((pending) => pending.input));
    const queries: { pending: Pending & { kind: 'query' }; identity: Accepted }[] = [];
    const reviews: { pending: Pending & { kind: 'review' }; identity: Accepted }[] = [];
    batch.forEach((pending, i) => {
      const identity = checked[i]!;
      if (!identity.ok) {
        // R3: refused before any lookup.
        pending.resolve(identity);
      } else if (pending.kind === 'query') {
        queries.push({ pending, identity });
      } else {
        reviews.push({ pending, identity });
      }
    });
    await Promise.all([this.answerQueries(queries), this.answerReviews(reviews)]);
  }

  private async answerQueries(
    items: { pending: Pending & { kind: 'query' }; identity: Accepted }[],
  ): Promise<void> {
    if (items.length === 0) return;
    try {
      const matches = await findCandidates(
        this.options.db,
        items.map(({ identity }) => ({
          idType: identity.idType,
          idHmacHex: identity.idHmac,
          nameNormalised: identity.normalisedName,
        })),
      );
      items.forEach(({ pending, identity }, i) => {
        const match = matches[i] ?? null;
        // each answer as soon as its own review is read: one slow read holds no other item
        Promise.resolve(pending.review)
          .then((review) =>
            pending.resolve(
              match === null
                ? { ok: false, code: 'CANDIDATE_NOT_FOUND' }
                : answerFor(match, identity, review),
            ),
          )
          .catch((reason: unknown) => pending.reject(reason));
      });
    } catch (error) {
      for (const { pending } of items) pending.reject(error);
    }
  }

  private async answerReviews(
    items: { pending: Pending & { kind: 'review' }; identity: Accepted }[],
  ): Promise<void> {
    if (items.length === 0) return;
    try {
      const records = await cet4ScoresByTicket(
        this.options.db,
        items.map(({ pending }) => pending.ticketNumber).filter((ticket) => /^\d{15}$/.test(ticket)),
      );
      for (const { pending, identity } of items) {
        const match = matchReview(
          {
            ticketNumber: pending.ticketNumber,
            idKey: identity.idHmac,
            normalisedName: identity.normalisedName,
          },
          records
            .filter((record) => record.ticketNumber === pending.ticketNumber)
            .map((record) => ({ ...record, idKey: record.idHmacHex })),
        );
        pending.resolve({ ok: true, ...match });
      }
    } catch (error) {
      for (const { pending } of items) pending.reject(error);
    }
  }
}

/** Only the three identity fields travel to a worker (no accidental extra payload). */
function pickIdentity(input: IdentityInput): IdentityInput {
  return { idType: input.idType, idNumber: input.idNumber, name: input.name };
}

function answerFor(match: RosterMatch, identity: Accepted, review: AccountReview | null): EligibilityAnswer {
  const evaluation = evaluateEligibility(
    match.candidateId,
    { eligibleSubjects: match.eligibleSubjects, cet6Barred: match.cet6Barred },
    { cet4Best: match.cet4Best, campusOffersCet6: match.campusOffersCet6 },
    review,
  );
  return {
    ok: true,
    candidate: {
      candidateId: match.candidateId,
      name: match.name,
      idMasked: identity.idMasked,
      idType: match.idType,
      provinceCode: match.provinceCode,
      schoolId: match.schoolId,
      campusId: match.campusId,
      grade: match.grade,
    },
    eligibleSubjects: evaluation.eligibleSubjects,
    cet6Review: evaluation.cet6Review,
  };
}

/**
 * R4, R9 and R13 for a saved registration: its subjects are the snapshot's (R7: later changes of
 * the school records do not reach it) plus CET6 once the account's review for this candidate is
 * APPROVED (R10); the review is offered while CET6 is not among them, the candidate is not barred
 * and the registration's written campus holds a CET6 sitting (both from the current records:
 * the snapshot keeps neither).
 */
export function evaluateSaved(
  saved: { readonly candidateId: string; readonly eligibleSubjects: readonly string[] },
  facts: Pick<RosterMatch, 'cet6Barred' | 'campusOffersCet6'> | null,
  review: AccountReview | null,
): Evaluation {
  const status: Cet6ReviewStatus =
    review !== null && review.candidateId === saved.candidateId ? review.status : 'NONE';
  const listed = new Set(saved.eligibleSubjects);
  if (status === 'APPROVED') listed.add('CET6');
  const subjects = WRITTEN_SUBJECTS.filter((subject) => listed.has(subject));
  const offered =
    facts !== null &&
    cet6ReviewOffered({
      cet6Barred: facts.cet6Barred,
      campusOffersCet6: facts.campusOffersCet6,
      eligibleSubjects: subjects,
    });
  return { eligibleSubjects: subjects, cet6Review: { offered, status } };
}
