/**
 * The stream writer (I5, REL3): drains the engine's outbox streams into PostgreSQL with a consumer
 * group per stream.
 *
 *  - A batch is one transaction: `INSERT … ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
 *    then the projections (db/sql/projections.ts) of the events that were new, in stream order; it
 *    is XACKed only after COMMIT. A crash between COMMIT and XACK redelivers the batch, and the
 *    redelivery changes nothing.
 *  - On start it re-reads its own pending entries; every `claimIntervalMs` it takes over entries
 *    idle for more than `claimIdleMs` from other (dead) consumers with XAUTOCLAIM.
 *  - An outage (db/pgErrors.ts: anything but bad data — no connection, read-only after a failover,
 *    a revoked privilege, a missing table, too many connections, serialization …) is waited out
 *    with exponential backoff for as long as it lasts, the entries left pending (issue 16 item 9,
 *    I5): PostgreSQL down means waiting, never losing. It is reported once per episode (onError,
 *    without PostgreSQL's `detail`) and shown in the stats (`outage`, `outages`); the writer
 *    resumes by itself. Bad data (SQLSTATE class 22 or 23, a poison event) on a batch makes the
 *    writer apply that batch event by event, so a poison event is isolated: after `maxAttempts`
 *    it goes to the dead-letter stream `<ns>:{tag}:dead` (same hash tag as its stream) with the
 *    reason and is XACKed; the events behind it still land. Its event row is still stored in `events` when that
 *    alone succeeds (field `stored` of the dead letter), so only the projection is missing, which
 *    reconcile reports and `--repair` rebuilds from Redis. An entry that cannot be decoded goes to
 *    the dead-letter stream at once.
 *  - Every `trimIntervalMs` each stream is trimmed (XTRIM MINID, exact) below the oldest entry any group
 *    has not acknowledged (its oldest pending entry, else its last-delivered id) and, at most, below
 *    now − `retainMs`: an entry not yet acknowledged is never trimmed.
 *  - Several writers may run at once (distinct consumer names): the group spreads entries over them.
 *    An update that finds its row not yet written is retried once; then, if an older entry of its
 *    stream is pending with another consumer (which may hold the creating event, e.g. a dead one),
 *    it is left pending (not acknowledged): XAUTOCLAIM delivers it again once idle, in id order
 *    after what it depends on; after `maxDeliveries`, or when nothing older is pending elsewhere
 *    (the creating event was dead-lettered), it is dead-lettered. A dependency on another stream
 *    (a re-bind's BOUND behind its old binding's DELETED, issue 16 item 15b) is waited for the same
 *    way, for at most `maxDeliveries`; an entry of its stream that depends on a deferred one (that
 *    binding's own DELETED) waits with it. With several writers on one stream (issue 14 item 2) an
 *    update often arrives while its creating event is in another writer's transaction: the writer
 *    that deferred it tries its deferred entries again itself, a stream at a time in one
 *    transaction, 200 ms later and then less and less often, so that they land within a moment
 *    instead of after `claimIdleMs`; what still fails waits for XAUTOCLAIM as before.
 *
 * Reading (issue 14): on a single node one blocking XREADGROUP reads every stream of a lane. On a
 * Redis Cluster each shard's stream has a slot of its own, and XREADGROUP may name the streams of
 * one slot only; a blocking read would also hold its node's connection, delaying the reads of the
 * other streams on that node. So on a Cluster a lane reads each of its streams without blocking,
 * all at once (ioredis sends each read to its stream's master), and when none had anything waits
 * `clusterPollMs` before the next round. Acknowledgements go out per stream (execKeyed), and XINFO
 * is asked of the stream's master (xinfoGroups). Several writers, on one host or many, share the
 * streams through the consumer group either way; one that dies is taken over with XAUTOCLAIM.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULTS } from '../config/defaults.ts';
import { decodeEvent, type EngineEvent } from '../engine/events.ts';
import { deadLetterStreamOf, KeySpace } from '../engine/keys.ts';
import { WRITER_GROUP } from '../engine/outbox.ts';
import { execKeyed, isCluster, xinfoGroups, type RedisClient } from '../engine/redisClient.ts';
import { failureKind, outageOf } from './pgErrors.ts';
import { pgErrorInfo, withTransaction, type Pool } from './pool.ts';
import { insertEventsCopy, insertEventsReturning, type EventRow } from './sql/events.ts';
import { MissingDependencyError, PoisonEventError } from './sql/projectionErrors.ts';
import { projectEvents } from './sql/projections.ts';
import { settlesWithin } from '../engine/settle.ts';

export interface WriterOptions {
  /** Outbox streams of one key space (engine/keys.ts `allStreams`). */
  readonly streams: readonly string[];
  /** Default WRITER_GROUP (engine/outbox.ts). */
  readonly group?: string;
  readonly consumer: string;
  readonly batchSize?: number;
  /** How long one read blocks waiting for new entries (ms). */
  readonly idleMs?: number;
  /** Redis Cluster: the pause after a round of reads that found nothing (ms). Default: config/defaults.ts. */
  readonly clusterPollMs?: number;
  /** Entries of other consumers idle longer than this are claimed (XAUTOCLAIM). Default: config/defaults.ts. */
  readonly claimIdleMs?: number;
  readonly claimIntervalMs?: number;
  /** Attempts of a failing event (bad data, not an outage) before it is dead-lettered. Default: config/defaults.ts. */
  readonly maxAttempts?: number;
  /** Concurrent transactions, streams spread over them. Needs as many pool clients. */
  readonly lanes?: number;
  /**
   * How a batch's events go in: 'unnest' (array parameters, the default) or 'copy' (COPY into a
   * per-connection staging table, then the same INSERT … ON CONFLICT; faster for big batches,
   * see bench:writer). Projections are the same either way.
   */
  readonly insertWith?: 'unnest' | 'copy';
  /**
   * After a batch smaller than `batchSize`, wait this long before reading the next one (default
   * 50 ms): fewer, bigger transactions under a steady load, at most this much more lag.
   */
  readonly lingerMs?: number;
  /** Deliveries of an event whose dependency is missing before it is dead-lettered. Default 3. */
  readonly maxDeliveries?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  readonly trimIntervalMs?: number;
  /** Acknowledged entries younger than this are kept (for reconcile and inspection). */
  readonly retainMs?: number;
  /** Redis hash where each writer publishes its stats (field = consumer); default the streams' key space's `writerStats`. */
  readonly statsKey?: string;
  /** A failed step; during a PostgreSQL outage only its first failure (a PostgresOutageError, db/pgErrors.ts). */
  readonly onError?: (error: unknown) => void;
  /** PostgreSQL took the writer's writes again after an outage of `durationMs`. */
  readonly onRecovered?: (outage: { readonly durationMs: number }) => void;
  readonly onDeadLetter?: (letter: DeadLetter) => void;
  /** Called after each COMMIT with the committed entries' stream ids (bench: lag). */
  readonly onCommitted?: (entryIds: readonly string[], committedAt: number) => void;
}

