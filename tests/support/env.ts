/**
 * Where the tests' Redis and PostgreSQL are: provided by tests/globalSetup.ts (private processes
 * started for the run, or REDIS_URL / DATABASE_URL when given).
 */
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    databaseUrl: string;
  }
}

export function redisUrl(): string {
  return inject('redisUrl');
}

export function databaseUrl(): string {
  return inject('databaseUrl');
}
