/**
 * Prometheus metrics of one gateway thread (prom-client). Every thread keeps its own registry;
 * the thread that answers GET /metrics asks the main thread, which collects every thread's and
 * merges them (gateway/server.ts), so /metrics always shows the whole process.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { deadLetterStreamOf, type KeySpace } from '../engine/keys.ts';
import { WRITER_GROUP } from '../engine/outbox.ts';
import type { RedisNodeStats } from '../engine/redisDurability.ts';
import { execKeyed, type KeyedCommand, type RedisClient } from '../engine/redisClient.ts';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly reservations = new Counter({
    name: 'reservations_total',
    help: 'Reservation attempts by kind (WRITTEN, ORAL) and outcome (OK or the refusal code)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'admission_in_flight',
    help: 'Requests admitted and not yet answered (this thread)',
    registers: [this.registry],
  });
  readonly shed = new Counter({
    name: 'admission_shed_total',
    help: 'Requests refused by admission control, by code (OVERLOADED, RATE_LIMITED) and priority class',
    labelNames: ['code', 'class'] as const,
    registers: [this.registry],
  });
  readonly admissionLimit = new Gauge({
    name: 'admission_limit',
    help: 'The adaptive concurrency limit (this thread)',
    registers: [this.registry],
  });
  readonly wsClients = new Gauge({
    name: 'ws_dashboard_clients',
    help: 'Connected dashboard WebSockets (this thread)',
    registers: [this.registry],
  });
  /**
   * Sets `redisMemoryUsedRatio` and the `redis_node_*` gauges from Redis at each collection
   * (gateway/routes/ops.ts: one reading for all of them); never rejects.
   */
  readRedisMemory: (() => Promise<void>) | undefined;
  /** The one Redis's fill: every thread reads it, the merge keeps the highest (issue 16 item 2). */
  readonly redisMemoryUsedRatio: Gauge = new Gauge({
    name: 'redis_memory_used_ratio',
    help: 'Redis used_memory / maxmemory (0: no maxmemory); GET /readyz fails from 0.9',
    aggregator: 'max',
    registers: [this.registry],
    collect: () => this.readRedisMemory?.(),
  });

  /** Per Redis node (issue 14 item 1), read with the memory gauge; a node gone drops out. */
  readonly redisNodeMemoryUsedRatio = new Gauge({
    name: 'redis_node_memory_used_ratio',
    help: 'used_memory / maxmemory of each Redis node (0: no maxmemory)',
    labelNames: ['node', 'role'] as const,
    aggregator: 'max',
    registers: [this.registry],
    collect: () => this.readRedisMemory?.(),
  });
  readonly redisNodeCommandsProcessed = new Gauge({
    name: 'redis_node_commands_processed',
    help: "Each Redis node's total_commands_processed since it started (rate() it for commands/s)",
    labelNames: ['node', 'role'] as const,
    aggregator: 'max',
    registers: [this.registry],
    collect: () => this.readRedisMemory?.(),
  });
  readonly redisNodeConnectedReplicas = new Gauge({
    name: 'redis_node_connected_replicas',
    help: "Each Redis master's connected replicas (REDIS_WAIT_REPLICAS needs that many)",
    labelNames: ['node'] as const,
    aggregator: 'max',
    registers: [this.registry],
    collect: () => this.readRedisMemory?.(),
  });
  readonly redisNodeReplicaLinkUp = new Gauge({
    name: 'redis_node_replica_link_up',
    help: "Each Redis replica's link to its master (1 up, 0 down)",
    labelNames: ['node'] as const,
    aggregator: 'min',
    registers: [this.registry],
    collect: () => this.readRedisMemory?.(),
  });

  /** The per-node gauges from one reading: nodes no longer seen are dropped. */
  setRedisNodes(nodes: readonly RedisNodeStats[]): void {
    for (const gauge of [
      this.redisNodeMemoryUsedRatio,
      this.redisNodeCommandsProcessed,
      this.redisNodeConnectedReplicas,
      this.redisNodeReplicaLinkUp,
    ]) {
      gauge.reset();
    }
    for (const node of nodes) {
      const labels = { node: node.node, role: node.role };
      this.redisNodeMemoryUsedRatio.set(labels, node.memoryUsedRatio);
      this.redisNodeCommandsProcessed.set(labels, node.commandsProcessed);
      if (node.role === 'master')
        this.redisNodeConnectedReplicas.set({ node: node.node }, node.connectedReplicas);
      else this.redisNodeReplicaLinkUp.set({ node: node.node }, node.linkUp ? 1 : 0);
    }
  }

  constructor(options: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    if (options.labels) this.registry.setDefaultLabels(options.labels);
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}