export interface DeadLetter {
  readonly stream: string;
  readonly entryId: string;
  readonly reason: string;
  readonly attempts: number;
}

export interface WriterStats {
  readonly written: number;
  readonly duplicates: number;
  readonly batches: number;
  readonly errors: number;
  readonly retries: number;
  readonly claimed: number;
  readonly deadLetters: number;
  readonly trimmed: number;
  /** Events left pending for a later delivery (missing dependency). */
  readonly deferred: number;
  readonly lastWriteAt: number;
  /** Whether writes are waiting out a PostgreSQL outage right now (entries pending, nothing dead-lettered). */
  readonly outage: boolean;
  /** Outage episodes since start. */
  readonly outages: number;
}

type Counter = { [K in keyof WriterStats]: WriterStats[K] extends number ? K : never }[keyof WriterStats];

/** A write's result: done, or refused for bad data (an outage is waited out, never returned). */
type Attempt<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

type StreamReply = [stream: string, entries: [id: string, fields: string[] | null][]][] | null;

interface Entry {
  readonly stream: string;
  readonly id: string;
  readonly fields: string[];
}

/**
 * Whether a failure is waited out (an outage, db/pgErrors.ts) rather than counted towards the
 * dead-letter stream: a poison event or a missing dependency is the event's own problem.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof PoisonEventError || error instanceof MissingDependencyError) return false;
  return failureKind(error) === 'outage';
}

/** The dead-letter stream of an outbox stream (named in engine/keys.ts; exported here for its readers). */
export { deadLetterStreamOf };

class Stopped extends Error {}

/** How long stop() waits for the batch in hand before abandoning it (it stays pending). */
const STOP_GRACE_MS = 5_000;

/** The first retry of a deferred entry by its own writer; each next one waits twice as long. */
const DEFERRED_RETRY_MS = 200;
/** Past this many tries (about a minute at the default claim idle time) XAUTOCLAIM alone retries it. */
const DEFERRED_RETRIES = 8;

