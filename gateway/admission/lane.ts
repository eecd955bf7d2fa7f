/**
 * A work lane: one kind of CPU work (password hashing, eligibility, roster import) with its own
 * concurrency (its own worker threads) and its own queue in front of them, so that a login storm
 * never delays an eligibility check or a roster chunk (ARCHITECTURE.md "The opening", P7).
 *
 * The queue never lets work run late:
 * - **deadline**: a task that has waited `deadlineMs` is refused at once (LaneOverloaded, which
 *   the gateway answers 503 OVERLOADED + Retry-After), never started: its client has given up or
 *   soon will, and running it would only delay the tasks behind it;
 * - **predicted wait**: a task whose predicted wait (tasks ahead ÷ concurrency × the measured
 *   service time) exceeds the bound is refused on arrival, not after waiting for nothing;
 * - **budget** (optional): a task whose wait so far plus the measured service time would pass
 *   `budgetMs` is refused on arrival or dropped unrun when its turn comes: when the service time
 *   grows (a hash on cores shared with everything else), fewer tasks may wait, so what is served
 *   still ends within the budget;
 * - **CoDel**: while the shortest wait seen over an interval stays above `targetWaitMs`, the queue
 *   is a standing queue (arrivals outpace service for good), and the bound for new arrivals drops
 *   from the deadline to the target, so the standing queue drains instead of every task waiting
 *   almost the whole deadline.
 *
 * A refusal's Retry-After spreads the refused demand over the time the lane needs to serve it: the
 * tasks refused over the last two seconds ÷ the tasks completed in them (at least 1 s, at most
 * 30 s). A login storm at 20× the lane's capacity is told to come back in about 20 s, so the
 * retries arrive at about the rate the lane serves them instead of as a second storm.
 *
 * It does not know what a task is: `execute` runs one (e.g. a piscina pool's run).
 */

export interface LaneOptions {
  readonly name: string;
  /** Tasks running at once (the lane's threads). */
  readonly concurrency: number;
  /** A task never starts after waiting this long. */
  readonly deadlineMs: number;
  /** CoDel target wait (≤ deadlineMs). */
  readonly targetWaitMs: number;
  /** CoDel interval over which the shortest wait is judged. */
  readonly intervalMs: number;
  /** Hard bound on waiting tasks. */
  readonly maxQueue: number;
  /** A task's wait plus the measured service time never passes this (ms); absent or 0: no budget. */
  readonly budgetMs?: number;
}

export class LaneOverloaded extends Error {
  readonly code = 'OVERLOADED';
  constructor(
    readonly lane: string,
    readonly reason: 'deadline' | 'predicted' | 'full',
    readonly retryAfterSeconds: number,
  ) {
    super(`the ${lane} lane is overloaded (${reason})`);
    this.name = 'LaneOverloaded';
  }
}

export interface LaneStats {
  readonly name: string;
  readonly concurrency: number;
  readonly running: number;
  readonly queued: number;
  readonly completed: number;
  readonly failed: number;
  readonly shed: { readonly deadline: number; readonly predicted: number; readonly full: number };
  /** Smoothed service time of one task (ms), or null before the first. */
  readonly serviceMs: number | null;
  /** Whether the CoDel state says the queue is standing. */
  readonly dropping: boolean;
  /** How long the started tasks waited in the queue: counts per bucket of LANE_WAIT_BUCKETS_MS. */
  readonly waited: { readonly buckets: readonly number[]; readonly count: number; readonly sumMs: number };
}

/** Upper bounds (ms) of the queue-wait histogram's buckets; the last bucket is +Inf. */
export const LANE_WAIT_BUCKETS_MS: readonly number[] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

