import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pacedRun } from './paced.ts';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server that answers 200 after `delayMs`, noting when each request arrived. */
async function listen(delayMs: number): Promise<{ base: string; arrivals: number[] }> {
  const arrivals: number[] = [];
  server = createServer((request, response) => {
    arrivals.push(performance.now());
    request.resume();
    setTimeout(() => response.end('ok'), delayMs);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals };
}

describe('pacedRun', () => {
  it('spreads the requests evenly over the run, not in a burst per second', async () => {
    const { base, arrivals } = await listen(0);
    const result = await pacedRun({
      base,
      path: '/',
      method: 'GET',
      headers: () => ({}),
      ratePerSec: 200,
      durationS: 1,
      connections: 50,
    });
    expect(result.statuses).toEqual({ 200: 200 });
    // 200/s: 10 due in any 50 ms; a burst per second (autocannon's overallRate) would put all 200
    // in the first few milliseconds
    const busiest = Math.max(
      ...arrivals.map((at) => arrivals.filter((other) => other >= at && other < at + 50).length),
    );
    expect(busiest).toBeLessThanOrEqual(25);
    expect(arrivals[arrivals.length - 1]! - arrivals[0]!).toBeGreaterThan(900);
  });

  it('counts latency from when a request was due, so a server slower than the pace is not flattered', async () => {
    // one connection, each answer 50 ms, 100/s offered: the queue grows by half a second over the
    // run, and the latency from the due time shows it (from the send time it would stay 50 ms)
    const { base } = await listen(50);
    const result = await pacedRun({
      base,
      path: '/',
      method: 'GET',
      headers: () => ({}),
      ratePerSec: 100,
      durationS: 1,
      connections: 1,
    });
    expect(result.errors).toBe(0);
    expect(result.p50Ms).toBeGreaterThanOrEqual(50);
    expect(result.p99Ms).toBeGreaterThan(2_000);
  });
});
