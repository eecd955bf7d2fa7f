/**
 * SMS verification codes (R1: registration by phone, phone binding): 6 random digits kept in Redis
 * for a few minutes, single-use, a few wrong guesses allowed per code, and a per-phone send limit
 * (one per interval, a maximum per day) answered with RATE_LIMITED and the seconds to wait.
 * Sending goes through `SmsSender`; `LogSmsSender` stands in for a real SMS gateway and logs only
 * the masked phone (the code too, only when told to reveal it in TEST_MODE).
 * Each state change is one Lua script (gateway/auth/lua/), so concurrent sends cannot exceed a limit.
 */
import { randomInt } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ApiError } from '../errors.ts';
import { AuthKeys } from './keys.ts';
import { createAuthLogger, maskPhone } from './log.ts';
import { AUTH_SCRIPTS } from './scripts.ts';

/** Mainland China mobile numbers. */
export const PHONE_PATTERN = /^1[3-9]\d{9}$/;
const SMS_CODE = /^\d{6}$/;

export function isMobilePhone(value: unknown): value is string {
  return typeof value === 'string' && PHONE_PATTERN.test(value);
}

export interface SmsSender {
  send(phone: string, code: string): Promise<void>;
}

/** Logs "sent code to 138****1234" instead of sending; the code only when `revealCode` (TEST_MODE). */
export class LogSmsSender implements SmsSender {
  private readonly logger: Logger;
  private readonly revealCode: boolean;

  constructor(options: { logger?: Logger; revealCode?: boolean } = {}) {
    this.logger = options.logger ?? createAuthLogger();
    this.revealCode = options.revealCode ?? false;
  }

  async send(phone: string, code: string): Promise<void> {
    const to = maskPhone(phone);
    if (this.revealCode) {
      // `testSmsCode`, not `code`: the redaction list would (rightly) hide a field named code.
      this.logger.info({ to, testSmsCode: code }, `sent code to ${to} (TEST_MODE: code shown)`);
    } else {
      this.logger.info({ to }, `sent code to ${to}`);
    }
  }
}

export interface SmsCodesOptions {
  readonly redis: Redis | Cluster;
  readonly sender: SmsSender;
  readonly keys?: AuthKeys;
  /** How long a code stays valid (default 5 minutes). */
  readonly codeTtlMs?: number;
  /** Least time between two codes to one phone (default 60 s). */
  readonly minIntervalMs?: number;
  /** Codes per phone per day window (default 10). */
  readonly dailyLimit?: number;
  readonly dayWindowMs?: number;
  /** Wrong guesses before a code is thrown away (default 5). */
  readonly maxAttempts?: number;
}

export interface SentCode {
  readonly sent: true;
  /** Only when asked for (TEST_MODE). */
  readonly testCode?: string;
}

export class SmsCodes {
  private readonly redis: Redis | Cluster;
  private readonly sender: SmsSender;
  private readonly keys: AuthKeys;
  readonly codeTtlMs: number;
  readonly minIntervalMs: number;
  readonly dailyLimit: number;
  readonly dayWindowMs: number;
  readonly maxAttempts: number;

  constructor(options: SmsCodesOptions) {
    this.redis = options.redis;
    this.sender = options.sender;
    this.keys = options.keys ?? new AuthKeys();
    this.codeTtlMs = options.codeTtlMs ?? 5 * 60_000;
    this.minIntervalMs = options.minIntervalMs ?? 60_000;
    this.dailyLimit = options.dailyLimit ?? 10;
    this.dayWindowMs = options.dayWindowMs ?? 24 * 3_600_000;
    this.maxAttempts = options.maxAttempts ?? 5;
    AUTH_SCRIPTS.define(this.redis);
  }

  /** VALIDATION_FAILED for a malformed phone, RATE_LIMITED (details.retryAfterSeconds) past a limit. */
  async send(phone: unknown, options: { includeCode?: boolean } = {}): Promise<SentCode> {
    if (!isMobilePhone(phone)) throw new ApiError('VALIDATION_FAILED', { details: { field: 'phone' } });
    const code = String(randomInt(1_000_000)).padStart(6, '0');
    const keys = this.keys.sms(phone);
    const [stored, retryAfterMs] = (await AUTH_SCRIPTS.call(
      this.redis,
      'sendSmsCode',
      [keys.code, keys.interval, keys.daily],
      [code, this.codeTtlMs, this.minIntervalMs, this.dailyLimit, this.dayWindowMs],
    )) as [number, number];
    if (stored !== 1) {
      throw new ApiError('RATE_LIMITED', {
        details: { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) },
      });
    }
    try {
      await this.sender.send(phone, code);
    } catch (err) {
      // A code nobody received must not stay usable; the send still counts against the limits.
      await this.redis.del(keys.code);
      throw err;
    }
    return options.includeCode === true ? { sent: true, testCode: code } : { sent: true };
  }

  /** True once for the right, unexpired code; false for anything else (consumes attempts). */
  async consume(phone: unknown, code: unknown): Promise<boolean> {
    if (!isMobilePhone(phone) || typeof code !== 'string' || !SMS_CODE.test(code)) return false;
    const result = await AUTH_SCRIPTS.call(
      this.redis,
      'consumeSmsCode',
      [this.keys.sms(phone).code],
      [code, this.maxAttempts],
    );
    return result === 1;
  }
}
