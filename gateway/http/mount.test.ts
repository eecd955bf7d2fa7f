/**
 * Mounting checks a route's rate-limit rule names against the rule table: a misspelt name stops
 * the start instead of leaving the route without its limit. (No request is served here: the
 * gateway tests under tests/gateway drive the pipeline over HTTP.)
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Admission } from '../admission/admission.ts';
import { systemClock } from '../clock.ts';
import { GatewayMetrics } from '../metrics.ts';
import { IdempotencyStore } from './idempotency.ts';
import { mountRoutes, type MountDeps } from './mount.ts';
import { RateLimiter, type RateLimitRule } from './rateLimit.ts';
import { ok, route, type RouteDef } from './route.ts';
import { loadNativeUws } from './uws.ts';

// never connects: mounting sends nothing to Redis
const redis = new Redis({ lazyConnect: true });
afterAll(() => redis.disconnect());

const RULES: Record<string, RateLimitRule> = {
  reserve: { name: 'reserve', limit: 5, windowMs: 60_000, by: 'account' },
  login: { name: 'login', limit: 5, windowMs: 60_000, by: 'ip' },
};

const deps: MountDeps = {
  log: pino({ level: 'silent' }),
  metrics: new GatewayMetrics(),
  clock: systemClock,
  sessions: { authorize: () => Promise.resolve({ accountId: null, counts: [] }) },
  adminToken: 'test-admin-token-0123456789',
  idempotency: new IdempotencyStore(redis, { namespace: 'mount-test' }),
  rateLimiter: new RateLimiter(redis, 'mount-test'),
  rateLimitRules: RULES,
  maxBodyBytes: 16 * 1024,
  adminFailuresPerMinute: 10,
  admission: new Admission({ adaptive: false, max: 16 }),
};

function limitedRoute(path: string, rateLimits: readonly string[]): RouteDef {
  return route({
    method: 'POST',
    path,
    summary: 'a limited route',
    auth: 'session',
    rateLimits,
    responses: { 200: 'done' },
    handler: () => Promise.resolve(ok({})),
  });
}

describe('mountRoutes: rate-limit rule names', () => {
  it('mounts routes whose rules are all in the table', () => {
    const app = loadNativeUws().App();
    expect(() =>
      mountRoutes(app, [limitedRoute('/a', ['reserve']), limitedRoute('/b', ['login', 'reserve'])], deps),
    ).not.toThrow();
  });

  it('refuses a misspelt rule, naming the route, the name and the known rules', () => {
    const app = loadNativeUws().App();
    expect(() => mountRoutes(app, [limitedRoute('/api/v1/x', ['reserv'])], deps)).toThrow(
      'POST /api/v1/x: unknown rate-limit rule "reserv" (the rules are: reserve, login)',
    );
    // a name that only an object's prototype knows is no rule either
    expect(() => mountRoutes(app, [limitedRoute('/y', ['constructor'])], deps)).toThrow(/"constructor"/);
  });
});
