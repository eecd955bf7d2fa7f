/**
 * What a Redis must promise before it holds acknowledged seats (API.md "Running it"; issue 16
 * items 2 and 8). The engine answers a hold once its script ran: a Redis without the append-only
 * file loses acknowledged holds on a restart, and one with an evicting `maxmemory-policy` may drop
 * a seat counter or a record under memory pressure (an oversell, I1). Read with INFO, which
 * managed Redis services allow where they rename or forbid CONFIG. On a Redis Cluster every master
 * is read (issue 14): each holds its own shards.
 */
import type { Redis } from 'ioredis';
import { isCluster, masterNodes, type RedisClient } from './redisClient.ts';

/** The fields of INFO this module reads (`INFO persistence` + `INFO memory`). */
export interface RedisDurability {
  readonly aofEnabled: boolean;
  readonly maxmemoryPolicy: string;
  readonly usedMemory: number;
  /** 0: no limit. */
  readonly maxmemory: number;
}

/** INFO's `key:value` lines as a map. */
export function infoFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

export async function readDurability(redis: Redis): Promise<RedisDurability> {
  const [persistence, memory] = await Promise.all([redis.info('persistence'), redis.info('memory')]);
  const fields = new Map([...infoFields(persistence), ...infoFields(memory)]);
  return {
    aofEnabled: fields.get('aof_enabled') === '1',
    maxmemoryPolicy: fields.get('maxmemory_policy') ?? 'unknown',
    usedMemory: Number(fields.get('used_memory') ?? 0),
    maxmemory: Number(fields.get('maxmemory') ?? 0),
  };
}

/** Why this Redis may lose or evict an acknowledged write; empty when it may not. */
export function durabilityProblems(state: RedisDurability): string[] {
  const problems: string[] = [];
  if (!state.aofEnabled) problems.push('appendonly is off: a restart loses acknowledged holds');
  if (state.maxmemoryPolicy !== 'noeviction') {
    problems.push(
      `maxmemory-policy is ${state.maxmemoryPolicy}, not noeviction: Redis may evict seat counters and records`,
    );
  }
  return problems;
}

/** How full Redis is against its `maxmemory` (0 without a limit): the alarm fires before `noeviction` refuses writes. */
export function memoryUse(state: Pick<RedisDurability, 'usedMemory' | 'maxmemory'>): number {
  return state.maxmemory > 0 ? state.usedMemory / state.maxmemory : 0;
}

/** `memoryUse` from `INFO memory` alone: GET /readyz's alarm and the `redis_memory_used_ratio` gauge. */
export async function readMemoryUse(redis: Redis): Promise<number> {
  const fields = infoFields(await redis.info('memory'));
  return memoryUse({
    usedMemory: Number(fields.get('used_memory') ?? 0),
    maxmemory: Number(fields.get('maxmemory') ?? 0),
  });
}

/** Where a node is, for messages: `host:port`. */
function nodeName(node: Redis): string {
  return `${node.options.host ?? 'localhost'}:${node.options.port ?? 6379}`;
}

/**
 * `durabilityProblems` of every master (one on a single node), each named after its node on a
 * Redis Cluster. A Cluster that knows no master yet is a problem too (the check cannot be made).
 */
export async function durabilityProblemsOfMasters(redis: RedisClient): Promise<string[]> {
  const nodes = masterNodes(redis);
  if (nodes.length === 0) return ['no Redis Cluster master is known yet'];
  const problems = await Promise.all(
    nodes.map(async (node) => {
      const found = durabilityProblems(await readDurability(node));
      return isCluster(redis) ? found.map((problem) => `${nodeName(node)}: ${problem}`) : found;
    }),
  );
  return problems.flat();
}

/** `readMemoryUse` of the fullest master: a full master refuses the writes of every shard it holds. */
export async function readMemoryUseOfMasters(redis: RedisClient): Promise<number> {
  const nodes = masterNodes(redis);
  if (nodes.length === 0) throw new Error('no Redis Cluster master is known yet');
  return Math.max(...(await Promise.all(nodes.map((node) => readMemoryUse(node)))));
}

/** One node as `/metrics` shows it (issue 14 item 1: per node). */
export interface RedisNodeStats {
  /** `host:port`, as the client reaches it. */
  readonly node: string;
  readonly role: 'master' | 'replica';
  /** used_memory / maxmemory (0: no maxmemory). */
  readonly memoryUsedRatio: number;
  /** total_commands_processed since the node started. */
  readonly commandsProcessed: number;
  /** A master's connected replicas (0 for a replica). */
  readonly connectedReplicas: number;
  /** A replica's link to its master (null for a master). */
  readonly linkUp: boolean | null;
}

/**
 * INFO of every node the client knows: the one Redis, or each master and replica of a Cluster.
 * A node that does not answer is left out (it is gone, or failing over: /readyz says which).
 */
export async function readNodeStats(redis: RedisClient): Promise<RedisNodeStats[]> {
  const nodes = isCluster(redis) ? redis.nodes('all') : [redis];
  const read = await Promise.all(
    nodes.map(async (node): Promise<RedisNodeStats | null> => {
      const fields = infoFields(await node.info().catch(() => ''));
      const role = fields.get('role');
      if (role === undefined) return null;
      return {
        node: nodeName(node),
        role: role === 'master' ? 'master' : 'replica',
        memoryUsedRatio: memoryUse({
          usedMemory: Number(fields.get('used_memory') ?? 0),
          maxmemory: Number(fields.get('maxmemory') ?? 0),
        }),
        commandsProcessed: Number(fields.get('total_commands_processed') ?? 0),
        connectedReplicas: role === 'master' ? Number(fields.get('connected_slaves') ?? 0) : 0,
        linkUp: role === 'master' ? null : fields.get('master_link_status') === 'up',
      };
    }),
  );
  return read.filter((stats): stats is RedisNodeStats => stats !== null);
}
