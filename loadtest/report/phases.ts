/**
 * The phases a capacity planner reasons about (issue 15 item 3: "pre-opening logins, the opening
 * minute, sell-out, the payment tail and expiry"), figured from a run's stored histograms and
 * per-second counts, never from its already-summarised timeline, so that a merged run's phases are
 * as exact as an unsharded run's. Pure: no I/O.
 *
 * Boundaries are seconds from the start of the run (they may be fractional: the opening is at
 * e.g. 10.3 s). A recorded second [t, t+1) counts in the phase that contains its start t, i.e. the
 * phase [fromS, toS) takes the seconds ceil(fromS) … ceil(toS) − 1. The last phase also takes every
 * recorded second at or past the run's end (answers to requests still in flight when the run's
 * duration was taken), so the phases together count every request and reservation of the run.
 * Expiry (holds lapsing after the payment window) has no phase of its own: it happens during the
 * payment tail, which runs to the end of the run.
 */
import type { Histogram } from 'hdr-histogram-js';
import { mergeEncoded, summarise } from './hdr.ts';
import type { CpuPoint, PhaseFigures, PhaseName, RunHistograms } from './types.ts';

/** The opening minute: P7's window of the heaviest load. */
const OPENING_MINUTE_S = 60;

/**
 * Process trees that are not the system under test: the load generator itself and everything else
 * on the box (loadtest/cpu.ts names them so). `server` in cpuPerReservationUs is every other tree.
 */
const NOT_SERVER = new Set(['generator', 'other']);

export interface PhaseInput {
  /** Seconds from the start of the run to the opening. */
  readonly openingS: number;
  /** Seconds after the opening until the last seat was taken (null: never sold out). */
  readonly sellOutS: number | null;
  readonly durationS: number;
  readonly histograms: RunHistograms;
  readonly cpuSeries?: readonly CpuPoint[] | null;
}

interface PhaseBounds {
  readonly name: PhaseName;
  readonly fromS: number;
  readonly toS: number;
}

