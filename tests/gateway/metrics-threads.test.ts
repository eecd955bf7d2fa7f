/**
 * /metrics when an app thread does not answer (issue 16 item 13). The answering thread asks the
 * main thread, which merges every thread's registry (gateway/server.ts); it used to wait for every
 * thread's part, so with one thread dead or stuck /metrics never answered, and each request kept
 * its admission slot for ever. Now the merge waits for a thread at most METRICS_THREAD_WAIT_MS (and
 * not at all for one that exited: gateway/metrics.test.ts), answers with what it has and says how
 * many threads are missing (`metrics_threads_missing`); the slot is given back.
 *
 * The gateway is started on its own here (gateway/server.ts startGateway) so that the test can
 * reach a thread's handle: the collection requests to one thread are dropped, so it stays alive
 * and serving but never answers a collection. (Ending it with worker.terminate() would abort the
 * whole process: uWS's handles are still open when the thread's loop closes.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, environmentWith } from '../../config/index.ts';
import { createPool } from '../../db/pool.ts';
import { migrate } from '../../db/migrate.ts';
import { createLogger } from '../../gateway/log.ts';
import { startGateway, type RunningGateway } from '../../gateway/server.ts';
import { redisUrl } from '../support/env.ts';
import { UNHURRIED_LANE_ENV } from '../support/lanes.ts';
import { freshDatabase, type FreshDatabase } from '../support/pg.ts';
import { removeNamespace } from '../support/redis.ts';
import { Redis } from 'ioredis';

/** /metrics is a background request: half of MAX_IN_FLIGHT, so a leaked slot per request sheds the third. */
const MAX_IN_FLIGHT = 4;

let database: FreshDatabase;
let gateway: RunningGateway;
let namespace: string;

beforeAll(async () => {
  database = await freshDatabase();
  const db = createPool(database.url, { max: 1 });
  await migrate(db);
  await db.end();
  namespace = `m${randomBytes(4).toString('hex')}`;
  const config = loadConfig(
    environmentWith({
      TEST_MODE: '1',
      PORT: '0',
      HOST: '127.0.0.1',
      THREADS: '2',
      POOL_THREADS: '1',
      REDIS_URL: redisUrl(),
      DATABASE_URL: database.url,
      KEY_NAMESPACE: namespace,
      ADMIN_TOKEN: 'test-admin-token-0123456789',
      LOG_LEVEL: 'warn',
      MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
      ADMISSION_ADAPTIVE: '0',
      ...UNHURRIED_LANE_ENV,
    }),
  );
  gateway = await startGateway(config, createLogger({ level: 'warn', name: 'metrics-threads-test' }));
}, 120_000);

afterAll(async () => {
  await gateway?.stop(2_000);
  const redis = new Redis(redisUrl());
  await removeNamespace(redis, namespace);
  redis.disconnect();
  await database?.drop();
});

function metricValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

async function metrics(): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  const answer = await fetch(`http://127.0.0.1:${gateway.port}/metrics`, {
    signal: AbortSignal.timeout(10_000),
  });
  const text = await answer.text();
  return { status: answer.status, text, ms: performance.now() - started };
}

describe('/metrics with an app thread gone (issue 16 item 13)', () => {
  it('answers within a few seconds with what it has, names the missing thread, and gives its slot back', async () => {
    const whole = await metrics();
    expect(whole.status).toBe(200);
    expect(metricValue(whole.text, 'gateway_threads')).toBe(2);
    // each thread's OS id, for per-thread CPU: the main thread's is the process id, the app
    // threads' are two others, each a task of this process
    const tids = [
      ...whole.text.matchAll(/^gateway_thread_info\{role="(main|app)"(?:,index="\d")?,tid="(\d+)"\} 1$/gm),
    ];
    expect(tids.map((m) => m[1])).toEqual(['main', 'app', 'app']);
    expect(Number(tids[0]![2])).toBe(process.pid);
    expect(new Set(tids.map((m) => m[2])).size).toBe(3);
    for (const m of tids) expect(existsSync(`/proc/${process.pid}/task/${m[2]}`)).toBe(true);

    const stuck = gateway.appThreads[1]!;
    const post = stuck.postMessage.bind(stuck);
    stuck.postMessage = (message: { type?: string }) => {
      if (message.type !== 'collect-metrics') post(message);
    };
    // more requests than the background class's slots: each must give its slot back
    for (let round = 0; round < MAX_IN_FLIGHT; round++) {
      const answer = await metrics();
      expect(answer.status).toBe(200);
      expect(answer.ms).toBeLessThan(5_000);
      expect(metricValue(answer.text, 'gateway_threads')).toBe(2);
      expect(metricValue(answer.text, 'metrics_threads_missing')).toBe(1);
      // the surviving thread's registry is there: only this request in flight
      expect(metricValue(answer.text, 'admission_in_flight')).toBeLessThanOrEqual(1);
      expect(answer.text).toContain('http_requests_total');
    }
    // the thread answers again: the whole process is back in one answer
    stuck.postMessage = post;
    const again = await metrics();
    expect(again.ms).toBeLessThan(5_000);
    expect(metricValue(again.text, 'metrics_threads_missing')).toBe(0);
    // both threads' gauges summed: every earlier /metrics request gave its slot back
    expect(metricValue(again.text, 'admission_in_flight')).toBeLessThanOrEqual(1);
    const health = await fetch(`http://127.0.0.1:${gateway.port}/healthz`, {
      signal: AbortSignal.timeout(10_000),
    });
    expect(health.status).toBe(200);
  }, 90_000);
});

/** Sockets of this process listening on `port` (IPv4), from /proc/net/tcp: state 0A is LISTEN. */
function listeningSockets(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const [, local, , state] = line.trim().split(/\s+/);
      return state === '0A' && local?.endsWith(`:${hexPort}`);
    }).length;
}

describe('a gateway asked for port 0', () => {
  it('listens with every app thread on the port the kernel gave thread 0, not on one found free beforehand', () => {
    expect(gateway.port).toBeGreaterThan(0);
    expect(listeningSockets(gateway.port)).toBe(2);
  });
});
