/**
 * Imports one CSV (roster or CET4 scores, told apart by the header): streams it in chunks of lines,
 * has the worker pool parse and check the chunks in parallel (roster.worker.ts),
 * and applies the results to PostgreSQL strictly in file order, one transaction per chunk
 * (loader.ts). At most `maxInFlight` chunks are read ahead, so memory stays bounded whatever the
 * file size. Bad rows go to the rejects report; the summary counts what happened.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Pool } from '../db/pool.ts';
import type { IdKeys } from '../engine/idCrypto.ts';
import type { WorkerPool } from '../gateway/workers/pool.ts';
import { lineChunks } from './chunks.ts';
import { ImportFileError, readCsvHeader } from './header.ts';
import { openChunkLoader, type ChunkLoader, type LoaderOptions } from './loader.ts';
import { noProgress, type ProgressSink } from './progress.ts';
import type { ChunkResult, ChunkTask, ImportKind, RejectedRow } from './protocol.ts';
import { RejectsReport } from './rejects.ts';

export const DEFAULT_LINES_PER_CHUNK = 5_000;

export interface ImportFileOptions {
  readonly pool: Pool;
  readonly workers: WorkerPool;
  readonly keys: IdKeys;
  /** "Today" for birth dates and score years (epoch ms); default now. */
  readonly todayMs?: number;
  readonly linesPerChunk?: number;
  /** Chunks read ahead (being parsed or waiting to be applied); default 2 per worker thread + 2. */
  readonly maxInFlight?: number;
  /** Where the rejects go; default `<file>.rejects.csv`. */
  readonly rejectsPath?: string;
  readonly progress?: ProgressSink;
  readonly loader?: LoaderOptions;
}

export interface ImportFileResult {
  readonly file: string;
  readonly kind: ImportKind;
  /** Data rows read (blank lines excepted). */
  readonly rowsRead: number;
  /** Rows now in the table from this file: inserted + updated + unchanged. */
  readonly imported: number;
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly rejected: number;
  /** The first 50 rejects, in line order. */
  readonly firstRejects: readonly RejectedRow[];
  readonly rejectsPath: string;
  readonly elapsedMs: number;
  /** Time spent applying chunks in PostgreSQL (COPY, checks, upsert, commit): the share of
   * elapsedMs that is the database's, the rest being the wait for parsing and reading. */
  readonly databaseMs: number;
}

export async function importCsvFile(file: string, options: ImportFileOptions): Promise<ImportFileResult> {
  const started = performance.now();
  const header = await readCsvHeader(file);
  const progress = options.progress ?? noProgress;
  const linesPerChunk = options.linesPerChunk ?? DEFAULT_LINES_PER_CHUNK;
  const maxInFlight = options.maxInFlight ?? options.workers.threads * 2 + 2;
  const todayMs = options.todayMs ?? Date.now();
  const hmacKeyHex = options.keys.hmacKey.toString('hex');
  const encryptionKeyHex = options.keys.encryptionKey.toString('hex');
  const label = path.basename(file);

  const report = await RejectsReport.open(options.rejectsPath ?? `${file}.rejects.csv`);
  let loader: ChunkLoader;
  try {
    loader = await openChunkLoader(options.pool, header.kind, options.loader);
  } catch (err) {
    await report.close().catch(() => undefined);
    throw err;
  }
  const pending = new Map<number, Promise<ChunkResult>>();
  let nextToApply = 0;
  let rowsRead = 0;
  let inserted = 0;
  let updated = 0;
  let unchanged = 0;
  let bytesRead = header.byteLength;
  let linesRead = 0;
  let databaseMs = 0;

  const snapshot = (final: boolean) => {
    const bytesPerLine = linesRead > 0 ? (bytesRead - header.byteLength) / linesRead : 1;
    const dataBytes = header.fileBytes - header.byteLength;
    return {
      label,
      rowsDone: rowsRead,
      rowsEstimate: final ? rowsRead : Math.round(dataBytes / Math.max(bytesPerLine, 1)),
      rejected: report.count,
      elapsedMs: performance.now() - started,
    };
  };

  const applyNext = async (): Promise<void> => {
    const index = nextToApply;
    const parsed = await pending.get(index)!;
    const applyStarted = performance.now();
    const applied = await loader.apply(parsed.copyText, parsed.goodRows, index);
    databaseMs += performance.now() - applyStarted;
    pending.delete(index);
    nextToApply++;
    rowsRead += parsed.rows;
    inserted += applied.inserted;
    updated += applied.updated;
    unchanged += applied.unchanged;
    await report.add(parsed.rejects.concat(applied.rejects));
    progress.update(snapshot(false));
  };

  let failed = false;
  try {
    const stream = createReadStream(file, { start: header.byteLength, highWaterMark: 1 << 20 });
    const chunks = lineChunks(stream, { firstLine: 2, linesPerChunk });
    for await (const chunk of readable(chunks, file)) {
      bytesRead += chunk.data.length;
      linesRead += chunk.lines;
      const task: ChunkTask = {
        kind: header.kind,
        firstLine: chunk.firstLine,
        data: chunk.data,
        tooLongLines: chunk.tooLongLines,
        columnIndexes: header.columnIndexes,
        columnCount: header.columnCount,
        hmacKeyHex,
        encryptionKeyHex,
        todayMs,
      };
      const parsing = options.workers.run<ChunkResult>('roster', task);
      parsing.catch(() => undefined); // awaited in order by applyNext; never unhandled meanwhile
      pending.set(chunk.index, parsing);
      while (pending.size >= maxInFlight) await applyNext();
    }
    while (pending.size > 0) await applyNext();
  } catch (err) {
    failed = true;
    await Promise.allSettled(pending.values());
    throw err;
  } finally {
    await loader.close();
    await report.close().catch((err: unknown) => {
      if (!failed) throw err;
    });
  }
  progress.done(snapshot(true));
  return {
    file,
    kind: header.kind,
    rowsRead,
    imported: inserted + updated + unchanged,
    inserted,
    updated,
    unchanged,
    rejected: report.count,
    firstRejects: report.first,
    rejectsPath: report.path,
    elapsedMs: performance.now() - started,
    databaseMs,
  };
}

/** Turns a read error in the middle of the file into ImportFileError (exit code of an unreadable file). */
async function* readable<T>(source: AsyncIterable<T>, file: string): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      let next: IteratorResult<T>;
      try {
        next = await iterator.next();
      } catch (err) {
        finished = true;
        const reason = err instanceof Error ? err.message : String(err);
        throw new ImportFileError('FILE_UNREADABLE', `${file}: read failed (${reason})`);
      }
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // The consumer stopped early (an error while applying): close the file.
    if (!finished) await iterator.return?.();
  }
}
