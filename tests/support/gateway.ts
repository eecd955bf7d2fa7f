/**
 * A whole running system for HTTP tests: `startSystem` (gateway/system.ts) in TEST_MODE on a free
 * port, with app threads, the worker pool, the writer and the sweeper, over the run's Redis (in a
 * key namespace of its own) and a fresh PostgreSQL database. Plus a small JSON client.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Engine } from '../../engine/engine.ts';
import type { RedisClient } from '../../engine/redisClient.ts';
import { startSystem, type RunningSystem } from '../../gateway/system.ts';
import { redisUrl } from './env.ts';
import { freshDatabase } from './pg.ts';
import { UNHURRIED_LANE_ENV } from './lanes.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestGateway {
  readonly system: RunningSystem;
  readonly base: string;
  readonly namespace: string;
  readonly databaseUrl: string;
  /** A Redis client and an engine on the gateway's namespace (for setup and assertions). */
  readonly redis: Redis;
  readonly engine: Engine;
  readonly http: HttpClient;
  close(): Promise<void>;
}

/**
 * What every test system runs with, beside its stores and namespace: TEST_MODE on a free port of
 * 127.0.0.1, two app threads and one KDF thread, the test admin token, quiet logs.
 */
export const TEST_SYSTEM_ENV: Readonly<NodeJS.ProcessEnv> = {
  TEST_MODE: '1',
  PORT: '0',
  HOST: '127.0.0.1',
  THREADS: '2',
  POOL_THREADS: '1',
  ADMIN_TOKEN,
  LOG_LEVEL: 'warn',
  PAYMENT_SIMULATOR_PORT: '0',
  // every test signs up from 127.0.0.1: the captcha-free allowance is a test of its own
  CAPTCHA_FREE_PER_IP_PER_HOUR: '1000000',
  ...UNHURRIED_LANE_ENV,
};

/** A test system's parts, whatever its Redis: tests/support/cluster.ts starts one on a cluster. */
export interface StartedSystem {
  readonly system: RunningSystem;
  readonly base: string;
  readonly namespace: string;
  readonly databaseUrl: string;
  readonly engine: Engine;
  readonly http: HttpClient;
  /** Stops the system and drops its database. */
  stop(): Promise<void>;
}

/**
 * The system in TEST_MODE on `stores` (its Redis variables), in a key namespace of its own
 * (`prefix` + random hex) and a fresh PostgreSQL database, with an engine on `client` for setup and
 * assertions. The database is dropped again when the system fails to start.
 */
export async function startSystemOn(
  stores: NodeJS.ProcessEnv,
  client: RedisClient,
  prefix: string,
  env: NodeJS.ProcessEnv,
): Promise<StartedSystem> {
  const database = await freshDatabase();
  const namespace = `${prefix}${randomBytes(4).toString('hex')}`;
  const system = await startSystem({
    ...TEST_SYSTEM_ENV,
    ...stores,
    DATABASE_URL: database.url,
    KEY_NAMESPACE: namespace,
    ...env,
  }).catch(async (error: unknown) => {
    await database.drop();
    throw error;
  });
  const base = `http://127.0.0.1:${system.port}`;
  const engine = new Engine(client, {
    namespace,
    holdMs: system.config.holdMs,
    emptyMs: system.config.emptyMs,
  });
  return {
    system,
    base,
    namespace,
    databaseUrl: database.url,
    engine,
    http: new HttpClient(base),
    async stop() {
      await system.stop();
      await database.drop();
    },
  };
}

/**
 * `redisUrl` gives the gateway (and the test's client) a Redis of its own instead of the run's
 * shared one: for a test that pauses Redis, which would stall every other test file's writes.
 */
