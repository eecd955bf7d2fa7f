/**
 * The Idempotency-Key's keys are derived by HKDF-SHA-256 written as HMACs (idempotency.ts): they
 * must be exactly Node's `hkdfSync`, or a gateway of this version would not open the answers an
 * older one sealed (a retry across a rolling restart, REL4).
 */
import { hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hkdfSha256x64 } from './idempotency.ts';

describe('hkdfSha256x64', () => {
  it('gives the bytes of hkdfSync for any key, scope and info', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.string({ unit: 'binary' }),
        (ikm, salt, info) => {
          const expected = Buffer.from(hkdfSync('sha256', ikm, salt, info, 64));
          expect(hkdfSha256x64(ikm, salt, info).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
