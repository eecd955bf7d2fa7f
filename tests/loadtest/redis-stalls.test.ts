/**
 * The run's Redis stalls (loadtest/runner/redisStalls.ts), against a private redis-server: a
 * script that holds Redis for 60 ms is listed with its length and its second of the run; the
 * latency monitor is turned on for the watch only where it was off, and a threshold someone set
 * is left alone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '../../devstack/index.ts';
import { stallsInSecond } from '../../loadtest/report/redisStalls.ts';
import { RedisStallWatch } from '../../loadtest/runner/redisStalls.ts';

let dir: string;
let server: RedisServerHandle;
let redis: Redis;

/** Holds the Redis's one thread for `ms` (a busy loop inside a script). */
const holdRedis = (ms: number): Promise<unknown> =>
  redis.eval(
    `local t = redis.call('TIME'); local from = t[1] * 1e6 + t[2]
     repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] - from >= tonumber(ARGV[1]) * 1000
     return 1`,
    0,
    String(ms),
  );

const threshold = async (): Promise<string> =>
  ((await redis.config('GET', 'latency-monitor-threshold')) as string[])[1]!;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'redis-stalls-'));
  server = await startRedisServer({ dir });
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('RedisStallWatch', () => {
  it('lists a 60 ms stall in its second of the run, and turns the monitor off again', async () => {
    expect(await threshold()).toBe('0');
    const startedAtMs = Date.now();
    const watch = await RedisStallWatch.start(redis, 20, startedAtMs);
    expect(await threshold()).toBe('20');
    await holdRedis(5); // under the threshold: not listed
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const heldAtS = (Date.now() - startedAtMs) / 1000;
    await holdRedis(60);
    const stalls = await watch.stop();

    expect(await threshold()).toBe('0');
    expect(stalls.thresholdMs).toBe(20);
    expect(stalls.events).toHaveLength(1);
    const [stall] = stalls.events;
    expect(stall!.event).toBe('command');
    expect(stall!.ms).toBeGreaterThanOrEqual(60);
    expect(stall!.ms).toBeLessThan(200);
    expect(stall!.node).toBe(`127.0.0.1:${server.port}`);
    // whole seconds of Redis's clock, moved onto the run's
    expect(Math.abs(stall!.atS - heldAtS)).toBeLessThanOrEqual(1.1);
    const second = Math.floor(heldAtS);
    expect(stallsInSecond(stalls, second)).toEqual([stall]);
    expect(stallsInSecond(stalls, second + 3)).toEqual([]);
  });

  it("leaves a threshold someone set alone, and lists only the run's own stalls", async () => {
    await redis.config('SET', 'latency-monitor-threshold', '5');
    const watch = await RedisStallWatch.start(redis, 20, Date.now() + 2_000);
    // the first test's stall is older than this run: not listed
    const stalls = await watch.stop(Date.now() + 2_000);
    expect(stalls.events).toEqual([]);
    expect(await threshold()).toBe('5');
    await redis.config('SET', 'latency-monitor-threshold', '0');
  });
});
