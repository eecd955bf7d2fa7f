/**
 * Mounting checks a route's rate-limit rule names against the rule table: a misspelt name stops
 * the start instead of leaving the route without its limit, and so does a rule a route says its
 * engine script counts (countedInScript) that it may not count there. (No request is served here:
 * the gateway tests under tests/gateway drive the pipeline over HTTP.)
 */
import { Redis } from 'ioredis';
import type { us_listen_socket } from 'uWebSockets.js';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Admission } from '../admission/admission.ts';
import { systemClock } from '../clock.ts';
import { GatewayMetrics } from '../metrics.ts';
import { rulesOf, scriptLimitsOf } from './access.ts';
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

function limitedRoute(
  path: string,
  rateLimits: readonly string[],
  more: { countedInScript?: readonly string[]; auth?: 'session' | 'none' } = {},
): RouteDef {
  return route({
    method: 'POST',
    path,
    summary: 'a limited route',
    auth: more.auth ?? 'session',
    rateLimits,
    ...(more.countedInScript === undefined ? {} : { countedInScript: more.countedInScript }),
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

describe('mountRoutes: rules counted in the engine script (issue 13, P2)', () => {
  it('leaves such a rule to the handler: the access step does not count it, the handler finds it', () => {
    const def = limitedRoute('/hold', ['reserve', 'login'], { countedInScript: ['reserve'] });
    expect(rulesOf(def, RULES)).toEqual({
      address: [RULES.login],
      account: [],
      inScript: [RULES.reserve],
    });
    expect(rulesOf(limitedRoute('/plain', ['reserve']), RULES).account).toEqual([RULES.reserve]);
    const limits = scriptLimitsOf([RULES.reserve!], deps.rateLimiter, { inc() {} });
    const nowMs = 90_000;
    expect(limits.reserve!.guard((rule, window) => `k:${rule}:${window}`, nowMs)).toEqual({
      key: 'k:reserve:1',
      windowMs: 60_000,
      limit: 5,
    });
    // the access step's answer: 429 naming the rule, Retry-After to the window's end
    expect(limits.reserve!.refusal(nowMs).toBody()).toMatchObject({
      error: { code: 'RATE_LIMITED', details: { retryAfterSeconds: 30, rule: 'reserve' } },
    });
    expect(() => mountRoutes(loadNativeUws().App(), [def], deps)).not.toThrow();
  });

  it('refuses an unknown name, a name the route does not limit by, an address rule, and a route without a session', () => {
    const app = loadNativeUws().App();
    const mount = (def: RouteDef) => () => mountRoutes(app, [def], deps);
    expect(mount(limitedRoute('/a', ['reserve'], { countedInScript: ['reserv'] }))).toThrow(
      'POST /a: unknown rate-limit rule "reserv" (the rules are: reserve, login)',
    );
    expect(mount(limitedRoute('/b', ['login'], { countedInScript: ['reserve'] }))).toThrow(
      'POST /b: rule "reserve" counted in script is not among its rateLimits',
    );
    expect(mount(limitedRoute('/c', ['login'], { countedInScript: ['login'] }))).toThrow(
      'POST /c: rule "login" counted in script is not counted per account',
    );
    expect(mount(limitedRoute('/d', ['reserve'], { countedInScript: ['reserve'], auth: 'none' }))).toThrow(
      'POST /d: rule "reserve" counted in script needs a session route',
    );
  });
});

describe('admission at the route: a payment notification is admitted past the adaptive limit', () => {
  it('sheds the critical burst beyond its share, never an admitAlways route below the ceiling', async () => {
    const uws = loadNativeUws();
    const app = uws.App();
    // the adaptive limit has come down to 4 (an opening): critical may fill 5, the ceiling is 64
    const admission = new Admission({ initial: 4, min: 4, max: 64 });
    const release: (() => void)[] = [];
    const held = () =>
      new Promise<ReturnType<typeof ok>>((resolve) => release.push(() => resolve(ok({ held: true }))));
    const plain = route({
      method: 'POST',
      path: '/hold',
      summary: 'a reservation',
      auth: 'none',
      priority: 'critical',
      responses: { 200: 'held' },
      handler: held,
    });
    const notify = route({
      method: 'POST',
      path: '/notify',
      summary: 'a provider notification',
      auth: 'none',
      priority: 'critical',
      admitAlways: true,
      responses: { 200: 'acknowledged' },
      handler: held,
    });
    mountRoutes(app, [plain, notify], { ...deps, admission });
    const listening = await new Promise<us_listen_socket>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (socket) => (socket ? resolve(socket) : reject(new Error('cannot listen')))),
    );
    const port = uws.us_socket_local_port(listening);
    const post = (path: string) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
    try {
      const holds = Array.from({ length: 10 }, () => post('/hold'));
      await expect.poll(() => release.length).toBe(5);
      const notifications = Array.from({ length: 20 }, () => post('/notify'));
      await expect.poll(() => release.length).toBe(25);
      for (const resolve of release) resolve();
      const holdStatuses = (await Promise.all(holds)).map((r) => r.status).sort();
      expect(holdStatuses).toEqual([...Array(5).fill(200), ...Array(5).fill(503)]);
      expect((await Promise.all(notifications)).map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(admission.stats().shed.critical).toBe(5);
    } finally {
      uws.us_listen_socket_close(listening);
    }
  });
});
