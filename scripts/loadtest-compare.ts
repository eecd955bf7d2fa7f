/**
 * `npm run loadtest:compare -- --rate 10000 --duration 10` — P2 side by side: the same open-loop
 * reservation race (loadtest/runner/compare.ts) against the engine's gateway and against the
 * conventional baseline (Node http + PostgreSQL row locks), one after the other on the same
 * machine and private stack, with as many threads / worker processes as cores each, and the same
 * client. Each target gets its own pre-seeded, bound sessions, one per request, and its invariants
 * are checked after its race. Writes reports/bench/compare.json {engineRps, baselineRps, ratio,
 * engineP99Ms, baselineP99Ms, …} and reports/compare/report.html (the engine's race with the
 * baseline beside it). Exits 1 on an invariant violation.
 * Options: --rate N (10000), --duration S (10), --connections N (256), --campuses N (50).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { renderReportHtml } from '../loadtest/report/html.ts';
import type { RunReport } from '../loadtest/report/types.ts';
import { reserveRace } from '../loadtest/runner/compare.ts';
import { startBaselineTarget, startEngineTarget, type RaceTarget } from '../loadtest/runner/targets.ts';
import { startStack } from '../devstack/index.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '256' },
    campuses: { type: 'string', default: '50' },
  },
  strict: true,
});
const RATE = Number(values.rate);
const DURATION = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const CAMPUSES = Number(values.campuses);
const CANDIDATES = Math.ceil(RATE * DURATION);
const say = (line: string): void => void process.stderr.write(`${line}\n`);

async function race(target: RaceTarget): Promise<RunReport> {
  try {
    return await reserveRace(
      {
        target: target.name,
        base: target.base,
        tokens: target.tokens,
        ratePerSec: RATE,
        durationS: DURATION,
        connections: CONNECTIONS,
        cores: target.cores,
        progress: say,
      },
      () => target.verdict(),
    );
  } finally {
    await target.stop();
  }
}

async function main(): Promise<number> {
  const stack = await startStack({ quiet: true });
  try {
    const options = {
      redisUrl: stack.redisUrl,
      databaseUrl: stack.databaseUrl,
      candidates: CANDIDATES,
      campuses: CAMPUSES,
      // enough seats for every request: each one is a real first reservation
      capacityPerCampus: { CET4: Math.ceil((CANDIDATES * 1.2) / CAMPUSES) },
      log: say,
    };
    const engine = await race(await startEngineTarget(options));
    const baseline = await race(await startBaselineTarget(options));

    const engineRps = engine.measured.gatewayRequestsPerSec;
    const baselineRps = baseline.measured.gatewayRequestsPerSec;
    const result = {
      engineRps,
      baselineRps,
      ratio: Number((engineRps / Math.max(1, baselineRps)).toFixed(2)),
      engineP99Ms: engine.latency.all.p99Ms,
      baselineP99Ms: baseline.latency.all.p99Ms,
      offeredRps: RATE,
      offeredDurationS: DURATION,
      connections: CONNECTIONS,
      engineThreads: engine.measured.gatewayCores,
      baselineWorkers: baseline.measured.gatewayCores,
      engineErrors: engine.totals.errors,
      baselineErrors: baseline.totals.errors,
      engineAnswers: engine.answers,
      baselineAnswers: baseline.answers,
      invariantsOk: engine.invariants.ok && baseline.invariants.ok,
      measuredAt: new Date().toISOString(),
    };
    mkdirSync('reports/bench', { recursive: true });
    writeFileSync('reports/bench/compare.json', `${JSON.stringify(result, null, 2)}\n`);
    mkdirSync('reports/compare', { recursive: true });
    writeFileSync('reports/compare/engine.json', `${JSON.stringify(engine, null, 2)}\n`);
    writeFileSync('reports/compare/baseline.json', `${JSON.stringify(baseline, null, 2)}\n`);
    writeFileSync('reports/compare/report.html', renderReportHtml(engine, { compare: baseline }));
    console.log(`
engine vs. conventional baseline, open loop at ${RATE}/s for ${DURATION} s, ${CONNECTIONS} connections
  engine     ${engineRps.toLocaleString('en')} answered/s   p99 ${result.engineP99Ms} ms   errors ${result.engineErrors}   invariants ${engine.invariants.ok ? 'PASS' : 'FAIL'}
  baseline   ${baselineRps.toLocaleString('en')} answered/s   p99 ${result.baselineP99Ms} ms   errors ${result.baselineErrors}   invariants ${baseline.invariants.ok ? 'PASS' : 'FAIL'}
  ratio      ${result.ratio}×   (target P2: ≥ 15×, and p99 < 50 ms at 10k/s offered)
  → reports/bench/compare.json, reports/compare/report.html`);
    return result.invariantsOk ? 0 : 1;
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
