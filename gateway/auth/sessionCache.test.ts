/**
 * The session cache's rules, with a fake subscriber connection whose events the test fires: what
 * it remembers and for how long (never past the session's expiry), what a revocation message and
 * a local revocation forget, the race of a lookup that read Redis before a revocation, and a
 * reconnect of the subscriber (everything forgotten, nothing answered until subscribed again).
 * tests/auth/session-cache.test.ts drives the same over a real Redis connection.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { revocationMessage, SessionCache, type RevocationSubscriber } from './sessionCache.ts';

const CHANNEL = 'test:auth:session:revoked';

/** A subscriber connection the test drives: subscriptions resolve when the test says so. */
class FakeSubscriber extends EventEmitter implements RevocationSubscriber {
  readonly subscriptions: string[] = [];
  private pending: (() => void)[] = [];
  quitCalls = 0;

  subscribe(channel: string): Promise<unknown> {
    this.subscriptions.push(channel);
    return new Promise((resolve) => this.pending.push(() => resolve(1)));
  }

  /** Redis confirms every SUBSCRIBE sent so far. */
  confirm(): Promise<void> {
    for (const resolve of this.pending.splice(0)) resolve();
    // let the cache's continuation run
    return new Promise((resolve) => setImmediate(resolve));
  }

  deliver(names: readonly string[], channel = CHANNEL): void {
    this.emit('message', channel, revocationMessage(names));
  }

  quit(): Promise<unknown> {
    this.quitCalls++;
    return Promise.resolve('OK');
  }

  disconnect(): void {}
}

async function cacheWith(options: { ttlMs?: number; revokedMax?: number } = {}) {
  const subscriber = new FakeSubscriber();
  const clock = { now: 1_000_000 };
  const cache = new SessionCache({
    subscriber,
    channel: CHANNEL,
    ttlMs: options.ttlMs ?? 10_000,
    now: () => clock.now,
    ...(options.revokedMax === undefined ? {} : { revokedMax: options.revokedMax }),
  });
  await subscriber.confirm();
  await cache.ready();
  return { cache, subscriber, clock };
}

const live = (clock: { now: number }, lifetimeMs = 3_600_000) => ({
  accountId: '42',
  expiresAt: clock.now + lifetimeMs,
});

