/**
 * `npm run roster:import` as a function: checks everything that can be refused before anything is
 * started or written (the files' headers, the world, the ID keys, the connections), then opens what
 * the run needs (the private stack when asked, PostgreSQL, Redis with a world, the worker pool),
 * runs the import (run.ts), and closes all of it whatever happened. The entry point
 * (scripts/roster-import.ts) parses the arguments and turns the outcome into lines and exit codes.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { idKeysFromEnv, storesFromEnv } from '../config/index.ts';
import { migrate } from '../db/migrate.ts';
import { createPool, query, type Pool } from '../db/pool.ts';
import { startStack, type Stack } from '../devstack/stack.ts';
import { Engine } from '../engine/engine.ts';
import type { IdKeys } from '../engine/idCrypto.ts';
import { hasRedisTarget, openRedis, type RedisClient } from '../engine/redisClient.ts';
import type { World } from '../engine/world.ts';
import { WorkerPool } from '../gateway/workers/pool.ts';
import { readCsvHeader } from './header.ts';
import type { ImportFileResult } from './importFile.ts';
import { noProgress, progressOnStderr } from './progress.ts';
import { describe } from './rejects.ts';
import { runImport, type RunResult } from './run.ts';
import { findWorldFile, readWorldFile } from './world.ts';

/** A refusal of the command line or the configuration (exit code 2): nothing was started. */
export class ImportUsageError extends Error {
  override readonly name = 'ImportUsageError';
}

export interface ImportCommandOptions {
  readonly files: readonly string[];
  /** world.json; default one beside the first CSV, if any. */
  readonly world?: string;
  /** Start the private stack (data in .data/) for whichever of DATABASE_URL / REDIS_URL is missing. */
  readonly stack: boolean;
  /** Migrate a given DATABASE_URL first. */
  readonly migrate: boolean;
  readonly namespace: string;
  readonly rejectsDir?: string;
  readonly threads?: number;
  readonly linesPerChunk?: number;
  /** Allow the development ID keys (a warning is printed). */
  readonly devKeys: boolean;
  readonly progress: boolean;
}

export interface ImportCommandResult extends RunResult {
  readonly worldFile?: string;
}

async function ensureSchema(pool: Pool, migrateFirst: boolean): Promise<void> {
  if (migrateFirst) {
    await migrate(pool);
    return;
  }
  const [row] = await query<{ roster: string | null }>(pool, `SELECT to_regclass('roster')::text AS roster`);
  if (row?.roster === null || row?.roster === undefined) {
    throw new ImportUsageError(
      'the database has no roster table: run `npm run db:migrate` first, or pass --migrate',
    );
  }
}

function keysFrom(env: NodeJS.ProcessEnv | undefined, allowDevelopmentKeys: boolean): IdKeys {
  let keys;
  try {
    keys = idKeysFromEnv({ allowDevelopmentKeys, env });
  } catch (err) {
    throw new ImportUsageError(`${(err as Error).message} (or pass --dev-keys for development data)`);
  }
  if (keys.development) process.stderr.write('warning: development ID keys in use (never for real data)\n');
  return keys;
}

/** `env`: where REDIS_URL, DATABASE_URL and the ID keys are read (default this process's environment). */
export async function runImportCommand(
  options: ImportCommandOptions,
  env?: NodeJS.ProcessEnv,
): Promise<ImportCommandResult> {
  // Everything that can be refused is checked before anything is started or written.
  for (const file of options.files) await readCsvHeader(file);
  const worldFile = findWorldFile(options.world, options.files);
  const world: World | undefined = worldFile === undefined ? undefined : await readWorldFile(worldFile);
  const keys = keysFrom(env, options.devKeys || options.stack);
  const given = storesFromEnv(env);
  const missing = [
    ...(given.databaseUrl ? [] : ['DATABASE_URL']),
    ...(world !== undefined && !hasRedisTarget(given) ? ['REDIS_URL'] : []),
  ];
  if (missing.length > 0 && !options.stack) {
    throw new ImportUsageError(
      `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set: give ` +
        `${world !== undefined ? 'the PostgreSQL and Redis' : 'the PostgreSQL'} to import into, ` +
        'or pass --stack to start the private stack (data in .data/)',
    );
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
  let stack: Stack | undefined;
  let pool: Pool | undefined;
  let redis: RedisClient | undefined;
  let workers: WorkerPool | undefined;
  try {
    if (missing.length > 0) {
      stack = await startStack({
        dataDir: '.data',
        redis: world !== undefined && !hasRedisTarget(given),
        postgres: true,
      });
    }
    const databaseUrl = stack?.databaseUrl || given.databaseUrl;
    // the given Redis (REDIS_URL, or a Redis Cluster: REDIS_CLUSTER_NODES), else the private stack's
    const redisTarget = hasRedisTarget(given)
      ? given
      : { redisUrl: stack?.redisUrl ?? '', redisClusterNodes: '' };
    pool = createPool(databaseUrl, {
      max: 2,
      applicationName: 'cet-seat-engine:roster-import',
      logger: poolLogger,
    });
    await ensureSchema(pool, options.migrate || (stack !== undefined && !given.databaseUrl));
    let engine: Engine | undefined;
    if (world !== undefined) {
      redis = openRedis(redisTarget, { enableAutoPipelining: true, maxRetriesPerRequest: 3 });
      engine = new Engine(redis, { namespace: options.namespace });
    }
    workers = new WorkerPool(options.threads === undefined ? {} : { threads: options.threads });
    const rejectsDir = options.rejectsDir;
    if (rejectsDir !== undefined) await mkdir(rejectsDir, { recursive: true });
    const result = await runImport({
      files: options.files,
      pool,
      workers,
      keys,
      ...(world !== undefined && engine !== undefined ? { world, engine } : {}),
      ...(rejectsDir === undefined
        ? {}
        : { rejectsPathFor: (file: string) => path.join(rejectsDir, `${path.basename(file)}.rejects.csv`) }),
      progress: options.progress ? progressOnStderr() : noProgress,
      ...(options.linesPerChunk === undefined ? {} : { linesPerChunk: options.linesPerChunk }),
    });
    return { ...result, ...(worldFile === undefined ? {} : { worldFile }) };
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

const count = (value: number): string => value.toLocaleString('en-US');

/** What the terminal shows of a run: the world loaded, each file's first rejects, each file's summary. */
export function importReport(result: ImportCommandResult, namespace: string): string[] {
  const lines: string[] = [];
  if (result.reference && result.redis) {
    const { reference, redis: loaded } = result;
    lines.push(
      `world ${result.worldFile}: PostgreSQL ${reference.provinces} provinces, ${reference.schools} schools, ` +
        `${reference.campuses} campuses, ${reference.capacities} capacities (${reference.changed} rows changed); ` +
        `Redis "${namespace}" ${loaded.provinces} calendars, ${loaded.campuses} campuses` +
        (loaded.rejected.length > 0
          ? `, ${loaded.rejected.length} campuses refused (capacity below seats taken)`
          : ''),
    );
  }
  for (const file of result.files) lines.push(...rejectLines(file));
  for (const file of result.files) lines.push(summaryLine(file));
  return lines;
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

function rejectLines(result: ImportFileResult): string[] {
  if (result.rejected === 0) return [];
  const shown = result.firstRejects.length;
  return [
    `${path.basename(result.file)}: ${count(result.rejected)} bad rows` +
      (result.rejected > shown ? ` (first ${shown} below)` : '') +
      `, all in ${result.rejectsPath}`,
    ...result.firstRejects.map((row) => `  line ${row.line}: ${row.reason} (${describe(row)})`),
  ];
}
