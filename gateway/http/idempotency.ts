/**
 * Idempotency-Key (API.md): the first request with a key runs; a replay with the same key and the
 * same request returns the stored first answer; the same key with another request → 422
 * IDEMPOTENCY_KEY_REUSED; a replay while the first still runs → 409 IDEMPOTENCY_IN_PROGRESS.
 * Answers live in Redis (shared by every thread and gateway), so a retry after a timeout or a
 * gateway crash gets the first answer. Keys are scoped per account (or per client address before
 * login). A 5xx answer is not stored: the retry runs again. An in-progress marker expires
 * (default 60 s) so that a crash between the engine call and storing the answer cannot wedge the
 * key forever; engine transitions are themselves safe to repeat (a repeated hold answers
 * ALREADY_REGISTERED, never a second seat).
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Reply } from './route.ts';

export type IdempotencyStart =
  | { readonly state: 'fresh' }
  | { readonly state: 'replay'; readonly reply: Reply }
  | { readonly state: 'in-progress' }
  | { readonly state: 'conflict' };

interface Stored {
  readonly h: string;
  readonly s: 'P' | 'D';
  readonly r?: Reply;
}

export interface IdempotencyOptions {
  readonly namespace: string;
  readonly inProgressMs?: number;
  readonly retainMs?: number;
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

export class IdempotencyStore {
  private readonly inProgressMs: number;
  private readonly retainMs: number;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly options: IdempotencyOptions,
  ) {
    this.inProgressMs = options.inProgressMs ?? 60_000;
    this.retainMs = options.retainMs ?? 24 * 3_600_000;
  }

  static requestHash(method: string, path: string, body: Buffer): string {
    return createHash('sha256')
      .update(method)
      .update('\n')
      .update(path)
      .update('\n')
      .update(body)
      .digest('base64url');
  }

  private key(scope: string, idempotencyKey: string): string {
    const digest = createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 32);
    return `${this.options.namespace}:idem:${scope}:${digest}`;
  }

  async begin(scope: string, idempotencyKey: string, requestHash: string): Promise<IdempotencyStart> {
    const key = this.key(scope, idempotencyKey);
    const marker = JSON.stringify({ h: requestHash, s: 'P' } satisfies Stored);
    // SET … NX GET (Redis ≥ 7): claims the key, or returns what is there, in one round trip
    const previous = (await this.redis.call('SET', key, marker, 'NX', 'GET', 'PX', this.inProgressMs)) as
      string | null;
    if (previous === null) return { state: 'fresh' };
    const stored = JSON.parse(previous) as Stored;
    if (stored.h !== requestHash) return { state: 'conflict' };
    if (stored.s === 'P' || !stored.r) return { state: 'in-progress' };
    return { state: 'replay', reply: stored.r };
  }

  async complete(scope: string, idempotencyKey: string, requestHash: string, reply: Reply): Promise<void> {
    const key = this.key(scope, idempotencyKey);
    if (reply.status >= 500) {
      await this.redis.del(key);
      return;
    }
    await this.redis.set(
      key,
      JSON.stringify({ h: requestHash, s: 'D', r: reply } satisfies Stored),
      'PX',
      this.retainMs,
    );
  }

  /** The handler threw: let a retry run again. */
  async abandon(scope: string, idempotencyKey: string): Promise<void> {
    await this.redis.del(this.key(scope, idempotencyKey));
  }
}
