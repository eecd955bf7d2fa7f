/**
 * Batch insert of engine events into `events` (I5). One statement per batch with array parameters
 * (or COPY into a staging table, below);
 * ON CONFLICT (event_id) DO NOTHING makes a redelivered event, or a duplicate inside one batch, a
 * no-op, so a writer may retry any batch after a crash.
 */
import { copyFrom } from '../copy.ts';
import { copyRow, copyTextValue } from '../copyText.ts';
import { execute } from '../pool.ts';
import type { PoolClient, Queryable } from '../pool.ts';

export interface EventRow {
  /** "<stream>/<stream entry id>", e.g. "p11/1764388800000-0". */
  readonly eventId: string;
  readonly stream: string;
  readonly type: string;
  /** Engine time of the event, epoch milliseconds. */
  readonly atMs: number;
  /** A JSON object. */
  readonly data: Readonly<Record<string, unknown>>;
}

const INSERT_EVENTS = `
  INSERT INTO events (event_id, stream, type, at, data)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[])
  ON CONFLICT (event_id) DO NOTHING`;

/** Inserts the events not already stored; returns how many were new. */
export async function insertEvents(db: Queryable, events: readonly EventRow[]): Promise<number> {
  if (events.length === 0) return 0;
  return execute(db, INSERT_EVENTS, [
    events.map((event) => event.eventId),
    events.map((event) => event.stream),
    events.map((event) => event.type),
    // ISO strings are exact to the millisecond, unlike float seconds.
    events.map((event) => new Date(event.atMs).toISOString()),
    events.map((event) => JSON.stringify(event.data)),
  ]);
}

const INSERT_EVENTS_RETURNING = `${INSERT_EVENTS}
  RETURNING event_id`;

/** Inserts the events not already stored; returns the ids of those that were new. */
export async function insertEventsReturning(
  db: Queryable,
  events: readonly EventRow[],
): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const result = await db.query<{ event_id: string }>(INSERT_EVENTS_RETURNING, [
    events.map((event) => event.eventId),
    events.map((event) => event.stream),
    events.map((event) => event.type),
    events.map((event) => new Date(event.atMs).toISOString()),
    events.map((event) => JSON.stringify(event.data)),
  ]);
  return new Set(result.rows.map((row) => row.event_id));
}

// --- COPY: the same insert for big batches -----------------------------------------------------

/**
 * Per-session staging table for COPY: COPY has no ON CONFLICT, so a batch is copied here and then
 * inserted with the same idempotency as above. Temporary (never shared between sessions) and
 * emptied at each COMMIT, so it is created once per connection.
 */
const CREATE_STAGING = `
  CREATE TEMP TABLE IF NOT EXISTS events_staging
    (event_id text, stream text, type text, at timestamptz, data jsonb) ON COMMIT DELETE ROWS`;
const COPY_STAGING = 'COPY events_staging (event_id, stream, type, at, data) FROM STDIN';
const INSERT_FROM_STAGING = `
  INSERT INTO events (event_id, stream, type, at, data)
  SELECT event_id, stream, type, at, data FROM events_staging
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id`;

const staged = new WeakSet<object>();

/**
 * insertEventsReturning through COPY (text format) into a staging table, then one INSERT … SELECT
 * ON CONFLICT DO NOTHING: no per-element array encoding on the client, one parse on the server.
 * Must run inside a transaction on a checked-out client (the staging rows go at COMMIT).
 */
export async function insertEventsCopy(
  client: PoolClient,
  events: readonly EventRow[],
): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  if (!staged.has(client)) {
    await client.query(CREATE_STAGING);
    staged.add(client);
  }
  let text = '';
  for (const event of events) {
    text += copyRow([
      copyTextValue(event.eventId),
      copyTextValue(event.stream),
      copyTextValue(event.type),
      new Date(event.atMs).toISOString(),
      copyTextValue(JSON.stringify(event.data)),
    ]);
  }
  await copyFrom(client, COPY_STAGING, text);
  const result = await client.query<{ event_id: string }>(INSERT_FROM_STAGING);
  return new Set(result.rows.map((row) => row.event_id));
}
