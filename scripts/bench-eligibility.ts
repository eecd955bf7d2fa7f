/**
 * `npm run bench:eligibility` — where the eligibility CPU work should run, and what the query costs
 * end to end (loadtest/bench/eligibility.ts). Prints a table and writes
 * reports/bench/eligibility.json; asserts nothing.
 * Options: --candidates N (100000), --checks N (400000), --queries N (100000), --inflight N (512),
 * --threads N (2). Uses DATABASE_URL if set (a scratch database is created in it and dropped).
 */
import { parseArgs } from 'node:util';
import { runEligibilityBench } from '../loadtest/bench/eligibility.ts';
import { writeBenchReport } from '../loadtest/bench/report.ts';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: '100000' },
    checks: { type: 'string', default: '400000' },
    queries: { type: 'string', default: '100000' },
    inflight: { type: 'string', default: '512' },
    threads: { type: 'string', default: '2' },
  },
});

async function main(): Promise<void> {
  const { report, summary } = await runEligibilityBench({
    candidates: Number(values.candidates),
    checks: Number(values.checks),
    queries: Number(values.queries),
    inflight: Number(values.inflight),
    threads: Number(values.threads),
    say: (line) => void process.stderr.write(`[bench] ${line}\n`),
  });
  writeBenchReport('eligibility', report);
  console.log(summary);
}

await main();