// ------------------------------------------------------------------ merging the threads (main process)

/**
 * How long the merge waits for one thread's registry (issue 16 item 13): a thread that died or is
 * stuck must not hang /metrics (and keep the asking request's admission slot) for ever.
 */
export const METRICS_THREAD_WAIT_MS = 2_000;

/** What one collection brought back. */
export interface CollectedParts {
  /** Each answering thread's registry (prom-client's getMetricsAsJSON). */
  readonly parts: object[];
  /** Threads whose registry is not in `parts` (dead, or not answering within the wait). */
  readonly missing: number;
}

interface OpenCollection<T> {
  readonly waiting: Set<T>;
  readonly parts: object[];
  readonly total: number;
  readonly done: (collected: CollectedParts) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The main thread's side of /metrics: asks every live app thread for its registry and collects
 * the answers, each collection ending when all have answered, when those still awaited have
 * exited (`gone`), or after `waitMs`, whichever comes first. It never rejects and never waits
 * longer than `waitMs`. `T` is a thread's handle (a Worker; a fake in tests).
 */
export class MetricsCollector<T> {
  private nextId = 1;
  private readonly open = new Map<number, OpenCollection<T>>();

  constructor(
    /** Sends thread `thread` the request for collection `id`; it answers through `part`. */
    private readonly ask: (thread: T, id: number) => void,
    private readonly waitMs = METRICS_THREAD_WAIT_MS,
  ) {}

  /** Collects from `live` threads; `total` threads should exist (the dead ones count as missing). */
  collect(live: Iterable<T>, total: number): Promise<CollectedParts> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      const waiting = new Set(live);
      const timer = setTimeout(() => this.finish(id), this.waitMs);
      timer.unref?.();
      this.open.set(id, { waiting, parts: [], total, done: resolve, timer });
      for (const thread of [...waiting]) {
        try {
          this.ask(thread, id);
        } catch {
          waiting.delete(thread); // a thread that cannot be asked (exited) is missing
        }
      }
      if (waiting.size === 0) this.finish(id);
    });
  }

  /** Thread `thread`'s registry for collection `id` (late or unknown answers are dropped). */
  part(thread: T, id: number, metrics: object): void {
    const collection = this.open.get(id);
    if (!collection?.waiting.delete(thread)) return;
    collection.parts.push(metrics);
    if (collection.waiting.size === 0) this.finish(id);
  }

  /** Thread `thread` exited: no collection waits for it any more. */
  gone(thread: T): void {
    for (const [id, collection] of this.open) {
      if (collection.waiting.delete(thread) && collection.waiting.size === 0) this.finish(id);
    }
  }

  /** Collections not ended yet. */
  get pending(): number {
    return this.open.size;
  }

  private finish(id: number): void {
    const collection = this.open.get(id);
    if (!collection) return;
    this.open.delete(id);
    clearTimeout(collection.timer);
    collection.done({
      parts: collection.parts,
      missing: Math.max(0, collection.total - collection.parts.length),
    });
  }
}

