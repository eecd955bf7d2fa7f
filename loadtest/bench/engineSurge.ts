/**
 * The engine-level surge behind `npm run surge:engine` (no HTTP): starts the stack on its
 * embedded defaults (a private redis-server with AOF `appendfsync always`, a private PostgreSQL,
 * migrated), generates a world, loads it into the engine, and runs an opening surge: every
 * candidate binds, races for a written seat, a share race for oral seats and pay; then the clock
 * jumps 12 h and the sweeper releases every unpaid hold (R22). Seat changes are counted as a
 * dashboard would receive them. At the end the invariants I1–I4 are checked and the headline
 * figures printed and written to reports/engine-surge/engine-surge.json; the exit code is non-zero on any
 * violation. Everything started is stopped.
 *
 * This surge drives the engine directly, to see the engine's own figures without the gateway;
 * the main job (`npm run demo`) is the HTTP surge of loadtest/runner/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { build as buildHistogram, type Histogram } from 'hdr-histogram-js';
import { Redis } from 'ioredis';
import { migrate } from '../../db/migrate.ts';
import { createPool } from '../../db/pool.ts';
import { startStack } from '../../devstack/stack.ts';
import { Engine, HOUR_MS, expireDue, type Subject } from '../../engine/index.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { loadWorld } from '../../engine/loader.ts';
import { psubscribeWhenReady } from '../../engine/redisClient.ts';
import { generateWorld } from '../seed/generate.ts';
import { openingNowOf, walkCandidate, type WalkOp } from './engineWalk.ts';

export interface EngineSurgeOptions {
  readonly candidates: number;
  readonly provinces: number;
  /** Candidates walking at once. */
  readonly concurrency: number;
  readonly seed: number;
}

