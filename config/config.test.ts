/**
 * The configuration is read once and validated: defaults, overrides, and a bad value stops the
 * start with a message naming the variable.
 */
import { describe, expect, it } from 'vitest';
import {
  baselineConfig,
  ConfigError,
  DEFAULTS,
  environmentWith,
  idKeysFromEnv,
  k6FixturesConfig,
  loadConfig,
  searchPath,
  servingRefusals,
  storesFromEnv,
  systemNodeArgs,
} from './index.ts';

const HEX_KEY = 'ab'.repeat(32);

describe('loadConfig', () => {
  it('defaults: npm start runs the writer and the sweeper beside the gateway', () => {
    const config = loadConfig({});
    expect(config.startWriter).toBe(true);
    expect(config.startSweeper).toBe(true);
    expect(config.port).toBe(8080);
    expect(config.paymentSimulatorPort).toBe(8081);
    expect(config.testMode).toBe(false);
    expect(config.adminTokenGenerated).toBe(true);
    expect(config.adminToken.length).toBeGreaterThanOrEqual(16);
    expect(config.threads).toBeGreaterThanOrEqual(1);
    expect(config.holdMs).toBe(DEFAULTS.holdMs);
    expect(config.lanes.eligibility).toEqual(DEFAULTS.lanes.eligibility);
  });

  it('START_WRITER / START_SWEEPER = 0 leave them to other processes', () => {
    expect(loadConfig({ START_WRITER: '0' })).toMatchObject({ startWriter: false, startSweeper: true });
    expect(loadConfig({ START_SWEEPER: 'false', START_WRITER: '1' })).toMatchObject({
      startWriter: true,
      startSweeper: false,
    });
  });

  it("the writer's settings are the same for npm start and npm run writer, from WRITER_*", () => {
    expect(loadConfig({}).writer).toEqual({
      consumer: '',
      insertWith: 'unnest',
      batchSize: 1000,
      lanes: 1,
      claimIdleMs: 30_000,
      claimIntervalMs: 5_000,
      maxAttempts: 3,
      retainMs: 600_000,
    });
    expect(
      loadConfig({
        WRITER_INSERT: 'copy',
        WRITER_BATCH_SIZE: '5000',
        WRITER_LANES: '4',
        WRITER_CONSUMER: 'w1',
      }).writer,
    ).toMatchObject({ insertWith: 'copy', batchSize: 5000, lanes: 4, consumer: 'w1' });
    expect(() => loadConfig({ WRITER_INSERT: 'bulk' })).toThrow(/WRITER_INSERT must be one of unnest, copy/);
    expect(() => loadConfig({ WRITER_LANES: '0' })).toThrow(/^WRITER_LANES must be ≥ 1$/);
  });

  it('one POOL_MAX_QUEUE bounds every lane; each lane has its own threads and deadline', () => {
    const config = loadConfig({
      POOL_MAX_QUEUE: '7',
      POOL_THREADS: '3',
      ROSTER_THREADS: '2',
      LANE_ELIGIBILITY_DEADLINE_MS: '250',
      LANE_KDF_NICE: '4',
      LANE_KDF_BUDGET_MS: '90',
    });
    expect(config.lanes).toEqual({
      password: {
        threads: 3,
        deadlineMs: DEFAULTS.lanes.password.deadlineMs,
        maxQueue: 7,
        nice: 4,
        budgetMs: 90,
      },
      eligibility: { threads: 1, deadlineMs: 250, maxQueue: 7 },
      roster: { threads: 2, deadlineMs: DEFAULTS.lanes.roster.deadlineMs, maxQueue: 7 },
    });
  });

  it('refuses a bad value, naming the variable, never a field path', () => {
    expect(() => loadConfig({ START_WRITER: 'no' })).toThrow(ConfigError);
    expect(() => loadConfig({ START_WRITER: 'no' })).toThrow(/START_WRITER/);
    expect(() => loadConfig({ TEST_MODE: 'yes' })).toThrow(/TEST_MODE must be 1\/true or 0\/false/);
    expect(() => loadConfig({ MAX_IN_FLIGHT: '12.5' })).toThrow(/MAX_IN_FLIGHT must be an integer/);
    expect(() => loadConfig({ MAX_IN_FLIGHT: '0' })).toThrow(/^MAX_IN_FLIGHT must be ≥ 1$/);
    expect(() => loadConfig({ PORT: '70000', PAYMENT_SIMULATOR_PORT: '1' })).toThrow(
      /^PORT must be ≤ 65535$/,
    );
    expect(() => loadConfig({ ADMIN_TOKEN: 'short' })).toThrow(
      /^ADMIN_TOKEN must be at least 16 characters long$/,
    );
    expect(() => loadConfig({ KEY_NAMESPACE: 'a b' })).toThrow(/^KEY_NAMESPACE must match/);
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(/^LOG_LEVEL must be one of fatal, error/);
    // several at once: each named
    expect(() => loadConfig({ POOL_MAX_QUEUE: '-1', QUEUE_TICK_MS: '1' })).toThrow(
      /QUEUE_TICK_MS must be ≥ 10; POOL_MAX_QUEUE must be ≥ 0/,
    );
    // a secret is never echoed
    expect(() => loadConfig({ ADMIN_TOKEN: 'secret-ish' })).not.toThrow(/secret-ish/);
  });

  it('the payment secret: fixed in TEST_MODE, else random unless PAYMENT_SECRET is set', () => {
    expect(loadConfig({ TEST_MODE: '1' }).paymentSecret).toBe(DEFAULTS.testModePaymentSecret);
    expect(loadConfig({}).paymentSecret).not.toBe(loadConfig({}).paymentSecret);
    expect(loadConfig({ PAYMENT_SECRET: 'x'.repeat(20) }).paymentSecret).toBe('x'.repeat(20));
    expect(loadConfig({ PORT: '0' }).paymentSimulatorPort).toBe(0);
  });
});

