/**
 * The one way the product and its tools open Redis (issue 14 item 1): a single node (REDIS_URL)
 * or, when REDIS_CLUSTER_NODES names seed nodes, an ioredis `Cluster` over the same keys. Every key
 * of one script shares a hash tag (engine/keys.ts), so the scripts run unchanged; what differs is
 * code that reaches several shards at once, and this module owns those differences:
 *  - `masterNodes`: each master once, for what is per node (INFO, SCRIPT, PING, SCAN);
 *  - `scanKeys`: SCAN on every master (a cluster's own SCAN would list one node's keys);
 *  - `execKeyed`: single-key commands over many shards in one batch: one pipeline on a single
 *    node, one pipeline per hash tag on a Cluster (ioredis refuses a pipeline that spans nodes);
 *  - `xinfoGroups`: XINFO GROUPS on the stream's master (XINFO names its key as an argument, so
 *    ioredis would send it to a random node and follow the MOVED, refreshing its slot map each time).
 * Auto-pipelining stays off on a Cluster: ioredis routes an auto-pipelined script by its first
 * argument, which for a script with a variable key count is the count (redis/ioredis#2109).
 * This module reads no environment: callers pass the configuration (config/index.ts).
 */
import { Cluster, Redis, type ChainableCommander } from 'ioredis';

/** A connection to Redis, single node or Cluster (the engine's `EngineRedis`). */
export type RedisClient = Redis | Cluster;

/** Where Redis is (config/schema.ts: REDIS_URL, REDIS_CLUSTER_NODES). */
export interface RedisTarget {
  /** A single node; ignored when `redisClusterNodes` names a cluster. */
  readonly redisUrl: string;
  /** Seed nodes of a Redis Cluster, `host:port,host:port,…`; '' for a single node. */
  readonly redisClusterNodes: string;
}

export interface OpenRedisOptions {
  /** Single node only: a Cluster never auto-pipelines (redis/ioredis#2109). */
  readonly enableAutoPipelining?: boolean;
  /** ioredis's retries of a command over reconnections (per node on a Cluster); null: for ever. */
  readonly maxRetriesPerRequest?: number | null;
  readonly enableOfflineQueue?: boolean;
  /** Connect on `connect()` (or the first command) instead of at once. */
  readonly lazyConnect?: boolean;
  /** CLIENT SETNAME of the connection(s). */
  readonly connectionName?: string;
}

export interface ClusterNode {
  readonly host: string;
  readonly port: number;
}

/** REDIS_CLUSTER_NODES as nodes; empty for ''. Throws on an entry that is not `host:port`. */
export function clusterNodesOf(text: string): ClusterNode[] {
  if (text.trim() === '') return [];
  return text.split(',').map((entry) => {
    const trimmed = entry.trim();
    const colon = trimmed.lastIndexOf(':');
    const host = trimmed.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(trimmed.slice(colon + 1));
    if (colon <= 0 || host === '' || !Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new Error(`REDIS_CLUSTER_NODES: "${trimmed}" is not host:port`);
    }
    return { host, port };
  });
}

/** Whether `target` names a Redis Cluster (REDIS_CLUSTER_NODES set). */
export function isClusterTarget(target: RedisTarget): boolean {
  return target.redisClusterNodes.trim() !== '';
}

/** Whether Redis is configured at all (a URL or cluster nodes): without it `npm start` starts a private one. */
export function hasRedisTarget(target: RedisTarget): boolean {
  return target.redisUrl !== '' || isClusterTarget(target);
}

