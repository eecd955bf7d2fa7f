/**
 * `npm run baseline` — the conventional baseline (loadtest/baseline) as a deployment would run it:
 * node:cluster with one worker process per core (WORKERS, default: cores) sharing PORT (default
 * 8090), each with its own pool of PostgreSQL connections (POOL_SIZE, default 20) to DATABASE_URL.
 * Migrates its schema first. SIGINT / SIGTERM stop the workers. Prints "baseline ready" when every
 * worker listens.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { createPool } from '../db/pool.ts';
import { migrateBaseline, startBaseline } from '../loadtest/baseline/index.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must be set');
  process.exit(2);
}
const port = Number(process.env.PORT ?? 8090);
const workers = Number(process.env.WORKERS ?? availableParallelism());

if (cluster.isPrimary) {
  const pool = createPool(databaseUrl, { max: 1 });
  await migrateBaseline(pool);
  await pool.end();
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (message) => {
      if (message === 'ready' && ++ready === workers)
        console.log(`baseline ready on port ${port} (${workers} workers)`);
    });
  }
  const stop = (): void => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  const server = await startBaseline({
    databaseUrl,
    port,
    host: process.env.HOST ?? '127.0.0.1',
    poolSize: Number(process.env.POOL_SIZE ?? 20),
  });
  process.send?.('ready');
  process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
}
