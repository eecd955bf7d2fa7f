import { describe, expect, it } from 'vitest';
import {
  OPENING_AT_S,
  OPENING_DAY_AT_S,
  OPENS_AT_S,
  defaultMix,
  durationOf,
  expiryProfile,
  k6StagesDurationS,
  k6StartRate,
  peakRate,
  peakTime,
  pickBehaviour,
  profileTotal,
  profiles,
  rateAt,
  scaleProfile,
  startOf,
  toK6Stages,
  totalArrivals,
  validateMix,
  validateProfile,
  type BehaviourMix,
  type SurgeProfile,
} from './profiles.ts';

const all = Object.values(profiles);

function riemann(p: SurgeProfile, from: number, to: number, steps: number): number {
  const h = (to - from) / steps;
  let sum = 0;
  for (let i = 0; i < steps; i++) sum += rateAt(p, from + (i + 0.5) * h) * h; // midpoint rule
  return sum;
}

describe('profile shapes', () => {
  it('every named profile is a valid curve with positive length and peak', () => {
    for (const p of all) {
      expect(() => validateProfile(p)).not.toThrow();
      expect(durationOf(p)).toBeGreaterThan(0);
      expect(peakRate(p)).toBeGreaterThan(0);
    }
  });

  it('rates are never negative, sampled finely', () => {
    for (const p of all) {
      const len = durationOf(p);
      for (let i = -10; i <= 2010; i++) expect(rateAt(p, (len * i) / 2000)).toBeGreaterThanOrEqual(0);
    }
  });

  it('opening: trickle before the opening, peak a few seconds after it, decay afterwards', () => {
    const o = profiles.opening;
    const peak = peakRate(o);
    expect(peakTime(o)).toBeGreaterThan(OPENING_AT_S);
    expect(peakTime(o)).toBeLessThan(OPENING_AT_S + 30);
    for (let t = 0; t < OPENING_AT_S; t += 10) expect(rateAt(o, t)).toBeLessThan(peak / 100);
    expect(rateAt(o, OPENING_AT_S - 1)).toBeGreaterThan(0);
    let prev = Infinity;
    for (let t = peakTime(o); t <= startOf(o) + durationOf(o); t += 5) {
      const r = rateAt(o, t);
      expect(r).toBeLessThanOrEqual(prev);
      prev = r;
    }
  });

  it('oralOpenings: one spike per campus opening, separated by the base rate', () => {
    const p = profiles.oralOpenings;
    const peak = peakRate(p);
    const spikes = p.points.filter((q) => q.ratePerSecond === peak).map((q) => q.atSeconds);
    expect(spikes.length).toBe(6);
    for (let i = 1; i < spikes.length; i++) {
      expect(spikes[i]! - spikes[i - 1]!).toBe(300);
      const between = (spikes[i]! + spikes[i - 1]!) / 2 + 60;
      expect(rateAt(p, between)).toBe(50);
    }
  });

  it('payment: a single wave peaking after the start and before the end', () => {
    const p = profiles.payment;
    expect(peakTime(p)).toBeGreaterThan(startOf(p));
    expect(peakTime(p)).toBeLessThan(startOf(p) + durationOf(p));
  });

  it('expiry: compression divides the times and keeps the rates; the wave peaks at the 12 h mark', () => {
    const real = expiryProfile(1);
    const c = expiryProfile(60);
    expect(durationOf(c)).toBeCloseTo(durationOf(real) / 60, 9);
    expect(peakRate(c)).toBe(peakRate(real));
    expect(peakTime(real)).toBe(12 * 3600);
    expect(profileTotal(c)).toBeCloseTo(profileTotal(real) / 60, 6);
    expect(() => expiryProfile(0)).toThrow(RangeError);
  });
});