interface Waiting {
  readonly task: unknown;
  readonly enqueuedAt: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

export class Lane {
  private readonly queue: Waiting[] = [];
  private head = 0;
  private running = 0;
  private completed = 0;
  private failed = 0;
  private readonly shed = { deadline: 0, predicted: 0, full: 0 };
  private serviceMs: number | null = null;
  /** Refusals and completions in the current and the previous second (for Retry-After). */
  private readonly recent: { second: number; shed: number[]; done: number[] } = {
    second: 0,
    shed: [0, 0],
    done: [0, 0],
  };
  private dropping = false;
  private readonly waitBuckets = new Array<number>(LANE_WAIT_BUCKETS_MS.length + 1).fill(0);
  private waitSumMs = 0;
  private intervalStartedAt: number;
  private minWaitInInterval = Infinity;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly options: LaneOptions,
    private readonly execute: (task: unknown) => Promise<unknown>,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (options.concurrency < 1) throw new RangeError(`${options.name} lane: concurrency must be ≥ 1`);
    if (options.targetWaitMs > options.deadlineMs) {
      throw new RangeError(`${options.name} lane: the target wait must not exceed the deadline`);
    }
    this.intervalStartedAt = now();
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  run<Result>(task: unknown): Promise<Result> {
    const now = this.now();
    if (this.running < this.options.concurrency && this.queued === 0) {
      this.noteWait(0, now);
      this.countWait(0);
      return this.start(task, now) as Promise<Result>;
    }
    const queued = this.queued;
    if (queued >= this.options.maxQueue) return Promise.reject(this.refuse('full', this.predictWait(queued)));
    const predicted = this.predictWait(queued);
    const bound = this.dropping ? this.options.targetWaitMs : this.options.deadlineMs;
    if (predicted > bound || this.overBudget(predicted))
      return Promise.reject(this.refuse('predicted', predicted));
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ task, enqueuedAt: now, resolve: resolve as (value: unknown) => void, reject });
      this.armTimer();
    });
  }

  stats(): LaneStats {
    return {
      name: this.options.name,
      concurrency: this.options.concurrency,
      running: this.running,
      queued: this.queued,
      completed: this.completed,
      failed: this.failed,
      shed: { ...this.shed },
      serviceMs: this.serviceMs,
      dropping: this.dropping,
      waited: {
        buckets: [...this.waitBuckets],
        count: this.waitBuckets.reduce((sum, n) => sum + n, 0),
        sumMs: this.waitSumMs,
      },
    };
  }

  /** Refuses everything still waiting (shutdown). */
  close(): void {
    this.disarmTimer();
    while (this.queued > 0) this.take()!.reject(new LaneOverloaded(this.options.name, 'full', 1));
  }

  /** Whether a task that has waited (or will wait) `waitMs` would end past the budget. */
  private overBudget(waitMs: number): boolean {
    const budget = this.options.budgetMs ?? 0;
    return budget > 0 && this.serviceMs !== null && waitMs + this.serviceMs > budget;
  }

  /** How long a task arriving behind `ahead` waiting tasks is expected to wait (ms). */
  private predictWait(ahead: number): number {
    if (this.serviceMs === null) return 0;
    return Math.ceil((ahead + 1) / this.options.concurrency) * this.serviceMs;
  }

  private refuse(reason: 'deadline' | 'predicted' | 'full', waitMs: number): LaneOverloaded {
    this.shed[reason]++;
    const window = this.window();
    window.shed[0]!++;
    const shed = window.shed[0]! + window.shed[1]!;
    const done = Math.max(1, window.done[0]! + window.done[1]!);
    const retryAfter = Math.max(Math.ceil(waitMs / 1000), Math.ceil(shed / done));
    return new LaneOverloaded(this.options.name, reason, Math.min(30, Math.max(1, retryAfter)));
  }

  /** The two-second window of refusals and completions, moved on to the current second. */
  private window(): { shed: number[]; done: number[] } {
    const second = Math.floor(this.now() / 1000);
    const recent = this.recent;
    if (second !== recent.second) {
      const keep = second === recent.second + 1;
      recent.shed = [0, keep ? recent.shed[0]! : 0];
      recent.done = [0, keep ? recent.done[0]! : 0];
      recent.second = second;
    }
    return recent;
  }

  private start(task: unknown, startedAt: number): Promise<unknown> {
    this.running++;
    return this.execute(task).then(
      (result) => {
        this.finish(startedAt, true);
        return result;
      },
      (error: unknown) => {
        this.finish(startedAt, false);
        throw error;
      },
    );
  }

  private finish(startedAt: number, ok: boolean): void {
    const now = this.now();
    this.running--;
    if (ok) this.completed++;
    else this.failed++;
    this.window().done[0]!++;
    const took = now - startedAt;
    this.serviceMs = this.serviceMs === null ? took : this.serviceMs * 0.8 + took * 0.2;
    this.startNext(now);
  }

  private take(): Waiting | undefined {
    if (this.queued === 0) return undefined;
    const next = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as Waiting;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return next;
  }

  private startNext(now: number): void {
    this.expire(now);
    while (this.running < this.options.concurrency && this.queued > 0) {
      const next = this.take()!;
      this.noteWait(now - next.enqueuedAt, now);
      this.countWait(now - next.enqueuedAt);
      this.start(next.task, now).then(next.resolve, next.reject);
    }
    if (this.queued === 0) {
      this.disarmTimer();
      this.dropping = false;
    }
  }

  /**
   * Refuses, oldest first, every waiting task that has reached its deadline or, started now, would
   * end past its budget.
   */
  private expire(now: number): void {
    while (this.queued > 0) {
      const waited = now - this.queue[this.head]!.enqueuedAt;
      if (waited < this.options.deadlineMs && !this.overBudget(waited)) break;
      const late = this.take()!;
      this.noteWait(now - late.enqueuedAt, now);
      late.reject(this.refuse('deadline', this.predictWait(this.queued)));
    }
  }

  /** The queue-wait histogram of started tasks (what a lane's clients waited before their work ran). */
  private countWait(waitMs: number): void {
    let bucket = 0;
    while (bucket < LANE_WAIT_BUCKETS_MS.length && waitMs > LANE_WAIT_BUCKETS_MS[bucket]!) bucket++;
    this.waitBuckets[bucket]!++;
    this.waitSumMs += waitMs;
  }

  /** CoDel: the shortest wait over each interval tells a standing queue from a passing burst. */
  private noteWait(waitMs: number, now: number): void {
    if (waitMs < this.minWaitInInterval) this.minWaitInInterval = waitMs;
    if (now - this.intervalStartedAt >= this.options.intervalMs) {
      this.dropping = this.minWaitInInterval > this.options.targetWaitMs;
      this.minWaitInInterval = Infinity;
      this.intervalStartedAt = now;
    }
  }

  private armTimer(): void {
    if (this.timer) return;
    const period = Math.max(5, Math.min(50, this.options.deadlineMs / 4));
    this.timer = setInterval(() => {
      const now = this.now();
      this.expire(now);
      if (this.queued === 0) this.disarmTimer();
    }, period);
    this.timer.unref?.();
  }

  private disarmTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
