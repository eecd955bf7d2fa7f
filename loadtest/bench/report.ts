/**
 * Where the benchmarks' figures go: reports/bench/<name>.json, one file per benchmark, replaced
 * by each run (README "Measured figures" quotes them).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const BENCH_REPORTS_DIR = 'reports/bench';

/** Writes `figures` as reports/bench/<name>.json; returns the path. */
export function writeBenchReport(name: string, figures: unknown): string {
  mkdirSync(BENCH_REPORTS_DIR, { recursive: true });
  const file = path.join(BENCH_REPORTS_DIR, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
  return file;
}
