/**
 * Writes a generated world to a directory: world.json, roster.csv, cet4_scores.csv. The CSVs are
 * streamed in one pass over the candidates with back-pressure, so memory stays flat whatever the
 * candidate count. Each file is written under a temporary name and renamed when complete, so a
 * crashed run never leaves a truncated file that looks finished.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  cet4ScoreCsvLine,
  CET4_SCORE_COLUMNS,
  csvHeader,
  rosterCsvLine,
  ROSTER_COLUMNS,
} from '../../roster/csv.ts';
import type { GeneratedWorld } from './generate.ts';

export const WORLD_FILE = 'world.json';
export const ROSTER_FILE = 'roster.csv';
export const CET4_SCORES_FILE = 'cet4_scores.csv';

const CHUNK_CHARS = 1 << 18;

/** Collects lines into large chunks and waits for 'drain' when the stream asks it to. */
class ChunkedWriter {
  private parts: string[] = [];
  private size = 0;
  bytes = 0;

  constructor(private readonly stream: WriteStream) {}

  /** Buffers a line; true when a chunk is full and flush() should be awaited. */
  line(text: string): boolean {
    this.parts.push(text);
    this.size += text.length;
    return this.size >= CHUNK_CHARS;
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const chunk = this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.bytes += Buffer.byteLength(chunk);
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await once(this.stream, 'finish');
  }
}

export interface SeedFileCounts {
  readonly provinces: number;
  readonly schools: number;
  readonly campuses: number;
  readonly candidates: number;
  readonly cet4Scores: number;
  readonly rosterBytes: number;
  readonly cet4ScoresBytes: number;
}

export function worldJson(generated: GeneratedWorld): string {
  return `${JSON.stringify(generated.world, null, 2)}\n`;
}

export async function writeSeedFiles(outDir: string, generated: GeneratedWorld): Promise<SeedFileCounts> {
  await mkdir(outDir, { recursive: true });
  const worldPath = join(outDir, WORLD_FILE);
  await writeFile(`${worldPath}.tmp`, worldJson(generated));

  const rosterPath = join(outDir, ROSTER_FILE);
  const scoresPath = join(outDir, CET4_SCORES_FILE);
  const roster = new ChunkedWriter(createWriteStream(`${rosterPath}.tmp`));
  const scores = new ChunkedWriter(createWriteStream(`${scoresPath}.tmp`));
  roster.line(csvHeader(ROSTER_COLUMNS));
  scores.line(csvHeader(CET4_SCORE_COLUMNS));
  let candidates = 0;
  let cet4Scores = 0;
  for (const candidate of generated.candidates()) {
    candidates++;
    if (roster.line(rosterCsvLine(candidate.entry))) await roster.flush();
    for (const score of candidate.scores) {
      cet4Scores++;
      if (scores.line(cet4ScoreCsvLine(score))) await scores.flush();
    }
  }
  await Promise.all([roster.close(), scores.close()]);

  await rename(`${worldPath}.tmp`, worldPath);
  await rename(`${rosterPath}.tmp`, rosterPath);
  await rename(`${scoresPath}.tmp`, scoresPath);
  return {
    provinces: generated.world.provinces.length,
    schools: generated.world.schools.length,
    campuses: generated.world.campuses.length,
    candidates,
    cet4Scores,
    rosterBytes: roster.bytes,
    cet4ScoresBytes: scores.bytes,
  };
}
