/**
 * GET /api/v1/admin/stats: what an operator watches during the opening surge, cheap enough to poll
 * every second. A few pipelined Redis round trips (two more per waiting room) and, at most once per
 * PERSISTED_MAX_AGE_MS for the whole deployment, one PostgreSQL aggregate:
 *  - seats (Redis, live): capacity, taken (held + paid) and remaining per subject and per province,
 *    from the engine's seat counters (I1's own numbers);
 *  - streams (Redis, live): per outbox stream its length (XLEN), the writer group's pending
 *    entries (delivered, not acknowledged: XPENDING), its undelivered entries (XINFO GROUPS lag)
 *    and the age of the oldest entry not yet acknowledged, from its entry id's millisecond part
 *    against Redis's own TIME (the clock that stamped the id);
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
import { WRITER_GROUP } from '../../engine/outbox.ts';
import { PROVINCE_CODES } from '../../engine/provinces.ts';
import { execKeyed, type KeyedCommand } from '../../engine/redisClient.ts';
import { DEFAULT_CONTROL, gatewayView, type ThreadLoad } from '../../engine/queueControl.ts';
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

/** XINFO GROUPS answers a flat [name, value, …] list per group. */
function fieldsOf(flat: unknown): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  if (Array.isArray(flat)) for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = flat[i + 1];
  return record;
}

const idMs = (entryId: string): number => Number(entryId.slice(0, entryId.indexOf('-')));

export interface StreamLag {
  readonly stream: string;
  readonly length: number;
  /** Delivered to the writer group, not yet acknowledged (XPENDING). */
  readonly pending: number;
  /** Not yet delivered to the writer group (XINFO GROUPS lag; null when Redis cannot tell). */
  readonly undelivered: number | null;
  /** Age of the oldest entry the writer has not acknowledged; null when it is all caught up. */
  readonly oldestUnprocessedAgeMs: number | null;
  readonly groupExists: boolean;
}

async function streams(services: Services) {
  const redis = services.redis;
  const names = services.engine.keys.allStreams(PROVINCE_CODES);
  const answers = await execKeyed(redis, [
    ...names.flatMap((stream): KeyedCommand[] => [
      { key: stream, add: (p) => p.xlen(stream) },
      { key: stream, add: (p) => p.xinfo('GROUPS', stream) },
      { key: stream, add: (p) => p.xpending(stream, WRITER_GROUP) },
    ]),
    // Redis's own clock (the one that stamped the entry ids), from any node
    { key: names[0]!, add: (p) => p.time() },
  ]);
  const [timeError, time] = answers[answers.length - 1]!;
  if (timeError) throw timeError;
  const [seconds, micros] = time as [string, string];
  const redisNowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);

  interface StreamProbe {
    stream: string;
    length: number;
    pending: number;
    undelivered: number | null;
    oldestPendingId: string | null;
    lastDeliveredId: string | null;
    groupExists: boolean;
  }
  const partials: StreamProbe[] = names.map((stream, i) => {
    const [lengthError, length] = answers[3 * i]!;
    if (lengthError) throw lengthError;
    const [infoError, info] = answers[3 * i + 1]!; // "no such key" for a stream never written
    const group = infoError
      ? undefined
      : (info as unknown[]).map(fieldsOf).find((g) => g.name === WRITER_GROUP);
    const [pendingError, summary] = answers[3 * i + 2]!;
    const pendingSummary = pendingError ? null : (summary as [number, string | null, string | null, unknown]);
    const lag = group?.lag;
    return {
      stream,
      length: Number(length),
      pending: pendingSummary ? Number(pendingSummary[0]) : 0,
      undelivered:
        group === undefined ? Number(length) : lag === null || lag === undefined ? null : Number(lag),
      oldestPendingId: pendingSummary?.[1] ?? null,
      lastDeliveredId: group ? String(group['last-delivered-id']) : null,
      groupExists: group !== undefined,
    };
  });

  // the first undelivered entry of each stream that has any (a second, smaller round trip)
  const behind = partials.filter((p) => p.length > 0 && p.undelivered !== 0);
  const undeliveredAnswers = await execKeyed(
    redis,
    behind.map((probe) => ({
      key: probe.stream,
      add: (p) =>
        p.xrange(
          probe.stream,
          probe.lastDeliveredId === null ? '-' : `(${probe.lastDeliveredId}`,
          '+',
          'COUNT',
          1,
        ),
    })),
  );
  const firstUndelivered = new Map<string, string>();
  behind.forEach((p, i) => {
    const [error, entries] = undeliveredAnswers[i]!;
    const entry = error ? undefined : (entries as [string, string[]][])[0];
    if (entry) firstUndelivered.set(p.stream, entry[0]);
  });

  const byStream: StreamLag[] = partials.map((p) => {
    const candidates = [p.oldestPendingId, firstUndelivered.get(p.stream) ?? null]
      .filter((id): id is string => id !== null)
      .map(idMs);
    const oldest = candidates.length > 0 ? Math.min(...candidates) : null;
    return {
      stream: p.stream,
      length: p.length,
      pending: p.pending,
      undelivered: p.undelivered,
      oldestUnprocessedAgeMs: oldest === null ? null : Math.max(0, redisNowMs - oldest),
      groupExists: p.groupExists,
    };
  });
  const ages = byStream.map((s) => s.oldestUnprocessedAgeMs).filter((age): age is number => age !== null);
  return {
    group: WRITER_GROUP,
    length: byStream.reduce((sum, s) => sum + s.length, 0),
    pending: byStream.reduce((sum, s) => sum + s.pending, 0),
    undelivered: byStream.reduce((sum, s) => sum + (s.undelivered ?? 0), 0),
    /** The writer's lag: the oldest entry, over every stream, it has not acknowledged yet. */
    lagMs: ages.length > 0 ? Math.max(...ages) : 0,
    // idle streams (never written) are left out: 47 streams, mostly empty outside the surge
    byStream: byStream
      .filter((s) => s.length > 0 || s.groupExists)
      .sort(
        (a, b) => (b.oldestUnprocessedAgeMs ?? -1) - (a.oldestUnprocessedAgeMs ?? -1) || b.length - a.length,
      ),
  };
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

