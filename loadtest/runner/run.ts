/**
 * One surge against a running system (the gateway in TEST_MODE, with its Redis and PostgreSQL):
 * prepares the province (loadtest/runner/world.ts), attaches the dashboards, then starts simulated
 * candidates at the profile's arrival rate — open loop: the schedule never waits for the server —
 * each walking the flow (flow.ts). Samples seats and writer lag once a second, prints a progress
 * line, waits for the stragglers, checks the invariants (verdict.ts) and returns the report.
 */
import { Redis } from 'ioredis';
import { Engine } from '../../engine/engine.ts';
import { PROVINCE_CODES } from '../../engine/provinces.ts';
import { createPool } from '../../db/pool.ts';
import { DrivenClock } from '../../gateway/clock.ts';
import { clockKey } from '../../gateway/services.ts';
import {
  OPENING_AT_S,
  defaultMix,
  durationOf,
  peakRate,
  pickBehaviour,
  profileTotal,
  profiles,
  scaleProfile,
  totalArrivals,
  type BehaviourMix,
  type ProfileName,
  type SurgeProfile,
} from '../profiles.ts';
import type { RunReport, SeatSeries } from '../report/types.ts';
import { SurgeClient } from './client.ts';
import { connectDashboards, type Dashboards } from './dashboards.ts';
import { walkCandidate, type FlowContext } from './flow.ts';
import { RunRecorder } from './recorder.ts';
import { judgeRun } from './verdict.ts';
import {
  commandsProcessed,
  plantOversell,
  progressLine,
  pushPoint,
  streamLengths,
  trackedSeats,
} from './probes.ts';
import { prepareSurgeWorld } from './world.ts';

/** Engine time at which the surge's province opens (an autumn registration). */
export const SURGE_OPENS_AT = Date.UTC(2026, 8, 1, 1, 0, 0);

export interface SurgeOptions {
  readonly base: string;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly namespace: string;
  readonly adminToken: string;
  readonly profile: ProfileName;
  readonly candidates: number;
  /** Length of the run: the profile is stretched or compressed to it. */
  readonly durationS: number;
  readonly dashboards: number;
  /** What each dashboard watches: the whole province (default) or one campus (round robin). */
  readonly dashboardScope?: 'province' | 'campus';
  readonly connections: number;
  readonly seed: number;
  readonly preseededSessions: boolean;
  readonly oralShare: number;
  readonly mix?: BehaviourMix;
  /** Gateway app threads and worker-pool threads (for the per-unit figures). */
  readonly gatewayThreads: number;
  readonly poolThreads: number;
  /** Test-only fault: after the surge, make one campus × subject oversold in Redis. */
  readonly plantOversell?: boolean;
  /** Longest wait for the candidates still walking after the profile ends. */
  readonly straggleTimeoutS?: number;
  readonly progress?: (line: string) => void;
}

/** The profile stretched to `durationS` and scaled so that its arrivals add up to `candidates`. */
export function surgeProfile(name: ProfileName, candidates: number, durationS: number): SurgeProfile {
  const shaped = scaleProfile(profiles[name], { durationS });
  const total = profileTotal(shaped);
  return scaleProfile(shaped, { peakRate: (peakRate(shaped) * candidates) / total });
}

