/**
 * How identity numbers are kept (API.md: never echoed in full; STYLE.md: never in logs): a keyed
 * HMAC for lookups (equal numbers → equal digests, nothing readable), AES-256-GCM for the rare
 * need to show or export the number, and the masked form for display. The keys come from the
 * configuration (config/index.ts: ID_HMAC_KEY, ID_ENCRYPTION_KEY, 32 bytes each, or the fixed
 * development keys, which must never be used in production); this module never reads them itself.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

export interface IdKeys {
  readonly hmacKey: Buffer;
  readonly encryptionKey: Buffer;
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
