/**
 * Reconcile (I5, REL3): compares Redis, the live source of truth, with PostgreSQL, the system of
 * record, for the given provinces:
 *  - SEATS: per campus × subject, Redis's `used` counter against the live (HELD + PAID) items;
 *  - REGISTRATION: every Redis registration has its live row (same account, campus), and every live
 *    row has its Redis registration;
 *  - ITEM: every item of a Redis registration has its row with the same status; no live row is
 *    missing from Redis;
 *  - ORDER: every Redis order has its row with the same status, and the other way round;
 *  - EVENT: an outbox entry still in the stream is in `events`.
 * Dead-lettered entries are listed apart (`alerts`, kind DEAD_LETTER): once the state matches, a
 * dead letter is no drift, but an operator should look at it and then delete the dead-letter
 * stream (its event row is in `events` unless it could not be decoded, which shows as EVENT).
 * `repair` first re-delivers the missing events through the writer's own code path (XRANGE, then
 * the same transaction: events + projections), then rebuilds from Redis whatever is still different
 * (events trimmed away, or dead-lettered ones whose projection cannot apply), and compares again.
 * Entries the writer simply has not reached yet also count as EVENT differences: run it on a
 * drained system (or with --repair).
 */
import type { Engine } from '../engine/engine.ts';
import { entryField, eventIdOf } from '../engine/events.ts';
import { allRegistrations } from '../engine/invariants.ts';
import { ORDER_BUCKETS } from '../engine/keys.ts';
import { decodeOrder, type ItemView, type OrderView, type RegistrationView } from '../engine/views.ts';
import { withTransaction, type Pool, type Queryable } from './pool.ts';
import { registrationIdOf } from './sql/projections.ts';
import { StreamWriter } from './writer.ts';

export type DifferenceKind = 'SEATS' | 'REGISTRATION' | 'ITEM' | 'ORDER' | 'EVENT' | 'DEAD_LETTER';

export interface Difference {
  readonly kind: DifferenceKind;
  readonly key: string;
  readonly redis: unknown;
  readonly postgres: unknown;
}

export interface ReconcileOptions {
  readonly provinces: readonly string[];
  /** Every outbox stream to check for events missing from PostgreSQL. */
  readonly streams: readonly string[];
}

export interface ReconcileReport {
  /** Drift: non-empty means Redis and PostgreSQL disagree. */
  readonly differences: Difference[];
  /** Dead-letter streams with entries (for the operator; not drift by themselves). */
  readonly alerts: Difference[];
  readonly redeliveredEvents: number;
  readonly rebuiltRows: number;
}

interface RedisSide {
  readonly registrations: RegistrationView[];
  readonly orders: OrderView[];
  readonly used: Map<string, number>;
}

async function readRedis(engine: Engine, provinces: readonly string[]): Promise<RedisSide> {
  const registrations: RegistrationView[] = [];
  const orders: OrderView[] = [];
  const used = new Map<string, number>();
  for (const code of provinces) {
    const keys = engine.keys.province(code);
    registrations.push(...(await allRegistrations(engine, code)));
    for (const [field, n] of Object.entries(await engine.redis.hgetall(keys.used))) {
      if (Number(n) !== 0) used.set(field, Number(n));
    }
    const chunk = 256;
    for (let start = 0; start < ORDER_BUCKETS; start += chunk) {
      const buckets = await Promise.all(
        Array.from({ length: Math.min(chunk, ORDER_BUCKETS - start) }, (_, i) =>
          engine.redis.hgetall(keys.orderBucket(start + i)),
        ),
      );
      for (const bucket of buckets) {
        for (const raw of Object.values(bucket)) orders.push(decodeOrder(JSON.parse(raw)));
      }
    }
  }
  return { registrations, orders, used };
}

interface PgItem {
  item_id: string;
  candidate_id: string;
  subject: string;
  campus_id: string;
  status: string;
}

