/**
 * The eligibility benchmark behind `npm run bench:eligibility`: where the eligibility CPU work
 * should run, and what the query costs end to end. Measures; asserts nothing.
 *  1. The CPU part (R3 identity check + ID HMAC + mask) inline on the main thread, on the worker
 *     pool one task per check, and batched (16, 64, 256 per task); the pool hop (an empty task's
 *     round trip, one at a time); the HMAC key carried in every task vs. read once per worker.
 *  2. `EligibilityService.query` end to end against a private PostgreSQL (devstack/) holding
 *     a generated roster (default 100k candidates, inserted by the test fixture's plain batched
 *     INSERT … unnest): pool + micro-batching, inline + micro-batching, inline unbatched; then again
 *     with an index on cet4_scores (id_hmac), which the migrations do not have yet.
 *  3. Logins/s: argon2id verifications on the pool (2 threads), if gateway/auth/passwords.ts exists.
 * Uses DATABASE_URL if set (a scratch database is created in it and dropped). The ID keys are the
 * development ones, handed to the pool's workers as workerData for the "key read once per worker"
 * variant.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { idKeysFromEnv } from '../../config/index.ts';
import { migrate } from '../../db/migrate.ts';
import { createPool, quoteIdent, type Pool } from '../../db/pool.ts';
import { insertCet4Scores, insertReference, insertRoster } from '../../db/sql/seedRows.ts';
import { startStack } from '../../devstack/stack.ts';
import type { IdentityInput } from '../../engine/eligibility.ts';
import { EligibilityService } from '../../gateway/eligibility.ts';
import {
  checkIdentityBatch,
  type CheckedIdentity,
  type EligibilityTask,
} from '../../gateway/workers/eligibility.worker.ts';
import { WorkerPool } from '../../gateway/workers/pool.ts';
import { generateWorld } from '../seed/generate.ts';
import { best, drive } from './drive.ts';

export interface EligibilityBenchOptions {
  readonly candidates: number;
  /** Identity checks per CPU measurement. */
  readonly checks: number;
  /** Queries per end-to-end measurement. */
  readonly queries: number;
  readonly inflight: number;
  /** Worker-pool threads. */
  readonly threads: number;
  readonly say: (line: string) => void;
}

const BATCH_SIZES = [16, 64, 256] as const;
/** The box may be shared (other builds, tests): each figure is the best of a few rounds, which is
 * the closest a noisy machine gets to the uncontended figure. Load averages go into the report. */
const ROUNDS = 3;

interface PasswordsModule {
  hashPassword(pool: WorkerPool, password: string): Promise<string>;
  verifyPassword(pool: WorkerPool, storedHash: string, password: string): Promise<boolean>;
}

function roundAll(figures: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(v)]));
}

