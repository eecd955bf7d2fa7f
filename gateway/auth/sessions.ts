/**
 * Bearer sessions (R1). A token is `<accountId>.<secret>`, the secret 32 random bytes (256 bits,
 * base64url, 43 characters), handed to the client once (clients treat it as opaque); only its
 * SHA-256 is stored: in PostgreSQL's `sessions` (the record, with expiry and revocation) and as a
 * Redis cache entry living exactly as long as the session, so checking a token at opening-time
 * rates is one Redis call. The account id in the token lets the gateway name the session's cache
 * entry under its account's hash tag before it asks Redis, so that `authorize` checks the session
 * and counts the account's rate limits in that one call (on Redis Cluster too). It proves nothing
 * by itself: a session counts only when the entry stored for the whole token's hash names that
 * account. PostgreSQL is asked only when the cache misses (Redis lost the entry), and the answer is
 * cached again. Tokens issued before the account prefix (43 characters alone) are honoured until
 * they expire; their counters take one more round trip (the caller's, `counts` left empty).
 * Logout revokes the row and turns the cache entry into a revocation marker for the rest of the
 * lifetime; a re-cache after a miss uses SET NX, so it can never overwrite that marker (a logout
 * racing a cache refill cannot resurrect the session). Time comes from `now` so tests can drive it.
 *
 * An account keeps at most `maxLivePerAccount` live sessions (DEFAULTS.maxLiveSessionsPerAccount;
 * issue 16 item 2): each account's live sessions are listed by creation time in a sorted set under
 * its hash tag, and a new session revokes the oldest beyond the quota, never itself nor one created
 * at the same moment (concurrent logins of the owner do not lock each other out). A session revoked
 * so is revoked in PostgreSQL first, then its cache entry becomes a revocation marker for a minute
 * only, long enough to outlast a racing refill: then PostgreSQL answers for it (revoked, not cached),
 * so the quota bounds what an account keeps in Redis, not only what it may use.
 *
 * A gateway thread also remembers the sessions it found live for a few seconds (`cacheMs`,
 * SESSION_CACHE_MS; gateway/auth/sessionCache.ts; issue 13, P2): then a check that counts nothing
 * (a reservation's: its limit is counted by the engine's script) costs no Redis call. Never past
 * the session's own expiry. Logout and the quota revocation publish the revoked entries' names,
 * after their Redis markers are set, on one channel (AuthKeys.sessionRevocations) that every
 * thread's cache listens to. So a revocation is effective at once on the thread that made it (it
 * forgets its own entry before anything else), on the other threads and gateways within pub/sub
 * delivery (tests/gateway/session-cache.test.ts allows 3 s; not timed closer), and at worst after SESSION_CACHE_MS when a message was lost: a cache
 * forgets everything when its subscriber connection drops, and answers nothing from memory until
 * it is subscribed again; only a subscription that ioredis moves between cluster nodes by itself
 * goes unnoticed. A check that counts counters (the `authorize` script) always asks Redis.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULTS } from '../../config/defaults.ts';
import { execute, query, type Pool } from '../../db/pool.ts';
import { accountHashTag } from '../../engine/keys.ts';
import { execKeyed, type KeyedCommand } from '../../engine/redisClient.ts';
import { AuthKeys } from './keys.ts';
import { AUTH_SCRIPTS } from './scripts.ts';
import { revocationMessage, SessionCache, type LiveSession } from './sessionCache.ts';

export const TOKEN_BYTES = 32;
/** `<accountId>.<secret>`. */
const TOKEN_FORMAT = /^([1-9][0-9]{0,18})\.[A-Za-z0-9_-]{43}$/;
/** A token issued before tokens named their account: the secret alone. */
const LEGACY_TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;
const ACCOUNT_ID = /^[1-9][0-9]{0,18}$/;
const REVOKED = 'revoked';
/** How long the cache remembers that PostgreSQL knows no live session for a token. */
const UNKNOWN_TOKEN_MS = 60_000;
/** How long the cache remembers a session revoked by the quota (a refill in flight takes milliseconds). */
const QUOTA_REVOKED_MARKER_MS = 60_000;

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
  /** Live sessions an account may hold; a new one revokes the oldest beyond (default DEFAULTS.maxLiveSessionsPerAccount). */
  readonly maxLivePerAccount?: number;
  /**
   * How long this instance may answer a live session from memory (SESSION_CACHE_MS); 0 or absent:
   * never. A cache listens for revocations on a connection of its own (`redis.duplicate()`):
   * `close()` ends it. Revocations are published either way, for the other instances' caches.
   */
  readonly cacheMs?: number;
  /** Where the cache's subscriber connection reports its errors (it reconnects by itself). */
  readonly onCacheError?: (error: Error) => void;
  readonly now?: () => number;
}

