/**
 * The coordinator of a sharded run on this host (issue 15; the design is in shardRun.ts): the
 * steps of run.ts's surge that happen once (the world, the warm-up, the dashboards, the clock, the
 * samplers, the store check), around n generator processes (shards.ts) that walk the candidates.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROVINCE_CODES } from '../../engine/provinces.ts';
import { mergeReports } from '../report/merge.ts';
import { phasesOf } from '../report/phases.ts';
import type { RunReport, TimelinePoint } from '../report/types.ts';
import type { Dashboards } from './dashboards.ts';
import { CpuSeries } from './footprint.ts';
import { commandsProcessed, streamLengths } from './probes.ts';
import {
  attachDashboards,
  judge,
  openSurgeStores,
  overMasters,
  prepare,
  start,
  startSamplers,
  warmUp,
  type EngineTime,
  type RecorderRef,
  type SurgeOptions,
} from './run.ts';
import { spawnShards, type ShardedRunFile, type SpawnedShards } from './shards.ts';
import { surgeReport } from './surgeReport.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The coordinator of a sharded run on this host (issue 15; shardRun.ts): prepares the world once,
 * writes <out>/run.json, starts `shards` generator processes on it, gives them one t = 0, samples
 * the seats, the writer's lag and every process tree's CPU meanwhile, then checks I1–I5 once and
 * returns the shards' reports merged (loadtest/report/merge.ts) with its own samples.
 */
export async function runShardedSurge(
  options: SurgeOptions & { readonly shards: number; readonly out: string; readonly poolThreads: number },
): Promise<RunReport> {
  const say = options.progress ?? (() => undefined);
  if ((options.waitingRoom ?? 'off') !== 'off') {
    throw new RangeError(
      '--shards: a waiting room is not supported (its fairness figures need every ticket in one log)',
    );
  }
  if (options.fault || options.checkAcknowledged || options.plantOversell) {
    throw new RangeError(
      '--shards: --kill-master-at, --check-acknowledged and --plant-oversell need one generator',
    );
  }
  const stores = openSurgeStores(options);
  const { redis } = stores;
  let dashboards: Dashboards | null = null;
  let shards: SpawnedShards | null = null;
  try {
    const sessionKey = options.sessionKey ?? randomBytes(32);
    const prepared = await prepare({ ...options, sessionKey }, stores, say);
    await warmUp(options, prepared.world);
    const time: EngineTime = { offsetMs: 0 };
    const recorderRef: RecorderRef = { recorder: null };
    dashboards = await attachDashboards(options, prepared.world, time, recorderRef, say);
    const runFile: ShardedRunFile = {
      version: 1,
      base: options.base,
      otherBases: options.otherBases ?? [],
      redisUrl: options.redisUrl,
      redisClusterNodes: options.redisClusterNodes ?? '',
      databaseUrl: options.databaseUrl,
      namespace: options.namespace,
      adminToken: options.adminToken,
      provinceCode: prepared.world.provinceCode,
      profile: options.profile,
      candidates: options.candidates,
      durationS: options.durationS,
      seed: options.seed,
      shards: options.shards,
      preseededSessions: options.preseededSessions,
      oralShare: options.oralShare,
      gatewayThreads: options.gatewayThreads,
      poolThreads: options.poolThreads,
      connections: options.connections,
      straggleTimeoutS: options.straggleTimeoutS ?? 120,
      ...(options.stopStartingAfterS !== undefined ? { stopStartingAfterS: options.stopStartingAfterS } : {}),
      sessionKey: sessionKey.toString('hex'),
      zeroAtMs: 0,
    };
    mkdirSync(options.out, { recursive: true });
    const runPath = path.join(options.out, 'run.json');
    writeFileSync(runPath, `${JSON.stringify(runFile, null, 2)}\n`);
    shards = spawnShards(runPath, options.shards, options.out, say, options.maxWalking);
    await shards.ready;
    say(`${options.shards} shards ready`);
    // t = 0 a second from now: every shard is told before, the clock is set at it
    const zeroAtMs = Date.now() + 1_000;
    shards.start(zeroAtMs);
    await sleep(zeroAtMs - Date.now());
    const run = await start(options, stores, prepared, time, recorderRef);
    const samplers = startSamplers(options, stores.engine, prepared.world, run);
    const streams = stores.engine.keys.allStreams(PROVINCE_CODES);
    const commandsBefore = await overMasters(redis, commandsProcessed);
    const eventsBefore = await overMasters(redis, (node) => streamLengths(node, streams));
    const cpu = new CpuSeries({ ...options.cpuRoots, generator: process.pid }, run.startedPerf).start();
    const shardReports = await shards.done;
    const durationS = (performance.now() - run.startedPerf) / 1000;
    const cpuSeries = cpu.stop();
    const commands = (await overMasters(redis, commandsProcessed)) - commandsBefore;
    const events = (await overMasters(redis, (node) => streamLengths(node, streams))) - eventsBefore;
    const verdict = await judge(options, stores, prepared.world, [], 0, dashboards, say);
    await samplers.stop();
    await run.client.close();
    // the coordinator's own view: seats, sell-out, writer lag, dashboards, Redis and the writer
    const own = surgeReport({
      waitingRoom: null,
      options,
      profile: prepared.profile,
      openingS: prepared.openingS,
      capacity: prepared.world.capacity,
      startedAt: run.startedAt,
      durationS,
      recorder: run.recorder,
      series: samplers.series,
      offered: 0,
      dashboards,
      commands,
      events,
      writerEventsPerSec: Math.round(events / (durationS + verdict.drainMs / 1000)),
      verdict,
    });
    const merged = mergeReports(shardReports, {
      ok: verdict.ok,
      violations: verdict.violations,
      checked: verdict.checked,
    });
    const finished = Math.max(1, merged.totals.candidatesFinished);
    const withOwn: RunReport = {
      ...merged,
      seats: own.seats,
      sellOutS: own.sellOutS,
      dashboards: { ...own.dashboards, messages: own.dashboards.messages + merged.dashboards.messages },
      writer: own.writer,
      measured: {
        ...merged.measured,
        redisOpsPerSec: own.measured.redisOpsPerSec,
        writerEventsPerSec: own.measured.writerEventsPerSec,
        redisOpsPerCandidate: Math.round((commands / finished) * 100) / 100,
        eventsPerCandidate: Math.round((events / finished) * 100) / 100,
      },
      timeline: merged.timeline.map((point: TimelinePoint) => {
        const mine = own.timeline[point.t];
        return mine
          ? {
              ...point,
              writerLagEvents: mine.writerLagEvents,
              writerLagMs: mine.writerLagMs,
              stalenessP99Ms: mine.stalenessP99Ms,
            }
          : point;
      }),
      cpuSeries,
    };
    return {
      ...withOwn,
      phases: phasesOf({
        openingS: prepared.openingS,
        sellOutS: withOwn.sellOutS,
        durationS: withOwn.durationS,
        histograms: withOwn.histograms!,
        cpuSeries,
      }),
    };
  } finally {
    shards?.stop();
    await dashboards?.close();
    redis.disconnect();
    await stores.db.end();
  }
}
