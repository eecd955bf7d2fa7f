import { describe, expect, it } from 'vitest';
import { LANE_WAIT_BUCKETS_MS, Lane, LaneOverloaded, type LaneOptions } from './lane.ts';

const options = (overrides: Partial<LaneOptions> = {}): LaneOptions => ({
  name: 'test',
  concurrency: 1,
  deadlineMs: 200,
  targetWaitMs: 50,
  intervalMs: 100,
  maxQueue: 1000,
  ...overrides,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A task that takes `ms` of wall time and answers its input. */
const timed = async (task: unknown) => {
  const { ms, value } = task as { ms: number; value: unknown };
  await sleep(ms);
  return value;
};

describe('Lane', () => {
  it('counts how long each started task waited, in the histogram /metrics shows', async () => {
    let now = 0;
    const finishers: Array<() => void> = [];
    const lane = new Lane(
      options({ deadlineMs: 1_000, targetWaitMs: 1_000 }),
      () => new Promise<void>((resolve) => finishers.push(resolve)),
      () => now,
    );
    const first = lane.run(1); // starts at once: waited 0
    const second = lane.run(2); // waits for the first
    now = 30;
    finishers.shift()!();
    await first;
    await Promise.resolve();
    finishers.shift()!();
    await second;
    const { waited } = lane.stats();
    expect(waited.count).toBe(2);
    expect(waited.sumMs).toBe(30);
    expect(waited.buckets[0]).toBe(1); // ≤ 1 ms
    expect(waited.buckets[LANE_WAIT_BUCKETS_MS.indexOf(50)]).toBe(1); // 25 < 30 ≤ 50 ms
    expect(waited.buckets.reduce((sum, n) => sum + n, 0)).toBe(2);
    lane.close();
  });

  it('runs up to its concurrency at once, the rest in order', async () => {
    const lane = new Lane(options({ concurrency: 2 }), timed);
    const started = performance.now();
    const results = await Promise.all([1, 2, 3, 4].map((value) => lane.run({ ms: 40, value })));
    expect(results).toEqual([1, 2, 3, 4]);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(75);
    expect(took).toBeLessThan(160);
    expect(lane.stats().completed).toBe(4);
  });

  it('refuses a task past its deadline at once and never starts it', async () => {
    let ran = 0;
    const lane = new Lane(options({ deadlineMs: 100, targetWaitMs: 100 }), async (task) => {
      ran++;
      return timed(task);
    });
    const t0 = performance.now();
    const long = lane.run({ ms: 400, value: 'long' });
    const waiting = lane.run({ ms: 1, value: 'late' });
    const refusedAt = await waiting.then(
      () => null,
      (error: unknown) => {
        expect(error).toBeInstanceOf(LaneOverloaded);
        expect((error as LaneOverloaded).reason).toBe('deadline');
        expect((error as LaneOverloaded).retryAfterSeconds).toBeGreaterThanOrEqual(1);
        return performance.now();
      },
    );
    expect(refusedAt).not.toBeNull();
    expect(refusedAt! - t0).toBeGreaterThanOrEqual(95);
    expect(refusedAt! - t0).toBeLessThan(250);
    await long;
    // the refused task never ran, and it was refused near its deadline, not when the long one ended
    expect(ran).toBe(1);
    expect(lane.stats().shed.deadline).toBe(1);
  });

  it('refuses on arrival when the predicted wait exceeds the deadline', async () => {
    // on a clock of its own: a busy machine's timers must not change the measured service time
    let clock = 0;
    const finishers: (() => void)[] = [];
    const lane = new Lane(
      options({ deadlineMs: 100, targetWaitMs: 100 }),
      (task) => new Promise((resolve) => finishers.push(() => resolve(task))),
      () => clock,
    );
    const first = lane.run(0);
    clock = 30;
    finishers.shift()!();
    await first; // measures the service time: 30 ms
    const admitted = [1, 2, 3].map((value) => lane.run(value)); // 1 runs, 2 and 3 wait
    // a fourth waits behind two: predicted 3 × 30 ms < 100: admitted
    admitted.push(lane.run(4));
    // a fifth would wait 4 × 30 ms > 100: refused on arrival
    const shed = await lane.run(5).then(
      () => null,
      (error: LaneOverloaded) => error,
    );
    expect(shed?.reason).toBe('predicted');
    for (let done = 0; done < 4; done++) {
      clock += 30;
      finishers.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await Promise.all(admitted)).toEqual([1, 2, 3, 4]);
  });

  it('tells a storm to come back when the lane can serve it (Retry-After ≈ refused ÷ served)', async () => {
    let clock = 0;
    const finishers: (() => void)[] = [];
    const execute = () => new Promise<unknown>((resolve) => finishers.push(() => resolve('done')));
    const lane = new Lane(options({ deadlineMs: 100, targetWaitMs: 100, maxQueue: 0 }), execute, () => clock);
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    // one served per 100 ms (10/s) while 200 arrive per second: 20 refused for each served
    const refusals: LaneOverloaded[] = [];
    for (let tick = 0; tick < 20; tick++) {
      clock += 100;
      const running = lane.run({});
      for (let i = 0; i < 20; i++) await lane.run({}).catch((error: LaneOverloaded) => refusals.push(error));
      finishers.shift()!();
      await settle();
      await running;
    }
    const last = refusals.slice(-20).map((error) => error.retryAfterSeconds);
    expect(Math.min(...last)).toBeGreaterThanOrEqual(15);
    expect(Math.max(...last)).toBeLessThanOrEqual(30);
  });

  it('with a budget, lets fewer tasks wait as the service time grows, and drops one that would end late', async () => {
    let clock = 0;
    const finishers: (() => void)[] = [];
    const execute = () => new Promise<unknown>((resolve) => finishers.push(() => resolve('done')));
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    const lane = new Lane(
      options({ deadlineMs: 1_000, targetWaitMs: 1_000, budgetMs: 90 }),
      execute,
      () => clock,
    );
    // a first task of 20 ms: the service time is 20, so a task may wait up to 70 ms (3 behind one)
    const first = lane.run({});
    clock += 20;
    finishers.shift()!();
    await first;
    const running = lane.run({});
    const waiting = Promise.allSettled([lane.run({}), lane.run({}), lane.run({})]);
    await expect(lane.run({})).rejects.toMatchObject({ reason: 'predicted' }); // 4 × 20 + 20 > 90
    // the running task takes 60 ms: the smoothed service time grows to 28 ms
    clock += 60;
    finishers.shift()!();
    await running;
    await settle();
    expect(lane.stats().serviceMs).toBeCloseTo(28, 5);
    // the head waited 60 ms and started (60 + 28 ≤ 90); when it ends the next two have waited 90 ms
    // and would end past the budget: they are dropped unrun, not served late
    clock += 30;
    finishers.shift()!();
    await settle();
    const outcomes = await waiting;
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(lane.stats().shed.deadline).toBe(2);
    lane.close();
  });

  it('refuses when the queue bound is reached', async () => {
    const lane = new Lane(options({ maxQueue: 2, deadlineMs: 10_000, targetWaitMs: 10_000 }), timed);
    const all = [0, 1, 2].map((value) => lane.run({ ms: 20, value }));
    await expect(lane.run({ ms: 20, value: 3 })).rejects.toMatchObject({ reason: 'full' });
    await Promise.all(all);
  });

  it('a storm in one lane does not delay another lane', async () => {
    const kdf = new Lane(options({ name: 'kdf', deadlineMs: 300, targetWaitMs: 300 }), timed);
    const eligibility = new Lane(options({ name: 'eligibility' }), timed);
    const storm = Array.from({ length: 50 }, (_, i) => kdf.run({ ms: 20, value: i }).catch(() => 'shed'));
    const t0 = performance.now();
    await eligibility.run({ ms: 5, value: 'ok' });
    expect(performance.now() - t0).toBeLessThan(50);
    const outcomes = await Promise.all(storm);
    expect(outcomes.filter((o) => o === 'shed').length).toBeGreaterThan(0);
  });

  it('CoDel: a standing queue lowers the bound for arrivals from the deadline to the target', async () => {
    let clock = 0;
    const finishers: (() => void)[] = [];
    const execute = () => new Promise<unknown>((resolve) => finishers.push(() => resolve('done')));
    const lane = new Lane(
      options({ deadlineMs: 1000, targetWaitMs: 50, intervalMs: 100, concurrency: 1 }),
      execute,
      () => clock,
    );
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    const finishOne = async () => {
      clock += 40;
      finishers.shift()!();
      await settle();
    };
    const all = Array.from({ length: 11 }, () => lane.run({}).catch((error: Error) => error));
    // A runs at 0; B..K wait. The first interval holds A's zero wait: no standing queue yet
    await finishOne();
    await finishOne();
    await finishOne(); // t = 120: D started after waiting 120 ms; interval 1 closes (min 0)
    expect(lane.stats().dropping).toBe(false);
    // a newcomer predicted to wait 8 × 40 = 320 ms is within the 1,000 ms deadline: admitted
    all.push(lane.run({}).catch((error: Error) => error));
    expect(lane.stats().queued).toBe(8);
    await finishOne();
    await finishOne();
    await finishOne(); // t = 240: every wait in interval 2 was ≥ 160 ms > 50: a standing queue
    expect(lane.stats().dropping).toBe(true);
    // the same kind of newcomer (predicted 6 × 40 = 240 ms) is now refused: above the target
    await expect(lane.run({})).rejects.toMatchObject({ reason: 'predicted' });
    while (finishers.length > 0) await finishOne();
    await Promise.all(all);
    expect(lane.stats().dropping).toBe(false);
    expect(lane.stats().completed).toBe(12);
  });
});
