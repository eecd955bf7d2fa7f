/**
 * The outbox contract: every event the engine's Lua scripts append to a shard's stream, with its
 * payload, and where the outbox lives. The scripts are the only writers (each `emit` site points
 * here); the stream writer (db/writer.ts), its projections (db/sql/projections.ts), reconcile and
 * the invariant checker read it. tests/engine/outbox.test.ts runs every emitting script and checks
 * each entry against this table, so a new event type, a new field or a changed one fails there
 * until it is declared here.
 *
 * Where it lives (names built by engine/keys.ts, the one place that names keys):
 *  - one stream per shard: `keys.province(code).stream`, `keys.accountStream(shard)`, all of them
 *    `keys.allStreams(provinceCodes)`; entry fields `t` (type), `at` (the transition's `now`, ms)
 *    and `d` (the payload, JSON), decoded by engine/events.ts;
 *  - read by the consumer group WRITER_GROUP; an event that cannot be written goes to
 *    `keys.deadLetters(stream)` (same hash tag); each writer publishes its stats in the hash
 *    `keys.writerStats` (field = consumer).
 *
 * Payloads are TypeBox schemas, so the TypeScript types (`EventPayload<T>`) and the run-time check
 * are one declaration. They are open (a reader ignores a field it does not know, so a script may add
 * one before every reader is deployed); `closedPayloadSchema` is the exact contract the test checks.
 * cjson encodes an empty Lua table as `{}`, so a list that may be empty arrives as `[]` or `{}`
 * (`LuaList`, read with `luaList`).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

/** The consumer group of the stream writer, on every outbox stream. */
export const WRITER_GROUP = 'writer';

const Text = Type.String({ minLength: 1 });
const EpochMs = Type.Integer();
const HoldId = Type.Integer({ minimum: 1 });
const Amount = Type.Number({ minimum: 0 });
const TicketId = Type.String({ pattern: '^[0-9]{2}-[0-9a-f]{16}$' });
const Seq = Type.Integer({ minimum: 1 });

/** A Lua list: an array, or `{}` when it is empty (cjson). */
function LuaList<T extends TSchema>(item: T) {
  return Type.Union([Type.Array(item), Type.Object({}, { maxProperties: 0 })]);
}

/** The elements of a `LuaList` value. */
export function luaList<T>(value: readonly T[] | Record<string, never>): readonly T[] {
  return Array.isArray(value) ? (value as readonly T[]) : [];
}

/** The school record as bound (engine/views.ts encodeSnapshot). */
const Snapshot = Type.Object({
  n: Type.String(),
  t: Type.String(),
  m: Type.String(),
  s: Type.String(),
  g: Type.String(),
  e: Type.String(),
});

/** A hold ended by a cancellation or the sweeper (engine/lua/includes/release.lua). */
const HoldEnded = Type.Object({
  candidateId: Text,
  subject: Text,
  holdId: HoldId,
  campusId: Text,
  /** WRITTEN_ENDED: an oral hold ended with the written hold it depends on (R18). */
  reason: Type.Union([
    Type.Literal('BY_CANDIDATE'),
    Type.Literal('PAY_BY_PASSED'),
    Type.Literal('WRITTEN_ENDED'),
  ]),
});

const ReviewChanged = Type.Object({
  reviewId: Text,
  accountId: Text,
  candidateId: Text,
  provinceCode: Text,
  status: Type.Union([Type.Literal('APPROVED'), Type.Literal('PENDING')]),
  ticketNumber: Text,
});