describe('SessionCache', () => {
  it('answers nothing before its subscription is confirmed, then what it was told was live', async () => {
    const subscriber = new FakeSubscriber();
    const clock = { now: 1_000_000 };
    const cache = new SessionCache({ subscriber, channel: CHANNEL, ttlMs: 10_000, now: () => clock.now });
    expect(subscriber.subscriptions).toEqual([CHANNEL]);
    // not yet hearing revocations: nothing is remembered
    cache.remember('s1', live(clock), cache.begin());
    expect(cache.get('s1')).toBeNull();
    await subscriber.confirm();
    await cache.ready();
    cache.remember('s1', live(clock), cache.begin());
    expect(cache.get('s1')).toBe('42');
    expect(cache.get('s2')).toBeNull();
  });

  it('answers an entry for at most ttlMs, and never past the session’s own expiry', async () => {
    const { cache, clock } = await cacheWith({ ttlMs: 10_000 });
    cache.remember('long', live(clock), cache.begin());
    cache.remember('short', live(clock, 3_000), cache.begin());
    clock.now += 2_999;
    expect([cache.get('long'), cache.get('short')]).toEqual(['42', '42']);
    clock.now += 1; // the short session's expiry
    expect([cache.get('long'), cache.get('short')]).toEqual(['42', null]);
    clock.now += 7_000; // ttlMs after it was remembered
    expect(cache.get('long')).toBeNull();
    // a session already expired is not remembered at all
    cache.remember('gone', { accountId: '42', expiresAt: clock.now }, cache.begin());
    expect(cache.get('gone')).toBeNull();
  });

  it('forgets the names of a revocation message on its channel, and only those', async () => {
    const { cache, subscriber, clock } = await cacheWith();
    for (const name of ['a', 'b', 'c']) cache.remember(name, live(clock), cache.begin());
    subscriber.deliver(['a', 'c']);
    subscriber.deliver(['b'], 'another:channel');
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([null, '42', null]);
  });

  it('never caches a name revoked while its lookup was in flight (the lookup read Redis before the logout)', async () => {
    const { cache, subscriber, clock } = await cacheWith();
    const startedAt = cache.begin();
    subscriber.deliver(['x']);
    cache.remember('x', live(clock), startedAt);
    expect(cache.get('x')).toBeNull();
    // a later lookup of that name is refused a place too, for a while
    cache.remember('x', live(clock), cache.begin());
    expect(cache.get('x')).toBeNull();
    // a local revocation (this thread's logout) works the same, before any message
    cache.remember('y', live(clock), cache.begin());
    cache.revoke(['y']);
    expect(cache.get('y')).toBeNull();
    cache.remember('y', live(clock), cache.begin());
    expect(cache.get('y')).toBeNull();
  });

  it('when revoked names overflow its memory, lookups in flight are not cached', async () => {
    const { cache, clock } = await cacheWith({ revokedMax: 2 });
    const startedAt = cache.begin();
    cache.revoke(['r1', 'r2', 'r3']); // r1 pushed out: it can no longer be refused by name
    cache.remember('r1', live(clock), startedAt);
    expect(cache.get('r1')).toBeNull();
  });

  it('forgets everything when its connection drops, and answers nothing until subscribed again', async () => {
    const { cache, subscriber, clock } = await cacheWith();
    cache.remember('a', live(clock), cache.begin());
    const inFlight = cache.begin();
    subscriber.emit('close');
    expect(cache.size).toBe(0);
    expect(cache.get('a')).toBeNull();
    cache.remember('b', live(clock), cache.begin());
    expect(cache.get('b')).toBeNull();
    // reconnected: it subscribes again and waits for the confirmation
    subscriber.emit('ready');
    expect(subscriber.subscriptions).toEqual([CHANNEL, CHANNEL]);
    cache.remember('b', live(clock), cache.begin());
    expect(cache.get('b')).toBeNull();
    await subscriber.confirm();
    // a lookup that started before the drop may have missed a message: not cached
    cache.remember('a', live(clock), inFlight);
    expect(cache.get('a')).toBeNull();
    cache.remember('b', live(clock), cache.begin());
    expect(cache.get('b')).toBe('42');
    // and revocations are heard again
    subscriber.deliver(['b']);
    expect(cache.get('b')).toBeNull();
  });

  it('a drop while a subscription is pending keeps it off until the next one is confirmed', async () => {
    const { cache, subscriber, clock } = await cacheWith();
    subscriber.emit('close');
    subscriber.emit('ready');
    subscriber.emit('close'); // dropped again before Redis confirmed
    await subscriber.confirm();
    cache.remember('a', live(clock), cache.begin());
    expect(cache.get('a')).toBeNull();
    subscriber.emit('ready');
    await subscriber.confirm();
    cache.remember('a', live(clock), cache.begin());
    expect(cache.get('a')).toBe('42');
  });

  it('forgets everything when a Cluster drops a node (its subscription may have moved), until subscribed again', async () => {
    const { cache, subscriber, clock } = await cacheWith();
    cache.remember('a', live(clock), cache.begin());
    subscriber.emit('-node');
    expect(cache.get('a')).toBeNull();
    expect(subscriber.subscriptions).toEqual([CHANNEL, CHANNEL]);
    cache.remember('a', live(clock), cache.begin());
    expect(cache.get('a')).toBeNull();
    await subscriber.confirm();
    cache.remember('a', live(clock), cache.begin());
    expect(cache.get('a')).toBe('42');
  });

  it('closes its subscriber and answers nothing after', async () => {
    const { cache, subscriber, clock } = await cacheWith();
    cache.remember('a', live(clock), cache.begin());
    await cache.close();
    expect(subscriber.quitCalls).toBe(1);
    expect(cache.get('a')).toBeNull();
    subscriber.emit('close');
    subscriber.emit('ready');
    expect(subscriber.subscriptions).toEqual([CHANNEL]);
  });
});