/** A well-formed token: its hash, the account it names (null for a legacy token), its cache entry. */
interface TokenRef {
  readonly hash: Buffer;
  readonly accountId: string | null;
  readonly key: string;
}

/** A counter of the session's account, counted by `authorize` in the session check's call. */
export interface SessionCounter {
  readonly key: string;
  readonly windowMs: number;
}

export interface Authorization {
  readonly accountId: string | null;
  /**
   * The counts of the counters asked for, in order; empty when nothing was counted: no live
   * session, or a legacy token (its cache entry is not under its account's hash tag).
   */
  readonly counts: readonly number[];
}

const NO_SESSION: Authorization = { accountId: null, counts: [] };

export class Sessions {
  private readonly db: Pool;
  private readonly redis: Redis | Cluster;
  private readonly keys: AuthKeys;
  private readonly now: () => number;
  readonly lifetimeMs: number;
  readonly maxLivePerAccount: number;
  /** This instance's memory of live sessions; null when SESSION_CACHE_MS is 0. */
  readonly cache: SessionCache | null;

  constructor(options: SessionsOptions) {
    this.db = options.db;
    this.redis = options.redis;
    this.keys = options.keys ?? new AuthKeys();
    this.now = options.now ?? Date.now;
    this.lifetimeMs = options.lifetimeMs ?? DEFAULTS.sessionTtlMs;
    this.maxLivePerAccount = options.maxLivePerAccount ?? DEFAULTS.maxLiveSessionsPerAccount;
    AUTH_SCRIPTS.define(this.redis);
    if (!Number.isInteger(this.lifetimeMs) || this.lifetimeMs < 1_000) {
      throw new Error('session lifetime must be a whole number of milliseconds, at least 1000');
    }
    if (!Number.isInteger(this.maxLivePerAccount) || this.maxLivePerAccount < 1) {
      throw new Error('the live sessions per account must be a whole number, at least 1');
    }
    const cacheMs = options.cacheMs ?? 0;
    if (!Number.isInteger(cacheMs) || cacheMs < 0) {
      throw new Error('the session cache time must be a whole number of milliseconds, 0 to disable it');
    }
    this.cache =
      cacheMs === 0
        ? null
        : new SessionCache({
            subscriber: this.redis.duplicate(),
            channel: this.keys.sessionRevocations,
            ttlMs: cacheMs,
            now: this.now,
            ...(options.onCacheError === undefined ? {} : { onError: options.onCacheError }),
          });
  }

  /** Resolves once the cache receives revocations (at once without a cache). */
  async ready(): Promise<void> {
    await this.cache?.ready();
  }

  /** Closes the cache's subscriber connection (the Redis client itself is the caller's). */
  async close(): Promise<void> {
    await this.cache?.close();
  }

  /**
   * Tells every thread's cache (this one's own included, again) that these entries are revoked.
   * Called after their Redis markers are set, so that a cache that then misses them asks Redis and
   * finds the marker; the revoking thread has already forgotten its own (`SessionCache.revoke`).
   */
  private async publishRevoked(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    await this.redis.publish(this.keys.sessionRevocations, revocationMessage(names));
  }

  async create(accountId: string): Promise<Session> {
    const [session] = await this.createMany([accountId]);
    return session!;
  }

