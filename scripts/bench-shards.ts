/**
 * `npm run bench:shards` — the engine on a private Redis Cluster of 1, 2 and 3 durable masters
 * (loadtest/bench/shards.ts), alternating, medians. Prints the table; writes
 * reports/bench/shards.json (read by `npm run plan`). Options: --masters 1,2,3 --rounds 3
 * --duration 10 --warmup 2 --inflight 256 --candidates 120000 --quiet-wait 30 (seconds a round waits
 * for the shared box to go quiet first).
 */
import { parseArgs } from 'node:util';
import { writeBenchReport } from '../loadtest/bench/report.ts';
import { SHARDS_BENCH_DEFAULTS, runShardsBench, shardsBenchSummary } from '../loadtest/bench/shards.ts';

const d = SHARDS_BENCH_DEFAULTS;
const { values } = parseArgs({
  options: {
    masters: { type: 'string', default: d.masters.join(',') },
    rounds: { type: 'string', default: String(d.rounds) },
    duration: { type: 'string', default: String(d.durationS) },
    warmup: { type: 'string', default: String(d.warmupS) },
    inflight: { type: 'string', default: String(d.inflight) },
    candidates: { type: 'string', default: String(d.candidates) },
    'quiet-wait': { type: 'string', default: '30' },
  },
});

const report = await runShardsBench({
  masters: values.masters.split(',').map(Number),
  rounds: Number(values.rounds),
  durationS: Number(values.duration),
  warmupS: Number(values.warmup),
  inflight: Number(values.inflight),
  candidates: Number(values.candidates),
  quietWaitS: Number(values['quiet-wait']),
  log: (line) => console.log(line),
});
writeBenchReport('shards', report);
console.log(shardsBenchSummary(report));
