/**
 * `npm run sweeper`: the sweeper alone (gateway/operations.ts, engine/sweeper.ts), on REDIS_URL (or
 * a Redis Cluster: REDIS_CLUSTER_NODES, every province on whichever master holds it) /
 * KEY_NAMESPACE, every SWEEP_INTERVAL_MS, at the configured clock's time: the admin clock
 * (gateway/clock.ts DrivenClock) in TEST_MODE, the system clock otherwise. Idempotent; several may
 * run. Its stats (lag: the oldest due deadline not yet processed) go to Redis `<ns>:sweeper:stats`
 * for /admin/stats and /metrics.
 */
import { loadConfig } from '../config/index.ts';
import { hasRedisTarget } from '../engine/redisClient.ts';
import { createLogger } from '../gateway/log.ts';
import { startStandaloneSweeper } from '../gateway/operations.ts';

function main(): void {
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel, name: 'sweeper' });
  if (!hasRedisTarget(config)) {
    log.error('REDIS_URL (or REDIS_CLUSTER_NODES) is required');
    process.exit(2);
  }
  const sweeper = startStandaloneSweeper(config, log);
  log.info(
    { namespace: config.namespace, testMode: config.testMode, intervalMs: config.sweepIntervalMs },
    'sweeper started',
  );
  const shutdown = (): void => {
    void sweeper.stop().then((stats) => {
      log.info(stats, 'sweeper stopped');
      process.exit(0);
    });
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main();
