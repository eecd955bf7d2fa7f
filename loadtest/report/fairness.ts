/**
 * How fair an opening was (P8), from what the load generator saw of each ticket: pure functions,
 * shared by the runner's report and the tests.
 * - order inversions: pairs of post-opening arrivals admitted in the opposite order of their
 *   arrival, beyond the clock's resolution; Kendall's tau between arrival and admission;
 * - the PREQUEUE draw: a χ² test of independence between join order and drawn position (a draw
 *   that favoured early — or late — joiners would fail it);
 * - the ETA error: |predicted − actual| ÷ actual remaining wait, per ETA shown.
 */

/** Upper tail of the χ² distribution with `degrees` degrees of freedom (P[X ≥ statistic]). */
export function chiSquareP(statistic: number, degrees: number): number {
  const a = degrees / 2;
  const x = statistic / 2;
  if (!(x > 0)) return 1;
  const lnGammaA = lnGamma(a);
  if (x < a + 1) {
    // series for the lower regularised gamma P(a, x)
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (term < sum * 1e-15) break;
    }
    return Math.max(0, 1 - sum * Math.exp(-x + a * Math.log(x) - lnGammaA));
  }
  // continued fraction for the upper regularised gamma Q(a, x) (Lentz)
  let b = x + 1 - a;
  let c = 1e300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.min(1, Math.exp(-x + a * Math.log(x) - lnGammaA) * h);
}

/** ln Γ(z), Lanczos (g = 7, 9 terms). */
function lnGamma(z: number): number {
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lnGamma(1 - z);
  const x = z - 1;
  let a = g[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += g[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

export interface Passage {
  /** When the ticket joined (the line's clock, ms). */
  readonly arrivedAt: number;
  /** When it was admitted (ms). */
  readonly admittedAt: number;
}

/**
 * Pairs admitted in the opposite order of their arrival: i arrived before j, yet was admitted
 * after j (admissions happen in batches: equal admission times are not inversions). Arrivals
 * within `resolutionMs` of each other (chained) count as simultaneous, whatever their admission
 * order. O(n log n): merge-sort inversions of the admission times in arrival order, minus those
 * inside groups of simultaneous arrivals.
 */
export function orderInversions(passages: readonly Passage[], resolutionMs = 1): number {
  const sorted = [...passages].sort((a, b) => a.arrivedAt - b.arrivedAt || a.admittedAt - b.admittedAt);
  let inversions = countStrictInversions(sorted.map((p) => p.admittedAt));
  let start = 0;
  for (let i = 1; i <= sorted.length; i++) {
    if (i === sorted.length || sorted[i]!.arrivedAt - sorted[i - 1]!.arrivedAt > resolutionMs) {
      if (i - start > 1) inversions -= countStrictInversions(sorted.slice(start, i).map((p) => p.admittedAt));
      start = i;
    }
  }
  return inversions;
}

/** Pairs i < j with values[i] > values[j]. */
function countStrictInversions(values: number[]): number {
  const buffer = new Array<number>(values.length);
  const sort = (lo: number, hi: number): number => {
    if (hi - lo < 2) return 0;
    const mid = (lo + hi) >> 1;
    let count = sort(lo, mid) + sort(mid, hi);
    let i = lo;
    let j = mid;
    let k = lo;
    while (i < mid && j < hi) {
      if (values[j]! < values[i]!) {
        count += mid - i;
        buffer[k++] = values[j++]!;
      } else buffer[k++] = values[i++]!;
    }
    while (i < mid) buffer[k++] = values[i++]!;
    while (j < hi) buffer[k++] = values[j++]!;
    for (let m = lo; m < hi; m++) values[m] = buffer[m]!;
    return count;
  };
  return sort(0, values.length);
}

/**
 * Kendall's tau-a between arrival and admission order (1: admitted exactly in arrival order,
 * 0: unrelated), from the inversion count; null for fewer than two passages.
 */
export function kendallTau(passages: readonly Passage[], resolutionMs = 1): number | null {
  const n = passages.length;
  if (n < 2) return null;
  const pairs = (n * (n - 1)) / 2;
  const discordant = orderInversions(passages, resolutionMs);
  return (pairs - 2 * discordant) / pairs;
}

/**
 * χ² test of independence between join order and drawn position of the PREQUEUE tickets: both
 * cut into `bins` equal ranks, the counts of a bins × bins table compared with a flat table.
 * Returns the p-value (small: the draw depended on when one joined), or null for too few tickets
 * (fewer than 5 expected per cell).
 */
export function prequeueChiSquareP(
  tickets: readonly { readonly joinRank: number; readonly position: number }[],
  bins = 5,
): number | null {
  const n = tickets.length;
  if (n < 5 * bins * bins) return null;
  const table = Array.from({ length: bins }, () => new Array<number>(bins).fill(0));
  const byJoin = [...tickets].sort((a, b) => a.joinRank - b.joinRank);
  byJoin.forEach((ticket, i) => {
    const row = Math.min(bins - 1, Math.floor((i * bins) / n));
    const col = Math.min(bins - 1, Math.floor(((ticket.position - 1) * bins) / n));
    table[row]![col]!++;
  });
  const rows = table.map((r) => r.reduce((s, v) => s + v, 0));
  const cols = table[0]!.map((_, c) => table.reduce((s, r) => s + r[c]!, 0));
  let statistic = 0;
  for (let r = 0; r < bins; r++) {
    for (let c = 0; c < bins; c++) {
      const expected = (rows[r]! * cols[c]!) / n;
      if (expected > 0) statistic += (table[r]![c]! - expected) ** 2 / expected;
    }
  }
  return chiSquareP(statistic, (bins - 1) * (bins - 1));
}

export interface EtaSample {
  /** When the ETA was shown (ms, the same clock as admittedAt). */
  readonly shownAt: number;
  readonly etaSeconds: number;
  /** When the ticket was in fact admitted. */
  readonly admittedAt: number;
}

/**
 * (predicted − actual) ÷ actual remaining wait, in % (positive: the ETA said longer than it took),
 * or null for a sample shown with less than a second left (too short to judge).
 */
export function etaErrorPct(sample: EtaSample): number | null {
  const actual = (sample.admittedAt - sample.shownAt) / 1000;
  if (actual < 1) return null;
  return ((sample.etaSeconds - actual) / actual) * 100;
}

/** |predicted − actual| ÷ actual remaining wait, in %, per sample (samples with < 1 s left skipped). */
export function etaErrorsPct(samples: readonly EtaSample[]): number[] {
  const errors: number[] = [];
  for (const s of samples) {
    const error = etaErrorPct(s);
    if (error !== null) errors.push(Math.abs(error));
  }
  return errors;
}

/** The q-quantile (0..1) of values (nearest rank), or null when empty. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
