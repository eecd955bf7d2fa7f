/**
 * `npm run reconcile [--repair] [--province 11,12]`: compares Redis with PostgreSQL (db/reconcile.ts)
 * on REDIS_URL / DATABASE_URL / KEY_NAMESPACE, prints every difference (one JSON line each) and a
 * summary, and exits 1 while drift remains (0 when none). Dead-letter streams with entries are
 * printed as alerts ({"alert":true,…}) without counting as drift. `--repair` first re-delivers the events
 * still in the streams but not in PostgreSQL through the writer's code path, then rebuilds from
 * Redis what is still different. Run it on a drained system: entries the writer has not reached yet
 * count as drift.
 */
import { Redis } from 'ioredis';
import { Engine } from '../engine/engine.ts';
import { PROVINCE_CODES } from '../engine/provinces.ts';
import { createPool } from '../db/pool.ts';
import { reconcile, type ReconcileReport } from '../db/reconcile.ts';
import { loadConfig } from '../gateway/config.ts';

export async function runReconcile(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReconcileReport> {
  const config = loadConfig(env);
  if (!config.redisUrl || !config.databaseUrl) throw new Error('REDIS_URL and DATABASE_URL are required');
  const repair = argv.includes('--repair');
  const at = argv.indexOf('--province');
  const provinces = at >= 0 ? (argv[at + 1] ?? '').split(',').filter(Boolean) : [...PROVINCE_CODES];
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const db = createPool(config.databaseUrl, { max: 4, applicationName: 'reconcile' });
  try {
    const engine = new Engine(redis, { namespace: config.namespace });
    return await reconcile(engine, db, {
      provinces,
      streams: engine.keys.allStreams(PROVINCE_CODES),
      repair,
    });
  } finally {
    redis.disconnect();
    await db.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const report = await runReconcile(process.argv.slice(2));
    for (const difference of report.differences) process.stdout.write(`${JSON.stringify(difference)}\n`);
    for (const alert of report.alerts) process.stdout.write(`${JSON.stringify({ alert: true, ...alert })}\n`);
    const byKind: Record<string, number> = {};
    for (const d of report.differences) byKind[d.kind] = (byKind[d.kind] ?? 0) + 1;
    process.stdout.write(
      `${JSON.stringify({ drift: report.differences.length, byKind, deadLetterStreams: report.alerts.length, redeliveredEvents: report.redeliveredEvents, rebuiltRows: report.rebuiltRows })}\n`,
    );
    process.exit(report.differences.length === 0 ? 0 : 1);
  } catch (error) {
    process.stderr.write(`reconcile failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(2);
  }
}
