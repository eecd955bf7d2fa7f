import { describe, expect, it } from 'vitest';
import { encodeHistogram, newHistogram, summarise } from './hdr.ts';
import { phaseBounds, phasesOf } from './phases.ts';
import type { CpuPoint, PhaseFigures, RunHistograms } from './types.ts';

/** What one synthetic second recorded. */
interface SyntheticSecond {
  readonly latenciesUs: readonly number[];
  readonly stepCounts: Readonly<Record<string, number>>;
  readonly reservations: number;
}

function stored(valuesUs: readonly number[]): string | null {
  if (valuesUs.length === 0) return null;
  const histogram = newHistogram();
  for (const us of valuesUs) histogram.recordValue(us);
  return encodeHistogram(histogram);
}

/** A run's stored histograms, second by second from `secondAt` (index = t). */
function histogramsOf(seconds: number, secondAt: (t: number) => SyntheticSecond): RunHistograms {
  const all = Array.from({ length: seconds }, (_, t) => secondAt(t));
  const steps = [...new Set(all.flatMap((second) => Object.keys(second.stepCounts)))];
  return {
    all: stored(all.flatMap((second) => second.latenciesUs)) ?? encodeHistogram(newHistogram()),
    byStep: {},
    byKind: {},
    staleness: encodeHistogram(newHistogram()),
    startDelay: encodeHistogram(newHistogram()),
    perSecond: all.map((second) => ({ latency: stored(second.latenciesUs), admitted: null })),
    stepSeconds: Object.fromEntries(
      steps.map((step) => [step, all.map((second) => second.stepCounts[step] ?? 0)]),
    ),
    reservationSeconds: all.map((second) => second.reservations),
  };
}

/** Second t: one login and one written answer, both taking (t + 1) ms; 10 seats taken from t = 11. */
const steady = histogramsOf(130, (t) => ({
  latenciesUs: [(t + 1) * 1000, (t + 1) * 1000],
  stepCounts: { login: 1, written: 1 },
  reservations: t >= 11 ? 10 : 0,
}));

function phase(phases: readonly PhaseFigures[], name: PhaseFigures['name']): PhaseFigures {
  const found = phases.find((p) => p.name === name);
  if (!found) throw new Error(`no ${name} phase in ${phases.map((p) => p.name).join(', ')}`);
  return found;
}

describe('phaseBounds', () => {
  it('cuts pre-opening, the opening minute, the sell-out and the payment tail', () => {
    expect(phaseBounds(10.3, 80, 120)).toEqual([
      { name: 'preOpening', fromS: 0, toS: 10.3 },
      { name: 'openingMinute', fromS: 10.3, toS: 70.3 },
      { name: 'sellOut', fromS: 70.3, toS: 90.3 },
      { name: 'paymentTail', fromS: 90.3, toS: 120 },
    ]);
  });

  it('leaves out a sell-out within the opening minute, and the payment tail of a run that never sold out', () => {
    expect(phaseBounds(10, 45, 120).map((p) => [p.name, p.fromS, p.toS])).toEqual([
      ['preOpening', 0, 10],
      ['openingMinute', 10, 70],
      ['paymentTail', 70, 120],
    ]);
    expect(phaseBounds(10, null, 120).map((p) => [p.name, p.fromS, p.toS])).toEqual([
      ['preOpening', 0, 10],
      ['openingMinute', 10, 70],
      ['sellOut', 70, 120],
    ]);
  });

  it('has no pre-opening for a run that starts at the opening, and clips phases to the run', () => {
    expect(phaseBounds(0, null, 50)).toEqual([{ name: 'openingMinute', fromS: 0, toS: 50 }]);
    expect(phaseBounds(20, 100, 90).map((p) => [p.name, p.fromS, p.toS])).toEqual([
      ['preOpening', 0, 20],
      ['openingMinute', 20, 80],
      ['sellOut', 80, 90],
    ]);
  });
});

