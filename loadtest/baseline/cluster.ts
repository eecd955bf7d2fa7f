/**
 * The baseline as a deployment would run it: node:cluster with one worker process per core sharing
 * one port, each with its own pool of PostgreSQL connections. The primary migrates the schema,
 * forks the workers and prints "baseline ready" when every worker listens; SIGINT / SIGTERM stop
 * the workers. Called by the entry point in both roles (node:cluster runs that file in each worker).
 */
import cluster from 'node:cluster';
import { createPool } from '../../db/pool.ts';
import { migrateBaseline } from './seed.ts';
import { startBaseline } from './server.ts';

export interface BaselineClusterOptions {
  readonly databaseUrl: string;
  readonly port: number;
  readonly host: string;
  readonly workers: number;
  /** PostgreSQL connections per worker. */
  readonly poolSize: number;
}

export async function runBaselineCluster(options: BaselineClusterOptions): Promise<void> {
  const { databaseUrl, port, workers } = options;
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
    const server = await startBaseline({ databaseUrl, port, host: options.host, poolSize: options.poolSize });
    process.send?.('ready');
    process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
  }
}
