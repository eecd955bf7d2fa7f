/**
 * Property-based tests of the engine (STYLE.md "Tests"; ARCHITECTURE.md REL1: ≥ 100 runs).
 *
 * 1. Random command sequences over a tiny world run against the real engine (real Redis, a fresh
 *    namespace per run, removed afterwards) and against `Model`, an in-memory implementation of
 *    DOMAIN.md written here in plain TypeScript. After every step the outcome (ok / code, and the
 *    details that matter) must equal the model's, the whole engine state (registrations, items,
 *    seat counters, account claims) must equal the model's, and I1–I3 must hold on what Redis holds.
 *    `checkInvariants` scans all 4096 registration buckets (~40–60 ms), too slow for every step of
 *    100+ runs: after each step the same checks run on a direct read of the world's candidates,
 *    which in this world are all the registrations there are; the full `checkInvariants` (with
 *    the outbox, I4) runs at the end of each run.
 * 2. Random batches of commands fired at once (Promise.all over several connections), without a
 *    model: after each batch I1–I3 and the claim↔registration bijection hold, and at the end the
 *    full `checkInvariants` is clean.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Engine,
  HOUR_MS,
  bind,
  expireDue,
  readClaim,
  writtenInfo,
  isWrittenSubject,
  type OralSubject,
  type RegistrationView,
  type SeatCount,
  type WrittenSubject,
} from '../../engine/index.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { redisUrl } from '../support/env.ts';
import { T0, snapshot, streamEvents } from '../support/engine.ts';
import { removeNamespace } from '../support/redis.ts';

const PROVINCE = '11';
const WRITTEN = ['CET4', 'CJT4', 'CET6'] as const satisfies readonly WrittenSubject[];
const ORAL = ['CET-SET4', 'CET-SET6'] as const satisfies readonly OralSubject[];
type SeatSubject = (typeof WRITTEN)[number] | (typeof ORAL)[number];
const SEAT_SUBJECTS: readonly SeatSubject[] = [...WRITTEN, ...ORAL];
const FEES: Record<SeatSubject, number> = { CET4: 30, CJT4: 35, CET6: 40, 'CET-SET4': 50, 'CET-SET6': 60 };
const REQUIRES: Record<(typeof ORAL)[number], (typeof WRITTEN)[number]> = {
  'CET-SET4': 'CET4',
  'CET-SET6': 'CET6',
};
/** engine defaults (R8, R22) */
const HOLD_MS = 12 * HOUR_MS;
const EMPTY_MS = 12 * HOUR_MS;

// ------------------------------------------------------------------------------------ the world

interface CampusSpec {
  readonly campusId: string;
  readonly mayTakeOralElsewhere: boolean;
  readonly capacity: Partial<Record<SeatSubject, number>>;
  readonly ownSchoolAt: number;
  readonly provinceWideAt: number | null;
}

interface WorldSpec {
  readonly campuses: readonly CampusSpec[];
  readonly opensAt: number;
  readonly closesAt: number;
  /** candidate ids and their written campus (R15) */
  readonly candidates: readonly { candidateId: string; campusId: string }[];
  readonly accounts: readonly string[];
}

const hoursFromT0 = (min: number, max: number) => fc.integer({ min, max }).map((h) => T0 + h * HOUR_MS);
const seats = fc.option(
  fc.oneof(
    { arbitrary: fc.constant(0), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 3 },
  ),
  { nil: undefined, freq: 6 },
);

const worldArb: fc.Arbitrary<WorldSpec> = fc
  .record({
    campuses: fc.array(
      fc.record({
        mayTakeOralElsewhere: fc.boolean(),
        capacity: fc.record({ CET4: seats, CJT4: seats, CET6: seats, 'CET-SET4': seats, 'CET-SET6': seats }),
        ownSchoolAt: hoursFromT0(-1, 24),
        provinceWideAt: fc.option(hoursFromT0(0, 36), { nil: null, freq: 3 }),
      }),
      { minLength: 2, maxLength: 3 },
    ),
    opensAt: fc.oneof(
      { arbitrary: fc.constant(T0 - HOUR_MS), weight: 3 },
      { arbitrary: hoursFromT0(0, 2), weight: 1 },
    ),
    openForHours: fc.integer({ min: 12, max: 200 }),
    candidateCampuses: fc.array(fc.nat(2), { minLength: 3, maxLength: 5 }),
    accounts: fc.integer({ min: 3, max: 5 }),
  })
  .map((w) => {
    const campuses = w.campuses.map((c, n) => {
      const capacity: Partial<Record<SeatSubject, number>> = {};
      for (const subject of SEAT_SUBJECTS) {
        const value = c.capacity[subject];
        if (value !== undefined) capacity[subject] = value;
      }
      return { ...c, capacity, campusId: `C${n + 1}` };
    });
    return {
      campuses,
      opensAt: w.opensAt,
      closesAt: w.opensAt + w.openForHours * HOUR_MS,
      candidates: w.candidateCampuses.map((n, i) => ({
        candidateId: String(1000 + i),
        campusId: campuses[n % campuses.length]!.campusId,
      })),
      accounts: Array.from({ length: w.accounts }, (_, i) => `acc${i}`),
    };
  });

// ------------------------------------------------------------------------------------ commands

interface Who {
  readonly account: number;
  readonly candidate: number;
  /** act for a bound account and its candidate (the `account`-th bound pair), when there is one */
  readonly useBound: boolean;
}

