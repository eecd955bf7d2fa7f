/**
 * The writer benchmark (P6: ≥ 50k events/s into PostgreSQL, lag p99 < 2 s) behind `npm run
 * bench:writer`. Measures, asserts nothing; its report ({eventsPerSec, lagP99Ms} of the best
 * configuration, plus the details) goes to reports/bench/writer.json.
 *  1. Throughput: N candidates of four provinces (four streams) bound and holding a written seat
 *     (2N events: BOUND + HELD, with their projections) are produced once through the engine; then,
 *     for each batch size (1, 100, 1000, 5000) and for 4 lanes (concurrent transactions, streams
 *     spread over them), a fresh consumer group drains the same entries into emptied tables
 *     (events + projections, one transaction per batch and lane, XACK after COMMIT): events/s. Batch size 1 is run on
 *     the first --small entries only (it is slow by construction). Each batch's events go in with
 *     array parameters (unnest) or, in the COPY rows, COPY into a staging table then the same
 *     INSERT … ON CONFLICT (the writer's `insertWith: 'copy'`); projections are the same.
 *  2. Lag under sustained engine load: the writer (best batch size) runs while the engine binds and
 *     reserves for --seconds; lag of an event = COMMIT time − its stream entry time (the entry id's
 *     milliseconds, stamped by Redis on the same host); p50 / p99 / max.
 * Uses REDIS_URL / DATABASE_URL if set, else a private Redis and PostgreSQL.
 */
import os from 'node:os';
import { Redis } from 'ioredis';
import { migrate } from '../../db/migrate.ts';
import { createPool, type Pool } from '../../db/pool.ts';
import { StreamWriter } from '../../db/writer.ts';
import { startStack } from '../../devstack/stack.ts';
import { Engine, WRITER_GROUP, bind } from '../../engine/index.ts';
import type { Campus } from '../../engine/world.ts';
import { cpuPerUnit, sampleProcesses } from '../cpu.ts';

export interface WriterBenchOptions {
  /** Candidates whose events (BOUND + HELD) every configuration drains. */
  readonly candidates: number;
  /** Entries drained at batch size 1 (slow by construction). */
  readonly small: number;
  /** Length of the sustained-load run. */
  readonly seconds: number;
  /** Engine calls in flight while producing. */
  readonly inflight: number;
  /** Each configuration this many times in rotation, the median reported (this VM's speed drifts). */
  readonly repeat: number;
  /** Only the configurations whose name contains this (e.g. "copy"); '' for all. */
  readonly only: string;
}

const NOW = Date.UTC(2026, 2, 1, 9);
const SUSTAINED_MAX = 400_000;

/** Candidates are spread over four provinces (four streams), as a real surge is. */
const PROVINCES = ['11', '12', '13', '14'] as const;
/** One campus per province, with a seat for every candidate of both runs. */
const campusesFor = (candidates: number): Campus[] =>
  PROVINCES.map((code) => ({
    campusId: `BW${code}`,
    name: `Bench campus ${code}`,
    provinceCode: code,
    schoolId: `SBW${code}`,
    studentsMayTakeOralElsewhere: true,
    capacity: { CET4: candidates + SUSTAINED_MAX },
    oralOpens: { ownSchoolAt: NOW, provinceWideAt: NOW },
  }));

