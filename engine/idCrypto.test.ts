import { describe, expect, it } from 'vitest';
import { decryptId, encryptId, idHmac, type IdKeys } from './idCrypto.ts';

describe('identity number storage', () => {
  const keys: IdKeys = { hmacKey: Buffer.alloc(32, 1), encryptionKey: Buffer.alloc(32, 2) };

  it('HMAC digests are stable per number and differ across numbers and keys', () => {
    expect(idHmac(keys, '11010519491231002X').equals(idHmac(keys, '11010519491231002X'))).toBe(true);
    expect(idHmac(keys, '11010519491231002X').equals(idHmac(keys, '110105194912310021'))).toBe(false);
    const other = { ...keys, hmacKey: Buffer.alloc(32, 7) };
    expect(idHmac(keys, '11010519491231002X').equals(idHmac(other, '11010519491231002X'))).toBe(false);
  });

  it('encrypts with a fresh IV and decrypts back; a tampered value is refused', () => {
    const a = encryptId(keys, '11010519491231002X');
    const b = encryptId(keys, '11010519491231002X');
    expect(a.equals(b)).toBe(false);
    expect(a.toString('latin1')).not.toContain('11010519491231002X');
    expect(decryptId(keys, a)).toBe('11010519491231002X');
    a[a.length - 1]! ^= 1;
    expect(() => decryptId(keys, a)).toThrow();
  });
});
