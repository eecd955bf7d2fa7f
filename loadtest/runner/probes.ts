/**
 * The runner's probes and small helpers: the once-a-second sampler of seats and writer lag, which
 * seat series to chart, the per-second progress line, Redis's command and stream counters (for the
 * per-candidate figures), and the test-only planted oversell. Nothing here decides a verdict
 * (verdict.ts does).
 */
import type { Redis } from 'ioredis';
import type { Engine } from '../../engine/engine.ts';
import { outboxLag } from '../../engine/outboxLag.ts';
import { readRoom } from '../../engine/queue.ts';
import { admissionSummary } from '../../engine/queueControl.ts';
import { readThreadLoads } from '../../engine/queueKeeper.ts';
import type { RunRecorder } from './recorder.ts';
import type { KeeperSample } from '../report/types.ts';

/** The campuses worth a chart line: the 12 largest oral campuses (CET-SET4). */
export function trackedSeats(capacity: ReadonlyMap<string, number>): Set<string> {
  return new Set(
    [...capacity]
      .filter(([key]) => key.endsWith('|CET-SET4'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([key]) => key),
  );
}

export function pushPoint(
  series: Map<string, [number, number][]>,
  key: string,
  t: number,
  remaining: number,
): void {
  let points = series.get(key);
  if (!points) series.set(key, (points = []));
  const last = points[points.length - 1];
  if (last && last[0] === t) last[1] = remaining;
  else points.push([t, remaining]);
}

export function progressLine(
  recorder: RunRecorder,
  elapsedS: number,
  walking: number,
  series: Map<string, [number, number][]>,
  queue: readonly [number, number, number][] = [],
): string {
  const s = recorder.lastSecond();
  const oral = series.get('*|CET-SET4');
  const left = oral?.[oral.length - 1]?.[1];
  const room = queue[queue.length - 1];
  return [
    `t=${elapsedS.toFixed(0).padStart(4)}s`,
    `offered ${String(s.offered).padStart(5)}/s`,
    `started ${String(s.started).padStart(5)}/s`,
    `answered ${String(s.completed).padStart(6)}/s`,
    `p99 ${s.p99Ms === null ? '   -' : s.p99Ms.toFixed(0).padStart(4)} ms`,
    `walking ${String(walking).padStart(6)}`,
    ...(room ? [`in line ${String(room[1]).padStart(6)} (admitting ${room[2]}/min)`] : []),
    `errors ${recorder.errors}`,
    `shed ${recorder.shed}`,
    `oral seats left ${left ?? '-'}`,
  ].join('  ');
}

export async function commandsProcessed(redis: Redis): Promise<number> {
  const info = await redis.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}

export async function streamLengths(redis: Redis, streams: readonly string[]): Promise<number> {
  // XINFO STREAM entries-added counts every entry ever added, trimming notwithstanding
  let total = 0;
  for (const stream of streams) {
    const info = (await redis.xinfo('STREAM', stream).catch(() => null)) as unknown[] | null;
    if (!info) continue;
    const at = info.indexOf('entries-added');
    total += at >= 0 ? Number(info[at + 1]) : 0;
  }
  return total;
}

/** Test-only fault: the capacity of one taken campus × subject drops below its live seats (I1). */
export async function plantOversell(
  engine: Engine,
  provinceCode: string,
  say: (line: string) => void,
): Promise<void> {
  const keys = engine.keys.province(provinceCode);
  const used = await engine.redis.hgetall(keys.used);
  const [field, count] = Object.entries(used).find(([, n]) => Number(n) > 0) ?? [];
  if (!field) throw new Error('plant-oversell: no seat was taken in this run');
  await engine.redis.hset(keys.capacity, field, String(Number(count) - 1));
  say(`FAULT PLANTED: ${field} now has ${count} seats taken for a capacity of ${Number(count) - 1}`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface Samplers {
  /** Remaining seats over time, by campusId|subject ('*' for the province's total). */
  readonly series: Map<string, [number, number][]>;
  /** The waiting room over time (when sampled): [t, waiting, admittedPerMinute]. */
  readonly queue: [number, number, number][];
  /** The queue keeper's loop over time (when the waiting room is sampled). */
  readonly keeper: KeeperSample[];
  stop(): Promise<void>;
}

export interface SamplerOptions {
  readonly engine: Engine;
  readonly provinceCode: string;
  /** Seats of the province: campusId|subject → capacity. */
  readonly capacity: ReadonlyMap<string, number>;
  /** performance.now() at the start of the run: samples are taken on its whole seconds. */
  readonly startedPerf: number;
  readonly recorder: RunRecorder;
  /** Also sample the province's waiting room and the keeper's loop. */
  readonly waitingRoom?: boolean;
}

/**
 * Samples the province's seats, the writer's lag (and the waiting room, and the keeper's loop) once
 * a second until stopped, from Redis: the same reads as GET /api/v1/admin/stats and GET
 * /api/v1/queue/{provinceCode}, without the gateway. Through the gateway, the samples of the
 * surge's busiest seconds were missing (admin reads are the class shed first; three 2026-12-08
 * demos had gaps of up to 18 / 15 / 4 s in the line's series), and so was the writer's lag at its
 * peak.
 */
export function sampleSeatsAndLag(options: SamplerOptions): Samplers {
  const { engine, startedPerf, recorder } = options;
  const tracked = trackedSeats(options.capacity);
  const series = new Map<string, [number, number][]>();
  const queue: [number, number, number][] = [];
  const keeper: KeeperSample[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const t = Math.floor((performance.now() - startedPerf) / 1000);
      try {
        const [counts, lag, loads, room] = await Promise.all([
          engine.seatCounts(options.provinceCode),
          outboxLag(engine),
          options.waitingRoom ? readThreadLoads(engine, Date.now(), false) : null,
          // `now` only decides whether the room gates, which the sample does not use
          options.waitingRoom ? readRoom(engine, options.provinceCode, Date.now()) : null,
        ]);
        const totals = new Map<string, number>();
        for (const c of counts) {
          const key = `${c.campusId}|${c.subject}`;
          totals.set(`*|${c.subject}`, (totals.get(`*|${c.subject}`) ?? 0) + c.remaining);
          if (tracked.has(key)) pushPoint(series, key, t, c.remaining);
        }
        for (const [key, remaining] of totals) pushPoint(series, key, t, remaining);
        recorder.writerLag(lag.pending + lag.undelivered, lag.lagMs);
        if (loads !== null) {
          const admission = admissionSummary(loads, Date.now());
          keeper.push({
            t,
            targetActive: room?.targetActive ?? null,
            activeCandidates: room?.activeCandidates ?? null,
            health: admission.threads > 0 ? admission.health : null,
            limit: admission.threads > 0 ? admission.limit : null,
            inFlight: admission.threads > 0 ? admission.inFlight : null,
          });
        }
        if (room) queue.push([t, room.waiting, Math.round(room.rate * 60)]);
      } catch {
        // a missed sample is a gap in the chart, not a failure of the run
      }
      // to just past the next whole second: a timer may fire a millisecond early, and a sample
      // still in the second before would replace that second's instead of taking the next one
      await sleep(1005 - ((performance.now() - startedPerf) % 1000));
    }
  })();
  return {
    series,
    queue,
    keeper,
    async stop() {
      sampling = false;
      await sampler;
    },
  };
}

/** The progress line, at most once a second of run time, shared by the arrivals and the wait. */
export type ProgressTick = (elapsedS: number, walking: number) => void;

export function progressTicker(
  recorder: RunRecorder,
  samplers: Pick<Samplers, 'series' | 'queue'>,
  say: (line: string) => void,
): ProgressTick {
  let lastProgress = 0;
  return (elapsedS, walking) => {
    if (elapsedS - lastProgress >= 1) {
      lastProgress = Math.floor(elapsedS);
      say(progressLine(recorder, elapsedS, walking, samplers.series, samplers.queue));
    }
  };
}
