/** Reading the run's Redis stalls (loadtest/runner/redisStalls.ts) against its seconds. */
import type { RedisStall, RedisStalls } from './types.ts';

/**
 * The stalls that overlap the run's second [t, t+1). Redis stamps an event with the whole second
 * it ended in, so one stamped `atS` (from the run's start, fractional) ended in [atS, atS + 1)
 * and began up to its own length before.
 */
export function stallsInSecond(stalls: RedisStalls | undefined, t: number): RedisStall[] {
  return (stalls?.events ?? []).filter((s) => s.atS - s.ms / 1000 < t + 1 && s.atS + 1 > t);
}