interface DeferredRetry {
  readonly entry: Entry;
  /** Deferrals so far. */
  readonly tries: number;
  /** When to try it again (epoch ms). */
  readonly at: number;
}

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am < bm ? -1 : am > bm ? 1 : as < bs ? -1 : as > bs ? 1 : 0;
}

function reasonOf(error: unknown): string {
  const info = pgErrorInfo(error);
  const message = error instanceof Error ? error.message : String(error);
  return info ? `${info.code}${info.constraint ? ` ${info.constraint}` : ''}: ${message}` : message;
}

export class StreamWriter {
  private readonly group: string;
  private readonly batchSize: number;
  private readonly maxAttempts: number;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private groupsReady = false;
  private stats: WriterStats = {
    written: 0,
    duplicates: 0,
    batches: 0,
    errors: 0,
    retries: 0,
    claimed: 0,
    deadLetters: 0,
    trimmed: 0,
    deferred: 0,
    lastWriteAt: 0,
    outage: false,
    outages: 0,
  };
  /** Writes waiting out the current outage (one per lane at most); the episode ends when none is left. */
  private waitingOutOutage = 0;
  private outageSince = 0;
  /** Aborted by stop(): backoff pauses end at once. */
  private readonly halt = new AbortController();
  /** Entries this writer left pending for a dependency (`stream|id`), until acknowledged. */
  private readonly deferredEntries = new Set<string>();
  /** The same entries, with when this writer tries them again itself (retryDeferred). */
  private readonly deferredRetries = new Map<string, DeferredRetry>();
  private readonly reader: RedisClient;
  private readonly laneReaders: RedisClient[] = [];
  /** Redis Cluster: per-stream reads instead of one blocking read (see the header). */
  private readonly onCluster: boolean;
  private lastClaimAt = 0;
  private lastTrimAt = 0;
  private lastStatsAt = 0;
  private readonly keys: KeySpace;
  private readonly statsKey: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly db: Pool,
    private readonly options: WriterOptions,
  ) {
    this.onCluster = isCluster(redis);
    this.group = options.group ?? WRITER_GROUP;
    this.batchSize = options.batchSize ?? DEFAULTS.writer.batchSize;
    this.maxAttempts = options.maxAttempts ?? DEFAULTS.writer.maxAttempts;
    this.reader = redis.duplicate();
    // failures surface on the commands themselves (and are retried); no unhandled 'error' events
    this.reader.on('error', () => undefined);
    const first = options.streams[0];
    this.keys = first === undefined ? new KeySpace() : KeySpace.ofStream(first);
    this.statsKey = options.statsKey ?? this.keys.writerStats;
  }

  get current(): WriterStats {
    return this.stats;
  }

  private bump(change: Partial<Record<Counter, number>>): void {
    const next: Record<Counter, number> = { ...this.stats };
    for (const [key, value] of Object.entries(change) as [Counter, number][]) {
      next[key] = key === 'lastWriteAt' ? value : next[key] + value;
    }
    this.stats = { ...this.stats, ...next };
  }

  /** A backoff pause that stop() cuts short. */
  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.halt.signal }).catch(() => undefined);
  }

  async ensureGroups(): Promise<void> {
    if (this.groupsReady) return;
    for (const stream of this.options.streams) {
      try {
        await this.redis.xgroup('CREATE', stream, this.group, '0', 'MKSTREAM');
      } catch (error) {
        if (!(error instanceof Error && error.message.includes('BUSYGROUP'))) throw error;
      }
    }
    this.groupsReady = true;
  }

  /**
   * Reads one batch across all streams (one XREADGROUP on a single node, blocking up to `blockMs`
   * for new entries when there are none; one read per stream on a Cluster), writes it, then
   * acknowledges it. `from` '0' re-reads this consumer's pending entries. The reader connection is
   * dedicated (a blocking read stalls its connection).
   */
  async drainOnce(from: '>' | '0' | Map<string, string> = '>', blockMs = 0): Promise<number> {
    return this.drainStreams(this.options.streams, this.reader, from, blockMs);
  }

  /** drainOnce over some of the streams, on a reader connection of their own. */
  private async drainStreams(
    streams: readonly string[],
    reader: RedisClient,
    from: '>' | '0' | Map<string, string>,
    blockMs = 0,
  ): Promise<number> {
    await this.ensureGroups();
    const reply = await this.readGroup(streams, reader, from, blockMs);
    const entries: Entry[] = [];
    const gone: Entry[] = [];
    for (const [stream, list] of reply) {
      if (typeof from !== 'string' && list.length > 0) from.set(stream, list[list.length - 1]![0]);
      for (const [id, fields] of list) {
        // a pending entry trimmed or deleted meanwhile comes back without fields: nothing to write
        if (fields === null) gone.push({ stream, id, fields: [] });
        else entries.push({ stream, id, fields });
      }
    }
    if (gone.length > 0) await this.ack(gone);
    return (await this.processEntries(entries)) + gone.length;
  }

  /** The group's next entries of `streams` for this consumer (see the header for a Cluster). */
  private async readGroup(
    streams: readonly string[],
    reader: RedisClient,
    from: '>' | '0' | Map<string, string>,
    blockMs: number,
  ): Promise<NonNullable<StreamReply>> {
    const head: (string | number)[] = ['GROUP', this.group, this.options.consumer, 'COUNT', this.batchSize];
    const cursorOf = (stream: string): string =>
      typeof from === 'string' ? from : (from.get(stream) ?? '0');
    if (!this.onCluster) {
      const block = blockMs > 0 && from === '>' ? ['BLOCK', blockMs] : [];
      const args = [...head, ...block, 'STREAMS', ...streams, ...streams.map(cursorOf)];
      return ((await reader.call('XREADGROUP', ...args)) as StreamReply) ?? [];
    }
    const replies = await Promise.all(
      streams.map(
        (stream) =>
          reader.call('XREADGROUP', ...head, 'STREAMS', stream, cursorOf(stream)) as Promise<StreamReply>,
      ),
    );
    const reply = replies.flatMap((answer) => answer ?? []);
    if (blockMs > 0 && from === '>' && reply.every(([, list]) => list.length === 0) && !this.stopped) {
      await this.pause(Math.min(blockMs, this.options.clusterPollMs ?? DEFAULTS.writer.clusterPollMs));
    }
    return reply;
  }

  /** Claims entries idle for more than `claimIdleMs` from other consumers and writes them. */
  async claimIdle(): Promise<number> {
    await this.ensureGroups();
    const minIdle = this.options.claimIdleMs ?? DEFAULTS.writer.claimIdleMs;
    let total = 0;
    for (const stream of this.options.streams) {
      let cursor = '0-0';
      do {
        const reply = (await this.redis.call(
          'XAUTOCLAIM',
          stream,
          this.group,
          this.options.consumer,
          minIdle,
          cursor,
          'COUNT',
          this.batchSize,
        )) as [string, [string, string[] | null][], string[]?];
        cursor = reply[0];
        const entries: Entry[] = [];
        const gone: Entry[] = [];
        for (const [id, fields] of reply[1]) {
          if (fields === null) gone.push({ stream, id, fields: [] });
          else entries.push({ stream, id, fields });
        }
        if (gone.length > 0) await this.ack(gone);
        if (entries.length > 0) {
          this.bump({ claimed: entries.length });
          total += await this.processEntries(entries);
        }
      } while (cursor !== '0-0' && !this.stopped);
    }
    return total;
  }

  /**
   * Writes entries already delivered to this consumer, acknowledges them; returns how many. With
   * `lanes` > 1 the streams are spread over that many concurrent transactions (a stream's entries
   * stay in one lane, in order): shards share no projected rows, except an account that would
   * re-register in another province, which a retry sorts out.
   */
  async processEntries(entries: readonly Entry[]): Promise<number> {
    const lanes = this.options.lanes ?? DEFAULTS.writer.lanes;
    if (lanes <= 1 || entries.length === 0) return this.processLane(entries);
    const byLane = new Map<number, Entry[]>();
    for (const entry of entries) {
      const lane = Math.max(0, this.options.streams.indexOf(entry.stream)) % lanes;
      let list = byLane.get(lane);
      if (!list) byLane.set(lane, (list = []));
      list.push(entry);
    }
    const counts = await Promise.all([...byLane.values()].map((list) => this.processLane(list)));
    return counts.reduce((a, b) => a + b, 0);
  }

  private async processLane(entries: readonly Entry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const events: EngineEvent[] = [];
    for (const entry of entries) {
      try {
        events.push(decodeEvent(entry.stream, entry.id, entry.fields));
      } catch (error) {
        await this.deadLetter(entry, `decode: ${reasonOf(error)}`, 1, 'none');
      }
    }
    const deferred = events.length > 0 ? await this.writeEvents(events, entries) : new Set<string>();
    await this.ack(
      deferred.size === 0 ? entries : entries.filter((e) => !deferred.has(`${e.stream}|${e.id}`)),
    );
    return entries.length;
  }

  /** Writes the same entries the way the writer does, without a consumer group (reconcile --repair). */
  async writeRange(stream: string, raw: readonly [string, string[]][]): Promise<number> {
    const events: EngineEvent[] = [];
    for (const [id, fields] of raw) {
      try {
        events.push(decodeEvent(stream, id, fields));
      } catch {
        // left to the writer's own dead-lettering
      }
    }
    if (events.length === 0) return 0;
    const deferred = await this.writeEvents(
      events,
      raw.map(([id, fields]) => ({ stream, id, fields })),
      false,
    );
    return events.length - deferred.size;
  }

  /** Writes events (batch, else one by one); returns the entries deferred (`stream|id`), not to be acked. */
  private async writeEvents(
    events: readonly EngineEvent[],
    entries: readonly Entry[],
    inGroup = true,
  ): Promise<Set<string>> {
    const deferred = new Set<string>();
    const batch = await this.outlast(() => this.commit(events));
    if (batch.ok) return deferred;
    this.options.onError?.(batch.error);
    // bad data: isolate the failing event(s), one transaction per event
    const byId = new Map(entries.map((entry) => [`${entry.stream}|${entry.id}`, entry]));
    for (const event of events) {
      const entry = byId.get(`${event.stream}|${event.eventId.slice(event.eventId.indexOf('/') + 1)}`)!;
      if ((await this.writeOne(event, entry, inGroup)) === 'deferred')
        deferred.add(`${entry.stream}|${entry.id}`);
    }
    return deferred;
  }

  /**
   * One event in its own transaction. A missing dependency (its creating event is held by another
   * consumer, e.g. a dead one whose entries are not claimed yet) is retried once, then deferred:
   * left pending, unacknowledged, so that XAUTOCLAIM delivers it again (in id order, after what it
   * depends on) once idle; it is dead-lettered only after `maxDeliveries` deliveries. Other bad data
   * is dead-lettered after `maxAttempts`; an outage is waited out, however long, and never counts.
   */
  private async writeOne(
    event: EngineEvent,
    entry: Entry,
    inGroup: boolean,
  ): Promise<'written' | 'deferred' | 'dead'> {
    for (let failures = 1; ; failures++) {
      const attempt = await this.outlast(() => this.commit([event]));
      if (attempt.ok) return 'written';
      const error = attempt.error;
      if (error instanceof MissingDependencyError) {
        if (failures < 2) {
          this.bump({ retries: 1 });
          await this.pause(this.backoff(failures)); // another writer may be committing it right now
          continue;
        }
        if (!inGroup) return 'deferred';
        // worth waiting for only if it may still come: on another stream (bounded by the
        // deliveries), or an older entry of its stream is still pending with another consumer or
        // deferred by this one; otherwise what it depends on was dead-lettered or never existed
        if (
          (error.crossStream || (await this.olderPendingOrDeferred(entry))) &&
          (await this.deliveries(entry)) < (this.options.maxDeliveries ?? 3)
        ) {
          this.bump({ deferred: 1 });
          this.defer(entry);
          return 'deferred';
        }
      } else if (!(error instanceof PoisonEventError) && failures < this.maxAttempts) {
        this.bump({ retries: 1 });
        await this.pause(this.poisonBackoff(failures)); // a constraint error is retried briefly
        continue;
      }
      const stored = await this.storeEventOnly(event);
      await this.deadLetter(entry, reasonOf(error), failures, stored ? 'event' : 'none');
      return 'dead';
    }
  }

  /**
   * Runs `write` until it succeeds or PostgreSQL refuses its data; an outage (isTransient) is
   * waited out with exponential backoff however long it lasts, so that what the writer holds stays
   * pending instead of being dead-lettered (issue 16 item 9, I5). The first failure of an episode
   * starts it (reported once, in the stats at once); the episode ends when PostgreSQL answers again
   * every write that was waiting. Throws Stopped when the writer stops meanwhile.
   */
  private async outlast<T>(write: () => Promise<T>): Promise<Attempt<T>> {
    let waiting = false;
    let answered = false;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const value = await write();
          answered = true;
          return { ok: true, value };
        } catch (error) {
          this.bump({ errors: 1 });
          if (!isTransient(error)) {
            answered = true;
            return { ok: false, error };
          }
          if (!waiting) {
            waiting = true;
            this.outageBegins(error);
          }
          if (this.stopped) throw new Stopped('writer stopped during a PostgreSQL outage');
          this.bump({ retries: 1 });
          await this.pause(this.backoff(attempt));
        }
      }
    } finally {
      if (waiting) this.outageEnds(answered);
    }
  }

  private outageBegins(error: unknown): void {
    if (this.waitingOutOutage++ > 0) return;
    this.outageSince = Date.now();
    this.stats = { ...this.stats, outage: true, outages: this.stats.outages + 1 };
    this.options.onError?.(outageOf(error));
    // the housekeeping lane may be the one waiting: the stats would say nothing until it is over
    this.publishStats().catch(() => undefined);
  }

  private outageEnds(answered: boolean): void {
    if (--this.waitingOutOutage > 0) return;
    this.stats = { ...this.stats, outage: false };
    if (answered) this.options.onRecovered?.({ durationMs: Date.now() - this.outageSince });
    this.publishStats().catch(() => undefined);
  }

  /**
   * A dead-lettered event is still recorded in `events` when it can be (I5: the event itself is not
   * lost; only its projection is, which the dead letter and reconcile report). True when stored.
   */
  private async storeEventOnly(event: EngineEvent): Promise<boolean> {
    const row: EventRow = {
      eventId: event.eventId,
      stream: event.stream,
      type: event.type,
      atMs: event.at,
      data: event.data,
    };
    return (await this.outlast(() => insertEventsReturning(this.db, [row]))).ok;
  }

  /** How many times the group delivered this entry (XPENDING … id id 1); Infinity when not pending. */
  private async deliveries(entry: Entry): Promise<number> {
    const reply = (await this.redis.xpending(entry.stream, this.group, entry.id, entry.id, 1)) as [
      string,
      string,
      number,
      number,
    ][];
    return reply[0] ? Number(reply[0][3]) : Infinity;
  }

  /**
   * Whether an entry older than `entry` is pending in the group with another consumer, or was
   * deferred by this one (e.g. a re-bind's BOUND waiting on another stream: a DELETED of that
   * binding behind it waits with it instead of being dead-lettered).
   */
  private async olderPendingOrDeferred(entry: Entry): Promise<boolean> {
    for (const deferred of this.deferredEntries) {
      const [stream, id] = deferred.split('|') as [string, string];
      if (stream === entry.stream && compareIds(id, entry.id) < 0) return true;
    }
    let start = '-';
    for (;;) {
      const reply = (await this.redis.xpending(entry.stream, this.group, start, `(${entry.id}`, 1000)) as [
        string,
        string,
        number,
        number,
      ][];
      if (reply.some(([, consumer]) => consumer !== this.options.consumer)) return true;
      if (reply.length < 1000) return false;
      start = `(${reply[reply.length - 1]![0]}`;
    }
  }

  private poisonBackoff(attempt: number): number {
    return Math.min(this.backoff(attempt), ((this.options.backoffBaseMs ?? 50) / 5) * 2 ** attempt);
  }

  private async commit(events: readonly EngineEvent[]): Promise<void> {
    const rows: EventRow[] = events.map((event) => ({
      eventId: event.eventId,
      stream: event.stream,
      type: event.type,
      atMs: event.at,
      data: event.data,
    }));
    const fresh = await withTransaction(this.db, async (client) => {
      const inserted =
        this.options.insertWith === 'copy'
          ? await insertEventsCopy(client, rows)
          : await insertEventsReturning(client, rows);
      const newEvents = events.filter((event) => inserted.has(event.eventId));
      await projectEvents(client, newEvents);
      return newEvents.length;
    });
    const now = Date.now();
    this.bump({ written: fresh, duplicates: events.length - fresh, batches: 1, lastWriteAt: now });
    this.options.onCommitted?.(
      events.map((event) => event.eventId.slice(event.eventId.indexOf('/') + 1)),
      now,
    );
  }

  private backoff(attempt: number): number {
    const base = this.options.backoffBaseMs ?? 50;
    const max = this.options.backoffMaxMs ?? 5_000;
    const delay = Math.min(max, base * 2 ** Math.min(attempt, 16));
    return delay / 2 + Math.random() * (delay / 2);
  }

  private async deadLetter(
    entry: Entry,
    reason: string,
    attempts: number,
    stored: 'event' | 'none',
  ): Promise<void> {
    await this.redis.xadd(
      this.keys.deadLetters(entry.stream),
      '*',
      'stream',
      entry.stream,
      'id',
      entry.id,
      'reason',
      reason.slice(0, 2000),
      'attempts',
      String(attempts),
      // 'event': the event row is in PostgreSQL, its projection is not; 'none': neither
      'stored',
      stored,
      'consumer',
      this.options.consumer,
      'failedAt',
      String(Date.now()),
      ...entry.fields,
    );
    this.bump({ deadLetters: 1 });
    this.options.onDeadLetter?.({ stream: entry.stream, entryId: entry.id, reason, attempts });
    this.options.onError?.(new Error(`dead-lettered ${entry.stream} ${entry.id}: ${reason}`));
  }

  private async ack(entries: readonly Entry[]): Promise<void> {
    const byStream = new Map<string, string[]>();
    for (const entry of entries) {
      let ids = byStream.get(entry.stream);
      if (!ids) byStream.set(entry.stream, (ids = []));
      ids.push(entry.id);
    }
    const results = await execKeyed(
      this.redis,
      [...byStream].map(([stream, ids]) => ({
        key: stream,
        add: (pipeline) => pipeline.xack(stream, this.group, ...ids),
      })),
    );
    for (const [error] of results) if (error) throw error;
    // written or dead-lettered, however it got there: nothing waits behind it any more
    for (const entry of entries) {
      this.deferredEntries.delete(`${entry.stream}|${entry.id}`);
      this.deferredRetries.delete(`${entry.stream}|${entry.id}`);
    }
  }

  /** Leaves an entry pending for a dependency, and plans this writer's own next try of it. */
  private defer(entry: Entry): void {
    const key = `${entry.stream}|${entry.id}`;
    this.deferredEntries.add(key);
    this.planRetry(key, entry, (this.deferredRetries.get(key)?.tries ?? 0) + 1);
  }

  private planRetry(key: string, entry: Entry, tries: number): void {
    if (tries > DEFERRED_RETRIES) this.deferredRetries.delete(key);
    else this.deferredRetries.set(key, { entry, tries, at: Date.now() + this.retryDelay(tries) });
  }

  private retryDelay(tries: number): number {
    const cap = this.options.claimIdleMs ?? DEFAULTS.writer.claimIdleMs;
    return Math.min(Math.max(cap, DEFERRED_RETRY_MS), DEFERRED_RETRY_MS * 2 ** Math.min(tries - 1, 16));
  }

  /**
   * This writer's deferred entries of `streams` that are due, tried again: per stream, in id order,
   * in one transaction; written, they are acknowledged; refused again (the dependency still
   * missing, bad data, or an outage, which the main path reports and waits out), they wait for the
   * next try or for XAUTOCLAIM, which alone dead-letters. Returns how many were written.
   */
  private async retryDeferred(streams: ReadonlySet<string>): Promise<number> {
    const now = Date.now();
    const byStream = new Map<string, DeferredRetry[]>();
    for (const retry of this.deferredRetries.values()) {
      if (retry.at > now || !streams.has(retry.entry.stream)) continue;
      const list = byStream.get(retry.entry.stream);
      if (list) list.push(retry);
      else byStream.set(retry.entry.stream, [retry]);
    }
    let written = 0;
    for (const [stream, retries] of byStream) {
      if (this.stopped) break;
      retries.sort((a, b) => compareIds(a.entry.id, b.entry.id));
      const entries = retries.map((retry) => retry.entry);
      try {
        await this.commit(entries.map((entry) => decodeEvent(stream, entry.id, entry.fields)));
      } catch {
        for (const retry of retries)
          this.planRetry(`${stream}|${retry.entry.id}`, retry.entry, retry.tries + 1);
        continue;
      }
      await this.ack(entries);
      written += entries.length;
    }
    return written;
  }

  /** XTRIM MINID below what every group still needs; returns how many entries went. */
  async trim(): Promise<number> {
    const retainMs = this.options.retainMs ?? DEFAULTS.writer.retainMs;
    const horizon = `${Math.max(0, Date.now() - retainMs)}-0`;
    let trimmed = 0;
    for (const stream of this.options.streams) {
      let groups: unknown[];
      try {
        groups = await xinfoGroups(this.redis, stream);
      } catch {
        continue; // no stream yet
      }
      let minId = horizon;
      for (const flat of groups) {
        const info: Record<string, unknown> = {};
        if (Array.isArray(flat))
          for (let i = 0; i + 1 < flat.length; i += 2) info[String(flat[i])] = flat[i + 1];
        const name = String(info.name);
        const pending = (await this.redis.xpending(stream, name)) as [
          number,
          string | null,
          string | null,
          unknown,
        ];
        const lastDelivered = info['last-delivered-id'];
        const keep =
          Number(pending[0]) > 0 && pending[1]
            ? pending[1]
            : typeof lastDelivered === 'string'
              ? lastDelivered
              : '0-0';
        if (compareIds(keep, minId) < 0) minId = keep;
      }
      if (minId === '0-0') continue;
      trimmed += Number(await this.redis.call('XTRIM', stream, 'MINID', minId));
    }
    this.bump({ trimmed });
    return trimmed;
  }

  async publishStats(): Promise<void> {
    await this.redis.hset(
      this.statsKey,
      this.options.consumer,
      JSON.stringify({ ...this.stats, updatedAt: Date.now() }),
    );
  }

  /**
   * Runs the writer until stop(). With `lanes` > 1 each lane is a loop of its own over its streams
   * (the same stream → lane split as processEntries), with its own blocking reader: a lane reads
   * and decodes its next batch while the others' transactions run, instead of every lane waiting
   * for the slowest at each batch. Lane 0 also claims, trims and publishes the stats.
   */
  start(): void {
    const lanes = Math.max(1, this.options.lanes ?? DEFAULTS.writer.lanes);
    const streamsOf = (lane: number) => this.options.streams.filter((_, index) => index % lanes === lane);
    const loops = Array.from(
      { length: Math.min(lanes, Math.max(1, this.options.streams.length)) },
      (_, lane) => {
        const reader = lane === 0 ? this.reader : this.laneReader();
        return this.runLane(lanes === 1 ? this.options.streams : streamsOf(lane), reader, lane === 0);
      },
    );
    this.loop = Promise.all(loops).then(() => undefined);
  }

  private laneReader(): RedisClient {
    const reader = this.redis.duplicate();
    reader.on('error', () => undefined);
    this.laneReaders.push(reader);
    return reader;
  }

  private async runLane(
    streams: readonly string[],
    reader: RedisClient,
    housekeeping: boolean,
  ): Promise<void> {
    // whatever this consumer had read but not acknowledged: before a crash, or before a read or an
    // acknowledgement failed (a master failing over: the entries are pending on the promoted one);
    // with a cursor per stream, so that entries it defers again are not re-read in a loop
    const drainOwnPending = async (): Promise<void> => {
      const cursors = new Map<string, string>();
      while (!this.stopped && (await this.safely(() => this.drainStreams(streams, reader, cursors))) !== 0);
    };
    const own = new Set(streams);
    await drainOwnPending();
    while (!this.stopped) {
      const now = Date.now();
      if (
        housekeeping &&
        now - this.lastClaimAt >= (this.options.claimIntervalMs ?? DEFAULTS.writer.claimIntervalMs)
      ) {
        this.lastClaimAt = now;
        await this.safely(() => this.claimIdle());
      }
      if (housekeeping && now - this.lastTrimAt >= (this.options.trimIntervalMs ?? 10_000)) {
        this.lastTrimAt = now;
        await this.safely(() => this.trim());
      }
      if (housekeeping && now - this.lastStatsAt >= 1_000) {
        this.lastStatsAt = now;
        await this.safely(() => this.publishStats().then(() => 0));
      }
      // in this lane's loop, so that its streams' entries stay in order
      if (this.deferredRetries.size > 0) await this.safely(() => this.retryDeferred(own));
      const written = await this.safely(() =>
        this.drainStreams(streams, reader, '>', this.options.idleMs ?? 200),
      );
      // what it wrote may be unacknowledged: again now, not after XAUTOCLAIM's `claimIdleMs`
      if (written === undefined && !this.stopped) {
        await drainOwnPending();
        continue;
      }
      // a partial batch means the writer is keeping up: let the next one fill for a moment, so
      // that under a steady trickle it writes a few big batches instead of many tiny ones (each
      // batch costs a transaction and its statements whatever its size)
      const linger = this.options.lingerMs ?? 50;
      if (linger > 0 && written !== undefined && written > 0 && written < this.batchSize && !this.stopped) {
        await this.pause(linger);
      }
    }
  }

  /** Runs one step; a failure (Redis down, writer stopping) is counted, reported and backed off. */
  private async safely(step: () => Promise<number>): Promise<number | undefined> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof Stopped) return undefined;
      this.bump({ errors: 1 });
      this.options.onError?.(error);
      if (!this.stopped) await this.pause(500);
      return undefined;
    }
  }

  /**
   * Stops after the batch in hand, waiting at most `graceMs` for it (issue 16 item 16): on a Redis
   * that is gone a read or an acknowledgement waits for ever (the connections reconnect without
   * limit), so past it the loop is abandoned and its readers disconnected. What it had read and not
   * acknowledged stays pending and is delivered again, which changes nothing (I5). The connections
   * given to the constructor are the caller's to close.
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.stopped = true;
    this.halt.abort();
    await settlesWithin(this.loop, graceMs);
    this.reader.disconnect();
    for (const reader of this.laneReaders) reader.disconnect();
  }
}