  /**
   * Sessions for many accounts at once (one INSERT, one Redis pipeline): for seeding load tests
   * with candidates who logged in before the opening.
   */
  async createMany(
    accountIds: readonly string[],
    /**
     * The token's secret part (TOKEN_BYTES) per account; random unless given. A load test derives
     * it from a run key so that its shard processes can rebuild the tokens instead of storing them.
     */
    secretOf: (accountId: string) => Buffer = () => randomBytes(TOKEN_BYTES),
  ): Promise<Session[]> {
    if (accountIds.length === 0) return [];
    for (const accountId of accountIds) {
      if (!ACCOUNT_ID.test(accountId)) throw new Error(`not an account id: ${accountId}`);
    }
    const createdAt = this.now();
    const expiresAt = createdAt + this.lifetimeMs;
    const tokens = accountIds.map((accountId) => {
      const secret = secretOf(accountId);
      if (secret.length !== TOKEN_BYTES) throw new Error(`a session secret is ${TOKEN_BYTES} bytes`);
      return `${accountId}.${secret.toString('base64url')}`;
    });
    const refs = tokens.map((token) => this.refOf(token)!);
    // PostgreSQL and Redis at once (one round trip fewer per login): a token is answered only once
    // both hold its session, so when either fails nobody has it; the quota's revocations wait for
    // both, so a login that fails revokes nothing
    const [stored, cached] = await Promise.allSettled([
      execute(
        this.db,
        `INSERT INTO sessions (token_hash, account_id, created_at, expires_at)
         SELECT h, a, $3, $4 FROM unnest($1::bytea[], $2::bigint[]) AS t(h, a)`,
        [refs.map((ref) => ref.hash), accountIds, new Date(createdAt), new Date(expiresAt)],
      ),
      this.cacheAndCount(accountIds, refs, createdAt, expiresAt),
    ]);
    if (stored.status === 'rejected' || cached.status === 'rejected') {
      await this.forgetUnanswered(accountIds, refs).catch(() => undefined);
      throw stored.status === 'rejected' ? stored.reason : (cached as PromiseRejectedResult).reason;
    }
    if (cached.value.length > 0) await this.revokeForQuota(cached.value);
    const expires = new Date(expiresAt).toISOString();
    return tokens.map((token, i) => ({ token, accountId: accountIds[i]!, expiresAt: expires }));
  }

  /** The sorted set of an account's live sessions (engine/keys.ts `liveSessions`). */
  private liveKey(accountId: string): string {
    return this.keys.liveSessions(accountId);
  }

  /**
   * Caches the new sessions (their Redis entries, one hash tag per account: one pipeline per shard
   * on a Redis Cluster, issue 14) and lists them with their accounts' live ones; answers, per
   * account, the oldest beyond the quota to revoke: only sessions created before `createdAt`,
   * never one of these.
   */
  private async cacheAndCount(
    accountIds: readonly string[],
    refs: readonly TokenRef[],
    createdAt: number,
    expiresAt: number,
  ): Promise<{ accountId: string; hex: string }[]> {
    const created = new Map<string, Set<string>>();
    refs.forEach((ref, i) => {
      const own = created.get(accountIds[i]!) ?? new Set<string>();
      own.add(ref.hash.toString('hex'));
      created.set(accountIds[i]!, own);
    });
    const answers = await execKeyed(this.redis, [
      ...refs.map((ref, i): KeyedCommand => ({
        key: ref.key,
        add: (p) => p.set(ref.key, `${accountIds[i]}:${expiresAt}`, 'PX', this.lifetimeMs),
      })),
      ...[...created].flatMap(([accountId, own]): KeyedCommand[] => {
        const key = this.liveKey(accountId);
        return [
          { key, add: (p) => p.zadd(key, ...[...own].flatMap((hex) => [createdAt, hex])) },
          { key, add: (p) => p.zremrangebyscore(key, '-inf', createdAt - this.lifetimeMs) },
          { key, add: (p) => p.pexpire(key, this.lifetimeMs) },
          { key, add: (p) => p.zrange(key, 0, -1, 'WITHSCORES') },
        ];
      }),
    ]);
    const failed = answers.find(([error]) => error !== null)?.[0];
    if (failed) throw failed;
    const revoked: { accountId: string; hex: string }[] = [];
    [...created].forEach(([accountId, own], i) => {
      const flat = (answers[refs.length + 4 * i + 3]?.[1] ?? []) as string[];
      let excess = flat.length / 2 - this.maxLivePerAccount;
      // oldest first; a session as new as these is never revoked by them
      for (let j = 0; j < flat.length && excess > 0; j += 2) {
        if (Number(flat[j + 1]) >= createdAt) break;
        if (own.has(flat[j]!)) continue;
        revoked.push({ accountId, hex: flat[j]! });
        excess -= 1;
      }
    });
    return revoked;
  }

  /** The Redis side of sessions whose tokens were never answered (a failed creation). */
  private async forgetUnanswered(accountIds: readonly string[], refs: readonly TokenRef[]): Promise<void> {
    await execKeyed(
      this.redis,
      refs.flatMap((ref, i): KeyedCommand[] => {
        const live = this.liveKey(accountIds[i]!);
        return [
          { key: ref.key, add: (p) => p.del(ref.key) },
          { key: live, add: (p) => p.zrem(live, ref.hash.toString('hex')) },
        ];
      }),
    );
  }

