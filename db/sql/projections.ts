/**
 * Projections of the engine's events onto the tables of 004–006 (I5): registrations from BOUND /
 * DELETED, registration_items from HELD / CANCELLED / EXPIRED / PAYMENT_CONFIRMED, payment_orders
 * (+ items) from ORDER_CREATED / PAYMENT_CONFIRMED, cet6_reviews from REVIEW_*, and the waiting
 * room's tables from QUEUE_* (db/sql/queueProjections.ts). The writer calls
 * `projectEvents` in the transaction that inserted the events, with only the events that were new,
 * in stream order, so a redelivered event changes nothing.
 *
 * Ids:
 *  - registration_id = "<candidateId>/<savedAt ms>": derivable from the BOUND event and from the
 *    Redis record alike (reconcile rebuilds rows from Redis with the same id); a candidate can be
 *    bound again only after a deletion (R8, hours later), so it is unique;
 *  - item_id = "<shard tag>/<holdId>", e.g. "p11/42": hold ids come from a per-province sequence;
 *  - order_id and review_id are the engine's own.
 *
 * Set-based: a batch is cut into segments in which every entity (registration of a candidate, item,
 * order) sees its events in the order of the phases below (BOUND < HELD < ORDER_CREATED <
 * PAYMENT_CONFIRMED < CANCELLED/EXPIRED < DELETED); each segment is then applied with one statement
 * per event type (unnest of array parameters), which equals applying its events one by one. Reviews
 * are few and applied one by one.
 *
 * Each event's payload is checked against the outbox contract (engine/outbox.ts) before it is
 * applied; one that does not match is poison (PoisonEventError), never retried.
 *
 * An update whose row does not exist yet (its creating event was not written: another writer holds
 * it, or it was dead-lettered) raises MissingDependencyError; the writer retries it with backoff and
 * dead-letters it after its attempts.
 */
import type { EngineEvent, EventType } from '../../engine/events.ts';
import { isEventType, luaList, payloadError } from '../../engine/outbox.ts';
import type { Queryable } from '../pool.ts';
import { MissingDependencyError, PoisonEventError } from './projectionErrors.ts';
import { isQueueEvent, projectQueueEvents } from './queueProjections.ts';

export function tagOf(stream: string): string {
  const tag = /\{([^}]+)\}/.exec(stream)?.[1];
  if (!tag) throw new PoisonEventError(`not an engine stream: ${stream}`);
  return tag;
}

export const itemIdOf = (stream: string, holdId: number): string => `${tagOf(stream)}/${holdId}`;
export const registrationIdOf = (candidateId: string, savedAt: number): string => `${candidateId}/${savedAt}`;

const iso = (ms: number): string => new Date(ms).toISOString();

/** The event, once its payload matches the outbox contract; otherwise it is poison. */
function checked<T extends EngineEvent>(event: T): T {
  if (!isEventType(event.type)) {
    throw new PoisonEventError(`unknown event type ${String(event.type)} (${event.eventId})`);
  }
  const error = payloadError(event.type, event.data);
  if (error !== undefined) throw new PoisonEventError(`${event.type} ${event.eventId}: ${error}`);
  return event;
}

function ofType<T extends EventType>(events: readonly EngineEvent[], type: T) {
  return events.filter((event): event is Extract<EngineEvent, { type: T }> => event.type === type);
}

const PHASE: Partial<Record<EventType, number>> = {
  BOUND: 1,
  HELD: 2,
  ORDER_CREATED: 3,
  PAYMENT_CONFIRMED: 4,
  CANCELLED: 5,
  EXPIRED: 5,
  DELETED: 6,
};

/** Entities an event touches (for segmenting). */
function entitiesOf(event: EngineEvent): string[] {
  switch (event.type) {
    case 'BOUND':
    case 'DELETED':
      return [`r:${event.data.candidateId}`, `a:${event.data.accountId}`];
    case 'HELD':
    case 'CANCELLED':
    case 'EXPIRED':
      return [`i:${itemIdOf(event.stream, event.data.holdId)}`, `c:${event.data.candidateId}`];
    case 'ORDER_CREATED':
    case 'PAYMENT_CONFIRMED':
      return [`o:${event.data.orderId}`, `c:${event.data.candidateId}`];
    default:
      return [];
  }
}

