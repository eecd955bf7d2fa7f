/**
 * Adaptive admission under a planted slow Redis (ARCHITECTURE.md "The opening", P7): the gateway
 * talks to its Redis through a proxy that delays every reply. While Redis is fast the thread's
 * limit stays up and nothing is shed; once every reply takes 400 ms the answers miss the absolute
 * p99 target and the limit comes down, the excess is shed at once with 503 OVERLOADED and
 * Retry-After (fast, and never a long wait); when Redis is fast again the limit grows back.
 * The limit is read from the thread's own load report (the hash the queue keeper reads), straight
 * from the real Redis, not through the slow proxy.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '../../devstack/index.ts';
import type { ThreadLoad } from '../../engine/queueControl.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startSlowProxy, type SlowProxy } from '../support/slowProxy.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { seedTestWorld, type TestWorld } from '../support/world.ts';

const INITIAL_LIMIT = 64;

let redisServer: RedisServerHandle;
let redisDir: string;
let proxy: SlowProxy;
let gw: TestGateway;
let world: TestWorld;
let direct: Redis;

beforeAll(async () => {
  redisDir = await mkdtemp(path.join(os.tmpdir(), 'redis-admission-'));
  redisServer = await startRedisServer({ dir: redisDir });
  proxy = await startSlowProxy({ host: '127.0.0.1', port: Number(new URL(redisServer.url).port) });
  gw = await startTestGateway(
    {
      THREADS: '1',
      ADMISSION_INITIAL_LIMIT: String(INITIAL_LIMIT),
      ADMISSION_MIN_LIMIT: '4',
      // far from both phases' latencies, so that a busy CI machine cannot blur them
      ADMISSION_TARGET_P99_MS: '150',
    },
    { redisUrl: `redis://127.0.0.1:${proxy.port}` },
  );
  world = await seedTestWorld(gw);
  direct = new Redis(redisServer.url, { maxRetriesPerRequest: null });
}, 120_000);

afterAll(async () => {
  direct?.disconnect();
  await world?.close();
  await gw?.close();
  await proxy?.close();
  await redisServer?.stop();
  await rm(redisDir, { recursive: true, force: true });
});

async function limitNow(): Promise<number> {
  const reports = Object.values(await direct.hgetall(gw.engine.keys.gatewayLoad)).map(
    (raw) => JSON.parse(raw) as ThreadLoad,
  );
  expect(reports).toHaveLength(1);
  return reports[0]!.limit;
}

interface Load {
  readonly statuses: Map<number, number>;
  readonly shedMs: number[];
  readonly okMs: number[];
  readonly retryAfter: Set<string>;
}

/** `clients` loops of GET /api/v1/seats for `ms` (a read of Redis per request). */
async function drive(clients: number, ms: number): Promise<Load> {
  const load: Load = { statuses: new Map(), shedMs: [], okMs: [], retryAfter: new Set() };
  const until = performance.now() + ms;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const started = performance.now();
        const answer = await gw.http.get('/api/v1/seats?province=11');
        const took = performance.now() - started;
        load.statuses.set(answer.status, (load.statuses.get(answer.status) ?? 0) + 1);
        if (answer.status === 503) {
          load.shedMs.push(took);
          load.retryAfter.add(answer.headers.get('retry-after') ?? '');
          await sleep(20);
        } else load.okMs.push(took);
      }
    }),
  );
  return load;
}

const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)] ?? 0;

describe('adaptive admission (P7)', () => {
  it('brings the limit down under a slow Redis, sheds fast, and recovers', async () => {
    // fast: a light load is admitted whole, the limit stays where it was
    await waitFor(async () => (await direct.hlen(gw.engine.keys.gatewayLoad)) === 1, {
      message: 'a load report',
    });
    const fast = await drive(8, 1_500);
    expect(fast.statuses.get(503) ?? 0).toBe(0);
    // (a busy machine may trim it a little: what matters is that it stays far above the cut below)
    expect(await limitNow()).toBeGreaterThan(INITIAL_LIMIT / 2);

    // slow: every reply waits 400 ms, far above the 150 ms target: the limit comes down
    proxy.setDelay(400);
    const slow = await drive(120, 5_000);
    await sleep(600); // one more report
    const cut = await limitNow();
    expect(cut).toBeLessThanOrEqual(INITIAL_LIMIT / 4);
    expect(cut).toBeGreaterThanOrEqual(4); // the floor (ADMISSION_MIN_LIMIT)
    expect(slow.statuses.get(503) ?? 0).toBeGreaterThan(0);
    // Retry-After spreads the shed demand over the time to serve it (shed ÷ admitted, 1–30 s)
    for (const value of slow.retryAfter) {
      expect(Number(value)).toBeGreaterThanOrEqual(1);
      expect(Number(value)).toBeLessThanOrEqual(30);
    }
    // a shed answer never waits for Redis (every admitted one waits ≥ 400 ms for it)
    expect(p99(slow.shedMs)).toBeLessThan(400);
    expect(Math.max(...slow.okMs)).toBeLessThan(3_000);

    // fast again: the limit grows back
    proxy.setDelay(0);
    await drive(40, 4_000);
    await sleep(600);
    expect(await limitNow()).toBeGreaterThan(cut * 2);
  }, 60_000);
});
