/**
 * The processes the stack starts: whether one still runs, waiting for it to go, stopping it from
 * an `exit` handler (where the event loop no longer runs), and the clean-ups run on exit and on
 * SIGINT / SIGTERM / SIGHUP so nothing started here outlives the process that started it.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** True while `pid` runs; a zombie (exited, not yet reaped) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return process.platform !== 'linux';
  }
}

export function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    if (isAlive(pid)) process.kill(pid, signal);
  } catch {
    // exited meanwhile
  }
}

/** Resolves true once `pid` is gone, false after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/** The synchronous variant, for the `exit` event where the event loop no longer runs. */
function waitGoneSync(pid: number, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    Atomics.wait(cell, 0, 0, 20);
  }
  return true;
}

/** Signals `pid`, waits, then escalates to SIGKILL; usable inside a process `exit` handler. */
export function terminateSync(pid: number, signal: NodeJS.Signals, graceMs: number): void {
  signalIfAlive(pid, signal);
  if (!waitGoneSync(pid, graceMs)) {
    signalIfAlive(pid, 'SIGKILL');
    waitGoneSync(pid, 2_000);
  }
}

export interface ExitCleanup {
  /** Synchronous best effort, run from the process `exit` event. */
  now(): void;
  /** The orderly stop, run on SIGINT / SIGTERM / SIGHUP. */
  graceful(): Promise<void>;
}

const exitCleanups = new Set<ExitCleanup>();
const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let signalled = false;

function runCleanupsNow(): void {
  for (const cleanup of [...exitCleanups].reverse()) {
    try {
      cleanup.now();
    } catch {
      // best effort: the process is exiting
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  const exitCode = 128 + (os.constants.signals[signal] ?? 0);
  if (signalled) process.exit(exitCode); // second signal: leave now, `exit` cleans up what it can
  signalled = true;
  // When the application listens for this signal too, it owns the shutdown: it stops what it
  // runs first and then calls stop(); stopping the servers under it would fail its last writes.
  const applicationListens = process.listenerCount(signal) > 1;
  if (applicationListens) return;
  void (async () => {
    for (const cleanup of [...exitCleanups].reverse()) await cleanup.graceful().catch(() => undefined);
    if (!applicationListens) process.exit(exitCode);
    signalled = false;
  })();
}

function installHandlers(): void {
  if (process.listeners('exit').includes(runCleanupsNow)) return;
  process.on('exit', runCleanupsNow);
  for (const signal of HANDLED_SIGNALS) process.on(signal, onSignal);
}

function uninstallHandlers(): void {
  process.off('exit', runCleanupsNow);
  for (const signal of HANDLED_SIGNALS) process.off(signal, onSignal);
}

/**
 * Registers a clean-up run on exit and signals, last registered first; returns the unregister
 * function. The handlers are installed only while something is registered, so a process that
 * stopped everything gets its default signal behaviour back.
 */
export function cleanUpOnExit(cleanup: ExitCleanup): () => void {
  exitCleanups.add(cleanup);
  installHandlers();
  return () => {
    exitCleanups.delete(cleanup);
    if (exitCleanups.size === 0) uninstallHandlers();
  };
}
