/**
 * GET /api/v1/admin/stats: what an operator watches during the opening surge, cheap enough to poll
 * every second. A few pipelined Redis round trips (two more per waiting room) and, at most once per
 * PERSISTED_MAX_AGE_MS for the whole deployment, one PostgreSQL aggregate:
 *  - seats (Redis, live): capacity, taken (held + paid) and remaining per subject and per province,
 *    from the engine's seat counters (I1's own numbers);
 *  - streams (Redis, live): per outbox stream its length, the writer group's pending and
 *    undelivered entries and the age of the oldest entry not yet acknowledged (engine/outboxLag.ts);
 *  - sweeper (Redis, live): per province the oldest due deadline not yet processed
 *    (ZRANGEBYSCORE dueSet -inf now LIMIT 0 1), and its distance to now (the gateway's clock,
 *    the admin clock in test mode, which the sweeper follows too);
 *  - persisted (PostgreSQL, at most PERSISTED_MAX_AGE_MS old): counts of the events the writer
 *    stored, and the states they add up to (registrations saved/deleted, items held/paid/expired/
 *    cancelled, orders, reviews). A full-table aggregate, so it is shared through Redis with a
 *    short TTL and computed by one caller at a time; `asOf` says when.
 *  - admission (Redis, live, ≤ 0.5 s old): every gateway thread's load report (the adaptive limit,
 *    what is in flight, its window p99, answers per second, requests admitted and shed per priority
 *    class since it started) summed, and the health the queue keeper reads from them;
 *  - queue (Redis, live): per province with a waiting room its mode, phase, whether it gates now,
 *    who waits, the line's head, the measured admission rate and the keeper's target of candidates
 *    active at once.
 * Per-state counts over Redis itself (engine/invariants.ts reads every registration bucket) would
 * cost a full scan per call, so they are not here. On a Redis Cluster each batch goes out as one
 * pipeline per shard, on the shard's master (engine/redisClient.ts execKeyed; issue 14).
 */
import type { ChainableCommander } from 'ioredis';
import { GatewayKeys } from '../../engine/keys.ts';
import { outboxLag } from '../../engine/outboxLag.ts';
import { PROVINCE_CODES } from '../../engine/provinces.ts';
import { execKeyed, type KeyedCommand } from '../../engine/redisClient.ts';
import { admissionSummary } from '../../engine/queueControl.ts';
import { readThreadLoads } from '../../engine/queueKeeper.ts';
import { isSubject, type Subject } from '../../engine/subjects.ts';
import { query } from '../../db/pool.ts';
import { isoChina } from '../routes/common.ts';
import type { Services } from '../services.ts';

const PERSISTED_MAX_AGE_MS = 5_000;
const PERSISTED_LOCK_MS = 30_000;

interface SeatTotals {
  capacity: number;
  taken: number;
  remaining: number;
  /** campus × subject pairs offered (capacity > 0) */
  offered: number;
  soldOut: number;
}

const emptyTotals = (): SeatTotals => ({ capacity: 0, taken: 0, remaining: 0, offered: 0, soldOut: 0 });

function addSeat(totals: SeatTotals, capacity: number, used: number): void {
  totals.capacity += capacity;
  totals.taken += used;
  totals.remaining += Math.max(0, capacity - used);
  if (capacity > 0) {
    totals.offered += 1;
    if (used >= capacity) totals.soldOut += 1;
  }
}

async function seats(services: Services) {
  const results = await execKeyed(
    services.redis,
    PROVINCE_CODES.flatMap((code): KeyedCommand[] => {
      const keys = services.engine.keys.province(code);
      return [
        { key: keys.capacity, add: (p) => p.hgetall(keys.capacity) },
        { key: keys.used, add: (p) => p.hgetall(keys.used) },
      ];
    }),
  );
  const total = emptyTotals();
  const bySubject: Partial<Record<Subject, SeatTotals>> = {};
  const byProvince: Record<string, SeatTotals> = {};
  PROVINCE_CODES.forEach((code, i) => {
    const [capacityError, capacity] = results[2 * i]!;
    const [usedError, used] = results[2 * i + 1]!;
    const error = capacityError ?? usedError;
    if (error) throw error;
    const caps = capacity as Record<string, string>;
    const taken = used as Record<string, string>;
    for (const [field, cap] of Object.entries(caps)) {
      const subject = field.slice(field.lastIndexOf('|') + 1);
      if (!isSubject(subject)) continue;
      const seatsCapacity = Number(cap);
      const seatsUsed = Number(taken[field] ?? 0);
      addSeat(total, seatsCapacity, seatsUsed);
      addSeat((bySubject[subject] ??= emptyTotals()), seatsCapacity, seatsUsed);
      addSeat((byProvince[code] ??= emptyTotals()), seatsCapacity, seatsUsed);
    }
  });
  return { ...total, bySubject, byProvince };
}