/** Seconds into the run at which registration opens (the opening profile's OPENING_AT_S, scaled). */
export function openingOffsetS(name: ProfileName, durationS: number): number {
  return name === 'opening' ? (OPENING_AT_S * durationS) / durationOf(profiles.opening) : 0;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runSurge(options: SurgeOptions): Promise<RunReport> {
  const say = options.progress ?? (() => undefined);
  const redis = new Redis(options.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
  const engine = new Engine(redis, { namespace: options.namespace });
  const db = createPool(options.databaseUrl, { max: 8, applicationName: 'loadtest' });
  const dashboardsList: Dashboards[] = [];
  try {
    const profile = surgeProfile(options.profile, options.candidates, options.durationS);
    const openingS = openingOffsetS(options.profile, options.durationS);
    const world = await prepareSurgeWorld({
      redis,
      engine,
      db,
      namespace: options.namespace,
      candidates: options.candidates,
      seed: options.seed,
      opensAtMs: SURGE_OPENS_AT,
      preseededSessions: options.preseededSessions,
      log: say,
    });
    const clock = new DrivenClock(redis, clockKey(options.namespace));
    const wsUrl = `${options.base.replace(/^http/, 'ws')}/ws/seats`;
    let offsetMs = 0;
    const engineNow = (): number => Date.now() + offsetMs;
    const recorderHolder: { recorder: RunRecorder | null } = { recorder: null };
    const preRecorder = new RunRecorder(performance.now());
    const dashboards =
      options.dashboards > 0
        ? await connectDashboards({
            url: wsUrl,
            count: options.dashboards,
            provinceCode: world.provinceCode,
            ...(options.dashboardScope === 'campus'
              ? {
                  topicsOf: (i: number) => [
                    `campus:${world.world.campuses[i % world.world.campuses.length]!.campusId}`,
                  ],
                }
              : {}),
            engineNow,
            recorder: {
              staleness: (ms: number) => (recorderHolder.recorder ?? preRecorder).staleness(ms),
            } as RunRecorder,
          })
        : null;
    if (dashboards) dashboardsList.push(dashboards);
    if (dashboards) say(`dashboards: ${dashboards.connected} of ${options.dashboards} connected`);

    // the clock: engine time reaches the opening `openingS` seconds into the run
    const startedPerf = performance.now();
    await clock.set({ nowMs: SURGE_OPENS_AT - Math.round(openingS * 1000) });
    offsetMs = Number((await redis.get(clockKey(options.namespace))) ?? 0);
    const startedAt = new Date().toISOString();
    const recorder = new RunRecorder(startedPerf);
    recorderHolder.recorder = recorder;
    const client = new SurgeClient(options.base, recorder, { connections: options.connections });
    const flowViolations: string[] = [];
    let seed = options.seed >>> 0 || 1;
    const random = (): number => {
      // xorshift32: deterministic behaviours for a given seed
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 4_294_967_296;
    };
    const oralSeats = [...world.capacity].filter(([key]) => key.endsWith('|CET-SET4'));
    const botCampusId = oralSeats.sort((a, b) => b[1] - a[1])[0]?.[0].split('|')[0] ?? null;
    const ctx: FlowContext = {
      client,
      opensAtPerfMs: startedPerf + openingS * 1000,
      oralShare: options.oralShare,
      botCampusId,
      random,
      onViolation: (message) => flowViolations.push(message),
    };
    const mix = options.mix ?? defaultMix;

    // samplers: seats and writer lag, once a second
    const tracked = trackedSeats(world.capacity);
    const series = new Map<string, [number, number][]>();
    const streams = engine.keys.allStreams(PROVINCE_CODES);
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const t = Math.floor((performance.now() - startedPerf) / 1000);
        try {
          const counts = await engine.seatCounts(world.provinceCode);
          const totals = new Map<string, number>();
          for (const c of counts) {
            const key = `${c.campusId}|${c.subject}`;
            totals.set(`*|${c.subject}`, (totals.get(`*|${c.subject}`) ?? 0) + c.remaining);
            if (tracked.has(key)) pushPoint(series, key, t, c.remaining);
          }
          for (const [key, remaining] of totals) pushPoint(series, key, t, remaining);
          const stats = await fetch(`${options.base}/api/v1/admin/stats`, {
            headers: { authorization: `Bearer ${options.adminToken}` },
          }).then((r) => (r.ok ? r.json() : null));
          const s = (stats as { streams?: { pending: number; undelivered: number; lagMs: number } } | null)
            ?.streams;
          if (s) recorder.writerLag(s.pending + s.undelivered, s.lagMs);
        } catch {
          // a missed sample is a gap in the chart, not a failure of the run
        }
        await sleep(1000 - ((performance.now() - startedPerf) % 1000));
      }
    })();
    const commandsBefore = await commandsProcessed(redis);
    const eventsBefore = await streamLengths(redis, streams);

    // open-loop arrivals: every 10 ms, start whoever the curve says is due by now
    const walkers = new Set<Promise<void>>();
    let next = 0;
    const profileEndS = durationOf(profile);
    let lastProgress = 0;
    say(
      `surge: profile ${profile.name}, ${options.candidates} candidates over ${options.durationS} s, peak ${Math.round(peakRate(profile))}/s, opening at t=${openingS.toFixed(1)} s`,
    );
    for (;;) {
      const elapsedS = (performance.now() - startedPerf) / 1000;
      const due = Math.min(
        world.count,
        Math.round(totalArrivals(profile, 0, Math.min(elapsedS, profileEndS))),
      );
      if (due > next) recorder.offered(due - next);
      while (next < due) {
        const index = next++;
        recorder.started();
        const behaviour = pickBehaviour(mix, random());
        const walker = walkCandidate(ctx, world.candidate(index), behaviour)
          .catch((error: unknown) => `failed:${error instanceof Error ? error.name : 'error'}`)
          .then((outcome) => {
            recorder.finished(outcome);
            walkers.delete(walker);
          });
        walkers.add(walker);
      }
      if (elapsedS - lastProgress >= 1) {
        lastProgress = Math.floor(elapsedS);
        say(progressLine(recorder, elapsedS, walkers.size, series));
      }
      if (elapsedS >= profileEndS && next >= due) break;
      await sleep(10);
    }
    const straggleDeadline = performance.now() + (options.straggleTimeoutS ?? 120) * 1000;
    while (walkers.size > 0 && performance.now() < straggleDeadline) {
      await sleep(250);
      const elapsedS = (performance.now() - startedPerf) / 1000;
      if (elapsedS - lastProgress >= 1) {
        lastProgress = Math.floor(elapsedS);
        say(progressLine(recorder, elapsedS, walkers.size, series));
      }
    }
    const stragglers = walkers.size;
    const durationS = (performance.now() - startedPerf) / 1000;
    const commands = (await commandsProcessed(redis)) - commandsBefore;
    const events = (await streamLengths(redis, streams)) - eventsBefore;

    if (options.plantOversell) await plantOversell(engine, world.provinceCode, say);
    const verdict = await judgeRun({
      engine,
      db,
      provinceCode: world.provinceCode,
      flowViolations:
        stragglers > 0
          ? [...flowViolations, `run: ${stragglers} candidates still walking after the timeout`]
          : flowViolations,
      dashboards,
      log: say,
    });
    sampling = false;
    await sampler;
    // writer throughput over the run and the drain: events written / time until the backlog hit 0
    const writerEventsPerSec = Math.round(events / (durationS + verdict.drainMs / 1000));
    await client.close();

    const latency = recorder.latency();
    const finished = Math.max(1, recorder.candidatesFinished);
    const seats: SeatSeries[] = [...series].map(([key, points]) => {
      const [campusId, subject] = key.split('|') as [string, string];
      const capacity =
        campusId === '*'
          ? [...world.capacity].filter(([k]) => k.endsWith(`|${subject}`)).reduce((sum, [, c]) => sum + c, 0)
          : (world.capacity.get(key) ?? 0);
      return { campusId, subject, capacity, points };
    });
    const oralTotal = series.get('*|CET-SET4');
    const soldOutAt = oralTotal?.find(([, remaining]) => remaining === 0)?.[0];
    const stalenessSummary = recorder.stalenessSummary();
    const lagSamples = recorder
      .timeline()
      .map((p) => p.writerLagMs)
      .filter((v): v is number => v !== null)
      .sort((a, b) => a - b);
    const report: RunReport = {
      version: 1,
      target: 'engine',
      profile: options.profile,
      startedAt,
      durationS: Math.round(durationS * 10) / 10,
      options: {
        candidates: options.candidates,
        durationS: options.durationS,
        dashboards: options.dashboards,
        dashboardScope: options.dashboardScope ?? 'province',
        connections: options.connections,
        seed: options.seed,
        preseededSessions: options.preseededSessions,
        oralShare: options.oralShare,
        gatewayThreads: options.gatewayThreads,
        poolThreads: options.poolThreads,
        openingAtS: Math.round(openingS * 10) / 10,
        peakOfferedPerSec: Math.round(peakRate(profile)),
        plantOversell: Boolean(options.plantOversell),
      },
      totals: {
        candidatesOffered: next,
        candidatesStarted: recorder.candidatesStarted,
        candidatesFinished: recorder.candidatesFinished,
        requests: recorder.requests,
        errors: recorder.errors,
        shed: recorder.shed,
        outcomes: Object.fromEntries([...recorder.outcomes].sort(([a], [b]) => a.localeCompare(b))),
      },
      latency,
      answers: Object.fromEntries([...recorder.answers].sort(([a], [b]) => a.localeCompare(b))),
      timeline: recorder.timeline(),
      seats,
      sellOutS: soldOutAt === undefined ? null : Math.max(0, Math.round((soldOutAt - openingS) * 10) / 10),
      dashboards: {
        subscribers: dashboards?.connected ?? 0,
        messages: recorder.dashboardMessages,
        staleness: stalenessSummary,
      },
      writer: {
        lagP99Ms:
          lagSamples.length > 0
            ? lagSamples[Math.min(lagSamples.length - 1, Math.floor(lagSamples.length * 0.99))]!
            : null,
        lagMaxEvents: Math.max(0, ...recorder.timeline().map((p) => p.writerLagEvents ?? 0)),
      },
      measured: {
        gatewayRequestsPerSec: recorder.peakRate(null, 5),
        gatewayCores: options.gatewayThreads,
        redisOpsPerSec: Math.round(commands / durationS),
        writerEventsPerSec,
        loginsPerSecPerCore:
          recorder.stepCount('login') > 0
            ? Math.round(recorder.peakRate('login', 5) / Math.max(1, options.poolThreads))
            : 0,
        requestsPerCandidate: Math.round((recorder.requests / finished) * 100) / 100,
        redisOpsPerCandidate: Math.round((commands / finished) * 100) / 100,
        eventsPerCandidate: Math.round((events / finished) * 100) / 100,
        p99Ms: latency.all.p99Ms,
      },
      invariants: { ok: verdict.ok, violations: verdict.violations, checked: verdict.checked },
    };
    return report;
  } finally {
    for (const d of dashboardsList) await d.close();
    redis.disconnect();
    await db.end();
  }
}
