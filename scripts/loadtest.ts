/**
 * `npm run loadtest -- --profile opening --candidates 2000 --duration 30 --dashboards 50`
 *
 * The load-test harness's main entry (issue 6): starts private Redis (AOF always) and PostgreSQL
 * unless REDIS_URL (or REDIS_CLUSTER_NODES: a Redis Cluster, issue 14) / DATABASE_URL are given
 * (then a fresh database is made on that server for the run and dropped after), starts the system
 * under test in its own process (scripts/start.ts in TEST_MODE; --gateways N: N of them, the
 * candidates' requests taking them in turn), runs a surge (loadtest/runner/run.ts) with a live progress line, checks I1–I5, and
 * writes <out>/report.json and a self-contained <out>/report.html (all of it
 * loadtest/runner/harness.ts). Exits 1 on any violation.
 *
 * Options: --profile opening|openingDay|oralOpenings|payment|expiry (opening), --candidates N (2000),
 * --duration S (30), --dashboards N (20), --dashboard-scope province|campus (what each dashboard
 * watches; campus: one each, round robin), --connections N (256), --seed N (42),
 * --preseeded-sessions (candidates logged in before the opening: no KDF in the surge),
 * --oral-share F (0.4), --threads N (gateway app threads, default: cores), --gateways N (`npm start`
 * processes on the same stores, 1), --pool-threads N (the
 * KDF lane's threads, default: the gateway's own, cores − 1), --waiting-room off|opening|auto (the
 * province's waiting room, API.md; off), --out DIR (reports/loadtest), --straggle-timeout S (after
 * the profile, how long the run waits for candidates still walking while none of them finishes;
 * default max(120, duration); past it the run fails), --plant-oversell (test-only fault: the checker must then fail),
 * --check-acknowledged (every write acknowledged to a candidate is read back after the run),
 * --cluster (a private Redis Cluster of 3 durable masters + 3 replicas when REDIS_CLUSTER_NODES is
 * not given), --kill-master-at S (with it: kill -9 of the province's master S seconds into the run,
 * the promotion timed and the acknowledged writes read back: the report's "failover" block; this is
 * `npm run demo:cluster`). With --gateways N the first process sweeps, all of them drain.
 *
 * Sharded load generation (issue 15): --shards N runs N generator processes on this host, each a
 * slice of the candidates (loadtest/shard.ts), merged into one report with I1–I5 checked once
 * (<out>/run.json, <out>/shard-i/report.json, <out>/report.json). --shard i/n --attach run.json is
 * one such process (what --shards starts; on other hosts, with run.json's zeroAtMs set).
 * --max-walking N caps the candidates walking at once per process (default 4 × connections; no cap
 * with a waiting room); the others wait as a count, their start delay reported.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { profiles, type ProfileName } from '../loadtest/profiles.ts';
import { generatorLines, headline, runLoadtest } from '../loadtest/runner/harness.ts';
import { runShardProcess } from '../loadtest/runner/shardRun.ts';
import { parseShard } from '../loadtest/shard.ts';

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'opening' },
    candidates: { type: 'string', default: '2000' },
    duration: { type: 'string', default: '30' },
    dashboards: { type: 'string', default: '20' },
    'dashboard-scope': { type: 'string', default: 'province' },
    connections: { type: 'string', default: '256' },
    seed: { type: 'string', default: '42' },
    'preseeded-sessions': { type: 'boolean', default: false },
    'oral-share': { type: 'string', default: '0.4' },
    threads: { type: 'string' },
    gateways: { type: 'string', default: '1' },
    'pool-threads': { type: 'string' },
    out: { type: 'string', default: 'reports/loadtest' },
    'plant-oversell': { type: 'boolean', default: false },
    'straggle-timeout': { type: 'string' },
    'waiting-room': { type: 'string', default: 'off' },
    cluster: { type: 'boolean', default: false },
    'kill-master-at': { type: 'string' },
    'check-acknowledged': { type: 'boolean', default: false },
    shards: { type: 'string', default: '1' },
    shard: { type: 'string' },
    attach: { type: 'string' },
    'max-walking': { type: 'string' },
  },
  strict: true,
});

function numberArg(name: string, raw: string | undefined, min: number): number {
  const value = Number(String(raw).replaceAll('_', ''));
  if (!Number.isFinite(value) || value < min)
    throw new RangeError(`--${name} must be a number ≥ ${min}, got "${raw}"`);
  return value;
}

/** `--shard i/n --attach run.json`: one slice of a sharded run (loadtest/runner/shardRun.ts). */
async function shardMain(shardText: string): Promise<number> {
  if (!values.attach) {
    throw new RangeError(
      '--shard i/n needs --attach run.json (written by a coordinator: npm run loadtest -- --shards n …)',
    );
  }
  const report = await runShardProcess({
    runFile: values.attach,
    shard: parseShard(shardText),
    out: values.out ?? 'reports/loadtest',
    ...(values['max-walking'] ? { maxWalking: numberArg('max-walking', values['max-walking'], 1) } : {}),
    say: (line) => void process.stderr.write(`${line}\n`),
  });
  const t = report.totals;
  process.stderr.write(
    `shard ${report.shard!.index}/${report.shard!.count}: ${t.candidatesFinished}/${report.shard!.candidates} candidates, ${t.requests} requests, errors ${t.errors}\n${generatorLines(report).join('\n')}\n`,
  );
  return report.invariants.ok ? 0 : 1;
}

