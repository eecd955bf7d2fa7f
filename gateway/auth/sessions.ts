/**
 * Bearer sessions (R1). A token is 32 random bytes (256 bits, base64url, 43 characters) handed to
 * the client once; only its SHA-256 is stored: in PostgreSQL's `sessions` (the record, with expiry
 * and revocation) and as a Redis cache entry living exactly as long as the session, so checking a
 * token at opening-time rates is one Redis GET. PostgreSQL is asked only when the cache misses
 * (Redis lost the entry), and the answer is cached again.
 * Logout revokes the row and turns the cache entry into a revocation marker for the rest of the
 * lifetime; a re-cache after a miss uses SET NX, so it can never overwrite that marker (a logout
 * racing a cache refill cannot resurrect the session). Time comes from `now` so tests can drive it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULTS } from '../../config/defaults.ts';
import { execute, query, type Pool } from '../../db/pool.ts';
import { AuthKeys } from './keys.ts';
import { AUTH_SCRIPTS } from './scripts.ts';

export const TOKEN_BYTES = 32;
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;
const REVOKED = 'revoked';

export interface Session {
  readonly token: string;
  readonly accountId: string;
  /** ISO-8601, UTC. */
  readonly expiresAt: string;
}

export interface SessionsOptions {
  readonly db: Pool;
  readonly redis: Redis | Cluster;
  readonly keys?: AuthKeys;
  /** Session lifetime (default SESSION_TTL_MS's, config/defaults.ts). */
  readonly lifetimeMs?: number;
  readonly now?: () => number;
}

function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** A counter of the session, counted by `authorize` in the session check's round trip. */
export interface SessionCounter {
  readonly key: string;
  readonly windowMs: number;
}

export interface Authorization {
  readonly accountId: string | null;
  /** The counts of the counters asked for, in order (empty when the token is malformed). */
  readonly counts: readonly number[];
}

export class Sessions {
  private readonly db: Pool;
  private readonly redis: Redis | Cluster;
  private readonly keys: AuthKeys;
  private readonly now: () => number;
  readonly lifetimeMs: number;

  constructor(options: SessionsOptions) {
    this.db = options.db;
    this.redis = options.redis;
    this.keys = options.keys ?? new AuthKeys();
    this.now = options.now ?? Date.now;
    this.lifetimeMs = options.lifetimeMs ?? DEFAULTS.sessionTtlMs;
    AUTH_SCRIPTS.define(this.redis);
    if (!Number.isInteger(this.lifetimeMs) || this.lifetimeMs < 1_000) {
      throw new Error('session lifetime must be a whole number of milliseconds, at least 1000');
    }
  }

  async create(accountId: string): Promise<Session> {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const hash = tokenHash(token);
    const createdAt = this.now();
    const expiresAt = createdAt + this.lifetimeMs;
    await execute(
      this.db,
      'INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)',
      [hash, accountId, new Date(createdAt), new Date(expiresAt)],
    );
    await this.redis.set(
      this.keys.session(hash.toString('hex')),
      `${accountId}:${expiresAt}`,
      'PX',
      this.lifetimeMs,
    );
    return { token, accountId, expiresAt: new Date(expiresAt).toISOString() };
  }

  /**
   * Sessions for many accounts at once (one INSERT, one Redis pipeline): for seeding load tests
   * with candidates who logged in before the opening. Same tokens, lifetimes and cache as create().
   */
  async createMany(accountIds: readonly string[]): Promise<Session[]> {
    if (accountIds.length === 0) return [];
    const createdAt = this.now();
    const expiresAt = createdAt + this.lifetimeMs;
    const tokens = accountIds.map(() => randomBytes(TOKEN_BYTES).toString('base64url'));
    const hashes = tokens.map((token) => tokenHash(token));
    await execute(
      this.db,
      `INSERT INTO sessions (token_hash, account_id, created_at, expires_at)
       SELECT h, a, $3, $4 FROM unnest($1::bytea[], $2::bigint[]) AS t(h, a)`,
      [hashes, accountIds, new Date(createdAt), new Date(expiresAt)],
    );
    const pipeline = this.redis.pipeline();
    hashes.forEach((hash, i) => {
      pipeline.set(
        this.keys.session(hash.toString('hex')),
        `${accountIds[i]}:${expiresAt}`,
        'PX',
        this.lifetimeMs,
      );
    });
    await pipeline.exec();
    const expires = new Date(expiresAt).toISOString();
    return tokens.map((token, i) => ({ token, accountId: accountIds[i]!, expiresAt: expires }));
  }