/** Applies the projections of `events` (new ones only, in stream order). */
export async function projectEvents(db: Queryable, events: readonly EngineEvent[]): Promise<void> {
  let segment: EngineEvent[] = [];
  let seen = new Map<string, number>();
  const queue: EngineEvent[] = [];
  for (const event of events) {
    const phase = PHASE[event.type];
    if (phase === undefined) {
      if (isQueueEvent(event)) {
        queue.push(checked(event));
        continue;
      }
      if (event.type.startsWith('REVIEW_')) {
        await applySegment(db, segment);
        segment = [];
        seen = new Map();
        await applyReview(db, checked(event));
      }
      continue; // CAMPUS_UPSERTED, CALENDAR_SET: reference data is PostgreSQL's own (admin routes)
    }
    const entities = entitiesOf(checked(event));
    // candidate-level keys (c:) only order candidate events that must not pass each other: an item
    // of a candidate after that candidate's DELETED (a new binding's) and the like
    if (entities.some((key) => (seen.get(key) ?? 0) > phase)) {
      await applySegment(db, segment);
      segment = [];
      seen = new Map();
    }
    segment.push(event);
    for (const key of entities) seen.set(key, Math.max(seen.get(key) ?? 0, phase));
  }
  await applySegment(db, segment);
  // the waiting room's tables are its own: applied after, in stream order (queueProjections.ts)
  await projectQueueEvents(db, queue.filter(isQueueEvent));
}

async function applySegment(db: Queryable, events: readonly EngineEvent[]): Promise<void> {
  if (events.length === 0) return;
  await bound(db, ofType(events, 'BOUND'));
  await held(db, ofType(events, 'HELD'));
  await orderCreated(db, ofType(events, 'ORDER_CREATED'));
  await paymentConfirmed(db, ofType(events, 'PAYMENT_CONFIRMED'));
  await ended(
    db,
    events.filter(
      (event): event is EngineEvent<'CANCELLED' | 'EXPIRED'> =>
        event.type === 'CANCELLED' || event.type === 'EXPIRED',
    ),
  );
  await deleted(db, ofType(events, 'DELETED'));
}

async function bound(db: Queryable, events: readonly EngineEvent<'BOUND'>[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map(({ data, stream }) => ({
    id: registrationIdOf(data.candidateId, data.savedAt),
    candidateId: data.candidateId,
    accountId: data.accountId,
    province: tagOf(stream).replace(/^p/, ''),
    campusId: data.campusId,
    snapshot: JSON.stringify(data.snapshot),
    savedAt: iso(data.savedAt),
  }));
  // ON CONFLICT without a target: a redelivery (same registration_id) and a binding that an older
  // live row of the same candidate or account still blocks (I2's partial unique indexes) both insert
  // nothing, told apart below, instead of failing the batch with 23505
  const inserted = await db.query<{ registration_id: string }>(
    `INSERT INTO registrations (registration_id, candidate_id, account_id, province_code, campus_id, snapshot, saved_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[])
     ON CONFLICT DO NOTHING
     RETURNING registration_id`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.candidateId),
      rows.map((r) => r.accountId),
      rows.map((r) => r.province),
      rows.map((r) => r.campusId),
      rows.map((r) => r.snapshot),
      rows.map((r) => r.savedAt),
    ],
  );
  if (inserted.rows.length === rows.length) return;
  const written = new Set(inserted.rows.map((r) => r.registration_id));
  const missing = rows.filter((r) => !written.has(r.id)).map((r) => r.id);
  const { rows: present } = await db.query<{ registration_id: string }>(
    `SELECT registration_id FROM registrations WHERE registration_id = ANY($1::text[])`,
    [missing],
  );
  const already = new Set(present.map((r) => r.registration_id));
  const blocked = events.filter((_, i) => !written.has(rows[i]!.id) && !already.has(rows[i]!.id));
  if (blocked.length === 0) return;
  // the engine keeps one live binding per candidate and per account (I2): an older live row here is
  // a binding the engine has ended, whose DELETED is not written yet — in another province's stream
  // (an account re-binding elsewhere after R8), possibly in another writer lane, behind this one
  throw new MissingDependencyError(
    `BOUND: an earlier binding of candidate ${blocked.map((e) => e.data.candidateId).join(', ')} or its account is still live here (its DELETED is not written yet)`,
    blocked.map((event) => event.eventId),
    true,
  );
}