async function sweeper(services: Services, now: number) {
  const results = await execKeyed(
    services.redis,
    PROVINCE_CODES.map((code) => {
      const dueSet = services.engine.keys.province(code).dueSet;
      return { key: dueSet, add: (p) => p.zrangebyscore(dueSet, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1) };
    }),
  );
  const byProvince: Record<string, { oldestDueAt: string; lagMs: number }> = {};
  let oldest: number | null = null;
  PROVINCE_CODES.forEach((code, i) => {
    const [error, reply] = results[i]!;
    if (error) throw error;
    const score = (reply as string[])[1];
    if (score === undefined) return;
    const due = Number(score);
    byProvince[code] = { oldestDueAt: isoChina(due), lagMs: Math.max(0, now - due) };
    oldest = oldest === null ? due : Math.min(oldest, due);
  });
  const oldestDue = oldest as number | null;
  return {
    /** How far behind `now` the oldest due deadline still waiting is (0: nothing overdue). */
    lagMs: oldestDue === null ? 0 : Math.max(0, now - oldestDue),
    oldestDueAt: oldestDue === null ? null : isoChina(oldestDue),
    /** Only provinces with an overdue deadline. */
    byProvince,
  };
}

// ------------------------------------------------------------------ admission and waiting rooms

async function rooms(services: Services, now: number) {
  const provinces = await services.queue.provinces();
  const states = await Promise.all(provinces.map((code) => services.queue.room(code, now)));
  const byProvince: Record<string, unknown> = {};
  let waiting = 0;
  states.forEach((room) => {
    if (!room) return;
    waiting += room.waiting;
    byProvince[room.provinceCode] = {
      mode: room.mode,
      phase: room.phase,
      active: room.active,
      opensAt: room.opensAt === null ? null : isoChina(room.opensAt),
      waiting: room.waiting,
      admitted: room.head,
      admittedPerMinute: Math.round(room.rate * 60),
      /** Candidates admitted and holding a slot at the keeper's last tick, and its target. */
      activeCandidates: room.activeCandidates,
      targetActive: room.targetActive,
      maxAdmitPerMinute: room.maxAdmitPerMinute,
    };
  });
  return { rooms: Object.keys(byProvince).length, waiting, byProvince };
}

// ------------------------------------------------------------------ dead letters, writers, sweepers

/**
 * Dead letters (XLEN of every `<ns>:{tag}:dead` stream; `alert` when any), and the stats the
 * writers and sweepers publish in Redis (`<ns>:writer:stats`, `<ns>:sweeper:stats`, one field per
 * process, JSON with `updatedAt`): they run in this process under `npm start`, or alone.
 */
async function persistence(services: Services) {
  const keys = services.engine.keys;
  const dead = keys.allStreams(PROVINCE_CODES).map((stream) => keys.deadLetters(stream));
  const results = await execKeyed(services.redis, [
    ...dead.map((stream) => ({ key: stream, add: (p: ChainableCommander) => p.xlen(stream) })),
    { key: keys.writerStats, add: (p) => p.hgetall(keys.writerStats) },
    { key: keys.sweeperStats, add: (p) => p.hgetall(keys.sweeperStats) },
  ]);
  const byStream: Record<string, number> = {};
  let total = 0;
  dead.forEach((stream, i) => {
    const [error, length] = results[i]!;
    if (error) throw error;
    if (Number(length) > 0) byStream[stream] = Number(length);
    total += Number(length);
  });
  const parse = (hash: unknown): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [name, json] of Object.entries((hash ?? {}) as Record<string, string>)) {
      try {
        out[name] = JSON.parse(json) as unknown;
      } catch {
        out[name] = null;
      }
    }
    return out;
  };
  const [writersError, writers] = results[dead.length]!;
  const [sweepersError, sweepers] = results[dead.length + 1]!;
  const error = writersError ?? sweepersError;
  if (error) throw error;
  return {
    deadLetters: { total, alert: total > 0, byStream },
    writers: parse(writers),
    sweepers: parse(sweepers),
  };
}

// ---------------------------------------------------------------------------------- persisted

interface PersistedCounts {
  readonly computedAt: number;
  readonly events: Record<string, number>;
  readonly paidItems: number;
  readonly lateRefundOrders: number;
  readonly lastWrittenAt: number | null;
}

