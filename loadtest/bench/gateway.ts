/**
 * The gateway benchmark (P2) behind `npm run bench:gateway`. Measures; asserts nothing.
 * Starts the whole system (private Redis with AOF always + PostgreSQL, N app threads), pre-seeds
 * N accounts with sessions and bound candidates (directly, so the KDF is not what is measured),
 * then runs autocannon in one run, same connections and duration, against
 *   1. POST /api/v1/registration/written {"subject":"CET4"} — a different session per request, so
 *      every request is a real reservation attempt (a first attempt holds a seat; a repeat by the
 *      same candidate answers 409 ALREADY_REGISTERED after the same checks), and
 *   2. GET /healthz — a trivial route of the same gateway.
 * Its figures go to reports/bench/gateway.json {reserveRps, trivialRps, p50Ms, p99Ms, …}; with
 * `reserveOnly` (no trivial run, e.g. under SYSTEM_NODE_ARGS=--cpu-prof) there are none to keep.
 */
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { startStack } from '../../devstack/stack.ts';
import { cpuPerUnit, processUserSystem, sampleProcesses, sampleThreads, threadsCpuSeconds } from '../cpu.ts';
import { startEngineTarget } from '../runner/targets.ts';
import { pacedRun } from './paced.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULTS } from '../../config/defaults.ts';
import { KeySpace } from '../../engine/keys.ts';
import { PROVINCE_CODES } from '../../engine/provinces.ts';
import { writerBacklog } from '../runner/verdict.ts';

export interface GatewayBenchOptions {
  readonly candidates: number;
  readonly connections: number;
  readonly durationS: number;
  /** Profiling aid: skip the trivial route so a profile of the system shows reservations only. */
  readonly reserveOnly: boolean;
}

export interface GatewayBenchRun {
  /** The figures for reports/bench/gateway.json; null in the reserve-only mode. */
  readonly result: Record<string, unknown> | null;
  /** What the terminal shows. */
  readonly summary: string;
}

async function run(
  url: string,
  opts: Partial<autocannon.Options>,
  connections: number,
  duration: number,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ ...opts, url, connections, duration }, (error, result) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result),
    );
  });
}

