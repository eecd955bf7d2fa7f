/**
 * Per-account and per-client rate limits (429 RATE_LIMITED with Retry-After): fixed windows
 * counted in Redis, so the limit holds across threads and gateways. A rule names what it counts
 * by; a hit is one script call (INCR, and the expiry set by the hit that created the counter).
 * An account's counters carry the account's hash tag (engine/keys.ts `accountHashTag`), which its
 * sessions' cache entries share, so they are counted by the same script call that checks the
 * session (gateway/auth/sessions.ts `authorize`): on Redis Cluster too. A rule a route counts in
 * its engine script (`reserve`, gateway/http/access.ts `ScriptLimit`) has its counter under the
 * province's hash tag instead, in the same fixed windows (`windowOf`) and with the same verdict.
 */
import type { ClientContext, Cluster, Redis, Result } from 'ioredis';
import { GatewayKeys } from '../../engine/keys.ts';
import { ScriptSet } from '../../engine/luaScripts.ts';

export interface RateLimitRule {
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
  /**
   * What is counted: the client address, or the account (all its sessions together, counted in
   * the session check's round trip; without a session, the client address).
   */
  readonly by: 'ip' | 'account';
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

/** gateway/http/lua/<verbNoun>-<numKeys>.lua, loaded the engine's way (engine/luaScripts.ts). */
const HTTP_SCRIPTS = new ScriptSet({
  dir: new URL('./lua/', import.meta.url),
  prefix: 'gw',
  version: 1,
  names: ['rateHit'] as const,
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    gw_v1_rateHit(key: string, windowMs: number): Result<number, Context>;
  }
}

export class RateLimiter {
  private readonly keys: GatewayKeys;

  constructor(
    private readonly redis: Redis | Cluster,
    namespace: string,
  ) {
    this.keys = new GatewayKeys(namespace);
    HTTP_SCRIPTS.define(redis);
  }

  /**
   * The counter of `rule` for `subject` in the window of `nowMs`. A subject in braces (an account's
   * hash tag) is a hash tag: the counter lives in the same cluster slot as that account's sessions.
   */
  counter(rule: RateLimitRule, subject: string, nowMs = Date.now()): RateCounter {
    return {
      key: this.keys.rateCounter(rule.name, subject, this.windowOf(rule, nowMs)),
      windowMs: rule.windowMs,
    };
  }

  /** The number of `rule`'s fixed window that `nowMs` falls in (what a counter's name carries). */
  windowOf(rule: RateLimitRule, nowMs = Date.now()): number {
    return Math.floor(nowMs / rule.windowMs);
  }

  /** The verdict on a counter that has reached `count` in the window of `nowMs`. */
  verdict(rule: RateLimitRule, count: number, nowMs = Date.now()): RateLimitVerdict {
    const window = this.windowOf(rule, nowMs);
    const retryAfterSeconds = Math.max(1, Math.ceil(((window + 1) * rule.windowMs - nowMs) / 1000));
    return { allowed: count <= rule.limit, retryAfterSeconds };
  }

  async hit(rule: RateLimitRule, subject: string, nowMs = Date.now()): Promise<RateLimitVerdict> {
    const { key, windowMs } = this.counter(rule, subject, nowMs);
    const count = await HTTP_SCRIPTS.call(this.redis, 'rateHit', [key], [windowMs]);
    return this.verdict(rule, Number(count), nowMs);
  }
}
