/**
 * The slicing of a sharded run (issue 15, P3): every candidate in exactly one shard, each shard's
 * curve the whole one scaled by 1/n, the k6 segments that name the same slices, and a candidate's
 * own random stream independent of the split.
 */
import { describe, expect, it } from 'vitest';
import {
  candidateSeed,
  globalIndex,
  k6Segment,
  parseShard,
  shardDue,
  shardOf,
  shardSize,
  xorshift,
  type Shard,
} from './shard.ts';
import { profiles, totalArrivals, durationOf } from './profiles.ts';
import { surgeProfile } from './runner/run.ts';

const shardsOf = (n: number): Shard[] => Array.from({ length: n }, (_, i) => ({ index: i + 1, count: n }));

describe('shards of a run', () => {
  it('cover every candidate exactly once, in arrival order within each shard', () => {
    for (const total of [0, 1, 7, 1_000, 50_001]) {
      for (const n of [1, 2, 3, 4, 7]) {
        const seen = new Uint8Array(total);
        let sum = 0;
        for (const shard of shardsOf(n)) {
          const size = shardSize(total, shard);
          sum += size;
          let previous = -1;
          for (let j = 0; j < size; j++) {
            const k = globalIndex(j, shard);
            expect(k).toBeGreaterThan(previous);
            expect(shardOf(k, n)).toBe(shard.index);
            seen[k]! += 1;
            previous = k;
          }
        }
        expect(sum).toBe(total);
        expect(seen.every((times) => times === 1)).toBe(true);
      }
    }
  });

  it("scale the arrival curve by 1/n: at every moment the shards' due candidates add up to the whole run's", () => {
    const profile = surgeProfile('opening', 100_000, 600);
    const end = durationOf(profile);
    for (const n of [2, 3, 5]) {
      for (let t = 0; t <= end; t += end / 97) {
        const due = Math.round(totalArrivals(profile, 0, t));
        const parts = shardsOf(n).map((shard) => shardDue(due, shard));
        expect(parts.reduce((a, b) => a + b, 0)).toBe(due);
        // each within one candidate of due ÷ n
        for (const part of parts) expect(Math.abs(part - due / n)).toBeLessThanOrEqual(1);
      }
    }
    expect(profiles.opening.name).toBe('opening');
  });

  it('name the same slices as k6 execution segments', () => {
    expect(k6Segment({ index: 1, count: 1 })).toEqual({
      executionSegment: '0:1',
      executionSegmentSequence: '0,1',
    });
    expect(k6Segment({ index: 2, count: 4 })).toEqual({
      executionSegment: '1/4:2/4',
      executionSegmentSequence: '0,1/4,2/4,3/4,1',
    });
    expect(k6Segment({ index: 3, count: 3 }).executionSegment).toBe('2/3:1');
  });

  it('are parsed from i/n, and anything else is refused with the reason', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(parseShard(' 1/1 ')).toEqual({ index: 1, count: 1 });
    expect(() => parseShard('0/2')).toThrow(/i must be 1…2/);
    expect(() => parseShard('3/2')).toThrow(/i must be 1…2/);
    expect(() => parseShard('1/0')).toThrow(/n must be/);
    expect(() => parseShard('half')).toThrow(/must look like i\/n/);
  });

  it('give a candidate the same random stream whatever the split, and different candidates different ones', () => {
    const draws = (k: number) => {
      const random = xorshift(candidateSeed(42, k));
      return [random(), random(), random()];
    };
    expect(draws(12_345)).toEqual(draws(12_345));
    const firsts = new Set(Array.from({ length: 10_000 }, (_, k) => draws(k)[0]));
    expect(firsts.size).toBeGreaterThan(9_990);
    expect(candidateSeed(42, 0)).not.toBe(candidateSeed(43, 0));
    for (const value of draws(7)) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
    }
  });
});