export async function runGatewayBench(options: GatewayBenchOptions): Promise<GatewayBenchRun> {
  const { candidates: CANDIDATES, connections: CONNECTIONS, durationS: DURATION } = options;
  const stack = await startStack();
  try {
    // the system runs in its own process (as `npm start`), so that the load generator in this
    // process does not share a thread with the gateway's writer, sweeper and worker pool; its
    // accounts, sessions and bindings are seeded directly (loadtest/runner/reserveWorld.ts)
    const target = await startEngineTarget({
      redisUrl: stack.redisUrl,
      databaseUrl: stack.databaseUrl,
      candidates: CANDIDATES,
      campuses: 50,
      capacityPerCampus: { CET4: Math.ceil((CANDIDATES * 1.2) / 50) },
      // the writer and sweeper in processes of their own: each one's CPU is read apart
      separateWriterAndSweeper: true,
      // what a reservation costs, not what shedding costs: autocannon ignores Retry-After and asks
      // again at once, so with the adaptive limit on, 400 connections measured ~9,500 answers/s of
      // 503 and ~800 reservations/s (2026-12-07); the static in-flight cap (MAX_IN_FLIGHT) stays
      env: { ADMISSION_ADAPTIVE: '0' },
      log: (line) => void process.stderr.write(`${line}\n`),
    });
    const base = target.base;
    const threads = target.cores;
    const tokens = target.tokens;
    const body = JSON.stringify({ subject: 'CET4' });
    process.stderr.write(
      `autocannon: ${CONNECTIONS} connections × ${DURATION} s, reservations then /healthz\n`,
    );
    // Each connection gets its own slice of the sessions as requests built once, before the run:
    // a `setupRequest` per request (one object spread and one request rendering each) cost
    // autocannon 85 µs per request, as much CPU as a third of the gateway's (README, P2).
    const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
    const commandsBefore = await commandCalls(redis);
    const redisTimesBefore = stack.redis ? processUserSystem(stack.redis.pid) : null;
    const threadsBefore = sampleThreads(target.pid);
    const cpuBefore = sampleProcesses();
    const perConnection = Math.max(1, Math.floor(tokens.length / CONNECTIONS));
    /** Each connection its own slice of the sessions, from the first slice again for every run. */
    const sessionSlices = (): autocannon.Options['setupClient'] => {
      let slice = 0;
      return (client) => {
        const first = (slice++ * perConnection) % tokens.length;
        client.setRequests(
          tokens.slice(first, first + perConnection).map((token) => ({
            method: 'POST',
            path: '/api/v1/registration/written',
            body,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          })),
        );
      };
    };
    const reserve = await run(
      `${base}/api/v1/registration/written`,
      { setupClient: sessionSlices() },
      CONNECTIONS,
      DURATION,
    );
    // The CPU is read once the writer has drained what the run wrote (up to 60 s): a reservation is
    // charged its event's way into PostgreSQL even when the writer was behind at the end of the
    // run, and the half-rate run below starts from a quiet system
    const streams = new KeySpace(DEFAULTS.namespace).allStreams(PROVINCE_CODES);
    const backlogAtEnd = await writerBacklog(redis, streams);
    const drainStarted = performance.now();
    for (let backlog = backlogAtEnd; backlog > 0 && performance.now() - drainStarted < 60_000;) {
      await sleep(100);
      backlog = await writerBacklog(redis, streams);
    }
    const writerDrain = { backlogAtEnd, drainMs: Math.round(performance.now() - drainStarted) };
    const cpuAfter = sampleProcesses();
    const threadsAfter = sampleThreads(target.pid);
    const commandsAfter = await commandCalls(redis);
    const redisTimesAfter = stack.redis ? processUserSystem(stack.redis.pid) : null;
    redis.disconnect();
    const statuses = Object.fromEntries(
      Object.entries(reserve.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count]),
    );
    process.stderr.write(`answers by status: ${JSON.stringify(statuses)}\n`);
    // the unit of the per-reservation figures: the durable reservations (201) of the measured run
    const units = Math.max(1, statuses['201'] ?? 0);
    // Where Redis's CPU goes: inside script calls (INFO commandstats' usec, with what they call),
    // and the process's user and system time (the rest of user: the other commands, reading,
    // parsing and replying; system: the sockets' syscalls and appendfsync always's fsync per turn)
    const perReservation = (seconds: number): number => Math.round((seconds * 1e6) / units);
    const redisSplitUs =
      redisTimesBefore && redisTimesAfter
        ? {
            insideScripts: perReservation(
              ((commandsAfter.get('usec:scripts') ?? 0) - (commandsBefore.get('usec:scripts') ?? 0)) / 1e6,
            ),
            user: perReservation(redisTimesAfter.user - redisTimesBefore.user),
            system: perReservation(redisTimesAfter.system - redisTimesBefore.system),
          }
        : null;
    // Redis calls per reservation, by command (the writer's reads and acks included)
    const redisCalls = Object.fromEntries(
      [...commandsAfter]
        .filter(([name]) => name !== 'usec:scripts')
        .map(([name, calls]) => [name, (calls - (commandsBefore.get(name) ?? 0)) / units] as const)
        .filter(([, per]) => per >= 0.01)
        .sort((a, b) => b[1] - a[1])
        .map(([name, per]) => [name, Number(per.toFixed(2))]),
    );
    const cpuMicros = cpuPerUnit(
      cpuBefore,
      cpuAfter,
      {
        system: target.pid,
        writer: target.parts?.writerPid ?? undefined,
        sweeper: target.parts?.sweeperPid ?? undefined,
        redis: stack.redis?.pid,
        postgres: stack.postgres?.pid,
        autocannon: process.pid,
      },
      units,
    );
    const appThreadsUs =
      threadsBefore && threadsAfter && target.parts && target.parts.appThreadIds.length > 0
        ? Math.round(
            (threadsCpuSeconds(threadsBefore, threadsAfter, target.parts.appThreadIds) * 1e6) / units,
          )
        : null;
    // P2's split (issue 13): the server is every process of the system, the load generator apart
    const cpuPerReservationUs = cpuMicros
      ? {
          server:
            cpuMicros.system! +
            cpuMicros.writer! +
            cpuMicros.sweeper! +
            cpuMicros.redis! +
            cpuMicros.postgres!,
          gatewayThreads: appThreadsUs,
          // the system process's other threads: main (relays, keeper), worker pool, V8's helpers
          gatewayOther: appThreadsUs === null ? null : cpuMicros.system! - appThreadsUs,
          writer: cpuMicros.writer!,
          sweeper: cpuMicros.sweeper!,
          redis: cpuMicros.redis!,
          postgres: cpuMicros.postgres!,
          loadGenerator: cpuMicros.autocannon!,
        }
      : null;
    const scriptCallsPerReservation = Number(
      (
        SCRIPT_COMMANDS.reduce(
          (sum, name) => sum + (commandsAfter.get(name) ?? 0) - (commandsBefore.get(name) ?? 0),
          0,
        ) / units
      ).toFixed(2),
    );
    const cpuLine = cpuPerReservationUs
      ? Object.entries(cpuPerReservationUs)
          .map(([name, micros]) => `${name} ${micros ?? '-'} µs`)
          .join(', ')
      : 'not available (no /proc)';
    // the system process's busiest threads (profiling aid): main, app threads, the rest by id
    const busiest =
      threadsBefore && threadsAfter
        ? [...threadsAfter]
            .map(([tid]) => {
              const role =
                tid === target.pid ? 'main' : target.parts?.appThreadIds.includes(tid) ? 'app' : 'other';
              const us = Math.round((threadsCpuSeconds(threadsBefore, threadsAfter, [tid]) * 1e6) / units);
              return { tid, role, us };
            })
            .filter((thread) => thread.us > 0)
            .sort((a, b) => b.us - a.us)
            .map((thread) => `${thread.role}:${thread.tid} ${thread.us} µs`)
            .join(', ')
        : '';
    if (options.reserveOnly) {
      await target.stop();
      return {
        result: null,
        summary:
          `reserve only: ${Math.round(reserve.requests.average)} req/s, p50 ${reserve.latency.p50} ms, p99 ${reserve.latency.p99} ms\n` +
          `CPU per reservation: ${cpuLine}\nthe system's threads: ${busiest}\nRedis calls per reservation: ${JSON.stringify(redisCalls)}\n` +
          `Redis's CPU per reservation (µs): ${JSON.stringify(redisSplitUs)}\nwriter at the end: ${JSON.stringify(writerDrain)}`,
      };
    }
    // latency at half the saturation rate (P2's latency row): the same requests (the sessions
    // from the first again), evenly paced (paced.ts: autocannon's overallRate sends in bursts)
    const halfRate = Math.max(1, Math.round(reserve.requests.average / 2));
    const half = await pacedRun({
      base,
      path: '/api/v1/registration/written',
      method: 'POST',
      body,
      headers: (i) => ({
        'content-type': 'application/json',
        authorization: `Bearer ${tokens[i % tokens.length]!}`,
      }),
      ratePerSec: halfRate,
      durationS: DURATION,
      connections: CONNECTIONS,
    });
    const trivial = await run(`${base}/healthz`, {}, CONNECTIONS, DURATION);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const outcomes = Object.fromEntries(
      metrics
        .split('\n')
        .filter((line) => line.startsWith('reservations_total{'))
        .map((line) => [/outcome="([^"]+)"/.exec(line)?.[1] ?? '?', Number(line.split(' ').pop())]),
    );
    const result = {
      reserveRps: Math.round(reserve.requests.average),
      trivialRps: Math.round(trivial.requests.average),
      ratio: Number((reserve.requests.average / trivial.requests.average).toFixed(3)),
      p50Ms: reserve.latency.p50,
      p99Ms: reserve.latency.p99,
      trivialP99Ms: trivial.latency.p99,
      non2xx: reserve.non2xx,
      errors: reserve.errors,
      timeouts: reserve.timeouts,
      reservationOutcomes: outcomes,
      cpuPerReservationUs,
      scriptCallsPerReservation,
      redisSplitUs,
      /** Events behind when the saturation run ended, and how long the writer took to catch up (inside the CPU figures). */
      writerDrain,
      halfSaturation: {
        offeredRps: halfRate,
        answeredRps: half.answeredRps,
        p50Ms: half.p50Ms,
        p99Ms: half.p99Ms,
        maxMs: half.maxMs,
        statuses: half.statuses,
        pacing: 'even, open loop, latency from each request’s due time (loadtest/bench/paced.ts)',
      },
      cpuMicrosPerReservation: cpuMicros,
      redisCallsPerReservation: redisCalls,
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      threads: threads || undefined,
      candidates: CANDIDATES,
      measuredAt: new Date().toISOString(),
    };
    const summary = `
gateway benchmark (${threads || 'default'} app threads, ${CONNECTIONS} connections, ${DURATION} s each)
  POST /api/v1/registration/written   ${result.reserveRps.toLocaleString('en')} req/s   p50 ${result.p50Ms} ms   p99 ${result.p99Ms} ms   (saturation)
  the same at half that rate          ${result.halfSaturation.answeredRps.toLocaleString('en')} req/s   p50 ${result.halfSaturation.p50Ms} ms   p99 ${result.halfSaturation.p99Ms} ms   (P2: p99 < 50 ms)
  GET /healthz (trivial)              ${result.trivialRps.toLocaleString('en')} req/s   p99 ${result.trivialP99Ms} ms
  ratio reservations / trivial        ${result.ratio}
  reservation outcomes                ${JSON.stringify(outcomes)}   errors ${result.errors}, timeouts ${result.timeouts}
  CPU per reservation                 ${cpuLine}   (P2: server ≤ 120 µs, gateway threads ≤ 40 µs)
  script calls per reservation        ${scriptCallsPerReservation}   (P2: ≤ 1)
  Redis calls per reservation         ${JSON.stringify(redisCalls)}
  Redis's CPU per reservation         ${redisSplitUs ? `inside script calls ${redisSplitUs.insideScripts} µs; process user ${redisSplitUs.user} µs, system ${redisSplitUs.system} µs` : 'not available'}
  → reports/bench/gateway.json`;
    await target.stop();
    return { result, summary };
  } finally {
    await stack.stop();
  }
}

const SCRIPT_COMMANDS = ['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro'];

/**
 * Calls so far per Redis command (INFO commandstats), and `usec:scripts` the time spent inside
 * script calls (the commands a script calls included: they are also counted under their own names,
 * so the usec of all commands together would count them twice).
 */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const text = await redis.info('commandstats');
  const stats = [...text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)];
  return new Map([
    ...stats.map((m) => [m[1]!, Number(m[2])] as const),
    [
      'usec:scripts',
      stats.filter((m) => SCRIPT_COMMANDS.includes(m[1]!)).reduce((sum, m) => sum + Number(m[3]), 0),
    ] as const,
  ]);
}
