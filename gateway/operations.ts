/**
 * The operators' processes beside the gateways: the stream writer and the sweeper on their own
 * (`npm run writer`, `npm run sweeper`; each on its own connections, named after its host and pid,
 * with the settings of config/index.ts, the same as `npm start`'s), and the comparison of Redis
 * with PostgreSQL (`npm run reconcile`). Each opens Redis through engine/redisClient.ts: a single
 * node (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES; issue 14), where the writer reads each
 * shard's stream on its master, the sweeper sweeps every province on whichever node holds it, and
 * reconcile reads every shard. The entry points (scripts/) own arguments, environment checks and
 * signals; this module installs no handler.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { createPool } from '../db/pool.ts';
import { reconcile, type ReconcileReport } from '../db/reconcile.ts';
import { StreamWriter, type WriterStats } from '../db/writer.ts';
import { Engine } from '../engine/engine.ts';
import { KeySpace } from '../engine/keys.ts';
import { PROVINCE_CODES } from '../engine/provinces.ts';
import { hasRedisTarget, openRedis } from '../engine/redisClient.ts';
import { settlesWithin } from '../engine/settle.ts';
import { Sweeper, type SweeperStats } from '../engine/sweeper.ts';
import { DrivenClock, systemClock } from './clock.ts';
import { writerLogHooks } from './logRedaction.ts';
import { clockKey } from './services.ts';

export interface StandaloneWriter {
  readonly consumer: string;
  /** Stops after the batch in hand, publishes the last stats, closes its connections. */
  stop(): Promise<WriterStats>;
}

/**
 * The writer on REDIS_URL or REDIS_CLUSTER_NODES and DATABASE_URL (db/writer.ts: one blocking
 * XREADGROUP over every stream on a single node, a read per stream on a Cluster).
 */
export function startStandaloneWriter(config: Config, log: Logger): StandaloneWriter {
  const redis = openRedis(config, { maxRetriesPerRequest: null });
  const db = createPool(config.databaseUrl, { max: config.writer.lanes + 1, applicationName: 'writer' });
  // an idle client whose server went away must not crash the process: the writer retries
  db.on('error', (error) => log.warn({ err: error }, 'idle PostgreSQL client failed'));
  const consumer = config.writer.consumer || `${hostname()}-${process.pid}`;
  const writer = new StreamWriter(redis, db, {
    ...config.writer,
    streams: new KeySpace(config.namespace).allStreams(PROVINCE_CODES),
    consumer,
    ...writerLogHooks(log),
  });
  writer.start();
  return {
    consumer,
    async stop() {
      await writer.stop();
      // the last stats, if Redis answers: a dead one must not keep the stop waiting (issue 16 item 16)
      await settlesWithin(writer.publishStats(), 1_000);
      redis.disconnect();
      await db.end();
      return writer.current;
    },
  };
}

export interface StandaloneSweeper {
  /** Stops after the sweep in hand and closes its connection. */
  stop(): Promise<SweeperStats>;
}

/**
 * The sweeper on REDIS_URL, every SWEEP_INTERVAL_MS, at the configured clock's time: the admin
 * clock (DrivenClock) in TEST_MODE, the system clock otherwise.
 */
export function startStandaloneSweeper(config: Config, log: Logger): StandaloneSweeper {
  const redis = openRedis(config, { enableAutoPipelining: true, maxRetriesPerRequest: null });
  const engine = new Engine(redis, {
    namespace: config.namespace,
    holdMs: config.holdMs,
    emptyMs: config.emptyMs,
    replicaWait: config.redisWait,
  });
  const clock = config.testMode ? new DrivenClock(redis, clockKey(config.namespace)) : systemClock;
  const sweeper = new Sweeper(engine, {
    intervalMs: config.sweepIntervalMs,
    now: () => clock.now(),
    name: `${hostname()}-${process.pid}`,
    onError: (error) => log.warn({ err: error }, 'sweep failed (retrying)'),
  });
  sweeper.start();
  return {
    async stop() {
      await sweeper.stop();
      const stats = sweeper.current;
      redis.disconnect();
      return stats;
    },
  };
}

export interface ReconcileOptions {
  /** Province codes to compare; default all. */
  readonly provinces?: readonly string[];
  /** Re-deliver the events PostgreSQL lacks, then rebuild from Redis what still differs. */
  readonly repair?: boolean;
}

/** Compares Redis with PostgreSQL (db/reconcile.ts) on the configured stores. */
export async function reconcileStores(
  config: Config,
  options: ReconcileOptions = {},
): Promise<ReconcileReport> {
  if (!hasRedisTarget(config) || !config.databaseUrl) {
    throw new Error('REDIS_URL (or REDIS_CLUSTER_NODES) and DATABASE_URL are required');
  }
  const redis = openRedis(config, { maxRetriesPerRequest: null });
  const db = createPool(config.databaseUrl, { max: 4, applicationName: 'reconcile' });
  try {
    const engine = new Engine(redis, { namespace: config.namespace });
    return await reconcile(engine, db, {
      provinces: [...(options.provinces ?? PROVINCE_CODES)],
      streams: engine.keys.allStreams(PROVINCE_CODES),
      repair: options.repair ?? false,
    });
  } finally {
    redis.disconnect();
    await db.end();
  }
}
