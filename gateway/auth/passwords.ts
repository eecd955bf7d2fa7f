/**
 * Password hashing and policy. The KDF is argon2id at OWASP's recommended setting (m=19456 KiB,
 * t=2, p=1), run on the shared piscina pool (gateway/workers/password.worker.ts); every hash records
 * its parameters in a PHC string, so raising them later only needs `needsRehash` on login.
 * `DUMMY_HASH` lets a login for an unknown account run one full verification too, so response time
 * does not tell which logins exist. This module must never log or keep a password.
 */
import { randomBytes } from 'node:crypto';
import type { WorkerPool } from '../workers/pool.ts';
import type { HashTask, VerifyTask } from '../workers/password.worker.ts';
import { formatPhc, parsePhc, type Argon2Params } from './phc.ts';

/** OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1; 16-byte salt, 32-byte hash. */
export const KDF_PARAMS = {
  algorithm: 'argon2id',
  version: 19,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
  saltBytes: 16,
  hashBytes: 32,
} as const satisfies Argon2Params & { saltBytes: number; hashBytes: number };

/**
 * A well-formed hash at the current parameters that no password matches: its "hash" is 32 random
 * bytes, not the output of any input (a 2^-256 chance aside). Verifying against it costs exactly
 * one full KDF, like a real account, and building it costs nothing at start-up.
 */
export const DUMMY_HASH: string = formatPhc({
  ...KDF_PARAMS,
  salt: randomBytes(KDF_PARAMS.saltBytes),
  hash: randomBytes(KDF_PARAMS.hashBytes),
});

/** What the KDF needs of the worker pool: the pool itself, or a proxy to it from another thread. */
export type KdfRunner = Pick<WorkerPool, 'run'>;

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

/** Policy: 8–128 characters (code points) with at least one letter and one digit. */
export function isAcceptablePassword(password: unknown): password is string {
  if (typeof password !== 'string') return false;
  const length = [...password].length;
  return (
    length >= PASSWORD_MIN_LENGTH &&
    length <= PASSWORD_MAX_LENGTH &&
    /\p{L}/u.test(password) &&
    /\p{Nd}/u.test(password)
  );
}

/** One canonical form, so the same password typed on two keyboards hashes the same. */
function canonical(password: string): string {
  return password.normalize('NFC');
}

export async function hashPassword(pool: KdfRunner, password: string): Promise<string> {
  const task: HashTask = {
    op: 'hash',
    password: canonical(password),
    params: {
      algorithm: KDF_PARAMS.algorithm,
      version: KDF_PARAMS.version,
      memoryCost: KDF_PARAMS.memoryCost,
      timeCost: KDF_PARAMS.timeCost,
      parallelism: KDF_PARAMS.parallelism,
    },
    saltBytes: KDF_PARAMS.saltBytes,
    hashBytes: KDF_PARAMS.hashBytes,
  };
  return pool.run<string>('password', task);
}

/** Recomputes the KDF with the stored salt and parameters; compares in constant time. */
export async function verifyPassword(
  pool: KdfRunner,
  storedHash: string,
  password: string,
): Promise<boolean> {
  const task: VerifyTask = { op: 'verify', storedHash, password: canonical(password) };
  return pool.run<boolean>('password', task);
}

/** True when a stored hash was made with other parameters than today's (rehash after login). */
export function needsRehash(storedHash: string): boolean {
  const stored = parsePhc(storedHash);
  return (
    stored.memoryCost !== KDF_PARAMS.memoryCost ||
    stored.timeCost !== KDF_PARAMS.timeCost ||
    stored.parallelism !== KDF_PARAMS.parallelism ||
    stored.hash.length !== KDF_PARAMS.hashBytes
  );
}

/** The KDF as the account service sees it: swappable in tests to count or time calls. */
export interface PasswordKdf {
  hash(password: string): Promise<string>;
  verify(storedHash: string, password: string): Promise<boolean>;
}

export function poolKdf(pool: KdfRunner): PasswordKdf {
  return {
    hash: (password) => hashPassword(pool, password),
    verify: (storedHash, password) => verifyPassword(pool, storedHash, password),
  };
}
