/**
 * The system under a surge in a process of its own (loadtest/runner/system.ts), in TEST_MODE over
 * the run's Redis (a key namespace of its own) and a fresh PostgreSQL database, with the rate rules
 * out of the way of a surge from one address; plus the options `runSurge` needs to reach it.
 */
import { randomBytes } from 'node:crypto';
import type { SurgeOptions } from '../../loadtest/runner/run.ts';
import {
  ONE_ADDRESS_LIMITS,
  spawnSystem,
  type SpawnedSystem,
  type SpawnOptions,
} from '../../loadtest/runner/system.ts';
import { redisUrl } from './env.ts';
import { freshDatabase, type FreshDatabase } from './pg.ts';

export interface SurgeTarget {
  readonly system: SpawnedSystem;
  readonly database: FreshDatabase;
  readonly options: Pick<SurgeOptions, 'base' | 'redisUrl' | 'databaseUrl' | 'namespace' | 'adminToken'>;
  stop(): Promise<void>;
}

export async function startSurgeTarget(
  env: NodeJS.ProcessEnv = {},
  spawnOptions: SpawnOptions = {},
): Promise<SurgeTarget> {
  const database = await freshDatabase();
  const namespace = `lt${randomBytes(3).toString('hex')}`;
  const adminToken = randomBytes(18).toString('base64url');
  const system = await spawnSystem(
    {
      TEST_MODE: '1',
      REDIS_URL: redisUrl(),
      DATABASE_URL: database.url,
      KEY_NAMESPACE: namespace,
      ADMIN_TOKEN: adminToken,
      THREADS: '2',
      PAYMENT_SIMULATOR_PORT: '0',
      ...ONE_ADDRESS_LIMITS,
      ...env,
    },
    spawnOptions,
  );
  return {
    system,
    database,
    options: { base: system.base, redisUrl: redisUrl(), databaseUrl: database.url, namespace, adminToken },
    async stop() {
      await system.stop();
      await database.drop();
    },
  };
}
