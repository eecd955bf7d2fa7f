/**
 * The benchmarks' CPU split (loadtest/cpu.ts): a process's time goes to its nearest named ancestor,
 * read from the real /proc.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { osThreadId } from '../gateway/osThread.ts';
import {
  perUnitMicros,
  sampleProcesses,
  sampleThreads,
  splitCpu,
  threadsCpuSeconds,
  type CpuSample,
} from './cpu.ts';

const sample = (atMs: number, boxBusyTicks: number, rows: [number, number, number][]): CpuSample => ({
  atMs,
  boxBusyTicks,
  processes: new Map(rows.map(([pid, ppid, ticks]) => [pid, { ppid, ticks }])),
});

describe('splitCpu', () => {
  it('charges each process to its nearest named ancestor, the rest to other', () => {
    // 10 = load generator, 20 = its child the system, 21 = the system's child, 30 = its Redis,
    // 40 = unrelated; 22 is new (counted from zero), 50 ended (not counted)
    const before = sample(0, 1_000, [
      [10, 1, 100],
      [20, 10, 100],
      [21, 20, 100],
      [30, 10, 100],
      [40, 1, 100],
      [50, 10, 100],
    ]);
    const after = sample(2_000, 1_400, [
      [10, 1, 110],
      [20, 10, 200],
      [21, 20, 150],
      [22, 20, 30],
      [30, 10, 140],
      [40, 1, 105],
    ]);
    const split = splitCpu(before, after, { loadgen: 10, system: 20, redis: 30 });
    const hz = (after.boxBusyTicks - before.boxBusyTicks) / split.boxCpuSeconds;
    expect(split.seconds).toBe(2);
    expect(
      Object.fromEntries(Object.entries(split.cpuSeconds).map(([k, v]) => [k, Math.round(v * hz)])),
    ).toEqual({ loadgen: 10, system: 180, redis: 40, other: 5 });
    expect(perUnitMicros(split, 1_000)).toMatchObject({ system: Math.round((180 / hz) * 1_000) });
  });
});

describe.runIf(sampleProcesses() !== null)('sampleProcesses (Linux /proc)', () => {
  it("a busy child's CPU is its own when named, its parent's when not", async () => {
    // the child burns a fixed 300 ms of CPU (its own count), says so, and idles until killed: what
    // it spent does not depend on how busy the box is; sampled before it starts, it counts from zero
    const start = sampleProcesses()!;
    const spinner = spawn(process.execPath, [
      '-e',
      `while (process.cpuUsage().user + process.cpuUsage().system < 300_000);
       process.stdout.write('done\\n'); process.stdin.resume();`,
    ]);
    await once(spinner.stdout, 'data');
    const end = sampleProcesses()!;
    spinner.kill();
    await once(spinner, 'exit');
    const named = splitCpu(start, end, { spinner: spinner.pid!, tests: process.pid });
    // clock ticks are 10 ms: 300 ms of CPU reads as at least 0.28 s
    expect(split(named).spinner).toBeGreaterThanOrEqual(0.28);
    expect(named.boxCpuSeconds).toBeGreaterThanOrEqual(split(named).spinner! - 0.02);
    // unnamed, the spinner is part of this process's tree
    const unnamed = splitCpu(start, end, { tests: process.pid });
    expect(split(unnamed).tests).toBeCloseTo(split(named).spinner! + split(named).tests!, 6);
  });
});

describe.runIf(sampleProcesses() !== null)('sampleThreads (Linux /proc/<pid>/task)', () => {
  it("a busy thread's CPU is its own, found by the id it reports (gateway_thread_info)", async () => {
    expect(osThreadId()).toBe(process.pid); // the main thread's task id is the process id
    const before = sampleThreads(process.pid)!;
    // the thread spins until its own CPU time (its /proc task's utime + stime) has grown by 30
    // ticks (300 ms), however busy the box is, then says who it is
    const worker = new Worker(
      `const { readFileSync, readlinkSync } = require('node:fs');
       const { parentPort } = require('node:worker_threads');
       const self = readlinkSync('/proc/thread-self');
       const ticks = () => {
         const fields = readFileSync('/proc/' + self + '/stat', 'utf8').split(') ')[1].split(' ');
         return Number(fields[11]) + Number(fields[12]);
       };
       const start = ticks();
       while (ticks() - start < 30) for (let i = 0; i < 1e5; i++);
       parentPort.postMessage(Number(self.split('/').pop()));
       setInterval(() => {}, 1000);`,
      { eval: true },
    );
    const [tid] = (await once(worker, 'message')) as [number];
    const after = sampleThreads(process.pid)!;
    await worker.terminate();
    expect(tid).not.toBe(process.pid);
    // its 300 ms are its own, read from outside; this (main) thread's are not among them
    expect(threadsCpuSeconds(before, after, [tid])).toBeGreaterThanOrEqual(0.3);
    expect(threadsCpuSeconds(before, after, [process.pid])).toBeLessThan(0.3);
  });
});

const split = (s: { cpuSeconds: Readonly<Record<string, number>> }) => s.cpuSeconds;
