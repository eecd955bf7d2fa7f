/**
 * Sessions with a session cache (SESSION_CACHE_MS, gateway/auth/sessionCache.ts; issue 13, P2) on
 * real PostgreSQL and Redis. Two Sessions stand for two gateway threads, each with its cache and
 * its subscriber connection: a session found live is answered from memory (no Redis call), a logout
 * or a quota revocation is refused at once by the instance that made it and by the other within
 * pub/sub delivery, an expired session is refused even while remembered, a check that counts
 * counters still asks Redis, and a subscriber connection killed under the cache empties it.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { query } from '../../db/pool.ts';
import { revocationMessage, SessionCache } from '../../gateway/auth/sessionCache.ts';
import { Sessions } from '../../gateway/auth/sessions.ts';
import { RateLimiter } from '../../gateway/http/rateLimit.ts';
import { redisUrl } from '../support/env.ts';
import { waitFor } from '../support/wait.ts';
import { newAuthFixture, type AuthFixture } from './fixture.ts';

let f: AuthFixture;
const opened: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  f = await newAuthFixture();
});

afterAll(async () => {
  await Promise.all(opened.map((each) => each.close()));
  await f?.close();
});

async function newAccount(): Promise<string> {
  const [row] = await query<{ account_id: string }>(
    f.db,
    `INSERT INTO accounts (email, password_hash) VALUES ($1, '$argon2id$placeholder') RETURNING account_id::text`,
    [`cache-${randomBytes(4).toString('hex')}@example.edu.cn`],
  );
  return row!.account_id;
}

/** A "gateway thread": Sessions with a cache (10 minutes: only a revocation makes it forget). */
async function thread(
  options: { clock?: { now: number }; lifetimeMs?: number; maxLivePerAccount?: number } = {},
): Promise<Sessions & { cache: SessionCache }> {
  const clock = options.clock ?? f.clock;
  const sessions = new Sessions({
    db: f.db,
    redis: f.redis,
    keys: f.keys,
    now: () => clock.now,
    cacheMs: 600_000,
    ...(options.lifetimeMs === undefined ? {} : { lifetimeMs: options.lifetimeMs }),
    ...(options.maxLivePerAccount === undefined ? {} : { maxLivePerAccount: options.maxLivePerAccount }),
  });
  opened.push(sessions);
  await sessions.ready();
  if (sessions.cache === null) throw new Error('no session cache');
  return sessions as Sessions & { cache: SessionCache };
}

/** No Redis command is sent while `during` runs. */
async function withoutRedis<T>(during: () => Promise<T>): Promise<T> {
  const sent = vi.spyOn(f.redis, 'sendCommand');
  try {
    const answer = await during();
    expect(sent).not.toHaveBeenCalled();
    return answer;
  } finally {
    sent.mockRestore();
  }
}

