/**
 * `npm run bench:routes` — autocannon on the single routes of the login and eligibility steps, with
 * pre-seeded accounts and sessions (loadtest/bench/routes.ts). The system runs in its own process.
 * Prints figures, writes reports/bench/routes.json.
 * Options: --candidates N (20000), --connections N (100), --duration S (10).
 */
import { parseArgs } from 'node:util';
import { writeBenchReport } from '../loadtest/bench/report.ts';
import { runRoutesBench } from '../loadtest/bench/routes.ts';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '100' },
    duration: { type: 'string', default: '10' },
  },
});

async function main(): Promise<void> {
  const { result, summary } = await runRoutesBench({
    candidates: Number(values.candidates),
    connections: Number(values.connections),
    durationS: Number(values.duration),
  });
  writeBenchReport('routes', result);
  console.log(summary);
}

await main();
