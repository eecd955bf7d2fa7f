/**
 * A load-test report.json on disk: read with the fields its readers cannot do without checked
 * (readReport, readMeasured), and `npm run report`'s work as a function of its arguments
 * (renderFromArgs: the self-contained HTML page of html.ts, beside the JSON as report.html unless
 * --out says otherwise). Bad input is one ReportInputError with a clear message; nothing but the
 * page is written.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { renderReportHtml } from './html.ts';
import type { MeasuredCapacity, RunReport } from './types.ts';

/** Input that cannot be used; an empty message asks for the usage text (--help). */
export class ReportInputError extends Error {
  override readonly name = 'ReportInputError';
}

/**
 * A JSON input file's content; a missing file or one that is not JSON is one `fail` error with a
 * clear message (`missing` says what the file is and how to produce it).
 */
export function readJsonInput(file: string, missing: string, fail: new (message: string) => Error): unknown {
  if (!existsSync(file)) throw new fail(`no ${missing}`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (error) {
    throw new fail(`${file} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Reads a report.json, checking the fields the page cannot do without. */
export function readReport(file: string): RunReport {
  const data = readJsonInput(
    file,
    `report at ${file}: produce one with \`npm run loadtest\``,
    ReportInputError,
  );
  const report = data as Partial<RunReport> | null;
  if (report?.version !== 1) throw new ReportInputError(`${file} is not a version 1 load-test report`);
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
  if (missing.length > 0) throw new ReportInputError(`${file} lacks ${missing.join(', ')}`);
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
    throw new ReportInputError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) throw new ReportInputError('');
  if (positionals.length !== 1) throw new ReportInputError('give exactly one report.json');
  const input = positionals[0]!;
  const report = readReport(input);
  const compare = values.compare === undefined ? undefined : readReport(values.compare);
  const out = values.out ?? path.join(path.dirname(input), 'report.html');
  writeFileSync(out, renderReportHtml(report, compare ? { compare } : {}));
  return out;
}

/** Reads the `measured` block of a report.json (what the capacity plan multiplies), or says how to get one. */
export function readMeasured(path: string): MeasuredCapacity {
  if (!existsSync(path)) {
    throw new ReportInputError(
      `no report at ${path}: produce one with \`npm run loadtest\`, or pass --report <path to report.json>`,
    );
  }
  let report: unknown;
  try {
    report = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ReportInputError(
      `${path} is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const measured = (report as { measured?: unknown } | null)?.measured;
  if (typeof measured !== 'object' || measured === null) {
    throw new ReportInputError(`${path} has no "measured" block (is it a load-test report.json?)`);
  }
  return measured as MeasuredCapacity;
}
