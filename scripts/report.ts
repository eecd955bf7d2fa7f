/**
 * `npm run report -- <report.json> [--out report.html] [--compare baseline-report.json]`: renders
 * (again) the self-contained HTML page of a load-test run (loadtest/report/file.ts, html.ts). The
 * page goes beside the JSON as report.html unless --out says otherwise. Exits 1 with one clear
 * message on bad input; writes nothing but the page.
 */
import { ReportInputError, renderFromArgs } from '../loadtest/report/file.ts';

const USAGE =
  'usage: tsx scripts/report.ts <report.json> [--out report.html] [--compare baseline-report.json]\n';

function main(argv: readonly string[]): void {
  try {
    process.stdout.write(`${renderFromArgs(argv)}\n`);
  } catch (error) {
    if (!(error instanceof ReportInputError)) throw error;
    process.stderr.write(error.message ? `report: ${error.message}\n${USAGE}` : USAGE);
    process.exit(error.message ? 1 : 0);
  }
}

main(process.argv.slice(2));
