/**
 * The engine benchmark (P1, P4) behind `npm run bench:engine`. Measures; asserts nothing.
 *  1. P1: the reserve script driven through the engine's TypeScript wrapper (ioredis,
 *     auto-pipelining, many concurrent callers) vs. `redis-benchmark` sending the very same
 *     EVALSHA (same keys, same arguments, same number of commands in flight), in one run.
 *     The command is a written reservation refused SOLD_OUT: the whole check path of the script
 *     (record, window, eligibility, level, capacity) — what most calls do at opening time — and
 *     repeatable with identical arguments, which redis-benchmark needs.
 *  2. The success path: N distinct bound candidates each holding a written seat, through the
 *     wrapper (reservations/s), and binds/s (three scripts each, two shards).
 *  3. P4: Redis used_memory per candidate after binding N candidates with a written and an oral
 *     hold, with the outbox stream drained (as the writer keeps it) and undrained.
 * Uses REDIS_URL if set, else a private redis-server (AOF appendfsync always).
 */
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { runtimeFromEnv } from '../../config/index.ts';
import { findBinary, REDIS_INSTALL_HINT } from '../../devstack/binaries.ts';
import { startStack } from '../../devstack/stack.ts';
import { Engine, HOUR_MS, bind, type CandidateRef } from '../../engine/index.ts';
import { loadScripts } from '../../engine/scripts.ts';
import type { Campus } from '../../engine/world.ts';
import { drive, median } from './drive.ts';

export interface EngineBenchOptions {
  /** Candidates bound and holding seats (the P4 population); default 100,000. */
  readonly candidates: number;
  /** Calls per P1 round; default 300,000. */
  readonly ops: number;
  /** Calls in flight; default 800. */
  readonly inflight: number;
  /** Engines on separate connections: with one, Redis and Node take turns on each pipelined batch. */
  readonly connections: number;
}

/** The benchmarks' clock and province: registration open, oral holds open everywhere. */
export const BENCH_NOW = Date.UTC(2026, 2, 1, 9);
export const BENCH_PROVINCE = '11';
const NOW = BENCH_NOW;
const PROVINCE = BENCH_PROVINCE;

/** The roster snapshot every benchmark candidate is bound with. */
export const BENCH_SNAPSHOT = {
  name: '王小明',
  idType: 'RESIDENT_ID' as const,
  idMasked: '110105********002X',
  schoolId: '110001',
  grade: '2024',
  eligibleSubjects: ['CET4'],
};

function usedMemory(info: string): number {
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

/** Campus `index` of the benchmark province, with `capacity`. */
export function campusFor(index: number, capacity: Campus['capacity']): Campus {
  return {
    campusId: `11${String(index).padStart(4, '0')}1`,
    name: `Bench campus ${index}`,
    provinceCode: PROVINCE,
    schoolId: `11${String(index).padStart(4, '0')}`,
    studentsMayTakeOralElsewhere: true,
    capacity,
    oralOpens: { ownSchoolAt: NOW - HOUR_MS, provinceWideAt: NOW - HOUR_MS },
  };
}

function redisBenchmark(port: number, host: string, args: string[]): Promise<number> {
  const binary = findBinary('redis-benchmark', REDIS_INSTALL_HINT);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['-h', host, '-p', String(port), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const rps = /"([0-9.]+)"/.exec(out.split('\n').find((line) => line.startsWith('"EVALSHA')) ?? '');
      if (code !== 0 || !rps) reject(new Error(`redis-benchmark failed (${code}): ${out.slice(0, 500)}`));
      else resolve(Number(rps[1]));
    });
  });
}

export type EngineBenchResult = Awaited<ReturnType<typeof runEngineBench>>;

