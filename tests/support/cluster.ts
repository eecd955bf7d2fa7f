/**
 * Redis Cluster test support (issue 14): a private 3-master cluster per test file
 * (devstack/cluster.ts, killed with the file: no key cleanup needed), a client on it opened the
 * way the product opens one (engine/redisClient.ts), the whole system on it in this process, and
 * where a key lives.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { startRedisCluster, type RedisCluster } from '../../devstack/index.ts';
import { Engine } from '../../engine/engine.ts';
import { isCluster, openRedis } from '../../engine/redisClient.ts';
import { startSystem, type RunningSystem } from '../../gateway/system.ts';
import { HttpClient, TEST_SYSTEM_ENV } from './gateway.ts';
import { freshDatabase } from './pg.ts';

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

export interface ClusterGateway {
  readonly system: RunningSystem;
  readonly base: string;
  readonly namespace: string;
  readonly databaseUrl: string;
  /** An engine on the gateway's namespace over the cluster (setup and assertions). */
  readonly engine: Engine;
  readonly http: HttpClient;
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
  const database = await freshDatabase();
  const namespace = `c${randomBytes(4).toString('hex')}`;
  const system = await startSystem({
    ...TEST_SYSTEM_ENV,
    REDIS_URL: '',
    REDIS_CLUSTER_NODES: stores.nodes,
    DATABASE_URL: database.url,
    KEY_NAMESPACE: namespace,
    ...env,
  }).catch(async (error: unknown) => {
    await database.drop();
    throw error;
  });
  const base = `http://127.0.0.1:${system.port}`;
  const engine = new Engine(stores.client, {
    namespace,
    holdMs: system.config.holdMs,
    emptyMs: system.config.emptyMs,
  });
  return {
    system,
    base,
    namespace,
    databaseUrl: database.url,
    engine,
    http: new HttpClient(base),
    async close() {
      await system.stop();
      await database.drop();
    },
  };
}
