/**
 * Safe defaults (API.md "Running it"; issue 16 items 3 and 8): outside TEST_MODE the system does
 * not start with the public development ID keys or without ADMIN_TOKEN, and it refuses a Redis that
 * could lose (no AOF) or evict (an evicting maxmemory-policy) an acknowledged hold, unless
 * REDIS_DURABILITY=relaxed says so explicitly. Each case starts the real system against a real
 * redis-server configured the way a careless deployment would.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '../../devstack/index.ts';
import { startSystem } from '../../gateway/system.ts';
import { freshDatabase } from '../support/pg.ts';

const PRODUCTION = {
  TEST_MODE: '0',
  PORT: '0',
  HOST: '127.0.0.1',
  THREADS: '1',
  POOL_THREADS: '1',
  LOG_LEVEL: 'silent',
  ADMIN_TOKEN: 'safe-defaults-admin-token-0123456789',
  ID_HMAC_KEY: randomBytes(32).toString('hex'),
  ID_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
  KEY_NAMESPACE: 'safe',
};

const servers: RedisServerHandle[] = [];
const dirs: string[] = [];

async function scratchRedis(extraArgs: string[]): Promise<RedisServerHandle> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'redis-safe-'));
  dirs.push(dir);
  const server = await startRedisServer({ dir, extraArgs });
  servers.push(server);
  return server;
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('outside TEST_MODE the system refuses an unsafe configuration', () => {
  it('the development ID keys, given or defaulted, and a missing ADMIN_TOKEN stop the start', async () => {
    // refused before anything is started: no Redis or PostgreSQL is needed to be told
    const withoutKeys = { ...PRODUCTION, ID_HMAC_KEY: undefined, ID_ENCRYPTION_KEY: undefined };
    await expect(startSystem(withoutKeys)).rejects.toThrow(
      /ID_HMAC_KEY and ID_ENCRYPTION_KEY must be set \(the development keys are public\)/,
    );
    const withoutToken = { ...PRODUCTION, ADMIN_TOKEN: undefined };
    await expect(startSystem(withoutToken)).rejects.toThrow(/ADMIN_TOKEN must be set/);
  });

  it('a Redis without the append-only file, or with an evicting policy, is refused; REDIS_DURABILITY=relaxed runs anyway', async () => {
    const database = await freshDatabase();
    try {
      const noAof = await scratchRedis(['--appendonly', 'no']);
      await expect(
        startSystem({ ...PRODUCTION, REDIS_URL: noAof.url, DATABASE_URL: database.url }),
      ).rejects.toThrow(/appendonly is off/);
      const evicting = await scratchRedis(['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru']);
      await expect(
        startSystem({ ...PRODUCTION, REDIS_URL: evicting.url, DATABASE_URL: database.url }),
      ).rejects.toThrow(/maxmemory-policy is allkeys-lru, not noeviction/);

      const relaxed = await startSystem({
        ...PRODUCTION,
        REDIS_URL: evicting.url,
        DATABASE_URL: database.url,
        REDIS_DURABILITY: 'relaxed',
      });
      try {
        const ready = await fetch(`http://127.0.0.1:${relaxed.port}/readyz`);
        expect(ready.status).toBe(200);
      } finally {
        await relaxed.stop();
      }
      // the stack's own Redis (AOF always, noeviction) passes in production mode
      const safe = await scratchRedis([]);
      const system = await startSystem({ ...PRODUCTION, REDIS_URL: safe.url, DATABASE_URL: database.url });
      await system.stop();
    } finally {
      await database.drop();
    }
  }, 120_000);
});
