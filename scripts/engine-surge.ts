/**
 * `npm run surge:engine` — an engine-level surge (no HTTP; loadtest/bench/engineSurge.ts): the
 * private stack, a generated world loaded into the engine, every candidate binding and racing for
 * seats, the sweeper 12 h later, the invariants I1–I4. Prints the headline figures and writes
 * reports/engine-surge/engine-surge.json; the exit code is non-zero on any violation.
 * Options: --candidates N (20000), --provinces N (3), --concurrency N (1000), --seed N (42).
 */
import { parseArgs } from 'node:util';
import { runEngineSurge } from '../loadtest/bench/engineSurge.ts';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: '20000' },
    provinces: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '42' },
  },
});

async function main(): Promise<void> {
  process.exitCode = await runEngineSurge({
    candidates: Number(values.candidates),
    provinces: Number(values.provinces),
    concurrency: Number(values.concurrency),
    seed: Number(values.seed),
  });
}

await main();
