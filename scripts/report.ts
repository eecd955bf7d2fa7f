/**
 * `npm run report -- <report.json> [--out report.html] [--compare baseline-report.json]`: renders
 * (again) the self-contained HTML page of a load-test run (loadtest/report/html.ts). The page goes
 * beside the JSON as report.html unless --out says otherwise. Exits 1 with one clear message on bad
 * input; writes nothing but the page.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { renderReportHtml } from '../loadtest/report/html.ts';
import type { RunReport } from '../loadtest/report/types.ts';

const USAGE =
  'usage: tsx scripts/report.ts <report.json> [--out report.html] [--compare baseline-report.json]\n';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Reads a report.json, checking the fields the page cannot do without. */
export function readReport(file: string): RunReport {
  if (!existsSync(file)) throw new UsageError(`no report at ${file}: produce one with \`npm run loadtest\``);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`${file} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const report = data as Partial<RunReport> | null;
  if (report?.version !== 1) throw new UsageError(`${file} is not a version 1 load-test report`);
  const missing = (
    [
      'totals',
      'latency',
      'answers',
      'timeline',
      'seats',
      'dashboards',
      'writer',
      'measured',
      'invariants',
    ] as const
  ).filter((key) => typeof report[key] !== 'object' || report[key] === null);
  if (missing.length > 0) throw new UsageError(`${file} lacks ${missing.join(', ')}`);
  return report as RunReport;
}

/** Renders the page; returns where it was written. */
export function renderFromArgs(argv: readonly string[]): string {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        compare: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) throw new UsageError('');
  if (positionals.length !== 1) throw new UsageError('give exactly one report.json');
  const input = positionals[0]!;
  const report = readReport(input);
  const compare = values.compare === undefined ? undefined : readReport(values.compare);
  const out = values.out ?? path.join(path.dirname(input), 'report.html');
  writeFileSync(out, renderReportHtml(report, compare ? { compare } : {}));
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.stdout.write(`${renderFromArgs(process.argv.slice(2))}\n`);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(error.message ? `report: ${error.message}\n${USAGE}` : USAGE);
    process.exit(error.message ? 1 : 0);
  }
}
