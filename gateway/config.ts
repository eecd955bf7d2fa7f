/**
 * Configuration: one module, defaults + environment overrides, validated once at start-up with a
 * strict schema; a bad value stops the process with a message naming the variable. Nothing else
 * reads process.env for settings.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';

const Int = (minimum: number, maximum = Number.MAX_SAFE_INTEGER) => Type.Integer({ minimum, maximum });
const LaneSchema = Type.Object({ threads: Int(1, 64), deadlineMs: Int(1, 600_000), maxQueue: Int(0) });

const ConfigSchema = Type.Object(
  {
    port: Int(0, 65535),
    host: Type.String({ minLength: 1 }),
    threads: Int(1, 64),
    testMode: Type.Boolean(),
    adminToken: Type.String({ minLength: 16 }),
    adminTokenGenerated: Type.Boolean(),
    redisUrl: Type.String(),
    databaseUrl: Type.String(),
    namespace: Type.String({ pattern: '^[A-Za-z0-9_.:-]+$' }),
    logLevel: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    ),
    maxBodyBytes: Int(256, 16 * 1024 * 1024),
    /** The most requests in flight per app thread: the adaptive limit's ceiling (or the limit, static). */
    maxInFlight: Int(1),
    /** Adaptive admission (gateway/admission): a latency-driven limit per app thread. */
    admission: Type.Object({
      adaptive: Type.Boolean(),
      initialLimit: Int(1),
      minLimit: Int(1),
      targetP99Ms: Int(1, 60_000),
      timeoutMs: Int(1, 600_000),
    }),
    /** The waiting rooms' keeper and passes (engine/queueKeeper.ts, engine/queue.ts). */
    queue: Type.Object({
      idleMs: Int(1_000),
      tickMs: Int(10, 60_000),
      initialActive: Int(1),
      drainGraceMs: Int(0),
    }),
    /** The work lanes of the worker pool (gateway/workers/pool.ts): threads, queue deadline, queue bound. */
    lanes: Type.Object({
      password: LaneSchema,
      eligibility: LaneSchema,
      roster: LaneSchema,
    }),
    sessionTtlMs: Int(60_000),
    holdMs: Int(1_000),
    emptyMs: Int(1_000),
    wsCoalesceMs: Int(0, 60_000),
    wsMaxBackpressure: Int(1024),
    rateLimits: Type.Object({
      loginPerIpPerMinute: Int(1),
      smsPerIpPerMinute: Int(1),
      reservePerAccountPerMinute: Int(1),
      registerPerIpPerMinute: Int(1),
    }),
    paymentSecret: Type.String({ minLength: 16 }),
    paymentSimulatorPort: Int(0, 65535),
    publicBaseUrl: Type.String(),
    sweepIntervalMs: Int(10),
    startWriter: Type.Boolean(),
    startSweeper: Type.Boolean(),
    /** The stream writer's settings, the same for `npm start`'s writer and `npm run writer`. */
    writer: Type.Object({
      consumer: Type.String(),
      insertWith: Type.Union([Type.Literal('unnest'), Type.Literal('copy')]),
      batchSize: Int(1, 100_000),
      lanes: Int(1, 64),
      claimIdleMs: Int(0),
      claimIntervalMs: Int(0),
      maxAttempts: Int(1),
      retainMs: Int(0),
    }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;

const validate = new Ajv({ allErrors: true }).compile(ConfigSchema);

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
  return value;
}

function flagFrom(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new ConfigError(`${name} must be 1/true or 0/false, got "${raw}"`);
}

