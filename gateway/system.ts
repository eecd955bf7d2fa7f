/**
 * The composition root of `npm start` (API.md "Running it"), also started in-process by the tests
 * and, through `npm start` in a process of its own, by the load tester: migrations first, then the
 * gateway (N app threads on PORT), the stream writer and the sweeper, and in TEST_MODE the
 * payment-provider simulator. Without REDIS_URL / DATABASE_URL a private Redis / PostgreSQL
 * (devstack/) is started under `.data/` and stopped with the system. REDIS_CLUSTER_NODES puts
 * every part on a Redis Cluster instead (engine/redisClient.ts; issue 14). Several such processes
 * may share one Redis (or cluster) and one PostgreSQL: sessions, Idempotency-Key answers, rate
 * limits, captchas, SMS codes and the waiting rooms live in Redis; the writers share the streams
 * through their consumer group; sweepers and queue keepers may run in several (START_WRITER /
 * START_SWEEPER choose). Ready when GET /readyz answers 200. Signals are the entry point's
 * (scripts/start.ts): this module installs no handler.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import {
  ConfigError,
  environmentWith,
  idKeysOf,
  loadConfig,
  servingRefusals,
  type Config,
} from '../config/index.ts';
import { migrate } from '../db/migrate.ts';
import { createPool } from '../db/pool.ts';
import { StreamWriter } from '../db/writer.ts';
import { startStack, type Stack } from '../devstack/stack.ts';
import { Engine } from '../engine/engine.ts';
import { durabilityProblemsOfMasters } from '../engine/redisDurability.ts';
import { connectRedis, describeRedisTarget, hasRedisTarget, openRedis } from '../engine/redisClient.ts';
import { PROVINCE_CODES } from '../engine/provinces.ts';
import { Sweeper } from '../engine/sweeper.ts';
import { QueueKeeper } from '../engine/queueKeeper.ts';
import { sealKeyFrom } from '../engine/queueDraw.ts';
import { DrivenClock, systemClock } from './clock.ts';
import { createLogger } from './log.ts';
import { writerLogHooks } from './logRedaction.ts';
import { localBaseUrl } from './payments/payLink.ts';
import { startPaymentSimulator, type PaymentSimulator } from './payments/simulator.ts';
import { TrustedProxies } from './http/clientAddress.ts';
import { pruneExpiredSessions } from './auth/sessions.ts';
import { startGateway } from './server.ts';
import { clockKey } from './services.ts';
import { settlesWithin } from '../engine/settle.ts';

export interface RunningSystem {
  readonly config: Config;
  readonly port: number;
  /** The payment-provider simulator (TEST_MODE only): payUrl points at it. */
  readonly paymentSimulator: { readonly port: number; readonly url: string } | null;
  /**
   * Stops every part at once, each within STOP_LIMIT_MS; then closes the connections, whatever
   * the parts still stopping were doing (issue 16 item 16: on a dead Redis they wait for ever).
   */
  stop(): Promise<StopOutcome>;
}

export interface StopOutcome {
  /** The parts still stopping at the time limit: abandoned (scripts/start.ts exits non-zero). */
  readonly hung: readonly string[];
}

/**
 * How long each part may take to stop. Above the writer's and the sweeper's own grace (5 s), below
 * what an orchestrator waits between SIGTERM and SIGKILL (Kubernetes: 30 s).
 */
const STOP_LIMIT_MS = 10_000;

/** How often expired session rows are pruned (gateway/auth/sessions.ts `pruneExpiredSessions`). */
const SESSION_PRUNE_INTERVAL_MS = 10 * 60_000;

