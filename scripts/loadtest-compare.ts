/**
 * `npm run loadtest:compare -- --rate 10000 --duration 10` — P2 side by side (loadtest/bench/compare.ts):
 * the same open-loop reservation race against the engine's gateway and against the conventional
 * baseline (Node http + PostgreSQL row locks), one after the other on the same machine and private
 * stack. Writes reports/bench/compare.json and reports/compare/report.html. Exits 1 on an invariant
 * violation.
 * Options: --rate N (10000), --duration S (10), --connections N (256), --campuses N (50).
 */
import { parseArgs } from 'node:util';
import { runCompare } from '../loadtest/bench/compare.ts';
import { writeBenchReport } from '../loadtest/bench/report.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '256' },
    campuses: { type: 'string', default: '50' },
  },
  strict: true,
});

async function main(): Promise<number> {
  const { result, summary } = await runCompare({
    rate: Number(values.rate),
    durationS: Number(values.duration),
    connections: Number(values.connections),
    campuses: Number(values.campuses),
    say: (line) => void process.stderr.write(`${line}\n`),
  });
  writeBenchReport('compare', result);
  console.log(summary);
  return result.invariantsOk ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(2);
  },
);