async function seed(
  db: Pool,
  campuses: readonly Campus[],
  prefix: string,
  from: number,
  to: number,
): Promise<void> {
  for (const campus of campuses) {
    const code = campus.provinceCode;
    await db.query(`INSERT INTO provinces VALUES ($1, 'P' || $1) ON CONFLICT DO NOTHING`, [code]);
    await db.query(`INSERT INTO schools VALUES ($1, $1, $2) ON CONFLICT DO NOTHING`, [campus.schoolId, code]);
    await db.query(
      `INSERT INTO campuses (campus_id, name, province_code, school_id, students_may_take_oral_elsewhere, oral_own_school_opens_at)
       VALUES ($1, $1, $2, $3, true, now()) ON CONFLICT DO NOTHING`,
      [campus.campusId, code, campus.schoolId],
    );
    await db.query(`INSERT INTO campus_capacity VALUES ($1, 'CET4', $2) ON CONFLICT DO NOTHING`, [
      campus.campusId,
      campus.capacity.CET4,
    ]);
  }
  // candidate n belongs to province PROVINCES[n % 4]
  await db.query(
    `INSERT INTO roster (candidate_id, id_type, id_hmac, id_masked, name, name_normalised, province_code, school_id, campus_id, grade)
     SELECT $1 || n, 'RESIDENT_ID', sha256(convert_to($1 || n, 'UTF8')), 'm', 'N', 'n', p, 'SBW' || p, 'BW' || p, '2024'
       FROM generate_series($2::int, $3::int - 1) n, LATERAL (SELECT ($4::text[])[n % 4 + 1] AS p) province
     ON CONFLICT DO NOTHING`,
    [prefix, from, to, [...PROVINCES]],
  );
  await db.query(
    `INSERT INTO accounts (account_id, email, password_hash)
     SELECT 1000000 + n, 'b' || n || '@bench.test', 'x' FROM generate_series($1::int, $2::int - 1) n ON CONFLICT DO NOTHING`,
    [from, to],
  );
}

/** Binds candidates from..to-1 and holds a written seat for each (BOUND + HELD); returns how many. */
async function produce(
  engine: Engine,
  campuses: readonly Campus[],
  inflight: number,
  prefix: string,
  from: number,
  to: number,
  until = Infinity,
): Promise<number> {
  let next = from;
  let done = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < to && Date.now() < until) {
        const n = next++;
        const campus = campuses[n % campuses.length]!;
        const ref = {
          accountId: String(1_000_000 + n),
          provinceCode: campus.provinceCode,
          candidateId: `${prefix}${n}`,
        };
        const bound = await bind(engine, {
          ...ref,
          campusId: campus.campusId,
          snapshot: {
            name: 'N',
            idType: 'RESIDENT_ID',
            idMasked: 'm',
            schoolId: campus.schoolId,
            grade: '2024',
            eligibleSubjects: ['CET4'],
          },
          now: NOW,
        });
        if (!bound.ok) throw new Error(`bind: ${bound.code}`);
        const held = await engine.reserveWritten({
          ...ref,
          subject: 'CET4',
          eligible: true,
          fee: 30,
          now: NOW + 1,
        });
        if (!held.ok) throw new Error(`reserve: ${held.code}`);
        done++;
      }
    }),
  );
  return done;
}

async function emptyTables(db: Pool): Promise<void> {
  await db.query(
    `TRUNCATE events, payment_order_items, payment_orders, registration_items, registrations, cet6_reviews`,
  );
}

const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export type WriterBenchReport = Awaited<ReturnType<typeof runWriterBench>>;

