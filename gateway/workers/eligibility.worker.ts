/**
 * Worker of kind 'eligibility' (gateway/workers/pool.ts): the CPU part of an eligibility query or
 * a CET6 review application, for a whole batch at once (a task hop costs tens of µs, one check a
 * few: see reports/bench/eligibility.json). Per item: the R3 identity check, the lookup digest of
 * the normalised ID number (HMAC-SHA-256, as roster.id_hmac and cet4_scores.id_hmac hold it) and
 * the masked number to show.
 *
 * The HMAC key travels in the task (32 bytes per batch, measured as free next to the batch) unless
 * the task leaves it out; then it comes from piscina's workerData.hmacKey (the pool's `workerData`
 * option). The worker never reads the environment: which keys apply is the process
 * configuration's choice (config/index.ts), and importing it here would slow every thread's start.
 * It never logs, and never returns an ID number in a refusal.
 *
 * `checkIdentityBatch` is also what the service runs inline (no pool) and what the benchmark
 * measures, so both modes compute the very same answers.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { workerData } from 'node:worker_threads';
import { checkIdentity, type IdentityInput, type IdentityRefusal } from '../../engine/eligibility.ts';
import { maskIdNumber } from '../../engine/idNumber.ts';
import type { IdType } from '../../engine/world.ts';

export interface EligibilityTask {
  readonly items: readonly IdentityInput[];
  /** 32-byte HMAC key; when absent, workerData.hmacKey. */
  readonly hmacKey?: Uint8Array;
  /** "Today" for resident-ID birth dates (epoch ms); default the worker's clock. */
  readonly nowMs?: number;
}

export type CheckedIdentity =
  | {
      readonly ok: true;
      readonly idType: IdType;
      readonly normalisedId: string;
      readonly normalisedName: string;
      /** HMAC-SHA-256 of normalisedId, hex (what id_hmac holds, as text). */
      readonly idHmac: string;
      readonly idMasked: string;
    }
  | IdentityRefusal;

let cachedKeyBytes: Buffer | undefined;
let cachedKey: KeyObject | undefined;

/** A KeyObject for the key bytes, rebuilt only when the bytes change (normally never). */
function hmacKeyObject(bytes: Uint8Array): KeyObject {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (cachedKey === undefined || cachedKeyBytes === undefined || !cachedKeyBytes.equals(buffer)) {
    cachedKeyBytes = Buffer.from(buffer); // own copy: the caller's memory may be reused
    cachedKey = createSecretKey(cachedKeyBytes);
  }
  return cachedKey;
}

let ambientKey: Uint8Array | undefined;
function keyOutsideTask(): Uint8Array {
  if (ambientKey !== undefined) return ambientKey;
  const fromWorkerData = (workerData as { hmacKey?: unknown } | null | undefined)?.hmacKey;
  if (!(fromWorkerData instanceof Uint8Array)) {
    throw new Error('an eligibility task needs an HMAC key: in the task, or as workerData.hmacKey');
  }
  ambientKey = fromWorkerData;
  return ambientKey;
}

export function checkIdentityBatch(
  items: readonly IdentityInput[],
  hmacKey: Uint8Array,
  now: Date = new Date(),
): CheckedIdentity[] {
  const key = hmacKeyObject(hmacKey);
  const results: CheckedIdentity[] = [];
  for (const item of items) {
    const checked = checkIdentity(item, now);
    if (!checked.ok) {
      results.push(checked);
      continue;
    }
    // Spelled out rather than spread: the spread copy measured as a third of the per-item cost.
    results.push({
      ok: true,
      idType: checked.idType,
      normalisedId: checked.normalisedId,
      normalisedName: checked.normalisedName,
      idHmac: createHmac('sha256', key).update(checked.normalisedId, 'utf8').digest('hex'),
      idMasked: maskIdNumber(checked.normalisedId),
    });
  }
  return results;
}

export default function eligibilityWorker(task: EligibilityTask): CheckedIdentity[] {
  const now = task.nowMs === undefined ? new Date() : new Date(task.nowMs);
  return checkIdentityBatch(task.items, task.hmacKey ?? keyOutsideTask(), now);
}