async function readPostgres(db: Queryable, provinces: readonly string[]) {
  const itemPrefixes = provinces.map((code) => `p${code}/%`);
  const orderPrefixes = provinces.map((code) => `${code}-%`);
  const [registrations, items, orders, seats] = await Promise.all([
    db.query<{ registration_id: string; candidate_id: string; account_id: string; campus_id: string }>(
      `SELECT registration_id, candidate_id, account_id::text, campus_id FROM registrations
        WHERE deleted_at IS NULL AND province_code = ANY($1::text[])`,
      [provinces],
    ),
    db.query<PgItem>(
      `SELECT item_id, candidate_id, subject, campus_id, status FROM registration_items
        WHERE item_id LIKE ANY($1::text[])`,
      [itemPrefixes],
    ),
    db.query<{ order_id: string; status: string }>(
      `SELECT order_id, status FROM payment_orders WHERE order_id LIKE ANY($1::text[])`,
      [orderPrefixes],
    ),
    db.query<{ seat: string; n: string }>(
      `SELECT campus_id || '|' || subject AS seat, count(*) AS n FROM registration_items
        WHERE status IN ('HELD', 'PAID') AND item_id LIKE ANY($1::text[]) GROUP BY campus_id, subject`,
      [itemPrefixes],
    ),
  ]);
  return {
    registrations: new Map(registrations.rows.map((r) => [r.candidate_id, r])),
    items: new Map(items.rows.map((r) => [r.item_id, r])),
    orders: new Map(orders.rows.map((r) => [r.order_id, r])),
    seats: new Map(seats.rows.map((r) => [r.seat, Number(r.n)])),
  };
}

const itemsOf = (reg: RegistrationView): ItemView[] => [...reg.written, ...reg.oral];

/** Compares the state (not the events); returns every difference. */
export async function compareState(
  engine: Engine,
  db: Queryable,
  provinces: readonly string[],
): Promise<Difference[]> {
  const [redis, pg] = [await readRedis(engine, provinces), await readPostgres(db, provinces)];
  const differences: Difference[] = [];
  for (const key of new Set([...redis.used.keys(), ...pg.seats.keys()])) {
    const r = redis.used.get(key) ?? 0;
    const p = pg.seats.get(key) ?? 0;
    if (r !== p) differences.push({ kind: 'SEATS', key, redis: r, postgres: p });
  }
  const redisItems = new Set<string>();
  const redisCandidates = new Set<string>();
  for (const reg of redis.registrations) {
    redisCandidates.add(reg.candidateId);
    const id = registrationIdOf(reg.candidateId, reg.savedAt);
    const row = pg.registrations.get(reg.candidateId);
    if (
      !row ||
      row.registration_id !== id ||
      row.account_id !== reg.accountId ||
      row.campus_id !== reg.campusId
    ) {
      differences.push({
        kind: 'REGISTRATION',
        key: id,
        redis: { accountId: reg.accountId, campusId: reg.campusId },
        postgres: row
          ? { registrationId: row.registration_id, accountId: row.account_id, campusId: row.campus_id }
          : null,
      });
    }
    for (const item of itemsOf(reg)) {
      const itemId = `p${reg.provinceCode}/${item.holdId}`;
      redisItems.add(itemId);
      const pgItem = pg.items.get(itemId);
      if (!pgItem || pgItem.status !== item.status || pgItem.campus_id !== item.campusId) {
        differences.push({
          kind: 'ITEM',
          key: itemId,
          redis: { candidateId: reg.candidateId, subject: item.subject, status: item.status },
          postgres: pgItem ? { status: pgItem.status, campusId: pgItem.campus_id } : null,
        });
      }
    }
  }
  for (const row of pg.registrations.values()) {
    if (!redisCandidates.has(row.candidate_id)) {
      differences.push({ kind: 'REGISTRATION', key: row.registration_id, redis: null, postgres: 'live' });
    }
  }
  for (const item of pg.items.values()) {
    if ((item.status === 'HELD' || item.status === 'PAID') && !redisItems.has(item.item_id)) {
      differences.push({ kind: 'ITEM', key: item.item_id, redis: null, postgres: { status: item.status } });
    }
  }
  const redisOrders = new Set<string>();
  for (const order of redis.orders) {
    redisOrders.add(order.orderId);
    const row = pg.orders.get(order.orderId);
    if (!row || row.status !== order.status) {
      differences.push({
        kind: 'ORDER',
        key: order.orderId,
        redis: order.status,
        postgres: row?.status ?? null,
      });
    }
  }
  for (const row of pg.orders.values()) {
    if (!redisOrders.has(row.order_id)) {
      differences.push({ kind: 'ORDER', key: row.order_id, redis: null, postgres: row.status });
    }
  }
  return differences;
}

