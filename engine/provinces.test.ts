import { describe, expect, it } from 'vitest';
import { PROVINCE_SEEDS } from '../scripts/seed/provinces.ts';
import { PROVINCE_CODES, isProvinceCode } from './provinces.ts';

describe('province shards', () => {
  it('are the 31 mainland provinces, the same as the seed generator’s', () => {
    expect(PROVINCE_CODES).toHaveLength(31);
    expect([...PROVINCE_CODES]).toEqual(PROVINCE_SEEDS.map((p) => p.code));
    expect(isProvinceCode('44')).toBe(true);
    expect(isProvinceCode('71')).toBe(false);
  });
});
