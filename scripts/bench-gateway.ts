/**
 * `npm run bench:gateway` — the gateway benchmark (P2; loadtest/bench/gateway.ts). Prints figures;
 * asserts nothing. Starts the whole system (private Redis with AOF always + PostgreSQL, N app
 * threads), pre-seeds N accounts with sessions and bound candidates, then runs autocannon against
 * the reservation route and GET /healthz. Writes reports/bench/gateway.json.
 * Options: --candidates N (50000), --connections N (400), --duration S (10), --reserve-only (no
 * trivial run, e.g. under SYSTEM_NODE_ARGS=--cpu-prof; writes no report).
 */
import { parseArgs } from 'node:util';
import { runGatewayBench } from '../loadtest/bench/gateway.ts';
import { writeBenchReport } from '../loadtest/bench/report.ts';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: '50000' },
    // 400: the knee measured on the 2-core box (README, P2): 200 → 400 → 800 connections gave
    // about 5,300 → 7,000 → 7,100 reservations/s, p99 104 → 166 → 461 ms (2026-11-29)
    connections: { type: 'string', default: '400' },
    duration: { type: 'string', default: '10' },
    // profiling aid: skip the trivial route so a profile of the system shows reservations only
    'reserve-only': { type: 'boolean', default: false },
  },
});

async function main(): Promise<void> {
  const { result, summary } = await runGatewayBench({
    candidates: Number(values.candidates),
    connections: Number(values.connections),
    durationS: Number(values.duration),
    reserveOnly: values['reserve-only'] ?? false,
  });
  if (result !== null) writeBenchReport('gateway', result);
  console.log(summary);
}

await main();