/** Starts the whole system in this process; used by `npm start`, the demo and the tests. */
export async function startSystem(
  overrides: NodeJS.ProcessEnv = {},
  options: { dataDir?: string } = {},
): Promise<RunningSystem> {
  let config = loadConfig(environmentWith(overrides));
  const refusals = servingRefusals(config);
  if (refusals.length > 0) {
    throw new ConfigError(`refusing to start outside TEST_MODE: ${refusals.join('; ')}`);
  }
  // checked here, before any thread starts, so that a bad entry stops the start with its name
  TrustedProxies.parse(config.trustedProxies);
  const log = createLogger({ level: config.logLevel, name: 'start' });
  if (config.testMode) {
    log.warn(
      'TEST_MODE is ON: the admin clock is enabled and captcha / SMS answers are returned in responses. Never in production.',
    );
  }
  let stack: Stack | undefined;
  if (!hasRedisTarget(config) || !config.databaseUrl) {
    stack = await startStack({
      dataDir: options.dataDir ?? '.data',
      redis: !hasRedisTarget(config),
      postgres: !config.databaseUrl,
      quiet: true,
    });
    config = {
      ...config,
      redisUrl: config.redisUrl || stack.redisUrl,
      databaseUrl: config.databaseUrl || stack.databaseUrl,
    };
    log.info({ dataDir: stack.dataDir }, 'private Redis / PostgreSQL started');
  }
  try {
    await checkRedisDurability(config, log);
  } catch (error) {
    await stack?.stop();
    throw error;
  }
  // the writer's lanes each hold a client for a transaction; the sweeper and migrations need one more
  const db = createPool(config.databaseUrl, { max: Math.max(4, config.writer.lanes + 2) });
  const { applied } = await migrate(db);
  log.info({ applied: applied.length }, 'migrations applied');

  // first, so that the gateway threads know its port for payUrl; it learns the gateway's below
  let paymentSimulator: PaymentSimulator | undefined;
  if (config.testMode) {
    paymentSimulator = await startPaymentSimulator({
      host: config.host,
      port: config.paymentSimulatorPort,
      secret: config.paymentSecret,
      log: log.child({ component: 'payment-simulator' }),
    });
    config = { ...config, paymentSimulatorPort: paymentSimulator.port };
  }

  const gateway = await startGateway(config, log);
  config = { ...config, port: gateway.port };
  if (config.adminTokenGenerated) {
    process.stderr.write(`ADMIN_TOKEN was not set; this run's admin token: ${config.adminToken}\n`);
  }

  // the writer's, the sweeper's and the queue keeper's connection (auto-pipelined on a single node only)
  const redis = openRedis(config, { enableAutoPipelining: true, maxRetriesPerRequest: null });
  const engine = new Engine(redis, {
    namespace: config.namespace,
    holdMs: config.holdMs,
    emptyMs: config.emptyMs,
    queueIdleMs: config.queue.idleMs,
    // the sweeper's releases and the keeper's admissions wait like the gateway's writes
    replicaWait: config.redisWait,
  });
  const clock = config.testMode ? new DrivenClock(redis, clockKey(config.namespace)) : systemClock;
  const sweeper = new Sweeper(engine, {
    intervalMs: config.sweepIntervalMs,
    now: () => clock.now(),
    onError: (error) => log.error({ err: error }, 'sweep failed'),
  });
  // the waiting rooms' clock runs where the sweeper does (START_SWEEPER)
  const keeper = new QueueKeeper(engine, sealKeyFrom(idKeysOf(config.idKeys).encryptionKey), {
    intervalMs: config.queue.tickMs,
    now: () => clock.now(),
    initialActive: config.queue.initialActive,
    drainGraceMs: config.queue.drainGraceMs,
    control: { targetP99Ms: config.admission.targetP99Ms },
    pace: { slack: config.queue.paceSlackPct / 100 },
    onError: (error) => log.error({ err: error }, 'queue tick failed'),
  });
  // expired session rows go a day after their expiry, where the sweeper runs (issue 16 item 17)
  let pruning: Promise<unknown> | undefined;
  const pruneTimer = config.startSweeper
    ? setInterval(() => {
        pruning ??= pruneExpiredSessions(db, Date.now())
          .catch((error: unknown) => log.warn({ err: error }, 'pruning expired sessions failed'))
          .finally(() => (pruning = undefined));
      }, SESSION_PRUNE_INTERVAL_MS)
    : undefined;
  pruneTimer?.unref();
  if (config.startSweeper) {
    sweeper.start();
    keeper.start();
  }
  const writer = new StreamWriter(redis, db, {
    ...config.writer,
    streams: engine.keys.allStreams(PROVINCE_CODES),
    consumer: config.writer.consumer || `${hostname()}-${process.pid}`,
    ...writerLogHooks(log),
  });
  if (config.startWriter) writer.start();
  paymentSimulator?.connect({
    gatewayUrl: config.publicBaseUrl || localBaseUrl(config.host, gateway.port),
    now: () => clock.now(),
  });
  log.info(
    { port: gateway.port, threads: gateway.threads, redis: describeRedisTarget(config) },
    'system started',
  );

  let stopping: Promise<StopOutcome> | undefined;
  return {
    config,
    port: gateway.port,
    paymentSimulator: paymentSimulator ? { port: paymentSimulator.port, url: paymentSimulator.url } : null,
    stop: () =>
      (stopping ??= (async () => {
        // at once, not one after the other: none waits for another, and one that hangs must not
        // keep the others from stopping (the writer's batch in hand stays pending either way, I5)
        const hung = await stopParts(log, {
          'payment simulator': () => paymentSimulator?.stop(),
          gateway: () => gateway.stop(),
          sweeper: () => sweeper.stop(),
          'queue keeper': () => keeper.stop(),
          'session pruning': () => {
            clearInterval(pruneTimer);
            return pruning;
          },
          writer: () => writer.stop(),
        });
        if (hung.length > 0) log.error({ hung, limitMs: STOP_LIMIT_MS }, 'graceful stop timed out');
        redis.disconnect();
        // pg's end() waits for the clients still checked out, which an abandoned part may hold
        if (!(await settlesWithin(db.end(), 2_000))) log.error('PostgreSQL pool did not close; abandoned');
        await stack?.stop();
        return { hung };
      })()),
  };
}

