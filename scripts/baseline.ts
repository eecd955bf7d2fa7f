/**
 * `npm run baseline` — the conventional baseline (loadtest/baseline) as a deployment would run it
 * (loadtest/baseline/cluster.ts): one worker process per core (WORKERS, default: cores) sharing
 * PORT (default 8090), each with its own pool of PostgreSQL connections (POOL_SIZE, default 20) to
 * DATABASE_URL. Migrates its schema first. SIGINT / SIGTERM stop the workers. Prints "baseline
 * ready" when every worker listens.
 */
import { availableParallelism } from 'node:os';
import { runBaselineCluster } from '../loadtest/baseline/cluster.ts';

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error('DATABASE_URL must be set');
    process.exit(2);
  }
  await runBaselineCluster({
    databaseUrl,
    port: Number(process.env.PORT ?? 8090),
    host: process.env.HOST ?? '127.0.0.1',
    workers: Number(process.env.WORKERS ?? availableParallelism()),
    poolSize: Number(process.env.POOL_SIZE ?? 20),
  });
}

await main();
