/**
 * The two systems a reservation race can run against, started the same way on the same stack:
 * the engine (scripts/start.ts in its own process, TEST_MODE off as in production) and the
 * conventional baseline (scripts/baseline.ts under node:cluster, one worker per core). Each comes
 * with its own pre-seeded, bound sessions (one per request of the race) and its invariant check.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { environmentWith } from '../../config/index.ts';
import { Engine } from '../../engine/engine.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { openRedis } from '../../engine/redisClient.ts';
import { createPool } from '../../db/pool.ts';
import { freePort } from '../../devstack/ports.ts';
import { checkBaselineInvariants, migrateBaseline, seedBaseline } from '../baseline/index.ts';
import type { InvariantVerdict } from '../report/types.ts';
import { seedReserveWorld } from './reserveWorld.ts';
import { ONE_ADDRESS_LIMITS, spawnHelper, spawnSystem, stopChild } from './system.ts';

export interface RaceTarget {
  readonly name: 'engine' | 'baseline';
  readonly base: string;
  readonly tokens: readonly string[];
  readonly campusIds: readonly string[];
  /** Threads (engine) or worker processes (baseline) serving the port. */
  readonly cores: number;
  /** The serving process (its threads and child processes are all its CPU: loadtest/cpu.ts). */
  readonly pid: number;
  /** The engine's app threads' OS ids, and its writer's and sweeper's processes when separate. */
  readonly parts?: {
    readonly appThreadIds: readonly number[];
    readonly writerPid: number | null;
    readonly sweeperPid: number | null;
  };
  verdict(): Promise<InvariantVerdict>;
  stop(): Promise<void>;
}

export interface TargetOptions {
  readonly redisUrl: string;
  /** A Redis Cluster's seed nodes (REDIS_CLUSTER_NODES) for the engine; the baseline needs no Redis. */
  readonly redisClusterNodes?: string;
  readonly databaseUrl: string;
  readonly candidates: number;
  readonly campuses: number;
  readonly capacityPerCampus: Readonly<Record<string, number>>;
  /** Extra environment for the engine's process (e.g. MAX_IN_FLIGHT for the overload run). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * The engine's writer and sweeper in processes of their own (`npm run writer`, `npm run
   * sweeper`), so that a benchmark reads each one's CPU apart from the gateway's.
   */
  readonly separateWriterAndSweeper?: boolean;
  readonly log?: (line: string) => void;
}

const NAMESPACE = 'race';

export async function startEngineTarget(options: TargetOptions): Promise<RaceTarget> {
  const env: NodeJS.ProcessEnv = {
    REDIS_URL: options.redisUrl,
    REDIS_CLUSTER_NODES: options.redisClusterNodes ?? '',
    DATABASE_URL: options.databaseUrl,
    KEY_NAMESPACE: NAMESPACE,
    TEST_MODE: '0',
    ADMIN_TOKEN: 'race-admin-token-0123456789',
    // outside TEST_MODE the development keys are refused; the race's world holds no ID numbers
    ID_HMAC_KEY: randomBytes(32).toString('hex'),
    ID_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    MAX_IN_FLIGHT: '100000',
    ...ONE_ADDRESS_LIMITS,
    RATE_RESERVE_PER_ACCOUNT_PER_MINUTE: '1000000',
    ...options.env,
  };
  const separate = options.separateWriterAndSweeper ?? false;
  const system = await spawnSystem(separate ? { ...env, START_WRITER: '0', START_SWEEPER: '0' } : env);
  // after the system, whose start has run the migrations the writer relies on
  const helpers = separate ? [spawnHelper('writer', env), spawnHelper('sweeper', env)] : [];
  const stopAll = async () => {
    await system.stop();
    await Promise.all(helpers.map((helper) => helper.stop()));
  };
  const redis = openRedis(
    { redisUrl: options.redisUrl, redisClusterNodes: options.redisClusterNodes ?? '' },
    { enableAutoPipelining: true, maxRetriesPerRequest: null },
  );
  const engine = new Engine(redis, { namespace: NAMESPACE });
  const db = createPool(options.databaseUrl, { max: 8, applicationName: 'loadtest:engine-target' });
  try {
    options.log?.(`engine: seeding ${options.candidates} bound sessions…`);
    const { tokens, campusIds } = await seedReserveWorld({
      redis,
      engine,
      db,
      namespace: NAMESPACE,
      candidates: options.candidates,
      campuses: options.campuses,
      capacityPerCampus: options.capacityPerCampus,
      now: Date.now(),
    });
    return {
      name: 'engine',
      base: system.base,
      tokens,
      campusIds,
      cores: system.threads || availableParallelism(),
      pid: system.pid,
      parts: {
        appThreadIds: system.appThreadIds,
        writerPid: helpers[0]?.pid ?? null,
        sweeperPid: helpers[1]?.pid ?? null,
      },
      async verdict() {
        const report = await checkInvariants(engine, ['11']);
        return {
          ok: report.violations.length === 0,
          violations: report.violations.map((v) => `${v.invariant}: ${v.message}`),
          checked: {
            registrations: report.registrations,
            liveItems: report.liveItems,
            seatsUsed: report.seatsUsed,
          },
        };
      },
      async stop() {
        await stopAll();
        redis.disconnect();
        await db.end();
      },
    };
  } catch (error) {
    await stopAll();
    redis.disconnect();
    await db.end();
    throw error;
  }
}

export async function startBaselineTarget(options: TargetOptions): Promise<RaceTarget> {
  const db = createPool(options.databaseUrl, { max: 4, applicationName: 'loadtest:baseline-target' });
  await migrateBaseline(db);
  options.log?.(`baseline: seeding ${options.candidates} bound sessions…`);
  const { tokens, campusIds } = await seedBaseline(db, {
    candidates: options.candidates,
    campuses: options.campuses,
    capacityPerCampus: { ...options.capacityPerCampus },
    now: Date.now(),
  });
  const port = await freePort();
  const workers = availableParallelism();
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/baseline.ts'], {
    env: environmentWith({ DATABASE_URL: options.databaseUrl, PORT: String(port), WORKERS: String(workers) }),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (String(chunk).includes('baseline ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the baseline exited (${code}) before it was ready`)));
    });
  } catch (error) {
    await db.end();
    throw error;
  }
  return {
    name: 'baseline',
    base: `http://127.0.0.1:${port}`,
    tokens,
    campusIds,
    cores: workers,
    pid: child.pid ?? 0,
    verdict: () => checkBaselineInvariants(db),
    async stop() {
      await stopChild(child);
      await db.end();
    },
  };
}
