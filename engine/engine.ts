/**
 * The reservation engine: typed wrappers around the Lua transitions of engine/lua. Every
 * contended decision is one atomic script; this module only builds keys, passes `now`, and turns
 * answers into typed outcomes. It never decides a rule that a concurrent caller could race:
 * those live in the scripts. Binding spans two shards and is orchestrated in engine/binding.ts.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULTS } from '../config/defaults.ts';
import { EngineError, isEngineCode, type EngineCode, type Outcome, type Refusal } from './codes.ts';
import { KeySpace, dueBucketOf, type ProvinceKeys } from './keys.ts';
import type { ReplicaWait } from './replicaWait.ts';
import { callScript, defineEngineCommands, type EngineRedis, type ScriptName } from './scripts.ts';
import {
  oralInfo,
  writtenInfo,
  WRITTEN_SUBJECTS,
  type OralSubject,
  type Subject,
  type WrittenSubject,
} from './subjects.ts';
import {
  asList,
  decodeCampus,
  decodeItem,
  decodeOrder,
  decodeRegistration,
  decodeReview,
  oralOpensAtFor,
  seatCount,
  type CampusInfo,
  type ItemView,
  type OrderView,
  type RegistrationView,
  type ReviewView,
  type SeatCount,
  unpackRecord,
} from './views.ts';
import type { Campus, CalendarEntry } from './world.ts';

export const HOUR_MS = 3_600_000;

/** R16: for each written subject, the other written subjects of its level. */
const SAME_LEVEL = Object.fromEntries(
  WRITTEN_SUBJECTS.map((subject) => [
    subject,
    WRITTEN_SUBJECTS.filter(
      (other) => other !== subject && writtenInfo(other).level === writtenInfo(subject).level,
    ),
  ]),
) as unknown as Record<WrittenSubject, readonly WrittenSubject[]>;

export interface EngineOptions {
  /** Key namespace (deployments or test runs sharing one Redis). */
  readonly namespace?: string;
  /** R22: how long a held subject waits for payment. */
  readonly holdMs?: number;
  /** R8: how long a saved registration may stay without any subject. */
  readonly emptyMs?: number;
  /** Binding: how old a pending account claim must be before another attempt may recover it. */
  readonly claimStaleMs?: number;
  /**
   * Waiting room: how long an admitted candidate keeps its slot after its last gated write (or
   * its admission) before the slot goes to the next in line (the pass itself stays valid).
   */
  readonly queueIdleMs?: number;
  /**
   * Issue 14 item 3 (REDIS_WAIT_REPLICAS): every script waits for this many replicas, or throws
   * ReplicationTimeoutError; absent or 0 replicas: no WAIT.
   */
  readonly replicaWait?: ReplicaWait;
}

export interface CandidateRef {
  readonly accountId: string;
  readonly provinceCode: string;
  readonly candidateId: string;
}

/**
 * A per-account rate limit counted by the hold's own script (issue 13, P2: a reservation costs one
 * script call; the gateway's `reserve` rule). The script checks it before anything else: past
 * `limit` attempts in the counter's window it answers RATE_LIMITED and changes nothing; otherwise
 * it hits the counter (which expires `windowMs` after its first hit) and goes on. `key` is the
 * window's counter under the hold's province (`ProvinceKeys.accountCounter`); '' counts nothing.
 */
export interface HoldGuard {
  readonly key: string;
  readonly windowMs: number;
  readonly limit: number;
}

export type WrittenHoldInput = CandidateRef & {
  subject: WrittenSubject;
  eligible: boolean;
  fee: number;
  now: number;
  /**
   * REL4: a tag of the request's Idempotency-Key and body, kept with the hold; a retry with the
   * same tag answers the hold it made, even when the stored answer was lost. Absent: none.
   */
  requestTag?: string;
  /**
   * The binding the caller's eligibility is for (RegistrationView.savedAt): the hold is refused
   * NO_REGISTRATION when the record is another binding (deleted under R8 and bound anew).
   */
  boundAt?: number;
  /** Counted first, in the same script call; absent: no limit. */
  guard?: HoldGuard;
};

export type OralHoldInput = CandidateRef & {
  subject: OralSubject;
  campusId: string;
  fee: number;
  now: number;
  /** As WrittenHoldInput's. */
  requestTag?: string;
  /** As WrittenHoldInput's. */
  guard?: HoldGuard;
};

