/**
 * Accounts and sessions (R1, R2) wired together for the gateway: one call builds the captcha,
 * login-failure, SMS-code, session and account services over one Redis, one PostgreSQL pool and
 * the shared worker pool, their keys derived from one deployment secret. TEST_MODE stays the
 * gateway's decision: it passes `includeAnswer` / `includeCode` per call and `revealSmsCodes` here.
 */
import { hkdfSync } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Pool } from '../../db/pool.ts';
import { Accounts } from './accounts.ts';
import { Captchas } from './captcha.ts';
import { AuthKeys } from './keys.ts';
import { createAuthLogger } from './log.ts';
import { LoginFailures } from './loginFailures.ts';
import { poolKdf, type KdfRunner, type PasswordKdf } from './passwords.ts';
import { Sessions } from './sessions.ts';
import { LogSmsSender, SmsCodes, type SmsSender } from './sms.ts';

export { Accounts, type AccountStatus, type ReadinessRefusal } from './accounts.ts';
export { Captchas, type CaptchaChallenge } from './captcha.ts';
export { LOGIN_FAILURES_RULE, LoginFailures } from './loginFailures.ts';
export { AuthKeys } from './keys.ts';
export {
  DUMMY_HASH,
  KDF_PARAMS,
  hashPassword,
  verifyPassword,
  type KdfRunner,
  type PasswordKdf,
} from './passwords.ts';
export { Sessions, type Session } from './sessions.ts';
export { LogSmsSender, PHONE_PATTERN, SmsCodes, type SmsSender } from './sms.ts';

export interface AuthServicesOptions {
  readonly db: Pool;
  readonly redis: Redis | Cluster;
  /** The shared worker pool, or a proxy to it (gateway app threads). */
  readonly workers: KdfRunner;
  /**
   * The deployment secret the captcha's signing key and the login-failure digest key are derived
   * from (`authSecretsOf`; the gateway passes its ID encryption key): the same on every gateway.
   */
  readonly secret: Uint8Array;
  /** The captcha's proof of work: numbers 0…captchaMaxNumber (default DEFAULTS.captchaMaxNumber). */
  readonly captchaMaxNumber?: number;
  /** Redis key namespace (default 'cet'). */
  readonly namespace?: string;
  readonly sessionLifetimeMs?: number;
  /** SESSION_CACHE_MS: how long a live session is answered from memory (default 0: never). */
  readonly sessionCacheMs?: number;
  /** Defaults to LogSmsSender (no real SMS gateway yet). */
  readonly smsSender?: SmsSender;
  /** TEST_MODE only: LogSmsSender logs the codes it "sends". */
  readonly revealSmsCodes?: boolean;
  readonly kdf?: PasswordKdf;
  readonly logger?: Logger;
  readonly now?: () => number;
}

export interface AuthServices {
  readonly captchas: Captchas;
  readonly loginFailures: LoginFailures;
  readonly sms: SmsCodes;
  readonly sessions: Sessions;
  readonly accounts: Accounts;
}

/** The auth module's keys, each derived (HKDF-SHA-256) from the deployment secret for one purpose. */
export function authSecretsOf(secret: Uint8Array): { captchaHmacKey: Buffer; loginDigestKey: Buffer } {
  const derive = (purpose: string): Buffer =>
    Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), purpose, 32));
  return {
    captchaHmacKey: derive('cet/captcha-signature/v1'),
    loginDigestKey: derive('cet/login-digest/v1'),
  };
}

export function createAuthServices(options: AuthServicesOptions): AuthServices {
  const keys = new AuthKeys(options.namespace);
  const logger = options.logger ?? createAuthLogger();
  const { db, redis } = options;
  const { captchaHmacKey, loginDigestKey } = authSecretsOf(options.secret);
  const captchas = new Captchas({
    redis,
    keys,
    hmacKey: captchaHmacKey,
    ...(options.captchaMaxNumber === undefined ? {} : { maxNumber: options.captchaMaxNumber }),
  });
  const loginFailures = new LoginFailures({ redis, keys, loginDigestKey });
  const sender =
    options.smsSender ?? new LogSmsSender({ logger, revealCode: options.revealSmsCodes ?? false });
  const sms = new SmsCodes({ redis, keys, sender });
  const sessions = new Sessions({
    db,
    redis,
    keys,
    ...(options.sessionLifetimeMs === undefined ? {} : { lifetimeMs: options.sessionLifetimeMs }),
    ...(options.sessionCacheMs === undefined ? {} : { cacheMs: options.sessionCacheMs }),
    onCacheError: (error) => logger.warn({ err: error }, 'session cache: subscriber connection error'),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const kdf = options.kdf ?? poolKdf(options.workers);
  const accounts = new Accounts({ db, redis, kdf, captchas, loginFailures, sms, sessions, keys, logger });
  return { captchas, loginFailures, sms, sessions, accounts };
}
