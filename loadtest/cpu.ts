/**
 * Who spent a benchmark's CPU: user + system time of every process on the box, read from /proc
 * before and after a phase and split into named process trees (the gateway's process, Redis,
 * PostgreSQL's postmaster and its backends, the load generator, everything else). On a 2-core box
 * shared by all of them, this is what says whether a figure is bound by the code under test or by
 * its neighbours (README, P2 and P6). Linux only; elsewhere `sampleProcesses` returns null.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

interface ProcessTime {
  readonly ppid: number;
  /** utime + stime + cutime + cstime (its own and its waited-for children's), in clock ticks. */
  readonly ticks: number;
}

export interface CpuSample {
  readonly atMs: number;
  readonly processes: ReadonlyMap<number, ProcessTime>;
  /** Busy ticks of the whole box (all CPUs), from /proc/stat. */
  readonly boxBusyTicks: number;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

/** Fields after the command name (which may hold spaces and parentheses): state is [0]. */
function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

export function sampleProcesses(): CpuSample | null {
  let boxStat: string;
  try {
    boxStat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  clockTicks();
  const processes = new Map<number, ProcessTime>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      // ppid is field 4 of stat(5), utime 14, stime 15, cutime 16, cstime 17: here [1], [11]–[14].
      // Children that ended and were waited for count in their parent (cutime, cstime): a load
      // generator's shard processes or a PostgreSQL backend that exits before the last sample
      // would otherwise take their CPU with them. (Such a child's CPU from before the first sample
      // then counts in the window too: its whole life lands in the parent's cutime at once.)
      processes.set(pid, {
        ppid: Number(fields[1]),
        ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]),
      });
    } catch {
      // the process ended between readdir and read
    }
  }
  // cpu  user nice system idle iowait irq softirq steal …: busy is all but idle and iowait
  const cpu = boxStat.slice(0, boxStat.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  const boxBusyTicks = cpu.reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0);
  return { atMs: performance.now(), processes, boxBusyTicks };
}

export interface CpuSplit {
  readonly seconds: number;
  /** CPU-seconds per named tree, plus `other` (every other process on the box). */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  /** CPU-seconds of the whole box (kernel work not charged to a process included). */
  readonly boxCpuSeconds: number;
}

/**
 * Splits the CPU spent between two samples by process tree: a process belongs to the nearest of
 * its ancestors (itself included) named in `roots`, so the load generator's own children (e.g. the
 * private Redis it started) count where they are named, not as the load generator.
 */
export function splitCpu(
  before: CpuSample,
  after: CpuSample,
  roots: Readonly<Record<string, number>>,
): CpuSplit {
  const nameOf = new Map(Object.entries(roots).map(([name, pid]) => [pid, name] as const));
  const owner = (pid: number): string => {
    for (let at = pid, hops = 0; at > 1 && hops < 64; hops++) {
      const name = nameOf.get(at);
      if (name !== undefined) return name;
      at = after.processes.get(at)?.ppid ?? before.processes.get(at)?.ppid ?? 0;
    }
    return 'other';
  };
  const ticks: Record<string, number> = Object.fromEntries(
    [...Object.keys(roots), 'other'].map((k) => [k, 0]),
  );
  for (const [pid, now] of after.processes) {
    const spent = now.ticks - (before.processes.get(pid)?.ticks ?? 0);
    if (spent > 0) ticks[owner(pid)]! += spent;
  }
  const hz = clockTicks();
  return {
    seconds: (after.atMs - before.atMs) / 1000,
    cpuSeconds: Object.fromEntries(Object.entries(ticks).map(([name, t]) => [name, t / hz])),
    boxCpuSeconds: (after.boxBusyTicks - before.boxBusyTicks) / hz,
  };
}

/** "gateway 190 µs, redis 80 µs, …" per unit of work (e.g. per reservation answered). */
export function perUnitMicros(split: CpuSplit, units: number): Record<string, number> {
  const per = (cpuSeconds: number) => Math.round((cpuSeconds * 1e6) / Math.max(1, units));
  return {
    ...Object.fromEntries(Object.entries(split.cpuSeconds).map(([name, s]) => [name, per(s)])),
    box: per(split.boxCpuSeconds),
  };
}

/**
 * CPU per unit of work by process tree between two samples (`splitCpu` then `perUnitMicros`), or
 * undefined where /proc is not there.
 */
export function cpuPerUnit(
  before: CpuSample | null,
  after: CpuSample | null,
  roots: Readonly<Record<string, number | undefined>>,
  units: number,
): Record<string, number> | undefined {
  if (!before || !after) return undefined;
  const named = Object.fromEntries(Object.entries(roots).map(([name, pid]) => [name, pid ?? -1]));
  return perUnitMicros(splitCpu(before, after, named), units);
}

/** CPU ticks (utime + stime) of each thread of `pid` (/proc/<pid>/task), or null without /proc. */
export function sampleThreads(pid: number): Map<number, number> | null {
  try {
    const threads = new Map<number, number>();
    for (const entry of readdirSync(`/proc/${pid}/task`)) {
      try {
        const fields = statFields(readFileSync(`/proc/${pid}/task/${entry}/stat`, 'utf8'));
        threads.set(Number(entry), Number(fields[11]) + Number(fields[12]));
      } catch {
        // the thread ended between readdir and read
      }
    }
    return threads;
  } catch {
    return null;
  }
}

/** CPU-seconds the threads `tids` spent between two `sampleThreads` of one process. */
export function threadsCpuSeconds(
  before: ReadonlyMap<number, number>,
  after: ReadonlyMap<number, number>,
  tids: readonly number[],
): number {
  let ticks = 0;
  for (const tid of tids) ticks += Math.max(0, (after.get(tid) ?? 0) - (before.get(tid) ?? 0));
  return ticks / clockTicks();
}

/** One process's user and system CPU so far (seconds), from /proc/<pid>/stat; null without it. */
export function processUserSystem(pid: number): { readonly user: number; readonly system: number } | null {
  try {
    const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return { user: Number(fields[11]) / clockTicks(), system: Number(fields[12]) / clockTicks() };
  } catch {
    return null;
  }
}
