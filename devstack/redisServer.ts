/**
 * A private redis-server on a free port of 127.0.0.1: durable as ARCHITECTURE.md "Durability" asks
 * (AOF with `appendfsync always` unless told otherwise, `noeviction`), ready only once it answers
 * PING with our own process id, stopped on exit and on signals. Never the system Redis (6379).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { environmentWith } from '../config/index.ts';
import { findBinary, REDIS_INSTALL_HINT } from './binaries.ts';
import { freePort } from './ports.ts';
import { cleanUpOnExit, terminateSync } from './processes.ts';
import { redisCommand } from './resp.ts';

export interface RedisServerOptions {
  dir: string;
  port?: number;
  /** Default `always`: no acknowledged write is lost on a crash (ARCHITECTURE.md "Durability"). */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Appended after the standard flags; later flags override earlier ones. */
  extraArgs?: string[];
  /** Where to look up the binary (PATH) and the server's environment; default this process's. */
  env?: NodeJS.ProcessEnv;
}

export interface RedisServerHandle {
  readonly url: string;
  readonly port: number;
  /** The current process id; changes on restart(). */
  readonly pid: number;
  readonly dir: string;
  readonly logFile: string;
  /** Sends `signal` (default SIGTERM) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts again on the same port and dir (reloading the AOF); stops first if still running. */
  restart(): Promise<void>;
  /** SHUTDOWN, then waits for the process to exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

const REDIS_START_TIMEOUT_MS = 15_000;

function tailOf(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log written)';
  }
}

/** A server this process started and owns: the stack also stops it from an `exit` handler. */
export interface OwnedRedisServer extends RedisServerHandle {
  /** For the `exit` event: SIGTERM (Redis fsyncs its AOF and exits), SIGKILL after 3 s. */
  stopNow(): void;
}

class RedisServer implements OwnedRedisServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private unregister: (() => void) | undefined;

  constructor(
    private readonly binary: string,
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  get pid(): number {
    return this.child?.pid ?? -1;
  }
  get dir(): string {
    return this.options.dir;
  }
  get logFile(): string {
    return path.join(this.options.dir, `redis-${this.port}.log`);
  }

  private running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async launch(): Promise<void> {
    this.unregister ??= cleanUpOnExit({ now: () => this.stopNow(), graceful: () => this.stop() });
    // prettier-ignore
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.options.dir,
      '--appendonly', 'yes',
      '--appendfsync', this.options.appendfsync ?? 'always',
      '--save', '',
      '--maxmemory-policy', 'noeviction',
      '--hash-max-listpack-entries', '512',
      '--hash-max-listpack-value', '1024',
      '--daemonize', 'no',
      '--logfile', this.logFile,
      ...(this.options.extraArgs ?? []),
    ];
    const child = spawn(this.binary, args, { stdio: 'ignore', env: environmentWith({}, this.options.env) });
    this.child = child;
    let spawnError: Error | undefined;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (err) => {
        spawnError = err;
        resolve();
      });
    });
    try {
      await this.waitUntilReady(child, () => spawnError);
    } catch (err) {
      await this.kill('SIGKILL');
      throw err;
    }
  }

  private async waitUntilReady(child: ChildProcess, spawnError: () => Error | undefined): Promise<void> {
    const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
    for (;;) {
      if (!this.running()) {
        const why = spawnError()?.message ?? `exit code ${child.exitCode}, signal ${child.signalCode}`;
        throw new Error(
          `redis-server on port ${this.port} exited before answering PING (${why}). ` +
            `Last lines of ${this.logFile}:\n${tailOf(this.logFile)}`,
        );
      }
      // PONG (not -LOADING) means the AOF is loaded; INFO then proves it is our process answering.
      const pong = await redisCommand(this.port, ['PING'], 1_000).catch(() => undefined);
      if (pong === 'PONG') {
        const info = await redisCommand(this.port, ['INFO', 'server'], 1_000).catch(() => '');
        if (info.includes(`process_id:${child.pid}\r\n`)) return;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `redis-server on port ${this.port} did not answer PING within ${REDIS_START_TIMEOUT_MS} ms. ` +
            `Last lines of ${this.logFile}:\n${tailOf(this.logFile)}`,
        );
      }
      await sleep(20);
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running()) return;
    this.child?.kill(signal);
    await this.exited;
  }

  async restart(): Promise<void> {
    if (this.running()) await this.stop();
    await this.launch();
  }

  async stop(): Promise<void> {
    if (this.running()) {
      // SHUTDOWN fsyncs the AOF and exits; the connection closes without a reply.
      await redisCommand(this.port, ['SHUTDOWN'], 5_000).catch(() => undefined);
      const exited = await Promise.race([this.exited.then(() => true), sleep(10_000, false, { ref: false })]);
      if (!exited) await this.kill('SIGKILL');
    }
    this.unregister?.();
    this.unregister = undefined;
  }

  /** For the `exit` event: SIGTERM (Redis fsyncs its AOF and exits), SIGKILL after 3 s. */
  stopNow(): void {
    if (this.running() && this.child?.pid !== undefined) terminateSync(this.child.pid, 'SIGTERM', 3_000);
  }
}

/** Starts a private redis-server (AOF on, `appendfsync always` unless told otherwise). */
export async function startRedisServer(opts: RedisServerOptions): Promise<RedisServerHandle> {
  return launchRedisServer(opts);
}

/** startRedisServer for the stack, which also needs the synchronous stop of the `exit` event. */
export async function launchRedisServer(opts: RedisServerOptions): Promise<OwnedRedisServer> {
  const binary = findBinary('redis-server', REDIS_INSTALL_HINT, opts.env);
  await mkdir(opts.dir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const server = new RedisServer(binary, port, opts);
    try {
      await server.launch();
      return server;
    } catch (err) {
      await server.stop();
      const portTaken = err instanceof Error && err.message.includes('Address already in use');
      if (opts.port !== undefined || attempt >= 3 || !portTaken) throw err;
    }
  }
}