async function held(db: Queryable, events: readonly EngineEvent<'HELD'>[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map(({ data, stream }) => ({
    id: itemIdOf(stream, data.holdId),
    candidateId: data.candidateId,
    subject: data.subject,
    campusId: data.campusId,
    fee: data.fee,
    heldAt: iso(data.heldAt),
    payBy: iso(data.payBy),
  }));
  await db.query(
    `INSERT INTO registration_items (item_id, candidate_id, subject, kind, level, campus_id, status, fee, held_at, pay_by)
     SELECT u.item_id, u.candidate_id, u.subject, s.kind, s.level, u.campus_id, 'HELD', u.fee, u.held_at, u.pay_by
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::timestamptz[], $7::timestamptz[])
            AS u(item_id, candidate_id, subject, campus_id, fee, held_at, pay_by)
       LEFT JOIN subjects s ON s.subject = u.subject
     ON CONFLICT (item_id) DO NOTHING`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.candidateId),
      rows.map((r) => r.subject),
      rows.map((r) => r.campusId),
      rows.map((r) => r.fee),
      rows.map((r) => r.heldAt),
      rows.map((r) => r.payBy),
    ],
  );
}

async function orderCreated(db: Queryable, events: readonly EngineEvent<'ORDER_CREATED'>[]): Promise<void> {
  if (events.length === 0) return;
  const orders = events.map(({ data, at }) => ({
    id: data.orderId,
    candidateId: data.candidateId,
    amount: data.amount,
    method: data.method,
    at: iso(at),
  }));
  await db.query(
    `INSERT INTO payment_orders (order_id, candidate_id, amount, method, status, created_at)
     SELECT o.order_id, o.candidate_id, o.amount, o.method, 'PENDING', o.created_at
       FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::timestamptz[])
            AS o(order_id, candidate_id, amount, method, created_at)
     ON CONFLICT (order_id) DO NOTHING`,
    [
      orders.map((o) => o.id),
      orders.map((o) => o.candidateId),
      orders.map((o) => o.amount),
      orders.map((o) => o.method),
      orders.map((o) => o.at),
    ],
  );
  const orderIds: string[] = [];
  const itemIds: string[] = [];
  const fees: number[] = [];
  for (const { data, stream } of events) {
    for (const [, holdId, fee] of data.items) {
      orderIds.push(data.orderId);
      itemIds.push(itemIdOf(stream, holdId));
      fees.push(fee);
    }
  }
  if (orderIds.length === 0) return;
  const missing = await db.query<{ item_id: string }>(
    `SELECT u.item_id FROM unnest($1::text[]) AS u(item_id)
      WHERE NOT EXISTS (SELECT 1 FROM registration_items r WHERE r.item_id = u.item_id)`,
    [itemIds],
  );
  if (missing.rows.length > 0) {
    throw new MissingDependencyError(
      `ORDER_CREATED: items not written yet: ${missing.rows.map((r) => r.item_id).join(', ')}`,
      events.map((event) => event.eventId),
    );
  }
  await db.query(
    `INSERT INTO payment_order_items (order_id, item_id, fee)
     SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[])
     ON CONFLICT (order_id, item_id) DO NOTHING`,
    [orderIds, itemIds, fees],
  );
}

