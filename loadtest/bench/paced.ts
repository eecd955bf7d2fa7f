/**
 * An evenly paced open-loop run: P2's latency row ("p99 < 50 ms at half the saturation rate").
 * autocannon's `overallRate` is not a pace: each connection sends its share of a second back to
 * back as the second starts, then waits for the next (autocannon/lib/httpClient.js, the
 * `reqsMadeThisSecond` counter), so 400 connections met the gateway as one saturating burst a
 * second, and the "half-rate" latency was the saturation's (p50 64 ms, p99 854 ms at 1,824/s,
 * 2026-12-07). Here request i is due at start + i ÷ rate and is sent then, on one of `connections`
 * keep-alive connections (undici's Pool queues it while all are busy); its latency is counted from
 * when it was due, so a late send counts against the server, never for it (no coordinated omission).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { newHistogram, summarise } from '../runner/recorder.ts';

export interface PacedOptions {
  readonly base: string;
  readonly path: string;
  readonly method: 'GET' | 'POST';
  /** Request i's headers (e.g. the i-th session's bearer token). */
  readonly headers: (index: number) => Record<string, string>;
  readonly body?: string;
  readonly ratePerSec: number;
  readonly durationS: number;
  readonly connections: number;
}

export interface PacedResult {
  readonly offeredRps: number;
  readonly answeredRps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** Requests that got no answer (connection errors). */
  readonly errors: number;
}

export async function pacedRun(options: PacedOptions): Promise<PacedResult> {
  const pool = new Pool(options.base, { connections: options.connections, pipelining: 1 });
  const latencyUs = newHistogram();
  const statuses: Record<string, number> = {};
  let errors = 0;
  const total = Math.max(1, Math.round(options.ratePerSec * options.durationS));
  const intervalMs = 1000 / options.ratePerSec;
  const inFlight = new Set<Promise<void>>();
  const send = async (index: number, dueAt: number): Promise<void> => {
    try {
      const answer = await pool.request({
        path: options.path,
        method: options.method,
        headers: options.headers(index),
        ...(options.body === undefined ? {} : { body: options.body }),
      });
      await answer.body.dump();
      statuses[answer.statusCode] = (statuses[answer.statusCode] ?? 0) + 1;
      latencyUs.recordValue(Math.max(1, Math.round((performance.now() - dueAt) * 1000)));
    } catch {
      errors += 1;
    }
  };
  const startedAt = performance.now();
  try {
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor((performance.now() - startedAt) / intervalMs) + 1);
      for (; sent < due; sent++) {
        const request = send(sent, startedAt + sent * intervalMs);
        inFlight.add(request);
        void request.finally(() => inFlight.delete(request));
      }
      await sleep(1);
    }
    await Promise.all(inFlight);
  } finally {
    await pool.close();
  }
  const elapsedS = (performance.now() - startedAt) / 1000;
  const answered = latencyUs.totalCount;
  const latency = summarise(latencyUs);
  const result: PacedResult = {
    offeredRps: options.ratePerSec,
    answeredRps: Math.round(answered / elapsedS),
    p50Ms: latency.p50Ms,
    p99Ms: latency.p99Ms,
    maxMs: latency.maxMs,
    statuses,
    errors,
  };
  latencyUs.destroy();
  return result;
}
