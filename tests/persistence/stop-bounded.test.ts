/**
 * Issue 16 item 16: the graceful stop is bounded when Redis died first. The writer's blocking read,
 * the sweeper's pass and the other parts' commands wait for ever on a Redis that is gone (their
 * connections reconnect without limit), so before the fix `npm start` never exited on SIGTERM.
 * Now every part gets a time limit; a part past it is abandoned, its connections closed, and named;
 * `npm start` then exits non-zero. The writer and the sweeper bound their own stop below that limit.
 * Each case runs against a private redis-server of its own, killed with SIGKILL.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '../../devstack/index.ts';
import { startSystem, type StopOutcome } from '../../gateway/system.ts';
import { freshDatabase } from '../support/pg.ts';
import { sleep, waitFor } from '../support/wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The system's time limit is 10 s; this leaves room for a busy machine, not for a hang. */
const STOP_WITHIN_MS = 15_000;

const SYSTEM_ENV = {
  TEST_MODE: '1',
  PORT: '0',
  HOST: '127.0.0.1',
  THREADS: '1',
  POOL_THREADS: '1',
  ADMIN_TOKEN: 'stop-bounded-admin-token-0123456789',
  PAYMENT_SIMULATOR_PORT: '0',
  SWEEP_INTERVAL_MS: '50',
};

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function privateRedis(): Promise<RedisServerHandle> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'redis-stop-'));
  const server = await startRedisServer({ dir });
  cleanups.push(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return server;
}

async function privateDatabase(): Promise<string> {
  const database = await freshDatabase();
  cleanups.push(() => database.drop());
  return database.url;
}

it('in process: stop() after kill -9 of Redis resolves within the limit; the writer and sweeper stop by themselves', async () => {
  const server = await privateRedis();
  const system = await startSystem({
    ...SYSTEM_ENV,
    REDIS_URL: server.url,
    DATABASE_URL: await privateDatabase(),
    KEY_NAMESPACE: 'stopin',
    LOG_LEVEL: 'silent',
  });
  expect((await fetch(`http://127.0.0.1:${system.port}/readyz`)).status).toBe(200);
  await server.kill('SIGKILL');
  await sleep(1_000); // the window in which the blocking read and the next sweep get stuck on it

  const stopped = await Promise.race([
    system.stop(),
    sleep(STOP_WITHIN_MS).then(() => `still stopping after ${STOP_WITHIN_MS} ms` as const),
  ]);
  expect(stopped).not.toBe(`still stopping after ${STOP_WITHIN_MS} ms`);
  const { hung } = stopped as StopOutcome;
  // bounded by their own stop (5 s), well inside the system's limit
  expect(hung).not.toContain('writer');
  expect(hung).not.toContain('sweeper');
}, 60_000);

it('npm start: SIGTERM after kill -9 of Redis exits within the limit, non-zero exactly when a part hung, naming it', async () => {
  const server = await privateRedis();
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...SYSTEM_ENV,
      REDIS_URL: server.url,
      DATABASE_URL: await privateDatabase(),
      KEY_NAMESPACE: 'stopnpm',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const logLines = (): Record<string, unknown>[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  await waitFor(() => logLines().some((line) => line.msg === 'system started'), {
    timeoutMs: 60_000,
    intervalMs: 100,
    message: 'npm start to be up',
  });
  await server.kill('SIGKILL');
  await sleep(1_000); // as above
  child.kill('SIGTERM');

  const code = await Promise.race([exited, sleep(STOP_WITHIN_MS).then(() => 'still running' as const)]);
  expect(code).not.toBe('still running');
  const timedOut = logLines().find((line) => line.msg === 'graceful stop timed out');
  if (code === 0) {
    expect(timedOut).toBeUndefined();
  } else {
    expect(code).toBe(1);
    expect(timedOut?.hung).toEqual(expect.arrayContaining([expect.any(String)]));
    expect(timedOut?.hung).not.toContain('writer');
    expect(timedOut?.hung).not.toContain('sweeper');
  }
}, 120_000);