async function paymentConfirmed(
  db: Queryable,
  events: readonly EngineEvent<'PAYMENT_CONFIRMED'>[],
): Promise<void> {
  if (events.length === 0) return;
  const orderIds: string[] = [];
  const statuses: string[] = [];
  const txs: string[] = [];
  const ats: string[] = [];
  const outcomeOrders: string[] = [];
  const outcomeSubjects: string[] = [];
  const outcomes: string[] = [];
  for (const { data, at } of events) {
    orderIds.push(data.orderId);
    statuses.push(data.status);
    txs.push(data.providerTx);
    ats.push(iso(at));
    for (const subject of luaList(data.paid)) {
      outcomeOrders.push(data.orderId);
      outcomeSubjects.push(subject);
      outcomes.push('PAID');
    }
    for (const subject of luaList(data.refund)) {
      outcomeOrders.push(data.orderId);
      outcomeSubjects.push(subject);
      outcomes.push('LATE_REFUND');
    }
  }
  const updated = await db.query<{ order_id: string }>(
    `UPDATE payment_orders o SET status = u.status, paid_at = u.at, provider_tx = u.tx
       FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(order_id, status, tx, at)
      WHERE o.order_id = u.order_id AND o.status = 'PENDING'
     RETURNING o.order_id`,
    [orderIds, statuses, txs, ats],
  );
  if (updated.rows.length < orderIds.length) {
    // not updated: confirmed already (a redelivery), or not written when the UPDATE looked. Another
    // writer's ORDER_CREATED may commit between that UPDATE and this SELECT (each statement sees
    // what was committed when it began): an order found still PENDING is one the UPDATE did not
    // see, so it waits like an absent one (else its items would turn PAID without a paid_at)
    const done = new Set(updated.rows.map((r) => r.order_id));
    const found = await db.query<{ order_id: string }>(
      `SELECT order_id FROM payment_orders WHERE order_id = ANY($1::text[]) AND status <> 'PENDING'`,
      [orderIds.filter((id) => !done.has(id))],
    );
    const confirmed = new Set([...done, ...found.rows.map((r) => r.order_id)]);
    const absent = orderIds.filter((id) => !confirmed.has(id));
    if (absent.length > 0) {
      throw new MissingDependencyError(
        `PAYMENT_CONFIRMED: orders not written yet: ${absent.join(', ')}`,
        events.filter((event) => absent.includes(event.data.orderId)).map((event) => event.eventId),
      );
    }
  }
  if (outcomeOrders.length === 0) return;
  // the order's item of that subject, with its outcome; paid items become PAID
  await db.query(
    `WITH u AS (
       SELECT u.order_id, u.subject, u.outcome, oi.item_id
         FROM unnest($1::text[], $2::text[], $3::text[]) AS u(order_id, subject, outcome)
         JOIN payment_order_items oi ON oi.order_id = u.order_id
         JOIN registration_items ri ON ri.item_id = oi.item_id AND ri.subject = u.subject
     ), outcomes AS (
       UPDATE payment_order_items oi SET outcome = u.outcome
         FROM u WHERE oi.order_id = u.order_id AND oi.item_id = u.item_id
     )
     UPDATE registration_items ri SET status = 'PAID', paid_at = o.paid_at
       FROM u JOIN payment_orders o ON o.order_id = u.order_id
      WHERE ri.item_id = u.item_id AND u.outcome = 'PAID' AND ri.status = 'HELD'`,
    [outcomeOrders, outcomeSubjects, outcomes],
  );
}

async function ended(db: Queryable, events: readonly EngineEvent<'CANCELLED' | 'EXPIRED'>[]): Promise<void> {
  if (events.length === 0) return;
  const ids = events.map((event) => itemIdOf(event.stream, event.data.holdId));
  const statuses = events.map((event) => event.type);
  const ats = events.map((event) => iso(event.at));
  const updated = await db.query<{ item_id: string }>(
    `UPDATE registration_items ri SET status = u.status, ended_at = u.at
       FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(item_id, status, at)
      WHERE ri.item_id = u.item_id AND ri.status = 'HELD'
     RETURNING ri.item_id`,
    [ids, statuses, ats],
  );
  if (updated.rows.length === ids.length) return;
  // not updated: ended already (a redelivery), or not written when the UPDATE looked; one found
  // still HELD was committed by another writer after the UPDATE began (each statement sees what
  // was committed when it began), so it waits like an absent one instead of staying HELD
  const done = new Set(updated.rows.map((r) => r.item_id));
  const missing = await db.query<{ item_id: string }>(
    `SELECT u.item_id FROM unnest($1::text[]) AS u(item_id)
      WHERE NOT EXISTS (SELECT 1 FROM registration_items r WHERE r.item_id = u.item_id AND r.status <> 'HELD')`,
    [ids.filter((id) => !done.has(id))],
  );
  if (missing.rows.length > 0) {
    const absent = new Set(missing.rows.map((r) => r.item_id));
    throw new MissingDependencyError(
      `${events[0]!.type}: items not written yet: ${[...absent].join(', ')}`,
      events.filter((_, i) => absent.has(ids[i]!)).map((event) => event.eventId),
    );
  }
}

