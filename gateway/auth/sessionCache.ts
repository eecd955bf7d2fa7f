/**
 * One gateway thread's memory of live sessions (issue 13, P2: with the session remembered here, a
 * reservation's access step makes no Redis call and the reservation costs one script call, the
 * engine's). It maps a session's cache entry name (gateway/auth/sessions.ts; it names the token's
 * SHA-256, never the token) to its account, for at most `ttlMs` (SESSION_CACHE_MS) and never past
 * the session's own expiry, in a bounded LRU.
 *
 * Revocation: a logout or a quota revocation sets its Redis marker, then publishes the entry names
 * on one channel (engine/keys.ts `AuthKeys.sessionRevocations`); every thread's cache listens on a
 * connection of its own and forgets them. The revoking thread forgets its own entry at once
 * (`revoke`), the others within pub/sub delivery. Two races are closed:
 *  - a lookup that read Redis before the revocation but answers after its message: revoked names
 *    are remembered for `revokedMs` (longer than any lookup takes) and never cached again;
 *  - a message lost while the subscriber was disconnected: the whole cache is forgotten when the
 *    connection closes, nothing is cached or answered from memory until it is subscribed again, and
 *    a lookup that started before that is not cached (a generation number).
 * What remains: on Redis Cluster, ioredis moves its subscription to another node by itself without
 * an event this module sees, so a message published meanwhile may be lost; the entry then lives
 * until `ttlMs` at worst. This module never decides that a session is live: it only remembers what
 * Sessions found live, and must never answer for a name it was told was revoked.
 */
import { LRUCache } from 'lru-cache';

/** A session found live, as the cache remembers it. */
export interface LiveSession {
  readonly accountId: string;
  /** ms since the epoch. */
  readonly expiresAt: number;
}

