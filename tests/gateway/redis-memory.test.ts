/**
 * The Redis memory alarm (issue 16 item 2): Redis runs with `noeviction`, so once it is full every
 * write is refused. GET /readyz fails its `redisMemory` check (503) from 90 % of `maxmemory`, and
 * /metrics shows `redis_memory_used_ratio`, against a private redis-server with a small maxmemory
 * filled past the mark, then emptied again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../config/defaults.ts';
import { startRedisServer, type RedisServerHandle } from '../../devstack/index.ts';
import { memoryUse, readDurability } from '../../engine/redisDurability.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let dir: string;
let server: RedisServerHandle;
let gw: TestGateway;
let filler: Redis;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'redis-memory-'));
  server = await startRedisServer({ dir, extraArgs: ['--maxmemory', '8mb'] });
  gw = await startTestGateway({ THREADS: '2' }, { redisUrl: server.url });
  filler = new Redis(server.url, { maxRetriesPerRequest: 1 });
}, 120_000);

afterAll(async () => {
  filler?.disconnect();
  await gw?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ratioInMetrics = async (): Promise<number> => {
  const text = (await gw.http.get('/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith('redis_memory_used_ratio'));
  expect(line, 'redis_memory_used_ratio in /metrics').toBeDefined();
  return Number(line!.split(' ').pop());
};

describe('Redis memory alarm', () => {
  it('readyz fails from 90 % of maxmemory and recovers below; the gauge follows', async () => {
    const before = await gw.http.get('/readyz');
    expect(before.status).toBe(200);
    expect(before.body.checks.redisMemory).toBe('ok');
    const low = await ratioInMetrics();
    expect(low).toBeGreaterThan(0);
    expect(low).toBeLessThan(0.9);

    // fill past the mark, short of maxmemory (noeviction refuses writes beyond it)
    const value = 'x'.repeat(32 * 1024);
    const keys: string[] = [];
    while (memoryUse(await readDurability(filler)) < 0.93) {
      const batch = filler.pipeline();
      for (let i = 0; i < 4; i++) {
        const key = `${gw.namespace}:fill:${keys.length}`;
        keys.push(key);
        batch.set(key, value);
      }
      await batch.exec();
    }
    const full = await gw.http.get('/readyz');
    expect(full.status).toBe(503);
    expect(full.body.status).toBe('not ready');
    expect(full.body.checks).toMatchObject({ redis: 'ok', postgres: 'ok', scripts: 'ok' });
    expect(full.body.checks.redisMemory).toMatch(/^used 9\d % of maxmemory \(alarm at 90 %\)$/);
    expect(await ratioInMetrics()).toBeGreaterThanOrEqual(0.9);

    await filler.unlink(...keys);
    const again = await gw.http.get('/readyz');
    expect(again.status).toBe(200);
    expect(again.body.checks.redisMemory).toBe('ok');
    expect(await ratioInMetrics()).toBeLessThan(0.9);
    expect(DEFAULTS.redisMemoryAlarmRatio).toBe(0.9);
  });
});
