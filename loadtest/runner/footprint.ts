/**
 * What a run costs the machine, as the report says it (issue 15, P3): the load generator's own
 * heap (HeapWatch: P3 allows 500 bytes per candidate) and the CPU of each process tree over the
 * run (CpuSeries, from /proc as `bench:gateway` reads it), sampled so that the report can split
 * both by phase.
 */
import { sampleProcesses, splitCpu, type CpuSample } from '../cpu.ts';
import type { CpuPoint, GeneratorFigures, LatencySummary } from '../report/types.ts';

const gc = (globalThis as { gc?: () => void }).gc;

/** heapUsed + ArrayBuffers (typed arrays live outside the V8 heap), after a full GC when allowed. */
function heldBytes(): number {
  gc?.();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * The generator's memory: a baseline read when it is made (before the candidates' state exists),
 * then the peak of what it holds, read at most every `everyMs`. With `node --expose-gc` each read
 * follows a full GC, so it is what is retained; without, garbage not yet collected counts too (an
 * overestimate, said in `method`). A forced GC stops the generator's loop for a few to a few
 * hundred ms: its answers in that moment are timed late (the report's generatorLoopDelay shows it).
 */
export class HeapWatch {
  readonly baselineBytes: number;
  private peak: number;
  private lastAt = performance.now();

  constructor(private readonly everyMs = 10_000) {
    this.baselineBytes = heldBytes();
    this.peak = this.baselineBytes;
  }

  maybeSample(): void {
    const now = performance.now();
    if (now - this.lastAt < this.everyMs) return;
    this.lastAt = now;
    this.peak = Math.max(this.peak, heldBytes());
  }

  figures(facts: {
    shard: number | null;
    candidates: number;
    maxWalking: number;
    walkingPeak: number;
    backlogPeak: number;
    startDelay: LatencySummary;
  }): GeneratorFigures {
    this.peak = Math.max(this.peak, heldBytes());
    return {
      ...facts,
      maxWalking: Number.isFinite(facts.maxWalking) ? facts.maxWalking : -1,
      heapBaselineBytes: this.baselineBytes,
      heapPeakBytes: this.peak,
      heapBytesPerCandidate: Math.round((this.peak - this.baselineBytes) / Math.max(1, facts.candidates)),
      method: `process.memoryUsage() heapUsed + arrayBuffers, ${gc ? 'after a full GC (--expose-gc)' : 'without a forced GC (garbage counts: an overestimate)'}, every ${this.everyMs / 1000} s and at the end; peak − baseline (read before the candidates' state existed) ÷ candidates`,
    };
  }
}

/**
 * Cumulative CPU-seconds per named process tree (cpu.ts splitCpu: a process counts under its
 * nearest named ancestor; the rest is `other`) every `everyMs`, `t` in seconds from `zeroPerf`.
 * Off Linux it stays empty.
 */
export class CpuSeries {
  readonly points: CpuPoint[] = [];
  private readonly first: CpuSample | null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly roots: Readonly<Record<string, number>>,
    private readonly zeroPerf: number,
  ) {
    this.first = sampleProcesses();
    if (this.first) this.points.push({ t: this.tOf(this.first.atMs), cpuSeconds: this.zeros() });
  }

  start(everyMs = 5_000): this {
    this.timer ??= setInterval(() => this.sample(), everyMs).unref();
    return this;
  }

  /** The last sample taken now; the series so far. */
  stop(): CpuPoint[] {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    return this.points;
  }

  private sample(): void {
    const now = sampleProcesses();
    if (!now || !this.first) return;
    const split = splitCpu(this.first, now, this.roots);
    const cpuSeconds = Object.fromEntries(
      Object.entries(split.cpuSeconds).map(([name, seconds]) => [name, Math.round(seconds * 100) / 100]),
    );
    this.points.push({ t: this.tOf(now.atMs), cpuSeconds });
  }

  private tOf(atMs: number): number {
    return Math.round((atMs - this.zeroPerf) / 100) / 10;
  }

  private zeros(): Record<string, number> {
    return Object.fromEntries([...Object.keys(this.roots), 'other'].map((name) => [name, 0]));
  }
}
