/**
 * What the runner measures, per second of the run and per step of the flow: answers by status and
 * error code, latency histograms (hdr-histogram, microsecond resolution), arrivals offered and
 * started, requests in flight. Produces the report's `timeline`, `latency` and `answers`. Never
 * records request or response bodies (they hold personal data).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import { encodeHistogram, newHistogram, peakRateOf, summarise, summariseWithinMax } from '../report/hdr.ts';
import type { LatencySummary, RunHistograms, TimelinePoint } from '../report/types.ts';

export { newHistogram, summarise };

/**
 * How an answer counts: a success, a refusal the flow expects, shed by admission control, sent to
 * the waiting room (403 QUEUE_PASS_REQUIRED), or a failure. "Admitted" (P7) is every answer the
 * gateway served: neither shed nor sent to the queue (nor a network error, which is no answer).
 */
/** P7's bound on an admitted answer's p99 (ms). */
const SLOW_ADMITTED_MS = 200;

export type AnswerKind = 'ok' | 'refused' | 'shed' | 'queued' | 'failed';

/**
 * One second of the run. While it is the current second its histograms record; once the clock has
 * moved past it, it is closed: its summaries are computed, its histograms kept only in their stored
 * form (a few hundred bytes instead of ~13 KB each), so a long run's memory does not grow with its
 * length (issue 15, P3).
 */
/** The generator's loop-delay timer ticks this often (ms). */
const LOOP_RESOLUTION_MS = 10;

/** A loop-delay reading (ns, the whole interval between ticks) as the delay past the tick (ms). */
export function delayPastResolutionMs(intervalNs: number): number {
  return Math.max(0, Math.round(intervalNs / 1e4 - LOOP_RESOLUTION_MS * 100) / 100);
}

interface Second {
  offered: number;
  started: number;
  completed: number;
  errors: number;
  shed: number;
  inFlight: number;
  latency: Histogram | null;
  /** Latency of the answers the gateway served (admitted, P7). */
  admitted: Histogram | null;
  /** Admitted answers slower than P7's 200 ms, by step (which steps broke a second's p99). */
  slow: Record<string, number> | null;
  queued: number;
  staleness: Histogram | null;
  /** Once closed: the summaries and the stored histograms. */
  closed: {
    latency: LatencySummary | null;
    admittedP99Ms: number | null;
    stalenessP99Ms: number | null;
    latencyEncoded: string | null;
    admittedEncoded: string | null;
  } | null;
  reservations: number;
  writerLagEvents: number | null;
  writerLagMs: number | null;
  /** The load generator's own event-loop delay in this second (ms): p99 and max. */
  loopDelayP99Ms: number | null;
  loopDelayMaxMs: number | null;
}

/** The same summary of plain values (already in the unit wanted): nearest-rank percentiles. */
export function summariseMs(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! * 100) / 100;
  return { count: sorted.length, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: at(1) };
}

export class RunRecorder {
  private readonly seconds: Second[] = [];
  /** Answers per second of each step (for peak per-step rates, e.g. logins/s). */
  private readonly stepSeconds = new Map<string, number[]>();
  private readonly byStep = new Map<string, Histogram>();
  private readonly all = newHistogram();
  /** Latency by how the answer counts: admitted (ok + refused) vs. shed vs. failed (P7). */
  private readonly byKind = new Map<AnswerKind, Histogram>();
  private readonly stalenessAll = newHistogram();
  /** How long candidates due by the curve waited for the generator to start them (µs). */
  private readonly startDelays = newHistogram();
  readonly answers = new Map<string, number>();
  readonly outcomes = new Map<string, number>();
  requests = 0;
  errors = 0;
  shed = 0;
  queued = 0;
  inFlight = 0;
  candidatesStarted = 0;
  candidatesFinished = 0;
  dashboardMessages = 0;

