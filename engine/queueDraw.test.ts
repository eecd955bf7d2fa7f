import { describe, expect, it } from 'vitest';
import {
  commitmentOf,
  drawKeyOf,
  drawOrder,
  newSeed,
  newTicketId,
  provinceOfTicket,
  sealKeyFrom,
  sealSeed,
  seedMatches,
  unsealSeed,
} from './queueDraw.ts';
import { chiSquareP } from '../loadtest/report/fairness.ts';

describe('the draw (API.md "Waiting room": verifiable)', () => {
  it('orders by HMAC-SHA256(seed, ticketId), recomputable from the revealed seed', () => {
    const seed = newSeed();
    const ids = Array.from({ length: 50 }, () => newTicketId('11'));
    const order = drawOrder(seed, ids);
    expect(new Set(order)).toEqual(new Set(ids));
    const keys = order.map((id) => drawKeyOf(seed, id));
    expect([...keys].sort()).toEqual(keys);
    // a verifier with only the revealed seed (hex) gets the same order
    expect(drawOrder(Buffer.from(seed.toString('hex'), 'hex'), [...ids].reverse())).toEqual(order);
  });

  it('the commitment binds the seed', () => {
    const seed = newSeed();
    const commitment = commitmentOf(seed);
    expect(seedMatches(seed.toString('hex'), commitment)).toBe(true);
    expect(seedMatches(newSeed().toString('hex'), commitment)).toBe(false);
    expect(seedMatches('not hex', commitment)).toBe(false);
  });

  it('seals the seed so that only the deployment key opens it', () => {
    const key = sealKeyFrom(Buffer.alloc(32, 7));
    const seed = newSeed();
    const sealed = sealSeed(seed, key);
    expect(sealed).not.toContain(seed.toString('hex'));
    expect(unsealSeed(sealed, key)).toEqual(seed);
    expect(() => unsealSeed(sealed, sealKeyFrom(Buffer.alloc(32, 8)))).toThrow();
  });

  it('ticket ids carry their province', () => {
    const id = newTicketId('44');
    expect(provinceOfTicket(id)).toBe('44');
    expect(provinceOfTicket('44-xyz')).toBeNull();
    expect(provinceOfTicket('../../etc')).toBeNull();
  });

  it('positions are uniformly random: χ² over 6,000 draws of 3 tickets (every order ≈ 1/6)', () => {
    const ids = ['11-0000000000000001', '11-0000000000000002', '11-0000000000000003'];
    const counts = new Map<string, number>();
    const runs = 6000;
    for (let i = 0; i < runs; i++) {
      const key = drawOrder(newSeed(), ids).join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    const expected = runs / 6;
    const statistic = [...counts.values()].reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
    // p < 0.001 would reject uniformity; a fair draw fails this once in a thousand runs
    expect(chiSquareP(statistic, 5)).toBeGreaterThan(0.001);
  });
});
