/**
 * A private PostgreSQL database per test file: created on the server that tests/globalSetup.ts
 * provides (databaseUrl()), dropped afterwards. Test files run in parallel workers and never share
 * a database, so they need no cleanup between them.
 */
import { randomBytes } from 'node:crypto';
import { createPool, quoteIdent } from '../../db/pool.ts';
import { databaseUrl } from './env.ts';

export interface FreshDatabase {
  /** Connection URL of the new, empty database. */
  readonly url: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

export async function freshDatabase(): Promise<FreshDatabase> {
  const serverUrl = databaseUrl();
  const name = `t_${randomBytes(8).toString('hex')}`;
  await onServer(serverUrl, `CREATE DATABASE ${quoteIdent(name)}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await onServer(serverUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    },
  };
}

async function onServer(serverUrl: string, statement: string): Promise<void> {
  const pool = createPool(serverUrl, { max: 1, applicationName: 'tests:fresh-database' });
  try {
    await pool.query(statement);
  } finally {
    await pool.end();
  }
}
