/**
 * P7, behind `npm run loadtest:overload`: the reservation race offered at a multiple of the
 * sustainable rate against the engine with admission control set low (MAX_IN_FLIGHT per app
 * thread). What counts: the p99 of the admitted requests (answered 201 / 409) and how fast and
 * how many of the others were shed with 503 / 429 and Retry-After (never retried here). Checks I1–I3
 * after. The figures go to reports/bench/overload.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { startStack } from '../../devstack/stack.ts';
import { reserveRace } from '../runner/compare.ts';
import { startEngineTarget } from '../runner/targets.ts';
import { BENCH_REPORTS_DIR } from './report.ts';

export interface OverloadOptions {
  /** Reservations/s the engine sustains; default the engineRps of reports/bench/compare.json. */
  readonly sustainable?: number;
  /** Offered rate = factor × sustainable. */
  readonly factor: number;
  readonly durationS: number;
  readonly connections: number;
  /** Admission control: requests in flight per app thread. */
  readonly maxInFlight: number;
  readonly say: (line: string) => void;
}

function sustainableRate(given: number | undefined): number {
  if (given !== undefined) return given;
  const compare = `${BENCH_REPORTS_DIR}/compare.json`;
  if (existsSync(compare)) {
    return Number((JSON.parse(readFileSync(compare, 'utf8')) as { engineRps?: unknown }).engineRps);
  }
  throw new Error('give --sustainable N, or run npm run loadtest:compare first');
}

/** The figures for reports/bench/overload.json, and the lines the terminal shows. */
export async function runOverload(options: OverloadOptions) {
  const say = options.say;

  const sustainable = sustainableRate(options.sustainable);
  const rate = Math.round(sustainable * options.factor);
  const duration = options.durationS;
  const stack = await startStack({ quiet: true });
  try {
    const candidates = Math.ceil(rate * duration);
    const target = await startEngineTarget({
      redisUrl: stack.redisUrl,
      databaseUrl: stack.databaseUrl,
      candidates,
      campuses: 50,
      capacityPerCampus: { CET4: Math.ceil((candidates * 1.2) / 50) },
      env: { MAX_IN_FLIGHT: String(options.maxInFlight) },
      log: say,
    });
    let report;
    try {
      report = await reserveRace(
        {
          target: 'engine',
          base: target.base,
          tokens: target.tokens,
          ratePerSec: rate,
          durationS: duration,
          connections: options.connections,
          cores: target.cores,
          progress: say,
        },
        () => target.verdict(),
      );
    } finally {
      await target.stop();
    }
    const shed = report.totals.shed;
    const result = {
      sustainableRps: sustainable,
      offeredRps: rate,
      admittedRps: Math.round((report.totals.requests - shed - report.totals.errors) / report.durationS),
      admittedP99Ms: report.latency.admitted?.p99Ms ?? null,
      admittedP50Ms: report.latency.admitted?.p50Ms ?? null,
      shedShare: Number((shed / Math.max(1, report.totals.requests)).toFixed(3)),
      shedP99Ms: report.latency.shed?.p99Ms ?? null,
      errors: report.totals.errors,
      answers: report.answers,
      maxInFlightPerThread: options.maxInFlight,
      invariantsOk: report.invariants.ok,
      measuredAt: new Date().toISOString(),
    };
    const summary = `
overload: offered ${rate}/s (${options.factor}× ${sustainable}/s) for ${duration} s, MAX_IN_FLIGHT ${options.maxInFlight} per thread
  admitted ${result.admittedRps}/s   p50 ${result.admittedP50Ms} ms   p99 ${result.admittedP99Ms} ms   (target P7: p99 < 100 ms)
  shed     ${(result.shedShare * 100).toFixed(1)} % with 503/429, answered in p99 ${result.shedP99Ms} ms
  errors   ${result.errors}   invariants ${report.invariants.ok ? 'PASS' : 'FAIL'}
  → reports/bench/overload.json`;
    return { result, summary };
  } finally {
    await stack.stop();
  }
}
