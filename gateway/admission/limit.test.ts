import { describe, expect, it } from 'vitest';
import { Admission } from './admission.ts';
import { AdaptiveLimit } from './limit.ts';

const clocks = new WeakMap<AdaptiveLimit, number>();

/**
 * A synthetic server for the limiter: `capacity` requests are served at `baseMs`; every request in
 * flight beyond it queues behind the others, adding `perExtraMs` each (a single event loop).
 */
function drive(
  limit: AdaptiveLimit,
  { capacity, baseMs, perExtraMs, offered, windows }: Record<string, number>,
): { limits: number[]; rtts: number[] } {
  // each limiter's synthetic clock carries on from one drive to the next
  let now = clocks.get(limit) ?? 0;
  const limits: number[] = [];
  const rtts: number[] = [];
  for (let w = 0; w < windows!; w++) {
    const inFlight = Math.min(offered!, limit.limit);
    const rtt = baseMs! + Math.max(0, inFlight - capacity!) * perExtraMs!;
    for (let i = 0; i < 40; i++) {
      now += 250 / 40;
      limit.onSample(rtt, inFlight, now);
    }
    limits.push(limit.limit);
    rtts.push(rtt);
  }
  clocks.set(limit, now);
  return { limits, rtts };
}

describe('AdaptiveLimit (Gradient2 with an absolute target)', () => {
  it('grows while latency stays flat and the limit is used', () => {
    const limit = new AdaptiveLimit({ initial: 8, max: 1000 });
    const { limits } = drive(limit, {
      capacity: 10_000,
      baseMs: 2,
      perExtraMs: 0,
      offered: 10_000,
      windows: 60,
    });
    expect(limits.at(-1)!).toBeGreaterThan(100);
    // it grew steadily, never fell
    for (let i = 1; i < limits.length; i++) expect(limits[i]!).toBeGreaterThanOrEqual(limits[i - 1]!);
  });

  it('does not grow when the limit is not used (app-limited)', () => {
    const limit = new AdaptiveLimit({ initial: 64, max: 1000 });
    const { limits } = drive(limit, { capacity: 10_000, baseMs: 2, perExtraMs: 0, offered: 10, windows: 60 });
    expect(limits.at(-1)).toBe(64);
  });

  it('settles near the capacity when queueing sets in, keeping latency under the target', () => {
    const limit = new AdaptiveLimit({ initial: 8, max: 4096, targetP99Ms: 100 });
    // 50 requests in flight run at 5 ms; each beyond adds 1 ms (a queue in the event loop)
    const { limits, rtts } = drive(limit, {
      capacity: 50,
      baseMs: 5,
      perExtraMs: 1,
      offered: 100_000,
      windows: 400,
    });
    const tail = limits.slice(-100);
    // it keeps the capacity busy (≥ 50 in flight) and the latency near the absolute target: the
    // gradient alone would follow the slowly rising average up; the target cuts it back
    expect(Math.min(...tail)).toBeGreaterThanOrEqual(50);
    expect(Math.max(...tail)).toBeLessThan(160);
    expect(Math.max(...rtts.slice(-100))).toBeLessThan(115);
  });

  it('cuts the limit when latency rises past the absolute p99 target (a planted slow Redis)', () => {
    const limit = new AdaptiveLimit({ initial: 200, max: 4096, targetP99Ms: 100 });
    drive(limit, { capacity: 10_000, baseMs: 3, perExtraMs: 0, offered: 100_000, windows: 20 });
    const before = limit.limit;
    const { limits } = drive(limit, {
      capacity: 10_000,
      baseMs: 250,
      perExtraMs: 0,
      offered: 100_000,
      windows: 12,
    });
    expect(limits.at(-1)!).toBeLessThan(before * 0.8 ** 8);
    expect(limit.snapshot().targetCuts).toBeGreaterThanOrEqual(10);
  });

  it('holds, without sinking to its floor, a latency that stays above the target whatever the limit', () => {
    // the CPU taken by other processes: 150 ms at any concurrency
    const limit = new AdaptiveLimit({ initial: 200, max: 4096, min: 8, targetP99Ms: 100 });
    const { limits } = drive(limit, {
      capacity: 10_000,
      baseMs: 150,
      perExtraMs: 0,
      offered: 100_000,
      windows: 40,
    });
    expect(Math.min(...limits)).toBe(200);
    expect(limits.at(-1)).toBe(200);
    // unless this thread's own event loop is busy: then its own requests queue, and a cut helps
    const busy = new AdaptiveLimit({ initial: 200, max: 4096, min: 8, targetP99Ms: 100, busy: () => 0.95 });
    const { limits: relieved } = drive(busy, {
      capacity: 10_000,
      baseMs: 150,
      perExtraMs: 0,
      offered: 100_000,
      windows: 20,
    });
    expect(relieved.at(-1)!).toBeLessThan(200 * 0.8 ** 10);
    // and far past it (3×) it is cut anyway
    const far = new AdaptiveLimit({ initial: 200, max: 4096, targetP99Ms: 100 });
    const { limits: cut } = drive(far, {
      capacity: 10_000,
      baseMs: 400,
      perExtraMs: 0,
      offered: 100_000,
      windows: 20,
    });
    expect(cut.at(-1)!).toBeLessThan(200 * 0.8 ** 10);
  });

  it('halves the limit at once on a timeout, once per window', () => {
    const limit = new AdaptiveLimit({ initial: 100, timeoutMs: 1000, windowMs: 250, minWindowSamples: 5 });
    limit.onSample(1500, 100, 0);
    expect(limit.limit).toBe(50);
    limit.onSample(1500, 100, 1);
    expect(limit.limit).toBe(50);
    expect(limit.snapshot().timeoutCuts).toBe(1);
  });

  it('recovers after the overload passes', () => {
    const limit = new AdaptiveLimit({ initial: 200, max: 4096, targetP99Ms: 150 });
    drive(limit, { capacity: 10_000, baseMs: 3, perExtraMs: 0, offered: 100_000, windows: 10 });
    drive(limit, { capacity: 10_000, baseMs: 500, perExtraMs: 0, offered: 100_000, windows: 20 });
    const low = limit.limit;
    const { limits } = drive(limit, {
      capacity: 10_000,
      baseMs: 3,
      perExtraMs: 0,
      offered: 100_000,
      windows: 100,
    });
    expect(limits.at(-1)!).toBeGreaterThan(low * 5);
  });

  it('stays fixed in static mode', () => {
    const limit = new AdaptiveLimit({ adaptive: false, max: 10 });
    drive(limit, { capacity: 1, baseMs: 5000, perExtraMs: 0, offered: 100, windows: 10 });
    expect(limit.limit).toBe(10);
  });
});

