import { describe, expect, it } from 'vitest';
import {
  chiSquareP,
  etaErrorsPct,
  kendallTau,
  orderInversions,
  prequeueChiSquareP,
  quantile,
  type Passage,
} from './fairness.ts';

describe('fairness measures (P8)', () => {
  it('counts pairs admitted against their arrival order, ignoring ties and simultaneous arrivals', () => {
    const inOrder: Passage[] = [
      { arrivedAt: 0, admittedAt: 100 },
      { arrivedAt: 10, admittedAt: 100 }, // same batch: not an inversion
      { arrivedAt: 20, admittedAt: 350 },
    ];
    expect(orderInversions(inOrder)).toBe(0);
    expect(kendallTau(inOrder)).toBeCloseTo(1, 5);
    const swapped: Passage[] = [
      { arrivedAt: 0, admittedAt: 600 },
      { arrivedAt: 10, admittedAt: 100 },
      { arrivedAt: 20, admittedAt: 350 },
    ];
    expect(orderInversions(swapped)).toBe(2);
    // arrivals 0.5 ms apart are simultaneous at 1 ms resolution
    expect(
      orderInversions([
        { arrivedAt: 0, admittedAt: 600 },
        { arrivedAt: 0.5, admittedAt: 100 },
      ]),
    ).toBe(0);
    expect(
      orderInversions([
        { arrivedAt: 0, admittedAt: 600 },
        { arrivedAt: 5, admittedAt: 100 },
      ]),
    ).toBe(1);
    // reversed order: every pair inverted, tau = -1
    const reversed = Array.from({ length: 20 }, (_, i) => ({ arrivedAt: i * 10, admittedAt: 1000 - i }));
    expect(orderInversions(reversed)).toBe(190);
    expect(kendallTau(reversed)).toBe(-1);
  });

  it('agrees with a brute-force count on random data', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const passages = Array.from({ length: 300 }, () => ({
      arrivedAt: Math.floor(random() * 200),
      admittedAt: Math.floor(random() * 50) * 10,
    }));
    let brute = 0;
    const sorted = [...passages].sort((a, b) => a.arrivedAt - b.arrivedAt);
    // chained groups at resolution 1 over integer times: arrivals differing by ≤ 1 chain together
    const group = new Map<Passage, number>();
    let g = 0;
    sorted.forEach((p, i) => {
      if (i > 0 && p.arrivedAt - sorted[i - 1]!.arrivedAt > 1) g++;
      group.set(p, g);
    });
    for (const a of passages)
      for (const b of passages) if (group.get(a)! < group.get(b)! && a.admittedAt > b.admittedAt) brute++;
    expect(orderInversions(passages, 1)).toBe(brute);
  });

  it('the PREQUEUE χ² test passes a random draw and rejects one that follows join order', () => {
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const n = 2000;
    const positions = Array.from({ length: n }, (_, i) => i + 1);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [positions[i], positions[j]] = [positions[j]!, positions[i]!];
    }
    const fair = positions.map((position, joinRank) => ({ joinRank, position }));
    expect(prequeueChiSquareP(fair)!).toBeGreaterThan(0.001);
    // first come, first placed, with a little noise: strongly dependent
    const biased = Array.from({ length: n }, (_, joinRank) => ({
      joinRank,
      position: Math.min(n, Math.max(1, joinRank + 1 + Math.round((random() - 0.5) * 200))),
    }));
    expect(prequeueChiSquareP(biased)!).toBeLessThan(1e-6);
    expect(prequeueChiSquareP(fair.slice(0, 50))).toBeNull();
  });

  it('χ² tail matches known values', () => {
    expect(chiSquareP(3.8415, 1)).toBeCloseTo(0.05, 3);
    expect(chiSquareP(11.0705, 5)).toBeCloseTo(0.05, 3);
    expect(chiSquareP(26.296, 16)).toBeCloseTo(0.05, 3);
    expect(chiSquareP(0, 4)).toBe(1);
  });

  it('ETA error is relative to the wait that was left', () => {
    const errors = etaErrorsPct([
      { shownAt: 0, etaSeconds: 10, admittedAt: 10_000 },
      { shownAt: 0, etaSeconds: 12, admittedAt: 10_000 },
      { shownAt: 0, etaSeconds: 5, admittedAt: 10_000 },
      { shownAt: 9_500, etaSeconds: 3, admittedAt: 10_000 }, // < 1 s left: skipped
    ]);
    expect(errors).toEqual([0, 20, 50]);
    expect(quantile(errors, 0.9)).toBe(50);
    expect(quantile([], 0.9)).toBeNull();
  });
});
