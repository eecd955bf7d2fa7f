/**
 * A latency-driven concurrency limit for one gateway thread (ARCHITECTURE.md "The opening"), in
 * the manner of Netflix concurrency-limits' Gradient2, with two backstops that aim at an absolute
 * latency rather than only a relative one:
 *
 * - **Gradient** (relative): every window (≥ `windowMs` and ≥ `minWindowSamples` answers) the
 *   window's mean RTT (short) is compared with a slow exponential average of the window means
 *   (long). While the short RTT stays within `tolerance` × long, the limit grows by √limit (the
 *   queue it allows); when requests start to queue, the gradient long/short (≥ 0.5) shrinks it,
 *   smoothed. Growth only happens when the limit is actually used (in flight ≥ 40 % of it): an
 *   idle thread must not talk itself into a huge limit.
 * - **Absolute target** (P7's p99 < 200 ms): when a window's p99 exceeds `targetP99Ms` while the
 *   window's latency is above its long average (rising) or the thread's event loop is busy (its
 *   own requests queue on it): queueing that a lower limit relieves — or by 3× whatever else — the
 *   limit is cut multiplicatively (× `backoff`); a window that misses the target otherwise (the
 *   thread waits on others) holds the limit (no growth). A baseline RTT that creeps up
 *   slowly would otherwise carry the long average with it; and a latency that stays high whatever
 *   the limit (the CPU taken by other processes) must not sink the limit to its floor, where it
 *   would only cost throughput.
 * - **AIMD on timeouts**: an answer slower than `timeoutMs` halves the limit at once (at most once
 *   per window), without waiting for the window to end.
 *
 * Pure and clock-driven (`now` is passed in), so it is tested with synthetic latencies; it never
 * reads a clock or keeps a timer. `static` mode (adaptive off) keeps the limit at `max`.
 */

export interface LimitOptions {
  /** Adaptive (default) or a fixed limit equal to `max`. */
  readonly adaptive: boolean;
  readonly initial: number;
  readonly min: number;
  readonly max: number;
  /** Absolute p99 target of a window (ms). */
  readonly targetP99Ms: number;
  /** An answer slower than this is a timeout: the limit halves. */
  readonly timeoutMs: number;
  readonly windowMs: number;
  readonly minWindowSamples: number;
  /** Short RTT may exceed the long one by this factor before the gradient shrinks the limit. */
  readonly tolerance: number;
  /** Share of a new estimate taken into the limit (0..1]. */
  readonly smoothing: number;
  /** Windows the long RTT averages over. */
  readonly longWindows: number;
  /** Multiplicative decrease when the absolute target is missed. */
  readonly backoff: number;
  /**
   * How busy this thread's event loop was since the last call (0..1: its utilisation). A thread
   * that is busy (≥ 0.9) queues its own requests, so a lower limit shortens their wait even when
   * latency is not rising; a thread that waits on others does not. Default: never busy.
   */
  readonly busy?: () => number;
}

export const DEFAULT_LIMIT_OPTIONS: LimitOptions = {
  adaptive: true,
  initial: 32,
  min: 4,
  max: 4096,
  targetP99Ms: 100,
  timeoutMs: 1_000,
  windowMs: 250,
  minWindowSamples: 20,
  tolerance: 1.5,
  smoothing: 0.2,
  longWindows: 40,
  backoff: 0.8,
};

export interface LimitSnapshot {
  readonly limit: number;
  /** Mean RTT of the last closed window (ms), or null before the first. */
  readonly shortRttMs: number | null;
  readonly longRttMs: number | null;
  /** p99 of the last closed window (ms), or null before the first. */
  readonly windowP99Ms: number | null;
  /** Windows closed so far, and how many of them cut the limit for missing the absolute target. */
  readonly windows: number;
  readonly targetCuts: number;
  readonly timeoutCuts: number;
}

export class AdaptiveLimit {
  private estimate: number;
  private readonly options: LimitOptions;
  private samples: number[] = [];
  private maxInFlight = 0;
  private windowStartedAt: number | null = null;
  private timeoutCutThisWindow = false;
  private shortRtt: number | null = null;
  private longRtt: number | null = null;
  private lastP99: number | null = null;
  private windows = 0;
  private targetCuts = 0;
  private timeoutCuts = 0;

