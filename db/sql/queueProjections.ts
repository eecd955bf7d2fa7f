/**
 * Projections of the waiting room's QUEUE_* events (engine/outbox.ts) onto queue_rooms and
 * queue_tickets (migration 010): the record of an opening an auditor reads afterwards — who joined
 * when, the drawn places and the revealed seed, who was admitted when. They touch no other table,
 * so the writer applies them after the batch's other projections, in stream order, one statement
 * per run of events of one type. Every statement is idempotent (a redelivered event changes
 * nothing). A ticket that an update left alone must be past it already (a redelivery); one that is
 * absent or still before it waits for its earlier event (MissingDependencyError, retried like any
 * projection's): with two writers on a stream, the QUEUE_JOINED or QUEUE_DRAWN may be with the
 * other writer, or committed by it after this UPDATE began. One whose QUEUE_JOINED was
 * dead-lettered is dead-lettered in turn after its deliveries.
 */
import type { EngineEvent } from '../../engine/events.ts';
import { luaList } from '../../engine/outbox.ts';
import type { Queryable } from '../pool.ts';
import { MissingDependencyError } from './projectionErrors.ts';

const iso = (ms: number): string => new Date(ms).toISOString();
const provinceOf = (stream: string): string => /\{p([0-9]{2})\}/.exec(stream)?.[1] ?? '';

type QueueEvent = Extract<EngineEvent, { type: `QUEUE_${string}` }>;

export function isQueueEvent(event: EngineEvent): event is QueueEvent {
  return event.type.startsWith('QUEUE_');
}

/** Applies queue events (checked against the contract by the caller), in stream order. */
export async function projectQueueEvents(db: Queryable, events: readonly QueueEvent[]): Promise<void> {
  let run: QueueEvent[] = [];
  const flush = async () => {
    if (run.length > 0) await applyRun(db, run);
    run = [];
  };
  for (const event of events) {
    if (run.length > 0 && run[0]!.type !== event.type) await flush();
    run.push(event);
  }
  await flush();
}

async function applyRun(db: Queryable, events: readonly QueueEvent[]): Promise<void> {
  const first = events[0]!;
  switch (first.type) {
    case 'QUEUE_JOINED': {
      const joined = events as Extract<QueueEvent, { type: 'QUEUE_JOINED' }>[];
      await db.query(
        `INSERT INTO queue_tickets (ticket_id, province_code, account_id, state, seq, joined_at, replaces)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::text[])
         ON CONFLICT (ticket_id) DO NOTHING`,
        [
          joined.map((e) => e.data.ticketId),
          joined.map((e) => provinceOf(e.stream)),
          joined.map((e) => e.data.accountId),
          joined.map((e) => (e.data.state === 'P' ? 'PREQUEUE' : 'WAITING')),
          joined.map((e) => e.data.seq),
          joined.map((e) => iso(e.data.joinedAt)),
          joined.map((e) => e.data.replaces),
        ],
      );
      return;
    }
    case 'QUEUE_DRAWN':
      for (const event of events as Extract<QueueEvent, { type: 'QUEUE_DRAWN' }>[]) {
        const tickets = luaList(event.data.tickets);
        const updated = await db.query<{ ticket_id: string }>(
          `UPDATE queue_tickets t SET state = 'WAITING', seq = $2::int + d.place
             FROM unnest($1::text[]) WITH ORDINALITY AS d(ticket_id, place)
            WHERE t.ticket_id = d.ticket_id AND t.state = 'PREQUEUE'
           RETURNING t.ticket_id`,
          [tickets, event.data.offset],
        );
        await expectPast(db, event, tickets, updated.rows, `state <> 'PREQUEUE'`);
      }
      return;
    case 'QUEUE_ADMITTED':
      for (const event of events as Extract<QueueEvent, { type: 'QUEUE_ADMITTED' }>[]) {
        const tickets = luaList(event.data.tickets);
        const updated = await db.query<{ ticket_id: string }>(
          `UPDATE queue_tickets SET state = 'ADMITTED', admitted_at = $2, pass_expires_at = $3
            WHERE ticket_id = ANY($1::text[]) AND state = 'WAITING'
           RETURNING ticket_id`,
          [tickets, iso(event.data.admittedAt), iso(event.data.passExpiresAt)],
        );
        await expectPast(db, event, tickets, updated.rows, `state IN ('ADMITTED', 'LAPSED')`);
      }
      return;
    case 'QUEUE_LAPSED':
      for (const event of events as Extract<QueueEvent, { type: 'QUEUE_LAPSED' }>[]) {
        const tickets = luaList(event.data.tickets);
        const updated = await db.query<{ ticket_id: string }>(
          `UPDATE queue_tickets SET state = 'LAPSED', lapsed_at = $2
            WHERE ticket_id = ANY($1::text[]) AND state = 'ADMITTED'
           RETURNING ticket_id`,
          [tickets, iso(event.data.at)],
        );
        await expectPast(db, event, tickets, updated.rows, `state = 'LAPSED'`);
      }
      return;
    case 'QUEUE_RELEASED': {
      const released = events as Extract<QueueEvent, { type: 'QUEUE_RELEASED' }>[];
      const tickets = released.map((e) => e.data.ticketId);
      const updated = await db.query<{ ticket_id: string }>(
        `UPDATE queue_tickets t SET released_at = u.at
           FROM unnest($1::text[], $2::timestamptz[]) AS u(ticket_id, at)
          WHERE t.ticket_id = u.ticket_id AND t.released_at IS NULL
         RETURNING t.ticket_id`,
        [tickets, released.map((e) => iso(e.at))],
      );
      await expectPast(db, released, tickets, updated.rows, `released_at IS NOT NULL`);
      return;
    }
    default:
      for (const event of events) await applyRoomEvent(db, event);
  }
}