type Command =
  | { kind: 'bind'; account: number; candidate: number }
  | (Who & { kind: 'written'; subject: (typeof WRITTEN)[number]; eligible: boolean })
  | (Who & { kind: 'oral'; subject: (typeof ORAL)[number]; campus: number })
  | (Who & { kind: 'cancel'; subject: SeatSubject })
  | (Who & { kind: 'order' })
  | { kind: 'pay'; order: number }
  | { kind: 'sweep' }
  | { kind: 'advance'; ms: number };

const who = {
  account: fc.nat(4),
  candidate: fc.nat(4),
  useBound: fc.oneof(
    { arbitrary: fc.constant(true), weight: 6 },
    { arbitrary: fc.constant(false), weight: 1 },
  ),
};
const advanceMs = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 13 * 3600 }).map((s) => s * 1000), weight: 3 },
  {
    arbitrary: fc.constantFrom(
      1,
      999,
      1000,
      HOLD_MS - 1000,
      HOLD_MS,
      HOLD_MS + 1,
      HOLD_MS + 999,
      13 * HOUR_MS,
    ),
    weight: 1,
  },
);

/** weighted so that oral subjects (which need CET4 or CET6 held, R18) are reached often */
const weighted = <T>(...choices: [T, number][]) =>
  fc.oneof(...choices.map(([value, weight]) => ({ arbitrary: fc.constant(value), weight })));

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    arbitrary: fc.record({ kind: fc.constant('bind' as const), account: fc.nat(4), candidate: fc.nat(4) }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('written' as const),
      ...who,
      subject: weighted<(typeof WRITTEN)[number]>(['CET4', 3], ['CET6', 2], ['CJT4', 1]),
      eligible: weighted([true, 6], [false, 1]),
    }),
    weight: 5,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('oral' as const),
      ...who,
      subject: weighted<(typeof ORAL)[number]>(['CET-SET4', 2], ['CET-SET6', 1]),
      campus: fc.oneof(fc.constant(-1), fc.nat(3)),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('cancel' as const),
      ...who,
      subject: fc.constantFrom(...SEAT_SUBJECTS),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('order' as const), ...who }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('pay' as const), order: fc.nat(7) }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'sweep' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: advanceMs }), weight: 3 },
);

/** A few binds first (most commands need a registration), then anything. */
const bindArb = fc.record({ kind: fc.constant('bind' as const), account: fc.nat(4), candidate: fc.nat(4) });
const sequenceArb: fc.Arbitrary<Command[]> = fc
  .tuple(
    fc.array(bindArb, { maxLength: 5 }),
    fc.array(commandArb, { minLength: 10, maxLength: 50, size: 'max' }),
  )
  .map(([binds, rest]) => [...binds, ...rest]);

// ------------------------------------------------------------------------------------ the model

type Status = 'HELD' | 'PAID' | 'EXPIRED' | 'CANCELLED';

interface MItem {
  subject: SeatSubject;
  kind: 'WRITTEN' | 'ORAL';
  campusId: string;
  status: Status;
  heldAt: number;
  payBy: number;
  holdId: number;
  fee: number;
  requires: SeatSubject | null;
  settledAt: number | null;
}

interface MRegistration {
  candidateId: string;
  accountId: string;
  campusId: string;
  savedAt: number;
  /** R8: 0 while a subject is live */
  emptyDeadline: number;
  items: Map<SeatSubject, MItem>;
}

interface MOrder {
  orderId: string;
  candidateId: string;
  status: 'PENDING' | 'PAID' | 'LATE_REFUND';
  items: [SeatSubject, number, number][];
}

/** What a step answered, reduced to what both sides can be compared on. */
type Result = { ok: false; code: string } | ({ ok: true } & Record<string, unknown>);
const refused = (code: string): Result => ({ ok: false, code });
const isLive = (item: MItem | undefined): boolean => item?.status === 'HELD' || item?.status === 'PAID';

/**
 * DOMAIN.md in plain TypeScript, for one province. Choices the domain leaves to the design follow
 * the engine's documented ones: the order in which refusals are checked, the lazy expiry (a hold
 * past its pay-by still counts until the sweeper runs, and the sweeper runs on the deadline index:
 * one entry per deadline set, due once the whole second of the deadline has passed), and a new 12 h
 * empty deadline (R8) when a registration loses its last live subject.
 */
class Model {
  now = T0;
  private holdSequence = 0;
  readonly registrations = new Map<string, MRegistration>();
  readonly used = new Map<string, number>();
  readonly orders: MOrder[] = [];
  private due: { score: number; candidateId: string }[] = [];

  constructor(readonly world: WorldSpec) {}

  capacity(campusId: string, subject: SeatSubject): number | undefined {
    return this.world.campuses.find((c) => c.campusId === campusId)?.capacity[subject];
  }

  usedSeats(campusId: string, subject: SeatSubject): number {
    return this.used.get(`${campusId}|${subject}`) ?? 0;
  }

  candidateOf(accountId: string): string | undefined {
    for (const reg of this.registrations.values()) if (reg.accountId === accountId) return reg.candidateId;
    return undefined;
  }

  private windowRefusal(): string | null {
    if (this.now < this.world.opensAt) return 'REGISTRATION_NOT_OPEN';
    if (this.now >= this.world.closesAt) return 'REGISTRATION_CLOSED';
    return null;
  }

  /** The deadline index: due once the whole second of the deadline is over. */
  private index(deadline: number, candidateId: string): void {
    this.due.push({ score: Math.floor(deadline / 1000) * 1000 + 999, candidateId });
  }

