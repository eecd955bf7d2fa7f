/**
 * The k6 side of a sharded run (issue 15, ../../shard.ts): the options that make one k6 instance
 * run shard i of n as the execution segment (i−1)/n:i/n of 0,1/n,…,1, and the maxVUs an
 * arrival-rate scenario needs so that k6 keeps candidate k (iterationInTest) in shard (k mod n) + 1.
 *
 * Why maxVUs: the arrival-rate executors do not stripe iterations (and arrivals) with the sequence
 * itself but with the sequence re-segmented by the scenario's maxVUs
 * (`ExecutionTuple.GetNewExecutionTupleFromValue(maxVUs)` in k6's executor Init); that is the same
 * sequence only when maxVUs is a multiple of n. Otherwise the slices stay disjoint and complete but
 * repeat every maxVUs iterations instead of every n. segments.test.ts checks both against a
 * re-implementation of k6's striping.
 *
 * Pure: no k6 module and no `__ENV` (env.ts reads SHARD), so vitest can import it.
 */
import type { Options } from 'k6/options';
import { k6Segment, parseShard, type Shard } from '../../shard.ts';

/** SHARD ("i/n"); undefined when unset or empty; an Error naming SHARD when malformed. */
export function shardFromText(text: string | undefined): Shard | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return parseShard(text);
  } catch (error) {
    throw new Error(`SHARD=${text}: ${(error as Error).message.replace(/^--shard:? ?/, '')}`);
  }
}

/**
 * The exported options' part for `shard`: its execution segment and sequence, and a `shard` tag on
 * every sample (so a shared metrics backend tells the instances apart). Nothing without a shard.
 */
export function shardOptions(
  shard: Shard | undefined,
): Pick<Options, 'executionSegment' | 'executionSegmentSequence' | 'tags'> {
  if (!shard) return {};
  return { ...k6Segment(shard), tags: { shard: `${shard.index}/${shard.count}` } };
}

/** `maxVUs` rounded up to a multiple of the shard count (unchanged without a shard). */
export function shardMaxVUs(maxVUs: number, shard: Shard | undefined): number {
  if (!shard) return maxVUs;
  return Math.max(1, Math.ceil(maxVUs / shard.count)) * shard.count;
}

/** "2/4" → "1/2", "4/4" → "1": the form k6 prints a bound in (big.Rat's RatString). */
function reduced(bound: string): string {
  const match = /^(\d+)(?:\/(\d+))?$/.exec(bound.trim());
  if (!match) return bound.trim();
  const num = Number(match[1]);
  const den = Number(match[2] ?? '1');
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(num, den) || 1;
  return den / g === 1 ? String(num / g) : `${num / g}/${den / g}`;
}

/** Whether two "from:to" segments are the same (`1/4:2/4` is k6's `1/4:1/2`). */
export function sameSegment(a: string, b: string): boolean {
  const norm = (segment: string): string => segment.split(':').map(reduced).join(':');
  return norm(a) === norm(b);
}

/**
 * The part of a summary file name that tells instances apart: `shard-2-of-4` for SHARD=2/4, else
 * `segment-1_2-1` for a segment given on the command line (`--execution-segment 1/2:1`), else ''.
 */
export function sliceLabel(shard: Shard | undefined, executionSegment?: string | null): string {
  if (shard) return `shard-${shard.index}-of-${shard.count}`;
  if (!executionSegment || executionSegment === '0:1' || executionSegment === '1') return '';
  return `segment-${executionSegment.replace(/\//g, '_').replace(/:/g, '-')}`;
}
