/**
 * One import run, given its connections: the world's reference data first (PostgreSQL in one
 * transaction, then the engine's Redis copy through loadWorld), then each CSV in turn. The command
 * (importCommand.ts) owns environment, connections and the stack; tests call this directly.
 */
import { withTransaction } from '../db/pool.ts';
import type { Pool } from '../db/pool.ts';
import { upsertReference, type ReferenceCounts } from '../db/sql/reference.ts';
import type { Engine } from '../engine/engine.ts';
import type { IdKeys } from '../engine/idCrypto.ts';
import { loadWorld, type LoadReport } from '../engine/loader.ts';
import type { World } from '../engine/world.ts';
import type { WorkerPool } from '../gateway/workers/pool.ts';
import { importCsvFile, type ImportFileOptions, type ImportFileResult } from './importFile.ts';
import type { ProgressSink } from './progress.ts';

export interface RunOptions {
  readonly files: readonly string[];
  readonly pool: Pool;
  readonly workers: WorkerPool;
  readonly keys: IdKeys;
  /** Reference data to upsert into PostgreSQL and preload into Redis before the files. */
  readonly world?: World;
  /** Needed with `world`: the engine whose Redis receives it. */
  readonly engine?: Engine;
  /** Engine time for loadWorld and "today" for the row checks; default now. */
  readonly nowMs?: number;
  /** Where each file's rejects go; default `<file>.rejects.csv`. */
  readonly rejectsPathFor?: (file: string) => string;
  readonly progress?: ProgressSink;
  readonly linesPerChunk?: number;
  readonly loader?: ImportFileOptions['loader'];
}

export interface RunResult {
  readonly reference?: ReferenceCounts;
  readonly redis?: LoadReport;
  readonly files: ImportFileResult[];
}

export async function runImport(options: RunOptions): Promise<RunResult> {
  const nowMs = options.nowMs ?? Date.now();
  let reference: ReferenceCounts | undefined;
  let redis: LoadReport | undefined;
  if (options.world !== undefined) {
    const world = options.world;
    if (options.engine === undefined) throw new Error('a world needs an engine (Redis) to preload');
    reference = await withTransaction(options.pool, (tx) => upsertReference(tx, world));
    redis = await loadWorld(options.engine, world, nowMs);
  }
  const files: ImportFileResult[] = [];
  for (const file of options.files) {
    files.push(
      await importCsvFile(file, {
        pool: options.pool,
        workers: options.workers,
        keys: options.keys,
        todayMs: nowMs,
        ...(options.rejectsPathFor ? { rejectsPath: options.rejectsPathFor(file) } : {}),
        ...(options.progress ? { progress: options.progress } : {}),
        ...(options.linesPerChunk ? { linesPerChunk: options.linesPerChunk } : {}),
        ...(options.loader ? { loader: options.loader } : {}),
      }),
    );
  }
  return { ...(reference ? { reference } : {}), ...(redis ? { redis } : {}), files };
}