/** Float noise off a boundary (10.3 + 60 is 70.30000000000001), so ceil lands on the right second. */
function roundBound(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/**
 * The phases in order, clipped to [0, durationS]; a phase of no length is left out (no
 * pre-opening when the run starts at the opening, no sell-out phase when the seats were gone within
 * the opening minute, no payment tail when they never were: then the sell-out runs to the end).
 */
export function phaseBounds(openingS: number, sellOutS: number | null, durationS: number): PhaseBounds[] {
  const end = roundBound(Math.max(0, durationS));
  const clip = (seconds: number): number => Math.min(end, Math.max(0, roundBound(seconds)));
  const opening = clip(openingS);
  const openingMinuteEnd = clip(openingS + OPENING_MINUTE_S);
  const soldOutAt = sellOutS === null ? end : clip(openingS + sellOutS);
  const phases: PhaseBounds[] = [
    { name: 'preOpening', fromS: 0, toS: opening },
    { name: 'openingMinute', fromS: opening, toS: openingMinuteEnd },
    { name: 'sellOut', fromS: openingMinuteEnd, toS: soldOutAt },
  ];
  if (sellOutS !== null) {
    phases.push({ name: 'paymentTail', fromS: Math.max(openingMinuteEnd, soldOutAt), toS: end });
  }
  return phases.filter((phase) => phase.toS > phase.fromS);
}

/** How many seconds the histograms hold (the longest of their per-second arrays). */
function recordedSeconds(histograms: RunHistograms): number {
  return Math.max(
    histograms.perSecond.length,
    histograms.reservationSeconds.length,
    ...Object.values(histograms.stepSeconds).map((counts) => counts.length),
  );
}

/** The seconds [first, last) a phase counts (see the module comment). */
function secondsOf(bounds: PhaseBounds, isLast: boolean, recorded: number): [number, number] {
  const first = Math.ceil(bounds.fromS);
  const last = isLast ? Math.max(recorded, Math.ceil(bounds.toS)) : Math.ceil(bounds.toS);
  return [first, last];
}

/** Sum of a per-second count over [first, last); a missing second (or a JSON null) counts 0. */
function sumSeconds(counts: readonly (number | null | undefined)[], first: number, last: number): number {
  let sum = 0;
  for (let t = first; t < last && t < counts.length; t++) sum += counts[t] ?? 0;
  return sum;
}

function latencyOver(histograms: RunHistograms, first: number, last: number): Histogram {
  return mergeEncoded(histograms.perSecond.slice(first, last).map((second) => second?.latency));
}

/**
 * The cumulative CPU points a phase's figures are the difference of: at its start the last point
 * at or before it, at its end the first point at or after it (or the last point, when the series
 * stopped before the phase did). Null when the series has no point at or before the start, or the
 * two are the same point: less than two usable points.
 */
function cpuPointsAround(
  series: readonly CpuPoint[],
  fromS: number,
  toS: number,
): [CpuPoint, CpuPoint] | null {
  const before = series.filter((point) => point.t <= fromS).at(-1);
  const after = series.find((point) => point.t >= toS) ?? series.at(-1);
  if (before === undefined || after === undefined || after.t <= before.t) return null;
  return [before, after];
}

/** CPU-seconds per process tree between two cumulative points (a tree missing from one counts 0). */
function cpuBetween(start: CpuPoint, end: CpuPoint): Record<string, number> {
  const keys = [...new Set([...Object.keys(start.cpuSeconds), ...Object.keys(end.cpuSeconds)])].sort();
  return Object.fromEntries(
    keys.map((key) => {
      const spent = (end.cpuSeconds[key] ?? 0) - (start.cpuSeconds[key] ?? 0);
      return [key, Math.round(spent * 1000) / 1000];
    }),
  );
}

/**
 * CPU µs per reservation by process tree, plus `server`: every tree but the load generator's and
 * `other` (the rest of the box), i.e. what the system under test spent per seat.
 */
export function cpuPerReservation(
  cpuSeconds: Readonly<Record<string, number>>,
  reservations: number,
): Record<string, number> {
  const perReservation = (seconds: number): number => Math.round((seconds * 1e6) / reservations);
  const server = Object.entries(cpuSeconds)
    .filter(([key]) => !NOT_SERVER.has(key))
    .reduce((sum, [, seconds]) => sum + seconds, 0);
  return {
    server: perReservation(server),
    ...Object.fromEntries(Object.entries(cpuSeconds).map(([key, seconds]) => [key, perReservation(seconds)])),
  };
}

/** Each phase's requests, reservations, latency and CPU (module comment: which second counts where). */
export function phasesOf(input: PhaseInput): PhaseFigures[] {
  const { histograms } = input;
  const series = [...(input.cpuSeries ?? [])].sort((a, b) => a.t - b.t);
  const recorded = recordedSeconds(histograms);
  const bounds = phaseBounds(input.openingS, input.sellOutS, input.durationS);
  return bounds.map((phase, index) => {
    const [first, last] = secondsOf(phase, index === bounds.length - 1, recorded);
    const requests = Object.values(histograms.stepSeconds).reduce(
      (sum, counts) => sum + sumSeconds(counts, first, last),
      0,
    );
    const reservations = sumSeconds(histograms.reservationSeconds, first, last);
    const around = cpuPointsAround(series, phase.fromS, phase.toS);
    const cpuSeconds = around ? cpuBetween(...around) : null;
    return {
      name: phase.name,
      fromS: phase.fromS,
      toS: phase.toS,
      requests,
      reservations,
      latency: summarise(latencyOver(histograms, first, last)),
      cpuSeconds,
      cpuPerReservationUs:
        cpuSeconds !== null && reservations > 0 ? cpuPerReservation(cpuSeconds, reservations) : null,
    };
  });
}