export async function startTestGateway(
  env: NodeJS.ProcessEnv = {},
  opts: { redisUrl?: string } = {},
): Promise<TestGateway> {
  const redisAt = opts.redisUrl ?? redisUrl();
  const redis = new Redis(redisAt, { maxRetriesPerRequest: null });
  const started = await startSystemOn({ REDIS_URL: redisAt }, redis, 'g', env).catch((error: unknown) => {
    redis.disconnect();
    throw error;
  });
  const { system, namespace } = started;
  return {
    system,
    base: started.base,
    namespace,
    databaseUrl: started.databaseUrl,
    redis,
    engine: started.engine,
    http: started.http,
    async close() {
      await started.stop();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
        if (keys.length > 0) await redis.unlink(...keys);
        cursor = next;
      } while (cursor !== '0');
      redis.disconnect();
    },
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test answers are read field by field
type Json = any;

export interface HttpAnswer<T = Json> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
  readonly text: string;
}

export interface RequestOptions {
  readonly token?: string;
  readonly idempotencyKey?: string;
  readonly headers?: Record<string, string>;
  /** Sent as is (not JSON-encoded). */
  readonly raw?: string | Buffer;
}

export class HttpClient {
  constructor(readonly base: string) {}

  async request<T = Json>(
    method: string,
    path: string,
    body?: unknown,
    options: RequestOptions = {},
  ): Promise<HttpAnswer<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
    let payload: string | Buffer | undefined = options.raw;
    if (payload === undefined && body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed as T, headers: response.headers, text };
  }

  get<T = Json>(path: string, options?: RequestOptions) {
    return this.request<T>('GET', path, undefined, options);
  }
  post<T = Json>(path: string, body?: unknown, options?: RequestOptions) {
    return this.request<T>('POST', path, body, options);
  }
  put<T = Json>(path: string, body?: unknown, options?: RequestOptions) {
    return this.request<T>('PUT', path, body, options);
  }
  delete<T = Json>(path: string, options?: RequestOptions) {
    return this.request<T>('DELETE', path, undefined, options);
  }
  admin<T = Json>(method: string, path: string, body?: unknown) {
    return this.request<T>(method, path, body, { token: ADMIN_TOKEN });
  }
}

let phoneCounter = 0;
/** A fresh mainland mobile number for this test run. */
export function newPhone(): string {
  phoneCounter += 1;
  return `13${String(Math.floor(Math.random() * 1e4)).padStart(4, '0')}${String(phoneCounter % 1e5).padStart(5, '0')}`;
}

export interface SignedUp {
  readonly token: string;
  readonly accountId: string;
  readonly phone: string;
  readonly password: string;
}

/**
 * Through HTTP, as a candidate would (R1, R2): SMS code → account with phone → captcha → login →
 * agreement. `agreement: false` stops before accepting it.
 */
export async function signUp(http: HttpClient, options: { agreement?: boolean } = {}): Promise<SignedUp> {
  const phone = newPhone();
  const password = 'opening2026';
  const code = await http.post('/api/v1/sms-codes', { phone });
  if (code.status !== 200) throw new Error(`sms-codes: ${code.status} ${code.text}`);
  const account = await http.post('/api/v1/accounts', { phone, smsCode: code.body.testCode, password });
  if (account.status !== 201) throw new Error(`accounts: ${account.status} ${account.text}`);
  const token = await login(http, phone, password);
  if (options.agreement !== false) {
    const agreed = await http.post('/api/v1/agreement', { accepted: true }, { token });
    if (agreed.status !== 200) throw new Error(`agreement: ${agreed.status} ${agreed.text}`);
  }
  return { token, accountId: String(account.body.accountId), phone, password };
}

export async function login(http: HttpClient, loginName: string, password: string): Promise<string> {
  const captcha = await http.get('/api/v1/captcha');
  const session = await http.post('/api/v1/sessions', {
    login: loginName,
    password,
    captchaId: captcha.body.captchaId,
    captchaAnswer: captcha.body.testAnswer,
  });
  if (session.status !== 200) throw new Error(`sessions: ${session.status} ${session.text}`);
  return String(session.body.token);
}
