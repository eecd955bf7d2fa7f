/**
 * db/pool.ts against a real PostgreSQL: withTransaction commits, rolls back on any throw (from the
 * callback or from COMMIT), and always gives its client back, destroying it when it is broken.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPool, execute, pgErrorInfo, query, SqlState, withTransaction } from '../../db/pool.ts';
import type { DbLogger, Pool } from '../../db/pool.ts';
import { freshDatabase } from '../support/pg.ts';
import type { FreshDatabase } from '../support/pg.ts';
import { waitFor } from '../support/wait.ts';

const silent: DbLogger = { error() {}, warn() {}, info() {} };

let db: FreshDatabase;
let admin: Pool;

beforeAll(async () => {
  db = await freshDatabase();
  admin = createPool(db.url, { max: 2, logger: silent });
  await execute(admin, 'CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)');
  await execute(
    admin,
    'CREATE TABLE deferred_notes (id int, CONSTRAINT deferred_notes_id_key UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)',
  );
});

afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

let pools: Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
  pools = [];
});

/** A one-connection pool that fails fast, so a leaked client shows up as a timeout error. */
function tightPool(logger: DbLogger = silent): Pool {
  const pool = createPool(db.url, { max: 1, connectionTimeoutMs: 2_000, logger });
  pools.push(pool);
  return pool;
}

async function noteCount(id: number): Promise<number> {
  const [row] = await query<{ n: number }>(admin, 'SELECT count(*)::int AS n FROM notes WHERE id = $1', [id]);
  return row?.n ?? -1;
}

function expectAllIdle(pool: Pool): void {
  expect(pool.waitingCount).toBe(0);
  expect(pool.idleCount).toBe(pool.totalCount);
}

describe('withTransaction', () => {
  it('commits and returns what the callback returns', async () => {
    const pool = tightPool();
    const result = await withTransaction(pool, async (client) => {
      await client.query(`INSERT INTO notes VALUES (1, 'kept')`);
      return 'done';
    });
    expect(result).toBe('done');
    expect(await noteCount(1)).toBe(1);
    expect(pool.totalCount).toBe(1);
    expectAllIdle(pool);
  });

  it('rolls back on a throw, rethrows the same error and releases the client', async () => {
    const pool = tightPool();
    const boom = new Error('boom');
    await expect(
      withTransaction(pool, async (client) => {
        await client.query(`INSERT INTO notes VALUES (2, 'discarded')`);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await noteCount(2)).toBe(0);
    expect(pool.totalCount).toBe(1);
    expectAllIdle(pool);

    // The single connection is usable again and not left inside the aborted transaction.
    const [row] = await query<{ in_tx: boolean }>(pool, 'SELECT now() <> statement_timestamp() AS in_tx');
    expect(row?.in_tx).toBe(false);
    await withTransaction(pool, (client) => client.query(`INSERT INTO notes VALUES (3, 'after')`));
    expect(await noteCount(3)).toBe(1);
  });

  it('rolls back when a statement fails inside the callback', async () => {
    const pool = tightPool();
    const err = await withTransaction(pool, async (client) => {
      await client.query(`INSERT INTO notes VALUES (4, 'first')`);
      await client.query(`INSERT INTO notes VALUES (4, 'duplicate')`);
    }).catch((e: unknown) => e);
    expect(pgErrorInfo(err)).toEqual({ code: SqlState.uniqueViolation, constraint: 'notes_pkey' });
    expect(await noteCount(4)).toBe(0);
    expectAllIdle(pool);
  });

  it('rejects, and releases the client, when COMMIT itself fails', async () => {
    const pool = tightPool();
    const err = await withTransaction(pool, async (client) => {
      await client.query('INSERT INTO deferred_notes VALUES (1), (1)');
    }).catch((e: unknown) => e);
    expect(pgErrorInfo(err)?.constraint).toBe('deferred_notes_id_key');
    const [row] = await query<{ n: number }>(admin, 'SELECT count(*)::int AS n FROM deferred_notes');
    expect(row?.n).toBe(0);
    expectAllIdle(pool);
  });

  it('survives its connection dying mid-transaction and destroys that client', async () => {
    const warnings: string[] = [];
    const logger: DbLogger = { ...silent, warn: (_obj, msg) => void warnings.push(msg) };
    const pool = tightPool(logger);

    const err = await withTransaction(
      pool,
      async (client) => {
        await client.query(`INSERT INTO notes VALUES (5, 'lost')`);
        const [row] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
        await admin.query('SELECT pg_terminate_backend($1)', [row?.pid]);
        // the FATAL notice arrives while no query is running on this client
        await waitFor(() => warnings.length > 0, { message: 'the connection error' });
        await client.query('SELECT 1');
      },
      { logger },
    ).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(Error);
    expect(warnings).toContain('PostgreSQL connection failed inside a transaction');
    expect(await noteCount(5)).toBe(0);
    expect(pool.totalCount).toBe(0);
    // The pool opens a fresh connection for the next caller.
    expect(
      await withTransaction(pool, async (client) => (await client.query('SELECT 1 AS one')).rows[0]),
    ).toEqual({
      one: 1,
    });
  });
});
