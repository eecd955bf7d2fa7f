/**
 * Does k6 shard i of n (execution segment (i−1)/n:i/n of 0,1/n,…,1) run exactly the candidates
 * k ≡ i−1 (mod n), as the Node runner's `--shard i/n` does (../shard.ts)? There is no k6 binary
 * here, so this re-implements, from the description in grafana/k6 lib/execution_segment.go, the
 * striping k6 numbers iterations with (`iterationInTest`) and checks the claim on it:
 * - `NewExecutionSegmentSequenceWrapper`: the LCD of the segment lengths' denominators, the segments
 *   sorted by length (largest first, stable), and element e of each LCD-long cycle given to the first
 *   segment (in that order) whose count c of elements taken so far has e ≥ c·LCD/normalised-length;
 * - `GetStripedOffsets` / `SegmentedIndex.Next`: a segment's iterations are its elements of every
 *   cycle; `ScaleInt64`: how many of the first `value` elements are its (its VUs, for instance);
 * - `GetNewExecutionSegmentSequenceFromValue`: the arrival-rate executors stripe with the sequence
 *   re-segmented by their maxVUs (each segment gets length ScaleInt64(maxVUs)/maxVUs), which is
 *   the sequence itself only when maxVUs is a multiple of its LCD.
 * The re-implementation is first checked against the worked example in k6's own comments.
 */
import { describe, expect, it } from 'vitest';
import { k6Segment, type Shard } from '../shard.ts';
import { sameSegment, shardFromText, shardMaxVUs, shardOptions, sliceLabel } from './lib/segment.ts';

// --- exact fractions (segment bounds are small rationals) ---

interface Fraction {
  readonly num: number;
  readonly den: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number): number => (a / gcd(a, b)) * b;

function fraction(num: number, den: number): Fraction {
  const g = gcd(Math.abs(num), den) || 1;
  return { num: num / g, den: den / g };
}

/** "0", "1", "3/4" (the forms k6Segment writes). */
function parseFraction(text: string): Fraction {
  const [num, den = '1'] = text.split('/');
  return fraction(Number(num), Number(den));
}

const minus = (a: Fraction, b: Fraction): Fraction => fraction(a.num * b.den - b.num * a.den, a.den * b.den);
const equal = (a: Fraction, b: Fraction): boolean => a.num === b.num && a.den === b.den;

// --- the striping ---

/** A sequence of segments covering 0…1 with each segment's striped elements precomputed. */
interface Striped {
  readonly bounds: readonly Fraction[];
  readonly lcd: number;
  /** Per segment: its elements (0 … lcd−1) of every lcd-long cycle, ascending. */
  readonly elements: readonly (readonly number[])[];
}

function stripe(bounds: readonly Fraction[]): Striped {
  const lengths = bounds.slice(1).map((to, s) => minus(to, bounds[s]!));
  const lcd = lengths.reduce((acc, length) => lcm(acc, length.den), 1);
  const normalised = lengths.map((length) => length.num * (lcd / length.den));
  const order = normalised.map((_, s) => s).sort((a, b) => normalised[b]! - normalised[a]!); // stable
  const taken = order.map(() => 0);
  const elements: number[][] = lengths.map(() => []);
  for (let element = 0; element < lcd; element++) {
    for (let rank = 0; rank < order.length; rank++) {
      const segment = order[rank]!;
      const threshold = taken[rank]! * lcd; // element ≥ taken · lcd / normalised, in integers
      const floor = Math.floor(threshold / normalised[segment]!);
      const exact = threshold % normalised[segment]! === 0;
      if (element > floor || (element === floor && exact)) {
        taken[rank]!++;
        elements[segment]!.push(element);
        break;
      }
    }
  }
  return { bounds, lcd, elements };
}

/** k6's `ScaleInt64`: how many of the elements 0 … value−1 are segment `segment`'s. */
function scale(striped: Striped, segment: number, value: number): number {
  if (striped.elements.length === 1) return value;
  const mine = striped.elements[segment]!;
  return Math.floor(value / striped.lcd) * mine.length + mine.filter((e) => e < value % striped.lcd).length;
}

