/**
 * Admission control of one gateway thread: an adaptive concurrency limit (limit.ts) shared by
 * priority classes. A request is admitted when the requests in flight are below its class's share
 * of the limit, else it is shed at once (503 OVERLOADED + Retry-After, answered by the caller):
 * - `critical`: reservations (holds, binding) and payment confirmations: the whole limit and more;
 * - `standard`: everything else a candidate does (logins, eligibility, queue, reads);
 * - `background`: dashboards' snapshots and admin reads.
 * So as load grows the background goes first, then the standard class, and a reservation always
 * finds a slot that a cheaper request could not take (at least 45 % of the limit).
 *
 * It counts; it never waits. Time comes in as arguments (performance.now() at the call sites).
 */
import { AdaptiveLimit, type LimitOptions, type LimitSnapshot } from './limit.ts';

export const PRIORITY_CLASSES = ['critical', 'standard', 'background'] as const;
export type PriorityClass = (typeof PRIORITY_CLASSES)[number];

/**
 * The share of the limit each class may fill. A reservation may go a quarter over the limit: the
 * limit is what protects the admitted candidates' latency from everything else, and the waiting
 * room (not this cap) is what bounds how many reservations come at once.
 */
export const CLASS_SHARE: Readonly<Record<PriorityClass, number>> = {
  critical: 1.25,
  standard: 0.8,
  background: 0.5,
};

export interface AdmissionStats extends LimitSnapshot {
  readonly inFlight: number;
  readonly admitted: Readonly<Record<PriorityClass, number>>;
  readonly shed: Readonly<Record<PriorityClass, number>>;
}

const zeroes = (): Record<PriorityClass, number> => ({ critical: 0, standard: 0, background: 0 });

export class Admission {
  private readonly limiter: AdaptiveLimit;
  private current = 0;
  private readonly admittedByClass = zeroes();
  private readonly shedByClass = zeroes();
  private criticalSamples: number[] = [];
  private readonly recent: { second: number; admitted: number[]; shed: number[] } = {
    second: 0,
    admitted: [0, 0],
    shed: [0, 0],
  };

  constructor(options: Partial<LimitOptions> = {}) {
    // this thread's event-loop utilisation between two windows: a busy loop queues our own requests
    let last = performance.eventLoopUtilization();
    const busy = () => {
      const now = performance.eventLoopUtilization();
      const since = performance.eventLoopUtilization(now, last);
      last = now;
      return since.utilization;
    };
    this.limiter = new AdaptiveLimit({ busy, ...options });
  }

  get inFlight(): number {
    return this.current;
  }

  get limit(): number {
    return this.limiter.limit;
  }

  /**
   * Admits a request of `cls` (returns the in-flight count it started with, to hand back to
   * `release`) or refuses it (null). At least one request of any class is always admitted on an
   * idle thread, whatever the share says. An `exempt` request (a route's `admitAlways`) is refused
   * only at the thread's ceiling (MAX_IN_FLIGHT), whatever the adaptive limit is now.
   */
  tryAcquire(cls: PriorityClass, now = performance.now(), exempt = false): number | null {
    const share = Math.max(1, Math.floor(this.limiter.limit * CLASS_SHARE[cls]));
    const cap = exempt ? Math.max(share, this.limiter.ceiling) : share;
    const window = this.window(now);
    if (this.current >= cap) {
      this.shedByClass[cls]++;
      window.shed[0]!++;
      return null;
    }
    this.admittedByClass[cls]++;
    window.admitted[0]!++;
    return ++this.current;
  }

  /**
   * Seconds a shed client should wait: the requests shed over the last two seconds ÷ those admitted
   * (at least 1 s, at most 30 s). It spreads the refused demand over the time this thread needs to
   * serve it, so that the retries do not come back as a second, larger wave (a retry storm would
   * keep the thread shedding: the sheds cost CPU too).
   */
  retryAfterSeconds(now = performance.now()): number {
    const window = this.window(now);
    const shed = window.shed[0]! + window.shed[1]!;
    const admitted = Math.max(1, window.admitted[0]! + window.admitted[1]!);
    return Math.min(30, Math.max(1, Math.ceil(shed / admitted)));
  }

  /** The two-second window of admissions and sheds, moved on to the current second. */
  private window(now: number): { admitted: number[]; shed: number[] } {
    const second = Math.floor(now / 1000);
    const recent = this.recent;
    if (second !== recent.second) {
      const keep = second === recent.second + 1;
      recent.admitted = [0, keep ? recent.admitted[0]! : 0];
      recent.shed = [0, keep ? recent.shed[0]! : 0];
      recent.second = second;
    }
    return recent;
  }

  /** An admitted request answered after `rttMs`; `startedWith` is what tryAcquire returned. */
  release(startedWith: number, rttMs: number, now: number, cls: PriorityClass = 'standard'): void {
    this.current--;
    this.limiter.onSample(rttMs, startedWith, now);
    if (cls === 'critical' && this.criticalSamples.length < 10_000) this.criticalSamples.push(rttMs);
  }

  /**
   * p99 of the critical requests answered since the last call (null: none), and forgets them: what
   * the admitted candidates of a waiting room meet (engine/queueControl.ts), apart from the rest.
   */
  takeCriticalP99(): number | null {
    const samples = this.criticalSamples.sort((a, b) => a - b);
    this.criticalSamples = [];
    if (samples.length === 0) return null;
    return samples[Math.min(samples.length - 1, Math.ceil(samples.length * 0.99) - 1)]!;
  }

  stats(): AdmissionStats {
    return {
      ...this.limiter.snapshot(),
      inFlight: this.current,
      admitted: { ...this.admittedByClass },
      shed: { ...this.shedByClass },
    };
  }
}