/** `work`'s value, or `fallback` when it rejects or takes longer than `ms`. */
export async function valueWithin<V>(work: Promise<V>, ms: number, fallback: V): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work.catch(() => fallback),
      new Promise<V>((resolve) => {
        timer = setTimeout(resolve, ms, fallback);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Prometheus text of the app threads: how many serve the port, and how many the merge lacks. */
export function threadMetricsText(
  threads: number,
  missing: number,
  osThreads: { readonly main: number | null; readonly app: readonly (number | null)[] } = {
    main: null,
    app: [],
  },
): string {
  const info = [
    ...(osThreads.main === null ? [] : [`gateway_thread_info{role="main",tid="${osThreads.main}"} 1`]),
    ...osThreads.app.flatMap((tid, index) =>
      tid === null ? [] : [`gateway_thread_info{role="app",index="${index}",tid="${tid}"} 1`],
    ),
  ];
  return (
    `# HELP gateway_threads App threads serving the port\n# TYPE gateway_threads gauge\ngateway_threads ${threads}\n` +
    '# HELP metrics_threads_missing App threads whose metrics are not in this answer (dead, or no answer within 2 s)\n' +
    `# TYPE metrics_threads_missing gauge\nmetrics_threads_missing ${missing}\n` +
    (info.length === 0
      ? ''
      : '# HELP gateway_thread_info The OS thread id (/proc/<pid>/task/<tid>) of the main thread and each app thread, for per-thread CPU\n' +
        `# TYPE gateway_thread_info gauge\n${info.join('\n')}\n`)
  );
}

// ------------------------------------------------------------------ persistence (main process)

/** What the writer and sweeper gauges say; read from Redis (the writer and sweeper run anywhere). */
export interface PersistenceGauges {
  /** Entries of the outbox streams not yet acknowledged by the writer group (pending + undelivered). */
  readonly writerLagEvents: number;
  /** Age of the oldest of them (s), against Redis's own clock. */
  readonly writerLagSeconds: number;
  /** Entries in the dead-letter streams. */
  readonly deadLetters: number;
  /** How far behind `now` the oldest due deadline not yet processed is (s). */
  readonly sweeperLagSeconds: number;
}

const entryMs = (id: string): number => Number(id.slice(0, id.indexOf('-')));

/**
 * Reads the persistence gauges: per stream XINFO GROUPS (lag, last-delivered-id), XPENDING (count,
 * oldest) and the dead-letter stream's XLEN; per province the oldest due deadline ≤ now. One
 * pipeline on a single node; on a Redis Cluster one per shard, each on the shard's master
 * (engine/redisClient.ts execKeyed; issue 14: the gauges cover every node).
 */
export async function readPersistenceGauges(
  redis: RedisClient,
  streams: readonly string[],
  dueSets: readonly string[],
  now: number,
  group = WRITER_GROUP,
): Promise<PersistenceGauges> {
  const commands: KeyedCommand[] = [];
  for (const stream of streams) {
    commands.push(
      { key: stream, add: (p) => p.xinfo('GROUPS', stream) },
      { key: stream, add: (p) => p.xpending(stream, group) },
      { key: stream, add: (p) => p.xlen(deadLetterStreamOf(stream)) },
      { key: stream, add: (p) => p.xlen(stream) },
    );
  }
  for (const dueSet of dueSets) {
    commands.push({
      key: dueSet,
      add: (p) => p.zrangebyscore(dueSet, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1),
    });
  }
  // Redis's own clock (the one that stamped the entry ids), from any node
  commands.push({ key: streams[0] ?? dueSets[0] ?? '', add: (p) => p.time() });
  const answers = await execKeyed(redis, commands);
  const [, time] = answers[answers.length - 1]!;
  const [seconds, micros] = (time as [string, string] | undefined) ?? [String(Date.now() / 1000), '0'];
  const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  let lagEvents = 0;
  let oldest = Infinity;
  let deadLetters = 0;
  const firstUndelivered: { stream: string; after: string }[] = [];
  streams.forEach((stream, i) => {
    const [infoError, info] = answers[4 * i]!;
    const [pendingError, pending] = answers[4 * i + 1]!;
    const [, dead] = answers[4 * i + 2]!;
    const [, length] = answers[4 * i + 3]!;
    deadLetters += Number(dead ?? 0);
    if (infoError) return; // no stream yet
    const groupInfo = (info as unknown[][])
      .map((flat) => {
        const record: Record<string, unknown> = {};
        for (let k = 0; k + 1 < flat.length; k += 2) record[String(flat[k])] = flat[k + 1];
        return record;
      })
      .find((g) => g.name === group);
    const summary = pendingError ? null : (pending as [number, string | null] | null);
    const pendingCount = summary ? Number(summary[0]) : 0;
    lagEvents += pendingCount;
    if (pendingCount > 0 && summary?.[1]) oldest = Math.min(oldest, entryMs(summary[1]));
    // no group yet: the writer has not started, everything is undelivered
    const undelivered = groupInfo ? Number(groupInfo.lag ?? 0) : Number(length ?? 0);
    lagEvents += undelivered;
    if (!groupInfo || undelivered > 0) {
      firstUndelivered.push({ stream, after: groupInfo ? String(groupInfo['last-delivered-id']) : '' });
    }
  });
  if (firstUndelivered.length > 0) {
    const second = await execKeyed(
      redis,
      firstUndelivered.map(({ stream, after }) => ({
        key: stream,
        add: (p) => p.xrange(stream, after ? `(${after}` : '-', '+', 'COUNT', 1),
      })),
    );
    for (const [error, entries] of second) {
      const entry = error ? undefined : (entries as [string, string[]][])[0];
      if (entry) oldest = Math.min(oldest, entryMs(entry[0]));
    }
  }
  let oldestDue = Infinity;
  dueSets.forEach((_, i) => {
    const [, reply] = answers[4 * streams.length + i]!;
    const score = (reply as string[] | undefined)?.[1];
    if (score !== undefined) oldestDue = Math.min(oldestDue, Number(score));
  });
  return {
    writerLagEvents: lagEvents,
    writerLagSeconds: oldest === Infinity ? 0 : Math.max(0, redisNow - oldest) / 1000,
    deadLetters,
    sweeperLagSeconds: oldestDue === Infinity ? 0 : Math.max(0, now - oldestDue) / 1000,
  };
}

/** Prometheus text of the persistence gauges (appended to the merged /metrics). */
export function persistenceMetricsText(gauges: PersistenceGauges): string {
  const gauge = (name: string, help: string, value: number): string =>
    `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${value}\n`;
  return (
    gauge(
      'writer_lag_events',
      'Outbox entries not yet in PostgreSQL (pending + undelivered to the writer group)',
      gauges.writerLagEvents,
    ) +
    gauge(
      'writer_lag_seconds',
      'Age of the oldest outbox entry not yet in PostgreSQL',
      gauges.writerLagSeconds,
    ) +
    gauge(
      'writer_dead_letters',
      'Events moved to the dead-letter streams (alert when > 0)',
      gauges.deadLetters,
    ) +
    gauge(
      'sweeper_lag_seconds',
      'How far behind now the oldest due deadline not yet processed is',
      gauges.sweeperLagSeconds,
    )
  );
}

// ------------------------------------------------------------------ waiting rooms (main process)

/** One province's waiting room as /metrics shows it. */
export interface RoomGauges {
  readonly provinceCode: string;
  /** PREQUEUE + WAITING tickets. */
  readonly waiting: number;
  /** The measured admission rate (the keeper's smoothed service rate), per minute. */
  readonly admittedPerMinute: number;
  /** Admitted candidates holding a slot at the keeper's last tick, and its target. */
  readonly activeCandidates: number;
  readonly targetActive: number;
}

/**
 * Reads every room's counters (engine/lua/includes/queue.lua's hash): one SMEMBERS, then one
 * pipeline of HMGET + LLEN (the PREQUEUE list, which is the line before the draw) per room.
 */
export async function readRoomGauges(redis: RedisClient, keys: KeySpace): Promise<RoomGauges[]> {
  const provinces = (await redis.smembers(keys.queueRooms)).sort();
  if (provinces.length === 0) return [];
  const answers = await execKeyed(
    redis,
    provinces.flatMap((code): KeyedCommand[] => {
      const q = keys.province(code).queue;
      return [
        {
          key: q.room,
          add: (p) => p.hmget(q.room, 'phase', 'n', 'late', 'head', 'rate', 'lastActive', 'target'),
        },
        { key: q.prequeue, add: (p) => p.llen(q.prequeue) },
      ];
    }),
  );
  return provinces.map((provinceCode, i) => {
    const [phase, n, late, head, rate, active, target] = (answers[2 * i]?.[1] ?? []) as (string | null)[];
    const prequeued = Number(answers[2 * i + 1]?.[1] ?? 0);
    const line = (phase ?? 'PRE') === 'PRE' ? prequeued : Number(n ?? 0);
    return {
      provinceCode,
      waiting: Math.max(0, line + Number(late ?? 0) - Number(head ?? 0)),
      admittedPerMinute: Math.round(Number(rate ?? 0) * 60),
      activeCandidates: Number(active ?? 0),
      targetActive: Number(target ?? 0),
    };
  });
}

/** Prometheus text of the waiting rooms' gauges, labelled by province. */
export function roomMetricsText(rooms: readonly RoomGauges[]): string {
  if (rooms.length === 0) return '';
  const family = (name: string, help: string, value: (room: RoomGauges) => number): string =>
    `# HELP ${name} ${help}\n# TYPE ${name} gauge\n` +
    rooms.map((room) => `${name}{province="${room.provinceCode}"} ${value(room)}\n`).join('');
  return (
    family('queue_waiting', 'Tickets waiting in the line (PREQUEUE + WAITING)', (r) => r.waiting) +
    family(
      'queue_admitted_per_minute',
      'The measured admission rate (slots given back while people wait), per minute',
      (r) => r.admittedPerMinute,
    ) +
    family(
      'queue_active',
      'Admitted candidates holding a slot (last keeper tick)',
      (r) => r.activeCandidates,
    ) +
    family('queue_target_active', "The keeper's target of candidates active at once", (r) => r.targetActive)
  );
}
