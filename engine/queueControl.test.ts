import { describe, expect, it } from 'vitest';
import {
  admissionPace,
  departureRate,
  ETA_TREND_HORIZON_S,
  etaSeconds,
  gatewayView,
  nextTargetActive,
  type ThreadLoad,
} from './queueControl.ts';

const load = (overrides: Partial<ThreadLoad> = {}): ThreadLoad => ({
  at: 1000,
  limit: 100,
  inFlight: 10,
  rttMs: 5,
  p99Ms: 20,
  servedPerSec: 1000,
  shedCritical: 0,
  ...overrides,
});

describe('the waiting room closed loop', () => {
  it('reads health from the gateway threads, ignoring stale reports', () => {
    expect(gatewayView([load(), load()], 1500).health).toBe('up');
    // what admitted candidates meet: a reservation shed, or their own requests slow
    expect(gatewayView([load(), load({ shedCritical: 1 })], 1500).health).toBe('down');
    expect(gatewayView([load({ criticalP99Ms: 160 })], 1500).health).toBe('down');
    expect(gatewayView([load({ criticalP99Ms: 120 })], 1500).health).toBe('hold');
    expect(gatewayView([load({ criticalP99Ms: 90 })], 1500).health).toBe('up');
    // logins and polls slowing the whole thread stop growth, not the line
    expect(gatewayView([load({ p99Ms: 250, criticalP99Ms: 20 })], 1500).health).toBe('hold');
    expect(gatewayView([load({ p99Ms: 150, criticalP99Ms: 20 })], 1500).health).toBe('up');
    // a thread that stopped reporting 5 s ago does not count
    const view = gatewayView([load(), load({ at: -4000, shedCritical: 9 })], 1500);
    expect(view.threads).toBe(1);
    expect(view.health).toBe('up');
    // capacity by Little's law: 100 in flight at 5 ms = 20,000/s per thread
    expect(gatewayView([load(), load()], 1500).capacityPerSec).toBe(40_000);
    expect(gatewayView([], 0).health).toBe('hold');
  });

  it('grows the target only while healthy and the slots are full', () => {
    const up = gatewayView([load()], 1000);
    expect(nextTargetActive(100, up, { active: 100, waiting: 50 })).toBe(110);
    expect(nextTargetActive(100, up, { active: 40, waiting: 50 })).toBe(100); // slots not used
    expect(nextTargetActive(100, up, { active: 100, waiting: 0 })).toBe(100); // nobody waits
    const down = gatewayView([load({ shedCritical: 3 })], 1000);
    expect(nextTargetActive(100, down, { active: 100, waiting: 50 })).toBe(80);
    expect(nextTargetActive(9, down, { active: 9, waiting: 50 })).toBe(8); // the floor
  });

  it("never grows past the Little's-law bound", () => {
    // 1 thread, limit 100 at 5 ms = 20,000/s; 1,390 active candidates make 13,900 served/s:
    // 10/s each, so 0.7 × 20,000 ÷ 10 = 1,400 active at most (growth alone would give 1,529)
    const view = gatewayView([load({ servedPerSec: 13_900 })], 1000);
    expect(nextTargetActive(1_390, view, { active: 1_390, waiting: 10 })).toBe(1_400);
    // the bound caps growth; it does not cut a target on its own
    expect(nextTargetActive(2_000, view, { active: 1_390, waiting: 10 })).toBe(2_000);
  });

  it('an ETA always comes with a position', () => {
    expect(etaSeconds(100, 10, 0)).toBe(10);
    expect(etaSeconds(100, 0, 4)).toBe(25);
    expect(etaSeconds(3, 0, 0)).toBe(3);
    expect(etaSeconds(0, 5, 5)).toBe(0);
  });

  it('paces admissions at the measured rate with slack, plus the target’s growth over fillS', () => {
    const pace = { slack: 0.5, fillS: 2, tickMs: 250 };
    // 40/s measured, 20 slots to add: 60 + 10 = 70/s, two ticks' worth at once
    expect(admissionPace({ rate: 40, targetActive: 120, filled: 100, cap: 0, maxBatch: 15 }, pace)).toEqual({
      ratePerSec: 70,
      burst: 35,
    });
    // a target below the slots held adds nothing
    expect(
      admissionPace({ rate: 40, targetActive: 90, filled: 100, cap: 0, maxBatch: 15 }, pace).ratePerSec,
    ).toBe(60);
    // the operator's cap wins when lower, with a second's worth at once (as without pacing)
    expect(admissionPace({ rate: 40, targetActive: 120, filled: 100, cap: 10, maxBatch: 15 }, pace)).toEqual({
      ratePerSec: 10,
      burst: 10,
    });
  });

  it('does not pace before the rate is measured, nor when pacing is off', () => {
    const room = { rate: 0, targetActive: 100, filled: 0, cap: 0, maxBatch: 13 };
    expect(admissionPace(room)).toEqual({ ratePerSec: 0, burst: 13 });
    expect(admissionPace({ ...room, cap: 5 })).toEqual({ ratePerSec: 5, burst: 5 });
    const off = { slack: -1, fillS: 2, tickMs: 250 };
    expect(admissionPace({ ...room, rate: 40 }, off)).toEqual({ ratePerSec: 0, burst: 13 });
  });

  it('an ETA is the nearest second, never 0 while a place is ahead', () => {
    expect(etaSeconds(120, 100, 0)).toBe(1); // 1.2 s: not 2
    expect(etaSeconds(150, 100, 0)).toBe(2);
    expect(etaSeconds(1, 100, 0)).toBe(1); // 0.01 s: the next tick, shown as 1
  });

  it('a line whose rate grows is served sooner than its rate so far says; a falling trend is not followed', () => {
    // 10/s growing by 2/s each second: 10t + t² = 200 at t = 10 s (not 20)
    expect(etaSeconds(200, 10, 0, 2)).toBe(10);
    expect(etaSeconds(200, 10, 0, 0)).toBe(20);
    expect(etaSeconds(200, 10, 0, -2)).toBe(20);
    // the growth is followed for the horizon only, then the rate reached is held
    const h = ETA_TREND_HORIZON_S;
    const served = 10 * h + h * h; // within the horizon at 2/s²
    expect(etaSeconds(served + (10 + 2 * h) * 30, 10, 0, 2)).toBe(h + 30);
    // before anything is measured the plan decides, trend or not
    expect(etaSeconds(100, 0, 4, 3)).toBe(25);
  });

  it('the departure rate follows the slots given back within about a second', () => {
    let rate = departureRate(undefined, 0, 0);
    expect(rate).toEqual({ perSec: 0, at: 0 });
    // 20 slots a second, in ticks of 250 ms, from nothing: most of the way in a second
    for (let at = 250; at <= 1_000; at += 250) rate = departureRate(rate, 5, at);
    expect(rate.perSec).toBeGreaterThan(20 * 0.6);
    expect(rate.perSec).toBeLessThan(20);
    for (let at = 1_250; at <= 5_000; at += 250) rate = departureRate(rate, 5, at);
    expect(rate.perSec).toBeCloseTo(20, 0);
    // a tick at the same instant changes nothing; a negative count (slots taken, not given) is none
    expect(departureRate(rate, 50, 5_000)).toEqual(rate);
    expect(departureRate(rate, -3, 6_000).perSec).toBeLessThan(rate.perSec);
  });
});
