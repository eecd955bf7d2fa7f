/**
 * `npm run writer`: the stream writer alone (gateway/operations.ts, db/writer.ts), on REDIS_URL /
 * DATABASE_URL / KEY_NAMESPACE. Several may run at once; each needs a distinct consumer name
 * (WRITER_CONSUMER, default host-pid). Its settings (WRITER_INSERT, WRITER_BATCH_SIZE, WRITER_LANES,
 * …) are those of config/index.ts, the same as `npm start`'s writer. SIGINT / SIGTERM stop it
 * after its batch. Single-node Redis only (one blocking XREADGROUP over every stream).
 */
import { loadConfig } from '../config/index.ts';
import { createLogger } from '../gateway/log.ts';
import { startStandaloneWriter } from '../gateway/operations.ts';

function main(): void {
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel, name: 'writer' });
  if (!config.redisUrl || !config.databaseUrl) {
    log.error('REDIS_URL and DATABASE_URL are required');
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
