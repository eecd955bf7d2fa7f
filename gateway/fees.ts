/**
 * Subject fees (yuan): set by operators (PUT /api/v1/admin/fees, or a world's fees at load time),
 * kept in one Redis hash shared by every gateway, read through a one-second cache so a reservation
 * costs no extra round trip. A hold records the fee it was taken at (engine item `fee`).
 */
import type { Cluster, Redis } from 'ioredis';
import { GatewayKeys } from '../engine/keys.ts';
import type { Fees } from '../engine/world.ts';
import { isSubject, type Subject } from '../engine/subjects.ts';

export class FeeTable {
  private cache: { at: number; fees: Fees } | undefined;
  readonly key: string;

  constructor(
    private readonly redis: Redis | Cluster,
    namespace: string,
    private readonly maxAgeMs = 1_000,
  ) {
    this.key = new GatewayKeys(namespace).fees;
  }

  async all(): Promise<Fees> {
    if (this.cache && Date.now() - this.cache.at < this.maxAgeMs) return this.cache.fees;
    const raw = await this.redis.hgetall(this.key);
    const fees: Partial<Record<Subject, number>> = {};
    for (const [subject, value] of Object.entries(raw)) if (isSubject(subject)) fees[subject] = Number(value);
    this.cache = { at: Date.now(), fees };
    return fees;
  }

  async of(subject: Subject): Promise<number> {
    return (await this.all())[subject] ?? 0;
  }

  async set(fees: Fees): Promise<void> {
    const entries = Object.entries(fees).filter(
      ([subject, value]) => isSubject(subject) && typeof value === 'number',
    );
    if (entries.length > 0) await this.redis.hset(this.key, Object.fromEntries(entries));
    this.cache = undefined;
  }
}