/** Runs every part's stop at once; returns the names of those not done within STOP_LIMIT_MS. */
async function stopParts(
  log: Logger,
  parts: Record<string, () => Promise<unknown> | undefined>,
): Promise<string[]> {
  const done = await Promise.all(
    Object.entries(parts).map(([name, stop]) =>
      settlesWithin(
        Promise.resolve()
          .then(stop)
          .catch((error: unknown) => log.error({ err: error, part: name }, 'stop failed')),
        STOP_LIMIT_MS,
      ),
    ),
  );
  return Object.keys(parts).filter((_, index) => !done[index]);
}

/**
 * API.md "Running it": a Redis that may lose (no AOF) or evict (an evicting policy) an
 * acknowledged hold stops the start, unless REDIS_DURABILITY=relaxed says so explicitly (logged as
 * an error at every start). In TEST_MODE it is a loud warning: tests and demos may point at a
 * scratch Redis. On a Redis Cluster every master is checked.
 */
async function checkRedisDurability(config: Config, log: Logger): Promise<void> {
  const redis = openRedis(config, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await connectRedis(redis);
    const problems = await durabilityProblemsOfMasters(redis);
    if (problems.length === 0) return;
    if (config.redisDurability === 'relaxed') {
      log.error({ problems }, 'REDIS_DURABILITY=relaxed: acknowledged holds may be lost or evicted');
    } else if (config.testMode) {
      log.warn({ problems }, 'TEST_MODE: this Redis may lose or evict acknowledged holds');
    } else {
      throw new ConfigError(
        `refusing a Redis that may lose acknowledged writes: ${problems.join('; ')} (REDIS_DURABILITY=relaxed to run anyway)`,
      );
    }
  } finally {
    redis.disconnect();
  }
}
