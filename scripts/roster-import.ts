/**
 * `npm run roster:import -- file.csv [more.csv] [--world world.json] [--stack] [options]`
 *
 * Imports school-roster and CET4-score CSVs (told apart by their header) into PostgreSQL, parsing
 * in parallel on the worker pool and loading with COPY + upsert, so a re-run changes nothing.
 * With a world (--world, or a world.json beside the first CSV) it first upserts the reference data
 * into PostgreSQL and preloads what the engine needs into Redis (REDIS_URL).
 *
 * Needs DATABASE_URL (and REDIS_URL with a world); --stack starts the private stack
 * (scripts/stack.ts, data kept in .data/) for whichever is missing, and migrates it; --migrate
 * migrates a given DATABASE_URL first.
 * ID keys come from ID_HMAC_KEY / ID_ENCRYPTION_KEY; the development keys are used only with
 * --dev-keys or --stack, with a warning.
 *
 * Exit codes: 0 done (bad rows are reported, not fatal); 1 a file or the world cannot be read, or
 * the import failed; 2 bad arguments or missing configuration.
 * Bad rows: the first 50 on the terminal, all of them in `<file>.rejects.csv` (or --rejects-dir).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { migrate } from '../db/migrate.ts';
import { createPool, query, type Pool } from '../db/pool.ts';
import { Engine } from '../engine/engine.ts';
import { idKeysFromEnv } from '../engine/idCrypto.ts';
import type { World } from '../engine/world.ts';
import { WorkerPool } from '../gateway/workers/pool.ts';
import { ImportFileError, readCsvHeader } from './roster-import/header.ts';
import type { ImportFileResult } from './roster-import/importFile.ts';
import { noProgress, progressOnStderr } from './roster-import/progress.ts';
import { describe } from './roster-import/rejects.ts';
import { runImport } from './roster-import/run.ts';
import { findWorldFile, readWorldFile } from './roster-import/world.ts';
import { startStack, type Stack } from '../devstack/index.ts';

const USAGE =
  'usage: npm run roster:import -- FILE.csv [FILE.csv ...] [--world world.json] [--stack] [--migrate]\n' +
  '         [--namespace cet] [--rejects-dir DIR] [--threads N] [--chunk-lines 5000] [--dev-keys] [--no-progress]';

class UsageError extends Error {}

const count = (value: number): string => value.toLocaleString('en-US');

function positiveInteger(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`--${name} must be a positive integer`);
  return value;
}

function summaryLine(result: ImportFileResult): string {
  const seconds = result.elapsedMs / 1000;
  return (
    `${path.basename(result.file)} (${result.kind}): read ${count(result.rowsRead)}, ` +
    `imported ${count(result.imported)} (new ${count(result.inserted)}, changed ${count(result.updated)}, ` +
    `unchanged ${count(result.unchanged)}), rejected ${count(result.rejected)}, ` +
    `${seconds.toFixed(1)} s, ${count(Math.round(result.rowsRead / Math.max(seconds, 0.001)))} rows/s ` +
    `(PostgreSQL busy ${Math.round((100 * result.databaseMs) / Math.max(result.elapsedMs, 1))} %)`
  );
}

function printRejects(result: ImportFileResult): void {
  if (result.rejected === 0) return;
  const shown = result.firstRejects.length;
  console.log(
    `${path.basename(result.file)}: ${count(result.rejected)} bad rows` +
      (result.rejected > shown ? ` (first ${shown} below)` : '') +
      `, all in ${result.rejectsPath}`,
  );
  for (const row of result.firstRejects) console.log(`  line ${row.line}: ${row.reason} (${describe(row)})`);
}

async function ensureSchema(pool: Pool, migrateFirst: boolean): Promise<void> {
  if (migrateFirst) {
    await migrate(pool);
    return;
  }
  const [row] = await query<{ roster: string | null }>(pool, `SELECT to_regclass('roster')::text AS roster`);
  if (row?.roster === null || row?.roster === undefined) {
    throw new UsageError(
      'the database has no roster table: run `npm run db:migrate` first, or pass --migrate',
    );
  }
}

let shuttingDown = false;
const dbLog = pino({ name: 'roster-import' }, pino.destination(2));
const poolLogger = {
  error: (obj: object, msg: string) => {
    if (!shuttingDown) dbLog.error(obj, msg);
  },
  warn: (obj: object, msg: string) => dbLog.warn(obj, msg),
  info: (obj: object, msg: string) => dbLog.info(obj, msg),
};

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    strict: true,
    options: {
      world: { type: 'string' },
      stack: { type: 'boolean', default: false },
      migrate: { type: 'boolean', default: false },
      namespace: { type: 'string', default: 'cet' },
      'rejects-dir': { type: 'string' },
      threads: { type: 'string' },
      'chunk-lines': { type: 'string' },
      'dev-keys': { type: 'boolean', default: false },
      'no-progress': { type: 'boolean', default: false },
    },
  });
  if (positionals.length === 0) throw new UsageError('no CSV file given');
  const threads = positiveInteger('threads', values.threads);
  const linesPerChunk = positiveInteger('chunk-lines', values['chunk-lines']);

  // Everything that can be refused is checked before anything is started or written.
  for (const file of positionals) await readCsvHeader(file);
  const worldFile = findWorldFile(values.world, positionals);
  const world: World | undefined = worldFile === undefined ? undefined : await readWorldFile(worldFile);
  let keys;
  try {
    keys = idKeysFromEnv(process.env, values['dev-keys'] || values.stack);
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (or pass --dev-keys for development data)`);
  }
  if (keys.development) process.stderr.write('warning: development ID keys in use (never for real data)\n');

  const missing = [
    ...(process.env.DATABASE_URL ? [] : ['DATABASE_URL']),
    ...(world !== undefined && !process.env.REDIS_URL ? ['REDIS_URL'] : []),
  ];
  if (missing.length > 0 && !values.stack) {
    throw new UsageError(
      `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set: give ` +
        `${world !== undefined ? 'the PostgreSQL and Redis' : 'the PostgreSQL'} to import into, ` +
        'or pass --stack to start the private stack (data in .data/)',
    );
  }

  let stack: Stack | undefined;
  let pool: Pool | undefined;
  let redis: Redis | undefined;
  let workers: WorkerPool | undefined;
  try {
    if (missing.length > 0) {
      stack = await startStack({ dataDir: '.data', redis: world !== undefined, postgres: true });
    }
    const databaseUrl = stack?.databaseUrl || process.env.DATABASE_URL || '';
    const redisUrl = stack?.redisUrl || process.env.REDIS_URL || '';
    pool = createPool(databaseUrl, {
      max: 2,
      applicationName: 'cet-seat-engine:roster-import',
      logger: poolLogger,
    });
    await ensureSchema(pool, values.migrate || (stack !== undefined && !process.env.DATABASE_URL));
    let engine: Engine | undefined;
    if (world !== undefined) {
      redis = new Redis(redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: 3 });
      engine = new Engine(redis, { namespace: values.namespace });
    }
    workers = new WorkerPool(threads === undefined ? {} : { threads });
    const rejectsDir = values['rejects-dir'];
    if (rejectsDir !== undefined) await mkdir(rejectsDir, { recursive: true });
    const result = await runImport({
      files: positionals,
      pool,
      workers,
      keys,
      ...(world !== undefined && engine !== undefined ? { world, engine } : {}),
      ...(rejectsDir === undefined
        ? {}
        : { rejectsPathFor: (file: string) => path.join(rejectsDir, `${path.basename(file)}.rejects.csv`) }),
      progress: values['no-progress'] ? noProgress : progressOnStderr(),
      ...(linesPerChunk === undefined ? {} : { linesPerChunk }),
    });
    if (result.reference && result.redis) {
      const { reference, redis: loaded } = result;
      console.log(
        `world ${worldFile}: PostgreSQL ${reference.provinces} provinces, ${reference.schools} schools, ` +
          `${reference.campuses} campuses, ${reference.capacities} capacities (${reference.changed} rows changed); ` +
          `Redis "${values.namespace}" ${loaded.provinces} calendars, ${loaded.campuses} campuses` +
          (loaded.rejected.length > 0
            ? `, ${loaded.rejected.length} campuses refused (capacity below seats taken)`
            : ''),
      );
    }
    for (const file of result.files) printRejects(file);
    for (const file of result.files) console.log(summaryLine(file));
    return 0;
  } finally {
    await workers?.close();
    // pool.end() resolves before the server has seen every Terminate; a private PostgreSQL stopped
    // right after may still kill those sessions, which is no failure of ours.
    shuttingDown = true;
    await pool?.end();
    redis?.disconnect();
    await stack?.stop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`roster:import: ${err.message}\n${USAGE}`);
      process.exitCode = 2;
    } else if (err instanceof ImportFileError) {
      console.error(`roster:import: ${err.message}`);
      process.exitCode = 1;
    } else if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`roster:import: ${err.message}\n${USAGE}`);
      process.exitCode = 2;
    } else {
      // Never the error's detail from PostgreSQL: it can quote row values.
      console.error(`roster:import: failed: ${err instanceof Error ? err.message : String(err)}`);
      console.error('committed chunks stay; running the same command again completes the import');
      process.exitCode = 1;
    }
  },
);
