/**
 * The one clock (ARCHITECTURE.md "Time"): every engine call gets `now` from here. In production it
 * is the system clock. In TEST_MODE the admin clock (POST /api/v1/admin/clock) moves an offset
 * stored in Redis, shared by every gateway thread, the sweeper and the writer; each reading costs
 * one Redis GET, which only test mode pays.
 */
import type { RedisClient } from '../engine/redisClient.ts';

export interface Clock {
  now(): Promise<number>;
}

export const systemClock: Clock = { now: async () => Date.now() };

export class DrivenClock implements Clock {
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
  ) {}

  async now(): Promise<number> {
    const offset = Number((await this.redis.get(this.key)) ?? 0);
    return Date.now() + offset;
  }

  /** Sets the clock to `nowMs` (it keeps running from there) or moves it by `advanceMs`. */
  async set(change: { nowMs?: number; advanceMs?: number }): Promise<number> {
    if (change.nowMs !== undefined) {
      await this.redis.set(this.key, String(change.nowMs - Date.now()));
    } else if (change.advanceMs !== undefined) {
      await this.redis.incrby(this.key, Math.trunc(change.advanceMs));
    }
    return this.now();
  }
}
