/**
 * `npm run loadtest:dashboards -- --subscribers 10000 --rate 4000` — P5 (loadtest/bench/dashboards.ts):
 * the same open-loop reservation race against the engine twice, on a fresh system each time,
 * without dashboards and then with N WebSocket subscribers attached: how stale the seat updates
 * were when they arrived, and how much reservation throughput the dashboards cost. Writes
 * reports/bench/dashboards.json. Exits 1 on an invariant violation.
 * Options: --subscribers N (10000), --rate N (4000), --duration S (10), --connections N (256).
 */
import { parseArgs } from 'node:util';
import { runDashboardsBench } from '../loadtest/bench/dashboards.ts';
import { writeBenchReport } from '../loadtest/bench/report.ts';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '4000' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '256' },
  },
  strict: true,
});

async function main(): Promise<number> {
  const { result, summary } = await runDashboardsBench({
    subscribers: Number(values.subscribers),
    rate: Number(values.rate),
    durationS: Number(values.duration),
    connections: Number(values.connections),
    say: (line) => void process.stderr.write(`${line}\n`),
  });
  writeBenchReport('dashboards', result);
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
