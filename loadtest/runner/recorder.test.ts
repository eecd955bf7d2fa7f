import { describe, expect, it } from 'vitest';
import { RunRecorder } from './recorder.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RunRecorder', () => {
  it("records the generator's own event-loop delay per second beside the latency it taints", async () => {
    const recorder = new RunRecorder(performance.now());
    recorder.requestStarted();
    recorder.answered('login', 12, '200', 'ok');
    await sleep(50);
    // block this (the generator's) event loop for 150 ms inside the first second
    const blockedUntil = performance.now() + 150;
    while (performance.now() < blockedUntil);
    await sleep(1_100);
    recorder.requestStarted();
    recorder.answered('login', 12, '200', 'ok'); // the second second: the first one closes
    const [first, second] = recorder.timeline();
    expect(first!.admittedP99Ms).toBeCloseTo(12, 0);
    expect(first!.generatorLoopDelayMaxMs).toBeGreaterThanOrEqual(100);
    expect(first!.generatorLoopDelayP99Ms).toBeGreaterThan(0);
    // the second still running has no figure yet
    expect(second!.generatorLoopDelayMaxMs).toBeNull();
  });
});
