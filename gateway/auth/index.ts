/**
 * Accounts and sessions (R1, R2) wired together for the gateway: one call builds the captcha,
 * SMS-code, session and account services over one Redis, one PostgreSQL pool and the shared worker
 * pool. TEST_MODE stays the gateway's decision: it passes `includeAnswer` / `includeCode` per call
 * and `revealSmsCodes` here.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Pool } from '../../db/pool.ts';
import { Accounts } from './accounts.ts';
import { Captchas } from './captcha.ts';
import { AuthKeys } from './keys.ts';
import { createAuthLogger } from './log.ts';
import { poolKdf, type KdfRunner, type PasswordKdf } from './passwords.ts';
import { Sessions } from './sessions.ts';
import { LogSmsSender, SmsCodes, type SmsSender } from './sms.ts';

export { Accounts, type AccountStatus, type ReadinessRefusal } from './accounts.ts';
export { Captchas } from './captcha.ts';
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
  /** Redis key namespace (default 'cet'). */
  readonly namespace?: string;
  readonly sessionLifetimeMs?: number;
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
  readonly sms: SmsCodes;
  readonly sessions: Sessions;
  readonly accounts: Accounts;
}

export function createAuthServices(options: AuthServicesOptions): AuthServices {
  const keys = new AuthKeys(options.namespace);
  const logger = options.logger ?? createAuthLogger();
  const { db, redis } = options;
  const captchas = new Captchas({ redis, keys });
  const sender =
    options.smsSender ?? new LogSmsSender({ logger, revealCode: options.revealSmsCodes ?? false });
  const sms = new SmsCodes({ redis, keys, sender });
  const sessions = new Sessions({
    db,
    redis,
    keys,
    ...(options.sessionLifetimeMs === undefined ? {} : { lifetimeMs: options.sessionLifetimeMs }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const kdf = options.kdf ?? poolKdf(options.workers);
  const accounts = new Accounts({ db, redis, kdf, captchas, sms, sessions, keys, logger });
  return { captchas, sms, sessions, accounts };
}
