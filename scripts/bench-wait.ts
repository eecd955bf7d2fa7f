/**
 * `npm run bench:wait` — what REDIS_WAIT_REPLICAS=1 costs a reservation (issue 14 item 3;
 * loadtest/bench/replicaWait.ts). Prints figures; asserts nothing. Writes reports/bench/wait.json.
 * Options: --rounds N (3), --sequential N (500), --concurrent N (5000), --inflight N (64),
 * --timeout-ms N (500). Starts its own private 3+3 Redis Cluster.
 */
import { parseArgs } from 'node:util';
import { replicaWaitSummary, runReplicaWaitBench } from '../loadtest/bench/replicaWait.ts';
import { writeBenchReport } from '../loadtest/bench/report.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    sequential: { type: 'string', default: '500' },
    concurrent: { type: 'string', default: '5000' },
    inflight: { type: 'string', default: '64' },
    'timeout-ms': { type: 'string', default: '500' },
  },
});

function whole(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a whole number ≥ 1 (got ${text})`);
    process.exit(1);
  }
  return value;
}

const result = await runReplicaWaitBench({
  rounds: whole('rounds', values.rounds),
  sequential: whole('sequential', values.sequential),
  concurrent: whole('concurrent', values.concurrent),
  inflight: whole('inflight', values.inflight),
  timeoutMs: whole('timeout-ms', values['timeout-ms']),
});
console.log(`→ ${writeBenchReport('wait', result)}`);
console.log(replicaWaitSummary(result));