async function deleted(db: Queryable, events: readonly EngineEvent<'DELETED'>[]): Promise<void> {
  if (events.length === 0) return;
  const candidates = events.map((event) => event.data.candidateId);
  const reasons = events.map((event) => event.data.reason);
  const ats = events.map((event) => iso(event.at));
  const updated = await db.query<{ candidate_id: string }>(
    `UPDATE registrations r SET deleted_at = u.at, delete_reason = u.reason
       FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(candidate_id, reason, at)
      WHERE r.candidate_id = u.candidate_id AND r.deleted_at IS NULL AND r.saved_at <= u.at
     RETURNING r.candidate_id`,
    [candidates, reasons, ats],
  );
  if (updated.rows.length < candidates.length) {
    const done = new Set(updated.rows.map((r) => r.candidate_id));
    const absent = events.filter((_, i) => !done.has(candidates[i]!));
    throw new MissingDependencyError(
      `DELETED: no live registration written yet for ${absent.map((e) => e.data.candidateId).join(', ')}`,
      absent.map((event) => event.eventId),
    );
  }
}

async function applyReview(db: Queryable, event: EngineEvent): Promise<void> {
  const at = iso(event.at);
  switch (event.type) {
    case 'REVIEW_SUBMITTED': {
      const { reviewId, accountId, candidateId, ticketNumber, status } = event.data;
      await db.query(
        `INSERT INTO cet6_reviews (review_id, account_id, candidate_id, ticket_number, status, submitted_at, decided_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5 = 'PENDING' THEN NULL ELSE $6::timestamptz END)
         ON CONFLICT (review_id) DO NOTHING`,
        [reviewId, accountId, candidateId, ticketNumber, status, at],
      );
      return;
    }
    case 'REVIEW_EDITED':
      await reviewUpdate(
        db,
        event,
        `UPDATE cet6_reviews SET candidate_id = $2, ticket_number = $3, status = $4, submitted_at = $5,
                decided_at = CASE WHEN $4 = 'PENDING' THEN NULL ELSE $5::timestamptz END
          WHERE review_id = $1`,
        [event.data.reviewId, event.data.candidateId, event.data.ticketNumber, event.data.status, at],
      );
      return;
    case 'REVIEW_DECIDED':
      await reviewUpdate(
        db,
        event,
        `UPDATE cet6_reviews SET status = $2, decided_at = $3 WHERE review_id = $1`,
        [event.data.reviewId, event.data.status, at],
      );
      return;
    case 'REVIEW_DELETED':
      await reviewUpdate(
        db,
        event,
        `UPDATE cet6_reviews SET deleted_at = $2 WHERE review_id = $1 AND deleted_at IS NULL`,
        [event.data.reviewId, at],
        true,
      );
      return;
    default:
      throw new PoisonEventError(`unknown event type ${event.type} (${event.eventId})`);
  }
}

async function reviewUpdate(
  db: Queryable,
  event: EngineEvent,
  text: string,
  params: unknown[],
  mayBeNoop = false,
): Promise<void> {
  const result = await db.query(text, params);
  if ((result.rowCount ?? 0) > 0) return;
  // nothing updated: a deletion already applied (a redelivery) is done; anything else is a review
  // the UPDATE did not see — absent, or committed by another writer after the UPDATE began (each
  // statement sees what was committed when it began), so checking mere existence would skip it
  if (mayBeNoop) {
    const deleted = await db.query(
      `SELECT 1 FROM cet6_reviews WHERE review_id = $1 AND deleted_at IS NOT NULL`,
      [params[0]],
    );
    if (deleted.rows.length > 0) return;
  }
  throw new MissingDependencyError(`${event.type}: review ${String(params[0])} not written yet`, [
    event.eventId,
  ]);
}
