/**
 * The one door to PostgreSQL: the only module that imports `pg`. It owns pool creation (with the
 * `error` listener that keeps an idle connection's death from crashing the process), the one
 * transaction helper, a small typed query helper and SQLSTATE inspection.
 * Everything else imports the types re-exported here, never `pg` itself.
 * It must never log connection strings, parameters or row contents (they may hold personal data).
 */
import { DatabaseError, Pool, escapeIdentifier } from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import { pino } from 'pino';

export type { Pool, PoolClient, QueryResultRow } from 'pg';

/** Anything a statement can run on: the pool (auto-commit) or a checked-out client. */
export type Queryable = Pool | PoolClient;

/** The slice of a pino logger this module uses; a pino logger satisfies it. */
export interface DbLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

let defaultLogger: DbLogger | undefined;
function fallbackLogger(): DbLogger {
  defaultLogger ??= pino({ name: 'db' });
  return defaultLogger;
}

export interface PoolOptions {
  /** Most connections the pool opens (pg's default is 10). */
  readonly max?: number;
  /** Shown in pg_stat_activity, so operators can tell the gateway from the writer. */
  readonly applicationName?: string;
  /** How long a request for a connection may wait before failing. */
  readonly connectionTimeoutMs?: number;
  /** How long an unused connection stays open. */
  readonly idleTimeoutMs?: number;
  readonly logger?: DbLogger;
}

export function createPool(url: string, opts: PoolOptions = {}): Pool {
  const logger = opts.logger ?? fallbackLogger();
  const pool = new Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'cet-seat-engine',
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
  });
  // An idle connection that dies (server restart, network cut) is reported here. pg-pool already
  // drops the client; without a listener the 'error' event would crash the process.
  pool.on('error', (err) => {
    logger.error({ err: describeError(err) }, 'idle PostgreSQL connection failed; it was discarded');
  });
  return pool;
}

export type IsolationLevel = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

export interface TransactionOptions {
  readonly isolation?: IsolationLevel;
  readonly logger?: DbLogger;
}

/**
 * Runs `fn` inside BEGIN … COMMIT on one client from `pool`; any throw (from `fn` or from COMMIT)
 * rolls back and is rethrown unchanged. The client is always released, and destroyed instead of
 * being returned to the pool when its connection failed or ROLLBACK itself failed, so a client in
 * an unknown state is never handed out again.
 */
export async function withTransaction<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
  opts: TransactionOptions = {},
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // While checked out, pg-pool's own listener is detached: a connection dying between two queries
  // of `fn` would otherwise emit an unhandled 'error' and crash the process.
  const onClientError = (err: Error): void => {
    broken = err;
    (opts.logger ?? fallbackLogger()).warn(
      { err: describeError(err) },
      'PostgreSQL connection failed inside a transaction',
    );
  };
  client.on('error', onClientError);
  try {
    return await runInTransaction(client, fn, opts.isolation, (err) => {
      broken = err;
    });
  } finally {
    client.off('error', onClientError);
    client.release(broken);
  }
}

/**
 * BEGIN … COMMIT / ROLLBACK on a client the caller already holds (the migration runner holds one
 * for its session-level advisory lock). `onRollbackFailed` learns that the client is unusable.
 */
export async function runInTransaction<T>(
  client: PoolClient,
  fn: (client: PoolClient) => Promise<T>,
  isolation?: IsolationLevel,
  onRollbackFailed?: (err: Error) => void,
): Promise<T> {
  await client.query(isolation === undefined ? 'BEGIN' : `BEGIN ISOLATION LEVEL ${isolation}`);
  try {
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      onRollbackFailed?.(rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr)));
    }
    throw err;
  }
}

/** Runs one statement and returns its rows, typed by the caller. */
export async function query<R extends QueryResultRow = QueryResultRow>(
  db: Queryable,
  text: string,
  params: readonly unknown[] = [],
): Promise<R[]> {
  const result = await db.query<R>(text, params as unknown[]);
  return result.rows;
}

/** Runs one statement and returns how many rows it inserted, updated or deleted. */
export async function execute(db: Queryable, text: string, params: readonly unknown[] = []): Promise<number> {
  const result = await db.query(text, params as unknown[]);
  return result.rowCount ?? 0;
}

/** SQLSTATE codes the project reacts to (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const SqlState = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  notNullViolation: '23502',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  duplicateDatabase: '42P04',
} as const;

export interface PgErrorInfo {
  /** SQLSTATE, e.g. '23505'. */
  readonly code: string;
  /** The violated constraint or unique index, when the error names one. */
  readonly constraint: string | undefined;
}

/** The SQLSTATE and constraint of a server error; undefined for anything else (network, bugs). */
export function pgErrorInfo(err: unknown): PgErrorInfo | undefined {
  if (err instanceof DatabaseError && typeof err.code === 'string') {
    return { code: err.code, constraint: err.constraint };
  }
  return undefined;
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const info = pgErrorInfo(err);
  if (info?.code !== SqlState.uniqueViolation) return false;
  return constraint === undefined || info.constraint === constraint;
}

/** Quotes a name (database, table) for the rare statements that cannot take it as a parameter. */
export function quoteIdent(name: string): string {
  return escapeIdentifier(name);
}

/** What is safe to log about an error: never its `detail` (it can quote key values). */
function describeError(err: Error): object {
  const info = pgErrorInfo(err);
  return { message: err.message, ...(info === undefined ? {} : { code: info.code }) };
}
