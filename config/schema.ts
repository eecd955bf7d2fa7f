/**
 * The one schema of the environment: every variable the product and its tools read, each as a leaf
 * that names its variable (`env`), its range and its default (from config/defaults.ts), or, when the
 * default is computed at start (the cores, a generated token), how the README shows it (`shown`).
 * A leaf without `env` is derived from the others by config/index.ts. Sections per program:
 * `SystemSchema` is what `npm start`, the writer, the sweeper and reconcile run with (`Config`);
 * the others are the tools'. config/environment.test.ts holds the README's environment table to it.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DEFAULTS } from './defaults.ts';

/** What a leaf says about its variable, beside its JSON Schema. */
export interface VariableNote {
  /** The environment variable. */
  readonly env: string;
  /** How the README's table shows a default that is computed at start. */
  readonly shown?: string;
}

const MAX = Number.MAX_SAFE_INTEGER;

/** An integer; without `fallback` its default is computed at start and `shown` says how. */
function int(env: string, minimum: number, maximum: number, fallback: number | { shown: string }) {
  const def = typeof fallback === 'number' ? { default: fallback } : fallback;
  return Type.Integer({ env, minimum, maximum, ...def });
}

function flag(env: string, fallback: boolean) {
  return Type.Boolean({ env, default: fallback });
}

/** A string; `fallback` undefined means required (it must be set), unless `shown` says how it is made. */
function text(
  env: string,
  options: { fallback?: string; shown?: string; minLength?: number; pattern?: string },
) {
  const { fallback, shown, minLength, pattern } = options;
  return Type.String({
    env,
    ...(fallback === undefined ? {} : { default: fallback }),
    ...(shown === undefined ? {} : { shown }),
    ...(minLength === undefined ? {} : { minLength }),
    ...(pattern === undefined ? {} : { pattern }),
  });
}

function choice<const T extends string>(env: string, choices: readonly T[], fallback: T) {
  return Type.Union(
    choices.map((c) => Type.Literal(c)),
    { env, default: fallback },
  );
}

function lane<Threads extends TSchema>(
  kind: keyof typeof DEFAULTS.lanes,
  threads: Threads,
  deadlineVar: string,
) {
  return Type.Object({
    threads,
    deadlineMs: int(deadlineVar, 1, 600_000, DEFAULTS.lanes[kind].deadlineMs),
    // one bound for every lane's queue
    maxQueue: int('POOL_MAX_QUEUE', 0, MAX, DEFAULTS.lanes[kind].maxQueue),
  });
}

/** The KDF lane: a lane whose threads may run at a lower priority (gateway/osThread.ts). */
function kdfLane<Threads extends TSchema>(threads: Threads) {
  return Type.Composite([
    lane('password', threads, 'LANE_KDF_DEADLINE_MS'),
    Type.Object({
      nice: int('LANE_KDF_NICE', 0, 19, DEFAULTS.lanes.password.nice),
      budgetMs: int('LANE_KDF_BUDGET_MS', 0, 600_000, DEFAULTS.lanes.password.budgetMs),
    }),
  ]);
}

const redisUrl = () => text('REDIS_URL', { fallback: '', shown: 'a private redis-server' });
/** `host:port`, the host a name, an IPv4 address or an IPv6 one in brackets. */
const CLUSTER_NODE = '(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}';
/** Seed nodes of a Redis Cluster (issue 14): every process then opens an ioredis Cluster (engine/redisClient.ts). */
const redisClusterNodes = () =>
  text('REDIS_CLUSTER_NODES', { fallback: '', pattern: `^(${CLUSTER_NODE}(,${CLUSTER_NODE})*)?$` });
const databaseUrl = () => text('DATABASE_URL', { fallback: '', shown: 'a private PostgreSQL' });

/** ID_HMAC_KEY / ID_ENCRYPTION_KEY as normalised hex; `development` when the fixed development keys stand in. */
export const IdKeysSchema = Type.Object({
  hmacKey: text('ID_HMAC_KEY', { shown: 'development keys', pattern: '^[0-9a-f]{64}$' }),
  encryptionKey: text('ID_ENCRYPTION_KEY', { shown: 'development keys', pattern: '^[0-9a-f]{64}$' }),
  development: Type.Boolean(),
});