export async function runEngineBench(options: EngineBenchOptions) {
  const { candidates: CANDIDATES, ops: OPS, inflight: INFLIGHT, connections: CONNECTIONS } = options;
  const stack = await startStack({ postgres: false });
  try {
    const url = new URL(stack.redisUrl);
    const redis = new Redis(stack.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
    const namespace = `bench${Date.now()}`;
    const engine = new Engine(redis, { namespace });
    const engines = [
      engine,
      ...Array.from(
        { length: CONNECTIONS - 1 },
        () =>
          new Engine(new Redis(stack.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null }), {
            namespace,
          }),
      ),
    ];
    const pick = (i: number): Engine => engines[i % engines.length]!;
    const keys = engine.keys.province(PROVINCE);
    await engine.setCalendar(
      {
        provinceCode: PROVINCE,
        registrationOpensAt: NOW - HOUR_MS,
        registrationClosesAt: NOW + 100 * HOUR_MS,
      },
      NOW,
    );
    const campuses = Array.from({ length: 50 }, (_, i) =>
      campusFor(i + 1, { CET4: Math.ceil(CANDIDATES / 40), 'CET-SET4': Math.ceil(CANDIDATES / 40) }),
    );
    // the P1 campus: CJT4 capacity 1, already taken
    campuses.push(campusFor(99, { CJT4: 1 }));
    for (const campus of campuses) await engine.upsertCampus(campus, NOW);
    await redis.call('MEMORY', 'PURGE').catch(() => undefined);
    const baseline = usedMemory(await redis.info('memory'));

    // ---- binds and written holds for N candidates (also the P4 population)
    const refs: CandidateRef[] = [];
    const snapshot = BENCH_SNAPSHOT;
    const bindRate = await drive(CANDIDATES, INFLIGHT, async (i) => {
      const ref = { accountId: String(1_000_000 + i), provinceCode: PROVINCE, candidateId: String(i + 1) };
      const outcome = await bind(pick(i), {
        ...ref,
        campusId: campuses[i % 50]!.campusId,
        snapshot,
        now: NOW,
      });
      if (!outcome.ok) throw new Error(`bind ${i}: ${outcome.code}`);
      refs[i] = ref;
    });
    const reserveRate = await drive(CANDIDATES, INFLIGHT, async (i) => {
      const outcome = await pick(i).reserveWritten({
        ...refs[i]!,
        subject: 'CET4',
        eligible: true,
        fee: 30,
        now: NOW,
      });
      if (!outcome.ok) throw new Error(`reserve ${i}: ${outcome.code}`);
    });
    const oralRate = await drive(CANDIDATES, INFLIGHT, async (i) => {
      const outcome = await pick(i).reserveOral({
        ...refs[i]!,
        subject: 'CET-SET4',
        campusId: campuses[i % 50]!.campusId,
        fee: 50,
        now: NOW,
      });
      if (!outcome.ok) throw new Error(`oral ${i}: ${outcome.code}`);
    });
    const withStream = usedMemory(await redis.info('memory'));
    const streamLength = await redis.xlen(keys.stream);
    await redis.xtrim(keys.stream, 'MAXLEN', 0);
    for (let shard = 0; shard < 16; shard++) await redis.xtrim(engine.keys.accountStream(shard), 'MAXLEN', 0);
    await redis.call('MEMORY', 'PURGE').catch(() => undefined);
    const drained = usedMemory(await redis.info('memory'));

    // ---- P1: the same SOLD_OUT reservation through the wrapper and through redis-benchmark
    const soldOutCampus = campuses[50]!;
    const taker = { accountId: 'p1-taker', provinceCode: PROVINCE, candidateId: 'p1-taker' };
    const probe = { accountId: 'p1-probe', provinceCode: PROVINCE, candidateId: 'p1-probe' };
    for (const ref of [taker, probe]) {
      const outcome = await bind(engine, { ...ref, campusId: soldOutCampus.campusId, snapshot, now: NOW });
      if (!outcome.ok) throw new Error(`bind ${ref.candidateId}: ${outcome.code}`);
    }
    const taken = await engine.reserveWritten({
      ...taker,
      subject: 'CJT4',
      eligible: true,
      fee: 30,
      now: NOW,
    });
    if (!taken.ok) throw new Error(`P1 setup: ${taken.code}`);
    const check = await engine.reserveWritten({
      ...probe,
      subject: 'CJT4',
      eligible: true,
      fee: 30,
      now: NOW,
    });
    if (check.ok || check.code !== 'SOLD_OUT') throw new Error('P1 probe should be SOLD_OUT');

    const script = loadScripts().get('reserveWritten')!;
    const sha = String(await redis.script('LOAD', script.lua));
    const call = engine.writtenHoldCall({ ...probe, subject: 'CJT4', eligible: true, fee: 30, now: NOW });
    const evalArgs = ['EVALSHA', sha, String(call.keys.length), ...call.keys, ...call.args.map(String)];
    const clients = 50;
    const pipeline = Math.max(1, Math.round(INFLIGHT / clients));
    const wrapperRuns: number[] = [];
    const benchmarkRuns: number[] = [];
    for (let round = 0; round < 3; round++) {
      wrapperRuns.push(
        await drive(OPS, clients * pipeline, async (i) => {
          const outcome = await pick(i).reserveWritten({
            ...probe,
            subject: 'CJT4',
            eligible: true,
            fee: 30,
            now: NOW,
          });
          if (outcome.ok) throw new Error('P1: a sold-out reservation succeeded');
        }),
      );
      benchmarkRuns.push(
        await redisBenchmark(Number(url.port), url.hostname, [
          '-n',
          String(OPS),
          '-c',
          String(clients),
          '-P',
          String(pipeline),
          '--csv',
          ...evalArgs,
        ]),
      );
    }
    const scriptOpsPerSec = Math.round(median(wrapperRuns));
    const redisBenchmarkOpsPerSec = Math.round(median(benchmarkRuns));
    const stillOne = (await engine.seatCounts(PROVINCE)).find(
      (c) => c.campusId === soldOutCampus.campusId && c.subject === 'CJT4',
    );
    if (stillOne?.used !== 1) throw new Error(`P1 oversold: used ${stillOne?.used}`);

    const result = {
      scriptOpsPerSec,
      redisBenchmarkOpsPerSec,
      ratio: Number((scriptOpsPerSec / redisBenchmarkOpsPerSec).toFixed(3)),
      bytesPerCandidate: Math.round((drained - baseline) / CANDIDATES),
      bytesPerCandidateUndrainedStream: Math.round((withStream - baseline) / CANDIDATES),
      streamEntriesPerCandidate: Number((streamLength / CANDIDATES).toFixed(2)),
      reserveWrittenSuccessOpsPerSec: Math.round(reserveRate),
      reserveOralSuccessOpsPerSec: Math.round(oralRate),
      bindsPerSec: Math.round(bindRate),
      candidates: CANDIDATES,
      p1: {
        ops: OPS,
        clients,
        pipeline,
        connections: CONNECTIONS,
        wrapperRuns: wrapperRuns.map(Math.round),
        benchmarkRuns,
      },
      nodeOptions: runtimeFromEnv().nodeOptions,
      appendfsync: ((await redis.config('GET', 'appendfsync')) as string[])[1],
      measuredAt: new Date().toISOString(),
    };
    for (const each of engines) each.redis.disconnect();
    return result;
  } finally {
    await stack.stop();
  }
}