/** Every event type and its payload, by the script that emits it. */
export const EVENT_PAYLOADS = {
  /** bindCandidate-6: a candidate bound to an account (R6), snapshot taken (R7). */
  BOUND: Type.Object({
    candidateId: Text,
    accountId: Text,
    campusId: Text,
    snapshot: Snapshot,
    savedAt: EpochMs,
    /** The empty-registration deadline (R8). */
    deleteAt: EpochMs,
  }),
  /** expireDue-N: a registration left empty past its deadline, deleted with its binding (R8). */
  DELETED: Type.Object({
    candidateId: Text,
    accountId: Text,
    reason: Type.Literal('EMPTY_PAST_DEADLINE'),
  }),
  /** reserveWritten-14, reserveOral-15: a seat held until `payBy` (R22). */
  HELD: Type.Object({
    candidateId: Text,
    subject: Text,
    kind: Type.Union([Type.Literal('WRITTEN'), Type.Literal('ORAL')]),
    campusId: Text,
    holdId: HoldId,
    fee: Amount,
    heldAt: EpochMs,
    payBy: EpochMs,
  }),
  /** cancelSubject-8 (includes/release.lua). */
  CANCELLED: HoldEnded,
  /** expireDue-N (includes/release.lua). */
  EXPIRED: HoldEnded,
  /** createOrder-4: a payment order over every unpaid held subject (R23). */
  ORDER_CREATED: Type.Object({
    orderId: Text,
    candidateId: Text,
    accountId: Text,
    method: Text,
    amount: Amount,
    /** [subject, holdId, fee] per item; never empty (NOTHING_TO_PAY). */
    items: Type.Array(Type.Tuple([Text, HoldId, Amount]), { minItems: 1 }),
  }),
  /** confirmPayment-3: the provider's confirmation, applied exactly once (R23). */
  PAYMENT_CONFIRMED: Type.Object({
    orderId: Text,
    candidateId: Text,
    status: Type.Union([Type.Literal('PAID'), Type.Literal('LATE_REFUND')]),
    providerTx: Text,
    paid: LuaList(Text),
    refund: LuaList(Text),
    paidAmount: Amount,
    refundAmount: Amount,
  }),
  /** submitReview-2 (R10). */
  REVIEW_SUBMITTED: ReviewChanged,
  /** editReview-2: a rejected application resubmitted in place (R11). */
  REVIEW_EDITED: ReviewChanged,
  /** deleteReview-2: a rejected application deleted (R11). */
  REVIEW_DELETED: Type.Object({ reviewId: Text, accountId: Text }),
  /** decideReview-2: school staff decided (R11). */
  REVIEW_DECIDED: Type.Object({
    reviewId: Text,
    accountId: Text,
    status: Type.Union([Type.Literal('APPROVED'), Type.Literal('REJECTED')]),
  }),
  /** upsertCampus-5: the campus as stored (engine/engine.ts upsertCampus) and its capacities. */
  CAMPUS_UPSERTED: Type.Object({
    campusId: Text,
    campus: Type.Object({
      n: Type.String(),
      s: Type.String(),
      /** 1: its students may take the oral exam elsewhere (R19). */
      x: Type.Union([Type.Literal(0), Type.Literal(1)]),
      o: EpochMs,
      /** -1: never province-wide (R20). */
      w: EpochMs,
    }),
    capacity: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
  }),
  /** setCalendar-2: a province's registration window (R5). */
  CALENDAR_SET: Type.Object({ opensAt: EpochMs, closesAt: EpochMs }),

  // the waiting room (API.md "Waiting room"; engine/queue.ts), on the province's stream
  /** setupRoom-2: a room set up or its settings changed; the commitment never changes after. */
  QUEUE_CONFIGURED: Type.Object({
    mode: Type.Union([Type.Literal('off'), Type.Literal('auto'), Type.Literal('opening')]),
    preQueueMs: Type.Integer({ minimum: 0 }),
    passMs: Type.Integer({ minimum: 1 }),
    maxAdmitPerMinute: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    commitment: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  }),
  /** joinQueue-7: a new ticket, PREQUEUE (seq null) or WAITING at the back; `replaces` a lapsed one. */
  QUEUE_JOINED: Type.Object({
    ticketId: TicketId,
    accountId: Text,
    state: Type.Union([Type.Literal('P'), Type.Literal('W')]),
    seq: Type.Union([Seq, Type.Null()]),
    joinedAt: EpochMs,
    replaces: Type.Union([TicketId, Type.Null()]),
  }),
  /** joinQueue-7 or tickQueue-10 at the opening: the PREQUEUE closed with this many tickets. */
  QUEUE_CLOSED: Type.Object({ prequeued: Type.Integer({ minimum: 0 }) }),
  /** drawQueue-N: one chunk of the draw, tickets in drawn order from seq offset + 1. */
  QUEUE_DRAWN: Type.Object({ offset: Type.Integer({ minimum: 0 }), tickets: Type.Array(TicketId) }),
  /** drawQueue-N: the draw is complete and its seed revealed. */
  QUEUE_DRAW_DONE: Type.Object({
    seed: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    count: Type.Integer({ minimum: 0 }),
  }),
  /** tickQueue-10: the next tickets in line admitted, seqs firstSeq.. in this order. */
  QUEUE_ADMITTED: Type.Object({
    tickets: Type.Array(TicketId),
    firstSeq: Seq,
    admittedAt: EpochMs,
    passExpiresAt: EpochMs,
  }),
  /** tickQueue-10: passes that ran out. */
  QUEUE_LAPSED: Type.Object({ tickets: Type.Array(TicketId), at: EpochMs }),
  /** createOrder-6: a candidate who finished choosing gave its slot back. */
  QUEUE_RELEASED: Type.Object({ ticketId: TicketId, accountId: Text }),
  /** tickQueue-10: an opening's line drained; the room stops gating. */
  QUEUE_DRAINED: Type.Object({ admitted: Type.Integer({ minimum: 0 }) }),
  /** tickQueue-10: an `auto` room turned on (admission saturated) or off. */
  QUEUE_ACTIVATED: Type.Object({ active: Type.Boolean() }),
} as const;

export type EventType = keyof typeof EVENT_PAYLOADS;
export const EVENT_TYPES = Object.keys(EVENT_PAYLOADS) as EventType[];
export type EventPayload<T extends EventType> = Static<(typeof EVENT_PAYLOADS)[T]>;

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_PAYLOADS, type);
}

const checks = new Map<EventType, TypeCheck<TSchema>>();

/** Why `data` is not a payload of `type` (open: unknown fields allowed), or undefined when it is. */
export function payloadError(type: EventType, data: unknown): string | undefined {
  let check = checks.get(type);
  if (!check) checks.set(type, (check = TypeCompiler.Compile(EVENT_PAYLOADS[type])));
  if (check.Check(data)) return undefined;
  const first = check.Errors(data).First();
  return first ? `${first.path || '/'}: ${first.message}` : 'does not match';
}

/**
 * The exact contract of a payload as plain JSON Schema: every object lists all its fields
 * (`additionalProperties: false`), for the contract test.
 */
export function closedPayloadSchema(type: EventType): object {
  const close = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(close);
    if (node === null || typeof node !== 'object') return node;
    const copy: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) copy[key] = close(value);
    if (copy.type === 'object' && copy.properties !== undefined && copy.additionalProperties === undefined) {
      copy.additionalProperties = false;
    }
    return copy;
  };
  return close(EVENT_PAYLOADS[type]) as object;
}
