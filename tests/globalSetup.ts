/**
 * Vitest global setup: one stack for the whole run (private redis-server and PostgreSQL in a temp
 * dir, or REDIS_URL / DATABASE_URL when set), handed to the tests through `provide`; the tests read
 * it with tests/support/env.ts. Teardown stops what was started and removes its data.
 */
import type { TestProject } from 'vitest/node';
import type {} from './support/env.ts';
import { startStack, type Stack } from '../devstack/index.ts';

let stack: Stack | undefined;

export async function setup(project: TestProject): Promise<void> {
  stack = await startStack();
  project.provide('redisUrl', stack.redisUrl);
  project.provide('databaseUrl', stack.databaseUrl);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
  stack = undefined;
}
