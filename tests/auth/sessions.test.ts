/**
 * Bearer sessions (R1) on real PostgreSQL and Redis: token size and uniqueness, only the SHA-256
 * stored, validation from the Redis cache without PostgreSQL, expiry under a driven clock, logout,
 * the account's rate-limit counters counted in the session check's one script call, and tokens
 * issued before tokens named their account still honoured.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { DEFAULTS } from '../../config/defaults.ts';
import { query } from '../../db/pool.ts';
import { accountHashTag } from '../../engine/keys.ts';
import { pruneExpiredSessions, Sessions, TOKEN_BYTES } from '../../gateway/auth/sessions.ts';
import { RateLimiter } from '../../gateway/http/rateLimit.ts';
import { newAuthFixture, type AuthFixture } from './fixture.ts';

let f: AuthFixture;
let accountId: string;

beforeAll(async () => {
  f = await newAuthFixture();
  accountId = await newAccount('sessions@example.edu.cn');
});

afterAll(async () => {
  await f?.close();
});

/** An account row (its password is never checked here); its id. */
async function newAccount(email: string): Promise<string> {
  const [row] = await query<{ account_id: string }>(
    f.db,
    `INSERT INTO accounts (email, password_hash) VALUES ($1, '$argon2id$placeholder') RETURNING account_id::text`,
    [email],
  );
  if (row === undefined) throw new Error('no account');
  return row.account_id;
}

const sha256 = (token: string): Buffer => createHash('sha256').update(token).digest();
const secretOf = (token: string): string => token.slice(token.indexOf('.') + 1);
const cacheKey = (token: string): string => f.sessions.cacheKeyOf(token)!;

async function sessionRow(token: string) {
  const [row] = await query<{ account_id: string; revoked: boolean; lifetime_ms: string }>(
    f.db,
    `SELECT account_id::text, revoked_at IS NOT NULL AS revoked,
            (extract(epoch FROM expires_at - created_at) * 1000)::bigint::text AS lifetime_ms
       FROM sessions WHERE token_hash = $1`,
    [sha256(token)],
  );
  return row;
}

