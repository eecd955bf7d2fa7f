/**
 * The PHC string format for argon2id hashes (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, salt
 * and hash in unpadded standard base64): the stored password hash records its own parameters, so
 * they can be raised later and old hashes still verify (and get rehashed on the next login).
 * Pure and dependency-free: imported by both the main thread and the password worker.
 */

export interface Argon2Params {
  readonly algorithm: 'argon2id';
  /** Argon2 version 0x13 (19), the current one. */
  readonly version: 19;
  /** Memory in KiB (`m=`). */
  readonly memoryCost: number;
  /** Passes over memory (`t=`). */
  readonly timeCost: number;
  /** Lanes (`p=`). */
  readonly parallelism: number;
}

export interface Argon2Hash extends Argon2Params {
  readonly salt: Buffer;
  readonly hash: Buffer;
}

// Bounds on what a stored string may ask for: a corrupted or planted row must not make a single
// verification allocate gigabytes or run for minutes.
const MAX_MEMORY_KIB = 262_144;
const MAX_TIME_COST = 16;
const MAX_PARALLELISM = 16;
const SALT_BYTES = { min: 8, max: 64 };
const HASH_BYTES = { min: 16, max: 64 };

const PHC = /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

export class MalformedHashError extends Error {
  constructor() {
    // The string itself is not quoted: it is a credential.
    super('stored password hash is not an argon2id PHC string within the accepted bounds');
    this.name = 'MalformedHashError';
  }
}

function b64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

export function formatPhc(value: Argon2Hash): string {
  const { memoryCost: m, timeCost: t, parallelism: p } = value;
  return `$argon2id$v=${value.version}$m=${m},t=${t},p=${p}$${b64(value.salt)}$${b64(value.hash)}`;
}

export function parsePhc(stored: string): Argon2Hash {
  const match = PHC.exec(stored);
  if (match === null) throw new MalformedHashError();
  const [, m = '', t = '', p = '', salt64 = '', hash64 = ''] = match;
  const parsed: Argon2Hash = {
    algorithm: 'argon2id',
    version: 19,
    memoryCost: Number(m),
    timeCost: Number(t),
    parallelism: Number(p),
    salt: Buffer.from(salt64, 'base64'),
    hash: Buffer.from(hash64, 'base64'),
  };
  const inBounds =
    parsed.parallelism >= 1 &&
    parsed.parallelism <= MAX_PARALLELISM &&
    parsed.memoryCost >= 8 * parsed.parallelism &&
    parsed.memoryCost <= MAX_MEMORY_KIB &&
    parsed.timeCost >= 1 &&
    parsed.timeCost <= MAX_TIME_COST &&
    parsed.salt.length >= SALT_BYTES.min &&
    parsed.salt.length <= SALT_BYTES.max &&
    parsed.hash.length >= HASH_BYTES.min &&
    parsed.hash.length <= HASH_BYTES.max;
  if (!inBounds) throw new MalformedHashError();
  return parsed;
}
