/**
 * The verdict after a surge: waits for the writer to drain the province's outbox streams, then
 * checks I1–I4 over everything in Redis (engine/invariants.ts), I5 by reconciling Redis with
 * PostgreSQL (db/reconcile.ts, no repair: drift is a violation), plus what the flow itself saw
 * (an Idempotency-Key replay that did not return the first answer) and whether every dashboard
 * converged to Redis's final seat counts (API.md: "the last state always arrives").
 */
import type { Engine } from '../../engine/engine.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { PROVINCE_CODES } from '../../engine/provinces.ts';
import type { Pool } from '../../db/pool.ts';
import { reconcile } from '../../db/reconcile.ts';
import { WRITER_GROUP } from '../../engine/outbox.ts';
import { xinfoGroups, type RedisClient } from '../../engine/redisClient.ts';
import type { InvariantVerdict } from '../report/types.ts';
import type { Dashboards } from './dashboards.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Entries of `streams` the writer group has not acknowledged yet (undelivered + pending). */
export async function writerBacklog(redis: RedisClient, streams: readonly string[]): Promise<number> {
  let backlog = 0;
  for (const stream of streams) {
    const length = await redis.xlen(stream);
    if (length === 0) continue;
    const groups = (await xinfoGroups(redis, stream).catch(() => [])) as unknown[][];
    const group = groups
      .map((fields) => Object.fromEntries(chunkPairs(fields)))
      .find((g) => g.name === WRITER_GROUP);
    if (!group) {
      backlog += length;
      continue;
    }
    backlog += Number(group.pending ?? 0) + Number(group.lag ?? length);
  }
  return backlog;
}

function chunkPairs(fields: unknown[]): [string, unknown][] {
  const pairs: [string, unknown][] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) pairs.push([String(fields[i]), fields[i + 1]]);
  return pairs;
}

export interface JudgeOptions {
  readonly engine: Engine;
  readonly db: Pool;
  readonly provinceCode: string;
  readonly flowViolations: readonly string[];
  readonly dashboards?: Dashboards | null;
  /** How long to wait for the writer to catch up before reconciling (default 60 s). */
  readonly drainTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

export async function judgeRun(options: JudgeOptions): Promise<InvariantVerdict & { drainMs: number }> {
  const { engine, db, provinceCode } = options;
  const log = options.log ?? (() => undefined);
  const redis = engine.redis;
  const streams = engine.keys.allStreams(PROVINCE_CODES);
  const drainStarted = performance.now();
  const deadline = drainStarted + (options.drainTimeoutMs ?? 60_000);
  let backlog = await writerBacklog(redis, streams);
  while (backlog > 0 && performance.now() < deadline) {
    await sleep(250);
    backlog = await writerBacklog(redis, streams);
  }
  const drainMs = Math.round(performance.now() - drainStarted);
  log(`writer drained in ${drainMs} ms (backlog ${backlog})`);

  const violations: string[] = [];
  const checked: Record<string, number> = {};
  const report = await checkInvariants(engine, [provinceCode]);
  for (const v of report.violations) violations.push(`${v.invariant}: ${v.message}`);
  checked.registrations = report.registrations;
  checked.liveItems = report.liveItems;
  checked.seatsUsed = report.seatsUsed;

  if (backlog > 0) violations.push(`I5: ${backlog} events still not in PostgreSQL after the drain timeout`);
  const drift = await reconcile(engine, db, { provinces: [provinceCode], streams });
  for (const d of drift.differences.slice(0, 50))
    violations.push(`I5: ${d.kind} ${d.key} differs between Redis and PostgreSQL`);
  if (drift.differences.length > 50)
    violations.push(`I5: … and ${drift.differences.length - 50} more differences`);
  for (const alert of drift.alerts) violations.push(`I5: dead letters in ${alert.key}`);
  checked.reconcileDifferences = drift.differences.length;

  for (const v of options.flowViolations.slice(0, 50)) violations.push(v);
  checked.flowViolations = options.flowViolations.length;

  if (options.dashboards) {
    const expected = new Map<string, number>();
    for (const seat of await engine.seatCounts(provinceCode)) {
      expected.set(`${seat.campusId}|${seat.subject}`, seat.remaining);
    }
    // the last state arrives within one coalescing window; allow a few
    let converged = 0;
    for (let i = 0; i < 20; i++) {
      converged = options.dashboards.converged(expected);
      if (converged === options.dashboards.connected) break;
      await sleep(250);
    }
    checked.dashboards = options.dashboards.connected;
    checked.dashboardsConverged = converged;
    if (converged !== options.dashboards.connected) {
      violations.push(
        `dashboards: ${options.dashboards.connected - converged} of ${options.dashboards.connected} never saw the final seat counts`,
      );
    }
  }
  return { ok: violations.length === 0, violations, checked, drainMs };
}
