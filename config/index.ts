/**
 * Configuration: the one reader of the environment. Each program asks here for its settings, read
 * by the one schema (config/schema.ts: every variable, its range and its default, the defaults
 * themselves in config/defaults.ts) and validated once at start; a bad value stops the process with
 * a ConfigError naming the variable. Nothing else in the product or its tools reads `process.env`:
 * a child process gets this one's environment through `environmentWith`. Every variable read here
 * is in the README's environment table (config/environment.test.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { delimiter } from 'node:path';
import type { Static } from '@sinclair/typebox';
import { DEFAULTS, defaultLaneThreads, defaultThreads } from './defaults.ts';
import { ConfigError, readVariables, validated, type Draft } from './read.ts';
import {
  BaselineSchema,
  IdKeysSchema,
  K6FixturesSchema,
  RuntimeSchema,
  StoresSchema,
  SystemSchema,
  type Config,
} from './schema.ts';

export { DEFAULTS, defaultLaneThreads, defaultThreads } from './defaults.ts';
export { ConfigError } from './read.ts';
export type { Config } from './schema.ts';

/** `npm start`'s settings (also the writer's, the sweeper's and reconcile's). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const draft = readVariables(SystemSchema, env);
  const cores = availableParallelism();
  draft.threads ??= defaultThreads(cores);
  draft.lanes.password.threads ??= defaultLaneThreads(cores).password;
  draft.adminTokenGenerated = draft.adminToken === undefined;
  draft.adminToken ??= randomBytes(24).toString('base64url');
  draft.paymentSecret ??= draft.testMode
    ? DEFAULTS.testModePaymentSecret
    : randomBytes(32).toString('base64url');
  draft.paymentSimulatorPort ??= draft.port === 0 ? 0 : (draft.port ?? DEFAULTS.port) + 1;
  // development ID keys outside NODE_ENV=production, or in TEST_MODE
  draft.idKeys = resolvedIdKeys(draft.idKeys, draft.testMode === true || draft.nodeEnv !== 'production');
  return validated(SystemSchema, draft);
}

/**
 * Why this configuration must not serve candidates (API.md "Running it"; issue 16 item 3): outside
 * TEST_MODE, the public development ID keys (anyone with the source decrypts the roster's ID
 * numbers) or a generated ADMIN_TOKEN (printed to a log, different on every start and on every
 * gateway). Empty when it may; `npm start` and the sweeper refuse to start otherwise.
 */
export function servingRefusals(config: Config): string[] {
  if (config.testMode) return [];
  const refusals: string[] = [];
  if (config.idKeys.development) {
    refusals.push('ID_HMAC_KEY and ID_ENCRYPTION_KEY must be set (the development keys are public)');
  }
  if (config.adminTokenGenerated) refusals.push('ADMIN_TOKEN must be set');
  return refusals;
}

// ------------------------------------------------------------------------------ ID keys

type IdKeySettings = Static<typeof IdKeysSchema>;

/** The ID keys as the engine uses them (engine/idCrypto.ts `IdKeys`). */
export interface IdKeyBuffers {
  readonly hmacKey: Buffer;
  readonly encryptionKey: Buffer;
  /** The fixed development keys stand in: never for real data. */
  readonly development: boolean;
}

function keyHex(value: string, name: string): string {
  const key = /^[0-9a-f]{64}$/i.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (key.length !== 32) throw new ConfigError(`${name} must be 32 bytes (64 hex characters or base64)`);
  return key.toString('hex');
}

function developmentKeyHex(purpose: string): string {
  return createHash('sha256').update(`cet-engine development ${purpose} key`).digest('hex');
}