/** k6's `GetNewExecutionSegmentSequenceFromValue`: the sequence an arrival-rate executor stripes with. */
function resegment(striped: Striped, segment: number, value: number): { striped: Striped; segment: number } {
  if (value % striped.lcd === 0) return { striped, segment };
  const bounds = [fraction(0, 1)];
  let at = 0;
  let tracked = -1;
  for (let s = 0; s < striped.elements.length; s++) {
    const share = scale(striped, s, value);
    if (share === 0) continue; // k6 drops empty segments
    if (s === segment) tracked = bounds.length - 1;
    at += share;
    bounds.push(fraction(at, value));
  }
  if (tracked < 0) throw new Error(`segment ${segment} has no share of ${value}`);
  return { striped: stripe(bounds), segment: tracked };
}

/** The unscaled (test-wide) iteration numbers `SegmentedIndex.Next` hands out below `limit`. */
function iterations(striped: Striped, segment: number, limit: number): number[] {
  const out: number[] = [];
  for (let cycle = 0; cycle * striped.lcd < limit; cycle++) {
    for (const e of striped.elements[segment]!) {
      const k = cycle * striped.lcd + e;
      if (k < limit) out.push(k);
    }
  }
  return out;
}

/** k6's view of `--execution-segment` within `--execution-segment-sequence`. */
function tuple(
  executionSegment: string,
  executionSegmentSequence: string,
): { striped: Striped; segment: number } {
  const bounds = executionSegmentSequence.split(',').map(parseFraction);
  const [from, to] = executionSegment.split(':').map(parseFraction) as [Fraction, Fraction];
  const segment = bounds.findIndex(
    (b, s) => equal(b, from) && s + 1 < bounds.length && equal(bounds[s + 1]!, to),
  );
  if (segment < 0) throw new Error(`${executionSegment} is not in ${executionSegmentSequence}`);
  return { striped: stripe(bounds), segment };
}

/** Iterations of shard `shard` below `limit` in an arrival-rate scenario with `maxVUs`. */
function arrivalRateIterations(shard: Shard, maxVUs: number, limit: number): number[] {
  const { executionSegment, executionSegmentSequence } = k6Segment(shard);
  const base = tuple(executionSegment, executionSegmentSequence);
  const used = resegment(base.striped, base.segment, maxVUs);
  return iterations(used.striped, used.segment, limit);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const LIMIT = 5000;
const SHARD_COUNTS = range(8).map((i) => i + 1);

describe('the re-implemented striping', () => {
  // k6's comment on ExecutionTuple: 0:1/2, 1/2:3/4, 3/4:1.
  const striped = stripe(['0', '1/2', '3/4', '1'].map(parseFraction));

  it("reproduces k6's documented iterators", () => {
    expect(iterations(striped, 0, 12)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(iterations(striped, 1, 12)).toEqual([1, 5, 9]);
    expect(iterations(striped, 2, 12)).toEqual([3, 7, 11]);
  });

  it("reproduces k6's documented ScaleInt64 table", () => {
    const values = range(12).map((i) => i + 1);
    expect(values.map((v) => scale(striped, 0, v))).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]);
    expect(values.map((v) => scale(striped, 1, v))).toEqual([0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]);
    expect(values.map((v) => scale(striped, 2, v))).toEqual([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3]);
  });
});

