import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAINLAND_PROVINCE_CODES } from './idNumber.ts';
import { isTicketInScope, makeTicket, parseTicket, ticketYear, type TicketParts } from './ticket.ts';

describe('parseTicket', () => {
  it('reads site, year, half, level and sequence', () => {
    expect(parseTicket('440123241100042')).toEqual({
      ok: true,
      siteCode: '440123',
      year: 2024,
      half: 1,
      level: 1,
      sequence: 42,
    });
    expect(parseTicket('110001992299999')).toEqual({
      ok: true,
      siteCode: '110001',
      year: 1999,
      half: 2,
      level: 2,
      sequence: 99999,
    });
  });

  it('splits two-digit years at 50', () => {
    expect([0, 4, 5, 49, 50, 99].map(ticketYear)).toEqual([2000, 2004, 2005, 2049, 1950, 1999]);
  });

  it.each([
    ['14 digits', '44012324110004'],
    ['16 digits', '4401232411000421'],
    ['a letter', '44012324110004A'],
    ['spaces', '440123 24 1 1 00042'],
    ['full-width digits', '４40123241100042'],
    ['half 0', '440123240100042'],
    ['half 3', '440123243100042'],
    ['level 0', '440123241000042'],
    ['level 3', '440123241300042'],
    ['province 00', '000123241100042'],
    ['province 81 (Hong Kong)', '810123241100042'],
  ])('refuses %s as FORMAT', (_label, ticket) => {
    expect(parseTicket(ticket)).toEqual({ ok: false, reason: 'FORMAT' });
  });
});

describe('isTicketInScope (R14)', () => {
  it('keeps 2005 and later, drops 2004 and earlier, and malformed tickets', () => {
    expect(isTicketInScope('440123051100001')).toBe(true);
    expect(isTicketInScope('440123491100001')).toBe(true);
    expect(isTicketInScope('440123041100001')).toBe(false);
    expect(isTicketInScope('440123001200001')).toBe(false);
    expect(isTicketInScope('440123991100001')).toBe(false);
    expect(isTicketInScope('440123051300001')).toBe(false);
    expect(isTicketInScope('')).toBe(false);
  });
});

describe('makeTicket', () => {
  it('builds the 15-digit form', () => {
    expect(makeTicket({ siteCode: '440123', year: 2005, half: 2, level: 1, sequence: 7 })).toBe(
      '440123052100007',
    );
  });

  it('refuses parts the format cannot hold', () => {
    const good: TicketParts = { siteCode: '440123', year: 2024, half: 1, level: 1, sequence: 1 };
    expect(() => makeTicket({ ...good, siteCode: '44012' })).toThrow(RangeError);
    expect(() => makeTicket({ ...good, siteCode: '990123' })).toThrow(RangeError);
    expect(() => makeTicket({ ...good, year: 1949 })).toThrow(RangeError);
    expect(() => makeTicket({ ...good, year: 2050 })).toThrow(RangeError);
    expect(() => makeTicket({ ...good, sequence: 100_000 })).toThrow(RangeError);
    expect(() => makeTicket({ ...good, sequence: 1.5 })).toThrow(RangeError);
  });

  it('round-trips every valid combination through parseTicket', () => {
    const parts = fc.record({
      siteCode: fc
        .tuple(fc.constantFrom(...MAINLAND_PROVINCE_CODES), fc.integer({ min: 0, max: 9999 }))
        .map(([province, site]) => province + String(site).padStart(4, '0')),
      year: fc.integer({ min: 1950, max: 2049 }),
      half: fc.constantFrom(1 as const, 2 as const),
      level: fc.constantFrom(1 as const, 2 as const),
      sequence: fc.integer({ min: 0, max: 99_999 }),
    });
    fc.assert(
      fc.property(parts, (p) => {
        const ticket = makeTicket(p);
        expect(ticket).toMatch(/^\d{15}$/);
        expect(parseTicket(ticket)).toEqual({ ok: true, ...p });
        expect(isTicketInScope(ticket)).toBe(p.year >= 2005);
      }),
      { numRuns: 2_000 },
    );
  });
});
