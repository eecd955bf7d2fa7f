/**
 * `npm run report -- <report.json> [--out report.html] [--compare baseline-report.json]`: renders
 * (again) the self-contained HTML page of a load-test run (loadtest/report/file.ts, html.ts). The
 * page goes beside the JSON as report.html unless --out says otherwise.
 *
 * `npm run report -- merge a.json b.json … --out DIR [--run run.json]`: merges the reports of every
 * shard of one sharded run (`--shard i/n`, issue 15; loadtest/report/merge.ts) into DIR/report.json
 * and DIR/report.html. With --run (the run.json the run's coordinator wrote) I1–I5 and the
 * reconciliation are checked once on the stores the shards drove; without it the merged verdict
 * says they were not checked.
 *
 * Exits 1 with one clear message on bad input, having written nothing; prints what it wrote.
 */
import { ReportInputError, reportFromArgs } from '../loadtest/report/file.ts';

const USAGE =
  'usage: tsx scripts/report.ts <report.json> [--out report.html] [--compare baseline-report.json]\n' +
  '       tsx scripts/report.ts merge <shard report.json>… --out DIR [--run run.json]\n';

async function main(argv: readonly string[]): Promise<void> {
  try {
    for (const written of await reportFromArgs(argv)) process.stdout.write(`${written}\n`);
  } catch (error) {
    if (!(error instanceof ReportInputError)) throw error;
    process.stderr.write(error.message ? `report: ${error.message}\n${USAGE}` : USAGE);
    process.exit(error.message ? 1 : 0);
  }
}

await main(process.argv.slice(2));
