/**
 * The reservation race used to compare the engine with the conventional baseline (P2): open-loop
 * POST /api/v1/registration/written {"subject":"CET4"} at a constant offered rate, each request
 * from a different pre-seeded, bound session (every one a real first reservation attempt), the
 * same client, connections and schedule for both targets. Latency is measured from the moment
 * the schedule says the request is due, so a server that falls behind shows it (no coordinated
 * omission). Returns a RunReport (profile "reserve") for each target.
 */
import type { InvariantVerdict, RunReport } from '../report/types.ts';
import { SurgeClient } from './client.ts';
import { connectDashboards, type Dashboards } from './dashboards.ts';
import { RunRecorder } from './recorder.ts';

export interface RaceOptions {
  readonly target: 'engine' | 'baseline';
  readonly base: string;
  readonly tokens: readonly string[];
  readonly ratePerSec: number;
  readonly durationS: number;
  readonly connections: number;
  readonly cores: number;
  /** Dashboard subscribers attached during the race, one campus each, round robin (P5). */
  readonly dashboards?: { readonly count: number; readonly campusIds: readonly string[] };
  readonly progress?: (line: string) => void;
  /** Called when the load starts and when its last answer is in (e.g. to read CPU around it). */
  readonly onLoad?: (phase: 'start' | 'end') => void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function reserveRace(
  options: RaceOptions,
  verdict: () => Promise<InvariantVerdict>,
): Promise<RunReport> {
  const say = options.progress ?? (() => undefined);
  const total = Math.min(options.tokens.length, Math.round(options.ratePerSec * options.durationS));
  const startedPerf = performance.now();
  const startedAt = new Date().toISOString();
  const recorder = new RunRecorder(startedPerf);
  let dashboards: Dashboards | null = null;
  if (options.dashboards && options.dashboards.count > 0) {
    const campuses = options.dashboards.campusIds;
    dashboards = await connectDashboards({
      url: `${options.base.replace(/^http/, 'ws')}/ws/seats`,
      count: options.dashboards.count,
      provinceCode: '11',
      topicsOf: (i) => [`campus:${campuses[i % campuses.length]}`],
      engineNow: Date.now,
      recorder,
    });
    say(`${options.target}: ${dashboards.connected} dashboards connected`);
  }
  // one connection per request in flight at most `connections`; the rest wait in the client's
  // queue, which is part of their measured latency (open loop)
  const client = new SurgeClient(options.base, recorder, {
    connections: options.connections,
    retryBudgetMs: 0,
  });
  const pending = new Set<Promise<void>>();
  options.onLoad?.('start');
  let next = 0;
  let lastSay = 0;
  while (next < total) {
    const elapsedS = (performance.now() - startedPerf) / 1000;
    const due = Math.min(total, Math.floor(elapsedS * options.ratePerSec));
    if (due > next) recorder.offered(due - next);
    while (next < due) {
      const token = options.tokens[next++]!;
      recorder.started();
      const request = client
        .call('written', 'POST', '/api/v1/registration/written', {
          token,
          body: { subject: 'CET4' },
          refusals: ['SOLD_OUT', 'ALREADY_REGISTERED'],
        })
        .then(() => {
          recorder.finished('answered');
          pending.delete(request);
        });
      pending.add(request);
    }
    if (elapsedS - lastSay >= 1) {
      lastSay = Math.floor(elapsedS);
      const s = recorder.lastSecond();
      say(
        `${options.target}: t=${lastSay}s offered ${s.offered}/s answered ${s.completed}/s p99 ${s.p99Ms ?? '-'} ms in flight ${pending.size}`,
      );
    }
    await sleep(2);
  }
  await Promise.all(pending);
  options.onLoad?.('end');
  const durationS = (performance.now() - startedPerf) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 600)); // the last coalesced updates
  await dashboards?.close();
  await client.close();
  const latency = recorder.latency();
  const answered = recorder.requests - (recorder.answers.get('network') ?? 0);
  const achieved = Math.round(answered / durationS);
  const invariants = await verdict();
  say(
    `${options.target}: ${answered} answered in ${durationS.toFixed(1)} s → ${achieved}/s, p99 ${latency.all.p99Ms} ms`,
  );
  return {
    version: 1,
    target: options.target,
    profile: 'reserve',
    startedAt,
    durationS: Math.round(durationS * 10) / 10,
    options: {
      offeredPerSec: options.ratePerSec,
      offeredDurationS: options.durationS,
      connections: options.connections,
      cores: options.cores,
    },
    totals: {
      candidatesOffered: total,
      candidatesStarted: recorder.candidatesStarted,
      candidatesFinished: recorder.candidatesFinished,
      requests: recorder.requests,
      errors: recorder.errors,
      shed: recorder.shed,
      outcomes: Object.fromEntries(recorder.outcomes),
    },
    latency,
    answers: Object.fromEntries([...recorder.answers].sort(([a], [b]) => a.localeCompare(b))),
    timeline: recorder.timeline(),
    seats: [],
    sellOutS: null,
    dashboards: {
      subscribers: dashboards?.connected ?? 0,
      messages: recorder.dashboardMessages,
      staleness: recorder.stalenessSummary(),
    },
    writer: { lagP99Ms: null, lagMaxEvents: null },
    measured: {
      gatewayRequestsPerSec: achieved,
      gatewayCores: options.cores,
      redisOpsPerSec: 0,
      writerEventsPerSec: 0,
      loginsPerSecPerCore: 0,
      requestsPerCandidate: 1,
      redisOpsPerCandidate: 0,
      eventsPerCandidate: 1,
      p99Ms: latency.all.p99Ms,
    },
    invariants,
  };
}