  private registrationOf(accountId: string, candidateId: string): MRegistration | null {
    const reg = this.registrations.get(candidateId);
    return reg && reg.accountId === accountId ? reg : null;
  }

  private takeSeat(campusId: string, subject: SeatSubject): string | { used: number; capacity: number } {
    const capacity = this.capacity(campusId, subject);
    if (capacity === undefined) return 'SUBJECT_NOT_OFFERED';
    const used = this.usedSeats(campusId, subject);
    if (used >= capacity) return 'SOLD_OUT';
    this.used.set(`${campusId}|${subject}`, used + 1);
    return { used: used + 1, capacity };
  }

  private hold(
    reg: MRegistration,
    subject: SeatSubject,
    campusId: string,
    seat: { used: number; capacity: number },
  ) {
    const item: MItem = {
      subject,
      kind: isWrittenSubject(subject) ? 'WRITTEN' : 'ORAL',
      campusId,
      status: 'HELD',
      heldAt: this.now,
      payBy: this.now + HOLD_MS,
      holdId: ++this.holdSequence,
      fee: FEES[subject],
      requires: isWrittenSubject(subject) ? null : REQUIRES[subject],
      settledAt: null,
    };
    reg.items.set(subject, item);
    reg.emptyDeadline = 0;
    this.index(item.payBy, reg.candidateId);
    return {
      ok: true as const,
      holdId: item.holdId,
      payBy: item.payBy,
      campusId,
      remaining: seat.capacity - seat.used,
      capacity: seat.capacity,
    };
  }

  /** Ends a held item and (R18) the held oral items that need it; returns the ended subjects. */
  private end(reg: MRegistration, subject: SeatSubject, status: 'EXPIRED' | 'CANCELLED'): MItem[] {
    const item = reg.items.get(subject)!;
    item.status = status;
    item.settledAt = this.now;
    this.used.set(`${item.campusId}|${subject}`, this.usedSeats(item.campusId, subject) - 1);
    const ended = [item];
    if (item.kind === 'WRITTEN') {
      for (const other of reg.items.values()) {
        if (other.kind === 'ORAL' && other.requires === subject && other.status === 'HELD')
          ended.push(...this.end(reg, other.subject, status));
      }
    }
    return ended;
  }

  private hasLive(reg: MRegistration): boolean {
    return [...reg.items.values()].some(isLive);
  }

  /** R5–R7, I2 */
  bind(accountId: string, candidateId: string, campusId: string): Result {
    if (this.candidateOf(accountId) !== undefined) return refused('ACCOUNT_ALREADY_BOUND');
    if (this.registrations.has(candidateId)) return refused('CANDIDATE_ALREADY_BOUND');
    const closed = this.windowRefusal();
    if (closed) return refused(closed);
    const emptyDeadline = this.now + EMPTY_MS;
    this.registrations.set(candidateId, {
      candidateId,
      accountId,
      campusId,
      savedAt: this.now,
      emptyDeadline,
      items: new Map(),
    });
    this.index(emptyDeadline, candidateId);
    return { ok: true };
  }

  /** R15–R17, R22, I1, I3 */
  reserveWritten(
    accountId: string,
    candidateId: string,
    subject: (typeof WRITTEN)[number],
    eligible: boolean,
  ): Result {
    const reg = this.registrationOf(accountId, candidateId);
    if (!reg) return refused('NO_REGISTRATION');
    const closed = this.windowRefusal();
    if (closed) return refused(closed);
    if (!eligible) return refused('NOT_ELIGIBLE');
    if (isLive(reg.items.get(subject))) return refused('ALREADY_REGISTERED');
    const level = writtenInfo(subject).level;
    for (const item of reg.items.values()) {
      if (
        item.kind === 'WRITTEN' &&
        item.subject !== subject &&
        isLive(item) &&
        writtenInfo(item.subject as WrittenSubject).level === level
      )
        return refused('SAME_LEVEL_TAKEN');
    }
    const seat = this.takeSeat(reg.campusId, subject);
    if (typeof seat === 'string') return refused(seat);
    return this.hold(reg, subject, reg.campusId, seat);
  }

  /** R18–R22, I1 */
  reserveOral(
    accountId: string,
    candidateId: string,
    subject: (typeof ORAL)[number],
    campusId: string,
  ): Result {
    const reg = this.registrationOf(accountId, candidateId);
    if (!reg) return refused('NO_REGISTRATION');
    const closed = this.windowRefusal();
    if (closed) return refused(closed);
    if (isLive(reg.items.get(subject))) return refused('ALREADY_REGISTERED');
    const requiredItem = reg.items.get(REQUIRES[subject]);
    // a written hold past its pay-by counts as expired even before the sweep (R22)
    if (!isLive(requiredItem) || (requiredItem!.status === 'HELD' && requiredItem!.payBy <= this.now))
      return refused('WRITTEN_REQUIRED');
    const target = this.world.campuses.find((c) => c.campusId === campusId);
    if (!target) return refused('CAMPUS_NOT_FOUND');
    const own = campusId === reg.campusId;
    const written = this.world.campuses.find((c) => c.campusId === reg.campusId)!;
    if (!own && !written.mayTakeOralElsewhere) return refused('EXTERNAL_ORAL_NOT_ALLOWED');
    // R20: own students from ownSchoolAt, the rest of the province from provinceWideAt
    const opensAt = own
      ? Math.min(target.ownSchoolAt, target.provinceWideAt ?? Infinity)
      : target.provinceWideAt;
    if (opensAt === null || this.now < opensAt) return refused('CAMPUS_NOT_OPEN');
    const seat = this.takeSeat(campusId, subject);
    if (typeof seat === 'string') return refused(seat);
    return this.hold(reg, subject, campusId, seat);
  }

