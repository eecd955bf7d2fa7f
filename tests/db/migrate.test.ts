/**
 * The migration runner against a real PostgreSQL: a fresh database per file, a fresh copy of the
 * migrations folder wherever a test edits files.
 */
import { cp, mkdtemp, readdir, rm, unlink, writeFile, appendFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, MigrationError, loadMigrations, migrate } from '../../db/migrate.ts';
import { createPool, query } from '../../db/pool.ts';
import type { Pool } from '../../db/pool.ts';
import { ALL_SUBJECTS, isWrittenSubject, subjectLevel } from '../../engine/subjects.ts';
import { freshDatabase } from '../support/pg.ts';
import type { FreshDatabase } from '../support/pg.ts';

const silent = { error() {}, warn() {}, info() {} };

/** Everything a migration can change in schema `public`, in a stable order, for comparison. */
async function schemaDump(pool: Pool): Promise<unknown> {
  return {
    columns: await query(
      pool,
      `SELECT table_name, column_name, data_type, is_nullable, column_default, generation_expression
         FROM information_schema.columns WHERE table_schema = 'public'
        ORDER BY table_name, ordinal_position`,
    ),
    constraints: await query(
      pool,
      `SELECT c.conrelid::regclass::text AS table_name, c.conname, pg_get_constraintdef(c.oid) AS def
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = 'public' ORDER BY 1, 2`,
    ),
    indexes: await query(
      pool,
      `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2`,
    ),
    comments: await query(
      pool,
      `SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1`,
    ),
    migrations: await query(pool, 'SELECT * FROM schema_migrations ORDER BY version'),
    subjects: await query(pool, 'SELECT * FROM subjects ORDER BY subject'),
  };
}

async function tableExists(pool: Pool, table: string): Promise<boolean> {
  const [row] = await query<{ exists: boolean }>(pool, 'SELECT to_regclass($1) IS NOT NULL AS exists', [
    `public.${table}`,
  ]);
  return row?.exists === true;
}

async function appliedVersions(pool: Pool): Promise<number[]> {
  const rows = await query<{ version: number }>(
    pool,
    'SELECT version FROM schema_migrations ORDER BY version',
  );
  return rows.map((row) => row.version);
}

/** A private, editable copy of db/migrations. */
async function copyOfMigrations(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function expectMigrationError(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MigrationError);
  expect((err as MigrationError).code).toBe(code);
}

