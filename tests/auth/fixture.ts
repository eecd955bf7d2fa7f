/**
 * Auth test fixtures: a fresh migrated database, a Redis namespace of its own (deleted after), a
 * small worker pool, a KDF wrapper that counts and records every call, a drivable clock, and a log
 * capture so tests can prove what was (not) logged.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createPool, type Pool } from '../../db/pool.ts';
import { migrate } from '../../db/migrate.ts';
import { Accounts } from '../../gateway/auth/accounts.ts';
import { Captchas } from '../../gateway/auth/captcha.ts';
import { authSecretsOf } from '../../gateway/auth/index.ts';
import { AuthKeys } from '../../gateway/auth/keys.ts';
import { createAuthLogger } from '../../gateway/auth/log.ts';
import { LoginFailures } from '../../gateway/auth/loginFailures.ts';
import { poolKdf, type PasswordKdf } from '../../gateway/auth/passwords.ts';
import { Sessions } from '../../gateway/auth/sessions.ts';
import { LogSmsSender, SmsCodes } from '../../gateway/auth/sms.ts';
import { WorkerPool } from '../../gateway/workers/pool.ts';
import { UNHURRIED_LANES } from '../support/lanes.ts';
import { freshDatabase } from '../support/pg.ts';
import { redisUrl } from '../support/env.ts';
import { removeNamespace } from '../support/redis.ts';

const silent = { error() {}, warn() {}, info() {} };

export interface CountingKdf extends PasswordKdf {
  readonly calls: { hash: number; verify: number };
  /** The stored hashes verify() was given, in order. */
  readonly verifiedHashes: string[];
}

export function countingKdf(inner: PasswordKdf): CountingKdf {
  const calls = { hash: 0, verify: 0 };
  const verifiedHashes: string[] = [];
  return {
    calls,
    verifiedHashes,
    async hash(password) {
      calls.hash++;
      return inner.hash(password);
    },
    async verify(storedHash, password) {
      calls.verify++;
      verifiedHashes.push(storedHash);
      return inner.verify(storedHash, password);
    },
  };
}

export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.lines.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== ''),
    );
    callback();
  }
  /** The log lines without pino's `time` and `pid` (digits there could match a code by chance). */
  get text(): string {
    return this.lines
      .map((line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        delete entry.time;
        delete entry.pid;
        return JSON.stringify(entry);
      })
      .join('\n');
  }
}

export interface AuthFixture {
  readonly db: Pool;
  readonly redis: Redis;
  readonly keys: AuthKeys;
  readonly workers: WorkerPool;
  readonly kdf: CountingKdf;
  readonly logs: LogCapture;
  /** Writes to `logs`. */
  readonly logger: Logger;
  readonly captchas: Captchas;
  /** The key the captchas are signed with. */
  readonly captchaHmacKey: Buffer;
  readonly loginFailures: LoginFailures;
  readonly sms: SmsCodes;
  readonly sessions: Sessions;
  readonly accounts: Accounts;
  /** The services' clock (ms); tests move it. */
  readonly clock: { now: number };
  close(): Promise<void>;
}

export async function newAuthFixture(options: { threads?: number } = {}): Promise<AuthFixture> {
  const database = await freshDatabase();
  const db = createPool(database.url, { max: 4, applicationName: 'tests:auth', logger: silent });
  await migrate(db);
  const namespace = `t${randomBytes(5).toString('hex')}`;
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const keys = new AuthKeys(namespace);
  const workers = new WorkerPool({ threads: options.threads ?? 1, lanes: UNHURRIED_LANES });
  const kdf = countingKdf(poolKdf(workers));
  const logs = new LogCapture();
  const logger = createAuthLogger({ destination: logs });
  const clock = { now: Date.now() };
  const now = (): number => clock.now;
  const { captchaHmacKey, loginDigestKey } = authSecretsOf(randomBytes(32));
  const captchas = new Captchas({ redis, keys, hmacKey: captchaHmacKey });
  const loginFailures = new LoginFailures({ redis, keys, loginDigestKey });
  const sms = new SmsCodes({ redis, keys, sender: new LogSmsSender({ logger }) });
  const sessions = new Sessions({ db, redis, keys, now });
  const accounts = new Accounts({ db, redis, kdf, captchas, loginFailures, sms, sessions, keys, logger });
  return {
    db,
    redis,
    keys,
    workers,
    kdf,
    logs,
    logger,
    captchas,
    captchaHmacKey,
    loginFailures,
    sms,
    sessions,
    accounts,
    clock,
    async close() {
      await workers.close();
      await removeNamespace(redis, namespace);
      redis.disconnect();
      await db.end();
      await database.drop();
    },
  };
}

let phoneCounter = 0;
/** A distinct valid mainland mobile number per call (per process). */
export function uniquePhone(): string {
  phoneCounter++;
  const suffix = String((process.pid * 1000 + phoneCounter) % 100_000_000).padStart(8, '0');
  return `139${suffix}`;
}

/** Sends a code to `phone` through `sms` and returns it (as TEST_MODE would). */
export async function smsCodeFor(sms: SmsCodes, phone: string): Promise<string> {
  const sent = await sms.send(phone, { includeCode: true });
  if (sent.testCode === undefined) throw new Error('no test code returned');
  return sent.testCode;
}

/** A fresh captcha and its answer. */
export async function solvedCaptcha(
  captchas: Captchas,
): Promise<{ captchaId: string; captchaAnswer: string }> {
  const issued = await captchas.issue({ includeAnswer: true });
  if (issued.testAnswer === undefined) throw new Error('no test answer returned');
  return { captchaId: issued.captchaId, captchaAnswer: issued.testAnswer };
}
