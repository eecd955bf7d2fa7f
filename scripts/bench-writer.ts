/**
 * `npm run bench:writer` — the writer benchmark (P6: ≥ 50k events/s into PostgreSQL, lag p99 < 2 s;
 * loadtest/bench/writer.ts). Prints a table, asserts nothing, writes reports/bench/writer.json.
 * Options: --candidates N (default 50000), --small N (5000), --seconds N (15), --inflight N (64),
 * --repeat N (1: each configuration N times in rotation, the median reported), --only TEXT (the
 * configurations whose name contains TEXT).
 * Uses REDIS_URL / DATABASE_URL if set, else a private Redis and PostgreSQL.
 */
import { parseArgs } from 'node:util';
import { writeBenchReport } from '../loadtest/bench/report.ts';
import { printWriterBench, runWriterBench } from '../loadtest/bench/writer.ts';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: '50000' },
    small: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '15' },
    inflight: { type: 'string', default: '64' },
    // each configuration is run this many times (in rotation) and its median reported: this VM's
    // speed drifts by tens of percent within minutes
    repeat: { type: 'string', default: '1' },
    // only the configurations whose name contains this (e.g. "copy")
    only: { type: 'string', default: '' },
  },
});

async function main(): Promise<void> {
  const report = await runWriterBench({
    candidates: Number(values.candidates),
    small: Number(values.small),
    seconds: Number(values.seconds),
    inflight: Number(values.inflight),
    repeat: Math.max(1, Number(values.repeat)),
    only: values.only ?? '',
  });
  writeBenchReport('writer', report);
  printWriterBench(report);
}

await main();
