/**
 * Everything a gateway thread's routes use, built once per thread: its own Redis connection (a
 * single node, or a Redis Cluster with REDIS_CLUSTER_NODES: engine/redisClient.ts, issue 14) and
 * engine, a small PostgreSQL pool, the shared worker pool (directly in the main thread, through a
 * MessagePort in app threads), accounts and sessions, eligibility, the clock, metrics, fees and
 * the waiting rooms.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { idKeysOf, type Config } from '../config/index.ts';
import type { BoundRef } from '../engine/binding.ts';
import { Engine } from '../engine/engine.ts';
import type { IdKeys } from '../engine/idCrypto.ts';
import { GatewayKeys } from '../engine/keys.ts';
import { WaitingRoom } from '../engine/queue.ts';
import { sealKeyFrom } from '../engine/queueDraw.ts';
import { openRedis, type RedisClient } from '../engine/redisClient.ts';
import { createPool, type Pool } from '../db/pool.ts';
import { createAuthServices, type AuthServices } from './auth/index.ts';
import { DrivenClock, systemClock, type Clock } from './clock.ts';
import { EligibilityService } from './eligibility.ts';
import { FeeTable } from './fees.ts';
import { GatewayMetrics } from './metrics.ts';
import type { TaskRunner, WorkerPool } from './workers/pool.ts';

export interface Services {
  readonly config: Config;
  readonly log: Logger;
  readonly redis: RedisClient;
  readonly db: Pool;
  readonly tasks: TaskRunner;
  readonly engine: Engine;
  readonly auth: AuthServices;
  readonly eligibility: EligibilityService;
  readonly clock: Clock;
  /** The admin clock (TEST_MODE only). */
  readonly drivenClock: DrivenClock | null;
  readonly metrics: GatewayMetrics;
  readonly idKeys: IdKeys;
  readonly fees: FeeTable;
  /** The provinces' waiting rooms (engine/queue.ts). */
  readonly queue: WaitingRoom;
  /** Bound candidates by account (gateway/routes/common.ts boundRef), bounded per thread. */
  readonly boundCache: LRUCache<string, BoundRef>;
  close(): Promise<void>;
}

export function clockKey(namespace: string): string {
  return new GatewayKeys(namespace).clock;
}

export function createServices(config: Config, tasks: TaskRunner, log: Logger): Services {
  // auto-pipelining on a single node only (engine/redisClient.ts: redis/ioredis#2109)
  const redis = openRedis(config, {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
  });
  const db = createPool(config.databaseUrl, { max: 8 });
  const engine = new Engine(redis, {
    namespace: config.namespace,
    holdMs: config.holdMs,
    emptyMs: config.emptyMs,
    queueIdleMs: config.queue.idleMs,
    replicaWait: config.redisWait,
  });
  const drivenClock = config.testMode ? new DrivenClock(redis, clockKey(config.namespace)) : null;
  const clock = drivenClock ?? systemClock;
  const idKeys = idKeysOf(config.idKeys);
  // services are typed against the pool class; a RemoteTaskRunner offers the same run()
  const workers = tasks as WorkerPool;
  const auth = createAuthServices({
    db,
    redis,
    workers,
    // a deployment secret every gateway shares (the draw's seal key is derived from it too)
    secret: idKeys.encryptionKey,
    captchaMaxNumber: config.captchaMaxNumber,
    namespace: config.namespace,
    sessionLifetimeMs: config.sessionTtlMs,
    sessionCacheMs: config.sessionCacheMs,
    revealSmsCodes: config.testMode,
    logger: log.child({ component: 'auth' }),
  });
  const eligibility = new EligibilityService({ db, hmacKey: idKeys.hmacKey, mode: 'pool', pool: workers });
  return {
    config,
    log,
    redis,
    db,
    tasks,
    engine,
    auth,
    eligibility,
    clock,
    drivenClock,
    metrics: new GatewayMetrics(),
    idKeys,
    fees: new FeeTable(redis, config.namespace),
    // the draw's seed is sealed under a key derived from the ID encryption key (a deployment secret)
    queue: new WaitingRoom(engine, sealKeyFrom(idKeys.encryptionKey)),
    boundCache: new LRUCache<string, BoundRef>({ max: 200_000 }),
    async close() {
      // the bindings' finalize steps, sent without waiting, reach Redis before its connection ends
      await engine.idle();
      // the session cache's subscriber connection first: the thread keeps no handle open
      await auth.sessions.close();
      await db.end();
      redis.disconnect();
    },
  };
}