  /** PostgreSQL first, then a short-lived marker: a refill racing this cannot revive the session. */
  private async revokeForQuota(sessions: readonly { accountId: string; hex: string }[]): Promise<void> {
    const names = sessions.map(({ accountId, hex }) => this.keys.session(accountId, hex));
    // this thread stops answering them from memory before anything else
    this.cache?.revoke(names);
    await execute(
      this.db,
      `UPDATE sessions SET revoked_at = coalesce(revoked_at, $2) WHERE token_hash = ANY($1::bytea[])`,
      [sessions.map((session) => Buffer.from(session.hex, 'hex')), new Date(this.now())],
    );
    await execKeyed(
      this.redis,
      sessions.flatMap(({ accountId, hex }, i): KeyedCommand[] => {
        const live = this.liveKey(accountId);
        return [
          { key: names[i]!, add: (p) => p.set(names[i]!, REVOKED, 'PX', QUOTA_REVOKED_MARKER_MS) },
          { key: live, add: (p) => p.zrem(live, hex) },
        ];
      }),
    );
    // the markers are set: a cache that misses the message finds them when it asks Redis
    await this.publishRevoked(names);
  }

  /** The Redis cache entry of a token's session (tests, tools); null for a malformed token. */
  cacheKeyOf(token: unknown): string | null {
    return this.refOf(token)?.key ?? null;
  }

  /** The account of a live session, or null (malformed, unknown, expired or revoked token). */
  async authenticate(token: unknown): Promise<string | null> {
    return (await this.authorize(token, () => [])).accountId;
  }

  /**
   * `authenticate`, and in the same round trip (one script call) hits rate-limit counters of the
   * session's account, only if the session is live: `counters` gets the account's hash tag
   * (`accountHashTag`) and must name the counters with it (RateLimiter.counter) so they share the
   * session's slot. A legacy token is checked alone and counts nothing (`counts` empty).
   */
  async authorize(
    token: unknown,
    counters: (accountTag: string) => readonly SessionCounter[],
    options: { readonly database?: boolean } = {},
  ): Promise<Authorization> {
    const ref = this.refOf(token);
    if (ref === null) return NO_SESSION;
    const database = options.database ?? true;
    const wanted = ref.accountId === null ? [] : counters(accountHashTag(ref.accountId));
    const cache = this.cache;
    if (wanted.length === 0) {
      // nothing to count: this thread's memory answers for a session found live moments ago
      const remembered = cache?.get(ref.key) ?? null;
      if (remembered !== null) return { accountId: remembered, counts: [] };
      const startedAt = cache?.begin() ?? 0;
      const live = await this.liveSessionOf(ref, await this.redis.get(ref.key), database);
      if (live === null) return NO_SESSION;
      cache?.remember(ref.key, live, startedAt);
      return { accountId: live.accountId, counts: [] };
    }
    const startedAt = cache?.begin() ?? 0;
    const first = await this.checkAndCount(ref, wanted);
    if (first.entry !== null) {
      const live = await this.liveSessionOf(ref, first.entry, database);
      if (live === null) return NO_SESSION;
      cache?.remember(ref.key, live, startedAt);
      return { accountId: live.accountId, counts: first.counts };
    }
    // the cache missed: PostgreSQL decides (and caches the session again), then the count
    const live = await this.liveSessionOf(ref, null, database);
    if (live === null) return NO_SESSION;
    cache?.remember(ref.key, live, startedAt);
    return { accountId: live.accountId, counts: (await this.checkAndCount(ref, wanted)).counts };
  }

  /** The session check and the counters in one script call: counts only for a live session. */
  private async checkAndCount(
    ref: TokenRef,
    wanted: readonly SessionCounter[],
  ): Promise<{ entry: string | null; counts: number[] }> {
    const [entry, ...counts] = (await AUTH_SCRIPTS.call(
      this.redis,
      'authorize',
      [ref.key, ...wanted.map((counter) => counter.key)],
      [ref.accountId!, this.now(), ...wanted.map((counter) => counter.windowMs)],
    )) as (string | number)[];
    return { entry: entry === '' || entry === undefined ? null : String(entry), counts: counts.map(Number) };
  }

