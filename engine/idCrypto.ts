/**
 * How identity numbers are kept (API.md: never echoed in full; STYLE.md: never in logs): a keyed
 * HMAC for lookups (equal numbers → equal digests, nothing readable), AES-256-GCM for the rare
 * need to show or export the number, and the masked form for display. Keys come from
 * configuration (ID_HMAC_KEY, ID_ENCRYPTION_KEY: 32 bytes, hex or base64); the development
 * default is derived from a fixed phrase and must never be used in production.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';

export interface IdKeys {
  readonly hmacKey: Buffer;
  readonly encryptionKey: Buffer;
}

function keyFrom(value: string, name: string): Buffer {
  const key = /^[0-9a-f]{64}$/i.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (key.length !== 32) throw new Error(`${name} must be 32 bytes (64 hex characters or base64)`);
  return key;
}

/** Keys from the environment; `allowDevelopmentKeys` (tests, demo) falls back to fixed dev keys. */
export function idKeysFromEnv(
  env: NodeJS.ProcessEnv,
  allowDevelopmentKeys: boolean,
): IdKeys & { development: boolean } {
  if (env.ID_HMAC_KEY && env.ID_ENCRYPTION_KEY) {
    return {
      hmacKey: keyFrom(env.ID_HMAC_KEY, 'ID_HMAC_KEY'),
      encryptionKey: keyFrom(env.ID_ENCRYPTION_KEY, 'ID_ENCRYPTION_KEY'),
      development: false,
    };
  }
  if (!allowDevelopmentKeys) throw new Error('ID_HMAC_KEY and ID_ENCRYPTION_KEY must be set');
  return {
    hmacKey: createHash('sha256').update('cet-engine development hmac key').digest(),
    encryptionKey: createHash('sha256').update('cet-engine development encryption key').digest(),
    development: true,
  };
}

/** Lookup digest of a normalised ID number (the number alone, whatever its type). */
export function idHmac(keys: IdKeys, normalisedIdNumber: string): Buffer {
  return createHmac('sha256', keys.hmacKey).update(normalisedIdNumber, 'utf8').digest();
}

/** iv (12) ‖ tag (16) ‖ ciphertext. */
export function encryptId(keys: IdKeys, idNumber: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.encryptionKey, iv);
  const body = Buffer.concat([cipher.update(idNumber, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

export function decryptId(keys: IdKeys, sealed: Buffer): string {
  const decipher = createDecipheriv('aes-256-gcm', keys.encryptionKey, sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
}