type Answer =
  { ok: true; [field: string]: unknown } | { ok: false; code: string; details?: Record<string, unknown> };

/**
 * Payment orders a candidate may open within a hold's span (R22): every order is kept, so a quota
 * bounds what one account can make Redis hold (issue 16 item 2); a person pays within a few.
 */
export const ORDERS_PER_HOLD_SPAN = 20;

export class Engine {
  readonly keys: KeySpace;
  readonly holdMs: number;
  readonly emptyMs: number;
  readonly claimStaleMs: number;
  readonly queueIdleMs: number;
  readonly replicaWait: ReplicaWait | undefined;
  /** Work sent without its caller waiting for it (`background`), until it settles. */
  private readonly unsettled = new Set<Promise<void>>();

  constructor(
    readonly redis: EngineRedis,
    options: EngineOptions = {},
  ) {
    this.keys = new KeySpace(options.namespace ?? DEFAULTS.namespace);
    this.holdMs = options.holdMs ?? DEFAULTS.holdMs;
    this.emptyMs = options.emptyMs ?? DEFAULTS.emptyMs;
    this.claimStaleMs = options.claimStaleMs ?? 30_000;
    this.queueIdleMs = options.queueIdleMs ?? DEFAULTS.queue.idleMs;
    this.replicaWait = options.replicaWait;
    defineEngineCommands(redis);
  }

