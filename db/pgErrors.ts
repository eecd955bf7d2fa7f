/**
 * What a failed write to PostgreSQL means for the stream writer (issue 16 item 9, I5: persistence
 * converges): an outage, which time or an operator repairs and after which the same rows go in, or
 * bad data, which no retry fixes. Only bad data may be dead-lettered: an outage taken for bad data
 * (read-only after a failover, a revoked privilege, a renamed table) would acknowledge the whole
 * backlog into dead letters within seconds while PostgreSQL silently falls behind.
 *
 * Classified by SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html), read
 * through db/pool.ts. Summaries for logs carry the SQLSTATE and the message, never `detail`,
 * `where` or parameters, which can quote row values.
 */
import { pgErrorInfo } from './pool.ts';

export type FailureKind = 'outage' | 'data';

/** Classes caused by the rows themselves: the same rows fail the same way however often they are sent. */
const DATA_CLASSES: Record<string, string> = {
  '22': 'data exception',
  '23': 'integrity constraint violation',
};

/** Outages by exact SQLSTATE: the server refuses the writer, not its rows. */
const OUTAGE_CODES: Record<string, string> = {
  '25006': 'read-only transaction', // a standby, or a primary demoted by a failover
  '42501': 'insufficient privilege',
  '42P01': 'undefined table',
  '42703': 'undefined column',
  '42883': 'undefined function',
  '3F000': 'invalid schema name',
  '3D000': 'invalid catalog name',
  '40001': 'serialization failure',
  '40P01': 'deadlock detected',
};

/** Outages by SQLSTATE class. */
const OUTAGE_CLASSES: Record<string, string> = {
  '08': 'connection exception',
  '28': 'invalid authorization',
  '53': 'insufficient resources',
  '57': 'operator intervention', // 57P01 admin shutdown, 57P03 cannot connect now, 57014 canceled
  '58': 'system error',
};

/**
 * 'data' for SQLSTATE classes 22 and 23, and for programming errors (TypeError, RangeError,
 * SyntaxError) thrown while handling one event: a projection meeting a payload it did not expect
 * fails on that event every time. 'outage' for everything else: the SQLSTATEs above; a SQLSTATE
 * this module does not know, which waiting keeps visible (the writer's outage flag and lag) where
 * dead-lettering would spread it over the whole backlog; and errors without a SQLSTATE, which pg
 * and node raise when there is no usable connection (ECONNREFUSED, ECONNRESET, ETIMEDOUT,
 * "Connection terminated unexpectedly", a pool that cannot connect in time).
 */
export function failureKind(error: unknown): FailureKind {
  const info = pgErrorInfo(error);
  if (info) return info.code.slice(0, 2) in DATA_CLASSES ? 'data' : 'outage';
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError)
    return 'data';
  return 'outage';
}

/**
 * An outage as the writer reports it (once per episode): what the operator needs to act, and
 * nothing a log must not hold.
 */
export class PostgresOutageError extends Error {
  override readonly name = 'PostgresOutageError';

  constructor(
    /** SQLSTATE, or node's code of a socket error (ECONNREFUSED …); undefined when there is neither. */
    readonly code: string | undefined,
    /** The SQLSTATE's condition name, 'connection' without one. */
    readonly condition: string,
    message: string,
  ) {
    super(message);
  }
}

/** The summary of an outage failure: SQLSTATE, condition and message only (no `detail`, no rows). */
export function outageOf(error: unknown): PostgresOutageError {
  const info = pgErrorInfo(error);
  const message = (error instanceof Error ? error.message : String(error)).slice(0, 500);
  if (info) {
    const condition =
      OUTAGE_CODES[info.code] ?? OUTAGE_CLASSES[info.code.slice(0, 2)] ?? 'unexpected SQLSTATE';
    return new PostgresOutageError(
      info.code,
      condition,
      `PostgreSQL outage (${info.code} ${condition}): ${message}`,
    );
  }
  const code = (error as { code?: unknown } | null)?.code;
  return new PostgresOutageError(
    typeof code === 'string' ? code : undefined,
    'connection',
    `PostgreSQL unreachable: ${message}`,
  );
}
