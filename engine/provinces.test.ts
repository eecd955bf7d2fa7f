import { describe, expect, it } from 'vitest';
import { PROVINCE_CODES, PROVINCES, isProvinceCode } from './provinces.ts';

describe('the province table', () => {
  it('holds the 31 mainland provinces once each, by GB/T 2260 code', () => {
    expect(PROVINCE_CODES).toHaveLength(31);
    expect(new Set(PROVINCE_CODES).size).toBe(31);
    for (const code of PROVINCE_CODES) expect(code).toMatch(/^[1-6]\d$/);
    expect(PROVINCE_CODES).toEqual(PROVINCES.map((p) => p.code));
  });

  it('names each province and gives it a positive share of candidates', () => {
    for (const province of PROVINCES) {
      expect(province.name.startsWith(province.shortName), province.code).toBe(true);
      expect(province.weight, province.code).toBeGreaterThan(0);
    }
    expect(PROVINCES.find((p) => p.code === '41')).toMatchObject({ name: '河南省', shortName: '河南' });
  });

  it('tells a province code from anything else', () => {
    expect(isProvinceCode('44')).toBe(true);
    expect(isProvinceCode('71')).toBe(false);
    expect(isProvinceCode(44)).toBe(false);
  });
});
