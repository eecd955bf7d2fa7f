/**
 * `npm run sweeper` (scripts/sweeper.ts) as its own process in TEST_MODE: it follows the admin
 * clock (DrivenClock at clockKey(namespace)), releases a hold once the clock passes its pay-by,
 * and publishes its stats (lag included) in Redis for /admin/stats and /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sweeperStatsKey } from '../../engine/sweeper.ts';
import { DrivenClock } from '../../gateway/clock.ts';
import { clockKey } from '../../gateway/services.ts';
import { campus, loadFixture, newTestEngine, T0, type TestEngine } from '../support/engine.ts';
import { redisUrl } from '../support/env.ts';
import { waitFor } from '../support/wait.ts';
import { bindN } from './support.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOLD_MS = 60_000;
const C1 = campus({ campusId: 'PS1', schoolId: 'SPS1', capacity: { CET4: 10 } });
let te: TestEngine;
let child: ChildProcess | undefined;

beforeAll(async () => {
  te = await newTestEngine({ holdMs: HOLD_MS });
  await loadFixture(te.engine, { campuses: [C1] });
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await te?.close();
});

it('follows the admin clock in TEST_MODE and reports its lag', async () => {
  const { engine } = te;
  const clock = new DrivenClock(te.redis, clockKey(te.namespace));
  await clock.set({ nowMs: T0 });
  const ref = await bindN(engine, 's', 0, C1.campusId, T0);
  expect(
    (await engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 })).ok,
  ).toBe(true);
  child = spawn(process.execPath, ['--import', 'tsx', 'scripts/sweeper.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: redisUrl(),
      KEY_NAMESPACE: te.namespace,
      TEST_MODE: '1',
      SWEEP_INTERVAL_MS: '50',
      HOLD_MS: String(HOLD_MS),
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const statsKey = sweeperStatsKey(te.namespace);
  const sweeps = async () =>
    Object.values(await te.redis.hgetall(statsKey)).reduce(
      (sum, json) => sum + (JSON.parse(json) as { sweeps: number }).sweeps,
      0,
    );
  // two passes published: the second began after the first had read the clock at T0, so the
  // sweeper has looked at a hold that is not due yet
  await waitFor(async () => (await sweeps()) >= 2, {
    timeoutMs: 30_000,
    intervalMs: 100,
    message: 'two passes of the sweeper',
  });
  expect((await engine.registration('11', ref.candidateId))?.written[0]?.status).toBe('HELD');
  await clock.set({ nowMs: T0 + HOLD_MS + 2_000 });
  await waitFor(
    async () => (await engine.registration('11', ref.candidateId))?.written[0]?.status === 'EXPIRED',
    { timeoutMs: 30_000, intervalMs: 100, message: 'the hold to expire' },
  );
  const stats = Object.values(await te.redis.hgetall(statsKey)).map(
    (json) => JSON.parse(json) as { expired: number; lagMs: number },
  );
  await waitFor(
    async () =>
      Object.values(await te.redis.hgetall(statsKey)).some(
        (json) => (JSON.parse(json) as { expired: number }).expired === 1,
      ),
    { timeoutMs: 5_000, intervalMs: 100, message: 'stats to show the expiry' },
  );
  expect(stats.every((s) => s.lagMs < 5_000)).toBe(true);
  const exited = new Promise((resolve) => child!.once('exit', resolve));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  child = undefined;
}, 60_000);
