/**
 * `npm run loadtest:overload -- --sustainable 2500` — P7: the reservation race offered at 3× the
 * sustainable rate (--factor, default 3; the sustainable rate defaults to reports/bench/compare.json's
 * engineRps) against the engine with admission control set low (--max-in-flight per app thread,
 * default 64). What counts: the p99 of the admitted requests (answered 201 / 409) and how fast and
 * how many of the others were shed with 503 / 429 and Retry-After (never retried here). Checks I1–I3
 * after. Writes reports/bench/overload.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { reserveRace } from '../loadtest/runner/compare.ts';
import { startEngineTarget } from '../loadtest/runner/targets.ts';
import { startStack } from '../devstack/index.ts';

const { values } = parseArgs({
  options: {
    sustainable: { type: 'string' },
    factor: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '512' },
    'max-in-flight': { type: 'string', default: '64' },
  },
  strict: true,
});
const say = (line: string): void => void process.stderr.write(`${line}\n`);

function sustainableRate(): number {
  if (values.sustainable) return Number(values.sustainable);
  if (existsSync('reports/bench/compare.json')) {
    return Number(JSON.parse(readFileSync('reports/bench/compare.json', 'utf8')).engineRps);
  }
  throw new Error('give --sustainable N, or run npm run loadtest:compare first');
}

async function main(): Promise<number> {
  const sustainable = sustainableRate();
  const rate = Math.round(sustainable * Number(values.factor));
  const duration = Number(values.duration);
  const stack = await startStack({ quiet: true });
  try {
    const candidates = Math.ceil(rate * duration);
    const target = await startEngineTarget({
      redisUrl: stack.redisUrl,
      databaseUrl: stack.databaseUrl,
      candidates,
      campuses: 50,
      capacityPerCampus: { CET4: Math.ceil((candidates * 1.2) / 50) },
      env: { MAX_IN_FLIGHT: String(values['max-in-flight']) },
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
          connections: Number(values.connections),
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
      maxInFlightPerThread: Number(values['max-in-flight']),
      invariantsOk: report.invariants.ok,
      measuredAt: new Date().toISOString(),
    };
    mkdirSync('reports/bench', { recursive: true });
    writeFileSync('reports/bench/overload.json', `${JSON.stringify(result, null, 2)}\n`);
    console.log(`
overload: offered ${rate}/s (${values.factor}× ${sustainable}/s) for ${duration} s, MAX_IN_FLIGHT ${values['max-in-flight']} per thread
  admitted ${result.admittedRps}/s   p50 ${result.admittedP50Ms} ms   p99 ${result.admittedP99Ms} ms   (target P7: p99 < 100 ms)
  shed     ${(result.shedShare * 100).toFixed(1)} % with 503/429, answered in p99 ${result.shedP99Ms} ms
  errors   ${result.errors}   invariants ${report.invariants.ok ? 'PASS' : 'FAIL'}
  → reports/bench/overload.json`);
    return report.invariants.ok ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(2);
  },
);
