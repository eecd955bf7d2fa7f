/**
 * Forward-only migrations: applies the numbered files of db/migrations/ (`NNN_name.sql`) that the
 * database has not seen, each in its own transaction together with its row in schema_migrations.
 * A session-level advisory lock serialises concurrent runners (two processes starting at once), and
 * a run that finds an applied file changed, renamed or missing refuses to do anything.
 * It never edits or reverts an applied migration: a fix is a new file.
 *
 * Run as `npm run db:migrate` (DATABASE_URL required), or call `migrate(pool)` (tests, `npm start`).
 * Migrations run in a transaction, so statements that refuse one (CREATE INDEX CONCURRENTLY) cannot
 * be used in them.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { storesFromEnv } from '../config/index.ts';
import { createPool, query, runInTransaction } from './pool.ts';
import type { DbLogger, Pool } from './pool.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/** Key of the advisory lock that serialises runners; per database, so test databases never contend. */
const MIGRATION_LOCK_KEY = '7261803414';

const FILE_PATTERN = /^(\d{3})_([a-z0-9_]+)\.sql$/;

export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  /** `NNN_name`, the form used in results and messages. */
  readonly id: string;
  readonly sql: string;
  /** SHA-256 (hex) of the file with line endings normalised to LF. */
  readonly checksum: string;
}

export type MigrationErrorCode =
  | 'MIGRATION_FILE_NAME'
  | 'MIGRATION_DUPLICATE_VERSION'
  | 'MIGRATION_CHECKSUM_CHANGED'
  | 'MIGRATION_RENAMED'
  | 'MIGRATION_MISSING'
  | 'MIGRATION_OUT_OF_ORDER';

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    readonly code: MigrationErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface MigrateOptions {
  /** Folder of `NNN_name.sql` files; db/migrations/ by default. */
  readonly dir?: string;
  readonly logger?: DbLogger;
}

export interface MigrateResult {
  /** `NNN_name` of each migration this call applied, in order; empty when the database was current. */
  readonly applied: string[];
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = (await readdir(dir)).filter((file) => file.endsWith('.sql')).sort();
  const files: MigrationFile[] = [];
  for (const file of entries) {
    const match = FILE_PATTERN.exec(file);
    if (match === null) {
      throw new MigrationError(
        'MIGRATION_FILE_NAME',
        `${file}: a migration file must be named NNN_name.sql (three digits, lower-case name)`,
      );
    }
    const [, digits = '', name = ''] = match;
    const sql = (await readFile(join(dir, file), 'utf8')).replace(/\r\n/g, '\n');
    const version = Number(digits);
    const previous = files.at(-1);
    if (previous !== undefined && previous.version === version) {
      throw new MigrationError(
        'MIGRATION_DUPLICATE_VERSION',
        `${previous.id}.sql and ${file} share version ${digits}`,
      );
    }
    files.push({
      version,
      name,
      id: `${digits}_${name}`,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  return files;
}

/**
 * Brings the database of `pool` up to date. Safe to call from several processes at once: they queue
 * on the advisory lock and the later ones find nothing to do.
 */
export async function migrate(pool: Pool, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const files = await loadMigrations(opts.dir);
  const logger = opts.logger;
  const client = await pool.connect();
  let broken: Error | undefined;
  const onClientError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onClientError);
  try {
    // Session-level, so it spans the per-file transactions; it is released below, or with the
    // connection if this process dies.
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    try {
      await client.query(`
        CREATE TABLE IF NOT EXISTS schema_migrations (
          version     integer PRIMARY KEY,
          name        text NOT NULL,
          checksum    text NOT NULL,
          applied_at  timestamptz NOT NULL DEFAULT now()
        )`);
      const applied = await query<AppliedRow>(
        client,
        'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
      );
      const pending = pendingMigrations(files, applied);
      const done: string[] = [];
      for (const file of pending) {
        try {
          await runInTransaction(
            client,
            async (tx) => {
              await tx.query(file.sql);
              await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
                file.version,
                file.name,
                file.checksum,
              ]);
            },
            undefined,
            (err) => {
              broken = err;
            },
          );
        } catch (err) {
          logger?.error({ migration: file.id }, 'migration failed and was rolled back');
          throw err;
        }
        logger?.info({ migration: file.id }, 'migration applied');
        done.push(file.id);
      }
      return { applied: done };
    } finally {
      if (broken === undefined) {
        try {
          await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
        } catch (err) {
          // Do not hide the error that brought us here; destroying the connection frees the lock.
          broken = err instanceof Error ? err : new Error(String(err));
        }
      }
    }
  } finally {
    client.off('error', onClientError);
    // A broken connection is destroyed, which also frees its lock.
    client.release(broken);
  }
}

/** The files still to apply, after checking that the applied history agrees with the files. */
function pendingMigrations(files: readonly MigrationFile[], applied: readonly AppliedRow[]): MigrationFile[] {
  const byVersion = new Map(files.map((file) => [file.version, file]));
  let lastApplied = 0;
  for (const row of applied) {
    const label = `${String(row.version).padStart(3, '0')}_${row.name}`;
    const file = byVersion.get(row.version);
    if (file === undefined) {
      throw new MigrationError(
        'MIGRATION_MISSING',
        `migration ${label} is applied to the database but has no file here: is this an older checkout?`,
      );
    }
    if (file.name !== row.name) {
      throw new MigrationError(
        'MIGRATION_RENAMED',
        `migration ${label} was applied under that name but the file is now ${file.id}.sql`,
      );
    }
    if (file.checksum !== row.checksum) {
      throw new MigrationError(
        'MIGRATION_CHECKSUM_CHANGED',
        `migration ${file.id}.sql changed after it was applied; migrations are forward-only: ` +
          'restore the file and put the change in a new migration',
      );
    }
    lastApplied = Math.max(lastApplied, row.version);
  }
  const appliedVersions = new Set(applied.map((row) => row.version));
  const pending = files.filter((file) => !appliedVersions.has(file.version));
  const early = pending.find((file) => file.version < lastApplied);
  if (early !== undefined) {
    throw new MigrationError(
      'MIGRATION_OUT_OF_ORDER',
      `migration ${early.id}.sql is not applied but a later one (${String(lastApplied).padStart(3, '0')}) is; ` +
        'renumber it after the last applied migration',
    );
  }
  return pending;
}

async function main(): Promise<void> {
  const logger = pino({ name: 'db:migrate' });
  const url = storesFromEnv().databaseUrl;
  if (url.trim() === '') {
    logger.error(
      {},
      'DATABASE_URL is not set: give the PostgreSQL to migrate, e.g. ' +
        'DATABASE_URL=postgres://user@127.0.0.1:5432/cet npm run db:migrate',
    );
    process.exitCode = 2;
    return;
  }
  const pool = createPool(url, { max: 1, applicationName: 'cet-seat-engine:migrate', logger });
  try {
    const { applied } = await migrate(pool, { logger });
    logger.info({ applied }, applied.length === 0 ? 'database already up to date' : 'migrations applied');
  } catch (err) {
    if (err instanceof MigrationError) {
      logger.error({ code: err.code }, err.message);
    } else {
      logger.error(
        { err: err instanceof Error ? { message: err.message } : String(err) },
        'migration failed',
      );
    }
    process.exitCode = 1;
  } finally {
    await pool.end();
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return pathToFileURL(realpathSync(resolve(script))).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  await main();
}
