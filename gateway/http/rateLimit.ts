/**
 * Per-session, per-account and per-client rate limits (429 RATE_LIMITED with Retry-After): fixed windows
 * counted in Redis, so the limit holds across threads and gateways. A rule names what it counts
 * by; the counter and its expiry are set atomically (MULTI).
 */
import type { Cluster, Redis } from 'ioredis';

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

export class RateLimiter {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly namespace: string,
  ) {}

  async hit(rule: RateLimitRule, subject: string, nowMs = Date.now()): Promise<RateLimitVerdict> {
    const window = Math.floor(nowMs / rule.windowMs);
    const key = `${this.namespace}:rl:${rule.name}:${subject}:${window}`;
    const results = await this.redis.multi().incr(key).pexpire(key, rule.windowMs).exec();
    const count = Number(results?.[0]?.[1] ?? 0);
    const retryAfterSeconds = Math.max(1, Math.ceil(((window + 1) * rule.windowMs - nowMs) / 1000));
    return { allowed: count <= rule.limit, retryAfterSeconds };
  }
}