/** For logs and errors: the cluster's seed nodes, or the URL without its password. */
export function describeRedisTarget(target: RedisTarget): string {
  if (isClusterTarget(target)) return `Redis Cluster ${target.redisClusterNodes}`;
  try {
    const url = new URL(target.redisUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'Redis';
  }
}

/** How often a Cluster client reads the slot map by itself (ms). */
const CLUSTER_SLOTS_REFRESH_MS = 2_000;

/** A client for `target`: ioredis `Cluster` when it names cluster nodes, else `Redis` on its URL. */
export function openRedis(target: RedisTarget, options: OpenRedisOptions = {}): RedisClient {
  const nodes = clusterNodesOf(target.redisClusterNodes);
  const perNode = {
    ...(options.maxRetriesPerRequest === undefined
      ? {}
      : { maxRetriesPerRequest: options.maxRetriesPerRequest }),
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
  };
  const common = {
    ...(options.enableOfflineQueue === undefined ? {} : { enableOfflineQueue: options.enableOfflineQueue }),
    ...(options.lazyConnect === undefined ? {} : { lazyConnect: options.lazyConnect }),
  };
  if (nodes.length === 0) {
    return new Redis(target.redisUrl, {
      ...perNode,
      ...common,
      ...(options.enableAutoPipelining === undefined
        ? {}
        : { enableAutoPipelining: options.enableAutoPipelining }),
    });
  }
  return new Cluster(nodes, {
    ...common,
    // redis/ioredis#2109: a variable-key script (expireDue) would be sent to its key count's slot
    enableAutoPipelining: false,
    // the slot map read again every few seconds, not only when a command is redirected: a client
    // that only subscribes (session caches, the seat hub) learns of a failover too, and its `-node`
    // event tells them that their subscription may have moved (a CLUSTER SLOTS per client per period)
    slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_MS,
    redisOptions: perNode,
  });
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}

/**
 * Each master once: the client itself on a single node; on a Cluster the masters it knows (none
 * before it is connected, so a caller that must see every node checks `expectedMasters`).
 */
export function masterNodes(redis: RedisClient): Redis[] {
  return isCluster(redis) ? redis.nodes('master') : [redis];
}

/** Connects a lazy client and, on a Cluster, waits until its slot map is known. */
export async function connectRedis(redis: RedisClient): Promise<void> {
  if (redis.status === 'wait') await redis.connect();
  else if (redis.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      const ready = (): void => {
        redis.off('error', failed);
        resolve();
      };
      const failed = (error: unknown): void => {
        redis.off('ready', ready);
        reject(error instanceof Error ? error : new Error(String(error)));
      };
      redis.once('ready', ready);
      if (isCluster(redis)) redis.once('error', failed);
    });
  }
}

/**
 * PSUBSCRIBEs once the connection is ready. ioredis 5 writes a (p)subscribe at once while a new
 * connection is between its TCP connect and its ready check (status `connect`, while it sends
 * CLIENT SETINFO); the check's INFO is then refused in subscriber mode, the connection starts
 * again, and comes back `ready` without the subscription and without an error to the caller: every
 * message after it is lost (a gateway thread's queue pushes were, in a demo run of 2026-12-07).
 * Waiting for `ready` first closes that window; later reconnects resubscribe after their check.
 */
export async function psubscribeWhenReady(redis: RedisClient, pattern: string): Promise<void> {
  await connectRedis(redis);
  await redis.psubscribe(pattern);
}

/** Every key matching `pattern`, with SCAN (never KEYS) on every master. */
export async function scanKeys(redis: RedisClient, pattern: string, count = 1000): Promise<string[]> {
  const keys: string[] = [];
  for (const node of masterNodes(redis)) {
    let cursor = '0';
    do {
      const [next, page] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      keys.push(...page);
      cursor = next;
    } while (cursor !== '0');
  }
  return keys;
}

/** Deletes every key matching `pattern` on every master (UNLINK in slices of one hash tag each on a Cluster). */
export async function unlinkMatching(redis: RedisClient, pattern: string): Promise<number> {
  const keys = await scanKeys(redis, pattern);
  const answers = await execKeyed(
    redis,
    keys.map((key) => ({ key, add: (pipeline: ChainableCommander) => pipeline.unlink(key) })),
  );
  for (const [error] of answers) if (error) throw error;
  return keys.length;
}