describe('Admission priority classes', () => {
  it('sheds background first, then standard; critical keeps its reserved share', () => {
    const admission = new Admission({ adaptive: false, max: 10 });
    const held: number[] = [];
    // background fills half the limit, no more
    for (let i = 0; i < 10; i++) {
      const got = admission.tryAcquire('background');
      if (got !== null) held.push(got);
    }
    expect(held).toHaveLength(5);
    // standard may go up to 8
    let standard = 0;
    for (let i = 0; i < 10; i++) if (admission.tryAcquire('standard') !== null) standard++;
    expect(standard).toBe(3);
    // critical gets the last 2 of the limit, and may go a quarter over it (12)
    let critical = 0;
    for (let i = 0; i < 10; i++) if (admission.tryAcquire('critical') !== null) critical++;
    expect(critical).toBe(4);
    const stats = admission.stats();
    expect(stats.inFlight).toBe(12);
    expect(stats.shed).toEqual({ critical: 6, standard: 7, background: 5 });
    admission.release(12, 5, 0);
    expect(admission.inFlight).toBe(11);
    expect(admission.tryAcquire('standard')).toBeNull();
    expect(admission.tryAcquire('critical')).toBe(12);
  });

  it('admits an exempt request (a payment notification) past every share, up to the ceiling', () => {
    // the adaptive limit has come down to 8: critical may fill 10, an exempt request the ceiling
    const admission = new Admission({ initial: 8, min: 4, max: 40 });
    let critical = 0;
    for (let i = 0; i < 20; i++) if (admission.tryAcquire('critical') !== null) critical++;
    expect(critical).toBe(10);
    let exempt = 0;
    for (let i = 0; i < 50; i++)
      if (admission.tryAcquire('critical', performance.now(), true) !== null) exempt++;
    expect(exempt).toBe(30);
    expect(admission.inFlight).toBe(40);
    expect(admission.stats().shed.critical).toBe(10 + 20);
    // static: never below the class's own share (MAX_IN_FLIGHT 5: critical may have 6)
    const fixed = new Admission({ adaptive: false, max: 5 });
    for (let i = 0; i < 6; i++) expect(fixed.tryAcquire('critical', 0, true)).toBe(i + 1);
    expect(fixed.tryAcquire('critical', 0, true)).toBeNull();
  });
});