  /**
   * The generator's event-loop delay: an answer that arrives while the loop is busy is timed when
   * the loop gets to it, so a second's latency includes up to this much of the generator's own
   * delay (the clients of a real opening are separate machines). Node records the whole interval
   * between its timer's ticks, so an idle loop reads the resolution (10.0–10.2 ms): the figures
   * here are past it (`delayPastResolutionMs`).
   */
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });

  constructor(private readonly startedAtMs: number) {
    this.loop.enable();
  }

  /** The second of the run that `atMs` (performance.now() time base) falls in. */
  private second(atMs = performance.now()): Second {
    return this.seconds[this.secondIndex(atMs)]!;
  }

  /** A second's histograms (reopened if an answer still lands in a closed one: then recorded late). */
  private open(second: Second): { latency: Histogram; admitted: Histogram; staleness: Histogram } {
    second.latency ??= newHistogram();
    second.admitted ??= newHistogram();
    second.staleness ??= newHistogram();
    return second as { latency: Histogram; admitted: Histogram; staleness: Histogram };
  }

  /** Summarises a second the clock has left and keeps its histograms only in their stored form. */
  private close(second: Second): void {
    if (second.latency === null && second.closed !== null) return;
    const has = (h: Histogram | null): h is Histogram => h !== null && h.totalCount > 0;
    const previous = second.closed;
    second.closed = {
      latency: has(second.latency) ? summarise(second.latency) : (previous?.latency ?? null),
      admittedP99Ms: has(second.admitted)
        ? summarise(second.admitted).p99Ms
        : (previous?.admittedP99Ms ?? null),
      stalenessP99Ms: has(second.staleness)
        ? summarise(second.staleness).p99Ms
        : (previous?.stalenessP99Ms ?? null),
      latencyEncoded: has(second.latency)
        ? encodeHistogram(second.latency)
        : (previous?.latencyEncoded ?? null),
      admittedEncoded: has(second.admitted)
        ? encodeHistogram(second.admitted)
        : (previous?.admittedEncoded ?? null),
    };
    second.latency = null;
    second.admitted = null;
    second.staleness = null;
  }

  private secondIndex(atMs = performance.now()): number {
    const index = Math.max(0, Math.floor((atMs - this.startedAtMs) / 1000));
    while (this.seconds.length <= index) {
      const closing = this.seconds[this.seconds.length - 1];
      if (closing && closing.loopDelayP99Ms === null && this.loop.count > 0) {
        closing.loopDelayP99Ms = delayPastResolutionMs(this.loop.percentile(99));
        closing.loopDelayMaxMs = delayPastResolutionMs(this.loop.max);
        this.loop.reset();
      }
      if (closing) this.close(closing);
      this.seconds.push({
        offered: 0,
        started: 0,
        completed: 0,
        errors: 0,
        shed: 0,
        inFlight: this.inFlight,
        latency: newHistogram(),
        admitted: newHistogram(),
        slow: null,
        queued: 0,
        staleness: newHistogram(),
        closed: null,
        reservations: 0,
        writerLagEvents: null,
        writerLagMs: null,
        loopDelayP99Ms: null,
        loopDelayMaxMs: null,
      });
    }
    return index;
  }

  offered(count: number, atMs?: number): void {
    this.second(atMs).offered += count;
  }

  /** A candidate starts walking, `delayMs` after the curve made it due (the generator's backlog). */
  started(delayMs = 0): void {
    this.candidatesStarted += 1;
    this.second().started += 1;
    this.startDelays.recordValue(Math.max(1, Math.round(delayMs * 1000)));
  }

  /** A seat (written or oral) acknowledged to a candidate: the phases' unit of work. */
  reserved(): void {
    this.second().reservations += 1;
  }

  finished(outcome: string): void {
    this.candidatesFinished += 1;
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }

  requestStarted(): void {
    this.inFlight += 1;
  }

  /** One answered (or failed) request: `label` is e.g. "201" or "409 SOLD_OUT" or "network". */
  answered(step: string, latencyMs: number, label: string, kind: AnswerKind): void {
    this.inFlight -= 1;
    this.requests += 1;
    const us = Math.max(1, Math.round(latencyMs * 1000));
    const index = this.secondIndex();
    const second = this.seconds[index]!;
    second.completed += 1;
    second.inFlight = this.inFlight;
    const histograms = this.open(second);
    histograms.latency.recordValue(us);
    this.all.recordValue(us);
    let ofKind = this.byKind.get(kind);
    if (!ofKind) this.byKind.set(kind, (ofKind = newHistogram()));
    ofKind.recordValue(us);
    let histogram = this.byStep.get(step);
    if (!histogram) this.byStep.set(step, (histogram = newHistogram()));
    histogram.recordValue(us);
    let perSecond = this.stepSeconds.get(step);
    if (!perSecond) this.stepSeconds.set(step, (perSecond = []));
    perSecond[index] = (perSecond[index] ?? 0) + 1;
    this.answers.set(label, (this.answers.get(label) ?? 0) + 1);
    if (kind === 'shed') {
      this.shed += 1;
      second.shed += 1;
    } else if (kind === 'queued') {
      this.queued += 1;
      second.queued += 1;
    } else if (label !== 'network') {
      histograms.admitted.recordValue(us);
      if (latencyMs >= SLOW_ADMITTED_MS) (second.slow ??= {})[step] = (second.slow[step] ?? 0) + 1;
    }
    if (kind === 'failed') {
      this.errors += 1;
      second.errors += 1;
    }
  }

  staleness(ms: number): void {
    this.dashboardMessages += 1;
    const us = Math.max(1, Math.round(Math.max(0, ms) * 1000));
    this.open(this.second()).staleness.recordValue(us);
    this.stalenessAll.recordValue(us);
  }

  writerLag(events: number, ms: number): void {
    const second = this.second();
    second.writerLagEvents = Math.max(second.writerLagEvents ?? 0, events);
    second.writerLagMs = Math.max(second.writerLagMs ?? 0, ms);
  }

  /** The per-second numbers so far (for the live progress line). */
  lastSecond(): { completed: number; p99Ms: number | null; offered: number; started: number } {
    const index = Math.max(0, Math.floor((performance.now() - this.startedAtMs) / 1000) - 1);
    const s = this.seconds[index];
    if (!s) return { completed: 0, p99Ms: null, offered: 0, started: 0 };
    return {
      completed: s.completed,
      offered: s.offered,
      started: s.started,
      p99Ms:
        s.latency && s.latency.totalCount > 0
          ? summarise(s.latency).p99Ms
          : (s.closed?.latency?.p99Ms ?? null),
    };
  }

  timeline(): TimelinePoint[] {
    for (const s of this.seconds) this.close(s);
    return this.seconds.map((s, t) => {
      const latency = s.closed?.latency ?? null;
      return {
        t,
        offered: s.offered,
        started: s.started,
        completed: s.completed,
        errors: s.errors,
        shed: s.shed,
        queued: s.queued,
        admittedP99Ms: s.closed?.admittedP99Ms ?? null,
        ...(s.slow ? { slowAdmitted: s.slow } : {}),
        p50Ms: latency?.p50Ms ?? null,
        p90Ms: latency?.p90Ms ?? null,
        p99Ms: latency?.p99Ms ?? null,
        inFlight: s.inFlight,
        stalenessP99Ms: s.closed?.stalenessP99Ms ?? null,
        writerLagEvents: s.writerLagEvents,
        writerLagMs: s.writerLagMs,
        generatorLoopDelayP99Ms: s.loopDelayP99Ms,
        generatorLoopDelayMaxMs: s.loopDelayMaxMs,
      };
    });
  }

  latency(): {
    all: LatencySummary;
    byStep: Record<string, LatencySummary>;
    admitted: LatencySummary;
    shed: LatencySummary;
  } {
    const byStep: Record<string, LatencySummary> = {};
    for (const [step, histogram] of [...this.byStep].sort(([a], [b]) => a.localeCompare(b))) {
      byStep[step] = summariseWithinMax(histogram);
    }
    return {
      all: summariseWithinMax(this.all),
      byStep,
      admitted: this.latencyOf(['ok', 'refused', 'failed']),
      shed: this.latencyOf(['shed']),
    };
  }

  /** Latency of the answers of some kinds together, e.g. admitted = ['ok', 'refused', 'failed']. */
  latencyOf(kinds: readonly AnswerKind[]): LatencySummary {
    const merged = newHistogram();
    for (const kind of kinds) {
      const histogram = this.byKind.get(kind);
      if (histogram) merged.add(histogram);
    }
    return summariseWithinMax(merged);
  }

  startDelaySummary(): LatencySummary {
    return summariseWithinMax(this.startDelays);
  }

  /** The run's histograms and per-second counts in their stored form (a merge adds them up). */
  histograms(): RunHistograms {
    for (const s of this.seconds) this.close(s);
    const encodeAll = (map: ReadonlyMap<string, Histogram>): Record<string, string> =>
      Object.fromEntries(
        [...map].sort(([a], [b]) => a.localeCompare(b)).map(([k, h]) => [k, encodeHistogram(h)]),
      );
    return {
      all: encodeHistogram(this.all),
      byStep: encodeAll(this.byStep),
      byKind: encodeAll(this.byKind),
      staleness: encodeHistogram(this.stalenessAll),
      startDelay: encodeHistogram(this.startDelays),
      perSecond: this.seconds.map((s) => ({
        latency: s.closed?.latencyEncoded ?? null,
        admitted: s.closed?.admittedEncoded ?? null,
      })),
      stepSeconds: Object.fromEntries(
        [...this.stepSeconds]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([step, counts]) => [
            step,
            Array.from({ length: this.seconds.length }, (_, t) => counts[t] ?? 0),
          ]),
      ),
      reservationSeconds: this.seconds.map((s) => s.reservations),
    };
  }

  stalenessSummary(): LatencySummary {
    return summariseWithinMax(this.stalenessAll);
  }

  /** Highest average rate of a step's answers over `windowS` consecutive seconds (all steps: null). */
  peakRate(step: string | null, windowS: number): number {
    const counts =
      step === null
        ? this.seconds.map((s) => s.completed)
        : Array.from(this.stepSeconds.get(step) ?? [], (c) => c ?? 0);
    return peakRateOf(counts, windowS);
  }

  /** Count of answers of one step (for per-candidate averages). */
  stepCount(step: string): number {
    return this.byStep.get(step)?.totalCount ?? 0;
  }
}