/** What the cache needs of its subscriber connection (an ioredis client or cluster, or a fake). */
export interface RevocationSubscriber {
  subscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  /** `-node`: a Redis Cluster dropped a node from its pool (an ioredis `Cluster` only). */
  on(event: 'ready' | 'close' | '-node', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

export interface SessionCacheOptions {
  /** A connection of the cache's own, which it subscribes and closes. */
  readonly subscriber: RevocationSubscriber;
  /** AuthKeys.sessionRevocations. */
  readonly channel: string;
  /** How long an entry may be answered from memory (SESSION_CACHE_MS, > 0). */
  readonly ttlMs: number;
  /** Entries kept (the least recently used go first). */
  readonly max?: number;
  /** How long a revoked name is refused a place (longer than any lookup can take). */
  readonly revokedMs?: number;
  /** Revoked names remembered; past it, lookups in flight are not cached (see `begin`). */
  readonly revokedMax?: number;
  readonly now?: () => number;
  /** The subscriber's connection errors (it reconnects by itself). */
  readonly onError?: (error: Error) => void;
}

interface Entry {
  readonly accountId: string;
  /** The earlier of the session's expiry and the time it was remembered plus ttlMs. */
  readonly usableUntil: number;
}

/** The names of a revocation message, a line each (a name holds no line break). */
export function revocationMessage(names: readonly string[]): string {
  return names.join('\n');
}

export class SessionCache {
  private readonly entries: LRUCache<string, Entry>;
  private readonly revoked: LRUCache<string, true>;
  private readonly subscriber: RevocationSubscriber;
  private readonly channel: string;
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** Whether revocations are being received: only then is anything remembered or answered. */
  private subscribed = false;
  /** Whether the connection closed since the last subscription (the next `ready` subscribes again). */
  private dropped = false;
  private closed = false;
  /** Bumped whenever lookups in flight may have missed a revocation: they are not cached. */
  private generation = 0;
  private readonly firstSubscription: Promise<void>;

  /** Counters for tests and metrics. */
  readonly stats = { hits: 0, misses: 0, revoked: 0, cleared: 0 };

  constructor(options: SessionCacheOptions) {
    if (!Number.isInteger(options.ttlMs) || options.ttlMs < 1) {
      throw new Error('a session cache keeps entries a whole number of milliseconds, at least 1');
    }
    this.subscriber = options.subscriber;
    this.channel = options.channel;
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? Date.now;
    this.entries = new LRUCache({ max: options.max ?? 100_000 });
    this.revoked = new LRUCache({
      max: options.revokedMax ?? 100_000,
      ttl: options.revokedMs ?? 60_000,
      // a revoked name pushed out early can no longer stop a lookup in flight: stop them all
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.generation++;
      },
    });
    const onError = options.onError ?? (() => undefined);
    this.subscriber.on('error', onError);
    this.subscriber.on('message', (channel, message) => {
      if (channel === this.channel) this.revoke(message.split('\n'));
    });
    this.subscriber.on('close', () => {
      if (this.closed) return;
      this.dropped = true;
      this.forgetAll();
    });
    // ioredis subscribes again by itself after a reconnect; asking here too tells this cache when
    // the subscription is back (a second SUBSCRIBE to a channel is harmless)
    this.subscriber.on('ready', () => {
      if (this.closed || !this.dropped) return;
      this.dropped = false;
      this.subscribe().catch(onError);
    });
    // on a Cluster the subscription lives on one node, which ioredis replaces by itself when that
    // node goes (no 'close' here): a revocation published meanwhile is lost. A node leaving the
    // pool (a master killed, a failover) may have been it: forget, and answer nothing until the
    // subscription is confirmed again, as after a drop
    this.subscriber.on('-node', () => {
      if (this.closed || this.dropped) return;
      this.forgetAll();
      this.subscribe().catch(onError);
    });
    this.firstSubscription = this.subscribe();
    // a start that fails is the caller's to see (`ready`); the next reconnect tries again
    this.firstSubscription.catch(() => undefined);
  }

  /** Resolves once revocations are received (until then the cache answers nothing). */
  ready(): Promise<void> {
    return this.firstSubscription;
  }

  private async subscribe(): Promise<void> {
    await this.subscriber.subscribe(this.channel);
    if (this.closed || this.dropped) return;
    // what was remembered before may have missed a message, and so may lookups in flight
    this.forgetAll();
    this.subscribed = true;
  }

  private forgetAll(): void {
    this.subscribed = false;
    this.generation++;
    this.entries.clear();
    this.stats.cleared++;
  }

  /** The account of a remembered live session, or null (not remembered, stale, or not subscribed). */
  get(name: string): string | null {
    if (!this.subscribed) return null;
    const entry = this.entries.get(name);
    if (entry === undefined) {
      this.stats.misses++;
      return null;
    }
    if (this.now() >= entry.usableUntil) {
      this.entries.delete(name);
      this.stats.misses++;
      return null;
    }
    this.stats.hits++;
    return entry.accountId;
  }

  /** A lookup starts: what `remember` needs to tell whether a revocation may have passed it by. */
  begin(): number {
    return this.generation;
  }

  /**
   * Remembers a session found live by a lookup that `begin` started; not if revocations are not
   * being received, if a revocation may have passed the lookup by, or if the name was revoked.
   */
  remember(name: string, session: LiveSession, startedAt: number): void {
    if (!this.subscribed || startedAt !== this.generation || this.revoked.has(name)) return;
    const now = this.now();
    const usableUntil = Math.min(session.expiresAt, now + this.ttlMs);
    if (usableUntil <= now) return;
    this.entries.set(name, { accountId: session.accountId, usableUntil });
  }

  /** Forgets these entries now and refuses them a place for a while (a logout of this thread, a message). */
  revoke(names: readonly string[]): void {
    for (const name of names) {
      if (name === '') continue;
      this.revoked.set(name, true);
      this.entries.delete(name);
      this.stats.revoked++;
    }
  }

  /** Entries held (tests). */
  get size(): number {
    return this.entries.size;
  }

  /** Forgets everything and closes the subscriber connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscribed = false;
    this.entries.clear();
    try {
      await this.subscriber.quit();
    } catch {
      this.subscriber.disconnect();
    }
  }
}