describe('migrate', () => {
  const databases: FreshDatabase[] = [];
  const pools: Pool[] = [];
  const dirs: string[] = [];

  async function emptyDatabase(): Promise<Pool> {
    const db = await freshDatabase();
    databases.push(db);
    const pool = createPool(db.url, { max: 3, logger: silent });
    pools.push(pool);
    return pool;
  }

  async function editableMigrations(): Promise<string> {
    const dir = await copyOfMigrations();
    dirs.push(dir);
    return dir;
  }

  let allIds: string[];
  beforeAll(async () => {
    allIds = (await loadMigrations()).map((file) => file.id);
    expect(allIds.length).toBeGreaterThan(0);
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
    await Promise.all(databases.map((db) => db.drop()));
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('applies every migration to an empty database, then a second run applies and changes nothing', async () => {
    const pool = await emptyDatabase();
    expect(await migrate(pool)).toEqual({ applied: allIds });
    expect(await tableExists(pool, 'events')).toBe(true);
    const before = await schemaDump(pool);

    expect(await migrate(pool)).toEqual({ applied: [] });
    expect(await schemaDump(pool)).toEqual(before);
  });

  it('seeds the subject table exactly as engine/subjects.ts defines it', async () => {
    const pool = await emptyDatabase();
    await migrate(pool);
    const rows = await query<{ subject: string; kind: string; level: number }>(
      pool,
      'SELECT subject, kind, level FROM subjects ORDER BY subject',
    );
    const expected = [...ALL_SUBJECTS].sort().map((subject) => ({
      subject,
      kind: isWrittenSubject(subject) ? 'WRITTEN' : 'ORAL',
      level: subjectLevel(subject),
    }));
    expect(rows).toEqual(expected);
  });

  it('applies each migration once when several runners start together on an empty database', async () => {
    const db = await freshDatabase();
    databases.push(db);
    // Separate pools stand for separate processes.
    const runners = Array.from({ length: 4 }, () => createPool(db.url, { max: 1, logger: silent }));
    pools.push(...runners);

    const results = await Promise.all(runners.map((pool) => migrate(pool)));

    const applied = results.flatMap((result) => result.applied);
    expect(applied.sort()).toEqual([...allIds].sort());
    expect(results.filter((result) => result.applied.length > 0)).toHaveLength(1);
    const [first] = runners;
    if (first === undefined) throw new Error('no runner');
    expect(await appliedVersions(first)).toEqual((await loadMigrations()).map((file) => file.version));
  });

  it('refuses to run, applying nothing, when an applied file changed', async () => {
    const pool = await emptyDatabase();
    const dir = await editableMigrations();
    await migrate(pool, { dir });
    const [, second] = (await readdir(dir)).sort();
    if (second === undefined) throw new Error('need two migrations');
    await appendFile(join(dir, second), '\n-- an innocent-looking edit\n');
    await writeFile(join(dir, '900_later.sql'), 'CREATE TABLE later_table (id int);\n');

    await expectMigrationError(migrate(pool, { dir }), 'MIGRATION_CHECKSUM_CHANGED');
    expect(await tableExists(pool, 'later_table')).toBe(false);
    expect(await appliedVersions(pool)).not.toContain(900);
  });

  it('does not count a change of line endings as a change', async () => {
    const pool = await emptyDatabase();
    const dir = await editableMigrations();
    await migrate(pool, { dir });
    const [first] = (await readdir(dir)).sort();
    if (first === undefined) throw new Error('need a migration');
    const text = await readFile(join(dir, first), 'utf8');
    await writeFile(join(dir, first), text.replace(/\n/g, '\r\n'));

    expect(await migrate(pool, { dir })).toEqual({ applied: [] });
  });

  it('refuses when an applied migration has no file, or a pending one is numbered before an applied one', async () => {
    const pool = await emptyDatabase();
    const dir = await editableMigrations();
    await writeFile(join(dir, '900_later.sql'), 'CREATE TABLE later_table (id int);\n');
    await migrate(pool, { dir });

    await unlink(join(dir, '900_later.sql'));
    await expectMigrationError(migrate(pool, { dir }), 'MIGRATION_MISSING');

    await writeFile(join(dir, '900_later.sql'), 'CREATE TABLE later_table (id int);\n');
    await writeFile(join(dir, '899_forgotten.sql'), 'CREATE TABLE forgotten_table (id int);\n');
    await expectMigrationError(migrate(pool, { dir }), 'MIGRATION_OUT_OF_ORDER');
    expect(await tableExists(pool, 'forgotten_table')).toBe(false);
  });

  it('rolls a failing migration back whole, records nothing, and can apply the fixed file later', async () => {
    const pool = await emptyDatabase();
    const dir = await editableMigrations();
    await writeFile(join(dir, '900_broken.sql'), 'CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n');

    await expect(migrate(pool, { dir })).rejects.toMatchObject({ code: '22012' });
    expect(await tableExists(pool, 'half_done')).toBe(false);
    expect(await appliedVersions(pool)).not.toContain(900);
    // The earlier files were each committed on their own.
    expect(await tableExists(pool, 'events')).toBe(true);

    await writeFile(join(dir, '900_broken.sql'), 'CREATE TABLE half_done (id int);\n');
    expect(await migrate(pool, { dir })).toEqual({ applied: ['900_broken'] });
    expect(await tableExists(pool, 'half_done')).toBe(true);
  });

  it('rejects a file whose name is not NNN_name.sql', async () => {
    const dir = await editableMigrations();
    await writeFile(join(dir, '12_short.sql'), 'SELECT 1;\n');
    await expectMigrationError(loadMigrations(dir), 'MIGRATION_FILE_NAME');
  });
});
