/**
 * Per-session, per-account and per-client rate limits (429 RATE_LIMITED with Retry-After): fixed windows
 * counted in Redis, so the limit holds across threads and gateways. A rule names what it counts
 * by; a hit is one script call (INCR, and the expiry set by the hit that created the counter).
 * Counters of a session carry the session's hash tag, so they are counted by the same script call
 * that checks the session (gateway/auth/sessions.ts `authorize`) — on Redis Cluster too.
 */
import { readFileSync } from 'node:fs';
import type { ClientContext, Cluster, Redis, Result } from 'ioredis';

export interface RateLimitRule {
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
  /** What is counted: the client address, the session (counted in the same round trip as the
   * session lookup), or the account (one more round trip, after the session lookup). */
  readonly by: 'ip' | 'session' | 'account';
}

export interface RateLimitVerdict {
  readonly allowed: boolean;
  readonly retryAfterSeconds: number;
}

/** A counter to hit: its key and its window. */
export interface RateCounter {
  readonly key: string;
  readonly windowMs: number;
}

const RATE_HIT_SCRIPT = readFileSync(new URL('./lua/rateHit-1.lua', import.meta.url), 'utf8');

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    gw_v1_rateHit(key: string, windowMs: number): Result<number, Context>;
  }
}

const defined = new WeakSet<object>();

export class RateLimiter {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly namespace: string,
  ) {
    if (!defined.has(redis)) {
      redis.defineCommand('gw_v1_rateHit', { lua: RATE_HIT_SCRIPT, numberOfKeys: 1 });
      defined.add(redis);
    }
  }

  /**
   * The counter of `rule` for `subject` in the window of `nowMs`. A subject in braces (a session's
   * token hash) is a hash tag: the counter lives in the same cluster slot as that session.
   */
  counter(rule: RateLimitRule, subject: string, nowMs = Date.now()): RateCounter {
    const window = Math.floor(nowMs / rule.windowMs);
    return { key: `${this.namespace}:rl:${rule.name}:${subject}:${window}`, windowMs: rule.windowMs };
  }

  /** The verdict on a counter that has reached `count` in the window of `nowMs`. */
  verdict(rule: RateLimitRule, count: number, nowMs = Date.now()): RateLimitVerdict {
    const window = Math.floor(nowMs / rule.windowMs);
    const retryAfterSeconds = Math.max(1, Math.ceil(((window + 1) * rule.windowMs - nowMs) / 1000));
    return { allowed: count <= rule.limit, retryAfterSeconds };
  }

  async hit(rule: RateLimitRule, subject: string, nowMs = Date.now()): Promise<RateLimitVerdict> {
    const { key, windowMs } = this.counter(rule, subject, nowMs);
    return this.verdict(rule, Number(await this.redis.gw_v1_rateHit(key, windowMs)), nowMs);
  }
}
