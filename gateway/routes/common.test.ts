import { describe, expect, it } from 'vitest';
import { isoChina } from './common.ts';

describe('API times', () => {
  it('are ISO-8601 with the +08:00 offset', () => {
    expect(isoChina(Date.UTC(2026, 2, 1, 1, 0, 0))).toBe('2026-03-01T09:00:00.000+08:00');
    expect(new Date(isoChina(1_764_388_800_123)).getTime()).toBe(1_764_388_800_123);
  });
});