/** `npm start`, `npm run writer`, `npm run sweeper`, `npm run reconcile`. */
export const SystemSchema = Type.Object(
  {
    port: int('PORT', 0, 65535, DEFAULTS.port),
    host: text('HOST', { fallback: DEFAULTS.host, minLength: 1 }),
    threads: int('THREADS', 1, 64, { shown: 'cores' }),
    testMode: flag('TEST_MODE', false),
    nodeEnv: text('NODE_ENV', { fallback: '' }),
    adminToken: text('ADMIN_TOKEN', {
      shown: 'TEST_MODE: generated, printed once; required outside it',
      minLength: 16,
    }),
    adminTokenGenerated: Type.Boolean(),
    redisUrl: redisUrl(),
    redisClusterNodes: redisClusterNodes(),
    /** `strict`: a Redis without AOF or with an evicting policy stops the start (API.md "Running it"). */
    redisDurability: choice('REDIS_DURABILITY', ['strict', 'relaxed'], DEFAULTS.redisDurability),
    /** `WAIT` for every state-changing engine script (issue 14 item 3; engine/replicaWait.ts): 0 sends none. */
    redisWait: Type.Object({
      replicas: int('REDIS_WAIT_REPLICAS', 0, 16, DEFAULTS.redisWait.replicas),
      // 0 would be WAIT's "for ever": a lagging replica must bound a candidate's wait
      timeoutMs: int('REDIS_WAIT_TIMEOUT_MS', 1, 60_000, DEFAULTS.redisWait.timeoutMs),
    }),
    databaseUrl: databaseUrl(),
    namespace: text('KEY_NAMESPACE', { fallback: DEFAULTS.namespace, pattern: '^[A-Za-z0-9_.:-]+$' }),
    logLevel: choice(
      'LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      DEFAULTS.logLevel,
    ),
    maxBodyBytes: int('MAX_BODY_BYTES', 256, 16 * 1024 * 1024, DEFAULTS.maxBodyBytes),
    /** Addresses / CIDRs whose X-Forwarded-For is believed; each entry is checked at start (gateway/http/clientAddress.ts). */
    trustedProxies: text('TRUSTED_PROXIES', {
      fallback: DEFAULTS.trustedProxies,
      pattern: '^[0-9A-Fa-f:.,/ ]*$',
    }),
    /** The most requests in flight per app thread: the adaptive limit's ceiling (or the limit, static). */
    maxInFlight: int('MAX_IN_FLIGHT', 1, MAX, DEFAULTS.maxInFlight),
    /** Adaptive admission (gateway/admission): a latency-driven limit per app thread. */
    admission: Type.Object({
      adaptive: flag('ADMISSION_ADAPTIVE', DEFAULTS.admission.adaptive),
      initialLimit: int('ADMISSION_INITIAL_LIMIT', 1, MAX, DEFAULTS.admission.initialLimit),
      minLimit: int('ADMISSION_MIN_LIMIT', 1, MAX, DEFAULTS.admission.minLimit),
      targetP99Ms: int('ADMISSION_TARGET_P99_MS', 1, 60_000, DEFAULTS.admission.targetP99Ms),
      timeoutMs: int('ADMISSION_TIMEOUT_MS', 1, 600_000, DEFAULTS.admission.timeoutMs),
    }),
    /** The waiting rooms' keeper and passes (engine/queueKeeper.ts, engine/queue.ts). */
    queue: Type.Object({
      idleMs: int('QUEUE_IDLE_MS', 1_000, MAX, DEFAULTS.queue.idleMs),
      tickMs: int('QUEUE_TICK_MS', 10, 60_000, DEFAULTS.queue.tickMs),
      initialActive: int('QUEUE_INITIAL_ACTIVE', 1, MAX, DEFAULTS.queue.initialActive),
      drainGraceMs: int('QUEUE_DRAIN_GRACE_MS', 0, MAX, DEFAULTS.queue.drainGraceMs),
      /** Admissions may run this many % above the line's measured rate; -1: not paced (engine/queueControl.ts admissionPace). */
      paceSlackPct: int('QUEUE_PACE_SLACK_PCT', -1, 1_000, DEFAULTS.queue.paceSlackPct),
    }),
    /** The work lanes of the worker pool (gateway/workers/pool.ts): threads, queue deadline, queue bound. */
    lanes: Type.Object({
      password: kdfLane(int('POOL_THREADS', 1, 64, { shown: 'cores − 1 (at least 1)' })),
      eligibility: lane(
        'eligibility',
        int('ELIGIBILITY_THREADS', 1, 64, DEFAULTS.lanes.eligibility.threads),
        'LANE_ELIGIBILITY_DEADLINE_MS',
      ),
      roster: lane(
        'roster',
        int('ROSTER_THREADS', 1, 64, DEFAULTS.lanes.roster.threads),
        'LANE_ROSTER_DEADLINE_MS',
      ),
    }),
    sessionTtlMs: int('SESSION_TTL_MS', 60_000, MAX, DEFAULTS.sessionTtlMs),
    /** A gateway thread's memory of live sessions (gateway/auth/sessionCache.ts); 0 disables it. */
    sessionCacheMs: int('SESSION_CACHE_MS', 0, 600_000, DEFAULTS.sessionCacheMs),
    /** The login captcha's proof of work: the secret number is drawn from 0…this (gateway/auth/captcha.ts). */
    captchaMaxNumber: int('CAPTCHA_MAX_NUMBER', 1_000, 10_000_000, DEFAULTS.captchaMaxNumber),
    holdMs: int('HOLD_MS', 1_000, MAX, DEFAULTS.holdMs),
    emptyMs: int('EMPTY_REGISTRATION_MS', 1_000, MAX, DEFAULTS.emptyMs),
    wsCoalesceMs: int('WS_COALESCE_MS', 0, 60_000, DEFAULTS.wsCoalesceMs),
    wsMaxBackpressure: int('WS_MAX_BACKPRESSURE', 1024, MAX, DEFAULTS.wsMaxBackpressure),
    wsMaxConnections: int('WS_MAX_CONNECTIONS', 1, MAX, DEFAULTS.wsMaxConnections),
    wsMaxPerAddress: int('WS_MAX_PER_ADDRESS', 1, MAX, DEFAULTS.wsMaxPerAddress),
    rateLimits: Type.Object({
      loginPerIpPerMinute: int(
        'RATE_LOGIN_PER_IP_PER_MINUTE',
        1,
        MAX,
        DEFAULTS.rateLimits.loginPerIpPerMinute,
      ),
      smsPerIpPerMinute: int('RATE_SMS_PER_IP_PER_MINUTE', 1, MAX, DEFAULTS.rateLimits.smsPerIpPerMinute),
      reservePerAccountPerMinute: int(
        'RATE_RESERVE_PER_ACCOUNT_PER_MINUTE',
        1,
        MAX,
        DEFAULTS.rateLimits.reservePerAccountPerMinute,
      ),
      registerPerIpPerMinute: int(
        'RATE_REGISTER_PER_IP_PER_MINUTE',
        1,
        MAX,
        DEFAULTS.rateLimits.registerPerIpPerMinute,
      ),
      captchaFreePerIpPerHour: int(
        'CAPTCHA_FREE_PER_IP_PER_HOUR',
        0,
        MAX,
        DEFAULTS.rateLimits.captchaFreePerIpPerHour,
      ),
      lookupPerAccountPerMinute: int(
        'RATE_LOOKUP_PER_ACCOUNT_PER_MINUTE',
        1,
        MAX,
        DEFAULTS.rateLimits.lookupPerAccountPerMinute,
      ),
      adminFailuresPerIpPerMinute: int(
        'RATE_ADMIN_FAILURES_PER_IP_PER_MINUTE',
        1,
        MAX,
        DEFAULTS.rateLimits.adminFailuresPerIpPerMinute,
      ),
      lookupPerIpPerMinute: int(
        'RATE_LOOKUP_PER_IP_PER_MINUTE',
        1,
        MAX,
        DEFAULTS.rateLimits.lookupPerIpPerMinute,
      ),
      writesPerAccountPerMinute: int(
        'RATE_WRITES_PER_ACCOUNT_PER_MINUTE',
        1,
        MAX,
        DEFAULTS.rateLimits.writesPerAccountPerMinute,
      ),
      ordersPerAccountPerMinute: int(
        'RATE_ORDERS_PER_ACCOUNT_PER_MINUTE',
        1,
        MAX,
        DEFAULTS.rateLimits.ordersPerAccountPerMinute,
      ),
    }),
    paymentSecret: text('PAYMENT_SECRET', {
      shown: `\`${DEFAULTS.testModePaymentSecret}\` in TEST_MODE, else random per start`,
      minLength: 16,
    }),
    paymentSimulatorPort: int('PAYMENT_SIMULATOR_PORT', 0, 65535, { shown: 'PORT + 1 (0 when PORT is 0)' }),
    publicBaseUrl: text('PUBLIC_BASE_URL', { fallback: '', shown: 'http://HOST:PORT of this gateway' }),
    sweepIntervalMs: int('SWEEP_INTERVAL_MS', 10, MAX, DEFAULTS.sweepIntervalMs),
    startWriter: flag('START_WRITER', DEFAULTS.startWriter),
    startSweeper: flag('START_SWEEPER', DEFAULTS.startSweeper),
    /** The stream writer's settings, the same for `npm start`'s writer and `npm run writer`. */
    writer: Type.Object({
      consumer: text('WRITER_CONSUMER', { fallback: DEFAULTS.writer.consumer, shown: 'host-pid' }),
      insertWith: choice('WRITER_INSERT', ['unnest', 'copy'], DEFAULTS.writer.insertWith),
      batchSize: int('WRITER_BATCH_SIZE', 1, 100_000, DEFAULTS.writer.batchSize),
      lanes: int('WRITER_LANES', 1, 64, DEFAULTS.writer.lanes),
      claimIdleMs: int('WRITER_CLAIM_IDLE_MS', 0, MAX, DEFAULTS.writer.claimIdleMs),
      claimIntervalMs: int('WRITER_CLAIM_INTERVAL_MS', 0, MAX, DEFAULTS.writer.claimIntervalMs),
      maxAttempts: int('WRITER_MAX_ATTEMPTS', 1, MAX, DEFAULTS.writer.maxAttempts),
      retainMs: int('WRITER_RETAIN_MS', 0, MAX, DEFAULTS.writer.retainMs),
    }),
    idKeys: IdKeysSchema,
  },
  { additionalProperties: false },
);