  cancel(accountId: string, candidateId: string, subject: SeatSubject): Result {
    const reg = this.registrationOf(accountId, candidateId);
    if (!reg) return refused('NO_REGISTRATION');
    const closed = this.windowRefusal();
    if (closed) return refused(closed);
    const item = reg.items.get(subject);
    if (!item || !isLive(item)) return refused('NOT_REGISTERED');
    if (item.status === 'PAID') return refused('ALREADY_PAID');
    for (const other of reg.items.values()) {
      if (other.kind === 'ORAL' && other.requires === subject && other.status === 'PAID')
        return refused('ALREADY_PAID');
    }
    const cancelled = this.end(reg, subject, 'CANCELLED').map((i) => i.subject);
    if (!this.hasLive(reg)) {
      reg.emptyDeadline = this.now + EMPTY_MS;
      this.index(reg.emptyDeadline, candidateId);
    }
    return { ok: true, cancelled: cancelled.sort() };
  }

  /** R23: an order for every unpaid, unexpired held subject */
  createOrder(accountId: string, candidateId: string): Result & { items?: [SeatSubject, number, number][] } {
    const reg = this.registrationOf(accountId, candidateId);
    if (!reg) return refused('NO_REGISTRATION');
    const closed = this.windowRefusal();
    if (closed) return refused(closed);
    const items = [...reg.items.values()]
      .filter((item) => item.status === 'HELD' && item.payBy > this.now)
      .sort((a, b) => (a.subject < b.subject ? -1 : 1))
      .map((item): [SeatSubject, number, number] => [item.subject, item.holdId, item.fee]);
    if (items.length === 0) return refused('NOTHING_TO_PAY');
    return { ok: true, amount: items.reduce((sum, [, , fee]) => sum + fee, 0), items };
  }

  recordOrder(orderId: string, candidateId: string, items: [SeatSubject, number, number][]): void {
    this.orders.push({ orderId, candidateId, status: 'PENDING', items });
  }

  /**
   * R23: applied once, only to items still held under the same hold and before their pay-by; an
   * oral item only together with its written item (R18: else the written item's expiry would
   * leave a paid oral subject without it).
   */
  confirmPayment(orderId: string): Result {
    const order = this.orders.find((o) => o.orderId === orderId);
    if (!order) return refused('ORDER_NOT_FOUND');
    if (order.status !== 'PENDING') return { ok: true, status: order.status, duplicate: true };
    const reg = this.registrations.get(order.candidateId);
    const applies = (subject: SeatSubject, holdId: number) => {
      const item = reg?.items.get(subject);
      return item !== undefined && item.holdId === holdId && item.status === 'HELD' && item.payBy > this.now;
    };
    const paid = new Set<SeatSubject>();
    for (const kind of ['WRITTEN', 'ORAL'] as const) {
      for (const [subject, holdId] of order.items) {
        const item = reg?.items.get(subject);
        if (!item || item.kind !== kind || !applies(subject, holdId)) continue;
        if (kind === 'ORAL' && reg?.items.get(item.requires!)?.status !== 'PAID') continue;
        item.status = 'PAID';
        item.settledAt = this.now;
        paid.add(subject);
      }
    }
    order.status = paid.size > 0 ? 'PAID' : 'LATE_REFUND';
    const subjects = order.items.map(([subject]) => subject);
    return {
      ok: true,
      status: order.status,
      duplicate: false,
      paid: subjects.filter((s) => paid.has(s)).sort(),
      refund: subjects.filter((s) => !paid.has(s)).sort(),
    };
  }

  /** R8, R22, I4: the sweeper */
  expireDue(): Result {
    const dueNow = this.due.filter((entry) => entry.score <= this.now);
    this.due = this.due.filter((entry) => entry.score > this.now);
    const expired: string[] = [];
    const deleted: string[] = [];
    for (const candidateId of new Set(dueNow.map((entry) => entry.candidateId))) {
      const reg = this.registrations.get(candidateId);
      if (!reg) continue;
      for (const kind of ['WRITTEN', 'ORAL'] as const) {
        const subjects = [...reg.items.values()]
          .filter((i) => i.kind === kind && i.status === 'HELD' && i.payBy <= this.now)
          .map((i) => i.subject)
          .sort();
        for (const subject of subjects) {
          if (reg.items.get(subject)!.status !== 'HELD') continue;
          for (const item of this.end(reg, subject, 'EXPIRED'))
            expired.push(`${candidateId}|${item.subject}|${item.holdId}`);
        }
      }
      if (this.hasLive(reg)) continue;
      if (reg.emptyDeadline === 0) {
        reg.emptyDeadline = this.now + EMPTY_MS;
        this.index(reg.emptyDeadline, candidateId);
      } else if (reg.emptyDeadline <= this.now) {
        this.registrations.delete(candidateId);
        deleted.push(`${candidateId}|${reg.accountId}`);
      }
    }
    return { ok: true, expired: expired.sort(), deleted: deleted.sort() };
  }
}

// ------------------------------------------------------------------------------------ the engine side

let redis: Redis;
/** extra connections for the concurrent property */
let pool: Redis[];