describe('totals', () => {
  it('the exact integral matches a fine midpoint sum', () => {
    for (const p of all) {
      const from = startOf(p);
      const to = from + durationOf(p);
      const exact = totalArrivals(p, from, to);
      expect(Math.abs(exact - riemann(p, from, to, 200_000)) / exact).toBeLessThan(1e-3);
    }
  });

  it('partial windows add up, and the parts outside the profile count 0', () => {
    const o = profiles.opening;
    const end = durationOf(o);
    const whole = totalArrivals(o, 0, end);
    expect(totalArrivals(o, 0, 603.7) + totalArrivals(o, 603.7, end)).toBeCloseTo(whole, 6);
    expect(totalArrivals(o, -100, end + 100)).toBeCloseTo(whole, 6);
    expect(totalArrivals(o, -100, 0)).toBe(0);
    expect(totalArrivals(o, end, end + 50)).toBe(0);
    expect(totalArrivals(o, 5, 5)).toBe(0);
    expect(() => totalArrivals(o, 10, 5)).toThrow(RangeError);
    // within one linear segment: trapezoid 20→40 over [0, 590]
    expect(totalArrivals(o, 0, 590)).toBeCloseTo(((20 + 40) / 2) * 590, 9);
  });

  it('scaling preserves the shape and scales the totals by both factors', () => {
    const o = profiles.opening;
    const s = scaleProfile(o, { peakRate: 2_000, durationS: durationOf(o) / 4 });
    expect(peakRate(s)).toBeCloseTo(2_000, 9);
    expect(durationOf(s)).toBeCloseTo(durationOf(o) / 4, 9);
    const rf = 2_000 / peakRate(o);
    for (let i = 0; i <= 100; i++) {
      const t = (durationOf(o) * i) / 100;
      expect(rateAt(s, t / 4)).toBeCloseTo(rateAt(o, t) * rf, 6);
    }
    expect(profileTotal(s)).toBeCloseTo((profileTotal(o) * rf) / 4, 3);
    expect(peakTime(s)).toBeCloseTo(peakTime(o) / 4, 9);
    // only one factor
    expect(profileTotal(scaleProfile(o, { peakRate: peakRate(o) * 3 }))).toBeCloseTo(profileTotal(o) * 3, 3);
    expect(scaleProfile(o, {})).toEqual(o);
  });

  it('scaling refuses what it cannot do', () => {
    const flat: SurgeProfile = {
      name: 'flat',
      description: '',
      points: [
        { atSeconds: 0, ratePerSecond: 0 },
        { atSeconds: 10, ratePerSecond: 0 },
      ],
    };
    const dot: SurgeProfile = { name: 'dot', description: '', points: [{ atSeconds: 3, ratePerSecond: 5 }] };
    expect(() => scaleProfile(flat, { peakRate: 10 })).toThrow(RangeError);
    expect(() => scaleProfile(dot, { durationS: 10 })).toThrow(RangeError);
    expect(() => scaleProfile(profiles.opening, { peakRate: -1 })).toThrow(RangeError);
  });
});

describe('k6 stages', () => {
  it('add up to the profile length, no stage longer than stepS, targets are integers ≥ 0', () => {
    for (const p of all) {
      for (const stepS of [1, 7.5, 30, 10_000]) {
        const stages = toK6Stages(p, { stepS });
        expect(k6StagesDurationS(stages)).toBeCloseTo(durationOf(p), 3);
        for (const s of stages) {
          expect(Number.isInteger(s.target)).toBe(true);
          expect(s.target).toBeGreaterThanOrEqual(0);
          expect(k6StagesDurationS([s])).toBeLessThanOrEqual(stepS + 0.001);
        }
      }
    }
  });

  it('follow the curve: the target at the end of each stage is the rounded rate there', () => {
    const p = profiles.opening;
    const stages = toK6Stages(p, { stepS: 10 });
    expect(k6StartRate(p)).toBe(20);
    let t = 0;
    for (const s of stages) {
      t += k6StagesDurationS([s]);
      expect(Math.abs(s.target - rateAt(p, t))).toBeLessThanOrEqual(0.5 + 1e-6);
    }
    expect(Math.max(...stages.map((s) => s.target))).toBe(20_000);
  });

  it('instant steps become 0ms stages; refuses stepS ≤ 0', () => {
    const step: SurgeProfile = {
      name: 'step',
      description: '',
      points: [
        { atSeconds: 0, ratePerSecond: 1 },
        { atSeconds: 2, ratePerSecond: 1 },
        { atSeconds: 2, ratePerSecond: 9 },
        { atSeconds: 4, ratePerSecond: 9 },
      ],
    };
    expect(toK6Stages(step, { stepS: 10 })).toEqual([
      { target: 1, duration: '2000ms' },
      { target: 9, duration: '0ms' },
      { target: 9, duration: '2000ms' },
    ]);
    expect(rateAt(step, 2)).toBe(9); // right-continuous
    expect(totalArrivals(step, 0, 4)).toBe(20);
    expect(() => toK6Stages(step, { stepS: 0 })).toThrow(RangeError);
  });
});