describe('R1: sessions', () => {
  it('issues tokens naming their account with a 256-bit base64url secret, all distinct, and stores only their SHA-256', async () => {
    const tokens = await Promise.all(Array.from({ length: 100 }, () => f.sessions.create(accountId)));
    const seen = new Set<string>();
    for (const { token } of tokens) {
      expect(token).toMatch(new RegExp(`^${accountId}\\.[A-Za-z0-9_-]{43}$`));
      expect(Buffer.from(secretOf(token), 'base64url').length).toBe(TOKEN_BYTES);
      expect(TOKEN_BYTES * 8).toBeGreaterThanOrEqual(128);
      seen.add(token);
    }
    expect(seen.size).toBe(tokens.length);
    // Every bit position varies across 100 tokens (a constant or counter-like token would not).
    const bytes = tokens.map(({ token }) => Buffer.from(secretOf(token), 'base64url'));
    for (let position = 0; position < TOKEN_BYTES; position++) {
      expect(new Set(bytes.map((b) => b[position])).size).toBeGreaterThan(1);
    }

    const sample = tokens[0];
    if (sample === undefined) throw new Error('no token');
    const row = await sessionRow(sample.token);
    expect(row).toMatchObject({
      account_id: accountId,
      revoked: false,
      lifetime_ms: String(f.sessions.lifetimeMs),
    });
    const [asText] = await query<{ n: string }>(
      f.db,
      `SELECT count(*)::text AS n FROM sessions WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'
          OR encode(token_hash, 'base64') = $1`,
      [sample.token],
    );
    expect(asText?.n).toBe('0');
    // Redis holds the hash as key, never the token.
    const cachedKeys = await f.redis.keys(f.keys.session(accountId, '*'));
    expect(cachedKeys.length).toBeGreaterThanOrEqual(tokens.length);
    expect(cachedKeys).toContain(f.keys.session(accountId, sha256(sample.token).toString('hex')));
    expect(cachedKeys.some((key) => key.includes(secretOf(sample.token)))).toBe(false);
  });

  it('authenticates from Redis alone, and falls back to PostgreSQL when the cache entry is gone', async () => {
    const { token, expiresAt } = await f.sessions.create(accountId);
    expect(Date.parse(expiresAt)).toBe(f.clock.now + f.sessions.lifetimeMs);
    const pgQueries = vi.spyOn(f.db, 'query');
    try {
      expect(await f.sessions.authenticate(token)).toBe(accountId);
      expect(pgQueries).not.toHaveBeenCalled();

      const key = cacheKey(token);
      const ttl = await f.redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(f.sessions.lifetimeMs);

      await f.redis.del(key);
      expect(await f.sessions.authenticate(token)).toBe(accountId);
      expect(pgQueries).toHaveBeenCalledTimes(1);
      // Cached again: the next check is Redis only.
      expect(await f.sessions.authenticate(token)).toBe(accountId);
      expect(pgQueries).toHaveBeenCalledTimes(1);
    } finally {
      pgQueries.mockRestore();
    }
  });

  it('issues many sessions at once, each like create(): stored hashed, cached, authenticated to its account', async () => {
    const others = await query<{ account_id: string }>(
      f.db,
      `INSERT INTO accounts (email, password_hash)
       SELECT 'bulk' || g || '@example.edu.cn', '$argon2id$placeholder' FROM generate_series(1, 50) g
       RETURNING account_id::text`,
    );
    const ids = others.map((row) => row.account_id);
    const made = await f.sessions.createMany(ids);
    expect(made.map((s) => s.accountId)).toEqual(ids);
    expect(new Set(made.map((s) => s.token)).size).toBe(50);
    for (const session of made) {
      expect(session.token).toMatch(new RegExp(`^${session.accountId}\\.[A-Za-z0-9_-]{43}$`));
      expect(Date.parse(session.expiresAt)).toBe(f.clock.now + f.sessions.lifetimeMs);
      expect(await sessionRow(session.token)).toMatchObject({
        account_id: session.accountId,
        revoked: false,
        lifetime_ms: String(f.sessions.lifetimeMs),
      });
      expect(await f.sessions.authenticate(session.token)).toBe(session.accountId);
    }
    // and from PostgreSQL alone once the cache entry is gone
    const last = made[made.length - 1]!;
    await f.redis.del(cacheKey(last.token));
    expect(await f.sessions.authenticate(last.token)).toBe(last.accountId);
    expect(await f.sessions.createMany([])).toEqual([]);
  });

  it('refuses malformed and unknown tokens, and a real secret under another account', async () => {
    for (const token of [
      '',
      'abc',
      'x'.repeat(44),
      `${'A'.repeat(42)}=`,
      `0.${'A'.repeat(43)}`,
      `1.${'A'.repeat(42)}`,
      undefined,
      42,
    ]) {
      expect(await f.sessions.authenticate(token)).toBeNull();
    }
    expect(await f.sessions.authenticate('A'.repeat(43))).toBeNull();
    expect(await f.sessions.authenticate(`${accountId}.${'A'.repeat(43)}`)).toBeNull();
    const { token } = await f.sessions.create(accountId);
    const otherAccount = String(BigInt(accountId) + 1n);
    const moved = `${otherAccount}.${secretOf(token)}`;
    expect(await f.sessions.authenticate(moved)).toBeNull();
    await f.redis.del(cacheKey(token));
    expect(await f.sessions.authenticate(moved)).toBeNull(); // nor from PostgreSQL
  });

  it('remembers an unknown token for a minute: asked again, it costs no PostgreSQL query (issue 16 item 11)', async () => {
    const unknown = `${accountId}.${randomBytes(TOKEN_BYTES).toString('base64url')}`;
    const queries = vi.spyOn(f.db, 'query');
    try {
      expect(await f.sessions.authenticate(unknown)).toBeNull();
      expect(queries).toHaveBeenCalledTimes(1);
      expect(await f.redis.get(cacheKey(unknown))).toBe('revoked');
      const ttl = await f.redis.pttl(cacheKey(unknown));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
      for (let i = 0; i < 5; i++) expect(await f.sessions.authenticate(unknown)).toBeNull();
      expect(queries).toHaveBeenCalledTimes(1);
    } finally {
      queries.mockRestore();
    }
  });

  it('prunes session rows a day after they expired, in batches; recent and live ones stay (issue 16 item 17)', async () => {
    const day = 24 * 3_600_000;
    const at = (ms: number) => new Date(Date.now() + ms);
    const rows = [
      ...Array.from({ length: 5 }, () => ({ expires: at(-2 * day), gone: true })),
      { expires: at(-day + 60_000), gone: false }, // expired, but less than a day ago
      { expires: at(day), gone: false }, // live
    ].map((row) => ({ ...row, hash: randomBytes(32) }));
    for (const row of rows) {
      await query(
        f.db,
        `INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
        [row.hash, accountId, new Date(row.expires.getTime() - 3_600_000), row.expires],
      );
    }
    expect(await pruneExpiredSessions(f.db, Date.now(), 2)).toBeGreaterThanOrEqual(5);
    for (const row of rows) {
      const left = await query(f.db, 'SELECT 1 FROM sessions WHERE token_hash = $1', [row.hash]);
      expect(left.length, row.expires.toISOString()).toBe(row.gone ? 0 : 1);
    }
  });

  it('expires sessions after their lifetime, from the cache and from PostgreSQL alike', async () => {
    const sessions = new Sessions({
      db: f.db,
      redis: f.redis,
      keys: f.keys,
      lifetimeMs: 60_000,
      now: () => f.clock.now,
    });
    const start = f.clock.now;
    try {
      const { token } = await sessions.create(accountId);
      f.clock.now = start + 59_000;
      expect(await sessions.authenticate(token)).toBe(accountId);
      f.clock.now = start + 60_000;
      expect(await sessions.authenticate(token)).toBeNull();
      await f.redis.del(sessions.cacheKeyOf(token)!);
      expect(await sessions.authenticate(token)).toBeNull();
    } finally {
      f.clock.now = start;
    }
  });

  it('logs out: revoked in PostgreSQL, refused at once, and a refill from PostgreSQL cannot revive it', async () => {
    const { token } = await f.sessions.create(accountId);
    const other = await f.sessions.create(accountId);
    expect(await f.sessions.authenticate(token)).toBe(accountId);
    await f.sessions.logout(token);
    expect((await sessionRow(token))?.revoked).toBe(true);
    expect(await f.sessions.authenticate(token)).toBeNull();
    // Without the cache, PostgreSQL says revoked too.
    await f.redis.del(cacheKey(token));
    expect(await f.sessions.authenticate(token)).toBeNull();
    // Idempotent, and other sessions of the account are untouched.
    await f.sessions.logout(token);
    await f.sessions.logout('B'.repeat(43));
    expect(await f.sessions.authenticate(other.token)).toBe(accountId);
  });

  it('keeps the revocation marker over a racing cache refill (SET NX)', async () => {
    const { token } = await f.sessions.create(accountId);
    const key = cacheKey(token);
    await f.redis.del(key);
    // A check that misses the cache reads PostgreSQL; the logout lands before its refill.
    type PromisedQuery = (text: string, values?: unknown[]) => Promise<unknown>;
    const realQuery = f.db.query.bind(f.db) as PromisedQuery;
    const spy = vi.spyOn(f.db, 'query') as unknown as MockInstance<PromisedQuery>;
    spy.mockImplementationOnce(async (text, values) => {
      const result = await realQuery(text, values);
      spy.mockRestore();
      await f.sessions.logout(token);
      return result;
    });
    // This one check started before the logout finished, so it may still pass…
    expect(await f.sessions.authenticate(token)).toBe(accountId);
    // …but it did not re-cache the session over the logout.
    expect(await f.redis.get(key)).toBe('revoked');
    expect(await f.sessions.authenticate(token)).toBeNull();
  });

  it("authorize: the session and its account's rate-limit counters in one script call, in one cluster slot", async () => {
    const limiter = new RateLimiter(f.redis, 'sessions-test');
    const rule = { name: 'reserve', limit: 3, windowMs: 60_000, by: 'account' } as const;
    const { token } = await f.sessions.create(accountId);
    const now = Date.now();
    const counters = (tag: string) => [limiter.counter(rule, tag, now)];
    const sent = vi.spyOn(f.redis, 'sendCommand');
    const first = await f.sessions.authorize(token, counters);
    expect(sent).toHaveBeenCalledTimes(1);
    sent.mockRestore();
    expect(first).toEqual({ accountId, counts: [1] });
    expect((await f.sessions.authorize(token, counters)).counts).toEqual([2]);
    // another session of the same account counts against the same allowance
    const second = await f.sessions.create(accountId);
    const third = await f.sessions.authorize(second.token, counters);
    expect(third.counts).toEqual([3]);
    expect(limiter.verdict(rule, third.counts[0]!, now).allowed).toBe(true);
    expect(limiter.verdict(rule, (await f.sessions.authorize(token, counters)).counts[0]!, now).allowed).toBe(
      false,
    );
    // the counter expires with its window, and shares the session keys' hash slot: the account's
    const { key } = limiter.counter(rule, accountHashTag(accountId), now);
    expect(await f.redis.get(key)).toBe('4');
    expect(await f.redis.pttl(key)).toBeGreaterThan(0);
    expect(await f.redis.pttl(key)).toBeLessThanOrEqual(60_000);
    const hashTag = (k: string) => /\{([^}]+)\}/.exec(k)?.[1];
    expect(hashTag(key)).toBe(`acct:${accountId}`);
    expect(hashTag(cacheKey(token))).toBe(`acct:${accountId}`);
    // a revoked, forged or malformed token: no account, and nothing counted
    await f.sessions.logout(token);
    expect(await f.sessions.authorize(token, counters)).toEqual({ accountId: null, counts: [] });
    expect(await f.sessions.authorize(`${accountId}.${'B'.repeat(43)}`, counters)).toEqual({
      accountId: null,
      counts: [],
    });
    expect(await f.sessions.authorize('not a token', counters)).toEqual({ accountId: null, counts: [] });
    expect(await f.redis.get(key)).toBe('4');
    // a cache miss still finds a live session in PostgreSQL, and still counts
    await f.redis.del(cacheKey(second.token));
    expect(await f.sessions.authorize(second.token, counters)).toEqual({ accountId, counts: [5] });
  });

  it('honours a token issued before tokens named their account, until it expires; its counters are left to the caller', async () => {
    // such a session as the previous release stored it: the secret alone, cached under its hash
    const legacy = randomBytes(TOKEN_BYTES).toString('base64url');
    const expiresAt = f.clock.now + f.sessions.lifetimeMs;
    await query(
      f.db,
      'INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)',
      [sha256(legacy), accountId, new Date(f.clock.now), new Date(expiresAt)],
    );
    const legacyKey = f.keys.legacySession(sha256(legacy).toString('hex'));
    await f.redis.set(legacyKey, `${accountId}:${expiresAt}`, 'PX', f.sessions.lifetimeMs);
    expect(f.sessions.cacheKeyOf(legacy)).toBe(legacyKey);
    const counted = vi.fn(() => []);
    expect(await f.sessions.authorize(legacy, counted)).toEqual({ accountId, counts: [] });
    expect(counted).not.toHaveBeenCalled();
    // from PostgreSQL when the cache is gone, then revoked by logout
    await f.redis.del(legacyKey);
    expect(await f.sessions.authenticate(legacy)).toBe(accountId);
    await f.sessions.logout(legacy);
    expect(await f.sessions.authenticate(legacy)).toBeNull();
  });
});

describe('a quota of live sessions per account (issue 16 item 2)', () => {
  it('a new session revokes the oldest beyond the quota, never itself nor one as new; Redis keeps their markers briefly', async () => {
    const owner = await newAccount('quota@example.edu.cn');
    const clock = { now: f.clock.now };
    const sessions = new Sessions({
      db: f.db,
      redis: f.redis,
      keys: f.keys,
      now: () => clock.now,
      maxLivePerAccount: 3,
    });
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock.now += 1_000;
      made.push((await sessions.create(owner)).token);
    }
    const live = async (tokens: readonly string[]) =>
      (await Promise.all(tokens.map((token) => sessions.authenticate(token)))).filter((id) => id === owner)
        .length;
    // the two oldest are revoked: in PostgreSQL, and in Redis by a marker that outlives any racing
    // refill but not the session's lifetime (a quota that left a key per login would bound nothing)
    for (const token of made.slice(0, 2)) {
      expect(await sessions.authenticate(token)).toBeNull();
      expect((await sessionRow(token))?.revoked).toBe(true);
      await f.redis.del(cacheKey(token));
      expect(await sessions.authenticate(token)).toBeNull();
    }
    expect(await live(made.slice(2))).toBe(3);
    clock.now += 1_000;
    const sixth = (await sessions.create(owner)).token;
    const oldestLive = made[2]!;
    expect(await f.redis.get(cacheKey(oldestLive))).toBe('revoked');
    const markerTtl = await f.redis.pttl(cacheKey(oldestLive));
    expect(markerTtl).toBeGreaterThan(0);
    expect(markerTtl).toBeLessThanOrEqual(60_000);
    expect(await live([...made.slice(3), sixth])).toBe(3);

    // logins at the same moment never revoke each other (the owner is not locked out by a race)
    clock.now += 1_000;
    const burst = await Promise.all(Array.from({ length: 5 }, () => sessions.create(owner)));
    expect(await live(burst.map((s) => s.token))).toBe(5);
    expect(await live([...made, sixth])).toBe(0);
    // the next one trims back to the quota
    clock.now += 1_000;
    const next = (await sessions.create(owner)).token;
    expect(await live([...made, sixth, ...burst.map((s) => s.token), next])).toBe(3);
    expect(await sessions.authenticate(next)).toBe(owner);

    // a logout frees its place: the next login revokes nothing
    await sessions.logout(next);
    clock.now += 1_000;
    const after = (await sessions.create(owner)).token;
    expect(await live([...burst.map((s) => s.token), after])).toBe(3);
    expect(DEFAULTS.maxLiveSessionsPerAccount).toBe(20);
  });

  it('a login whose PostgreSQL write fails answers no token, keeps nothing in Redis and revokes nothing', async () => {
    const owner = await newAccount('failed-login@example.edu.cn');
    const clock = { now: f.clock.now };
    const options = { redis: f.redis, keys: f.keys, now: () => clock.now, maxLivePerAccount: 2 };
    const sessions = new Sessions({ db: f.db, ...options });
    const kept = [(await sessions.create(owner)).token];
    clock.now += 1_000;
    kept.push((await sessions.create(owner)).token);
    // PostgreSQL refuses the next session's row (Redis is written at the same time: one round trip)
    const refusing = Object.create(f.db) as typeof f.db;
    refusing.query = (async (text: string, ...rest: unknown[]) => {
      if (text.includes('INSERT INTO sessions')) throw new Error('planted: PostgreSQL refused the row');
      return (f.db.query as (...args: unknown[]) => unknown)(text, ...rest);
    }) as typeof f.db.query;
    const failing = new Sessions({ db: refusing, ...options });
    const cachedBefore = await scanKeysOf(owner);
    clock.now += 1_000;
    await expect(failing.create(owner)).rejects.toThrow(/planted/);
    // the two sessions before it stay live (over the quota of 2, the third would have revoked one)
    for (const token of kept) expect(await sessions.authenticate(token)).toBe(owner);
    for (const token of kept) expect((await sessionRow(token))?.revoked).toBe(false);
    expect(await scanKeysOf(owner)).toEqual(cachedBefore);
    expect(await f.redis.zcard(f.keys.liveSessions(owner))).toBe(2);
  });
});

/** The cache entries of an account's sessions in Redis. */
async function scanKeysOf(owner: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await f.redis.scan(cursor, 'MATCH', `${f.keys.session(owner, '')}*`, 'COUNT', 1000);
    keys.push(...page);
    cursor = next;
  } while (cursor !== '0');
  return keys.sort();
}
