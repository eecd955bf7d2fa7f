/**
 * `npm run writer`: the stream writer alone (db/writer.ts), on REDIS_URL / DATABASE_URL /
 * KEY_NAMESPACE. Several may run at once; each needs a distinct consumer name (WRITER_CONSUMER,
 * default host-pid). Optional: WRITER_BATCH_SIZE (1000), WRITER_CLAIM_IDLE_MS (30000),
 * WRITER_MAX_ATTEMPTS (3), WRITER_RETAIN_MS (600000), WRITER_LANES (1: concurrent
 * transactions, the streams spread over them), WRITER_INSERT (unnest | copy). The best
 * configuration of `npm run bench:writer` is WRITER_LANES=4 WRITER_INSERT=copy WRITER_BATCH_SIZE=5000. SIGINT / SIGTERM stop it after its batch.
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

const int = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer`);
  return value;
};

const config = loadConfig(process.env);
const log = createLogger({ level: config.logLevel, name: 'writer' });
if (!config.redisUrl || !config.databaseUrl) {
  log.error('REDIS_URL and DATABASE_URL are required');
  process.exit(2);
}
const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
const lanes = Math.max(1, int('WRITER_LANES', 1));
const db = createPool(config.databaseUrl, { max: lanes + 1, applicationName: 'writer' });
// an idle client whose server went away must not crash the process: the writer retries
db.on('error', (error) => log.warn({ err: error }, 'idle PostgreSQL client failed'));
const consumer = process.env.WRITER_CONSUMER || `${hostname()}-${process.pid}`;
const insertWith = process.env.WRITER_INSERT || 'unnest';
if (insertWith !== 'unnest' && insertWith !== 'copy') {
  log.error(`WRITER_INSERT must be unnest or copy, got "${insertWith}"`);
  process.exit(2);
}
const writer = new StreamWriter(redis, db, {
  streams: new KeySpace(config.namespace).allStreams(PROVINCE_CODES),
  consumer,
  batchSize: int('WRITER_BATCH_SIZE', 1000),
  lanes,
  insertWith,
  claimIdleMs: int('WRITER_CLAIM_IDLE_MS', 30_000),
  claimIntervalMs: int('WRITER_CLAIM_INTERVAL_MS', 5_000),
  maxAttempts: int('WRITER_MAX_ATTEMPTS', 3),
  retainMs: int('WRITER_RETAIN_MS', 600_000),
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
