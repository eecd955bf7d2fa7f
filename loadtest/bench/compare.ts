/**
 * P2 side by side, behind `npm run loadtest:compare`: the same open-loop
 * reservation race (loadtest/runner/compare.ts) against the engine's gateway and against the
 * conventional baseline (Node http + PostgreSQL row locks), one after the other on the same
 * machine and private stack, with as many threads / worker processes as cores each, and the same
 * client. Each target gets its own pre-seeded, bound sessions, one per request, and its invariants
 * are checked after its race. The figures for reports/bench/compare.json {engineRps, baselineRps,
 * ratio, serverCpuRatio (server CPU per durable reservation, baseline ÷ engine, read from /proc
 * between the race's first request and its last answer), engineP99Ms, baselineP99Ms, …}; both races' reports go to reports/compare/ with
 * report.html (the engine's race with the baseline beside it).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { startStack } from '../../devstack/stack.ts';
import { renderReportHtml } from '../report/html.ts';
import type { RunReport } from '../report/types.ts';
import { cpuPerUnit, sampleProcesses, type CpuSample } from '../cpu.ts';
import { reserveRace } from '../runner/compare.ts';
import { startBaselineTarget, startEngineTarget, type RaceTarget } from '../runner/targets.ts';

export interface CompareOptions {
  /** Requests offered per second. */
  readonly rate: number;
  readonly durationS: number;
  readonly connections: number;
  readonly campuses: number;
  readonly say: (line: string) => void;
}

/** Server CPU per durable reservation (201) of one race: the target's processes, Redis, PostgreSQL. */
interface RaceCpu {
  readonly serverUs: number | null;
  readonly byProcessUs: Record<string, number> | null;
}

async function race(
  target: RaceTarget,
  options: CompareOptions,
  stores: { readonly redisPid: number | undefined; readonly postgresPid: number | undefined },
): Promise<{ report: RunReport; cpu: RaceCpu }> {
  let before: CpuSample | null = null;
  let after: CpuSample | null = null;
  try {
    const report = await reserveRace(
      {
        target: target.name,
        base: target.base,
        tokens: target.tokens,
        ratePerSec: options.rate,
        durationS: options.durationS,
        connections: options.connections,
        cores: target.cores,
        progress: options.say,
        onLoad: (phase) => {
          if (phase === 'start') before = sampleProcesses();
          else after = sampleProcesses();
        },
      },
      () => target.verdict(),
    );
    const reservations = report.answers['201'] ?? 0;
    const byProcessUs = cpuPerUnit(
      before,
      after,
      // the target's process tree (the engine's app threads, writer and sweeper; the baseline's
      // cluster workers), and the stores both use; the load generator (this process) apart
      {
        [target.name]: target.pid,
        redis: stores.redisPid,
        postgres: stores.postgresPid,
        loadGenerator: process.pid,
      },
      reservations,
    );
    const serverUs = byProcessUs
      ? byProcessUs[target.name]! + byProcessUs.redis! + byProcessUs.postgres!
      : null;
    return { report, cpu: { serverUs, byProcessUs: byProcessUs ?? null } };
  } finally {
    await target.stop();
  }
}

/** The figures for reports/bench/compare.json, and the lines the terminal shows. */
export async function runCompare(compare: CompareOptions) {
  const { rate: RATE, durationS: DURATION, connections: CONNECTIONS, campuses: CAMPUSES, say } = compare;
  const CANDIDATES = Math.ceil(RATE * DURATION);
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
    const stores = { redisPid: stack.redis?.pid, postgresPid: stack.postgres?.pid };
    // the cost of a reservation side by side: with the adaptive limit on, the engine refused 80 % of
    // this race at once (503 OVERLOADED: 20,170 reservations of 100,000, 2026-12-07), and its CPU
    // per reservation was mostly refusals'; P7's overload behaviour is loadtest:overload's to show
    const { report: engine, cpu: engineCpu } = await race(
      await startEngineTarget({ ...options, env: { ADMISSION_ADAPTIVE: '0' } }),
      compare,
      stores,
    );
    const { report: baseline, cpu: baselineCpu } = await race(
      await startBaselineTarget(options),
      compare,
      stores,
    );
    // P2 side by side (issue 13): server CPU per durable reservation, baseline ÷ engine
    const serverCpuRatio =
      engineCpu.serverUs && baselineCpu.serverUs
        ? Number((baselineCpu.serverUs / engineCpu.serverUs).toFixed(2))
        : null;

    const engineRps = engine.measured.gatewayRequestsPerSec;
    const baselineRps = baseline.measured.gatewayRequestsPerSec;
    const result = {
      engineRps,
      baselineRps,
      ratio: Number((engineRps / Math.max(1, baselineRps)).toFixed(2)),
      serverCpuRatio,
      serverCpuPerReservationUs: { engine: engineCpu.serverUs, baseline: baselineCpu.serverUs },
      cpuPerReservationUs: { engine: engineCpu.byProcessUs, baseline: baselineCpu.byProcessUs },
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
    mkdirSync('reports/compare', { recursive: true });
    writeFileSync('reports/compare/engine.json', `${JSON.stringify(engine, null, 2)}\n`);
    writeFileSync('reports/compare/baseline.json', `${JSON.stringify(baseline, null, 2)}\n`);
    writeFileSync('reports/compare/report.html', renderReportHtml(engine, { compare: baseline }));
    const summary = `
engine vs. conventional baseline, open loop at ${RATE}/s for ${DURATION} s, ${CONNECTIONS} connections
  engine     ${engineRps.toLocaleString('en')} answered/s   p99 ${result.engineP99Ms} ms   errors ${result.engineErrors}   invariants ${engine.invariants.ok ? 'PASS' : 'FAIL'}
  baseline   ${baselineRps.toLocaleString('en')} answered/s   p99 ${result.baselineP99Ms} ms   errors ${result.baselineErrors}   invariants ${baseline.invariants.ok ? 'PASS' : 'FAIL'}
  ratio      ${result.ratio}× answered/s
  server CPU per reservation   engine ${engineCpu.serverUs ?? '-'} µs   baseline ${baselineCpu.serverUs ?? '-'} µs   ratio ${serverCpuRatio ?? '-'}×   (target P2: ≥ 15×)
  → reports/bench/compare.json, reports/compare/report.html`;
    return { result, summary };
  } finally {
    await stack.stop();
  }
}