/** Returns the exit code: 0 when the invariants hold, 1 on any violation. */
export async function runEngineSurge(options: EngineSurgeOptions): Promise<number> {
  const { candidates: CANDIDATES, concurrency: CONCURRENCY } = options;
  const histograms = new Map<WalkOp, Histogram>();
  const outcomes = new Map<string, number>();
  const timed = async <T>(op: WalkOp, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    let histogram = histograms.get(op);
    if (!histogram) histograms.set(op, (histogram = buildHistogram({ numberOfSignificantValueDigits: 3 })));
    histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
    return result;
  };
  const count = (key: string): void => {
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  };

  const began = performance.now();
  console.log(
    'starting the stack (private redis-server + PostgreSQL unless REDIS_URL / DATABASE_URL are set)…',
  );
  const stack = await startStack();
  try {
    const pg = createPool(stack.databaseUrl);
    const { applied } = await migrate(pg);
    await pg.end();
    console.log(`PostgreSQL migrated (${applied.length} migrations applied)`);

    const generated = generateWorld({
      candidates: CANDIDATES,
      provinces: options.provinces,
      seed: options.seed,
    });
    const { world } = generated;
    const redis = new Redis(stack.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
    const engine = new Engine(redis, { namespace: 'demo' });
    const openingNow = openingNowOf(world);
    const loaded = await loadWorld(engine, world, openingNow);
    const provinces = world.calendar.map((c) => c.provinceCode);
    console.log(
      `world: ${provinces.length} provinces, ${loaded.campuses} campuses, ${CANDIDATES} candidates (loaded in ${Math.round(loaded.elapsedMs)} ms)`,
    );

    // a dashboard's view: every seat change published by the scripts
    const subscriber = new Redis(stack.redisUrl);
    let seatMessages = 0;
    subscriber.on('pmessage', () => void seatMessages++);
    await psubscribeWhenReady(subscriber, engine.keys.seatChannelPattern());

    const roster = [...generated.roster()];
    const fees = world.fees;
    let next = 0;
    let done = 0;
    const surgeStarted = performance.now();
    const progress = setInterval(() => {
      const seconds = (performance.now() - surgeStarted) / 1000;
      process.stderr.write(
        `\r  surge: ${done}/${roster.length} candidates, ${Math.round(done / seconds)}/s   `,
      );
    }, 500);
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < roster.length) {
          const entry = roster[next++]!;
          const now = openingNow + Math.floor(Math.random() * 60_000);
          if (await walkCandidate(engine, entry, fees, now, { timed, count })) done++;
        }
      }),
    );
    clearInterval(progress);
    const surgeSeconds = (performance.now() - surgeStarted) / 1000;
    process.stderr.write('\n');

    // twelve hours later: the sweeper releases every unpaid hold (R22)
    const later = openingNow + 12 * HOUR_MS + 2 * 60_000;
    let released = 0;
    for (const province of provinces) released += (await expireDue(engine, province, later)).expired.length;
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the last seat messages arrive

    const report = await checkInvariants(engine, provinces);
    const seats = (await Promise.all(provinces.map((p) => engine.seatCounts(p)))).flat();
    const subjectTotals = (subject: Subject) =>
      seats
        .filter((s) => s.subject === subject)
        .reduce((sum, s) => ({ used: sum.used + s.used, capacity: sum.capacity + s.capacity }), {
          used: 0,
          capacity: 0,
        });
    const latency = Object.fromEntries(
      [...histograms].map(([op, h]) => [
        op,
        {
          count: h.totalCount,
          p50Ms: h.getValueAtPercentile(50) / 1000,
          p99Ms: h.getValueAtPercentile(99) / 1000,
          maxMs: h.maxValue / 1000,
        },
      ]),
    );
    const result = {
      candidates: CANDIDATES,
      provinces: provinces.length,
      concurrency: CONCURRENCY,
      surgeSeconds: Number(surgeSeconds.toFixed(2)),
      candidatesPerSec: Math.round(CANDIDATES / surgeSeconds),
      engineCallsPerSec: Math.round(
        [...histograms.values()].reduce((n, h) => n + h.totalCount, 0) / surgeSeconds,
      ),
      outcomes: Object.fromEntries([...outcomes].sort()),
      latency,
      releasedAfter12h: released,
      seatMessages,
      cet4: subjectTotals('CET4'),
      cetSet4: subjectTotals('CET-SET4'),
      invariants: {
        violations: report.violations,
        registrations: report.registrations,
        liveItems: report.liveItems,
      },
      totalSeconds: Number(((performance.now() - began) / 1000).toFixed(1)),
    };
    mkdirSync('reports/engine-surge', { recursive: true });
    writeFileSync('reports/engine-surge/engine-surge.json', `${JSON.stringify(result, null, 2)}\n`);
    console.log(`
opening surge (engine level): ${CANDIDATES} candidates in ${provinces.length} provinces, ${CONCURRENCY} in flight
  surge time            ${result.surgeSeconds} s  (${result.candidatesPerSec} candidates/s, ${result.engineCallsPerSec} engine calls/s)
  latency p50 / p99     ${Object.entries(latency)
    .map(([op, l]) => `${op} ${l.p50Ms}/${l.p99Ms} ms`)
    .join(', ')}
  outcomes              ${Object.entries(result.outcomes)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}
  after 12 h            ${released} unpaid holds released by the sweeper (R22)
  seats now used        CET4 ${result.cet4.used}/${result.cet4.capacity}, CET-SET4 ${result.cetSet4.used}/${result.cetSet4.capacity}
  dashboard messages    ${seatMessages} seat changes published
  invariants I1–I4      ${report.violations.length === 0 ? 'hold' : `VIOLATED (${report.violations.length})`} over ${report.registrations} registrations
  report                reports/engine-surge/engine-surge.json`);
    for (const violation of report.violations.slice(0, 20))
      console.error(`  ${violation.invariant}: ${violation.message}`);
    subscriber.disconnect();
    redis.disconnect();
    return report.violations.length === 0 ? 0 : 1;
  } finally {
    await stack.stop();
  }
}
