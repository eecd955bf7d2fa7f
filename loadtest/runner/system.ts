/**
 * The system under test in a process of its own (`scripts/start.ts`, as `npm start` runs it), so
 * that the load generator never shares an event loop with the gateway's threads, writer, sweeper
 * or worker pool. Waits for /readyz; stop() sends SIGTERM and waits for the exit.
 * SYSTEM_NODE_ARGS (space-separated) adds Node flags to that process, e.g. to profile a benchmark:
 * SYSTEM_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:gateway.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { environmentWith, systemNodeArgs } from '../../config/index.ts';

/**
 * Every simulated candidate of one load generator comes from one address (127.0.0.1, or the
 * generator's host): per-address limits would throttle a whole province as one client. These lift
 * them; per-account limits stay as configured (the bots of the surge meet them).
 */
export const ONE_ADDRESS_LIMITS: Readonly<NodeJS.ProcessEnv> = {
  RATE_LOGIN_PER_IP_PER_MINUTE: '100000000',
  RATE_SMS_PER_IP_PER_MINUTE: '100000000',
  RATE_REGISTER_PER_IP_PER_MINUTE: '100000000',
  RATE_LOOKUP_PER_IP_PER_MINUTE: '100000000',
  WS_MAX_PER_ADDRESS: '100000000',
  CAPTCHA_FREE_PER_IP_PER_HOUR: '100000000',
};

export interface SpawnedSystem {
  readonly base: string;
  readonly port: number;
  /** App threads the gateway runs (from /metrics). */
  readonly threads: number;
  readonly pid: number;
  /** The OS thread ids of its app threads (gateway_thread_info in /metrics; empty off Linux). */
  readonly appThreadIds: readonly number[];
  stop(): Promise<void>;
}

export interface SpawnOptions {
  readonly readyTimeoutMs?: number;
  /** Receives the system's stdout and stderr (its logs) instead of this process's own. */
  readonly output?: (text: string) => void;
}

export async function spawnSystem(
  env: NodeJS.ProcessEnv,
  options: SpawnOptions = {},
): Promise<SpawnedSystem> {
  const extra = systemNodeArgs();
  // PORT=0: the gateway finds a port just before it listens and says which over the IPC channel; a
  // port found free here could be taken (by another test's system, even) before the child listened
  const child = spawn(
    process.execPath,
    ['--max-semi-space-size=64', ...extra, '--import', 'tsx', 'scripts/start.ts'],
    {
      env: environmentWith({ HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env, PORT: '0' }),
      stdio: ['ignore', options.output ? 'pipe' : 'inherit', options.output ? 'pipe' : 'inherit', 'ipc'],
    },
  );
  if (options.output) {
    const forward = options.output;
    child.stdout?.on('data', (chunk: Buffer) => forward(chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => forward(chunk.toString('utf8')));
  }
  const stop = (): Promise<void> => stopChild(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the system under test did not start listening')),
      options.readyTimeoutMs ?? 90_000,
    );
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'listening' && typeof message.port === 'number') {
        clearTimeout(timer);
        child.disconnect();
        resolve(message.port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the system under test exited (${code}) before it listened`));
    });
  }).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  for (;;) {
    const ready = await fetch(`${base}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ready) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error('the system under test did not become ready');
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // one thread may answer /readyz before the main thread has heard every other one say ready:
  // ask until every app thread's OS id is there (none off Linux)
  let threads = 0;
  let appThreadIds: number[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    threads = Number(/^gateway_threads (\d+)/m.exec(metrics)?.[1] ?? 0);
    appThreadIds = [
      ...metrics.matchAll(/^gateway_thread_info\{role="app",index="\d+",tid="(\d+)"\} 1$/gm),
    ].map((m) => Number(m[1]));
    if (appThreadIds.length >= threads || !metrics.includes('gateway_thread_info{role="main"')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { base, port, threads, pid: child.pid ?? 0, appThreadIds, stop };
}

/** A helper process of the system (`scripts/writer.ts`, `scripts/sweeper.ts`) on the same stores. */
export interface SpawnedHelper {
  readonly pid: number;
  stop(): Promise<void>;
}

export function spawnHelper(script: 'writer' | 'sweeper', env: NodeJS.ProcessEnv): SpawnedHelper {
  const child = spawn(
    process.execPath,
    ['--max-semi-space-size=64', ...systemNodeArgs(), '--import', 'tsx', `scripts/${script}.ts`],
    { env: environmentWith({ LOG_LEVEL: 'warn', ...env }), stdio: ['ignore', 'inherit', 'inherit'] },
  );
  return { pid: child.pid ?? 0, stop: () => stopChild(child) };
}

/** SIGTERM, then resolves once the process has exited (at once if it already has). */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