export type Config = Static<typeof SystemSchema>;

/** The stores of a tool that starts a private one for what is not given (devstack, roster import, migrate). */
export const StoresSchema = Type.Object({
  redisUrl: redisUrl(),
  redisClusterNodes: redisClusterNodes(),
  databaseUrl: databaseUrl(),
});

/** `npm run baseline`. */
export const BaselineSchema = Type.Object({
  databaseUrl: text('DATABASE_URL', { minLength: 1 }),
  port: int('PORT', 0, 65535, DEFAULTS.baseline.port),
  host: text('HOST', { fallback: DEFAULTS.baseline.host, minLength: 1 }),
  workers: int('WORKERS', 1, 256, { shown: 'cores' }),
  poolSize: int('POOL_SIZE', 1, 1_000, DEFAULTS.baseline.poolSize),
});

/** scripts/k6-fixtures.ts. */
export const K6FixturesSchema = Type.Object({
  baseUrl: text('BASE_URL', { fallback: DEFAULTS.k6Fixtures.baseUrl, minLength: 1 }),
  adminToken: text('ADMIN_TOKEN', { minLength: 1 }),
});

/** What the tools read of the environment they run in. */
export const RuntimeSchema = Type.Object({
  /** Where the private stack's binaries are found (devstack/binaries.ts). */
  path: text('PATH', { fallback: '' }),
  /** Node flags of the system a load test spawns (loadtest/runner/system.ts), space-separated. */
  systemNodeArgs: text('SYSTEM_NODE_ARGS', { fallback: '' }),
  /** Recorded in benchmark reports (loadtest/bench/engine.ts). */
  nodeOptions: text('NODE_OPTIONS', { fallback: '' }),
});

/** Every section, for the README check and the reading test. */
export const ENVIRONMENT: Readonly<Record<string, TSchema>> = {
  system: SystemSchema,
  stores: StoresSchema,
  baseline: BaselineSchema,
  k6Fixtures: K6FixturesSchema,
  runtime: RuntimeSchema,
};