beforeAll(async () => {
  redis = new Redis(redisUrl(), { enableAutoPipelining: true, maxRetriesPerRequest: null });
  pool = Array.from({ length: 4 }, () => new Redis(redisUrl(), { maxRetriesPerRequest: null }));
  await Promise.all([redis, ...pool].map((r) => r.ping()));
});

afterAll(() => {
  for (const r of [redis, ...pool]) r.disconnect();
});

async function loadWorld(engine: Engine, world: WorldSpec): Promise<void> {
  await engine.setCalendar(
    { provinceCode: PROVINCE, registrationOpensAt: world.opensAt, registrationClosesAt: world.closesAt },
    T0,
  );
  for (const c of world.campuses) {
    const outcome = await engine.upsertCampus(
      {
        campusId: c.campusId,
        name: `Campus ${c.campusId}`,
        provinceCode: PROVINCE,
        schoolId: `S${c.campusId}`,
        studentsMayTakeOralElsewhere: c.mayTakeOralElsewhere,
        capacity: c.capacity,
        oralOpens: { ownSchoolAt: c.ownSchoolAt, provinceWideAt: c.provinceWideAt },
      },
      T0,
    );
    if (!outcome.ok) throw new Error(`campus ${c.campusId}: ${outcome.code}`);
  }
}

/** Who a command acts for: the candidate the account is bound to, or the one it names. */
/** [accountId, candidateId] of every binding, in a stable order */
type Bound = readonly (readonly [string, string])[];
function boundPairs(registrations: Iterable<{ accountId: string; candidateId: string }>): Bound {
  return [...registrations]
    .map((r) => [r.accountId, r.candidateId] as const)
    .sort((a, b) => a[1].localeCompare(b[1]));
}

/** Who a command acts for: a bound pair (mostly), or any account and any candidate. */
function resolve(world: WorldSpec, cmd: Who, bound: Bound) {
  const pair = cmd.useBound && bound.length > 0 ? bound[cmd.account % bound.length]! : undefined;
  return {
    accountId: pair?.[0] ?? world.accounts[cmd.account % world.accounts.length]!,
    provinceCode: PROVINCE,
    candidateId: pair?.[1] ?? world.candidates[cmd.candidate % world.candidates.length]!.candidateId,
  };
}

/** The oral campus a command names: -1 the candidate's own written campus, past the last one 'CX' (none) */
function campusIdOf(world: WorldSpec, n: number, candidateId: string): string {
  if (n < 0) return world.candidates.find((c) => c.candidateId === candidateId)!.campusId;
  return world.campuses[n]?.campusId ?? 'CX';
}

/** Runs one command on the engine; answers a Result comparable with the model's. */
async function runOnEngine(
  engine: Engine,
  world: WorldSpec,
  cmd: Exclude<Command, { kind: 'advance' }>,
  now: number,
  bound: Bound,
  orderIds: readonly string[],
): Promise<Result & { orderId?: string }> {
  switch (cmd.kind) {
    case 'bind': {
      const accountId = world.accounts[cmd.account % world.accounts.length]!;
      const { candidateId, campusId } = world.candidates[cmd.candidate % world.candidates.length]!;
      const outcome = await bind(engine, {
        accountId,
        provinceCode: PROVINCE,
        candidateId,
        campusId,
        snapshot: snapshot(),
        now,
      });
      return outcome.ok ? { ok: true } : refused(outcome.code);
    }
    case 'written':
    case 'oral': {
      const ref = resolve(world, cmd, bound);
      const outcome =
        cmd.kind === 'written'
          ? await engine.reserveWritten({
              ...ref,
              subject: cmd.subject,
              eligible: cmd.eligible,
              fee: FEES[cmd.subject],
              now,
            })
          : await engine.reserveOral({
              ...ref,
              subject: cmd.subject,
              campusId: campusIdOf(world, cmd.campus, ref.candidateId),
              fee: FEES[cmd.subject],
              now,
            });
      if (!outcome.ok) return refused(outcome.code);
      const { item } = outcome;
      return {
        ok: true,
        holdId: item.holdId,
        payBy: item.payBy,
        campusId: item.campusId,
        remaining: outcome.remaining,
        capacity: outcome.capacity,
      };
    }
    case 'cancel': {
      const outcome = await engine.cancel({ ...resolve(world, cmd, bound), subject: cmd.subject, now });
      return outcome.ok ? { ok: true, cancelled: [...outcome.cancelled].sort() } : refused(outcome.code);
    }
    case 'order': {
      const outcome = await engine.createOrder({ ...resolve(world, cmd, bound), method: 'alipay', now });
      if (!outcome.ok) return refused(outcome.code);
      const items = outcome.order.items.map((i): [SeatSubject, number, number] => [
        i.subject as SeatSubject,
        i.holdId,
        i.fee,
      ]);
      return { ok: true, amount: outcome.order.amount, items, orderId: outcome.order.orderId };
    }
    case 'pay': {
      const orderId = orderIds.length === 0 ? `${PROVINCE}-none` : orderIds[cmd.order % orderIds.length]!;
      const outcome = await engine.confirmPayment({ orderId, now, providerTx: `tx-${now}` });
      if (!outcome.ok) return refused(outcome.code);
      const { order } = outcome;
      if (outcome.duplicate) return { ok: true, status: order.status, duplicate: true, orderId };
      const paid = [...order.paid].sort();
      return {
        ok: true,
        status: order.status,
        duplicate: false,
        paid,
        refund: [...order.refund].sort(),
        orderId,
      };
    }
    case 'sweep': {
      const result = await expireDue(engine, PROVINCE, now);
      return {
        ok: true,
        expired: result.expired.map((e) => `${e.candidateId}|${e.subject}|${e.holdId}`).sort(),
        deleted: result.deleted.map((d) => `${d.candidateId}|${d.accountId}`).sort(),
      };
    }
  }
}

