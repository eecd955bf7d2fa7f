/**
 * A load-test report.json on disk: read with the fields its readers cannot do without checked
 * (readReport, readMeasured), and `npm run report`'s work as a function of its arguments
 * (reportFromArgs): either the self-contained HTML page of one report (renderFromArgs: html.ts,
 * beside the JSON as report.html unless --out says otherwise), or `merge`: the reports of a
 * sharded run's shards merged into one report.json and its page in --out (mergeFromArgs,
 * merge.ts), with I1–I5 judged once on the stores when --run names the run's run.json.
 * Bad input is one ReportInputError with a clear message, found before anything is written.
 */
import { ReportInputError } from './inputError.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { renderReportHtml } from './html.ts';
import { checkShardReports, mergeReports } from './merge.ts';
import type { InvariantVerdict, MeasuredCapacity, RunReport } from './types.ts';

/** Input that cannot be used; an empty message asks for the usage text (--help). */
export { ReportInputError };

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

/** I1–I5 and the reconciliation on the stores a sharded run drove, from its run.json. */
export type StoreJudge = (runFile: string) => Promise<InvariantVerdict>;

/**
 * shardRun.ts's judge, imported only when a merge asks for it: it reaches Redis and PostgreSQL,
 * which rendering a page (and the capacity plan, which reads reports through this module) never do.
 */
const judgeStores: StoreJudge = async (runFile) => {
  const { judgeAttached } = await import('../runner/shardRun.ts');
  return judgeAttached(runFile);
};

/** `npm run report`'s arguments: `merge …` merges shard reports, anything else renders one page. */
export async function reportFromArgs(
  argv: readonly string[],
  judge: StoreJudge = judgeStores,
): Promise<readonly string[]> {
  if (argv[0] === 'merge') return mergeFromArgs(argv.slice(1), judge);
  return [renderFromArgs(argv)];
}

function parseMergeArgs(argv: readonly string[]): { inputs: string[]; out: string; run: string | undefined } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        run: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new ReportInputError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) throw new ReportInputError('');
  if (positionals.length < 2) {
    throw new ReportInputError(
      `merge needs every shard’s report.json (at least 2), got ${positionals.length}`,
    );
  }
  if (values.out === undefined) {
    throw new ReportInputError('merge needs --out DIR: where the merged report.json and report.html go');
  }
  return { inputs: positionals, out: values.out, run: values.run };
}

/**
 * The run.json a sharded run's coordinator wrote (shardRun.ts ShardedRunFile), checked against the
 * reports, so the stores judged are those of the run merged.
 */
function checkRunFile(file: string, reports: readonly RunReport[]): void {
  const run = readJsonInput(
    file,
    `run file at ${file}: a sharded run's coordinator writes it as <out>/run.json`,
    ReportInputError,
  ) as Partial<Record<'version' | 'shards' | 'seed' | 'candidates', unknown>> | null;
  if (run?.version !== 1) throw new ReportInputError(`${file} is not a sharded run's run.json`);
  const shard = reports[0]!.shard!;
  const expected = { shards: shard.count, seed: shard.seed, candidates: shard.totalCandidates };
  for (const [key, value] of Object.entries(expected)) {
    const found = run[key as keyof typeof expected];
    if (found !== value) {
      throw new ReportInputError(
        `${file} is of another run: ${key} ${String(found)}, the reports' ${String(value)}`,
      );
    }
  }
}

/**
 * `merge a.json b.json … --out DIR [--run run.json]`: writes DIR/report.json and DIR/report.html;
 * returns their paths. Every input is read and checked (and the stores judged, with --run) before
 * anything is written, and an input is never overwritten.
 */
export async function mergeFromArgs(
  argv: readonly string[],
  judge: StoreJudge = judgeStores,
): Promise<readonly string[]> {
  const { inputs, out, run } = parseMergeArgs(argv);
  const jsonOut = path.join(out, 'report.json');
  const htmlOut = path.join(out, 'report.html');
  const overwritten = inputs.find((input) => path.resolve(input) === path.resolve(jsonOut));
  if (overwritten) {
    throw new ReportInputError(
      `--out ${out} would overwrite the input ${overwritten}: merge into another directory`,
    );
  }
  const reports = inputs.map((input) => readReport(input));
  checkShardReports(reports, inputs);
  if (run !== undefined) checkRunFile(run, reports);
  const verdict = run === undefined ? undefined : await judge(run);
  const merged = mergeReports(reports, verdict);
  const page = renderReportHtml(merged);
  mkdirSync(out, { recursive: true });
  writeFileSync(jsonOut, `${JSON.stringify(merged, null, 2)}\n`);
  writeFileSync(htmlOut, page);
  return [jsonOut, htmlOut];
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
