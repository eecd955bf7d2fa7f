/**
 * How a surge is split over n load generators (issue 15, P3): shard i of n takes every n-th
 * candidate of the whole run, counted in arrival order from i − 1, so that
 * - the n slices are disjoint and together hold every candidate exactly once;
 * - each slice's arrivals follow the whole curve scaled by 1/n (a candidate arrives in a slice at
 *   the very moment it would arrive in the unsharded run), so n generators on one host or on n
 *   hosts together offer the whole profile;
 * - a candidate behaves the same in every split (its behaviour is drawn from the seed and its own
 *   index, `candidateSeed`), so a sharded run is the same run as an unsharded one.
 *
 * k6 does the same with execution segments: shard i of n is the segment (i−1)/n:i/n of the
 * sequence 0,1/n,…,1 (`k6Segment`). For equal segments k6's striped partitioning gives segment i
 * every n-th iteration from i − 1 (iterations are numbered test-wide by `iterationInTest`), which is
 * this slicing: iteration k of the whole test is candidate k in both tools. The arrival-rate
 * executors re-stripe by their maxVUs, so this holds only when maxVUs is a multiple of n: the
 * scenarios round it up under SHARD (loadtest/k6/lib/segment.ts; checked in segments.test.ts).
 *
 * Plain module (no Node imports): the runner, the k6 scenarios and the tests share it.
 */

/** Shard `index` (1-based) of `count`. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

export const WHOLE_RUN: Shard = { index: 1, count: 1 };

/** "i/n" with 1 ≤ i ≤ n, e.g. "2/4"; a RangeError with the reason otherwise. */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!match) throw new RangeError(`--shard must look like i/n (e.g. 1/2), got "${text}"`);
  const index = Number(match[1]);
  const count = Number(match[2]);
  if (count < 1 || count > 1024) throw new RangeError(`--shard: n must be 1…1024, got ${count}`);
  if (index < 1 || index > count) throw new RangeError(`--shard: i must be 1…${count}, got ${index}`);
  return { index, count };
}

/** The shard (1-based) that candidate `k` (0-based, arrival order of the whole run) belongs to. */
export function shardOf(k: number, count: number): number {
  return (k % count) + 1;
}

/** Candidates of a whole run of `total` that fall in `shard`. */
export function shardSize(total: number, shard: Shard): number {
  return Math.max(0, Math.ceil((total - (shard.index - 1)) / shard.count));
}

/** The whole run's index of the shard's `j`-th candidate (both 0-based). */
export function globalIndex(j: number, shard: Shard): number {
  return shard.index - 1 + j * shard.count;
}

/** Of the first `due` candidates of the whole run, how many are the shard's (its curve: ≈ due ÷ n). */
export function shardDue(due: number, shard: Shard): number {
  return Math.max(0, Math.ceil((due - (shard.index - 1)) / shard.count));
}

/** The k6 options that run the same slice (`k6 run --execution-segment … --execution-segment-sequence …`). */
export function k6Segment(shard: Shard): {
  readonly executionSegment: string;
  readonly executionSegmentSequence: string;
} {
  const { index, count } = shard;
  const at = (i: number): string => (i === 0 ? '0' : i === count ? '1' : `${i}/${count}`);
  return {
    executionSegment: `${at(index - 1)}:${at(index)}`,
    executionSegmentSequence: Array.from({ length: count + 1 }, (_, i) => at(i)).join(','),
  };
}

/**
 * The seed of candidate `k`'s own random stream, from the run's seed (a 32-bit mix, never 0): the
 * same in every split of the run.
 */
export function candidateSeed(runSeed: number, k: number): number {
  let h = (Math.imul(runSeed >>> 0, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h === 0 ? 1 : h;
}

/** xorshift32 from `seed` (not 0): numbers in [0, 1), deterministic. */
export function xorshift(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4_294_967_296;
  };
}
