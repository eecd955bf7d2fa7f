/**
 * The composition root of `npm start` (API.md "Running it"), also started in-process by the tests
 * and, through `npm start` in a process of its own, by the load tester: migrations first, then the
 * gateway (N app threads on PORT), the stream writer and the sweeper, and in TEST_MODE the
 * payment-provider simulator. Without REDIS_URL / DATABASE_URL a private Redis / PostgreSQL
 * (devstack/) is started under `.data/` and stopped with the system. Ready when GET /readyz
 * answers 200. Signals are the entry point's (scripts/start.ts): this module installs no handler.
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { environmentWith, idKeysOf, loadConfig, type Config } from '../config/index.ts';
import { migrate } from '../db/migrate.ts';
import { createPool } from '../db/pool.ts';
import { StreamWriter } from '../db/writer.ts';
import { startStack, type Stack } from '../devstack/stack.ts';
import { Engine } from '../engine/engine.ts';
import { PROVINCE_CODES } from '../engine/provinces.ts';
import { Sweeper } from '../engine/sweeper.ts';
import { QueueKeeper } from '../engine/queueKeeper.ts';
import { sealKeyFrom } from '../engine/queueDraw.ts';
import { DrivenClock, systemClock } from './clock.ts';
import { createLogger } from './log.ts';
import { localBaseUrl } from './payments/payLink.ts';
import { startPaymentSimulator, type PaymentSimulator } from './payments/simulator.ts';
import { startGateway } from './server.ts';
import { clockKey } from './services.ts';

export interface RunningSystem {
  readonly config: Config;
  readonly port: number;
  /** The payment-provider simulator (TEST_MODE only): payUrl points at it. */
  readonly paymentSimulator: { readonly port: number; readonly url: string } | null;
  stop(): Promise<void>;
}

/** Starts the whole system in this process; used by `npm start`, the demo and the tests. */
export async function startSystem(
  overrides: NodeJS.ProcessEnv = {},
  options: { dataDir?: string } = {},
): Promise<RunningSystem> {
  let config = loadConfig(environmentWith(overrides));
  const log = createLogger({ level: config.logLevel, name: 'start' });
  if (config.testMode) {
    log.warn(
      'TEST_MODE is ON: the admin clock is enabled and captcha / SMS answers are returned in responses. Never in production.',
    );
  }
  let stack: Stack | undefined;
  if (!config.redisUrl || !config.databaseUrl) {
    stack = await startStack({
      dataDir: options.dataDir ?? '.data',
      redis: !config.redisUrl,
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

  const redis = new Redis(config.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
  const engine = new Engine(redis, {
    namespace: config.namespace,
    holdMs: config.holdMs,
    emptyMs: config.emptyMs,
    queueIdleMs: config.queue.idleMs,
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
    onError: (error) => log.error({ err: error }, 'queue tick failed'),
  });
  if (config.startSweeper) {
    sweeper.start();
    keeper.start();
  }
  const writer = new StreamWriter(redis, db, {
    ...config.writer,
    streams: engine.keys.allStreams(PROVINCE_CODES),
    consumer: config.writer.consumer || `${hostname()}-${process.pid}`,
    onError: (error) => log.error({ err: error }, 'writer batch failed'),
    onDeadLetter: (letter) => log.error(letter, 'event dead-lettered'),
  });
  if (config.startWriter) writer.start();
  paymentSimulator?.connect({
    gatewayUrl: config.publicBaseUrl || localBaseUrl(config.host, gateway.port),
    now: () => clock.now(),
  });
  log.info({ port: gateway.port, threads: gateway.threads }, 'system started');

  let stopping: Promise<void> | undefined;
  return {
    config,
    port: gateway.port,
    paymentSimulator: paymentSimulator ? { port: paymentSimulator.port, url: paymentSimulator.url } : null,
    stop: () =>
      (stopping ??= (async () => {
        await paymentSimulator?.stop();
        await gateway.stop();
        await sweeper.stop();
        await keeper.stop();
        await writer.stop();
        redis.disconnect();
        await db.end();
        await stack?.stop();
      })()),
  };
}
