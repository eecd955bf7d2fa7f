/**
 * `npm run bench:harness` (issue 15, P3): a 100,000-candidate province (sessions preseeded, the
 * opening profile over --duration seconds) driven by 2 load generator processes (`--shards 2`),
 * their reports merged and I1–I5 checked once; writes reports/bench/harness.json
 * `{candidates, shards, heapBytesPerCandidate, completed, violations, mergedRequests}` (the worst
 * shard's heap per candidate) beside the run's own report in reports/bench-harness/. Options:
 * --candidates N (100000) --shards N (2) --duration S (600) --connections N (512) --dashboards N (20)
 * --straggle-timeout S (3600).
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { writeBenchReport } from '../loadtest/bench/report.ts';
import { headline, runLoadtest } from '../loadtest/runner/harness.ts';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: '100000' },
    shards: { type: 'string', default: '2' },
    duration: { type: 'string', default: '600' },
    connections: { type: 'string', default: '512' },
    dashboards: { type: 'string', default: '20' },
    'straggle-timeout': { type: 'string', default: '3600' },
    out: { type: 'string', default: 'reports/bench-harness' },
  },
});

const run = await runLoadtest({
  surge: {
    profile: 'opening',
    candidates: Number(values.candidates),
    durationS: Number(values.duration),
    dashboards: Number(values.dashboards),
    connections: Number(values.connections),
    seed: 42,
    preseededSessions: true,
    oralShare: 0.4,
    poolThreads: Math.max(1, availableParallelism() - 1),
    straggleTimeoutS: Number(values['straggle-timeout']),
  },
  threads: availableParallelism(),
  shards: Number(values.shards),
  out: values.out,
  say: (line) => void process.stderr.write(`${line}\n`),
});
const { report } = run;
const figures = {
  candidates: Number(values.candidates),
  shards: Number(values.shards),
  heapBytesPerCandidate: Math.max(...(report.generators ?? []).map((g) => g.heapBytesPerCandidate)),
  completed: report.totals.candidatesFinished,
  violations: report.invariants.violations.length,
  mergedRequests: report.totals.requests,
  durationS: report.durationS,
  sellOutS: report.sellOutS,
  writerLagP99Ms: report.writer.lagP99Ms,
  generators: report.generators,
  phases: report.phases,
  method:
    'npm run bench:harness: the whole stack with private Redis (AOF always) and PostgreSQL, 2 generator processes on the same box (node --expose-gc), reports merged (HDR histograms added), I1–I5 checked once on the stores; heap: see generators[].method',
  measuredAt: new Date().toISOString(),
};
writeBenchReport('harness', figures);
console.log(headline(run));
console.log(JSON.stringify({ ...figures, generators: undefined, phases: undefined }));
process.exit(report.invariants.ok ? 0 : 1);
