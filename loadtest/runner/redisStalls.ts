/**
 * Redis's own latency monitor over a run. With `appendfsync always` (ARCHITECTURE.md
 * "Durability") Redis fsyncs its AOF before it answers, on its one thread: a disk that stalls for
 * 300 ms holds every answer of that moment, whatever the gateway does. The run's report lists
 * those stalls (`aof-fsync-always`, slow commands, forks, …) so that a slow second can be read
 * against them.
 *
 * The monitor is off in a Redis by default (`latency-monitor-threshold 0`): the watch turns it on
 * for the run where it was off and turns it off again after, leaving a threshold someone set alone.
 * Redis keeps one sample per event and second (the second's worst, at most 160 per event), stamped
 * in whole seconds of its own clock (the same host's, or NTP's).
 */
import type { Redis } from 'ioredis';
import { masterNodes, type RedisClient } from '../../engine/redisClient.ts';
import type { RedisStall, RedisStalls } from '../report/types.ts';

const THRESHOLD_PARAMETER = 'latency-monitor-threshold';

/** `LATENCY LATEST` rows: [event, latest timestamp (s), latest ms, all-time max ms]. */
type LatestRow = [string, number, number, number];
/** `LATENCY HISTORY <event>` rows: [timestamp (s), ms]. */
type HistoryRow = [number, number];

function nodeName(node: Redis): string {
  return `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`;
}

export class RedisStallWatch {
  private constructor(
    private readonly nodes: readonly Redis[],
    readonly thresholdMs: number,
    private readonly startedAtMs: number,
    /** The nodes whose monitor this watch turned on (and turns off at stop). */
    private readonly turnedOn: readonly Redis[],
  ) {}

  /**
   * Starts watching every master. A node that refuses CONFIG (a managed Redis) keeps its own
   * threshold: what it records is still read; with the monitor off there is nothing to read.
   */
  static async start(
    redis: RedisClient,
    thresholdMs: number,
    startedAtMs = Date.now(),
  ): Promise<RedisStallWatch> {
    const nodes = masterNodes(redis);
    const turnedOn: Redis[] = [];
    await Promise.all(
      nodes.map(async (node) => {
        try {
          const [, current] = (await node.config('GET', THRESHOLD_PARAMETER)) as string[];
          if (Number(current) > 0) return;
          await node.config('SET', THRESHOLD_PARAMETER, String(thresholdMs));
          turnedOn.push(node);
        } catch {
          // CONFIG refused: the node's own setting stands
        }
      }),
    );
    return new RedisStallWatch(nodes, thresholdMs, startedAtMs, turnedOn);
  }

  /** The stalls since the start, by time (`atS`: seconds from `startedAtMs`); turns the monitor off again where it turned it on. */
  async stop(endedAtMs = Date.now()): Promise<RedisStalls> {
    const fromS = Math.floor(this.startedAtMs / 1000);
    const toS = Math.ceil(endedAtMs / 1000);
    const events: RedisStall[] = [];
    await Promise.all(
      this.nodes.map(async (node) => {
        try {
          const latest = (await node.call('LATENCY', 'LATEST')) as LatestRow[];
          for (const [event] of latest) {
            const history = (await node.call('LATENCY', 'HISTORY', event)) as HistoryRow[];
            for (const [atS, ms] of history) {
              if (atS < fromS || atS > toS) continue;
              const at = Math.round((atS * 1000 - this.startedAtMs) / 100) / 10;
              events.push({ atS: at, node: nodeName(node), event, ms: Number(ms) });
            }
          }
        } catch {
          // LATENCY refused (a managed Redis): no stalls to show from this node
        }
      }),
    );
    await Promise.all(
      this.turnedOn.map((node) => node.config('SET', THRESHOLD_PARAMETER, '0').catch(() => undefined)),
    );
    events.sort((a, b) => a.atS - b.atS || b.ms - a.ms);
    return { thresholdMs: this.thresholdMs, events };
  }
}