  /** The account of a live session, or null (malformed, unknown, expired or revoked token). */
  async authenticate(token: unknown): Promise<string | null> {
    return (await this.authorize(token, () => [])).accountId;
  }

  /**
   * `authenticate`, and in the same round trip (one script call) hits the session's own
   * rate-limit counters: `counters` gets the token hash (hex) to name them, and must name them
   * with it as hash tag (`…{<hex>}…`, RateLimiter.counter) so they share the session's slot.
   */
  async authorize(
    token: unknown,
    counters: (tokenHashHex: string) => readonly SessionCounter[],
  ): Promise<Authorization> {
    if (typeof token !== 'string' || !TOKEN_FORMAT.test(token)) return { accountId: null, counts: [] };
    const hash = tokenHash(token);
    const hex = hash.toString('hex');
    const key = this.keys.session(hex);
    const wanted = counters(hex);
    if (wanted.length === 0)
      return { accountId: await this.accountOf(hash, key, await this.redis.get(key)), counts: [] };
    const [entry, ...counts] = (await AUTH_SCRIPTS.call(
      this.redis,
      'authorize',
      [key, ...wanted.map((counter) => counter.key)],
      wanted.map((counter) => counter.windowMs),
    )) as (string | number)[];
    return {
      accountId: await this.accountOf(hash, key, entry === '' ? null : String(entry)),
      counts: counts.map(Number),
    };
  }

  /** The account of a session from its cache entry, or from PostgreSQL when the entry is missing. */
  private async accountOf(hash: Buffer, key: string, cached: string | null): Promise<string | null> {
    const now = this.now();
    if (cached === REVOKED) return null;
    if (cached !== null) {
      const separator = cached.lastIndexOf(':');
      const expiresAt = Number(cached.slice(separator + 1));
      return expiresAt > now ? cached.slice(0, separator) : null;
    }
    const rows = await query<{ account_id: string; expires_ms: string }>(
      this.db,
      `SELECT account_id::text, (extract(epoch FROM expires_at) * 1000)::bigint::text AS expires_ms
         FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL`,
      [hash],
    );
    const row = rows[0];
    if (row === undefined) return null;
    const expiresAt = Number(row.expires_ms);
    const remainingMs = expiresAt - now;
    if (remainingMs <= 0) return null;
    await this.redis.set(key, `${row.account_id}:${expiresAt}`, 'PX', remainingMs, 'NX');
    return row.account_id;
  }

  /** Revokes the session (idempotent; unknown tokens are ignored). */
  async logout(token: unknown): Promise<void> {
    if (typeof token !== 'string' || !TOKEN_FORMAT.test(token)) return;
    const hash = tokenHash(token);
    const rows = await query<{ expires_ms: string }>(
      this.db,
      `UPDATE sessions SET revoked_at = coalesce(revoked_at, $2)
        WHERE token_hash = $1
        RETURNING (extract(epoch FROM expires_at) * 1000)::bigint::text AS expires_ms`,
      [hash, new Date(this.now())],
    );
    const row = rows[0];
    const key = this.keys.session(hash.toString('hex'));
    const remainingMs = row === undefined ? 0 : Number(row.expires_ms) - this.now();
    if (remainingMs > 0) {
      await this.redis.set(key, REVOKED, 'PX', remainingMs);
    } else {
      await this.redis.del(key);
    }
  }
}
