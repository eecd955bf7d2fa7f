/**
 * The operating system's id of the calling thread (Linux: the `task` under /proc/<pid>/task), or
 * null elsewhere. Node names none of its threads, so this is how a benchmark or an operator tells
 * the gateway's app threads from its main thread and its worker pool when reading per-thread CPU
 * (`gateway_thread_info` in /metrics; loadtest/cpu.ts).
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

export function osThreadId(): number | null {
  try {
    // "<pid>/task/<tid>"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/**
 * Lowers the calling thread's scheduling priority to `nice` (1–19; 0 leaves it): on Linux
 * setpriority(2) on a thread's own id applies to that thread alone, so a pool thread can yield the
 * cores to the event loops, Redis and PostgreSQL whenever they want them and take what they leave
 * (the KDF lane, LANE_KDF_NICE). Answers whether it did; raising one's own nice needs no privilege.
 */
export function lowerThreadPriority(nice: number): boolean {
  if (!Number.isInteger(nice) || nice <= 0) return false;
  const tid = osThreadId();
  if (tid === null) return false;
  try {
    setPriority(tid, Math.min(19, nice));
    return true;
  } catch {
    return false;
  }
}
