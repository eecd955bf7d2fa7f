/**
 * Pure rules of password storage: the policy (WEAK_PASSWORD) and the PHC string format, whose
 * bounds keep a corrupted stored hash from costing gigabytes or minutes to verify.
 */
import { describe, expect, it } from 'vitest';
import { DUMMY_HASH, KDF_PARAMS, isAcceptablePassword, needsRehash } from './passwords.ts';
import { MalformedHashError, formatPhc, parsePhc } from './phc.ts';

describe('password policy', () => {
  it('needs 8 to 128 characters with letters and digits', () => {
    for (const ok of ['abcdefg1', 'Passw0rd', '密码很长的密码12', `a1${'x'.repeat(126)}`, '  spaced 1  ']) {
      expect(isAcceptablePassword(ok), ok).toBe(true);
    }
    for (const weak of [
      'abc1234',
      'abcdefgh',
      '12345678',
      `a1${'x'.repeat(127)}`,
      '',
      '!!!!!!!!',
      undefined,
      12345678,
    ]) {
      expect(isAcceptablePassword(weak), String(weak)).toBe(false);
    }
  });

  it('counts characters, not UTF-16 units', () => {
    // 127 astral characters plus one digit: 128 characters but 255 UTF-16 units.
    expect(isAcceptablePassword(`${'𝒜'.repeat(127)}1`)).toBe(true);
    expect(isAcceptablePassword(`${'𝒜'.repeat(128)}1`)).toBe(false);
  });
});

describe('PHC strings', () => {
  const sample = {
    algorithm: 'argon2id',
    version: 19,
    memoryCost: 19_456,
    timeCost: 2,
    parallelism: 1,
    salt: Buffer.alloc(16, 7),
    hash: Buffer.alloc(32, 9),
  } as const;

  it('round-trips, unpadded base64', () => {
    const text = formatPhc(sample);
    expect(text).toBe(
      `$argon2id$v=19$m=19456,t=2,p=1$${sample.salt.toString('base64').replace(/=+$/, '')}$${sample.hash.toString('base64').replace(/=+$/, '')}`,
    );
    expect(text).not.toContain('=$');
    expect(parsePhc(text)).toEqual(sample);
  });

  it('refuses other algorithms, versions and out-of-bounds parameters', () => {
    const good = formatPhc(sample);
    const bad = [
      good.replace('argon2id', 'argon2i'),
      good.replace('v=19', 'v=16'),
      good.replace('m=19456', 'm=4194304'),
      good.replace('t=2', 't=99'),
      good.replace('p=1', 'p=0'),
      formatPhc({ ...sample, salt: Buffer.alloc(4) }),
      formatPhc({ ...sample, hash: Buffer.alloc(8) }),
      '$scrypt$ln=17,r=8,p=1$c2FsdA$aGFzaA',
      '',
    ];
    for (const text of bad) expect(() => parsePhc(text), text).toThrow(MalformedHashError);
  });

  it('gives a dummy hash with the current parameters, and tells older hashes to be redone', () => {
    const dummy = parsePhc(DUMMY_HASH);
    expect(dummy).toMatchObject({
      memoryCost: KDF_PARAMS.memoryCost,
      timeCost: KDF_PARAMS.timeCost,
      parallelism: 1,
    });
    expect(needsRehash(DUMMY_HASH)).toBe(false);
    expect(needsRehash(formatPhc({ ...sample, memoryCost: 8_192 }))).toBe(true);
    expect(needsRehash(formatPhc({ ...sample, timeCost: 1 }))).toBe(true);
  });
});
