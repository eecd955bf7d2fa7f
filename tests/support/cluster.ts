/**
 * Redis Cluster test support (issue 14): a private 3-master cluster per test file
 * (devstack/cluster.ts, killed with the file: no key cleanup needed; with replicas for a failover
 * test), a client on it opened the way the product opens one (engine/redisClient.ts), and the
 * whole system on it in this process. Where a key lives: the cluster's `shardOf`.
 */
import type { Cluster } from 'ioredis';
import { expect } from 'vitest';
import { query, type Pool } from '../../db/pool.ts';
import { reconcile } from '../../db/reconcile.ts';
import type { Engine } from '../../engine/engine.ts';
import { PROVINCE_CODES } from '../../engine/provinces.ts';
import { writerBacklog } from '../../loadtest/runner/verdict.ts';
import { startRedisCluster, type RedisCluster, type RedisClusterOptions } from '../../devstack/index.ts';
import { isCluster, openRedis } from '../../engine/redisClient.ts';
import { startSystemOn, type StartedSystem } from './gateway.ts';
import { waitFor } from './wait.ts';

export interface PrivateCluster {
  readonly cluster: RedisCluster;
  /** Its seed nodes as REDIS_CLUSTER_NODES says them. */
  readonly nodes: string;
  /** A client on it, as `openRedis` opens one for REDIS_CLUSTER_NODES. */
  readonly client: Cluster;
  /** Another client opened the same way (connections of its own); the caller disconnects it. */
  openClient(): Cluster;
  stop(): Promise<void>;
}

/** 3 masters, unless `options` say otherwise (replicas, persistence, node timeout). */
export async function startPrivateCluster(options: RedisClusterOptions = {}): Promise<PrivateCluster> {
  const cluster = await startRedisCluster({ masters: 3, ...options });
  const nodes = cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',');
  const openClient = (): Cluster => {
    const client = openRedis({ redisUrl: '', redisClusterNodes: nodes }, { maxRetriesPerRequest: null });
    if (!isCluster(client)) throw new Error('REDIS_CLUSTER_NODES did not open a Cluster');
    return client;
  };
  const client = openClient();
  return {
    cluster,
    nodes,
    client,
    openClient,
    async stop() {
      client.disconnect();
      await cluster.stop();
    },
  };
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
