/**
 * The operating system's id of the calling thread (Linux: the `task` under /proc/<pid>/task), or
 * null elsewhere. Node names none of its threads, so this is how a benchmark or an operator tells
 * the gateway's app threads from its main thread and its worker pool when reading per-thread CPU
 * (`gateway_thread_info` in /metrics; loadtest/cpu.ts).
 */
import { readlinkSync } from 'node:fs';

export function osThreadId(): number | null {
  try {
    // "<pid>/task/<tid>"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}
