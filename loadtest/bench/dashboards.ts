/**
 * P5, behind `npm run loadtest:dashboards`: the same open-loop
 * reservation race against the engine twice, on a fresh system each time: without dashboards, then
 * with N WebSocket subscribers attached (one campus each, round robin over the 50 campuses, as
 * staff watching their own campus would). Reports how stale the seat updates were when they
 * arrived (p99; the message's `at` is the moment of the change) and how much reservation
 * throughput the dashboards cost. The subscribers run in this process, beside the load generator,
 * on the same 2 cores as the system. The figures go to reports/bench/dashboards.json.
 */
import { startStack } from '../../devstack/stack.ts';
import type { RunReport } from '../report/types.ts';
import { reserveRace } from '../runner/compare.ts';
import { startEngineTarget } from '../runner/targets.ts';

export interface DashboardsBenchOptions {
  readonly subscribers: number;
  /** Requests offered per second. */
  readonly rate: number;
  readonly durationS: number;
  readonly connections: number;
  readonly say: (line: string) => void;
}

async function race(subscribers: number, options: DashboardsBenchOptions): Promise<RunReport> {
  const { rate: RATE, durationS: DURATION, say } = options;
  // a fresh private stack per race: the second must not inherit the first one's seats or accounts
  const stack = await startStack({ quiet: true });
  const candidates = Math.ceil(RATE * DURATION);
  const target = await startEngineTarget({
    redisUrl: stack.redisUrl,
    databaseUrl: stack.databaseUrl,
    candidates,
    campuses: 50,
    // fewer seats than requests, so that campuses turn YELLOW and RED during the race
    capacityPerCampus: { CET4: Math.ceil((candidates * 0.9) / 50) },
    log: say,
  });
  try {
    return await reserveRace(
      {
        target: 'engine',
        base: target.base,
        tokens: target.tokens,
        ratePerSec: RATE,
        durationS: DURATION,
        connections: options.connections,
        cores: target.cores,
        dashboards: { count: subscribers, campusIds: target.campusIds },
        progress: say,
      },
      () => target.verdict(),
    );
  } finally {
    await target.stop();
    await stack.stop();
  }
}

/** The figures for reports/bench/dashboards.json, and the lines the terminal shows. */
export async function runDashboardsBench(options: DashboardsBenchOptions) {
  const { rate: RATE, durationS: DURATION } = options;
  const without = await race(0, options);
  const withDashboards = await race(options.subscribers, options);
  const rpsWithout = without.measured.gatewayRequestsPerSec;
  const rpsWith = withDashboards.measured.gatewayRequestsPerSec;
  const result = {
    subscribers: withDashboards.dashboards.subscribers,
    messages: withDashboards.dashboards.messages,
    stalenessP50Ms: withDashboards.dashboards.staleness.p50Ms,
    stalenessP99Ms: withDashboards.dashboards.staleness.p99Ms,
    stalenessMaxMs: withDashboards.dashboards.staleness.maxMs,
    rpsWithout,
    rpsWith,
    throughputDrop: Number((1 - rpsWith / Math.max(1, rpsWithout)).toFixed(3)),
    p99WithoutMs: without.latency.all.p99Ms,
    p99WithMs: withDashboards.latency.all.p99Ms,
    offeredRps: RATE,
    durationS: DURATION,
    invariantsOk: without.invariants.ok && withDashboards.invariants.ok,
    measuredAt: new Date().toISOString(),
  };
  const summary = `
dashboards (P5): ${result.subscribers} subscribers, ${result.messages} seat updates received
  staleness p50 ${result.stalenessP50Ms} ms, p99 ${result.stalenessP99Ms} ms   (target: p99 < 500 ms)
  reservations ${rpsWithout}/s without, ${rpsWith}/s with → drop ${(result.throughputDrop * 100).toFixed(1)} %   (target < 15 %)
  → reports/bench/dashboards.json`;
  return { result, summary };
}