async function main(): Promise<number> {
  if (values.shard !== undefined) return shardMain(values.shard);
  if (values.attach !== undefined)
    throw new RangeError('--attach is for a shard process: give --shard i/n too');
  const profile = values.profile as ProfileName;
  if (!(profile in profiles))
    throw new RangeError(`--profile must be one of ${Object.keys(profiles).join(', ')}`);
  const candidates = numberArg('candidates', values.candidates, 1);
  const durationS = numberArg('duration', values.duration, 1);
  const threads = values.threads ? numberArg('threads', values.threads, 1) : availableParallelism();
  // the gateway's own default: the KDF lane leaves a core to the event loops
  const poolThreads = values['pool-threads']
    ? numberArg('pool-threads', values['pool-threads'], 1)
    : Math.max(1, availableParallelism() - 1);
  const waitingRoom = values['waiting-room'];
  if (waitingRoom !== 'off' && waitingRoom !== 'opening' && waitingRoom !== 'auto')
    throw new RangeError(`--waiting-room must be off, opening or auto, got "${waitingRoom}"`);
  const run = await runLoadtest({
    surge: {
      profile,
      candidates,
      durationS,
      dashboards: numberArg('dashboards', values.dashboards, 0),
      dashboardScope: values['dashboard-scope'] === 'campus' ? 'campus' : 'province',
      connections: numberArg('connections', values.connections, 1),
      seed: numberArg('seed', values.seed, 0),
      preseededSessions: values['preseeded-sessions'] ?? false,
      oralShare: numberArg('oral-share', values['oral-share'], 0),
      poolThreads,
      plantOversell: values['plant-oversell'] ?? false,
      waitingRoom,
      checkAcknowledged: values['check-acknowledged'] ?? false,
      ...(values['max-walking'] ? { maxWalking: numberArg('max-walking', values['max-walking'], 1) } : {}),
      // candidates still walking after the profile: by default as long again as the profile
      straggleTimeoutS: values['straggle-timeout']
        ? numberArg('straggle-timeout', values['straggle-timeout'], 0)
        : Math.max(120, durationS),
    },
    threads,
    gateways: numberArg('gateways', values.gateways, 1),
    shards: numberArg('shards', values.shards, 1),
    // every process drains the streams (two writers share the consumer group); one sweeps
    systemEnv: (index) => (index > 0 ? { START_SWEEPER: '0' } : {}),
    ...(values.cluster || values['kill-master-at'] !== undefined
      ? {
          cluster:
            values['kill-master-at'] === undefined
              ? {}
              : { killMasterAtS: numberArg('kill-master-at', values['kill-master-at'], 0) },
        }
      : {}),
    out: values.out ?? 'reports/loadtest',
    say: (line) => void process.stderr.write(`${line}\n`),
  });
  console.log(headline(run));
  return run.report.invariants.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(2);
  },
);