/**
 * The hash tag of a key as Redis Cluster hashes it: the text inside the first `{…}` when it is not
 * empty, else the whole key. Keys with the same tag are in the same slot.
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** One single-key command of a batch (`execKeyed`). */
export interface KeyedCommand {
  /**
   * The key the command names, or another of its hash tag (a command without a key, e.g. TIME,
   * takes any key of the batch). On a Cluster a wrong one fails its whole pipeline loudly (ioredis
   * refuses a pipeline whose keys are on two nodes); it never goes to the wrong node.
   */
  readonly key: string;
  /** Adds exactly one command to the pipeline. */
  readonly add: (pipeline: ChainableCommander) => unknown;
}

export type KeyedAnswer = [error: Error | null, result: unknown];

/**
 * Runs single-key commands that may belong to different shards, answers in the commands' order
 * (`[error, result]` as a pipeline gives them). A single node: one pipeline. A Cluster: one
 * pipeline per hash tag, all at once; each opens with an EXISTS of its key, which is ignored,
 * because ioredis routes a cluster pipeline by its commands' keys and some name none (XINFO takes
 * its stream as an argument, TIME has no key): so every command reaches its key's master, and a
 * MOVED during a resharding is followed by ioredis.
 */
export async function execKeyed(
  redis: RedisClient,
  commands: readonly KeyedCommand[],
): Promise<KeyedAnswer[]> {
  if (commands.length === 0) return [];
  if (!isCluster(redis)) {
    const pipeline = redis.pipeline();
    for (const command of commands) command.add(pipeline);
    return (await pipeline.exec()) ?? [];
  }
  const byTag = new Map<string, number[]>();
  commands.forEach((command, index) => {
    const tag = hashTagOf(command.key);
    const group = byTag.get(tag);
    if (group) group.push(index);
    else byTag.set(tag, [index]);
  });
  const answers: KeyedAnswer[] = new Array<KeyedAnswer>(commands.length);
  await Promise.all(
    [...byTag.values()].map(async (indexes) => {
      const pipeline = redis.pipeline();
      pipeline.exists(commands[indexes[0]!]!.key);
      for (const index of indexes) commands[index]!.add(pipeline);
      const replies = ((await pipeline.exec()) ?? []) as KeyedAnswer[];
      indexes.forEach((index, n) => {
        answers[index] = replies[n + 1] ?? [new Error('no answer from the pipeline'), null];
      });
    }),
  );
  return answers;
}

/** XINFO GROUPS of a stream, asked of the stream's master; rejects as XINFO does (no such key). */
export async function xinfoGroups(redis: RedisClient, stream: string): Promise<unknown[]> {
  const [[error, groups]] = (await execKeyed(redis, [
    { key: stream, add: (pipeline) => pipeline.xinfo('GROUPS', stream) },
  ])) as [KeyedAnswer];
  if (error) throw error;
  return groups as unknown[];
}

/**
 * Redis could not take the command at all, for now: a node gone or failing over (ioredis's
 * "Connection is closed.", its "Too many Cluster redirections." or ClusterAllFailedError, a
 * MaxRetriesPerRequest error), or a node refusing while the cluster heals (CLUSTERDOWN, TRYAGAIN,
 * LOADING, MASTERDOWN, READONLY). Whether a script sent before the failure ran is unknown: a retry
 * must be safe (REL4).
 */
const UNAVAILABLE_REPLY = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY) /;
const UNAVAILABLE_ERRORS = new Set(['ClusterAllFailedError', 'MaxRetriesPerRequestError']);
const UNAVAILABLE_SOCKET = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (UNAVAILABLE_ERRORS.has(error.name) || error.message === 'Connection is closed.') return true;
  // a command's redirections exhausted (a plain Error in ioredis's Cluster)
  if (error.message.startsWith('Too many Cluster redirections.')) return true;
  if (UNAVAILABLE_REPLY.test(error.message)) return true;
  return UNAVAILABLE_SOCKET.has((error as NodeJS.ErrnoException).code ?? '');
}
