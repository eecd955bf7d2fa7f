/**
 * The runner's latency histograms (hdr-histogram-js, microseconds, 2 significant digits) and their
 * stored form: compressed base64 (HdrHistogram's own encoding), what report.json carries so that
 * shard reports merge exactly (issue 15: histograms are added, percentiles are never averaged).
 */
import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from 'hdr-histogram-js';
import type { LatencySummary } from './types.ts';

/** A latency histogram in microseconds, as every runner figure keeps one. */
export const newHistogram = (): Histogram =>
  build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 2,
  });

export function summarise(histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 };
  const ms = (us: number): number => Math.round(us / 10) / 100;
  return {
    count: histogram.totalCount,
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p90Ms: ms(histogram.getValueAtPercentile(90)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    maxMs: ms(histogram.maxValue),
  };
}

/**
 * A summary whose percentiles are never above its maximum. A percentile is read at HDR's precision
 * (its bucket's highest equivalent value) while a live histogram's maximum is exact, so a p99 could
 * show above the slowest answer (the demo's report once had botOral p99 86.53 ms, max 86.39 ms).
 * For the summaries that show a maximum (a report's latency); a stored histogram's maximum is
 * already its bucket's top.
 */
export function withinMax(summary: LatencySummary): LatencySummary {
  const clamp = (ms: number): number => Math.min(ms, summary.maxMs);
  return {
    ...summary,
    p50Ms: clamp(summary.p50Ms),
    p90Ms: clamp(summary.p90Ms),
    p99Ms: clamp(summary.p99Ms),
  };
}

/** `summarise` for a summary shown with its maximum: a live histogram's (see `withinMax`). */
export function summariseWithinMax(histogram: Histogram): LatencySummary {
  return withinMax(summarise(histogram));
}

export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram);
}

/** A stored histogram back; a RangeError when the text is not one. */
export function decodeHistogram(encoded: string): Histogram {
  try {
    return decodeFromCompressedBase64(encoded);
  } catch (error) {
    throw new RangeError(`not an HDR histogram (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** The sum of stored histograms (absent ones skipped): an empty histogram when none. */
export function mergeEncoded(encoded: Iterable<string | null | undefined>): Histogram {
  const sum = newHistogram();
  for (const one of encoded) if (one) sum.add(decodeHistogram(one));
  return sum;
}

/** The best average of `windowS` consecutive seconds. */
export function peakRateOf(counts: readonly number[], windowS: number): number {
  let best = 0;
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    sum += counts[i] ?? 0;
    if (i >= windowS) sum -= counts[i - windowS] ?? 0;
    best = Math.max(best, sum / Math.min(windowS, i + 1));
  }
  return Math.round(best);
}