describe('ID keys', () => {
  it('development keys outside NODE_ENV=production, or in TEST_MODE; never otherwise', () => {
    const dev = loadConfig({}).idKeys;
    expect(dev.development).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', TEST_MODE: '1' }).idKeys).toEqual(dev);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      /ID_HMAC_KEY and ID_ENCRYPTION_KEY must be set/,
    );
    const real = loadConfig({
      NODE_ENV: 'production',
      ID_HMAC_KEY: HEX_KEY,
      ID_ENCRYPTION_KEY: HEX_KEY,
    }).idKeys;
    expect(real).toEqual({ hmacKey: HEX_KEY, encryptionKey: HEX_KEY, development: false });
  });

  it('outside TEST_MODE the system refuses to serve with the development keys or a generated ADMIN_TOKEN (issue 16 item 3)', () => {
    const keys = { ID_HMAC_KEY: HEX_KEY, ID_ENCRYPTION_KEY: HEX_KEY };
    expect(servingRefusals(loadConfig({}))).toEqual([
      'ID_HMAC_KEY and ID_ENCRYPTION_KEY must be set (the development keys are public)',
      'ADMIN_TOKEN must be set',
    ]);
    expect(servingRefusals(loadConfig({ ...keys }))).toEqual(['ADMIN_TOKEN must be set']);
    expect(servingRefusals(loadConfig({ ...keys, ADMIN_TOKEN: 'a'.repeat(20) }))).toEqual([]);
    expect(servingRefusals(loadConfig({ TEST_MODE: '1' }))).toEqual([]);
    // the development keys typed in by hand are still the development keys
    const dev = loadConfig({ TEST_MODE: '1' }).idKeys;
    const typedIn = {
      ID_HMAC_KEY: dev.hmacKey,
      ID_ENCRYPTION_KEY: dev.encryptionKey,
      ADMIN_TOKEN: 'a'.repeat(20),
    };
    expect(servingRefusals(loadConfig(typedIn))).toEqual([
      'ID_HMAC_KEY and ID_ENCRYPTION_KEY must be set (the development keys are public)',
    ]);
    expect(() => loadConfig({ ...typedIn, NODE_ENV: 'production' })).toThrow(/public development keys/);
  });

  it('32 bytes, as hex or base64; the development keys are fixed and distinct', () => {
    const keys = idKeysFromEnv({ env: {}, allowDevelopmentKeys: true });
    expect(keys.development).toBe(true);
    expect(keys.hmacKey.length).toBe(32);
    expect(keys.encryptionKey.length).toBe(32);
    expect(keys.hmacKey.equals(keys.encryptionKey)).toBe(false);
    expect(idKeysFromEnv({ env: {}, allowDevelopmentKeys: true }).hmacKey.equals(keys.hmacKey)).toBe(true);
    expect(() => idKeysFromEnv({ env: {}, allowDevelopmentKeys: false })).toThrow(/ID_HMAC_KEY/);
    expect(() =>
      idKeysFromEnv({ env: { ID_HMAC_KEY: 'abc', ID_ENCRYPTION_KEY: 'abc' }, allowDevelopmentKeys: false }),
    ).toThrow(/ID_HMAC_KEY must be 32 bytes/);
    const base64 = Buffer.from(HEX_KEY, 'hex').toString('base64');
    const given = idKeysFromEnv({
      env: { ID_HMAC_KEY: HEX_KEY, ID_ENCRYPTION_KEY: base64 },
      allowDevelopmentKeys: false,
    });
    expect(given.development).toBe(false);
    expect(given.encryptionKey.toString('hex')).toBe(HEX_KEY);
  });
});