  private refOf(token: unknown): TokenRef | null {
    if (typeof token !== 'string') return null;
    const named = TOKEN_FORMAT.exec(token);
    if (named === null && !LEGACY_TOKEN_FORMAT.test(token)) return null;
    const hash = createHash('sha256').update(token).digest();
    const hex = hash.toString('hex');
    const accountId = named === null ? null : named[1]!;
    return {
      hash,
      accountId,
      key: accountId === null ? this.keys.legacySession(hex) : this.keys.session(accountId, hex),
    };
  }

  /**
   * The account and expiry of a session from its cache entry, or from PostgreSQL when the entry is
   * missing; null when it is not a live session of the account the token names.
   */
  private async liveSessionOf(
    ref: TokenRef,
    cached: string | null,
    database = true,
  ): Promise<LiveSession | null> {
    const now = this.now();
    if (cached === REVOKED) return null;
    const named = (accountId: string): boolean => ref.accountId === null || ref.accountId === accountId;
    if (cached !== null) {
      const separator = cached.lastIndexOf(':');
      const accountId = cached.slice(0, separator);
      const expiresAt = Number(cached.slice(separator + 1));
      return expiresAt > now && named(accountId) ? { accountId, expiresAt } : null;
    }
    // an address that keeps sending unknown tokens is not given PostgreSQL queries (issue 16 item 11)
    if (!database) return null;
    const rows = await query<{ account_id: string; expires_ms: string }>(
      this.db,
      `SELECT account_id::text, (extract(epoch FROM expires_at) * 1000)::bigint::text AS expires_ms
         FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL`,
      [ref.hash],
    );
    const row = rows[0];
    if (row === undefined) {
      // an unknown (or revoked) token asked again costs no second query for a while (issue 16 item 11)
      await this.redis.set(ref.key, REVOKED, 'PX', UNKNOWN_TOKEN_MS, 'NX');
      return null;
    }
    if (!named(row.account_id)) return null;
    const expiresAt = Number(row.expires_ms);
    const remainingMs = expiresAt - now;
    if (remainingMs <= 0) return null;
    await this.redis.set(ref.key, `${row.account_id}:${expiresAt}`, 'PX', remainingMs, 'NX');
    return { accountId: row.account_id, expiresAt };
  }

  /**
   * Revokes the session (idempotent; unknown tokens are ignored): in PostgreSQL, then its Redis
   * entry becomes a marker, then every thread's session cache is told (this one's at once).
   */
  async logout(token: unknown): Promise<void> {
    const ref = this.refOf(token);
    if (ref === null) return;
    // this thread stops answering it from memory before anything else
    this.cache?.revoke([ref.key]);
    const rows = await query<{ expires_ms: string }>(
      this.db,
      `UPDATE sessions SET revoked_at = coalesce(revoked_at, $2)
        WHERE token_hash = $1
        RETURNING (extract(epoch FROM expires_at) * 1000)::bigint::text AS expires_ms`,
      [ref.hash, new Date(this.now())],
    );
    const row = rows[0];
    const remainingMs = row === undefined ? 0 : Number(row.expires_ms) - this.now();
    if (remainingMs > 0) {
      await this.redis.set(ref.key, REVOKED, 'PX', remainingMs);
    } else {
      await this.redis.del(ref.key);
    }
    // the marker is set: a cache that misses the message finds it when it asks Redis
    if (row !== undefined) await this.publishRevoked([ref.key]);
    // its place under the account's quota is free
    if (ref.accountId !== null) await this.redis.zrem(this.liveKey(ref.accountId), ref.hash.toString('hex'));
  }
}

/** How long after its expiry a session row is kept (an operator may still look it up); the index on expires_at (migration 002) finds them. */
const EXPIRED_ROWS_KEPT_MS = 24 * 3_600_000;

/**
 * Deletes session rows expired for more than a day, at most `batch` per statement (issue 16 item
 * 17: without it the table grows with every login for ever). Runs where the sweeper runs; several
 * may run at once (a row deleted twice is deleted once). Answers how many rows went.
 */
export async function pruneExpiredSessions(db: Pool, now: number, batch = 10_000): Promise<number> {
  let deleted = 0;
  for (;;) {
    const result = await db.query(
      `DELETE FROM sessions WHERE token_hash IN (
         SELECT token_hash FROM sessions WHERE expires_at < $1 LIMIT $2)`,
      [new Date(now - EXPIRED_ROWS_KEPT_MS), batch],
    );
    deleted += result.rowCount ?? 0;
    if ((result.rowCount ?? 0) < batch) return deleted;
  }
}