describe('edge cases', () => {
  const empty: SurgeProfile = { name: 'empty', description: '', points: [] };
  const dot: SurgeProfile = { name: 'dot', description: '', points: [{ atSeconds: 3, ratePerSecond: 5 }] };

  it('an empty profile: rate 0, no arrivals, no stages', () => {
    expect(rateAt(empty, 0)).toBe(0);
    expect(durationOf(empty)).toBe(0);
    expect(totalArrivals(empty, -10, 10)).toBe(0);
    expect(toK6Stages(empty, { stepS: 1 })).toEqual([]);
    expect(peakRate(empty)).toBe(0);
  });

  it('a single point: its rate only at its instant, zero length, no arrivals, no stages', () => {
    expect(rateAt(dot, 3)).toBe(5);
    expect(rateAt(dot, 3.001)).toBe(0);
    expect(durationOf(dot)).toBe(0);
    expect(totalArrivals(dot, 0, 10)).toBe(0);
    expect(toK6Stages(dot, { stepS: 1 })).toEqual([]);
  });

  it('t outside the range → 0 (never extrapolated); the ends themselves are inside', () => {
    const o = profiles.opening;
    const end = durationOf(o);
    expect(rateAt(o, -0.001)).toBe(0);
    expect(rateAt(o, end + 0.001)).toBe(0);
    expect(rateAt(o, 0)).toBe(20);
    expect(rateAt(o, end)).toBe(300);
    expect(rateAt(o, Number.NaN)).toBe(0);
  });

  it('validateProfile refuses negative rates, disorder and non-finite values', () => {
    const mk = (points: { atSeconds: number; ratePerSecond: number }[]): SurgeProfile => ({
      name: 'x',
      description: '',
      points,
    });
    expect(() => validateProfile(mk([{ atSeconds: 0, ratePerSecond: -1 }]))).toThrow(RangeError);
    expect(() =>
      validateProfile(
        mk([
          { atSeconds: 5, ratePerSecond: 1 },
          { atSeconds: 4, ratePerSecond: 1 },
        ]),
      ),
    ).toThrow(RangeError);
    expect(() => validateProfile(mk([{ atSeconds: Infinity, ratePerSecond: 1 }]))).toThrow(RangeError);
  });
});

describe('openingDay (behind a waiting room)', () => {
  it('brings most candidates before the opening, and the latecomers’ spike right after it', () => {
    const p = profiles.openingDay;
    const before = totalArrivals(p, 0, OPENING_DAY_AT_S);
    const total = profileTotal(p);
    expect(before / total).toBeGreaterThan(0.55);
    expect(before / total).toBeLessThan(0.7);
    expect(peakTime(p)).toBeGreaterThan(OPENING_DAY_AT_S);
    expect(peakTime(p)).toBeLessThan(OPENING_DAY_AT_S + 10);
    // the rush rises towards the opening
    expect(rateAt(p, OPENING_DAY_AT_S - 1)).toBeGreaterThan(rateAt(p, 60) * 3);
    expect(OPENS_AT_S.openingDay).toBe(OPENING_DAY_AT_S);
    expect(OPENS_AT_S.opening).toBe(OPENING_AT_S);
    expect(OPENS_AT_S.payment).toBe(0);
  });
});

describe('behaviour mix', () => {
  const zero: BehaviourMix = {
    abandon: 0,
    abandonInQueue: 0,
    retrySameKey: 0,
    refresh: 0,
    latePayer: 0,
    cet6Reviewer: 0,
    botHammeringOneCampus: 0,
  };

  it('the default mix is valid', () => {
    expect(() => validateMix(defaultMix)).not.toThrow();
  });

  it('refuses probabilities summing > 1, negative or non-finite ones', () => {
    expect(() => validateMix({ ...zero, abandon: 0.6, refresh: 0.5 })).toThrow(RangeError);
    expect(() => validateMix({ ...zero, abandon: -0.1 })).toThrow(RangeError);
    expect(() => validateMix({ ...zero, refresh: Number.NaN })).toThrow(RangeError);
    expect(() => pickBehaviour({ ...zero, abandon: 1.2 }, 0.5)).toThrow(RangeError);
    expect(() => validateMix({ ...zero, abandon: 0.5, refresh: 0.5 })).not.toThrow();
  });

  it('picks consecutive intervals in field order, the rest is normal', () => {
    const mix: BehaviourMix = { ...zero, abandon: 0.1, retrySameKey: 0.2, botHammeringOneCampus: 0.1 };
    expect(pickBehaviour(mix, 0)).toBe('abandon');
    expect(pickBehaviour(mix, 0.0999)).toBe('abandon');
    expect(pickBehaviour(mix, 0.1)).toBe('retrySameKey');
    expect(pickBehaviour(mix, 0.35)).toBe('botHammeringOneCampus');
    expect(pickBehaviour(mix, 0.4)).toBe('normal');
    expect(pickBehaviour(mix, 0.9999)).toBe('normal');
    expect(pickBehaviour(zero, 0)).toBe('normal');
    expect(() => pickBehaviour(mix, 1)).toThrow(RangeError);
    expect(() => pickBehaviour(mix, -0.1)).toThrow(RangeError);
  });

  it('frequencies over a uniform grid match the probabilities', () => {
    const n = 100_000;
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const b = pickBehaviour(defaultMix, (i + 0.5) / n);
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    expect((counts.get('abandon') ?? 0) / n).toBeCloseTo(defaultMix.abandon, 3);
    expect((counts.get('refresh') ?? 0) / n).toBeCloseTo(defaultMix.refresh, 3);
    expect((counts.get('botHammeringOneCampus') ?? 0) / n).toBeCloseTo(defaultMix.botHammeringOneCampus, 3);
  });
});