function resolvedIdKeys(draft: Draft<IdKeySettings>, allowDevelopmentKeys: boolean): IdKeySettings {
  if (draft.hmacKey !== undefined && draft.encryptionKey !== undefined) {
    const hmacKey = keyHex(draft.hmacKey, 'ID_HMAC_KEY');
    const encryptionKey = keyHex(draft.encryptionKey, 'ID_ENCRYPTION_KEY');
    // the development keys typed in by hand are still the development keys: their phrases are public
    const development =
      hmacKey === developmentKeyHex('hmac') || encryptionKey === developmentKeyHex('encryption');
    if (development && !allowDevelopmentKeys) {
      throw new ConfigError('ID_HMAC_KEY / ID_ENCRYPTION_KEY are the public development keys');
    }
    return { hmacKey, encryptionKey, development };
  }
  if (!allowDevelopmentKeys) throw new ConfigError('ID_HMAC_KEY and ID_ENCRYPTION_KEY must be set');
  return {
    hmacKey: developmentKeyHex('hmac'),
    encryptionKey: developmentKeyHex('encryption'),
    development: true,
  };
}

/** A key's own 32 bytes: never a view into Node's shared buffer pool, whose whole slab a thread hop would copy. */
function keyBuffer(hex: string): Buffer {
  const key = Buffer.allocUnsafeSlow(32);
  key.write(hex, 'hex');
  return key;
}

/** The configured keys as buffers (a Config crosses to app threads as plain data, so it holds hex). */
export function idKeysOf(keys: IdKeySettings): IdKeyBuffers {
  return {
    hmacKey: keyBuffer(keys.hmacKey),
    encryptionKey: keyBuffer(keys.encryptionKey),
    development: keys.development,
  };
}

/**
 * The ID keys alone, for tools and workers: ID_HMAC_KEY / ID_ENCRYPTION_KEY, or the development
 * keys when `allowDevelopmentKeys` (tests, demos, `--dev-keys`) and either is missing.
 */
export function idKeysFromEnv(options: {
  readonly allowDevelopmentKeys: boolean;
  readonly env?: NodeJS.ProcessEnv;
}): IdKeyBuffers {
  const draft = readVariables(IdKeysSchema, options.env ?? process.env);
  return idKeysOf(validated(IdKeysSchema, resolvedIdKeys(draft, options.allowDevelopmentKeys)));
}

// ------------------------------------------------------------------------------ tools

/** REDIS_URL / DATABASE_URL; '' where the tool is to start a private one (devstack). */
export function storesFromEnv(env: NodeJS.ProcessEnv = process.env): Static<typeof StoresSchema> {
  return validated(StoresSchema, readVariables(StoresSchema, env));
}

/** `npm run baseline`: DATABASE_URL (required), PORT, HOST, WORKERS, POOL_SIZE. */
export function baselineConfig(env: NodeJS.ProcessEnv = process.env): Static<typeof BaselineSchema> {
  const draft = readVariables(BaselineSchema, env);
  draft.databaseUrl ??= '';
  draft.workers ??= availableParallelism();
  return validated(BaselineSchema, draft);
}

/** scripts/k6-fixtures.ts: BASE_URL and ADMIN_TOKEN (required) of the gateway it prepares. */
export function k6FixturesConfig(env: NodeJS.ProcessEnv = process.env): Static<typeof K6FixturesSchema> {
  const draft = readVariables(K6FixturesSchema, env);
  draft.adminToken ??= '';
  return validated(K6FixturesSchema, draft);
}

/** PATH, SYSTEM_NODE_ARGS, NODE_OPTIONS: what the tools read of the environment they run in. */
export function runtimeFromEnv(env: NodeJS.ProcessEnv = process.env): Static<typeof RuntimeSchema> {
  return validated(RuntimeSchema, readVariables(RuntimeSchema, env));
}

/** The directories of PATH, in order. */
export function searchPath(env: NodeJS.ProcessEnv = process.env): string[] {
  return runtimeFromEnv(env)
    .path.split(delimiter)
    .filter((dir) => dir !== '');
}

/** SYSTEM_NODE_ARGS as Node flags (space-separated). */
export function systemNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  return runtimeFromEnv(env).systemNodeArgs.split(' ').filter(Boolean);
}

/**
 * This process's environment (or `base`) with `overrides`: what a child process gets, or a system
 * started in this process with settings of its own (gateway/system.ts). Reads no variable itself.
 */
export function environmentWith(
  overrides: NodeJS.ProcessEnv = {},
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return { ...base, ...overrides };
}
