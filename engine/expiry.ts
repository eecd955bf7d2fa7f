/**
 * The sweeper's side of the engine (R8, R22, I4): drains the deadline index of a province in
 * bounded batches through the expireDue script, then releases the account side of every
 * registration deleted for staying empty (the cross-shard half of the binding, engine/binding.ts).
 * Safe to run from several processes at once: a batch that raced another sweeper is retried,
 * and a hold can only leave status HELD once.
 */
import type { Engine } from './engine.ts';
import { releaseClaim } from './binding.ts';
import { dueBucketOf } from './keys.ts';
import { asList } from './views.ts';

export interface ExpiredHold {
  readonly candidateId: string;
  readonly subject: string;
  readonly holdId: number;
}

export interface SweepResult {
  readonly expired: ExpiredHold[];
  readonly deleted: { candidateId: string; accountId: string }[];
  readonly batches: number;
  /** true when the batch budget ran out with due work left. */
  readonly more: boolean;
}

export async function expireDue(
  engine: Engine,
  provinceCode: string,
  now: number,
  options: { batchSize?: number; maxBatches?: number } = {},
): Promise<SweepResult> {
  const batchSize = options.batchSize ?? 500;
  const maxBatches = options.maxBatches ?? 1000;
  const keys = engine.keys.province(provinceCode);
  const result: SweepResult = { expired: [], deleted: [], batches: 0, more: false };
  let batches = 0;
  for (;;) {
    if (batches >= maxBatches) return { ...result, batches, more: true };
    const [member] = await engine.redis.zrangebyscore(keys.dueSet, '-inf', now, 'LIMIT', 0, 1);
    if (member === undefined) return { ...result, batches, more: false };
    const candidates = await engine.redis.lrange(keys.dueList(member), 0, batchSize - 1);
    const emptyDeadline = now + engine.emptyMs;
    const emptyBucket = dueBucketOf(emptyDeadline);
    const answer = await engine.run(
      'expireDue',
      [
        keys.dueSet,
        keys.dueList(member),
        keys.capacity,
        keys.used,
        keys.stream,
        keys.seatChannel,
        keys.dueList(emptyBucket.member),
        ...candidates.map((candidateId) => keys.registrations(candidateId)),
      ],
      [now, member, emptyDeadline, emptyBucket.member, emptyBucket.score, ...candidates],
    );
    batches++;
    if (!answer.ok) throw new Error('expireDue cannot refuse');
    if (answer.status === 'NOT_DUE') return { ...result, batches, more: false };
    for (const entry of asList(answer.expired)) {
      const [candidateId, subject, holdId] = entry as [string, string, number];
      result.expired.push({ candidateId, subject, holdId });
    }
    for (const entry of asList(answer.deleted)) {
      const [candidateId, accountId, token] = entry as [string, string, string];
      // the cross-shard half of an R8 deletion; if this is lost, the next bind attempt settles it
      await releaseClaim(engine, accountId, token);
      result.deleted.push({ candidateId, accountId });
    }
  }
}
