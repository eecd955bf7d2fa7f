/**
 * The worker pool for CPU-bound work, as separate lanes (ARCHITECTURE.md "The opening"): password
 * hashing (the KDF), eligibility evaluation and roster rows each have their own piscina threads and
 * their own queue with a deadline (gateway/admission/lane.ts), so a login storm never delays an
 * eligibility check or a roster chunk, and work that has waited past its deadline is refused at
 * once (LaneOverloaded → 503 OVERLOADED + Retry-After at the gateway), never run late. One worker
 * file per kind (`<kind>.worker.ts`, default export, listed in WORKER_FILES), named per task by URL;
 * workers run TypeScript through tsx's loader. By default the KDF lane leaves a core to the event
 * loops (cores − 1 threads).
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { DEFAULTS, defaultLaneThreads } from '../../config/defaults.ts';
import { Lane, LaneOverloaded, type LaneStats } from '../admission/lane.ts';

/** The worker file of each kind of work: beside this module, or in the feature folder it serves. */
const WORKER_FILES = {
  password: new URL('./password.worker.ts', import.meta.url).href,
  eligibility: new URL('./eligibility.worker.ts', import.meta.url).href,
  roster: new URL('../../roster/roster.worker.ts', import.meta.url).href,
} as const;

export type WorkerKind = keyof typeof WORKER_FILES;
export const WORKER_KINDS = Object.keys(WORKER_FILES) as WorkerKind[];

export interface LaneSettings {
  /** Threads of this lane. */
  readonly threads: number;
  /** A task never starts after waiting this long in the lane's queue. */
  readonly deadlineMs: number;
  /** Tasks allowed to wait beyond the running ones. */
  readonly maxQueue: number;
  /** The lane's threads' scheduling priority (nice, 0–19; 0 or absent: the process's). */
  readonly nice?: number;
  /** A task's wait plus the measured service time never passes this (ms; 0 or absent: no budget). */
  readonly budgetMs?: number;
}

/** Each lane's defaults (config/defaults.ts): the KDF leaves a core to the event loops. */
export function defaultLanes(cores = availableParallelism()): Record<WorkerKind, LaneSettings> {
  const threads = defaultLaneThreads(cores);
  return {
    password: { threads: threads.password, ...DEFAULTS.lanes.password },
    eligibility: { ...DEFAULTS.lanes.eligibility, threads: threads.eligibility },
    roster: { ...DEFAULTS.lanes.roster, threads: threads.roster },
  };
}

export interface WorkerPoolOptions {
  /** Every lane's threads, unless `lanes` says otherwise (tools that run one kind of work). */
  readonly threads?: number;
  readonly lanes?: Partial<Record<WorkerKind, Partial<LaneSettings>>>;
  /**
   * Handed to every worker as `workerData` (e.g. the eligibility worker's `hmacKey`), with the
   * lane's `threadNice` (LaneSettings.nice) beside it.
   */
  readonly workerData?: Readonly<Record<string, unknown>>;
}

/** A lane refused a task: its queue is full or it would wait past its deadline (503 OVERLOADED). */
export { LaneOverloaded };

/** What services need of the pool: the real one (main thread) or its proxy (gateway app threads). */
export interface TaskRunner {
  run<Result>(kind: WorkerKind, task: unknown): Promise<Result>;
}

interface OneLane {
  readonly piscina: Piscina;
  readonly lane: Lane;
  readonly settings: LaneSettings;
}

export class WorkerPool implements TaskRunner {
  private readonly lanes: Record<WorkerKind, OneLane>;

  constructor(options: WorkerPoolOptions = {}) {
    const defaults = defaultLanes();
    const lanes = {} as Record<WorkerKind, OneLane>;
    for (const kind of WORKER_KINDS) {
      const settings: LaneSettings = {
        ...defaults[kind],
        ...(options.threads === undefined ? {} : { threads: options.threads }),
        ...options.lanes?.[kind],
      };
      const piscina = new Piscina({
        filename: WORKER_FILES[kind],
        // the KDF and eligibility lanes stay warm; a roster lane starts its threads on first use
        minThreads: kind === 'roster' ? 0 : settings.threads,
        maxThreads: settings.threads,
        // the lane keeps the queue (with its deadline); piscina only runs what the lane hands it
        maxQueue: settings.threads,
        execArgv: ['--import', 'tsx'],
        workerData: { ...options.workerData, threadNice: settings.nice ?? 0 },
      });
      const lane = new Lane(
        {
          name: kind,
          concurrency: settings.threads,
          deadlineMs: settings.deadlineMs,
          targetWaitMs: Math.max(1, Math.floor(settings.deadlineMs / 4)),
          intervalMs: Math.max(100, Math.floor(settings.deadlineMs / 2)),
          maxQueue: settings.maxQueue,
          budgetMs: settings.budgetMs ?? 0,
        },
        (task) => piscina.run(task),
      );
      lanes[kind] = { piscina, lane, settings };
    }
    this.lanes = lanes;
  }

  /** Threads of all lanes together. */
  get threads(): number {
    return WORKER_KINDS.reduce((sum, kind) => sum + this.lanes[kind].settings.threads, 0);
  }

  /** Runs one task of `kind` in its lane; throws LaneOverloaded at once when the lane refuses it. */
  run<Result>(kind: WorkerKind, task: unknown): Promise<Result> {
    return this.lanes[kind].lane.run<Result>(task);
  }

  /** Tasks waiting in every lane (not yet running). */
  get queued(): number {
    return WORKER_KINDS.reduce((sum, kind) => sum + this.lanes[kind].lane.queued, 0);
  }

  stats(): LaneStats[] {
    return WORKER_KINDS.map((kind) => this.lanes[kind].lane.stats());
  }

  async close(): Promise<void> {
    for (const kind of WORKER_KINDS) this.lanes[kind].lane.close();
    await Promise.all(WORKER_KINDS.map((kind) => this.lanes[kind].piscina.destroy()));
  }
}
