/**
 * `npm run writer`: the stream writer alone (db/writer.ts), on REDIS_URL / DATABASE_URL /
 * KEY_NAMESPACE. Several may run at once; each needs a distinct consumer name (WRITER_CONSUMER,
 * default host-pid). Its settings (WRITER_INSERT, WRITER_BATCH_SIZE, WRITER_LANES, …) are those
 * of gateway/config.ts, the same as `npm start`'s writer. SIGINT / SIGTERM stop it after its batch.
 * Single-node Redis only (one blocking XREADGROUP over every stream).
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { KeySpace } from '../engine/keys.ts';
import { PROVINCE_CODES } from '../engine/provinces.ts';
import { createPool } from '../db/pool.ts';
import { StreamWriter } from '../db/writer.ts';
import { loadConfig } from '../gateway/config.ts';
import { createLogger } from '../gateway/log.ts';

const config = loadConfig(process.env);
const log = createLogger({ level: config.logLevel, name: 'writer' });
if (!config.redisUrl || !config.databaseUrl) {
  log.error('REDIS_URL and DATABASE_URL are required');
  process.exit(2);
}
const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
const db = createPool(config.databaseUrl, { max: config.writer.lanes + 1, applicationName: 'writer' });
// an idle client whose server went away must not crash the process: the writer retries
db.on('error', (error) => log.warn({ err: error }, 'idle PostgreSQL client failed'));
const consumer = config.writer.consumer || `${hostname()}-${process.pid}`;
const writer = new StreamWriter(redis, db, {
  ...config.writer,
  streams: new KeySpace(config.namespace).allStreams(PROVINCE_CODES),
  consumer,
  onError: (error) => log.warn({ err: error }, 'writer step failed (retrying)'),
  onDeadLetter: (letter) => log.error(letter, 'event dead-lettered'),
});
writer.start();
log.info({ consumer, namespace: config.namespace }, 'writer started');

const shutdown = (): void => {
  void writer.stop().then(async () => {
    await writer.publishStats().catch(() => undefined);
    redis.disconnect();
    await db.end();
    log.info(writer.current, 'writer stopped');
    process.exit(0);
  });
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
