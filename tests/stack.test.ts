/**
 * The stack helper (devstack/): the private Redis is durable (AOF, fsync always, no
 * eviction) and survives kill -9, the missing binary is explained, and the PostgreSQL given to
 * the tests commits synchronously. This checks the infrastructure below db/pool.ts, so it talks
 * to PostgreSQL with `pg` directly.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, startRedisServer, startStack, type RedisServerHandle } from '../devstack/index.ts';
import { databaseUrl, redisUrl } from './support/env.ts';

async function configOf(url: string, names: string[]): Promise<Record<string, string>> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const config: Record<string, string> = {};
    for (const name of names) {
      const [, value] = (await client.config('GET', name)) as [string, string];
      config[name] = value;
    }
    return config;
  } finally {
    client.disconnect();
  }
}

const DURABLE = { appendonly: 'yes', appendfsync: 'always', 'maxmemory-policy': 'noeviction' };

describe('startRedisServer', () => {
  let dir: string;
  let server: RedisServerHandle;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cet-stack-test-'));
    server = await startRedisServer({ dir });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs with appendonly yes, appendfsync always and maxmemory-policy noeviction', async () => {
    expect(await configOf(server.url, Object.keys(DURABLE))).toEqual(DURABLE);
  });

  it('keeps every acknowledged write across kill -9 and restart (AOF reload)', async () => {
    const writer = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    const acknowledged = await Promise.all(
      Array.from({ length: 500 }, () => writer.incr('stack-test:counter')),
    );
    expect(Math.max(...acknowledged)).toBe(500);
    await writer.set('stack-test:last', 'written just before the crash');
    const crashedPid = server.pid;

    await server.kill('SIGKILL');
    writer.disconnect();
    expect(isAlive(crashedPid)).toBe(false);

    await server.restart();
    expect(server.pid).not.toBe(crashedPid);
    const reader = new Redis(server.url);
    try {
      expect(await reader.get('stack-test:counter')).toBe('500');
      expect(await reader.get('stack-test:last')).toBe('written just before the crash');
    } finally {
      reader.disconnect();
    }
  });

  it('stop() shuts the server down and is safe to repeat', async () => {
    const pid = server.pid;
    await server.stop();
    await server.stop();
    expect(isAlive(pid)).toBe(false);
  });
});

it('names the fix when redis-server is not on PATH', async () => {
  const emptyDir = await mkdtemp(path.join(os.tmpdir(), 'cet-empty-path-'));
  try {
    const start = startRedisServer({ dir: path.join(emptyDir, 'data'), env: { PATH: emptyDir } });
    await expect(start).rejects.toThrow(/redis-server was not found on PATH/);
    await expect(start).rejects.toThrow(/apt-get install redis-server/);
    await expect(start).rejects.toThrow(/brew install redis/);
    await expect(start).rejects.toThrow(/docker compose up -d redis.*REDIS_URL/);
  } finally {
    await rm(emptyDir, { recursive: true, force: true });
  }
});

describe('startStack', () => {
  it('starts only what is asked for; stop() is idempotent and removes its temp dir', async () => {
    const stack = await startStack({ postgres: false, quiet: true, env: { PATH: process.env.PATH } });
    const pid = stack.redis?.pid ?? -1;
    expect(stack.redisUrl).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.databaseUrl).toBe('');
    expect(isAlive(pid)).toBe(true);
    expect(existsSync(stack.dataDir)).toBe(true);

    await Promise.all([stack.stop(), stack.stop()]);
    await stack.stop();
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(stack.dataDir)).toBe(false);
  });

  it('uses REDIS_URL and DATABASE_URL instead of starting servers', async () => {
    const env = {
      PATH: '',
      REDIS_URL: 'redis://redis.example:6390',
      DATABASE_URL: 'postgres://db.example/cet',
    };
    const stack = await startStack({ quiet: true, env });
    expect(stack.redis).toBeUndefined();
    expect(stack.redisUrl).toBe(env.REDIS_URL);
    expect(stack.databaseUrl).toBe(env.DATABASE_URL);
    await stack.stop();
  });
});

describe('the stack given to the tests (tests/globalSetup.ts)', () => {
  it.skipIf(process.env.REDIS_URL)('has a durable private Redis', async () => {
    expect(await configOf(redisUrl(), Object.keys(DURABLE))).toEqual(DURABLE);
  });

  it('has a PostgreSQL that answers and commits synchronously', async () => {
    const client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    try {
      expect((await client.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
      const setting = await client.query<{ synchronous_commit: string }>('show synchronous_commit');
      expect(setting.rows[0]?.synchronous_commit).toBe('on');
    } finally {
      await client.end();
    }
  });
});
