/**
 * `npm run baseline` — the conventional baseline (loadtest/baseline) as a deployment would run it
 * (loadtest/baseline/cluster.ts): one worker process per core (WORKERS, default: cores) sharing
 * PORT (default 8090), each with its own pool of PostgreSQL connections (POOL_SIZE, default 20) to
 * DATABASE_URL. Migrates its schema first. SIGINT / SIGTERM stop the workers. Prints "baseline
 * ready" when every worker listens.
 */
import { baselineConfig, ConfigError } from '../config/index.ts';
import { runBaselineCluster } from '../loadtest/baseline/cluster.ts';

async function main(): Promise<void> {
  let settings;
  try {
    settings = baselineConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
  await runBaselineCluster(settings);
}

await main();