/** The report for reports/bench/writer.json. */
export async function runWriterBench(options: WriterBenchOptions) {
  const {
    candidates: CANDIDATES,
    small: SMALL,
    seconds: SECONDS,
    inflight: INFLIGHT,
    repeat: REPEAT,
    only: ONLY,
  } = options;
  const CAMPUSES = campusesFor(CANDIDATES);
  const stack = await startStack({ quiet: true });
  const redis = new Redis(stack.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
  const db = createPool(stack.databaseUrl, { max: 8, applicationName: 'bench-writer' });
  db.on('error', () => undefined);
  const namespace = `bw${Date.now().toString(36)}`;
  const engine = new Engine(redis, { namespace });
  try {
    await migrate(db);
    await emptyTables(db);
    await seed(db, CAMPUSES, 'b', 0, CANDIDATES + SUSTAINED_MAX);
    for (const campus of CAMPUSES) {
      await engine.setCalendar(
        {
          provinceCode: campus.provinceCode,
          registrationOpensAt: NOW - 3_600_000,
          registrationClosesAt: NOW + 7 * 86_400_000,
        },
        NOW,
      );
      const upsert = await engine.upsertCampus(campus, NOW);
      if (!upsert.ok) throw new Error(upsert.code);
    }
    const streams = engine.keys.allStreams([...PROVINCES]);
    const provinceStreams = PROVINCES.map((code) => engine.keys.province(code).stream);

    process.stderr.write(`producing ${2 * CANDIDATES} events through the engine...\n`);
    const producedAt = performance.now();
    await produce(engine, CAMPUSES, INFLIGHT, 'b', 0, CANDIDATES);
    const produceSeconds = (performance.now() - producedAt) / 1000;
    let total = 0;
    for (const stream of provinceStreams) total += await redis.xlen(stream);

    interface Row {
      config: string;
      insertWith: 'unnest' | 'copy';
      batchSize: number;
      lanes: number;
      events: number;
      seconds: number;
      eventsPerSec: number;
      /** CPU per event written, µs: the writer (this process), PostgreSQL, Redis, the whole box. */
      cpuMicrosPerEvent?: Record<string, number>;
    }
    const rows: Row[] = [];
    // `loops`: the lanes as the running writer has them (start(): a loop per lane, each reading its
    // own streams), instead of drainOnce's lanes that wait for each other at every batch
    const configs: { batchSize: number; lanes: number; insertWith?: 'unnest' | 'copy'; loops?: boolean }[] = [
      { batchSize: 1, lanes: 1 },
      { batchSize: 100, lanes: 1 },
      { batchSize: 1000, lanes: 1 },
      { batchSize: 5000, lanes: 1 },
      { batchSize: 1000, lanes: 4 },
      { batchSize: 5000, lanes: 4 },
      { batchSize: 5000, lanes: 1, insertWith: 'copy' },
      { batchSize: 5000, lanes: 4, insertWith: 'copy' },
      { batchSize: 5000, lanes: 4, insertWith: 'copy', loops: true },
    ];
    const nameOf = ({ batchSize, lanes, insertWith = 'unnest', loops }: (typeof configs)[number]): string =>
      `${insertWith}, batch ${batchSize}${lanes > 1 ? `, ${lanes} lanes` : ''}${loops ? ' (own loops)' : ''}`;
    const chosen = configs.filter((config) => nameOf(config).includes(ONLY));
    const runs = new Map<string, Row[]>();
    for (let round = 0; round < REPEAT; round++) {
      for (const config of chosen) {
        const { batchSize, lanes, insertWith = 'unnest' } = config;
        await emptyTables(db);
        const group = `bench-${insertWith}-${batchSize}-${lanes}${config.loops ? '-loops' : ''}-${round}`;
        const limit = batchSize === 1 ? Math.min(SMALL, total) : total;
        for (const stream of provinceStreams) await redis.xgroup('CREATE', stream, group, '0');
        const writer = new StreamWriter(redis, db, {
          streams: provinceStreams,
          group,
          consumer: 'bench',
          batchSize,
          lanes,
          insertWith,
          retainMs: 3_600_000,
        });
        const cpuBefore = sampleProcesses();
        const started = performance.now();
        let written = 0;
        if (config.loops) {
          writer.start();
          while (writer.current.written + writer.current.duplicates < limit) {
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          written = writer.current.written + writer.current.duplicates;
        } else {
          while (written < limit) {
            const n = await writer.drainOnce('>');
            if (n === 0) break;
            written += n;
          }
        }
        const seconds = (performance.now() - started) / 1000;
        const cpuAfter = sampleProcesses();
        await writer.stop();
        if (writer.current.deadLetters > 0) throw new Error(`dead letters in batch ${batchSize}`);
        const name = nameOf(config);
        runs.set(name, [
          ...(runs.get(name) ?? []),
          {
            config: name,
            batchSize,
            lanes,
            insertWith,
            events: written,
            seconds,
            eventsPerSec: Math.round(written / seconds),
            cpuMicrosPerEvent: cpuPerUnit(
              cpuBefore,
              cpuAfter,
              { writer: process.pid, postgres: stack.postgres?.pid, redis: stack.redis?.pid },
              written,
            ),
          },
        ]);
        process.stderr.write(`${name}: ${written} events in ${seconds.toFixed(2)} s\n`);
      }
    }
    for (const measured of runs.values()) {
      const sorted = [...measured].sort((a, b) => a.eventsPerSec - b.eventsPerSec);
      rows.push(sorted[Math.floor((sorted.length - 1) / 2)]!);
    }
    const best = rows.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a));

    // lag under sustained load
    await emptyTables(db);
    for (const stream of streams) await redis.xgroup('CREATE', stream, WRITER_GROUP, '$', 'MKSTREAM');
    const lags: number[] = [];
    const writer = new StreamWriter(redis, db, {
      streams,
      consumer: 'bench-live',
      batchSize: best.batchSize,
      lanes: best.lanes,
      insertWith: best.insertWith,
      idleMs: 50,
      onCommitted: (ids, committedAt) => {
        for (const id of ids) lags.push(committedAt - Number(id.slice(0, id.indexOf('-'))));
      },
    });
    writer.start();
    const loadStarted = performance.now();
    const candidatesLoaded = await produce(
      engine,
      CAMPUSES,
      INFLIGHT,
      'b',
      CANDIDATES,
      CANDIDATES + SUSTAINED_MAX,
      Date.now() + SECONDS * 1000,
    );
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const expected = 2 * candidatesLoaded;
    const deadline = Date.now() + 60_000;
    while (lags.length < expected && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await writer.stop();
    const sorted = Float64Array.from(lags).sort();
    const sustained = {
      seconds: Number(loadSeconds.toFixed(1)),
      engineEventsPerSec: Math.round(expected / loadSeconds),
      eventsWritten: lags.length,
      lagP50Ms: percentile(sorted, 50),
      lagP99Ms: percentile(sorted, 99),
      lagMaxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : 0,
    };

    const report = {
      at: new Date().toISOString(),
      machine: { cpus: os.cpus().length, node: process.version, loadAverage1m: os.loadavg()[0] },
      eventsPerSec: best.eventsPerSec,
      lagP99Ms: sustained.lagP99Ms,
      bestBatchSize: best.batchSize,
      bestLanes: best.lanes,
      events: 'BOUND + HELD per candidate, with projections (registrations, registration_items)',
      produced: { events: total, seconds: Number(produceSeconds.toFixed(1)) },
      throughput: rows.map((row) => ({ ...row, seconds: Number(row.seconds.toFixed(2)) })),
      bestInsertWith: best.insertWith,
      // P6 (issue 13): the best configuration's CPU per event, writer and PostgreSQL
      cpuPerEventUs: best.cpuMicrosPerEvent
        ? { writer: best.cpuMicrosPerEvent.writer ?? null, postgres: best.cpuMicrosPerEvent.postgres ?? null }
        : null,
      sustained,
      targets: { eventsPerSec: 50_000, lagP99Ms: 2_000, cpuPerEventUs: 40 },
    };
    return report;
  } finally {
    redis.disconnect();
    await db.end();
    await stack.stop();
  }
}

/** The tables the terminal shows. */
export function printWriterBench(report: WriterBenchReport): void {
  console.log('\nwriter throughput (events + projections into PostgreSQL, one transaction per batch)');
  console.table(
    report.throughput.map((row) => ({
      config: row.config,
      events: row.events,
      seconds: row.seconds.toFixed(2),
      'events/s': row.eventsPerSec,
      'CPU µs/event (writer · PostgreSQL · Redis · box)': row.cpuMicrosPerEvent
        ? ['writer', 'postgres', 'redis', 'box'].map((k) => row.cpuMicrosPerEvent![k]).join(' · ')
        : '',
    })),
  );
  console.log(
    'lag under sustained engine load (%s, batch size %d, %d lanes)',
    report.bestInsertWith,
    report.bestBatchSize,
    report.bestLanes,
  );
  console.table([report.sustained]);
  console.log(
    `P6: ≥ 50,000 events/s → ${report.eventsPerSec}; lag p99 < 2,000 ms → ${report.sustained.lagP99Ms} ms`,
  );
}
