/**
 * `npm run loadtest`'s work (issue 6), around one surge (run.ts): private Redis (AOF always) and
 * PostgreSQL unless REDIS_URL (or a Redis Cluster's REDIS_CLUSTER_NODES, issue 14) / DATABASE_URL
 * are given (then a fresh database is made on that server for the run and dropped after), the system under test in its own process (system.ts:
 * `npm start` in TEST_MODE, in a key namespace of its own), the surge, and the report written as
 * <out>/report.json and a self-contained <out>/report.html. Everything started is stopped.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { environmentWith, loadConfig, storesFromEnv } from '../../config/index.ts';
import { createPool, quoteIdent } from '../../db/pool.ts';
import { startRedisCluster, type RedisCluster } from '../../devstack/cluster.ts';
import { startStack, type Stack } from '../../devstack/stack.ts';
import { renderReportHtml } from '../report/html.ts';
import type { RedisStall, RunReport } from '../report/types.ts';
import { runShardedSurge } from './coordinator.ts';
import { runSurge, type SurgeOptions } from './run.ts';
import { stallsInSecond } from '../report/redisStalls.ts';
import { ONE_ADDRESS_LIMITS, spawnSystem, type SpawnedSystem } from './system.ts';

/** The surge's settings that do not depend on the system under test. */
export type HarnessSurgeOptions = Omit<
  SurgeOptions,
  | 'base'
  | 'redisUrl'
  | 'redisClusterNodes'
  | 'databaseUrl'
  | 'namespace'
  | 'adminToken'
  | 'gatewayThreads'
  | 'progress'
  | 'cpuRoots'
>;

export interface LoadtestOptions {
  readonly surge: HarnessSurgeOptions;
  /** Gateway app threads asked for (the system reports how many it runs). */
  readonly threads: number;
  /**
   * `npm start` processes serving the surge (default 1), each with its gateway, writer, sweeper
   * and queue keeper on the same stores: the candidates' requests take them in turn (issue 14
   * item 2; run.ts `otherBases`). Each gets `threads` app threads.
   */
  readonly gateways?: number;
  /**
   * A private Redis Cluster of 3 durable masters, each with a replica (P9), when no
   * REDIS_CLUSTER_NODES is given; `killMasterAtS` then kills (-9) the master of the surge's
   * province that many seconds into the run and times the replica's promotion (issue 14 item 4).
   */
  readonly cluster?: { readonly killMasterAtS?: number };
  /** Extra environment of the i-th `npm start` process (0-based), e.g. START_SWEEPER=0. */
  readonly systemEnv?: (index: number) => NodeJS.ProcessEnv;
  /**
   * Load generator processes (issue 15): more than 1 runs the surge sharded (coordinator.ts
   * runShardedSurge): this process prepares, samples and judges; n child processes walk the slices.
   */
  readonly shards?: number;
  /** Where report.json and report.html go. */
  readonly out: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly say: (line: string) => void;
}

export interface LoadtestRun {
  readonly report: RunReport;
  readonly jsonPath: string;
  readonly htmlPath: string;
}

interface Stores {
  readonly redisUrl: string;
  readonly redisClusterNodes: string;
  readonly databaseUrl: string;
  /** The private cluster this run started (`cluster` asked for, no REDIS_CLUSTER_NODES given). */
  readonly cluster?: RedisCluster;
  /** Pids of the private servers this run started (their CPU is followed by name). */
  readonly pids?: { readonly redis?: number; readonly postgres?: number };
  release(): Promise<void>;
}

