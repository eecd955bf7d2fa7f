/**
 * `npm run writer`: the stream writer alone (gateway/operations.ts, db/writer.ts), on REDIS_URL (or
 * a Redis Cluster: REDIS_CLUSTER_NODES, issue 14) / DATABASE_URL / KEY_NAMESPACE. Several may run
 * at once and share the streams through the consumer group; each needs a distinct consumer name
 * (WRITER_CONSUMER, default host-pid), and one that dies is taken over (XAUTOCLAIM after
 * WRITER_CLAIM_IDLE_MS). Its settings (WRITER_INSERT, WRITER_BATCH_SIZE, WRITER_LANES, …) are those
 * of config/index.ts, the same as `npm start`'s writer. SIGINT / SIGTERM stop it after its batch.
 */
import { loadConfig } from '../config/index.ts';
import { hasRedisTarget } from '../engine/redisClient.ts';
import { createLogger } from '../gateway/log.ts';
import { startStandaloneWriter } from '../gateway/operations.ts';

function main(): void {
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel, name: 'writer' });
  if (!hasRedisTarget(config) || !config.databaseUrl) {
    log.error('REDIS_URL (or REDIS_CLUSTER_NODES) and DATABASE_URL are required');
    process.exit(2);
  }
  const writer = startStandaloneWriter(config, log);
  log.info({ consumer: writer.consumer, namespace: config.namespace }, 'writer started');
  const shutdown = (): void => {
    void writer.stop().then((stats) => {
      log.info(stats, 'writer stopped');
      process.exit(0);
    });
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main();
