/**
 * `npm run sweeper`: the sweeper alone (engine/sweeper.ts), on REDIS_URL / KEY_NAMESPACE, every
 * SWEEP_INTERVAL_MS, at the configured clock's time: the admin clock (gateway/clock.ts DrivenClock)
 * in TEST_MODE, the system clock otherwise. Idempotent; several may run. Its stats (lag: the oldest
 * due deadline not yet processed) go to Redis `<ns>:sweeper:stats` for /admin/stats and /metrics.
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { Engine } from '../engine/engine.ts';
import { Sweeper } from '../engine/sweeper.ts';
import { DrivenClock, systemClock } from '../gateway/clock.ts';
import { loadConfig } from '../gateway/config.ts';
import { createLogger } from '../gateway/log.ts';
import { clockKey } from '../gateway/services.ts';

const config = loadConfig(process.env);
const log = createLogger({ level: config.logLevel, name: 'sweeper' });
if (!config.redisUrl) {
  log.error('REDIS_URL is required');
  process.exit(2);
}
const redis = new Redis(config.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
const engine = new Engine(redis, {
  namespace: config.namespace,
  holdMs: config.holdMs,
  emptyMs: config.emptyMs,
});
const clock = config.testMode ? new DrivenClock(redis, clockKey(config.namespace)) : systemClock;
const sweeper = new Sweeper(engine, {
  intervalMs: config.sweepIntervalMs,
  now: () => clock.now(),
  name: `${hostname()}-${process.pid}`,
  onError: (error) => log.warn({ err: error }, 'sweep failed (retrying)'),
});
sweeper.start();
log.info(
  { namespace: config.namespace, testMode: config.testMode, intervalMs: config.sweepIntervalMs },
  'sweeper started',
);

const shutdown = (): void => {
  void sweeper.stop().then(() => {
    log.info(sweeper.current, 'sweeper stopped');
    redis.disconnect();
    process.exit(0);
  });
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
