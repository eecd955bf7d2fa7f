/**
 * Latency summaries from HDR histograms (hdr.ts): a percentile is read at HDR's precision (its
 * bucket's highest equivalent value) while a live histogram's maximum is exact, so a p99 could
 * show above the slowest answer, as the demo's report once did (botOral p99 86.53 ms, max
 * 86.39 ms). `withinMax` keeps every percentile at or below the maximum shown.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newHistogram, summarise, withinMax } from './hdr.ts';

describe('withinMax(summarise(…))', () => {
  it('never shows a percentile above the maximum, nor out of order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 60_000_000 }), { minLength: 1, maxLength: 300 }),
        (us) => {
          const histogram = newHistogram();
          for (const value of us) histogram.recordValue(value);
          const summary = withinMax(summarise(histogram));
          expect(summary.count).toBe(us.length);
          expect(summary.maxMs).toBe(Math.round(Math.max(...us) / 10) / 100);
          expect(summary.p50Ms).toBeLessThanOrEqual(summary.p90Ms);
          expect(summary.p90Ms).toBeLessThanOrEqual(summary.p99Ms);
          expect(summary.p99Ms).toBeLessThanOrEqual(summary.maxMs);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the case the demo showed: one answer of 86.39 ms is its own p99 and maximum', () => {
    const histogram = newHistogram();
    histogram.recordValue(86_390);
    expect(summarise(histogram).p99Ms).toBeGreaterThan(86.39); // the bucket's top
    expect(withinMax(summarise(histogram))).toMatchObject({ p99Ms: 86.39, maxMs: 86.39 });
  });
});