  /**
   * Lets `work` finish without its caller waiting for it (a binding's step 3: engine/binding.ts);
   * its failure is the protocol's to recover, not the caller's. `idle()` waits for all of it.
   */
  background(work: Promise<unknown>): void {
    const settled: Promise<void> = work
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => this.unsettled.delete(settled));
    this.unsettled.add(settled);
  }

  /**
   * Resolves once the work handed to `background` so far has settled: before this engine's
   * connection closes, and in tests that read what it wrote through another connection (with
   * REDIS_WAIT_REPLICAS a script may still wait in the group commit's queue, so a round trip on the
   * connection would not be enough).
   */
  async idle(): Promise<void> {
    while (this.unsettled.size > 0) await Promise.all([...this.unsettled]);
  }

  /** Runs a script and reads its JSON answer; refusals must be among `allowed`. */
  async run(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<Answer> {
    const raw = await callScript(this.redis, name, keys, args, this.replicaWait);
    let answer: Answer;
    try {
      answer = JSON.parse(raw) as Answer;
    } catch (cause) {
      throw new EngineError(`script ${name} answered non-JSON`, { cause });
    }
    if (!answer.ok && !isEngineCode(answer.code))
      throw new EngineError(`script ${name} refused with ${answer.code}`);
    return answer;
  }

  refusal<C extends EngineCode>(answer: Answer, allowed: readonly C[]): Refusal<C> {
    if (answer.ok) throw new EngineError('refusal() called on a success');
    if (!(allowed as readonly string[]).includes(answer.code)) {
      throw new EngineError(`unexpected refusal ${answer.code} (allowed: ${allowed.join(', ')})`);
    }
    const details = answer.details && Object.keys(answer.details).length > 0 ? answer.details : undefined;
    return details ? { ok: false, code: answer.code as C, details } : { ok: false, code: answer.code as C };
  }

  // ---------------------------------------------------------------- reading

  async registration(provinceCode: string, candidateId: string): Promise<RegistrationView | null> {
    const record = await this.storedRecord(provinceCode, candidateId);
    return record === null ? null : decodeRegistration(provinceCode, record);
  }

  /** The raw stored record (its fields as in engine/lua/includes/record.lua), or null. */
  async storedRecord(provinceCode: string, candidateId: string): Promise<Record<string, unknown> | null> {
    const key = this.keys.province(provinceCode).registrations(candidateId);
    const stored = await this.redis.hgetBuffer(key, candidateId);
    return stored === null ? null : unpackRecord(candidateId, stored);
  }

  async order(orderId: string): Promise<OrderView | null> {
    if (!ORDER_ID.test(orderId)) return null;
    const raw = await this.redis.hget(this.keys.province(provinceOfOrder(orderId)).orders(orderId), orderId);
    return raw === null ? null : decodeOrder(JSON.parse(raw));
  }

  async review(accountId: string): Promise<ReviewView | null> {
    const raw = await this.redis.hget(this.keys.account(accountId).reviews, accountId);
    return raw === null ? null : decodeReview(JSON.parse(raw));
  }

  async campuses(provinceCode: string): Promise<Map<string, CampusInfo>> {
    const all = await this.redis.hgetall(this.keys.province(provinceCode).campuses);
    return new Map(Object.entries(all).map(([id, raw]) => [id, decodeCampus(id, raw)]));
  }

  /** R21: remaining, capacity and colour of every campus×subject of a province. */
  async seatCounts(provinceCode: string): Promise<SeatCount[]> {
    const keys = this.keys.province(provinceCode);
    const [capacity, used] = await Promise.all([
      this.redis.hgetall(keys.capacity),
      this.redis.hgetall(keys.used),
    ]);
    const counts: SeatCount[] = [];
    for (const [field, cap] of Object.entries(capacity)) {
      const bar = field.lastIndexOf('|');
      const subject = field.slice(bar + 1) as Subject;
      counts.push(seatCount(field.slice(0, bar), subject, Number(cap), Number(used[field] ?? 0)));
    }
    return counts.sort((a, b) => a.campusId.localeCompare(b.campusId) || a.subject.localeCompare(b.subject));
  }

  /**
   * R19–R21: the oral campuses a candidate of `writtenCampusId` may choose for `subject` at `now`,
   * with remaining seats and colour (RED ones are listed but cannot be chosen).
   */
  async oralCampuses(
    provinceCode: string,
    subject: OralSubject,
    writtenCampusId: string,
    now: number,
  ): Promise<(SeatCount & { name: string; opensAt: number })[]> {
    const [campuses, counts] = await Promise.all([
      this.campuses(provinceCode),
      this.seatCounts(provinceCode),
    ]);
    const written = campuses.get(writtenCampusId);
    const open: (SeatCount & { name: string; opensAt: number })[] = [];
    for (const count of counts) {
      if (count.subject !== subject) continue;
      const campus = campuses.get(count.campusId);
      if (!campus) continue;
      const opensAt = oralOpensAtFor(campus, written);
      if (opensAt !== null && opensAt <= now) open.push({ ...count, name: campus.name, opensAt });
    }
    return open;
  }

  // ---------------------------------------------------------------- subjects

  /** The KEYS and ARGV of a written hold (also what the benchmark hands to redis-benchmark). */
  writtenHoldCall(input: WrittenHoldInput): { keys: string[]; args: (string | number)[] } {
    const keys = this.keys.province(input.provinceCode);
    const payBy = input.now + this.holdMs;
    const due = dueBucketOf(payBy);
    const guard = this.guardOf(keys, input.candidateId, input.guard);
    return {
      keys: [
        keys.registrations(input.candidateId),
        keys.calendar,
        keys.capacity,
        keys.used,
        keys.sequence,
        keys.dueSet,
        keys.dueList(due.member),
        keys.stream,
        keys.seatChannel,
        keys.queue.room,
        keys.queue.tickets,
        keys.queue.accounts,
        keys.queue.slots,
        guard.key,
      ],
      args: [
        input.candidateId,
        input.accountId,
        input.subject,
        input.eligible ? '1' : '0',
        input.fee,
        input.now,
        payBy,
        due.member,
        due.score,
        this.queueIdleMs,
        input.requestTag ?? '',
        input.boundAt ?? '',
        guard.windowMs,
        guard.limit,
        ...SAME_LEVEL[input.subject],
      ],
    };
  }

  /**
   * A hold's guard as its script takes it: the counter, its window and its limit; unguarded, a key
   * of the same province that the script leaves alone (a cluster needs every key in its slot) and
   * an empty limit.
   */
  private guardOf(
    keys: ProvinceKeys,
    candidateId: string,
    guard: HoldGuard | undefined,
  ): { key: string; windowMs: number | ''; limit: number | '' } {
    if (guard === undefined || guard.key === '') {
      return { key: keys.registrations(candidateId), windowMs: '', limit: '' };
    }
    if (!guard.key.startsWith(`${this.keys.namespace}:${keys.tag}:`)) {
      throw new EngineError(`a hold's guard must be a key of its province ${keys.tag}`);
    }
    if (!Number.isInteger(guard.windowMs) || guard.windowMs < 1 || !Number.isInteger(guard.limit)) {
      throw new EngineError('a hold guard takes a whole window of at least 1 ms and a whole limit');
    }
    return { key: guard.key, windowMs: guard.windowMs, limit: guard.limit };
  }

  /** R15–R17, R22: hold a written seat at the candidate's own written campus. */
  async reserveWritten(input: WrittenHoldInput) {
    const call = this.writtenHoldCall(input);
    const answer = await this.run('reserveWritten', call.keys, call.args);
    return this.holdOutcome(answer, [
      'RATE_LIMITED',
      'NO_REGISTRATION',
      'REGISTRATION_NOT_OPEN',
      'REGISTRATION_CLOSED',
      'QUEUE_PASS_REQUIRED',
      'NOT_ELIGIBLE',
      'ALREADY_REGISTERED',
      'SAME_LEVEL_TAKEN',
      'SUBJECT_NOT_OFFERED',
      'SOLD_OUT',
    ] as const);
  }

  /** R18–R22: hold an oral seat at a campus of the candidate's province. */
  async reserveOral(input: OralHoldInput) {
    const keys = this.keys.province(input.provinceCode);
    const payBy = input.now + this.holdMs;
    const due = dueBucketOf(payBy);
    const guard = this.guardOf(keys, input.candidateId, input.guard);
    const answer = await this.run(
      'reserveOral',
      [
        keys.registrations(input.candidateId),
        keys.calendar,
        keys.campuses,
        keys.capacity,
        keys.used,
        keys.sequence,
        keys.dueSet,
        keys.dueList(due.member),
        keys.stream,
        keys.seatChannel,
        keys.queue.room,
        keys.queue.tickets,
        keys.queue.accounts,
        keys.queue.slots,
        guard.key,
      ],
      [
        input.candidateId,
        input.accountId,
        input.subject,
        oralInfo(input.subject).requiresWritten,
        input.campusId,
        input.fee,
        input.now,
        payBy,
        due.member,
        due.score,
        this.queueIdleMs,
        input.requestTag ?? '',
        guard.windowMs,
        guard.limit,
      ],
    );
    return this.holdOutcome(answer, [
      'RATE_LIMITED',
      'NO_REGISTRATION',
      'REGISTRATION_NOT_OPEN',
      'REGISTRATION_CLOSED',
      'QUEUE_PASS_REQUIRED',
      'ALREADY_REGISTERED',
      'WRITTEN_REQUIRED',
      'CAMPUS_NOT_FOUND',
      'EXTERNAL_ORAL_NOT_ALLOWED',
      'CAMPUS_NOT_OPEN',
      'SUBJECT_NOT_OFFERED',
      'SOLD_OUT',
    ] as const);
  }

  private holdOutcome<C extends EngineCode>(
    answer: Answer,
    allowed: readonly C[],
  ): Outcome<{ item: ItemView; remaining: number; capacity: number; replayed?: true }, C> {
    if (!answer.ok) return this.refusal(answer, allowed);
    return {
      ok: true,
      item: decodeItem(String(answer.subject), answer.item),
      remaining: Number(answer.remaining),
      capacity: Number(answer.capacity),
      // REL4: the hold this request's tag made before (its first answer was lost)
      ...(answer.replayed === 1 ? { replayed: true as const } : {}),
    };
  }

  /** Cancel an unpaid subject (a written one takes its dependent oral subject with it). */
  async cancel(
    input: CandidateRef & { subject: Subject; now: number },
  ): Promise<
    Outcome<
      { cancelled: Subject[] },
      'NO_REGISTRATION' | 'REGISTRATION_NOT_OPEN' | 'REGISTRATION_CLOSED' | 'NOT_REGISTERED' | 'ALREADY_PAID'
    >
  > {
    const keys = this.keys.province(input.provinceCode);
    const emptyDeadline = input.now + this.emptyMs;
    const due = dueBucketOf(emptyDeadline);
    const answer = await this.run(
      'cancelSubject',
      [
        keys.registrations(input.candidateId),
        keys.calendar,
        keys.capacity,
        keys.used,
        keys.dueSet,
        keys.dueList(due.member),
        keys.stream,
        keys.seatChannel,
      ],
      [input.candidateId, input.accountId, input.subject, input.now, emptyDeadline, due.member, due.score],
    );
    if (!answer.ok) {
      return this.refusal(answer, [
        'NO_REGISTRATION',
        'REGISTRATION_NOT_OPEN',
        'REGISTRATION_CLOSED',
        'NOT_REGISTERED',
        'ALREADY_PAID',
      ] as const);
    }
    return { ok: true, cancelled: asList(answer.cancelled) as Subject[] };
  }

  // ---------------------------------------------------------------- payment

  /** R23: an order for every unpaid, unexpired held subject. */
  async createOrder(
    input: CandidateRef & { method: string; now: number },
  ): Promise<
    Outcome<
      { order: OrderView },
      | 'NO_REGISTRATION'
      | 'REGISTRATION_NOT_OPEN'
      | 'REGISTRATION_CLOSED'
      | 'NOTHING_TO_PAY'
      | 'TOO_MANY_ORDERS'
    >
  > {
    const keys = this.keys.province(input.provinceCode);
    const orderId = `${input.provinceCode}-${randomBytes(9).toString('base64url')}`;
    const answer = await this.run(
      'createOrder',
      [
        keys.registrations(input.candidateId),
        keys.calendar,
        keys.orders(orderId),
        keys.stream,
        keys.queue.accounts,
        keys.queue.slots,
      ],
      [
        input.candidateId,
        input.accountId,
        orderId,
        input.method,
        input.now,
        ORDERS_PER_HOLD_SPAN,
        this.holdMs,
      ],
    );
    if (!answer.ok) {
      return this.refusal(answer, [
        'NO_REGISTRATION',
        'REGISTRATION_NOT_OPEN',
        'REGISTRATION_CLOSED',
        'NOTHING_TO_PAY',
        'TOO_MANY_ORDERS',
      ] as const);
    }
    return { ok: true, order: decodeOrder(answer.order) };
  }

  /** R23: apply a provider confirmation exactly once; late items are recorded for refund. */
  async confirmPayment(input: {
    orderId: string;
    now: number;
    providerTx: string;
  }): Promise<Outcome<{ order: OrderView; duplicate: boolean }, 'ORDER_NOT_FOUND'>> {
    const existing = await this.order(input.orderId);
    if (!existing) return { ok: false, code: 'ORDER_NOT_FOUND' };
    const keys = this.keys.province(provinceOfOrder(input.orderId));
    const answer = await this.run(
      'confirmPayment',
      [keys.orders(input.orderId), keys.registrations(existing.candidateId), keys.stream],
      [input.orderId, input.now, input.providerTx],
    );
    if (!answer.ok) return this.refusal(answer, ['ORDER_NOT_FOUND'] as const);
    return { ok: true, order: decodeOrder(answer.order), duplicate: answer.duplicate === true };
  }

  // ---------------------------------------------------------------- operators

  async upsertCampus(campus: Campus, now: number): Promise<Outcome<object, 'CAPACITY_BELOW_TAKEN'>> {
    const keys = this.keys.province(campus.provinceCode);
    const info = {
      n: campus.name,
      s: campus.schoolId,
      x: campus.studentsMayTakeOralElsewhere ? 1 : 0,
      o: campus.oralOpens.ownSchoolAt,
      w: campus.oralOpens.provinceWideAt ?? -1,
    };
    const answer = await this.run(
      'upsertCampus',
      [keys.campuses, keys.capacity, keys.used, keys.stream, keys.seatChannel],
      [campus.campusId, JSON.stringify(info), JSON.stringify(campus.capacity), now],
    );
    return answer.ok ? { ok: true } : this.refusal(answer, ['CAPACITY_BELOW_TAKEN'] as const);
  }

  async setCalendar(entry: CalendarEntry, now: number): Promise<void> {
    const keys = this.keys.province(entry.provinceCode);
    await this.run(
      'setCalendar',
      [keys.calendar, keys.stream],
      [entry.registrationOpensAt, entry.registrationClosesAt, now],
    );
  }
}

/** Order ids carry their province ("11-…") so a notification finds its shard. */
const ORDER_ID = /^[0-9]{2}-[A-Za-z0-9_-]{1,64}$/;
export function provinceOfOrder(orderId: string): string {
  if (!ORDER_ID.test(orderId)) throw new EngineError(`malformed order id ${orderId}`);
  return orderId.slice(0, 2);
}