describe("the tools' settings", () => {
  it('stores: a URL each, or empty for a private one', () => {
    expect(storesFromEnv({})).toEqual({ redisUrl: '', redisClusterNodes: '', databaseUrl: '' });
    expect(storesFromEnv({ REDIS_URL: 'redis://r:1' }).redisUrl).toBe('redis://r:1');
  });

  it('REDIS_CLUSTER_NODES: host:port seed nodes, comma-separated; anything else stops the start (issue 14)', () => {
    const nodes = 'redis-a:7000,10.0.0.2:7001';
    expect(storesFromEnv({ REDIS_CLUSTER_NODES: nodes }).redisClusterNodes).toBe(nodes);
    expect(loadConfig({ TEST_MODE: '1', REDIS_CLUSTER_NODES: nodes }).redisClusterNodes).toBe(nodes);
    for (const bad of ['redis-a', 'redis-a:7000,', 'redis-a:7000;redis-b:7001', 'redis-a :7000']) {
      expect(() => loadConfig({ TEST_MODE: '1', REDIS_CLUSTER_NODES: bad }), bad).toThrow(
        /^REDIS_CLUSTER_NODES must match/,
      );
    }
  });

  it('the baseline: DATABASE_URL required, its own PORT and HOST defaults', () => {
    expect(() => baselineConfig({})).toThrow(/^DATABASE_URL must be set$/);
    expect(baselineConfig({ DATABASE_URL: 'postgres://x' })).toMatchObject({
      port: DEFAULTS.baseline.port,
      host: DEFAULTS.baseline.host,
      poolSize: DEFAULTS.baseline.poolSize,
    });
    expect(() => baselineConfig({ DATABASE_URL: 'postgres://x', WORKERS: '0' })).toThrow(
      /^WORKERS must be ≥ 1$/,
    );
  });

  it('the k6 fixtures: ADMIN_TOKEN required, BASE_URL defaulted', () => {
    expect(() => k6FixturesConfig({})).toThrow(/^ADMIN_TOKEN must be set$/);
    expect(k6FixturesConfig({ ADMIN_TOKEN: 't' })).toEqual({
      baseUrl: DEFAULTS.k6Fixtures.baseUrl,
      adminToken: 't',
    });
  });

  it('PATH, SYSTEM_NODE_ARGS, and the environment handed to a child', () => {
    expect(searchPath({ PATH: '/a::/b' })).toEqual(['/a', '/b']);
    expect(searchPath({})).toEqual([]);
    expect(systemNodeArgs({ SYSTEM_NODE_ARGS: ' --cpu-prof  --x ' })).toEqual(['--cpu-prof', '--x']);
    expect(environmentWith({ PORT: '1' }, { PORT: '2', HOST: 'h' })).toEqual({ PORT: '1', HOST: 'h' });
  });
});