interface EngineState {
  readonly registrations: RegistrationView[];
  readonly seats: SeatCount[];
  readonly claims: Map<string, { state: string; candidateId: string } | null>;
}

async function readState(engine: Engine, world: WorldSpec): Promise<EngineState> {
  const [registrations, seats, claims] = await Promise.all([
    Promise.all(world.candidates.map((c) => engine.registration(PROVINCE, c.candidateId))),
    engine.seatCounts(PROVINCE),
    Promise.all(world.accounts.map((accountId) => readClaim(engine, accountId))),
  ]);
  return {
    registrations: registrations.filter((r): r is RegistrationView => r !== null),
    seats,
    claims: new Map(
      world.accounts.map((accountId, n) => {
        const claim = claims[n];
        return [accountId, claim ? { state: claim.state, candidateId: claim.candidateId } : null];
      }),
    ),
  };
}

/**
 * I1–I3 on what Redis holds, as checkInvariants checks them, over the registrations read
 * (in these worlds: all there are). Returns the violations found.
 */
function violations(state: EngineState): string[] {
  const found: string[] = [];
  const live = new Map<string, number>();
  const accounts = new Map<string, string>();
  for (const reg of state.registrations) {
    const other = accounts.get(reg.accountId);
    if (other) found.push(`I2: ${reg.accountId} bound to ${other} and ${reg.candidateId}`);
    accounts.set(reg.accountId, reg.candidateId);
    const claim = state.claims.get(reg.accountId);
    if (claim?.candidateId !== reg.candidateId)
      found.push(`I2: claim of ${reg.accountId} does not name ${reg.candidateId}`);
    const levels = new Map<number, string>();
    const items = [...reg.written, ...reg.oral];
    for (const item of items) {
      if (item.status !== 'HELD' && item.status !== 'PAID') continue;
      const seat = `${item.campusId}|${item.subject}`;
      live.set(seat, (live.get(seat) ?? 0) + 1);
      if (isWrittenSubject(item.subject)) {
        const level = writtenInfo(item.subject).level;
        if (levels.has(level))
          found.push(`I3: ${reg.candidateId} holds ${levels.get(level)} and ${item.subject}`);
        levels.set(level, item.subject);
      } else {
        // R18: an oral subject lives only with its written one; a paid one only with a paid one
        const written = items.find((w) => w.subject === item.requiresWritten);
        const ok =
          item.status === 'PAID'
            ? written?.status === 'PAID'
            : written?.status === 'HELD' || written?.status === 'PAID';
        if (!ok)
          found.push(
            `I3: ${reg.candidateId} has ${item.subject} ${item.status} with ${item.requiresWritten} ${written?.status}`,
          );
      }
    }
  }
  for (const seat of state.seats) {
    const liveHere = live.get(`${seat.campusId}|${seat.subject}`) ?? 0;
    if (liveHere > seat.capacity)
      found.push(`I1: ${seat.campusId}|${seat.subject} ${liveHere} > ${seat.capacity}`);
    if (liveHere !== seat.used)
      found.push(`COUNTER: ${seat.campusId}|${seat.subject} ${seat.used} ≠ ${liveHere} live`);
    live.delete(`${seat.campusId}|${seat.subject}`);
  }
  for (const [seat, count] of live) found.push(`I1: ${count} live on ${seat}, which has no capacity`);
  return found;
}

function engineSnapshot(state: EngineState) {
  return {
    registrations: state.registrations
      .map((reg) => ({
        candidateId: reg.candidateId,
        accountId: reg.accountId,
        campusId: reg.campusId,
        savedAt: reg.savedAt,
        deleteAt: reg.deleteAt,
        items: [...reg.written, ...reg.oral]
          .map((i) => ({
            subject: i.subject,
            kind: i.kind,
            campusId: i.campusId,
            status: i.status,
            heldAt: i.heldAt,
            payBy: i.payBy,
            holdId: i.holdId,
            fee: i.fee,
            requires: i.requiresWritten,
            settledAt: i.settledAt,
          }))
          .sort((a, b) => a.holdId - b.holdId),
      }))
      .sort((a, b) => a.candidateId.localeCompare(b.candidateId)),
    seats: state.seats.map((s) => `${s.campusId}|${s.subject}|${s.capacity}|${s.used}`).sort(),
    claims: Object.fromEntries(state.claims),
  };
}

function modelSnapshot(model: Model) {
  const seats: string[] = [];
  for (const c of model.world.campuses) {
    for (const subject of SEAT_SUBJECTS) {
      const capacity = c.capacity[subject];
      if (capacity !== undefined)
        seats.push(`${c.campusId}|${subject}|${capacity}|${model.usedSeats(c.campusId, subject)}`);
    }
  }
  return {
    registrations: [...model.registrations.values()]
      .map((reg) => ({
        candidateId: reg.candidateId,
        accountId: reg.accountId,
        campusId: reg.campusId,
        savedAt: reg.savedAt,
        deleteAt: reg.emptyDeadline === 0 ? null : reg.emptyDeadline,
        items: [...reg.items.values()].map((i) => ({ ...i })).sort((a, b) => a.holdId - b.holdId),
      }))
      .sort((a, b) => a.candidateId.localeCompare(b.candidateId)),
    seats: seats.sort(),
    claims: Object.fromEntries(
      model.world.accounts.map((accountId) => {
        const candidateId = model.candidateOf(accountId);
        return [accountId, candidateId === undefined ? null : { state: 'BOUND', candidateId }];
      }),
    ),
  };
}

