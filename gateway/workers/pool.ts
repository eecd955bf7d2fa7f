/**
 * The worker pool (piscina) for CPU-bound work: password hashing (KDF), eligibility evaluation,
 * roster rows (file chunks and admin API rows). One pool, shared by every kind of work (so one
 * bounded queue to watch), and one worker file per kind (`<kind>.worker.ts`, default export, listed
 * in WORKER_FILES) named per task by URL; workers run TypeScript through tsx's loader. A full
 * queue is an overload answer (WorkerPoolFull → 503 OVERLOADED at the gateway), never an
 * unbounded wait.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';

/** The worker file of each kind of work: beside this module, or in the feature folder it serves. */
const WORKER_FILES = {
  password: new URL('./password.worker.ts', import.meta.url).href,
  eligibility: new URL('./eligibility.worker.ts', import.meta.url).href,
  roster: new URL('../../roster/roster.worker.ts', import.meta.url).href,
} as const;

export type WorkerKind = keyof typeof WORKER_FILES;

export interface WorkerPoolOptions {
  /** Threads (default: number of cores). */
  readonly threads?: number;
  /** Tasks allowed to wait beyond the running ones (default 256 per thread). */
  readonly maxQueue?: number;
}

export class WorkerPoolFull extends Error {
  readonly code = 'OVERLOADED';
  constructor() {
    super('worker pool queue is full');
    this.name = 'WorkerPoolFull';
  }
}

/** What services need of the pool: the real one (main thread) or its proxy (gateway app threads). */
export interface TaskRunner {
  run<Result>(kind: WorkerKind, task: unknown): Promise<Result>;
}

export class WorkerPool implements TaskRunner {
  private readonly piscina: Piscina;
  readonly threads: number;
  readonly maxQueue: number;

  constructor(options: WorkerPoolOptions = {}) {
    this.threads = options.threads ?? availableParallelism();
    this.maxQueue = options.maxQueue ?? 256 * this.threads;
    this.piscina = new Piscina({
      minThreads: this.threads,
      maxThreads: this.threads,
      maxQueue: this.maxQueue,
      execArgv: ['--import', 'tsx'],
    });
  }

  /** Runs one task of `kind`; throws WorkerPoolFull at once when the queue is full. */
  async run<Result>(kind: WorkerKind, task: unknown): Promise<Result> {
    if (this.piscina.queueSize >= this.maxQueue) throw new WorkerPoolFull();
    try {
      return (await this.piscina.run(task, { filename: WORKER_FILES[kind] })) as Result;
    } catch (error) {
      if (error instanceof Error && /queue is at limit|no task queue available/i.test(error.message)) {
        throw new WorkerPoolFull();
      }
      throw error;
    }
  }

  /** Tasks waiting (not yet running), for admission metrics. */
  get queued(): number {
    return this.piscina.queueSize;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
