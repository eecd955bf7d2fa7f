/**
 * The single-route benchmark behind `npm run bench:routes`: autocannon on the single routes of the
 * login and eligibility steps,
 * with pre-seeded accounts and sessions (loadtest/runner/world.ts: a generated province, its
 * roster, accounts with one known password, sessions issued directly):
 *   1. login: GET /api/v1/captcha then POST /api/v1/sessions (TEST_MODE returns the captcha
 *      answer), each connection logging in as the next account: one argon2id verification each;
 *   2. eligibility: POST /api/v1/eligibility/query {idType, idNumber, name}, each request as the
 *      next candidate with that candidate's own session (the query runs on the worker pool).
 * The system runs in its own process. Its figures go to reports/bench/routes.json.
 */
import { availableParallelism } from 'node:os';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { createPool } from '../../db/pool.ts';
import { startStack } from '../../devstack/stack.ts';
import { Engine } from '../../engine/engine.ts';
import { ONE_ADDRESS_LIMITS, spawnSystem } from '../runner/system.ts';
import { prepareSurgeWorld, SURGE_PASSWORD } from '../runner/world.ts';

export interface RoutesBenchOptions {
  readonly candidates: number;
  readonly connections: number;
  readonly durationS: number;
}

const NAMESPACE = 'routes';

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (error, result) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result),
    );
  });
}

const figures = (r: autocannon.Result) => ({
  rps: Math.round(r.requests.average),
  p50Ms: r.latency.p50,
  p99Ms: r.latency.p99,
  non2xx: r.non2xx,
  errors: r.errors,
  timeouts: r.timeouts,
});

/** The figures for reports/bench/routes.json, and the lines the terminal shows. */
export async function runRoutesBench(options: RoutesBenchOptions) {
  const { candidates: CANDIDATES, connections: CONNECTIONS, durationS: DURATION } = options;
  const stack = await startStack({ quiet: true });
  const poolThreads = availableParallelism();
  const system = await spawnSystem({
    TEST_MODE: '1',
    REDIS_URL: stack.redisUrl,
    DATABASE_URL: stack.databaseUrl,
    KEY_NAMESPACE: NAMESPACE,
    ADMIN_TOKEN: 'routes-admin-token-0123456789',
    PAYMENT_SIMULATOR_PORT: '0',
    MAX_IN_FLIGHT: '100000',
    POOL_MAX_QUEUE: '100000',
    ...ONE_ADDRESS_LIMITS,
    // the query's throughput is measured, not its per-account limit (a session asks many times)
    RATE_LOOKUP_PER_ACCOUNT_PER_MINUTE: '100000000',
  });
  const redis = new Redis(stack.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
  const db = createPool(stack.databaseUrl, { max: 8 });
  try {
    const world = await prepareSurgeWorld({
      redis,
      engine: new Engine(redis, { namespace: NAMESPACE }),
      db,
      namespace: NAMESPACE,
      candidates: CANDIDATES,
      seed: 42,
      opensAtMs: Date.now() - 3_600_000,
      preseededSessions: true,
      log: (line) => void process.stderr.write(`${line}\n`),
    });
    process.stderr.write(`autocannon: ${CONNECTIONS} connections × ${DURATION} s, login then eligibility\n`);
    let nextLogin = 0;
    const login = await run({
      connections: CONNECTIONS,
      duration: DURATION,
      url: system.base,
      requests: [
        {
          method: 'GET',
          path: '/api/v1/captcha',
          onResponse: (_status, body, context) => {
            (context as { captcha?: unknown }).captcha = JSON.parse(body);
          },
        },
        {
          method: 'POST',
          path: '/api/v1/sessions',
          setupRequest: (request, context) => {
            const captcha = (context as { captcha?: unknown }).captcha as {
              captchaId: string;
              testAnswer: string;
            };
            return {
              ...request,
              headers: { ...request.headers, 'content-type': 'application/json' },
              body: JSON.stringify({
                login: world.candidate(nextLogin++ % world.count).phone,
                password: SURGE_PASSWORD,
                captchaId: captcha.captchaId,
                captchaAnswer: captcha.testAnswer,
              }),
            };
          },
        },
      ],
    });
    let nextQuery = 0;
    const eligibility = await run({
      connections: CONNECTIONS,
      duration: DURATION,
      url: system.base,
      requests: [
        {
          method: 'POST',
          path: '/api/v1/eligibility/query',
          setupRequest: (request) => {
            const candidate = world.candidate(nextQuery++ % world.count);
            const { idType, idNumber, name } = candidate.entry;
            return {
              ...request,
              headers: {
                ...request.headers,
                'content-type': 'application/json',
                authorization: `Bearer ${candidate.token}`,
              },
              body: JSON.stringify({ idType, idNumber, name }),
            };
          },
        },
      ],
    });
    // autocannon counts the captcha GETs too: a login is every second request
    const result = {
      loginsPerSec: Math.round(login.requests.average / 2),
      login: figures(login),
      eligibility: figures(eligibility),
      poolThreads,
      appThreads: system.threads,
      candidates: CANDIDATES,
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      measuredAt: new Date().toISOString(),
    };
    const summary = `
single routes (${system.threads} app threads, ${poolThreads} pool threads, ${CONNECTIONS} connections, ${DURATION} s each)
  login (captcha + POST /sessions)   ${result.loginsPerSec.toLocaleString('en')} logins/s   p50 ${login.latency.p50} ms   p99 ${login.latency.p99} ms   non-2xx ${login.non2xx}
  POST /api/v1/eligibility/query     ${result.eligibility.rps.toLocaleString('en')} req/s   p50 ${eligibility.latency.p50} ms   p99 ${eligibility.latency.p99} ms   non-2xx ${eligibility.non2xx}
  → reports/bench/routes.json`;
    return { result, summary };
  } finally {
    redis.disconnect();
    await db.end();
    await system.stop();
    await stack.stop();
  }
}