/** The given stores, with a private Redis Cluster (3 masters + 3 replicas) when one is asked for and none is given. */
async function openStores(
  env: NodeJS.ProcessEnv | undefined,
  wantCluster: boolean,
  say: (line: string) => void,
): Promise<Stores> {
  const given = storesFromEnv(env);
  if (!wantCluster || given.redisClusterNodes) return openOtherStores(given, say);
  say('starting a private Redis Cluster (3 masters + 3 replicas, AOF always)…');
  // a node silent for 2 s is failed over: the demo measures the promotion, not the timeout
  const cluster = await startRedisCluster({
    masters: 3,
    replicasPerMaster: 1,
    persistent: true,
    nodeTimeoutMs: 2_000,
  });
  try {
    const redisClusterNodes = cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',');
    const stores = await openOtherStores({ ...given, redisClusterNodes }, say);
    return {
      ...stores,
      cluster,
      async release() {
        await stores.release();
        await cluster.stop();
      },
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** The private stack for what is not given, or a database of its own on the given server. */
async function openOtherStores(
  given: ReturnType<typeof storesFromEnv>,
  say: (line: string) => void,
): Promise<Stores> {
  const { redisClusterNodes } = given;
  let { redisUrl, databaseUrl } = given;
  const needRedis = !redisUrl && !redisClusterNodes;
  if (needRedis || !databaseUrl) {
    say(`starting private ${needRedis ? 'Redis (AOF always) and ' : ''}PostgreSQL…`);
    const stack: Stack = await startStack({ redis: needRedis, postgres: !databaseUrl, quiet: true });
    redisUrl ||= stack.redisUrl;
    databaseUrl ||= stack.databaseUrl;
    return {
      redisUrl,
      redisClusterNodes,
      databaseUrl,
      pids: {
        ...(stack.redis ? { redis: stack.redis.pid } : {}),
        ...(stack.postgres ? { postgres: stack.postgres.pid } : {}),
      },
      release: () => stack.stop(),
    };
  }
  // a database of its own on the given server, dropped after the run
  const name = `loadtest_${randomBytes(4).toString('hex')}`;
  const server = createPool(databaseUrl, { max: 1 });
  await server.query(`CREATE DATABASE ${quoteIdent(name)}`);
  await server.end();
  const serverUrl = databaseUrl;
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return {
    redisUrl,
    redisClusterNodes,
    databaseUrl: url.toString(),
    async release() {
      const again = createPool(serverUrl, { max: 1 });
      await again.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      await again.end();
    },
  };
}

export async function runLoadtest(options: LoadtestOptions): Promise<LoadtestRun> {
  const { say } = options;
  const stores = await openStores(options.env, options.cluster !== undefined, say);
  const namespace = `lt${randomBytes(3).toString('hex')}`;
  const adminToken = randomBytes(18).toString('base64url');
  const systemEnv: NodeJS.ProcessEnv = {
    TEST_MODE: '1',
    REDIS_URL: stores.redisUrl,
    REDIS_CLUSTER_NODES: stores.redisClusterNodes,
    DATABASE_URL: stores.databaseUrl,
    KEY_NAMESPACE: namespace,
    ADMIN_TOKEN: adminToken,
    THREADS: String(options.threads),
    POOL_THREADS: String(options.surge.poolThreads),
    PAYMENT_SIMULATOR_PORT: '0',
    ...ONE_ADDRESS_LIMITS,
  };
  const systems: SpawnedSystem[] = [];
  // Ctrl-C or a SIGTERM mid-run: stop what the run started (the systems, then the private stores)
  // before exiting, instead of leaving the system under test running without its stores
  const onSignal = (signal: NodeJS.Signals): void => {
    say(`${signal}: stopping the system under test and the private stores…`);
    void Promise.allSettled(systems.map((running) => running.stop()))
      .then(() => stores.release())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let report: RunReport;
    try {
      // one after the other: the first applies the migrations, the others find them done
      for (let i = 0; i < Math.max(1, options.gateways ?? 1); i++) {
        const running = await spawnSystem({ ...systemEnv, ...options.systemEnv?.(i) });
        systems.push(running);
        say(`system under test ready at ${running.base} (${running.threads} app threads)`);
      }
      const system = systems[0]!;
      const killAtS = options.cluster?.killMasterAtS;
      const cpuRoots: Record<string, number> = {
        ...Object.fromEntries(
          systems.map((running, i) => [i === 0 ? 'system' : `system${i + 1}`, running.pid]),
        ),
        ...(stores.pids?.redis ? { redis: stores.pids.redis } : {}),
        ...(stores.pids?.postgres ? { postgres: stores.pids.postgres } : {}),
      };
      const surge: SurgeOptions = {
        ...options.surge,
        base: system.base,
        otherBases: systems.slice(1).map((other) => other.base),
        redisUrl: stores.redisUrl,
        redisClusterNodes: stores.redisClusterNodes,
        databaseUrl: stores.databaseUrl,
        namespace,
        adminToken,
        // every gateway's threads: the report's per-thread figures are the whole system's
        gatewayThreads: systems.reduce((sum, running) => sum + (running.threads || options.threads), 0),
        cpuRoots,
        progress: say,
      };
      report =
        (options.shards ?? 1) > 1
          ? await runShardedSurge({ ...surge, shards: options.shards!, out: options.out })
          : await runSurge({
              ...surge,
              ...(stores.cluster && killAtS !== undefined
                ? {
                    fault: {
                      atS: killAtS,
                      inject: killProvinceMaster(stores.cluster, waitReplicas(systemEnv)),
                    },
                  }
                : {}),
            });
    } finally {
      await Promise.all(systems.map((running) => running.stop()));
    }
    mkdirSync(options.out, { recursive: true });
    const jsonPath = path.join(options.out, 'report.json');
    const htmlPath = path.join(options.out, 'report.html');
    writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(htmlPath, renderReportHtml(report));
    return { report, jsonPath, htmlPath };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stores.release();
  }
}

/** REDIS_WAIT_REPLICAS as the system under test reads it (its environment over this process's). */
function waitReplicas(systemEnv: NodeJS.ProcessEnv): number {
  return loadConfig(environmentWith(systemEnv)).redisWait.replicas;
}

/** How often the promotion is looked for after the kill. */
const PROMOTION_POLL_MS = 50;
const PROMOTION_TIMEOUT_MS = 60_000;

/**
 * The demo's fault (issue 14 item 4): kill -9 of the master serving the surge's province, then the
 * time until the cluster names another node master of that slot (its replica, promoted). The killed
 * node is then started again, as an operator's automation would: it rejoins as the new master's
 * replica. Until it has, a system with REDIS_WAIT_REPLICAS ≥ 1 answers that shard's writes with
 * 503 REPLICATION_TIMEOUT (a promoted master has no replica to wait for): recovery is the time from
 * the kill until every replica is linked again.
 */
function killProvinceMaster(cluster: RedisCluster, replicasWaited: number) {
  return async (run: { startedPerf: number; provinceCode: string }) => {
    const tag = `{p${run.provinceCode}}`;
    const shard = await cluster.shardOf(tag);
    const killedNode = `${shard.master.host}:${shard.master.port}`;
    const killedPerf = performance.now();
    await cluster.kill(shard.master);
    let promotedNode: string | null = null;
    let promotedAfterMs: number | null = null;
    while (performance.now() - killedPerf < PROMOTION_TIMEOUT_MS) {
      const now = await cluster.shardOf(tag).catch(() => null);
      const master = now ? `${now.master.host}:${now.master.port}` : killedNode;
      if (master !== killedNode) {
        promotedNode = master;
        promotedAfterMs = Math.round(performance.now() - killedPerf);
        break;
      }
      await sleep(PROMOTION_POLL_MS);
    }
    let recoveredAfterMs: number | null = null;
    if (promotedNode !== null) {
      await cluster.restart(shard.master);
      await cluster.waitReady();
      recoveredAfterMs = Math.round(performance.now() - killedPerf);
    }
    return {
      killedAtMs: Math.round(killedPerf - run.startedPerf),
      promotedAfterMs,
      recoveredAfterMs,
      waitReplicas: replicasWaited,
      killedNode,
      promotedNode,
    };
  };
}

/** The run in a few lines for the terminal. */
export function headline(run: LoadtestRun): string {
  const { report, jsonPath, htmlPath } = run;
  const t = report.totals;
  const l = report.latency.all;
  const lines = [
    '',
    `surge ${report.profile}: ${t.candidatesFinished}/${t.candidatesOffered} candidates in ${report.durationS} s, ${t.requests} requests`,
    `  latency p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms; peak answered ${report.measured.gatewayRequestsPerSec}/s; errors ${t.errors}, shed ${t.shed}`,
    `  outcomes ${JSON.stringify(t.outcomes)}`,
    `  oral seats sold out ${report.sellOutS === null ? 'never' : `${report.sellOutS} s after the opening`}`,
    `  dashboards ${report.dashboards.subscribers}: ${report.dashboards.messages} updates, staleness p99 ${report.dashboards.staleness.p99Ms} ms`,
    `  writer lag p99 ${report.writer.lagP99Ms ?? '-'} ms, at most ${report.writer.lagMaxEvents ?? '-'} events behind`,
    ...openingLines(report),
    ...generatorLines(report),
    ...phaseLines(report),
    ...durabilityLines(report),
    `  invariants I1–I5: ${report.invariants.ok ? 'PASS' : 'FAIL'} ${JSON.stringify(report.invariants.checked)}`,
    ...report.invariants.violations.slice(0, 20).map((v) => `    ✗ ${v}`),
    `  → ${jsonPath}`,
    `  → ${htmlPath}`,
  ];
  return lines.join('\n');
}

/** The acknowledged writes read back and the failover, when the run has them. */
function durabilityLines(report: RunReport): string[] {
  const lines: string[] = [];
  const { acknowledged: ack, failover } = report;
  if (failover) {
    lines.push(
      `  failover (P9): ${failover.killedNode} killed at ${(failover.killedAtMs / 1000).toFixed(1)} s, ${failover.promotedNode ?? 'no replica'} promoted after ${failover.promotedAfterMs ?? '-'} ms, replica back after ${failover.recoveredAfterMs ?? '-'} ms; REDIS_WAIT_REPLICAS=${failover.waitReplicas}: ${failover.acknowledgedLost} acknowledged operations lost`,
    );
  }
  if (ack)
    lines.push(
      `  acknowledged writes read back: ${ack.checked}, lost ${ack.lost} ${JSON.stringify(ack.lostByKind)}`,
    );
  if (report.redisStalls) {
    const { thresholdMs, events } = report.redisStalls;
    const worst = events.reduce<RedisStall | null>((w, s) => (w === null || s.ms > w.ms ? s : w), null);
    lines.push(
      `  Redis latency monitor (≥ ${thresholdMs} ms): ${events.length} ${events.length === 1 ? 'stall' : 'stalls'}${worst ? `, worst ${worst.ms} ms ${worst.event} at t = ${worst.atS} s` : ''}`,
    );
  }
  if (report.redisNodes) {
    lines.push(
      `  Redis nodes (commands/s): ${report.redisNodes.map((n) => `${n.node} ${n.role} ${n.commandsPerSec}`).join(', ')}`,
    );
  }
  return lines;
}

/** The opening's figures against P7 and P8, one ✓ or ✗ each (runs with a waiting room). */
function openingLines(report: RunReport): string[] {
  const o = report.opening;
  const room = report.waitingRoom;
  if (!o || !room) return [];
  const mark = (ok: boolean) => (ok ? '✓' : '✗');
  const p99 = o.admittedP99MaxPerSecondMs;
  const t = room.tickets;
  const worst = report.timeline.find((point) => point.admittedP99Ms === p99);
  const loop = worst?.generatorLoopDelayMaxMs;
  const stalls = worst ? stallsInSecond(report.redisStalls, worst.t) : [];
  const inIt = [
    ...(loop != null ? [`the generator's own loop delay up to ${loop} ms`] : []),
    ...stalls.map((s) => `Redis ${s.event} ${s.ms} ms`),
  ];
  return [
    `  waiting room (${room.mode}): ${t.total} tickets (${t.prequeued} before the opening, ${t.joinedAfterOpening} after), ${t.admitted} admitted, ${t.abandoned} left the line; wait p50 ${room.waitS.p50Ms} s, p99 ${room.waitS.p99Ms} s`,
    `  opening (P7): ${mark(p99 !== null && p99 < 200)} admitted p99 < 200 ms in every second (worst ${p99 ?? '-'} ms${worst ? `, t = ${worst.t} s` : ''}${inIt.length > 0 ? `, ${inIt.join(', ')} in it` : ''})  ${mark(o.maxAnswerMs <= 2_000)} no answer slower than 2 s (slowest ${o.maxAnswerMs} ms)`,
    `  fairness (P8): ${mark(o.waitedWithoutPosition === 0)} ${o.waitedWithoutPosition} waited without a position  ${mark(o.orderInversions === 0)} ${o.orderInversions} order inversions after the opening (Kendall tau ${room.order.kendallTau ?? '-'} over ${room.order.passages})`,
    `                 draw ${room.prequeue.drawVerified ? 'verified from the revealed seed' : 'NOT verified'}, PREQUEUE χ² p = ${o.prequeueChiSquareP ?? '- (too few)'}; ETA error p90 ${o.etaErrorP90Pct ?? '-'} % (${room.etaErrorPct.samples} ETAs, ${room.etaErrorPct.window === 'afterFirstMinute' ? 'after the first minute' : 'all: the line lasted under a minute'})`,
  ];
}

/** The load generators' footprint (P3: ≤ 500 bytes of heap per candidate). */
export function generatorLines(report: RunReport): string[] {
  return (report.generators ?? []).map((g) => {
    const mark = g.heapBytesPerCandidate <= 500 ? '✓' : '✗';
    return `  generator${g.shard === null ? '' : ` ${g.shard}`} (P3): ${mark} ${g.heapBytesPerCandidate} bytes of heap per candidate (${g.candidates} candidates, peak ${(g.heapPeakBytes / 2 ** 20).toFixed(1)} MiB over a baseline of ${(g.heapBaselineBytes / 2 ** 20).toFixed(1)} MiB); walking at most ${g.walkingPeak} (cap ${g.maxWalking < 0 ? 'none' : g.maxWalking}), backlog at most ${g.backlogPeak}, start delay p99 ${g.startDelay.p99Ms} ms`;
  });
}

/** Latency and server CPU per reservation by phase (issue 15 item 3). */
function phaseLines(report: RunReport): string[] {
  return (report.phases ?? []).map((p) => {
    const cpu = p.cpuPerReservationUs
      ? `; CPU per reservation ${Object.entries(p.cpuPerReservationUs)
          .map(([k, v]) => `${k} ${v} µs`)
          .join(', ')}`
      : '';
    return `  phase ${p.name} [${p.fromS}, ${p.toS}) s: ${p.requests} requests, ${p.reservations} seats, p50 ${p.latency.p50Ms} ms, p99 ${p.latency.p99Ms} ms${cpu}`;
  });
}