/** The figures for reports/bench/eligibility.json, and the table the terminal shows. */
export async function runEligibilityBench(options: EligibilityBenchOptions) {
  const {
    candidates: CANDIDATES,
    checks: CHECKS,
    queries: QUERIES,
    inflight: INFLIGHT,
    threads: THREADS,
    say,
  } = options;
  const loadBefore = loadavg();

  const keys = idKeysFromEnv({ env: {}, allowDevelopmentKeys: true });
  const hmacKey = new Uint8Array(keys.hmacKey);

  say(`generating ${CANDIDATES} candidates`);
  const generated = generateWorld({ candidates: CANDIDATES, provinces: 31 });
  const entries = [...generated.roster()];
  const identities: IdentityInput[] = entries.map((e) => ({
    idType: e.idType,
    idNumber: e.idNumber,
    name: e.name,
  }));
  const identity = (i: number): IdentityInput => identities[i % identities.length]!;

  // ---------------------------------------------------------------------------------------------
  // 1. CPU part

  function inlineChecksPerSec(count: number): number {
    const chunk = 256;
    let sink = 0;
    const started = performance.now();
    for (let done = 0; done < count; done += chunk) {
      const items = Array.from({ length: Math.min(chunk, count - done) }, (_, k) => identity(done + k));
      sink += checkIdentityBatch(items, hmacKey).length;
    }
    const perSec = count / ((performance.now() - started) / 1000);
    if (sink !== count) throw new Error('inline check lost items');
    return perSec;
  }

  async function pooledChecksPerSec(
    workers: WorkerPool,
    batchSize: number,
    count: number,
    keyInTask: boolean,
  ): Promise<number> {
    const tasks = Math.ceil(count / batchSize);
    // Enough tasks in flight to keep every thread busy without hitting the bounded queue.
    const inflight = Math.min(512, Math.max(4 * workers.threads, Math.ceil(4096 / batchSize)));
    const perSec = await drive(tasks, inflight, async (t) => {
      const items = Array.from({ length: batchSize }, (_, k) => identity(t * batchSize + k));
      const task: EligibilityTask = keyInTask ? { items, hmacKey } : { items };
      const results = await workers.run<CheckedIdentity[]>('eligibility', task);
      if (results.length !== batchSize) throw new Error('pool lost items');
    });
    return perSec * batchSize;
  }

  async function hopMicros(workers: WorkerPool, rounds: number): Promise<{ mean: number; p50: number }> {
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const started = performance.now();
      await workers.run('eligibility', { items: [], hmacKey } satisfies EligibilityTask);
      samples.push((performance.now() - started) * 1000);
    }
    samples.sort((a, b) => a - b);
    return { mean: samples.reduce((a, b) => a + b, 0) / samples.length, p50: samples[samples.length >> 1]! };
  }

  say('CPU part: inline');
  inlineChecksPerSec(20_000); // warm-up (JIT)
  const inlineChecks = await best(ROUNDS, () => inlineChecksPerSec(CHECKS));

  // the "key read once per worker" variant: each worker reads it from its workerData when it starts
  const workers = new WorkerPool({ threads: THREADS, workerData: { hmacKey } });
  say(`CPU part: pool with ${workers.threads} threads`);
  await pooledChecksPerSec(workers, 64, 20_000, true); // warm-up: threads started, modules loaded
  const hop = await hopMicros(workers, 3_000);
  const perTaskCount = Math.min(CHECKS, 50_000);
  const perTaskChecks = await best(ROUNDS, () => pooledChecksPerSec(workers, 1, perTaskCount, true));
  const perTaskChecksKeyOnce = await best(ROUNDS, () => pooledChecksPerSec(workers, 1, perTaskCount, false));
  const batched: Record<number, number> = {};
  for (const size of BATCH_SIZES)
    batched[size] = await best(ROUNDS, () => pooledChecksPerSec(workers, size, CHECKS, true));
  const batched64KeyOnce = await best(ROUNDS, () => pooledChecksPerSec(workers, 64, CHECKS, false));
  const bestBatchSize = BATCH_SIZES.reduce((best, size) => (batched[size]! > batched[best]! ? size : best));

  // ---------------------------------------------------------------------------------------------
  // 2. End to end with PostgreSQL

  const stack = await startStack({ redis: false, quiet: true });
  const scratchName = `bench_eligibility_${randomBytes(4).toString('hex')}`;
  const admin = createPool(stack.databaseUrl, { max: 1, applicationName: 'bench-eligibility:admin' });
  await admin.query(`CREATE DATABASE ${quoteIdent(scratchName)}`);
  const scratchUrl = new URL(stack.databaseUrl);
  scratchUrl.pathname = `/${scratchName}`;
  const db: Pool = createPool(scratchUrl.toString(), { max: 8, applicationName: 'bench-eligibility' });

  let results: Record<string, unknown> = {};
  try {
    await migrate(db);
    say(`inserting ${entries.length} roster rows and their CET4 scores`);
    const insertStarted = performance.now();
    await insertReference(db, generated.world);
    const rosterRows = await insertRoster(db, keys, entries);
    const scoreRows = await insertCet4Scores(db, keys, generated.cet4Scores());
    await db.query('ANALYZE');
    const insertSeconds = (performance.now() - insertStarted) / 1000;
    say(`inserted ${rosterRows} roster rows, ${scoreRows} scores in ${insertSeconds.toFixed(1)} s`);

    // 90% real candidates, 10% a wrong name (CANDIDATE_NOT_FOUND): both cost a full lookup.
    const queryInput = (i: number): IdentityInput => {
      const k = (i * 7_919) % identities.length;
      const base = identities[k]!;
      return i % 10 === 9 ? { ...base, name: `${base.name}甲` } : base;
    };
    const measure = async (service: EligibilityService, count: number): Promise<number> => {
      await drive(2_000, INFLIGHT, (i) => service.query(queryInput(i))); // warm-up
      let found = 0;
      const perSec = await drive(count, INFLIGHT, async (i) => {
        const answer = await service.query(queryInput(i));
        if (answer.ok) found++;
      });
      if (found < count * 0.85) throw new Error(`only ${found} of ${count} queries found their candidate`);
      return perSec;
    };
    const services = {
      poolBatched: new EligibilityService({ mode: 'pool', pool: workers, db, hmacKey: keys.hmacKey }),
      inlineBatched: new EligibilityService({ mode: 'inline', db, hmacKey: keys.hmacKey }),
      inlineUnbatched: new EligibilityService({
        mode: 'inline',
        db,
        hmacKey: keys.hmacKey,
        batch: { maxItems: 1 },
      }),
    };
    const endToEnd = async (label: string): Promise<Record<string, number>> => {
      const figures: Record<string, number> = {};
      for (const [name, service] of Object.entries(services)) {
        say(`query end to end (${label}): ${name}`);
        figures[name] = await measure(
          service,
          name === 'inlineUnbatched' ? Math.min(QUERIES, 30_000) : QUERIES,
        );
      }
      return figures;
    };
    const asMigrated = await endToEnd('schema as migrated');
    say('adding cet4_scores (id_hmac) index in the scratch database (not in the migrations)');
    await db.query('CREATE INDEX cet4_scores_id_hmac_bench_idx ON cet4_scores (id_hmac) INCLUDE (score)');
    await db.query('ANALYZE cet4_scores');
    const withIndex = await endToEnd('with cet4_scores (id_hmac) index');

    results = { rosterRows, scoreRows, insertSeconds, asMigrated, withIndex };
  } finally {
    await db.end();
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(scratchName)} WITH (FORCE)`);
    await admin.end();
    await stack.stop();
  }

  // ---------------------------------------------------------------------------------------------
  // 3. Logins (KDF verifications) on the pool

  let loginsPerSec: number | null = null;
  const passwordsUrl = new URL('../../gateway/auth/passwords.ts', import.meta.url);
  if (existsSync(passwordsUrl)) {
    const passwords = (await import(passwordsUrl.href)) as PasswordsModule;
    const loginPool = new WorkerPool({ threads: 2 });
    try {
      const stored = await passwords.hashPassword(loginPool, 'correct horse 42');
      say('logins: argon2id verifications on 2 pool threads');
      await drive(8, 4, () => passwords.verifyPassword(loginPool, stored, 'correct horse 42')); // warm-up
      loginsPerSec = await drive(200, 8, async () => {
        if (!(await passwords.verifyPassword(loginPool, stored, 'correct horse 42')))
          throw new Error('verify failed');
      });
    } finally {
      await loginPool.close();
    }
  }
  await workers.close();

  // ---------------------------------------------------------------------------------------------
  // Report

  const e2e = results as {
    rosterRows: number;
    scoreRows: number;
    insertSeconds: number;
    asMigrated: Record<string, number>;
    withIndex: Record<string, number>;
  };
  const report = {
    at: new Date().toISOString(),
    machine: {
      cpus: availableParallelism(),
      node: process.version,
      loadAverage1mBefore: Math.round(loadBefore[0]! * 100) / 100,
      loadAverage1mAfter: Math.round(loadavg()[0]! * 100) / 100,
    },
    options: {
      candidates: CANDIDATES,
      checks: CHECKS,
      queries: QUERIES,
      inflight: INFLIGHT,
      threads: THREADS,
    },
    inlineChecksPerSec: Math.round(inlineChecks),
    pooledPerTaskChecksPerSec: Math.round(perTaskChecks),
    pooledBatchedChecksPerSec: Math.round(batched[bestBatchSize]!),
    bestBatchSize,
    // The median: one empty task at a time, so the mean mostly measures the neighbours' load.
    poolHopMicros: Math.round(hop.p50 * 10) / 10,
    queryPerSec: Math.round(e2e.asMigrated.poolBatched!),
    loginsPerSec: loginsPerSec === null ? null : Math.round(loginsPerSec),
    details: {
      poolHopMeanMicros: Math.round(hop.mean * 10) / 10,
      pooledBatchedChecksPerSecBySize: Object.fromEntries(
        BATCH_SIZES.map((s) => [s, Math.round(batched[s]!)]),
      ),
      hmacKeyInEveryTask: { perTask: Math.round(perTaskChecks), batch64: Math.round(batched[64]!) },
      hmacKeyOncePerWorker: {
        perTask: Math.round(perTaskChecksKeyOnce),
        batch64: Math.round(batched64KeyOnce),
      },
      queryPerSecSchemaAsMigrated: roundAll(e2e.asMigrated),
      queryPerSecWithCet4ScoresIdHmacIndex: roundAll(e2e.withIndex),
      rosterRows: e2e.rosterRows,
      cet4ScoreRows: e2e.scoreRows,
      insertSeconds: Math.round(e2e.insertSeconds * 10) / 10,
    },
  };

  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  const rows: [string, string][] = [
    ['CPU part inline (checks/s)', fmt(inlineChecks)],
    ['pool, 1 check per task (checks/s)', fmt(perTaskChecks)],
    ...BATCH_SIZES.map((s): [string, string] => [`pool, ${s} checks per task (checks/s)`, fmt(batched[s]!)]),
    ['pool hop, empty task round trip (µs, p50 / mean)', `${hop.p50.toFixed(1)} / ${hop.mean.toFixed(1)}`],
    [
      'key once per worker: per task / batch 64 (checks/s)',
      `${fmt(perTaskChecksKeyOnce)} / ${fmt(batched64KeyOnce)}`,
    ],
    ...Object.entries(e2e.asMigrated).map(([k, v]): [string, string] => [
      `query e2e ${k} (queries/s)`,
      fmt(v),
    ]),
    ...Object.entries(e2e.withIndex).map(([k, v]): [string, string] => [
      `query e2e ${k}, + cet4_scores(id_hmac) index (queries/s)`,
      fmt(v),
    ]),
    ['logins (argon2id verify, 2 threads) (/s)', loginsPerSec === null ? '—' : fmt(loginsPerSec)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const summary = [
    `\nEligibility benchmark (${report.machine.cpus} CPUs, ${CANDIDATES} candidates, ` +
      `load average ${report.machine.loadAverage1mBefore} before / ${report.machine.loadAverage1mAfter} after)`,
    ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value.padStart(12)}`),
    ...(loginsPerSec === null ? ['  login figure: not measured (passwords module missing)'] : []),
    '\nwritten: reports/bench/eligibility.json',
  ].join('\n');
  return { report, summary };
}
