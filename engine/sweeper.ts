/**
 * The sweeper loop (R8, R22, I4): every `intervalMs`, `expireDue` on every province shard at the
 * configured clock's time (the admin clock in test mode). Idempotent and safe to run in several
 * processes. Reports its lag: how far behind `now` the oldest due deadline not yet processed is.
 */
import type { Engine } from './engine.ts';
import { expireDue } from './expiry.ts';
import { KeySpace } from './keys.ts';
import { PROVINCE_CODES } from './provinces.ts';
import { settlesWithin } from './settle.ts';

export interface SweeperStats {
  readonly sweeps: number;
  readonly expired: number;
  readonly deleted: number;
  /** ms between now and the oldest due deadline still waiting, at the end of the last sweep. */
  readonly lagMs: number;
  readonly lastSweepAt: number;
  readonly errors: number;
}

export interface SweeperOptions {
  readonly intervalMs: number;
  readonly now: () => Promise<number>;
  readonly provinces?: readonly string[];
  readonly onError?: (error: unknown) => void;
  /** Field under which this sweeper publishes its stats in Redis `<ns>:sweeper:stats` (default 'main'). */
  readonly name?: string;
}

/** How long stop() waits for the pass in hand. */
const STOP_GRACE_MS = 5_000;

/** Redis hash of the sweepers' stats (engine/keys.ts `sweeperStats`). */
export const sweeperStatsKey = (namespace: string): string => new KeySpace(namespace).sweeperStats;

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private stats: SweeperStats = { sweeps: 0, expired: 0, deleted: 0, lagMs: 0, lastSweepAt: 0, errors: 0 };

  constructor(
    private readonly engine: Engine,
    private readonly options: SweeperOptions,
  ) {}

  get current(): SweeperStats {
    return this.stats;
  }

  /** One pass over every province; returns what it released. */
  async sweepOnce(): Promise<{ expired: number; deleted: number }> {
    const now = await this.options.now();
    let expired = 0;
    let deleted = 0;
    let oldestDue = Infinity;
    // every province at once: one pipelined round of commands per pass instead of 62 in a row
    // (each province's keys are its own, and expireDue is idempotent: several sweepers may run)
    await Promise.all(
      (this.options.provinces ?? PROVINCE_CODES).map(async (province) => {
        const result = await expireDue(this.engine, province, now);
        expired += result.expired.length;
        deleted += result.deleted.length;
        // the lag: only a pass that stopped short (its batch limit) leaves anything due behind
        if (!result.more) return;
        const keys = this.engine.keys.province(province);
        const [, score] = await this.engine.redis.zrangebyscore(
          keys.dueSet,
          '-inf',
          now,
          'WITHSCORES',
          'LIMIT',
          0,
          1,
        );
        if (score !== undefined) oldestDue = Math.min(oldestDue, Number(score));
      }),
    );
    this.stats = {
      sweeps: this.stats.sweeps + 1,
      expired: this.stats.expired + expired,
      deleted: this.stats.deleted + deleted,
      lagMs: oldestDue === Infinity ? 0 : Math.max(0, now - oldestDue),
      lastSweepAt: now,
      errors: this.stats.errors,
    };
    await this.engine.redis.hset(
      this.engine.keys.sweeperStats,
      this.options.name ?? 'main',
      JSON.stringify({ ...this.stats, updatedAt: Date.now() }),
    );
    return { expired, deleted };
  }

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.sweepOnce()
        .then(() => undefined)
        .catch((error: unknown) => {
          this.stats = { ...this.stats, errors: this.stats.errors + 1 };
          this.options.onError?.(error);
        })
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.options.intervalMs);
        });
    };
    tick();
  }

  /**
   * Stops after the pass in hand, waiting at most `graceMs` for it (issue 16 item 16): on a Redis
   * that is gone its commands wait for ever (the connection reconnects without limit). An abandoned
   * pass is harmless: expireDue is idempotent, and the next sweeper does it again.
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await settlesWithin(this.running, graceMs);
  }
}