describe('phasesOf', () => {
  const phases = phasesOf({ openingS: 10.3, sellOutS: 80, durationS: 120, histograms: steady });

  it('counts a second in the phase that holds its start: [10, 11) is before an opening at 10.3', () => {
    // seconds 0…10 (11 of them), 11…70 (60), 71…90 (20), 91…129 (the tail keeps the seconds past the end)
    expect(phases.map((p) => [p.name, p.requests])).toEqual([
      ['preOpening', 22],
      ['openingMinute', 120],
      ['sellOut', 40],
      ['paymentTail', 78],
    ]);
    const total = Object.values(steady.stepSeconds)
      .flat()
      .reduce((sum, n) => sum + n, 0);
    expect(phases.reduce((sum, p) => sum + p.requests, 0)).toBe(total);
    expect(phases.map((p) => p.reservations)).toEqual([0, 600, 200, 390]);
  });

  it('summarises each phase’s latency from its seconds’ histograms together', () => {
    const preOpening = phase(phases, 'preOpening');
    const expected = newHistogram();
    for (let t = 0; t <= 10; t++) expected.recordValueWithCount((t + 1) * 1000, 2);
    const { maxMs, ...percentiles } = summarise(expected);
    expect(preOpening.latency).toMatchObject({ ...percentiles, count: 22 });
    // the stored form keeps a value only to its bucket (2 significant digits): the max is its top
    expect(preOpening.latency.maxMs).toBeCloseTo(maxMs, 1);
    const openingMinute = newHistogram();
    for (let t = 11; t <= 70; t++) openingMinute.recordValueWithCount((t + 1) * 1000, 2);
    expect(phase(phases, 'openingMinute').latency.p50Ms).toBe(summarise(openingMinute).p50Ms);
  });

  it('counts seconds a JSON file stored as null (sparse arrays) as none', () => {
    const sparse: RunHistograms = {
      ...steady,
      stepSeconds: { login: [1, null, 1] as unknown as number[] },
      reservationSeconds: [],
      perSecond: [{ latency: null, admitted: null }],
    };
    const [only] = phasesOf({ openingS: 0, sellOutS: null, durationS: 3, histograms: sparse });
    expect(only).toMatchObject({ name: 'openingMinute', requests: 2, reservations: 0 });
    expect(only!.latency.count).toBe(0);
  });

  it('has no CPU figures without a CPU series', () => {
    for (const p of phases) {
      expect(p.cpuSeconds).toBeNull();
      expect(p.cpuPerReservationUs).toBeNull();
    }
  });
});

describe('phasesOf: CPU by process tree', () => {
  /** Cumulative CPU sampled every 5 s: gateway 0.2 s/s, redis 0.05, generator 0.1, other 0.01. */
  const cpuSeries: CpuPoint[] = Array.from({ length: 25 }, (_, i) => {
    const t = i * 5;
    return { t, cpuSeconds: { gateway: t * 0.2, redis: t * 0.05, generator: t * 0.1, other: t * 0.01 } };
  }).reverse(); // any order: the points are sorted by t
  const phases = phasesOf({ openingS: 10.3, sellOutS: 80, durationS: 120, histograms: steady, cpuSeries });

  it('takes the last point at or before the start and the first at or after the end', () => {
    // opening minute [10.3, 70.3): points t = 10 and t = 75
    expect(phase(phases, 'openingMinute').cpuSeconds).toEqual({
      gateway: 13,
      generator: 6.5,
      other: 0.65,
      redis: 3.25,
    });
  });

  it('gives µs per reservation per tree, with `server` = all but the generator and other', () => {
    const openingMinute = phase(phases, 'openingMinute');
    expect(openingMinute.cpuPerReservationUs).toEqual({
      server: Math.round(((13 + 3.25) * 1e6) / 600),
      gateway: Math.round((13 * 1e6) / 600),
      redis: Math.round((3.25 * 1e6) / 600),
      generator: Math.round((6.5 * 1e6) / 600),
      other: Math.round((0.65 * 1e6) / 600),
    });
    // no seat taken before the opening: CPU seconds, but nothing per reservation
    expect(phase(phases, 'preOpening').cpuSeconds).not.toBeNull();
    expect(phase(phases, 'preOpening').cpuPerReservationUs).toBeNull();
  });

  it('ends at the last point when the series stopped before the run did', () => {
    // the series ends at t = 120; the tail [90.3, 120) starts at the point t = 90
    expect(phase(phases, 'paymentTail').cpuSeconds?.gateway).toBeCloseTo(6, 6);
    const short = cpuSeries.filter((point) => point.t <= 100);
    const tail = phase(
      phasesOf({ openingS: 10.3, sellOutS: 80, durationS: 120, histograms: steady, cpuSeries: short }),
      'paymentTail',
    );
    expect(tail.cpuSeconds?.gateway).toBeCloseTo(2, 6); // t = 90 → 100
  });

  it('has none for a phase with fewer than two usable points', () => {
    const late = cpuSeries.filter((point) => point.t >= 15);
    const withLate = phasesOf({
      openingS: 10.3,
      sellOutS: 80,
      durationS: 120,
      histograms: steady,
      cpuSeries: late,
    });
    expect(phase(withLate, 'preOpening').cpuSeconds).toBeNull(); // no point at or before 0
    expect(phase(withLate, 'openingMinute').cpuSeconds).toBeNull(); // none at or before 10.3
    expect(phase(withLate, 'sellOut').cpuSeconds).not.toBeNull();
    const single = phasesOf({
      openingS: 10.3,
      sellOutS: 80,
      durationS: 120,
      histograms: steady,
      cpuSeries: [{ t: 0, cpuSeconds: { gateway: 1 } }],
    });
    for (const p of single) expect(p.cpuSeconds).toBeNull();
  });
});