/** The figures as the terminal shows them. */
export function engineBenchSummary(result: EngineBenchResult): string {
  const { candidates: CANDIDATES, scriptOpsPerSec, redisBenchmarkOpsPerSec } = result;
  const { ops: OPS, clients, pipeline, connections: CONNECTIONS, wrapperRuns, benchmarkRuns } = result.p1;
  return `
engine benchmark (${CANDIDATES} candidates, appendfsync ${result.appendfsync})
  P1 reserve (SOLD_OUT path, ${OPS} ops, ${clients}×${pipeline} in flight, wrapper on ${CONNECTIONS} connections)
     through the TypeScript wrapper   ${scriptOpsPerSec.toLocaleString('en')} ops/s   runs ${wrapperRuns.join(', ')}
     redis-benchmark, same EVALSHA    ${redisBenchmarkOpsPerSec.toLocaleString('en')} ops/s   runs ${benchmarkRuns.join(', ')}
     ratio                            ${result.ratio}   (target ≥ 0.60)
  success path through the wrapper
     binds (3 scripts, 2 shards)      ${result.bindsPerSec.toLocaleString('en')} /s
     written holds                    ${result.reserveWrittenSuccessOpsPerSec.toLocaleString('en')} /s
     oral holds                       ${result.reserveOralSuccessOpsPerSec.toLocaleString('en')} /s
  P4 memory per candidate (bound, written + oral hold)
     outbox drained                   ${result.bytesPerCandidate} bytes   (target ≤ 400)
     outbox undrained                 ${result.bytesPerCandidateUndrainedStream} bytes   (${result.streamEntriesPerCandidate} events each)
  → reports/bench/engine.json`;
}