const CLASSES = ['critical', 'standard', 'background'] as const;
type ClassCounts = Record<(typeof CLASSES)[number], number>;

/** The fresh load reports (engine/queueControl.ts staleness) summed over every gateway thread. */
export function admissionSummary(loads: readonly ThreadLoad[], wallNow: number) {
  const fresh = loads.filter((load) => wallNow - load.at <= DEFAULT_CONTROL.staleMs);
  const admitted: ClassCounts = { critical: 0, standard: 0, background: 0 };
  const shed: ClassCounts = { critical: 0, standard: 0, background: 0 };
  let limit = 0;
  let inFlight = 0;
  let servedPerSec = 0;
  let p99Ms: number | null = null;
  let criticalP99Ms: number | null = null;
  for (const load of fresh) {
    limit += load.limit;
    inFlight += load.inFlight;
    servedPerSec += load.servedPerSec;
    if (load.p99Ms !== null) p99Ms = Math.max(p99Ms ?? 0, load.p99Ms);
    if (load.criticalP99Ms != null) criticalP99Ms = Math.max(criticalP99Ms ?? 0, load.criticalP99Ms);
    for (const c of CLASSES) {
      admitted[c] += load.totals?.admitted[c] ?? 0;
      shed[c] += load.totals?.shed[c] ?? 0;
    }
  }
  const view = gatewayView(fresh, wallNow);
  return {
    threads: fresh.length,
    /** The adaptive limits' sum (requests in flight at once). */
    limit,
    inFlight,
    servedPerSec,
    /** The worst thread's p99 over its last window, and of its critical requests (ms). */
    p99Ms,
    criticalP99Ms,
    /** up: the waiting rooms may let more in; down: fewer; hold (engine/queueControl.ts). */
    health: view.health,
    /** Since each thread started (threads that stopped are no longer counted). */
    admitted,
    shed,
  };
}

async function rooms(services: Services, now: number) {
  const provinces = await services.queue.provinces();
  const states = await Promise.all(provinces.map((code) => services.queue.room(code, now)));
  const targets = await Promise.all(
    provinces.map((code) =>
      services.redis.hmget(services.engine.keys.province(code).queue.room, 'target', 'lastActive'),
    ),
  );
  const byProvince: Record<string, unknown> = {};
  let waiting = 0;
  states.forEach((room, i) => {
    if (!room) return;
    const [target, active] = targets[i]!;
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
      activeCandidates: active === null ? null : Number(active),
      targetActive: target === null ? null : Number(target),
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
        streams(services),
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