/** The outbox: how many times each hold was ended (EXPIRED or CANCELLED events). */
async function endedHolds(engine: Engine): Promise<Map<number, number>> {
  const ended = new Map<number, number>();
  for (const { type, data } of await streamEvents(engine.redis, engine.keys.province(PROVINCE).stream)) {
    if (type !== 'EXPIRED' && type !== 'CANCELLED') continue;
    const holdId = data.holdId as number;
    ended.set(holdId, (ended.get(holdId) ?? 0) + 1);
  }
  return ended;
}

async function expectFullInvariants(engine: Engine, expected?: { registrations: number; liveItems: number }) {
  const report = await checkInvariants(engine, [PROVINCE], { checkEvents: true });
  expect(report.violations).toEqual([]);
  if (expected) {
    expect(report.registrations).toBe(expected.registrations);
    expect(report.liveItems).toBe(expected.liveItems);
  }
}

// ------------------------------------------------------------------------------------ properties

/** How often each command kind ended how ("oral:ok", "pay:LATE_REFUND", …), over all runs. */
const seen = new Map<string, number>();
function count(key: string, by = 1): void {
  seen.set(key, (seen.get(key) ?? 0) + by);
}

/**
 * The reproduction of the one engine bug these properties found (fixed in confirmPayment-3.lua):
 * an order paid after its written item's pay-by but before its oral item's paid the oral item
 * alone; the sweeper then expired the written item and left a paid CET-SET4 without CET4 (I3).
 */
const paidOralWithoutWritten: [WorldSpec, Command[]] = [
  {
    campuses: [
      {
        campusId: 'C1',
        mayTakeOralElsewhere: true,
        capacity: { CET4: 2, 'CET-SET4': 1 },
        ownSchoolAt: T0,
        provinceWideAt: null,
      },
      {
        campusId: 'C2',
        mayTakeOralElsewhere: false,
        capacity: { CET4: 1 },
        ownSchoolAt: T0,
        provinceWideAt: T0,
      },
    ],
    opensAt: T0 - HOUR_MS,
    closesAt: T0 + 100 * HOUR_MS,
    candidates: [
      { candidateId: '1000', campusId: 'C1' },
      { candidateId: '1001', campusId: 'C2' },
      { candidateId: '1002', campusId: 'C1' },
    ],
    accounts: ['acc0', 'acc1', 'acc2'],
  },
  [
    { kind: 'bind', account: 0, candidate: 0 },
    { kind: 'written', account: 0, candidate: 0, useBound: true, subject: 'CET4', eligible: true },
    { kind: 'advance', ms: HOUR_MS },
    { kind: 'oral', account: 0, candidate: 0, useBound: true, subject: 'CET-SET4', campus: -1 },
    { kind: 'order', account: 0, candidate: 0, useBound: true },
    { kind: 'advance', ms: 11.5 * HOUR_MS },
    { kind: 'pay', order: 0 },
    { kind: 'advance', ms: HOUR_MS },
    { kind: 'sweep' },
  ],
];

describe('engine ≡ model (sequential command sequences)', () => {
  it('agrees with the model after every step and keeps I1–I4', async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, sequenceArb, async (world, commands) => {
        const namespace = `tprop${randomBytes(4).toString('hex')}`;
        const engine = new Engine(redis, { namespace });
        const model = new Model(world);
        try {
          await loadWorld(engine, world);
          for (const [step, cmd] of commands.entries()) {
            if (cmd.kind === 'advance') {
              model.now += cmd.ms;
              continue;
            }
            const bound = boundPairs(model.registrations.values());
            const orderIds = model.orders.map((o) => o.orderId);
            const actual = await runOnEngine(engine, world, cmd, model.now, bound, orderIds);
            const expected = applyToModel(model, world, cmd);
            const where = `step ${step} ${JSON.stringify(cmd)} at T0+${(model.now - T0) / 1000}s`;
            const { orderId, ...comparable } = actual;
            expect(comparable, where).toEqual(expected);
            if (cmd.kind === 'order' && actual.ok && orderId) {
              const items = (expected as unknown as { items: [SeatSubject, number, number][] }).items;
              model.recordOrder(orderId, resolve(world, cmd, bound).candidateId, items);
            }
            if (!actual.ok) count(`${cmd.kind}:${actual.code}`);
            else if (cmd.kind === 'pay')
              count(`pay:${String(actual.status)}${actual.duplicate ? ':duplicate' : ''}`);
            else count(`${cmd.kind}:ok`);
            if (cmd.kind === 'sweep' && actual.ok) {
              count('holds expired', (actual.expired as string[]).length);
              count('registrations deleted', (actual.deleted as string[]).length);
            }

            const state = await readState(engine, world);
            expect(violations(state), where).toEqual([]);
            expect(engineSnapshot(state), where).toEqual(modelSnapshot(model));
          }
          // the whole province, the outbox included: every ended hold was ended exactly once (I4)
          const live = [...model.registrations.values()].flatMap((r) => [...r.items.values()]).filter(isLive);
          await expectFullInvariants(engine, {
            registrations: model.registrations.size,
            liveItems: live.length,
          });
          // ended holds (of registrations still there) ended exactly once, live ones not at all
          const ended = await endedHolds(engine);
          for (const reg of model.registrations.values()) {
            for (const item of reg.items.values())
              expect(ended.get(item.holdId), `hold ${item.holdId}`).toBe(isLive(item) ? undefined : 1);
          }
          for (const [holdId, times] of ended) expect(times, `hold ${holdId}`).toBe(1);
        } finally {
          await removeNamespace(redis, namespace);
        }
      }),
      { numRuns: 120, examples: [paidOralWithoutWritten] },
    );
    // a property that never reaches the interesting transitions proves little: make sure it does
    for (const key of [
      'bind:ok',
      'bind:ACCOUNT_ALREADY_BOUND',
      'bind:CANDIDATE_ALREADY_BOUND',
      'written:ok',
      'written:SOLD_OUT',
      'written:SAME_LEVEL_TAKEN',
      'oral:ok',
      'oral:WRITTEN_REQUIRED',
      'oral:CAMPUS_NOT_OPEN',
      'cancel:ok',
      'order:ok',
      'pay:PAID',
      'pay:LATE_REFUND',
      'pay:PAID:duplicate',
      'holds expired',
      'registrations deleted',
    ]) {
      expect(seen.get(key) ?? 0, key).toBeGreaterThan(0);
    }
  });
});