/** Reads PAYMENT_CONFIRMED's `paid` (a Lua list: `{}` when empty) and `status` (engine/outbox.ts). */
async function computePersisted(services: Services): Promise<PersistedCounts> {
  const rows = await query<{
    type: string;
    n: string;
    paid_items: string;
    late: string;
    last_written: Date | null;
  }>(
    services.db,
    `SELECT type, count(*) AS n,
            coalesce(sum(CASE WHEN type = 'PAYMENT_CONFIRMED' AND jsonb_typeof(data->'paid') = 'array'
                              THEN jsonb_array_length(data->'paid') END), 0) AS paid_items,
            count(*) FILTER (WHERE type = 'PAYMENT_CONFIRMED' AND data->>'status' = 'LATE_REFUND') AS late,
            max(written_at) AS last_written
       FROM events GROUP BY type`,
  );
  const events: Record<string, number> = {};
  let paidItems = 0;
  let lateRefundOrders = 0;
  let lastWrittenAt: number | null = null;
  for (const row of rows) {
    events[row.type] = Number(row.n);
    paidItems += Number(row.paid_items);
    lateRefundOrders += Number(row.late);
    const written = row.last_written?.getTime() ?? null;
    if (written !== null) lastWrittenAt = Math.max(lastWrittenAt ?? 0, written);
  }
  return { computedAt: Date.now(), events, paidItems, lateRefundOrders, lastWrittenAt };
}

/** The shared copy, or a fresh one computed by this caller if no other caller is computing it. */
class PersistedCache {
  private last: PersistedCounts | null = null;

  constructor(private readonly keys: GatewayKeys) {}

  async read(services: Services): Promise<PersistedCounts | null> {
    const { adminStatsPersisted: key, adminStatsPersistedLock: lockKey } = this.keys;
    const shared = await services.redis.get(key);
    if (shared !== null) return (this.last = JSON.parse(shared) as PersistedCounts);
    const lock = await services.redis.set(lockKey, '1', 'PX', PERSISTED_LOCK_MS, 'NX');
    if (lock !== 'OK') return this.last; // another gateway is computing it
    try {
      const counts = await computePersisted(services);
      await services.redis.set(key, JSON.stringify(counts), 'PX', PERSISTED_MAX_AGE_MS);
      return (this.last = counts);
    } catch (error) {
      // PostgreSQL unreachable: the live (Redis) part of the stats matters most; say so in the log
      services.log.warn({ err: error }, 'admin stats: persisted counts unavailable');
      return this.last;
    } finally {
      await services.redis.del(lockKey);
    }
  }
}

function persistedBody(counts: PersistedCounts | null) {
  if (counts === null) return null;
  const n = (type: string): number => counts.events[type] ?? 0;
  const confirmed = n('PAYMENT_CONFIRMED');
  return {
    asOf: isoChina(counts.computedAt),
    ageMs: Math.max(0, Date.now() - counts.computedAt),
    lastWrittenAt: counts.lastWrittenAt === null ? null : isoChina(counts.lastWrittenAt),
    events: counts.events,
    registrations: { saved: n('BOUND'), deleted: n('DELETED'), live: n('BOUND') - n('DELETED') },
    items: {
      held: n('HELD'),
      paid: counts.paidItems,
      expired: n('EXPIRED'),
      cancelled: n('CANCELLED'),
      /** held, not yet paid, expired or cancelled */
      awaitingPayment: n('HELD') - counts.paidItems - n('EXPIRED') - n('CANCELLED'),
    },
    orders: {
      created: n('ORDER_CREATED'),
      paid: confirmed - counts.lateRefundOrders,
      lateRefund: counts.lateRefundOrders,
      pending: n('ORDER_CREATED') - confirmed,
    },
    reviews: {
      submitted: n('REVIEW_SUBMITTED'),
      edited: n('REVIEW_EDITED'),
      decided: n('REVIEW_DECIDED'),
      deleted: n('REVIEW_DELETED'),
    },
  };
}

export function statsCollector(services: Services) {
  const persisted = new PersistedCache(new GatewayKeys(services.config.namespace));
  return async (now: number) => {
    const [seatStats, streamStats, sweeperStats, persistedCounts, persistenceStats, loads, queue] =
      await Promise.all([
        seats(services),
        outboxLag(services.engine),
        sweeper(services, now),
        persisted.read(services),
        persistence(services),
        readThreadLoads(services.engine, Date.now(), false),
        rooms(services, now),
      ]);
    return {
      clock: {
        now: isoChina(now),
        nowMs: now,
        testMode: services.config.testMode,
        /** The admin clock's offset from this gateway's system clock (0 outside test mode). */
        offsetMs: services.drivenClock ? now - Date.now() : 0,
      },
      seats: seatStats,
      streams: streamStats,
      /** The writer's lag (events not yet in PostgreSQL, age of the oldest), dead letters, per-writer stats. */
      writer: {
        lagEvents: streamStats.pending + streamStats.undelivered,
        lagMs: streamStats.lagMs,
        deadLetters: persistenceStats.deadLetters,
        consumers: persistenceStats.writers,
      },
      sweeper: { ...sweeperStats, processes: persistenceStats.sweepers },
      persisted: persistedBody(persistedCounts),
      admission: admissionSummary(loads, Date.now()),
      queue,
    };
  };
}
