/**
 * The files and processes of a sharded run (issue 15; the design is in shardRun.ts): run.json, the
 * shard processes started on this host, a report written, and the one store check of the merged run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { environmentWith } from '../../config/index.ts';
import { Engine } from '../../engine/engine.ts';
import { openRedis } from '../../engine/redisClient.ts';
import { createPool } from '../../db/pool.ts';
import { profiles, type ProfileName } from '../profiles.ts';
import { renderReportHtml } from '../report/html.ts';
import type { InvariantVerdict, RunReport } from '../report/types.ts';
import { judgeRun } from './verdict.ts';

/** What a coordinator writes as <out>/run.json before it starts the shards. */
export interface ShardedRunFile {
  readonly version: 1;
  readonly base: string;
  readonly otherBases: readonly string[];
  readonly redisUrl: string;
  readonly redisClusterNodes: string;
  readonly databaseUrl: string;
  readonly namespace: string;
  readonly adminToken: string;
  readonly provinceCode: string;
  readonly profile: ProfileName;
  readonly candidates: number;
  readonly durationS: number;
  readonly seed: number;
  readonly shards: number;
  readonly preseededSessions: boolean;
  readonly oralShare: number;
  readonly gatewayThreads: number;
  readonly poolThreads: number;
  /** Connections of the whole run: each shard opens its share. */
  readonly connections: number;
  readonly straggleTimeoutS: number;
  /** Tests and benches: the shards stop starting candidates this many seconds in (run.ts). */
  readonly stopStartingAfterS?: number;
  /** Hex: the key preseeded sessions' secrets are derived from (world.ts). */
  readonly sessionKey: string;
  /** Wall-clock instant (epoch ms) of t = 0 for every shard; 0: the coordinator says it on stdin. */
  readonly zeroAtMs: number;
}

export function readShardedRunFile(file: string): ShardedRunFile {
  let parsed: ShardedRunFile;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as ShardedRunFile;
  } catch (error) {
    throw new RangeError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (
    parsed?.version !== 1 ||
    typeof parsed.base !== 'string' ||
    typeof parsed.zeroAtMs !== 'number' ||
    !(parsed.profile in profiles) ||
    !Number.isInteger(parsed.shards)
  ) {
    throw new RangeError(`${file} is not a sharded run's run.json (version 1)`);
  }
  return parsed;
}

/** The stores a run file names: Redis (node or cluster), its engine, and PostgreSQL. */
function openRunStores(run: ShardedRunFile) {
  const redis = openRedis(
    { redisUrl: run.redisUrl, redisClusterNodes: run.redisClusterNodes },
    { enableAutoPipelining: true, maxRetriesPerRequest: null },
  );
  return {
    redis,
    engine: new Engine(redis, { namespace: run.namespace }),
    db: createPool(run.databaseUrl, { max: 4, applicationName: 'loadtest-judge' }),
  };
}

/** I1–I5 and the reconciliation, once, on the stores a sharded run drove. */
export async function judgeAttached(runFile: string): Promise<InvariantVerdict> {
  const run = readShardedRunFile(runFile);
  const stores = openRunStores(run);
  try {
    const verdict = await judgeRun({
      engine: stores.engine,
      db: stores.db,
      provinceCode: run.provinceCode,
      flowViolations: [],
      dashboards: null,
    });
    return { ok: verdict.ok, violations: verdict.violations, checked: verdict.checked };
  } finally {
    stores.redis.disconnect();
    await stores.db.end();
  }
}

/** <dir>/report.json and report.html. */
export function writeReport(dir: string, report: RunReport): { jsonPath: string; htmlPath: string } {
  mkdirSync(dir, { recursive: true });
  const jsonPath = path.join(dir, 'report.json');
  const htmlPath = path.join(dir, 'report.html');
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(htmlPath, renderReportHtml(report));
  return { jsonPath, htmlPath };
}

export interface SpawnedShards {
  /** Resolves once every shard has said READY (rejects if one exits first). */
  readonly ready: Promise<void>;
  /** Tells every shard its t = 0. */
  start(zeroAtMs: number): void;
  /** Resolves with the shards' reports, in shard order, once all have exited. */
  readonly done: Promise<RunReport[]>;
  stop(): void;
}

/**
 * Starts the n shard processes of a run file on this host (node --expose-gc, so their heap figures
 * are read after a full GC), forwarding their progress: every line but the per-second progress,
 * which only the lowest shard still running forwards.
 */
export function spawnShards(
  runFile: string,
  count: number,
  out: string,
  say: (line: string) => void,
  maxWalking?: number,
): SpawnedShards {
  const children: ChildProcess[] = [];
  const readies: Promise<void>[] = [];
  const exits: Promise<RunReport>[] = [];
  /** Shards still running: the lowest one's per-second progress is forwarded. */
  const running = new Set(Array.from({ length: count }, (_, i) => i + 1));
  for (let index = 1; index <= count; index++) {
    const dir = path.join(out, `shard-${index}`);
    rmSync(path.join(dir, 'report.json'), { force: true });
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        '--max-semi-space-size=64',
        '--max-old-space-size=16384',
        '--import',
        'tsx',
        'scripts/loadtest.ts',
        '--shard',
        `${index}/${count}`,
        '--attach',
        runFile,
        '--out',
        dir,
        ...(maxWalking !== undefined ? ['--max-walking', String(maxWalking)] : []),
      ],
      // the node flags are the ones above, not the coordinator's NODE_OPTIONS
      { stdio: ['pipe', 'pipe', 'pipe'], env: environmentWith({ NODE_OPTIONS: '' }) },
    );
    children.push(child);
    let readyResolve: () => void = () => undefined;
    let readyReject: (error: Error) => void = () => undefined;
    readies.push(
      new Promise<void>((resolve, reject) => {
        readyResolve = resolve;
        readyReject = reject;
      }),
    );
    const forward = (line: string): void => {
      if (!line.startsWith('t=') || index === Math.min(...running)) say(`[shard ${index}] ${line}`);
    };
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'READY') readyResolve();
      else forward(line);
    });
    createInterface({ input: child.stderr }).on('line', forward);
    exits.push(
      new Promise<RunReport>((resolve, reject) => {
        child.on('exit', (code, signal) => {
          running.delete(index);
          readyReject(new Error(`shard ${index} exited (${code ?? signal}) before it was ready`));
          try {
            resolve(JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as RunReport);
          } catch {
            reject(new Error(`shard ${index} exited (${code ?? signal}) without a report`));
          }
        });
      }),
    );
  }
  const done = Promise.all(exits);
  // handled here too: a shard that dies while the coordinator awaits something else must not be an
  // unhandled rejection (the process would end at once and leave the system under test running)
  done.catch(() => undefined);
  return {
    ready: Promise.all(readies).then(() => undefined),
    start(zeroAtMs) {
      for (const child of children) child.stdin?.write(`START ${zeroAtMs}\n`);
    },
    done,
    stop() {
      for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}