function applyToModel(model: Model, world: WorldSpec, cmd: Exclude<Command, { kind: 'advance' }>) {
  const bound = boundPairs(model.registrations.values());
  switch (cmd.kind) {
    case 'bind': {
      const accountId = world.accounts[cmd.account % world.accounts.length]!;
      const { candidateId, campusId } = world.candidates[cmd.candidate % world.candidates.length]!;
      return model.bind(accountId, candidateId, campusId);
    }
    case 'written': {
      const ref = resolve(world, cmd, bound);
      return model.reserveWritten(ref.accountId, ref.candidateId, cmd.subject, cmd.eligible);
    }
    case 'oral': {
      const ref = resolve(world, cmd, bound);
      return model.reserveOral(
        ref.accountId,
        ref.candidateId,
        cmd.subject,
        campusIdOf(world, cmd.campus, ref.candidateId),
      );
    }
    case 'cancel': {
      const ref = resolve(world, cmd, bound);
      return model.cancel(ref.accountId, ref.candidateId, cmd.subject);
    }
    case 'order': {
      const ref = resolve(world, cmd, bound);
      return model.createOrder(ref.accountId, ref.candidateId);
    }
    case 'pay': {
      const orderIds = model.orders.map((o) => o.orderId);
      return model.confirmPayment(
        orderIds.length === 0 ? `${PROVINCE}-none` : orderIds[cmd.order % orderIds.length]!,
      );
    }
    case 'sweep':
      return model.expireDue();
  }
}

type EngineCommand = Exclude<Command, { kind: 'advance' }>;
const batchArb = fc.record({
  advance: advanceMs,
  commands: fc.array(
    fc.record({
      cmd: commandArb.filter((cmd): cmd is EngineCommand => cmd.kind !== 'advance'),
      /** callers' clocks differ a little */
      jitter: fc.nat(2000),
    }),
    { minLength: 1, maxLength: 25, size: 'max' },
  ),
});

describe('concurrent batches (no model)', () => {
  it('keeps I1–I4, the claim↔registration bijection and exactly-once payment under any interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(
        worldArb,
        // 0 makes every pending claim "stale" at once: the bind recovery/fencing path races too
        fc.constantFrom(0, 1000, 30_000),
        fc.array(batchArb, { minLength: 1, maxLength: 3 }),
        async (world, claimStaleMs, batches) => {
          const namespace = `tprop${randomBytes(4).toString('hex')}`;
          const engines = [redis, ...pool].map((r) => new Engine(r, { namespace, claimStaleMs }));
          const first = engines[0]!;
          const orderIds: string[] = [];
          const confirmations = new Map<string, number>();
          let now = T0;
          try {
            await loadWorld(first, world);
            for (const batch of batches) {
              now += batch.advance;
              const before = await readState(first, world);
              const bound = boundPairs(before.registrations);
              const results = await Promise.all(
                batch.commands.map(({ cmd, jitter }, n) =>
                  runOnEngine(engines[n % engines.length]!, world, cmd, now + jitter, bound, orderIds),
                ),
              );
              batch.commands.forEach(({ cmd }, n) => {
                const result = results[n]!;
                if (!result.ok || !result.orderId) return;
                if (cmd.kind === 'order') orderIds.push(result.orderId);
                if (cmd.kind === 'pay' && result.duplicate === false)
                  confirmations.set(result.orderId, (confirmations.get(result.orderId) ?? 0) + 1);
              });

              // the bindings' step 3, sent without waiting (engine/binding.ts), before the claims are read
              await Promise.all(engines.map((engine) => engine.idle()));
              const after = await readState(first, world);
              expect(violations(after)).toEqual([]);
              // every claim left is a settled one naming its registration (every compensation ran)
              const registered = new Map(after.registrations.map((r) => [r.accountId, r.candidateId]));
              for (const [accountId, claim] of after.claims) {
                if (claim)
                  expect({ accountId, ...claim }).toEqual({
                    accountId,
                    state: 'BOUND',
                    candidateId: registered.get(accountId),
                  });
              }
            }
            // R23: a confirmation is applied once however many arrive at once
            for (const [orderId, count] of confirmations) expect(count, orderId).toBe(1);
            await expectFullInvariants(first);
          } finally {
            await removeNamespace(redis, namespace);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