describe('k6 shard i of n (equal segments of 0,1/n,…,1)', () => {
  it.each(SHARD_COUNTS)('n = %i: the sequence stripes iteration k to shard (k mod n) + 1', (count) => {
    // per-vu-iterations, shared-iterations, ramping-vus: the sequence itself
    const seen = new Array<number>(LIMIT).fill(0);
    for (let index = 1; index <= count; index++) {
      const { executionSegment, executionSegmentSequence } = k6Segment({ index, count });
      const { striped, segment } = tuple(executionSegment, executionSegmentSequence);
      const mine = iterations(striped, segment, LIMIT);
      expect(mine).toEqual(range(LIMIT).filter((k) => k % count === index - 1));
      for (const k of mine) seen[k]!++;
    }
    expect(seen.every((times) => times === 1)).toBe(true);
  });

  it.each(SHARD_COUNTS)('n = %i: arrival-rate with maxVUs a multiple of n stripes the same way', (count) => {
    for (const maxVUs of [count, 3 * count, shardMaxVUs(5000, { index: 1, count })]) {
      const seen = new Array<number>(LIMIT).fill(0);
      for (let index = 1; index <= count; index++) {
        const mine = arrivalRateIterations({ index, count }, maxVUs, LIMIT);
        expect(mine).toEqual(range(LIMIT).filter((k) => k % count === index - 1));
        for (const k of mine) seen[k]!++;
      }
      expect(seen.every((times) => times === 1)).toBe(true);
    }
  });

  it.each(SHARD_COUNTS.filter((n) => n > 1))(
    'n = %i: arrival-rate with maxVUs not a multiple of n partitions, but not by k mod n',
    (count) => {
      for (let maxVUs = count + 1; maxVUs <= 4 * count + 3; maxVUs++) {
        if (maxVUs % count === 0) continue;
        const seen = new Array<number>(LIMIT).fill(0);
        let sameAsRunner = true;
        for (let index = 1; index <= count; index++) {
          const mine = arrivalRateIterations({ index, count }, maxVUs, LIMIT);
          for (const k of mine) seen[k]!++;
          if (mine.some((k) => k % count !== index - 1)) sameAsRunner = false;
          // the actual mapping: it repeats every maxVUs iterations, not every n
          const firstCycle = mine.filter((k) => k < maxVUs);
          expect(mine).toEqual(range(LIMIT).filter((k) => firstCycle.includes(k % maxVUs)));
        }
        expect(seen.every((times) => times === 1)).toBe(true);
        expect(sameAsRunner).toBe(false);
      }
    },
  );

  it('n = 2, maxVUs = 5: shard 1 runs 0, 2, 4, 5, 7, 9, 10, … (k mod 5 ∈ {0, 2, 4})', () => {
    expect(arrivalRateIterations({ index: 1, count: 2 }, 5, 15)).toEqual([0, 2, 4, 5, 7, 9, 10, 12, 14]);
    expect(arrivalRateIterations({ index: 2, count: 2 }, 5, 15)).toEqual([1, 3, 6, 8, 11, 13]);
  });

  it.each(SHARD_COUNTS)('n = %i: a 1-VU scenario (expiry.ts clock) runs in shard 1 only', (count) => {
    const vus = range(count).map((i) => {
      const { executionSegment, executionSegmentSequence } = k6Segment({ index: i + 1, count });
      const { striped, segment } = tuple(executionSegment, executionSegmentSequence);
      return scale(striped, segment, 1);
    });
    expect(vus).toEqual(range(count).map((i) => (i === 0 ? 1 : 0)));
  });
});

describe('lib/segment.ts', () => {
  it('rounds maxVUs up to a multiple of n, only under a shard', () => {
    expect(shardMaxVUs(5000, undefined)).toBe(5000);
    expect(shardMaxVUs(5000, { index: 2, count: 3 })).toBe(5001);
    expect(shardMaxVUs(5000, { index: 1, count: 8 })).toBe(5000);
    expect(shardMaxVUs(1, { index: 1, count: 4 })).toBe(4);
  });

  it('turns SHARD into the segment options and a shard tag', () => {
    expect(shardOptions(undefined)).toEqual({});
    expect(shardOptions(shardFromText('2/4'))).toEqual({
      executionSegment: '1/4:2/4',
      executionSegmentSequence: '0,1/4,2/4,3/4,1',
      tags: { shard: '2/4' },
    });
    expect(shardFromText('')).toBeUndefined();
    expect(() => shardFromText('3/2')).toThrow(/^SHARD=3\/2: /);
    expect(() => shardFromText('half')).toThrow(/^SHARD=half: /);
  });

  it("compares SHARD's segment with the one k6 reports (reduced fractions)", () => {
    expect(sameSegment('1/4:2/4', '1/4:1/2')).toBe(true);
    expect(sameSegment('3/4:4/4', '3/4:1')).toBe(true);
    expect(sameSegment('0:1/2', '1/2:1')).toBe(false);
  });

  it('names a slice so that summaries do not collide', () => {
    expect(sliceLabel({ index: 2, count: 4 })).toBe('shard-2-of-4');
    expect(sliceLabel(undefined, '1/2:1')).toBe('segment-1_2-1');
    expect(sliceLabel(undefined, '0:1')).toBe('');
    expect(sliceLabel(undefined, null)).toBe('');
  });
});