/** Entries still in the streams whose event is not in `events`, per stream, in stream order. */
async function missingEvents(
  engine: Engine,
  db: Queryable,
  streams: readonly string[],
): Promise<Map<string, [string, string[]][]>> {
  const missing = new Map<string, [string, string[]][]>();
  for (const stream of streams) {
    let start = '-';
    for (;;) {
      const entries = (await engine.redis.xrange(stream, start, '+', 'COUNT', 2000)) as [string, string[]][];
      if (entries.length === 0) break;
      const ids = entries.map(([id]) => eventIdOf(stream, id));
      const found = await db.query<{ event_id: string }>(
        `SELECT event_id FROM events WHERE event_id = ANY($1::text[])`,
        [ids],
      );
      const present = new Set(found.rows.map((r) => r.event_id));
      const absent = entries.filter((_, i) => !present.has(ids[i]!));
      if (absent.length > 0) {
        let list = missing.get(stream);
        if (!list) missing.set(stream, (list = []));
        list.push(...absent);
      }
      if (entries.length < 2000) break;
      start = `(${entries[entries.length - 1]![0]}`;
    }
  }
  return missing;
}

async function eventDifferences(
  engine: Engine,
  db: Queryable,
  streams: readonly string[],
): Promise<{ differences: Difference[]; alerts: Difference[] }> {
  const differences: Difference[] = [];
  const alerts: Difference[] = [];
  for (const [stream, entries] of await missingEvents(engine, db, streams)) {
    for (const [id, fields] of entries) {
      const type = entryField(fields, 't') ?? '?';
      differences.push({ kind: 'EVENT', key: `${stream} ${id}`, redis: type, postgres: null });
    }
  }
  for (const stream of streams) {
    const deadLetters = engine.keys.deadLetters(stream);
    const dead = await engine.redis.xlen(deadLetters);
    if (dead > 0) alerts.push({ kind: 'DEAD_LETTER', key: deadLetters, redis: dead, postgres: null });
  }
  return { differences, alerts };
}

