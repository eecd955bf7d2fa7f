/**
 * Password KDF on a pool thread (kind 'password'): argon2id through @node-rs/argon2's synchronous
 * raw hash, so the memory-hard work runs on this piscina thread, never on the event loop and never
 * on libuv's small shared threadpool (the async variants would queue there, outside the pool's
 * bounded queue). Verification recomputes the hash with the stored salt and parameters and compares
 * in constant time. It must never log or return a password.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { workerData } from 'node:worker_threads';
import { hashRawSync } from '@node-rs/argon2';
import { formatPhc, parsePhc, type Argon2Params } from '../auth/phc.ts';
import { lowerThreadPriority } from '../osThread.ts';

// the KDF lane's threads yield the cores to the event loops, Redis and PostgreSQL (LANE_KDF_NICE):
// a login storm must not delay a cheap request or a reservation (ARCHITECTURE.md "The opening")
lowerThreadPriority(Number((workerData as { threadNice?: unknown } | null)?.threadNice ?? 0));

export interface HashTask {
  readonly op: 'hash';
  readonly password: string;
  readonly params: Argon2Params;
  readonly saltBytes: number;
  readonly hashBytes: number;
}

export interface VerifyTask {
  readonly op: 'verify';
  readonly storedHash: string;
  readonly password: string;
}

export type PasswordTask = HashTask | VerifyTask;

/** @node-rs/argon2's `Algorithm.Argon2id` (a const enum, so not importable under verbatimModuleSyntax). */
const ARGON2ID = 2;

function derive(password: string, params: Argon2Params, salt: Buffer, hashBytes: number): Buffer {
  return hashRawSync(password, {
    algorithm: ARGON2ID,
    memoryCost: params.memoryCost,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
    outputLen: hashBytes,
    salt,
  });
}

export default function passwordWorker(task: PasswordTask): string | boolean {
  if (task.op === 'hash') {
    const salt = randomBytes(task.saltBytes);
    const hash = derive(task.password, task.params, salt, task.hashBytes);
    return formatPhc({ ...task.params, salt, hash });
  }
  const stored = parsePhc(task.storedHash);
  const candidate = derive(task.password, stored, stored.salt, stored.hash.length);
  return timingSafeEqual(candidate, stored.hash);
}