describe('the session cache of each gateway thread (issue 13, P2)', () => {
  it('answers a live session from memory; a logout is refused at once where it was made, and within pub/sub delivery elsewhere', async () => {
    const accountId = await newAccount();
    const [here, there] = [await thread(), await thread()];
    const { token } = await here.create(accountId);
    const key = here.cacheKeyOf(token)!;
    expect(await here.authenticate(token)).toBe(accountId);
    expect(await there.authenticate(token)).toBe(accountId);
    // remembered: Redis is not asked, so a marker set behind the caches' backs is not seen
    const entry = await f.redis.get(key);
    await f.redis.set(key, 'revoked', 'KEEPTTL');
    await withoutRedis(async () => {
      expect(await here.authenticate(token)).toBe(accountId);
      expect(await there.authenticate(token)).toBe(accountId);
    });
    await f.redis.set(key, entry!, 'KEEPTTL');

    // the revoking thread has forgotten it before it publishes; the other one still remembers it
    // until the message comes, which is sent only once the Redis marker is set
    const published = vi.spyOn(f.redis, 'publish');
    let beforePublishing: unknown[] = [];
    published.mockImplementationOnce(async (channel: string | Buffer, message: string | Buffer) => {
      beforePublishing = [await f.redis.get(key), here.cache.get(key), there.cache.get(key)];
      published.mockRestore();
      return f.redis.publish(channel, message);
    });
    await here.logout(token);
    expect(beforePublishing).toEqual(['revoked', null, accountId]);
    expect(await here.authenticate(token)).toBeNull();
    await waitFor(async () => (await there.authenticate(token)) === null, {
      timeoutMs: 2_000,
      message: 'the other thread to refuse the logged-out session',
    });
    // and a refill racing the logout cannot bring it back into either memory
    expect([here.cache.get(key), there.cache.get(key)]).toEqual([null, null]);
  });

  it('a session revoked by the quota is forgotten by every thread', async () => {
    const accountId = await newAccount();
    const clock = { now: f.clock.now };
    const options = { clock, maxLivePerAccount: 2 };
    const [here, there] = [await thread(options), await thread(options)];
    const made: string[] = [];
    for (let i = 0; i < 2; i++) {
      clock.now += 1_000;
      made.push((await here.create(accountId)).token);
    }
    for (const sessions of [here, there]) {
      for (const token of made) expect(await sessions.authenticate(token)).toBe(accountId);
    }
    clock.now += 1_000;
    const third = (await here.create(accountId)).token;
    const oldest = here.cacheKeyOf(made[0])!;
    expect(here.cache.get(oldest)).toBeNull();
    expect(await here.authenticate(made[0])).toBeNull();
    await waitFor(async () => (await there.authenticate(made[0])) === null, {
      timeoutMs: 2_000,
      message: 'the other thread to refuse the session revoked by the quota',
    });
    for (const token of [made[1]!, third]) {
      expect(await here.authenticate(token)).toBe(accountId);
      expect(await there.authenticate(token)).toBe(accountId);
    }
  });

  it('refuses an expired session even while it is remembered', async () => {
    const accountId = await newAccount();
    const clock = { now: f.clock.now };
    const sessions = await thread({ clock, lifetimeMs: 60_000 });
    const { token } = await sessions.create(accountId);
    clock.now += 59_000;
    expect(await sessions.authenticate(token)).toBe(accountId);
    const hits = sessions.cache.stats.hits;
    expect(await withoutRedis(() => sessions.authenticate(token))).toBe(accountId);
    expect(sessions.cache.stats.hits).toBe(hits + 1);
    clock.now += 1_000; // the session's expiry, 9 minutes before the cache's own limit
    expect(await sessions.authenticate(token)).toBeNull();
    expect(sessions.cache.size).toBe(0);
  });

  it('a check that counts the account’s counters still asks Redis, and counts, with the session remembered', async () => {
    const accountId = await newAccount();
    const sessions = await thread();
    const limiter = new RateLimiter(f.redis, f.keys.namespace);
    const rule = { name: 'writes', limit: 5, windowMs: 60_000, by: 'account' } as const;
    const { token } = await sessions.create(accountId);
    expect(await sessions.authenticate(token)).toBe(accountId);
    const counters = (tag: string) => [limiter.counter(rule, tag)];
    expect(await sessions.authorize(token, counters)).toEqual({ accountId, counts: [1] });
    expect(await sessions.authorize(token, counters)).toEqual({ accountId, counts: [2] });
    // and the script, not memory, decides: a revoked entry counts nothing
    await f.redis.set(sessions.cacheKeyOf(token)!, 'revoked', 'KEEPTTL');
    expect(await sessions.authorize(token, counters)).toEqual({ accountId: null, counts: [] });
  });
});

describe('the session cache over a real subscriber connection', () => {
  it('forgets everything when its connection is killed, and after the reconnect remembers and hears revocations again', async () => {
    const channel = `${f.keys.namespace}:test:revoked:${randomBytes(4).toString('hex')}`;
    const connectionName = `session-cache-${randomBytes(4).toString('hex')}`;
    const subscriber = new Redis(redisUrl(), { connectionName, maxRetriesPerRequest: null });
    subscriber.on('error', () => undefined);
    const cache = new SessionCache({ subscriber, channel, ttlMs: 600_000 });
    opened.push(cache);
    await cache.ready();
    const live = { accountId: '42', expiresAt: Date.now() + 3_600_000 };
    const rememberNow = (name: string) => cache.remember(name, live, cache.begin());

    rememberNow('k1');
    expect(cache.get('k1')).toBe('42');
    await f.redis.publish(channel, revocationMessage(['k1']));
    await waitFor(() => cache.get('k1') === null, { message: 'the published revocation' });

    rememberNow('k2');
    expect(cache.get('k2')).toBe('42');
    const clearedBefore = cache.stats.cleared;
    const clients = String(await f.redis.client('LIST'));
    const id = /^id=(\d+) .*\bname=(\S+)/gm;
    const killed = [...clients.matchAll(id)].find((match) => match[2] === connectionName)?.[1];
    expect(killed).toBeDefined();
    await f.redis.client('KILL', 'ID', killed!);
    await waitFor(() => cache.stats.cleared > clearedBefore, { message: 'the cache emptied by the drop' });
    expect(cache.get('k2')).toBeNull();

    // reconnected and subscribed again: it remembers, and a revocation still reaches it
    await waitFor(
      () => {
        rememberNow('k3');
        return cache.get('k3') === '42';
      },
      { message: 'the cache to work again after the reconnect' },
    );
    await f.redis.publish(channel, revocationMessage(['k3']));
    await waitFor(() => cache.get('k3') === null, { message: 'a revocation after the reconnect' });
  });
});