export async function reconcile(
  engine: Engine,
  db: Pool,
  options: ReconcileOptions & { repair?: boolean },
): Promise<ReconcileReport> {
  let redeliveredEvents = 0;
  let rebuiltRows = 0;
  if (options.repair) {
    // writeRange reads nothing through the group: the same on a single node and a Cluster (issue 14)
    const writer = new StreamWriter(engine.redis, db, {
      streams: options.streams,
      consumer: 'reconcile',
      maxAttempts: 2,
      backoffBaseMs: 10,
    });
    for (const [stream, entries] of await missingEvents(engine, db, options.streams)) {
      for (let i = 0; i < entries.length; i += 1000) {
        redeliveredEvents += await writer.writeRange(stream, entries.slice(i, i + 1000));
      }
    }
    const remaining = await compareState(engine, db, options.provinces);
    if (remaining.length > 0) rebuiltRows = await rebuildFromRedis(engine, db, options.provinces);
    await writer.stop().catch(() => undefined);
  }
  const events = await eventDifferences(engine, db, options.streams);
  const differences = [...(await compareState(engine, db, options.provinces)), ...events.differences];
  return { differences, alerts: events.alerts, redeliveredEvents, rebuiltRows };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Makes PostgreSQL's rows say what Redis says, for the given provinces; returns rows changed. */
export async function rebuildFromRedis(
  engine: Engine,
  db: Pool,
  provinces: readonly string[],
): Promise<number> {
  const redis = await readRedis(engine, provinces);
  return withTransaction(db, async (client) => {
    const pg = await readPostgres(client, provinces);
    let changed = 0;
    const redisCandidates = new Set(redis.registrations.map((reg) => reg.candidateId));
    // registrations live in PostgreSQL but gone from Redis (or re-bound under another id): end them
    for (const row of pg.registrations.values()) {
      const reg = redis.registrations.find((r) => r.candidateId === row.candidate_id);
      if (
        !redisCandidates.has(row.candidate_id) ||
        (reg && registrationIdOf(reg.candidateId, reg.savedAt) !== row.registration_id)
      ) {
        changed +=
          (
            await client.query(
              `UPDATE registrations SET deleted_at = greatest(now(), saved_at), delete_reason = 'RECONCILED'
              WHERE registration_id = $1 AND deleted_at IS NULL`,
              [row.registration_id],
            )
          ).rowCount ?? 0;
      }
    }
    const redisItems = new Set<string>();
    for (const reg of redis.registrations) {
      const id = registrationIdOf(reg.candidateId, reg.savedAt);
      changed +=
        (
          await client.query(
            `INSERT INTO registrations (registration_id, candidate_id, account_id, province_code, campus_id, snapshot, saved_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (registration_id) DO UPDATE SET account_id = EXCLUDED.account_id, campus_id = EXCLUDED.campus_id,
             deleted_at = NULL, delete_reason = NULL
           WHERE registrations.account_id <> EXCLUDED.account_id OR registrations.campus_id <> EXCLUDED.campus_id
              OR registrations.deleted_at IS NOT NULL`,
            [
              id,
              reg.candidateId,
              reg.accountId,
              reg.provinceCode,
              reg.campusId,
              JSON.stringify(reg.snapshot),
              iso(reg.savedAt),
            ],
          )
        ).rowCount ?? 0;
      // ended items first, so that a live one never meets another live one of the same subject
      const items = itemsOf(reg).sort(
        (a, b) =>
          Number(a.status === 'HELD' || a.status === 'PAID') -
          Number(b.status === 'HELD' || b.status === 'PAID'),
      );
      for (const item of items) {
        const itemId = `p${reg.provinceCode}/${item.holdId}`;
        redisItems.add(itemId);
        const settled = item.settledAt ?? item.heldAt;
        const paidAt = item.status === 'PAID' ? iso(settled) : null;
        const endedAt = item.status === 'EXPIRED' || item.status === 'CANCELLED' ? iso(settled) : null;
        changed +=
          (
            await client.query(
              `INSERT INTO registration_items (item_id, candidate_id, subject, kind, level, campus_id, status, fee, held_at, pay_by, paid_at, ended_at)
             SELECT $1, $2, s.subject, s.kind, s.level, $4, $5, $6, $7, $8, $9, $10 FROM subjects s WHERE s.subject = $3
             ON CONFLICT (item_id) DO UPDATE SET status = EXCLUDED.status, paid_at = EXCLUDED.paid_at,
               ended_at = EXCLUDED.ended_at, campus_id = EXCLUDED.campus_id
             WHERE registration_items.status <> EXCLUDED.status OR registration_items.campus_id <> EXCLUDED.campus_id`,
              [
                itemId,
                reg.candidateId,
                item.subject,
                item.campusId,
                item.status,
                item.fee,
                iso(item.heldAt),
                iso(item.payBy),
                paidAt,
                endedAt,
              ],
            )
          ).rowCount ?? 0;
      }
    }
    for (const item of pg.items.values()) {
      if ((item.status === 'HELD' || item.status === 'PAID') && !redisItems.has(item.item_id)) {
        changed +=
          (
            await client.query(
              `UPDATE registration_items SET status = 'CANCELLED', paid_at = NULL, ended_at = greatest(now(), held_at)
              WHERE item_id = $1`,
              [item.item_id],
            )
          ).rowCount ?? 0;
      }
    }
    for (const order of redis.orders) {
      const code = order.orderId.slice(0, order.orderId.indexOf('-'));
      const paidAt = order.paidAt === null ? null : iso(order.paidAt);
      const tx = order.status === 'PENDING' ? null : `reconciled-${order.orderId}`;
      changed +=
        (
          await client.query(
            `INSERT INTO payment_orders (order_id, candidate_id, amount, method, status, created_at, paid_at, provider_tx)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, paid_at = EXCLUDED.paid_at,
             provider_tx = coalesce(payment_orders.provider_tx, EXCLUDED.provider_tx)
           WHERE payment_orders.status <> EXCLUDED.status`,
            [
              order.orderId,
              order.candidateId,
              order.amount,
              order.method,
              order.status,
              iso(order.createdAt),
              paidAt,
              tx,
            ],
          )
        ).rowCount ?? 0;
      for (const entry of order.items) {
        const itemId = `p${code}/${entry.holdId}`;
        const outcome =
          order.status === 'PENDING' ? null : order.paid.includes(entry.subject) ? 'PAID' : 'LATE_REFUND';
        await client.query(
          `INSERT INTO payment_order_items (order_id, item_id, fee, outcome)
           SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM registration_items WHERE item_id = $2)
           ON CONFLICT (order_id, item_id) DO UPDATE SET outcome = EXCLUDED.outcome
           WHERE payment_order_items.outcome IS DISTINCT FROM EXCLUDED.outcome`,
          [order.orderId, itemId, entry.fee, outcome],
        );
      }
    }
    return changed;
  });
}
