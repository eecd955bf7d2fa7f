/**
 * Redis Cluster test support (issue 14): a private 3-master cluster per test file
 * (devstack/cluster.ts, killed with the file: no key cleanup needed), a client on it opened the
 * way the product opens one (engine/redisClient.ts), the whole system on it in this process, and
 * where a key lives.
 */
import type { Cluster } from 'ioredis';
import { expect } from 'vitest';
import { query, type Pool } from '../../db/pool.ts';
import { reconcile } from '../../db/reconcile.ts';
import type { Engine } from '../../engine/engine.ts';
import { PROVINCE_CODES } from '../../engine/provinces.ts';
import { writerBacklog } from '../../loadtest/runner/verdict.ts';
import { startRedisCluster, type RedisCluster } from '../../devstack/index.ts';
import { isCluster, openRedis } from '../../engine/redisClient.ts';
import { startSystemOn, type StartedSystem } from './gateway.ts';
import { waitFor } from './wait.ts';

export interface PrivateCluster {
  readonly cluster: RedisCluster;
  /** Its seed nodes as REDIS_CLUSTER_NODES says them. */
  readonly nodes: string;
  /** A client on it, as `openRedis` opens one for REDIS_CLUSTER_NODES. */
  readonly client: Cluster;
  stop(): Promise<void>;
}

export async function startPrivateCluster(): Promise<PrivateCluster> {
  const cluster = await startRedisCluster({ masters: 3 });
  const nodes = cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',');
  const client = openRedis({ redisUrl: '', redisClusterNodes: nodes }, { maxRetriesPerRequest: null });
  if (!isCluster(client)) throw new Error('REDIS_CLUSTER_NODES did not open a Cluster');
  return {
    cluster,
    nodes,
    client,
    async stop() {
      client.disconnect();
      await cluster.stop();
    },
  };
}

/** The `host:port` of the master that holds `key`'s slot. */
export async function masterOf(client: Cluster, key: string): Promise<string> {
  const slot = Number(await client.cluster('KEYSLOT', key));
  const owner = (await client.cluster('SLOTS')).find(([from, to]) => slot >= from && slot <= to)?.[2];
  if (!owner) throw new Error(`no master holds slot ${slot}`);
  return `${owner[0]}:${owner[1]}`;
}

export interface ClusterGateway extends Omit<StartedSystem, 'stop'> {
  close(): Promise<void>;
}

/**
 * The whole system (gateway threads, writer, sweeper, queue keeper, payment simulator) in this
 * process on the private cluster and a fresh PostgreSQL database, as tests/support/gateway.ts
 * starts it on the run's single Redis.
 */
export async function startClusterGateway(
  stores: PrivateCluster,
  env: NodeJS.ProcessEnv = {},
): Promise<ClusterGateway> {
  const started = await startSystemOn(
    { REDIS_URL: '', REDIS_CLUSTER_NODES: stores.nodes },
    stores.client,
    'c',
    env,
  );
  return { ...started, close: () => started.stop() };
}

/**
 * The writers drain every stream of the cluster; then PostgreSQL holds the whole flow of
 * `candidateId` (bound, two holds, ordered, paid) and reconcile finds it equal to Redis (I5).
 */
export async function expectFlowPersisted(
  engine: Engine,
  client: Cluster,
  db: Pool,
  candidateId: string,
  provinces: readonly string[],
): Promise<void> {
  const streams = engine.keys.allStreams(PROVINCE_CODES);
  await waitFor(async () => (await writerBacklog(client, streams)) === 0, {
    timeoutMs: 20_000,
    intervalMs: 100,
    message: 'the writers to drain every stream of the cluster',
  });
  const rows = await query<{ type: string }>(db, `SELECT type FROM events WHERE data->>'candidateId' = $1`, [
    candidateId,
  ]);
  expect(rows.map((row) => row.type).sort()).toEqual(
    ['BOUND', 'HELD', 'HELD', 'ORDER_CREATED', 'PAYMENT_CONFIRMED'].sort(),
  );
  const drift = await reconcile(engine, db, { provinces, streams });
  expect(drift.differences).toEqual([]);
  expect(drift.alerts).toEqual([]);
}