function choiceFrom<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${choices.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Reads the environment once. REDIS_URL / DATABASE_URL may be '' (the caller starts private ones). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const testMode = env.TEST_MODE === '1' || env.TEST_MODE === 'true';
  const adminTokenGenerated = !env.ADMIN_TOKEN;
  const port = intFrom(env, 'PORT', 8080);
  const config: Config = {
    port,
    host: env.HOST ?? '0.0.0.0',
    threads: intFrom(env, 'THREADS', availableParallelism()),
    testMode,
    adminToken: env.ADMIN_TOKEN ?? randomBytes(24).toString('base64url'),
    adminTokenGenerated,
    redisUrl: env.REDIS_URL ?? '',
    databaseUrl: env.DATABASE_URL ?? '',
    namespace: env.KEY_NAMESPACE ?? 'cet',
    logLevel: (env.LOG_LEVEL ?? 'info') as Config['logLevel'],
    maxBodyBytes: intFrom(env, 'MAX_BODY_BYTES', 16 * 1024),
    maxInFlight: intFrom(env, 'MAX_IN_FLIGHT', 4096),
    admission: {
      adaptive: flagFrom(env, 'ADMISSION_ADAPTIVE', true),
      initialLimit: intFrom(env, 'ADMISSION_INITIAL_LIMIT', 64),
      minLimit: intFrom(env, 'ADMISSION_MIN_LIMIT', 8),
      // P7 allows an admitted p99 of 200 ms; the loop aims below it, with room for the client's side
      targetP99Ms: intFrom(env, 'ADMISSION_TARGET_P99_MS', 100),
      timeoutMs: intFrom(env, 'ADMISSION_TIMEOUT_MS', 1_000),
    },
    queue: {
      idleMs: intFrom(env, 'QUEUE_IDLE_MS', 60_000),
      tickMs: intFrom(env, 'QUEUE_TICK_MS', 250),
      initialActive: intFrom(env, 'QUEUE_INITIAL_ACTIVE', 50),
      drainGraceMs: intFrom(env, 'QUEUE_DRAIN_GRACE_MS', 10_000),
    },
    lanes: {
      // the KDF leaves a core to the event loops by default (P7: a login storm must not starve them)
      password: {
        threads: intFrom(env, 'POOL_THREADS', Math.max(1, availableParallelism() - 1)),
        deadlineMs: intFrom(env, 'LANE_KDF_DEADLINE_MS', 1_000),
        maxQueue: intFrom(env, 'POOL_MAX_QUEUE', 512),
      },
      eligibility: {
        threads: intFrom(env, 'ELIGIBILITY_THREADS', 1),
        deadlineMs: intFrom(env, 'LANE_ELIGIBILITY_DEADLINE_MS', 500),
        maxQueue: intFrom(env, 'POOL_MAX_QUEUE', 512),
      },
      roster: {
        threads: intFrom(env, 'ROSTER_THREADS', 1),
        deadlineMs: intFrom(env, 'LANE_ROSTER_DEADLINE_MS', 30_000),
        maxQueue: intFrom(env, 'POOL_MAX_QUEUE', 512),
      },
    },
    sessionTtlMs: intFrom(env, 'SESSION_TTL_MS', 2 * 3_600_000),
    holdMs: intFrom(env, 'HOLD_MS', 12 * 3_600_000),
    emptyMs: intFrom(env, 'EMPTY_REGISTRATION_MS', 12 * 3_600_000),
    wsCoalesceMs: intFrom(env, 'WS_COALESCE_MS', 250),
    wsMaxBackpressure: intFrom(env, 'WS_MAX_BACKPRESSURE', 256 * 1024),
    rateLimits: {
      loginPerIpPerMinute: intFrom(env, 'RATE_LOGIN_PER_IP_PER_MINUTE', 600),
      smsPerIpPerMinute: intFrom(env, 'RATE_SMS_PER_IP_PER_MINUTE', 120),
      reservePerAccountPerMinute: intFrom(env, 'RATE_RESERVE_PER_ACCOUNT_PER_MINUTE', 60),
      registerPerIpPerMinute: intFrom(env, 'RATE_REGISTER_PER_IP_PER_MINUTE', 600),
    },
    paymentSecret:
      env.PAYMENT_SECRET ?? (testMode ? 'test-mode-payment-secret' : randomBytes(32).toString('base64url')),
    paymentSimulatorPort: intFrom(env, 'PAYMENT_SIMULATOR_PORT', port === 0 ? 0 : port + 1),
    publicBaseUrl: env.PUBLIC_BASE_URL ?? '',
    sweepIntervalMs: intFrom(env, 'SWEEP_INTERVAL_MS', 250),
    // `npm start` runs the writer and the sweeper beside the gateway unless told they run elsewhere
    // (`npm run writer` / `npm run sweeper` on other hosts: both are stateless and scale out)
    startWriter: flagFrom(env, 'START_WRITER', true),
    startSweeper: flagFrom(env, 'START_SWEEPER', true),
    writer: {
      // '' means host-pid, chosen by the process that runs the writer
      consumer: env.WRITER_CONSUMER ?? '',
      insertWith: choiceFrom(env, 'WRITER_INSERT', ['unnest', 'copy'], 'unnest'),
      batchSize: intFrom(env, 'WRITER_BATCH_SIZE', 1000),
      lanes: intFrom(env, 'WRITER_LANES', 1),
      claimIdleMs: intFrom(env, 'WRITER_CLAIM_IDLE_MS', 30_000),
      claimIntervalMs: intFrom(env, 'WRITER_CLAIM_INTERVAL_MS', 5_000),
      maxAttempts: intFrom(env, 'WRITER_MAX_ATTEMPTS', 3),
      retainMs: intFrom(env, 'WRITER_RETAIN_MS', 600_000),
    },
  };
  if (!validate(config)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return config;
}
