/**
 * `npm run bench:engine` — the engine benchmark (P1, P4; loadtest/bench/engine.ts). Prints figures;
 * asserts nothing. Writes reports/bench/engine.json. Options: --candidates N (default 100000),
 * --ops N (300000), --inflight N (800), --connections N (2). Uses REDIS_URL if set, else a private
 * redis-server (AOF appendfsync always).
 */
import { parseArgs } from 'node:util';
import { engineBenchSummary, runEngineBench } from '../loadtest/bench/engine.ts';
import { writeBenchReport } from '../loadtest/bench/report.ts';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: '100000' },
    ops: { type: 'string', default: '300000' },
    inflight: { type: 'string', default: '800' },
    connections: { type: 'string', default: '2' },
  },
});

async function main(): Promise<void> {
  const result = await runEngineBench({
    candidates: Number(values.candidates),
    ops: Number(values.ops),
    inflight: Number(values.inflight),
    connections: Number(values.connections),
  });
  writeBenchReport('engine', result);
  console.log(engineBenchSummary(result));
}

await main();
