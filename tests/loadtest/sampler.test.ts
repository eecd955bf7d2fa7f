/**
 * The run's once-a-second sampler (loadtest/runner/probes.ts), against real Redis and no gateway at
 * all: the seats, the writer's lag, the waiting room's line and the keeper's loop come from Redis
 * itself. Through the gateway's admin routes, the samples of a surge's busiest seconds were missing
 * (admin reads are shed first), and so was the writer's lag at its peak.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaitingRoom } from '../../engine/queue.ts';
import type { ThreadLoad } from '../../engine/queueControl.ts';
import { sealKeyFrom } from '../../engine/queueDraw.ts';
import { RunRecorder } from '../../loadtest/runner/recorder.ts';
import { sampleSeatsAndLag } from '../../loadtest/runner/probes.ts';
import { newTestEngine, openedLine, type TestEngine } from '../support/engine.ts';
import { waitFor } from '../support/wait.ts';

const PROVINCE = '21';

let t: TestEngine;

beforeAll(async () => {
  t = await newTestEngine();
  // an opened room with five tickets in line, none admitted yet (no keeper has ticked)
  await openedLine(
    t.engine,
    new WaitingRoom(t.engine, sealKeyFrom(Buffer.alloc(32, 3))),
    PROVINCE,
    4,
    'acct',
  );
  // one gateway thread's load report, as it writes it twice a second
  const load: ThreadLoad = {
    at: Date.now() + 10_000, // still fresh when the sampler reads it
    limit: 40,
    inFlight: 3,
    rttMs: 5,
    p99Ms: 20,
    servedPerSec: 100,
    shedCritical: 0,
    criticalP99Ms: 15,
  };
  await t.engine.redis.hset(t.engine.keys.gatewayLoad, 'thread-a', JSON.stringify(load));
});

afterAll(async () => {
  await t?.close();
});

describe('the run sampler', () => {
  it('samples the line, the keeper and the writer lag from Redis, with no gateway to ask', async () => {
    const startedPerf = performance.now();
    const recorder = new RunRecorder(startedPerf);
    const samplers = sampleSeatsAndLag({
      engine: t.engine,
      provinceCode: PROVINCE,
      capacity: new Map([['c21|CET-SET4', 100]]),
      startedPerf,
      recorder,
      waitingRoom: true,
    });
    // two samples, a second apart (however slow the machine is beside this test)
    await waitFor(() => (samplers.series.get('*|CET-SET4')?.length ?? 0) >= 2, {
      timeoutMs: 10_000,
      message: 'samples in two seconds',
    });
    await samplers.stop();

    expect(samplers.queue.length).toBeGreaterThanOrEqual(2);
    for (const [, waiting, perMinute] of samplers.queue) {
      expect(waiting).toBe(5); // the five tickets in line
      expect(perMinute).toBe(0); // nobody admitted yet
    }
    expect(samplers.keeper.length).toBe(samplers.queue.length);
    expect(samplers.keeper[0]).toMatchObject({ limit: 40, inFlight: 3, health: 'up' });
    // the room's setup and the joins are outbox entries no writer has taken: the lag counts them
    const lagged = recorder.timeline().filter((s) => s.writerLagEvents !== null);
    expect(lagged.length).toBeGreaterThanOrEqual(1);
    expect(lagged[0]!.writerLagEvents).toBeGreaterThanOrEqual(6);
    expect(samplers.series.get('*|CET-SET4')?.length).toBeGreaterThanOrEqual(2);
  });
});
