/**
 * Idempotency-Key (API.md): the first request with a key runs; a replay with the same key and the
 * same request returns the stored first answer; the same key with another request → 422
 * IDEMPOTENCY_KEY_REUSED; a replay while the first still runs → 409 IDEMPOTENCY_IN_PROGRESS.
 * Answers live in Redis (shared by every thread and gateway), so a retry after a timeout or a
 * gateway crash gets the first answer. Keys are scoped per account (or per client address before
 * login). A 5xx answer is not stored: the retry runs again. A success is kept a day, a refusal
 * (4xx) ten minutes (DEFAULTS.idempotency): enough for a client's retries, and a session cannot fill
 * Redis with refusals kept a day (issue 16 item 2). An in-progress marker expires
 * (default 60 s) so that a crash between the engine call and storing the answer cannot wedge the
 * key forever; engine transitions are themselves safe to repeat (a repeated hold answers
 * ALREADY_REGISTERED, never a second seat).
 *
 * What Redis keeps is of no use without the Idempotency-Key itself, which only the client and the
 * request in flight know (Redis holds its SHA-256 as the key's name): the request's fingerprint is
 * an HMAC keyed by it, so a copy of Redis does not let anyone test guesses of a password or an ID
 * number against a stored body's hash, and the stored answer is sealed with AES-256-GCM under a
 * key derived from it, so a login's session token is not readable there. Any gateway, and one
 * restarted after a crash (REL4), derives the same keys from the retry's header: no shared secret.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULTS } from '../../config/defaults.ts';
import { GatewayKeys } from '../../engine/keys.ts';
import type { Reply } from './route.ts';

export type IdempotencyStart =
  | { readonly state: 'fresh' }
  | { readonly state: 'replay'; readonly reply: Reply }
  | { readonly state: 'in-progress' }
  | { readonly state: 'conflict' };

interface Stored {
  /** The request's fingerprint (`requestHash`). */
  readonly h: string;
  readonly s: 'P' | 'D';
  /** The answer, sealed: base64url of IV (12 bytes) ‖ GCM tag (16) ‖ ciphertext. */
  readonly e?: string;
}

/** Two 32-byte keys from the Idempotency-Key, one per use, bound to the scope. */
function keysOf(scope: string, idempotencyKey: string): { fingerprint: Buffer; seal: Buffer } {
  const okm = Buffer.from(hkdfSync('sha256', idempotencyKey, scope, 'cet idempotency v1', 64));
  return { fingerprint: okm.subarray(0, 32), seal: okm.subarray(32) };
}

function seal(key: Buffer, reply: Reply): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(reply), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url');
}

function unseal(key: Buffer, text: string): Reply {
  const bytes = Buffer.from(text, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(12, 28));
  return JSON.parse(
    Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8'),
  ) as Reply;
}

export interface IdempotencyOptions {
  readonly namespace: string;
  readonly inProgressMs?: number;
  /** How long a success (2xx, 3xx) is kept. */
  readonly retainMs?: number;
  /** How long a refusal (4xx) is kept. */
  readonly refusalRetainMs?: number;
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** A request's claim on its Idempotency-Key (IdempotencyStore.claimOf). */
export interface IdempotencyClaim {
  /** Where the key's answer lives: the SHA-256 of the Idempotency-Key, never the key itself. */
  readonly redisKey: string;
  /** The request's fingerprint. */
  readonly hash: string;
  /** The key the answer is sealed with. */
  readonly sealKey: Buffer;
}

export class IdempotencyStore {
  private readonly inProgressMs: number;
  private readonly retainMs: number;
  private readonly refusalRetainMs: number;
  private readonly keys: GatewayKeys;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly options: IdempotencyOptions,
  ) {
    this.inProgressMs = options.inProgressMs ?? 60_000;
    this.retainMs = options.retainMs ?? DEFAULTS.idempotency.retainMs;
    this.refusalRetainMs = options.refusalRetainMs ?? DEFAULTS.idempotency.refusalRetainMs;
    this.keys = new GatewayKeys(options.namespace);
  }

  /**
   * Everything a request's Idempotency-Key gives, derived once (keys, fingerprint, Redis key) for
   * `begin`, `complete` and `abandon`: the fingerprint is an HMAC keyed by the Idempotency-Key
   * (see the module's comment).
   */
  claimOf(
    scope: string,
    idempotencyKey: string,
    method: string,
    path: string,
    body: Buffer,
  ): IdempotencyClaim {
    const keys = keysOf(scope, idempotencyKey);
    const hash = createHmac('sha256', keys.fingerprint)
      .update(method)
      .update('\n')
      .update(path)
      .update('\n')
      .update(body)
      .digest('base64url');
    const digest = createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 32);
    return { redisKey: this.keys.idempotency(scope, digest), hash, sealKey: keys.seal };
  }

  async begin(claim: IdempotencyClaim): Promise<IdempotencyStart> {
    const marker = JSON.stringify({ h: claim.hash, s: 'P' } satisfies Stored);
    // SET … NX GET (Redis ≥ 7): claims the key, or returns what is there, in one round trip
    const previous = (await this.redis.call(
      'SET',
      claim.redisKey,
      marker,
      'NX',
      'GET',
      'PX',
      this.inProgressMs,
    )) as string | null;
    if (previous === null) return { state: 'fresh' };
    const stored = JSON.parse(previous) as Stored;
    if (stored.h !== claim.hash) return { state: 'conflict' };
    if (stored.s === 'P' || !stored.e) return { state: 'in-progress' };
    return { state: 'replay', reply: unseal(claim.sealKey, stored.e) };
  }

  async complete(claim: IdempotencyClaim, reply: Reply): Promise<void> {
    if (reply.status >= 500) {
      await this.redis.del(claim.redisKey);
      return;
    }
    await this.redis.set(
      claim.redisKey,
      JSON.stringify({ h: claim.hash, s: 'D', e: seal(claim.sealKey, reply) } satisfies Stored),
      'PX',
      reply.status >= 400 ? this.refusalRetainMs : this.retainMs,
    );
  }

  /** The handler threw: let a retry run again. */
  async abandon(claim: IdempotencyClaim): Promise<void> {
    await this.redis.del(claim.redisKey);
  }
}