  constructor(options: Partial<LimitOptions> = {}) {
    this.options = { ...DEFAULT_LIMIT_OPTIONS, ...options };
    const { min, max, initial } = this.options;
    if (!(min >= 1 && max >= min)) throw new RangeError(`limit bounds must satisfy 1 ≤ min ≤ max`);
    this.estimate = this.options.adaptive ? clamp(initial, min, max) : max;
  }

  /** The most requests ever in flight (`max`: MAX_IN_FLIGHT), whatever the limit is now. */
  get ceiling(): number {
    return this.options.max;
  }

  /** The whole number of requests that may be in flight now. */
  get limit(): number {
    return Math.floor(this.estimate);
  }

  /** One answered request: its time from admission to answer, and what was in flight when it started. */
  onSample(rttMs: number, inFlight: number, now: number): void {
    if (!this.options.adaptive) return;
    const o = this.options;
    this.windowStartedAt ??= now;
    this.samples.push(rttMs);
    if (inFlight > this.maxInFlight) this.maxInFlight = inFlight;
    if (rttMs >= o.timeoutMs && !this.timeoutCutThisWindow) {
      // AIMD backstop: one timeout halves the limit at once, once per window
      this.timeoutCutThisWindow = true;
      this.timeoutCuts++;
      this.estimate = clamp(this.estimate / 2, o.min, o.max);
    }
    if (now - this.windowStartedAt >= o.windowMs && this.samples.length >= o.minWindowSamples) {
      this.closeWindow(now);
    }
  }

  private closeWindow(now: number): void {
    const o = this.options;
    const samples = this.samples.sort((a, b) => a - b);
    let sum = 0;
    for (const s of samples) sum += s;
    const mean = sum / samples.length;
    const p99 = samples[Math.min(samples.length - 1, Math.ceil(samples.length * 0.99) - 1)]!;
    const used = this.maxInFlight;
    this.samples = [];
    this.maxInFlight = 0;
    this.windowStartedAt = now;
    this.timeoutCutThisWindow = false;
    this.windows++;
    this.lastP99 = p99;
    this.shortRtt = mean;
    const alpha = 2 / (o.longWindows + 1);
    this.longRtt = this.longRtt === null ? mean : this.longRtt * (1 - alpha) + mean * alpha;
    // back to normal after a long overload: do not wait for the slow average to forget it
    if (this.longRtt / mean > 2) this.longRtt *= 0.9;

    // the absolute target: cut when a window misses it while latency is rising (queueing that a
    // lower limit can relieve), or by far; a latency that stays high whatever the limit (the CPU
    // taken by others) is not cut for, or the limit would sink to its floor and only lose throughput
    const rising = mean > this.longRtt * 1.1;
    const busy = (o.busy?.() ?? 0) >= 0.9;
    if ((p99 > o.targetP99Ms && (rising || busy)) || p99 > o.targetP99Ms * 3) {
      this.targetCuts++;
      this.estimate = clamp(this.estimate * o.backoff, o.min, o.max);
      return;
    }
    if (p99 > o.targetP99Ms) return; // missing the target, not rising: hold
    // app-limited: the limit was not used, so the window says nothing about a larger one (40 %:
    // the background class alone may fill half the limit, and must still be able to grow it)
    if (used < this.estimate * 0.4) return;
    const gradient = clamp((o.tolerance * this.longRtt) / mean, 0.5, 1);
    const proposed = this.estimate * gradient + Math.sqrt(this.estimate);
    // growth takes the whole step (√limit per window); only a shrink is smoothed, so that one
    // slow window cannot halve a limit that many good windows built
    this.estimate = clamp(
      gradient >= 1 ? proposed : this.estimate * (1 - o.smoothing) + proposed * o.smoothing,
      o.min,
      o.max,
    );
  }

  snapshot(): LimitSnapshot {
    return {
      limit: this.limit,
      shortRttMs: this.shortRtt,
      longRttMs: this.longRtt,
      windowP99Ms: this.lastP99,
      windows: this.windows,
      targetCuts: this.targetCuts,
      timeoutCuts: this.timeoutCuts,
    };
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, value));
}
