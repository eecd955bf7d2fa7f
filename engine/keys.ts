/**
 * The one place that names Redis keys. Every key a script touches is built here and passed in
 * KEYS; all keys of one script share a hash tag, so every script runs unchanged on Redis Cluster:
 *  - province shard `{pNN}`: calendar, campuses, seat counters, registrations, orders, the
 *    deadline index, the bind fence, the event stream (the outbox) and the seat channel;
 *  - account shard `{aN}`: the account side of the binding and the CET6 review (R12: per account).
 * Per-candidate data lives as fields of bucketed hashes (small listpack-encoded hashes instead of
 * one key per candidate) to keep Redis memory per candidate low (P4). Bucket counts are part of
 * the data layout: changing one needs a migration, so they are constants, not settings.
 */

export const REGISTRATION_BUCKETS = 4096;
export const ORDER_BUCKETS = 1024;
export const ACCOUNT_SHARDS = 16;
export const ACCOUNT_BUCKETS = 256;

/** FNV-1a, 32 bits: cheap, stable, well spread on short ids. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const PROVINCE_CODE = /^[0-9]{2}$/;

export interface DueBucket {
  /** Member of the due-bucket set: the whole second the deadline falls in. */
  readonly member: string;
  /** Score: the last millisecond of that second, so a bucket is swept only when all of it is due. */
  readonly score: number;
}

/** Deadlines are indexed per whole second (R8, R22): see engine/lua/expireDue.lua. */
export function dueBucketOf(deadlineMs: number): DueBucket {
  const second = Math.floor(deadlineMs / 1000);
  return { member: String(second), score: second * 1000 + 999 };
}

export interface ProvinceKeys {
  readonly tag: string;
  readonly calendar: string;
  readonly campuses: string;
  readonly capacity: string;
  readonly used: string;
  readonly fence: string;
  readonly sequence: string;
  readonly dueSet: string;
  readonly stream: string;
  readonly seatChannel: string;
  registrations(candidateId: string): string;
  /** The n-th registrations bucket (0 ≤ n < REGISTRATION_BUCKETS), for full scans. */
  registrationBucket(index: number): string;
  orders(orderId: string): string;
  dueList(bucketMember: string): string;
}

export interface AccountKeys {
  readonly tag: string;
  readonly claims: string;
  readonly reviews: string;
  readonly stream: string;
}

export class KeySpace {
  /** Built once per province: every engine call needs them, and allocation is the hot path's cost. */
  private readonly provinces = new Map<string, ProvinceKeys>();

  /** `namespace` separates deployments and test runs sharing one Redis (no `{` or `}` in it). */
  constructor(readonly namespace = 'cet') {
    if (!/^[A-Za-z0-9_.:-]+$/.test(namespace)) throw new Error(`invalid key namespace: ${namespace}`);
  }

  province(code: string): ProvinceKeys {
    let keys = this.provinces.get(code);
    if (!keys) {
      keys = this.buildProvince(code);
      this.provinces.set(code, keys);
    }
    return keys;
  }

  private buildProvince(code: string): ProvinceKeys {
    if (!PROVINCE_CODE.test(code)) throw new Error(`invalid province code: ${code}`);
    const base = `${this.namespace}:{p${code}}`;
    return {
      tag: `{p${code}}`,
      calendar: `${base}:cal`,
      campuses: `${base}:campus`,
      capacity: `${base}:cap`,
      used: `${base}:used`,
      fence: `${base}:fence`,
      sequence: `${base}:seq`,
      dueSet: `${base}:due`,
      stream: `${base}:ev`,
      seatChannel: `${base}:seats`,
      registrations: (candidateId) => `${base}:reg:${fnv1a32(candidateId) % REGISTRATION_BUCKETS}`,
      registrationBucket: (index) => `${base}:reg:${index}`,
      orders: (orderId) => `${base}:ord:${fnv1a32(orderId) % ORDER_BUCKETS}`,
      dueList: (bucketMember) => `${base}:due:${bucketMember}`,
    };
  }

  accountShardOf(accountId: string): number {
    return fnv1a32(accountId) % ACCOUNT_SHARDS;
  }

  account(accountId: string): AccountKeys {
    const hash = fnv1a32(accountId);
    const base = `${this.namespace}:{a${hash % ACCOUNT_SHARDS}}`;
    const bucket = Math.floor(hash / ACCOUNT_SHARDS) % ACCOUNT_BUCKETS;
    return {
      tag: `{a${hash % ACCOUNT_SHARDS}}`,
      claims: `${base}:bind:${bucket}`,
      reviews: `${base}:rev:${bucket}`,
      stream: `${base}:ev`,
    };
  }

  /** Every outbox stream (the writer drains them all). */
  allStreams(provinceCodes: readonly string[]): string[] {
    const streams = provinceCodes.map((code) => this.province(code).stream);
    for (let shard = 0; shard < ACCOUNT_SHARDS; shard++) streams.push(`${this.namespace}:{a${shard}}:ev`);
    return streams;
  }

  /** Pattern that matches every province's seat channel (for PSUBSCRIBE). */
  seatChannelPattern(): string {
    return `${this.namespace}:{p*}:seats`;
  }
}
