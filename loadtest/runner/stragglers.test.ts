import { describe, expect, it } from 'vitest';
import type { SurgeClient } from './client.ts';
import type { RunRecorder } from './recorder.ts';
import { waitForStragglers } from './run.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A run's parts waitForStragglers touches: whether it halted the client, and nothing in flight. */
function fakeRun() {
  const halted = { value: false };
  const run = {
    client: { halt: () => void (halted.value = true) } as unknown as SurgeClient,
    recorder: { inFlight: 0 } as unknown as RunRecorder,
    startedPerf: performance.now(),
  };
  return { run, halted };
}

/** `count` walkers that finish one after the other, `everyMs` apart. */
function trickle(count: number, everyMs: number): Set<Promise<void>> {
  const walkers = new Set<Promise<void>>();
  for (let i = 1; i <= count; i++) {
    const walker: Promise<void> = sleep(i * everyMs).then(() => void walkers.delete(walker));
    walkers.add(walker);
  }
  return walkers;
}

describe('waitForStragglers', () => {
  it('waits for a line that keeps moving, far past the timeout counted from its start', async () => {
    const { run, halted } = fakeRun();
    const walkers = trickle(8, 150); // the last finishes after 1.2 s
    const started = performance.now();
    const left = await waitForStragglers({ straggleTimeoutS: 0.5 }, run, walkers, () => {});
    expect(left).toBe(0);
    expect(performance.now() - started).toBeGreaterThan(1_100);
    expect(halted.value).toBe(false);
  });

  it('gives up on walkers none of which finishes for the timeout, and halts the client', async () => {
    const { run, halted } = fakeRun();
    const walkers = trickle(2, 100);
    const stuck = new Promise<void>(() => {});
    walkers.add(stuck);
    walkers.add(stuck.then(() => {}));
    const started = performance.now();
    const left = await waitForStragglers({ straggleTimeoutS: 0.4 }, run, walkers, () => {});
    expect(left).toBe(2);
    // the last finished at ~0.2 s, then 0.4 s without progress
    expect(performance.now() - started).toBeGreaterThan(550);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(halted.value).toBe(true);
  });
});
