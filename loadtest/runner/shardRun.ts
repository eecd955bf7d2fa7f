/**
 * A sharded run (issue 15, P3): n load generator processes drive one system, each walking its
 * slice of the candidates (loadtest/shard.ts) on the same clock; their reports merge into one
 * (loadtest/report/merge.ts) and I1–I5 are checked once, on the merged run.
 *
 * - The coordinator (`npm run loadtest -- --shards n`, coordinator.ts runShardedSurge) prepares the world
 *   once, writes <out>/run.json (this file's ShardedRunFile), starts n shard processes
 *   (`spawnShards`), tells them t = 0 once all are ready, samples seats, writer lag and CPU, and
 *   judges the stores after the last has finished.
 * - A shard process (`npm run loadtest -- --shard i/n --attach run.json`, `runShardProcess`) reads
 *   the world (generated again from the seed) and its slice's account ids, says READY, waits for
 *   t = 0 (run.json's `zeroAtMs`, or a `START <epoch ms>` line on stdin from the coordinator),
 *   walks its candidates and writes its own report.json with its histograms, no store check.
 * - On several hosts, each host runs its shard with a copy of run.json whose `zeroAtMs` is set,
 *   and `npm run report -- merge … --run run.json` merges and checks the stores once.
 */
import { createInterface } from 'node:readline';
import { createPool } from '../../db/pool.ts';
import type { RunReport } from '../report/types.ts';
import type { Shard } from '../shard.ts';
import { HeapWatch } from './footprint.ts';
import { progressTicker } from './probes.ts';
import {
  footprintSections,
  notStartedViolation,
  stragglersViolation,
  openingOffsetS,
  runArrivals,
  startedRun,
  surgeProfile,
  waitForStragglers,
  SURGE_OPENS_AT,
  type Prepared,
} from './run.ts';
import { readShardedRunFile, writeReport, type ShardedRunFile } from './shards.ts';
import { surgeReport } from './surgeReport.ts';
import { attachSurgeWorld } from './world.ts';

export { judgeAttached } from './shards.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with t = 0 (epoch ms): run.json's, or the coordinator's `START <ms>` line on stdin. */
function zeroInstant(run: ShardedRunFile): Promise<number> {
  if (run.zeroAtMs > 0) return Promise.resolve(run.zeroAtMs);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      const match = /^START (\d+)$/.exec(line.trim());
      if (!match) return;
      resolve(Number(match[1]));
      lines.close();
    });
    lines.on('close', () => reject(new Error('stdin closed before START: no t = 0 for this shard')));
  });
}

export interface ShardProcessOptions {
  readonly runFile: string;
  readonly shard: Shard;
  readonly out: string;
  /** Candidates walking at once at most in this process (run.ts SurgeOptions.maxWalking). */
  readonly maxWalking?: number;
  /** Progress lines (stderr); READY goes to stdout, the coordinator's channel. */
  readonly say: (line: string) => void;
}

/**
 * One shard of a sharded run, to its end: returns its report (also written as <out>/report.json
 * and report.html). Its `invariants` hold only what its candidates saw (flow violations,
 * stragglers): the stores are checked once for the whole run, after the merge.
 */
export async function runShardProcess(options: ShardProcessOptions): Promise<RunReport> {
  const run = readShardedRunFile(options.runFile);
  const { shard, say } = options;
  if (shard.count !== run.shards) {
    throw new RangeError(
      `--shard ${shard.index}/${shard.count} does not match run.json's ${run.shards} shards`,
    );
  }
  const heap = new HeapWatch();
  const db = createPool(run.databaseUrl, { max: 2, applicationName: `loadtest-shard-${shard.index}` });
  let world;
  try {
    world = await attachSurgeWorld(
      {
        db,
        candidates: run.candidates,
        seed: run.seed,
        opensAtMs: SURGE_OPENS_AT,
        preseededSessions: run.preseededSessions,
        sessionKey: Buffer.from(run.sessionKey, 'hex'),
      },
      shard,
    );
  } finally {
    await db.end();
  }
  const prepared: Prepared = {
    profile: surgeProfile(run.profile, run.candidates, run.durationS),
    openingS: openingOffsetS(run.profile, run.durationS),
    world,
  };
  const connections = Math.max(1, Math.ceil(run.connections / run.shards));
  const surge = {
    base: run.base,
    otherBases: run.otherBases,
    connections,
    seed: run.seed,
    waitingRoom: 'off' as const,
    durationS: run.durationS,
    straggleTimeoutS: run.straggleTimeoutS,
    oralShare: run.oralShare,
    candidates: run.candidates,
    ...(run.stopStartingAfterS !== undefined ? { stopStartingAfterS: run.stopStartingAfterS } : {}),
    ...(options.maxWalking !== undefined ? { maxWalking: options.maxWalking } : {}),
  };
  process.stdout.write('READY\n');
  const zeroAtMs = await zeroInstant(run);
  if (run.zeroAtMs === 0) {
    // told t = 0 by a coordinator on this host: when it is gone (its end of stdin closes), so is
    // the run this shard belongs to
    process.stdin.once('end', () => {
      say(`shard ${shard.index}/${shard.count}: the coordinator is gone; stopping`);
      process.exit(1);
    });
    process.stdin.resume();
  }
  const startedPerf = performance.now() + (zeroAtMs - Date.now());
  await sleep(Math.max(0, startedPerf - performance.now()));
  const started = startedRun(surge, prepared, { offsetMs: 0 }, { recorder: null }, startedPerf);
  const tick = progressTicker(started.recorder, { series: new Map(), queue: [] }, say);
  const arrivals = await runArrivals(surge, prepared, started, tick, say, heap);
  const stragglers = await waitForStragglers(surge, started, arrivals.walkers, tick, heap);
  const durationS = (performance.now() - startedPerf) / 1000;
  await started.client.close();
  const violations = [
    ...started.flowViolations,
    ...(arrivals.notStarted > 0 ? [notStartedViolation(arrivals.notStarted, surge)] : []),
    ...(stragglers > 0 ? [stragglersViolation(`shard ${shard.index}/${shard.count}`, stragglers)] : []),
  ];
  const report = surgeReport({
    options: {
      profile: run.profile,
      candidates: run.candidates,
      durationS: run.durationS,
      dashboards: 0,
      connections,
      seed: run.seed,
      preseededSessions: run.preseededSessions,
      oralShare: run.oralShare,
      gatewayThreads: run.gatewayThreads,
      poolThreads: run.poolThreads,
    },
    profile: prepared.profile,
    openingS: prepared.openingS,
    capacity: world.capacity,
    startedAt: started.startedAt,
    durationS,
    recorder: started.recorder,
    series: new Map(),
    offered: arrivals.offered,
    dashboards: null,
    commands: 0,
    events: 0,
    writerEventsPerSec: 0,
    verdict: { ok: violations.length === 0, violations, checked: {} },
    waitingRoom: null,
  });
  const full: RunReport = {
    ...report,
    shard: {
      index: shard.index,
      count: shard.count,
      candidates: world.shardCount,
      totalCandidates: run.candidates,
      seed: run.seed,
      zeroAtMs,
    },
    ...footprintSections({
      report,
      prepared,
      histograms: started.recorder.histograms(),
      cpuSeries: [],
      generator: heap.figures({
        shard: shard.index,
        candidates: world.shardCount,
        maxWalking: arrivals.maxWalking,
        walkingPeak: arrivals.walkingPeak,
        backlogPeak: arrivals.backlogPeak,
        startDelay: started.recorder.startDelaySummary(),
      }),
    }),
  };
  writeReport(options.out, full);
  return full;
}
