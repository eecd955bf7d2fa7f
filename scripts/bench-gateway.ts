/**
 * `npm run bench:gateway` — the gateway benchmark (P2). Prints figures; asserts nothing.
 * Starts the whole system (private Redis with AOF always + PostgreSQL, N app threads), pre-seeds
 * N accounts with sessions and bound candidates (directly, so the KDF is not what is measured),
 * then runs autocannon in one run, same connections and duration, against
 *   1. POST /api/v1/registration/written {"subject":"CET4"} — a different session per request, so
 *      every request is a real reservation attempt (a first attempt holds a seat; a repeat by the
 *      same candidate answers 409 ALREADY_REGISTERED after the same checks), and
 *   2. GET /healthz — a trivial route of the same gateway.
 * Writes reports/bench/gateway.json {reserveRps, trivialRps, p50Ms, p99Ms, …}.
 * Options: --candidates N (50000), --connections N (400), --duration S (10), --reserve-only (no
 * trivial run, e.g. under SYSTEM_NODE_ARGS=--cpu-prof; writes no report).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { cpuPerUnit, sampleProcesses } from '../loadtest/cpu.ts';
import { startEngineTarget } from '../loadtest/runner/targets.ts';
import { startStack } from '../devstack/index.ts';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: '50000' },
    // 400: the knee measured on the 2-core box (README, P2): 200 → 400 → 800 connections gave
    // about 5,300 → 7,000 → 7,100 reservations/s, p99 104 → 166 → 461 ms (2026-11-29)
    connections: { type: 'string', default: '400' },
    duration: { type: 'string', default: '10' },
    // profiling aid: skip the trivial route so a profile of the system shows reservations only
    'reserve-only': { type: 'boolean', default: false },
  },
});
const CANDIDATES = Number(values.candidates);
const CONNECTIONS = Number(values.connections);
const DURATION = Number(values.duration);

async function run(url: string, opts: Partial<autocannon.Options>): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ ...opts, url, connections: CONNECTIONS, duration: DURATION }, (error, result) =>
      error ? reject(error) : resolve(result),
    );
  });
}

async function main(): Promise<void> {
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
    const cpuBefore = sampleProcesses();
    let slice = 0;
    const perConnection = Math.max(1, Math.floor(tokens.length / CONNECTIONS));
    const reserve = await run(`${base}/api/v1/registration/written`, {
      setupClient: (client) => {
        const first = (slice++ * perConnection) % tokens.length;
        client.setRequests(
          tokens.slice(first, first + perConnection).map((token) => ({
            method: 'POST',
            path: '/api/v1/registration/written',
            body,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          })),
        );
      },
    });
    const cpuAfter = sampleProcesses();
    const commandsAfter = await commandCalls(redis);
    redis.disconnect();
    const answered = reserve.requests.total;
    // Redis calls per reservation answered, by command (the writer's reads and acks included)
    const redisCalls = Object.fromEntries(
      [...commandsAfter]
        .map(
          ([name, calls]) =>
            [name, (calls - (commandsBefore.get(name) ?? 0)) / Math.max(1, answered)] as const,
        )
        .filter(([, per]) => per >= 0.01)
        .sort((a, b) => b[1] - a[1])
        .map(([name, per]) => [name, Number(per.toFixed(2))]),
    );
    const cpuMicros = cpuPerUnit(
      cpuBefore,
      cpuAfter,
      { system: target.pid, redis: stack.redis?.pid, postgres: stack.postgres?.pid, autocannon: process.pid },
      answered,
    );
    const cpuLine = cpuMicros
      ? Object.entries(cpuMicros)
          .map(([name, micros]) => `${name} ${micros} µs`)
          .join(', ')
      : 'not available (no /proc)';
    if (values['reserve-only']) {
      console.log(
        `reserve only: ${Math.round(reserve.requests.average)} req/s, p50 ${reserve.latency.p50} ms, p99 ${reserve.latency.p99} ms\n` +
          `CPU per reservation: ${cpuLine}\nRedis calls per reservation: ${JSON.stringify(redisCalls)}`,
      );
      await target.stop();
      return;
    }
    const trivial = await run(`${base}/healthz`, {});
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
      cpuMicrosPerReservation: cpuMicros,
      redisCallsPerReservation: redisCalls,
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      threads: threads || undefined,
      candidates: CANDIDATES,
      measuredAt: new Date().toISOString(),
    };
    mkdirSync('reports/bench', { recursive: true });
    writeFileSync('reports/bench/gateway.json', `${JSON.stringify(result, null, 2)}\n`);
    console.log(`
gateway benchmark (${threads || 'default'} app threads, ${CONNECTIONS} connections, ${DURATION} s each)
  POST /api/v1/registration/written   ${result.reserveRps.toLocaleString('en')} req/s   p50 ${result.p50Ms} ms   p99 ${result.p99Ms} ms   (target ≥ 20,000/s)
  GET /healthz (trivial)              ${result.trivialRps.toLocaleString('en')} req/s   p99 ${result.trivialP99Ms} ms
  ratio reservations / trivial        ${result.ratio}
  reservation outcomes                ${JSON.stringify(outcomes)}   errors ${result.errors}, timeouts ${result.timeouts}
  CPU per reservation                 ${cpuLine}
  Redis calls per reservation         ${JSON.stringify(redisCalls)}
  → reports/bench/gateway.json`);
    await target.stop();
  } finally {
    await stack.stop();
  }
}

/** Calls so far per Redis command (INFO commandstats). */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const text = await redis.info('commandstats');
  return new Map(
    [...text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])] as const),
  );
}

await main();