async function applyRoomEvent(db: Queryable, event: QueueEvent): Promise<void> {
  const province = provinceOf(event.stream);
  const at = iso(event.at);
  switch (event.type) {
    case 'QUEUE_CONFIGURED':
      await db.query(
        `INSERT INTO queue_rooms (province_code, mode, pre_queue_ms, pass_ms, max_admit_per_minute, lottery_commitment, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (province_code) DO UPDATE SET mode = $2, pre_queue_ms = $3, pass_ms = $4,
           max_admit_per_minute = $5, updated_at = $7
         WHERE queue_rooms.updated_at <= $7`,
        [
          province,
          event.data.mode,
          event.data.preQueueMs,
          event.data.passMs,
          event.data.maxAdmitPerMinute,
          event.data.commitment,
          at,
        ],
      );
      return;
    case 'QUEUE_CLOSED':
      await db.query(`UPDATE queue_rooms SET prequeued = $2 WHERE province_code = $1`, [
        province,
        event.data.prequeued,
      ]);
      return;
    case 'QUEUE_DRAW_DONE':
      await db.query(
        `UPDATE queue_rooms SET lottery_seed = $2, drawn_at = $3 WHERE province_code = $1 AND lottery_seed IS NULL`,
        [province, event.data.seed, at],
      );
      return;
    case 'QUEUE_DRAINED':
      await db.query(`UPDATE queue_rooms SET drained_at = $2 WHERE province_code = $1`, [province, at]);
      return;
    default:
      // QUEUE_ACTIVATED: kept in `events` only (an auto room's on/off history)
      return;
  }
}

/**
 * The tickets of `event(s)` that the UPDATE left alone must match `past` (the update was applied
 * before: a redelivery). Any other was absent or not yet at the state the update starts from when
 * the UPDATE began: it waits for the event before it.
 */
async function expectPast(
  db: Queryable,
  events: QueueEvent | readonly QueueEvent[],
  tickets: readonly string[],
  updated: readonly { ticket_id: string }[],
  past: string,
): Promise<void> {
  const done = new Set(updated.map((row) => row.ticket_id));
  const rest = tickets.filter((ticket) => !done.has(ticket));
  if (rest.length === 0) return;
  const found = await db.query<{ ticket_id: string }>(
    `SELECT ticket_id FROM queue_tickets WHERE ticket_id = ANY($1::text[]) AND ${past}`,
    [rest],
  );
  const applied = new Set(found.rows.map((row) => row.ticket_id));
  const waiting = rest.filter((ticket) => !applied.has(ticket));
  if (waiting.length === 0) return;
  const list: readonly QueueEvent[] = Array.isArray(events) ? events : [events as QueueEvent];
  throw new MissingDependencyError(
    `${list[0]!.type}: ${waiting.length} ticket(s) not written yet or not at their earlier state (${waiting.slice(0, 3).join(', ')})`,
    list.map((event) => event.eventId),
  );
}
