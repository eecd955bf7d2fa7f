/**
 * Login captchas (R1; issue 16 item 1): an ALTCHA proof of work (altcha-lib's SHA-256 challenge),
 * not a picture. A drawn captcha was read by a program (svg-captcha's glyphs: a lookup table solved
 * 300 of 300); here the answer is a secret number n drawn with crypto randomness from 0…maxNumber,
 * and the client gets only `challenge` = SHA-256(salt + n), the salt and the server's signature:
 * the one way to n is to hash candidate numbers until one matches, about maxNumber / 2 hashes (a
 * browser's worker does it in 0.05–0.5 s). This does not tell people from programs: it prices
 * every login attempt in client CPU instead of server argon2id, and the per-login failure backoff
 * (loginFailures.ts) is what stops guessing. n is kept in Redis under the captcha's id for a few
 * minutes; every answer is single-use: checking it deletes it (GETDEL), right or wrong, so a
 * captcha cannot be replayed or guessed twice. `image` (API.md) stays: the same informational
 * badge for every captcha, showing no secret. In TEST_MODE the gateway asks for n alongside
 * (`includeAnswer`, as `testAnswer`); otherwise it never leaves this module.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { createChallenge } from 'altcha-lib/v1';
import { DEFAULTS } from '../../config/defaults.ts';
import { AuthKeys } from './keys.ts';

const CAPTCHA_ID = /^[A-Za-z0-9_-]{22}$/;
/** A number as a client sends the one it found: decimal digits only. */
const NUMBER_ANSWER = /^[0-9]{1,16}$/;

/** The `image` of every captcha: what the check is, never anything of its answer. */
const BADGE_SVG = [
  '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="56" viewBox="0 0 240 56" role="img"',
  ' aria-label="Proof-of-work check: your browser computes it">',
  '<rect width="240" height="56" rx="8" fill="#f3f4f6"/>',
  '<text x="120" y="24" text-anchor="middle" font-family="sans-serif" font-size="14" fill="#111827">',
  'Proof-of-work check</text>',
  '<text x="120" y="43" text-anchor="middle" font-family="sans-serif" font-size="12" fill="#4b5563">',
  'your browser computes it</text></svg>',
].join('');
const BADGE_IMAGE = `data:image/svg+xml;base64,${Buffer.from(BADGE_SVG).toString('base64')}`;

/** ALTCHA's challenge (v1 format): find n in 0…maxnumber with SHA-256(salt + n) = challenge. */
export interface CaptchaChallenge {
  readonly algorithm: 'SHA-256';
  /** Lower-case hex SHA-256 of `salt` followed by n in decimal. */
  readonly challenge: string;
  /** Random hex, then ALTCHA's `?expires=<unix seconds>&`. */
  readonly salt: string;
  /** HMAC-SHA-256 of `challenge` under the server's key (ALTCHA's payload carries it back). */
  readonly signature: string;
  readonly maxnumber: number;
}

export interface CaptchaOptions {
  readonly redis: Redis | Cluster;
  readonly keys?: AuthKeys;
  /** Signs the challenges: a deployment secret, the same on every thread and gateway. */
  readonly hmacKey: Uint8Array;
  /** How long an answer stays valid (default 5 minutes). */
  readonly ttlSeconds?: number;
  /** The secret number is drawn from 0…maxNumber (default DEFAULTS.captchaMaxNumber). */
  readonly maxNumber?: number;
}

export interface IssuedCaptcha {
  readonly captchaId: string;
  /** `data:image/svg+xml;base64,...`: informational, the same for every captcha. */
  readonly image: string;
  readonly challenge: CaptchaChallenge;
  /** Only when asked for (TEST_MODE): n, in decimal. */
  readonly testAnswer?: string;
}

export class Captchas {
  private readonly redis: Redis | Cluster;
  private readonly keys: AuthKeys;
  private readonly hmacKey: string;
  readonly ttlSeconds: number;
  readonly maxNumber: number;

  constructor(options: CaptchaOptions) {
    this.redis = options.redis;
    this.keys = options.keys ?? new AuthKeys();
    this.hmacKey = Buffer.from(options.hmacKey).toString('hex');
    this.ttlSeconds = options.ttlSeconds ?? 300;
    this.maxNumber = options.maxNumber ?? DEFAULTS.captchaMaxNumber;
  }

  async issue(options: { includeAnswer?: boolean } = {}): Promise<IssuedCaptcha> {
    const secret = randomInt(0, this.maxNumber + 1);
    const captchaId = randomBytes(16).toString('base64url');
    const made = await createChallenge({
      algorithm: 'SHA-256',
      hmacKey: this.hmacKey,
      maxnumber: this.maxNumber,
      number: secret,
      expires: new Date(Date.now() + this.ttlSeconds * 1000),
    });
    await this.redis.set(this.keys.captcha(captchaId), String(secret), 'EX', this.ttlSeconds);
    const challenge: CaptchaChallenge = {
      algorithm: 'SHA-256',
      challenge: made.challenge,
      salt: made.salt,
      signature: made.signature,
      maxnumber: this.maxNumber,
    };
    const issued = { captchaId, image: BADGE_IMAGE, challenge };
    return options.includeAnswer === true ? { ...issued, testAnswer: String(secret) } : issued;
  }

  /**
   * True when `answer` is the captcha's number (decimal, surrounding spaces ignored). The captcha
   * is consumed whatever the outcome; unknown, expired and malformed ids are simply false.
   */
  async verify(captchaId: unknown, answer: unknown): Promise<boolean> {
    if (typeof captchaId !== 'string' || !CAPTCHA_ID.test(captchaId)) return false;
    const expected = await this.redis.getdel(this.keys.captcha(captchaId));
    if (expected === null || typeof answer !== 'string') return false;
    const given = answer.trim();
    return NUMBER_ANSWER.test(given) && Number(given) === Number(expected);
  }

  /**
   * Puts a correctly answered captcha back, for a login shed before its password was checked (the
   * KDF lane was full): the client's retry with the same captcha is then not refused. No password
   * guess was spent on it, so this gives a guesser nothing; only a right answer is put back.
   */
  async reinstate(captchaId: string, answer: string): Promise<void> {
    const given = answer.trim();
    if (!CAPTCHA_ID.test(captchaId) || !NUMBER_ANSWER.test(given)) return;
    await this.redis.set(this.keys.captcha(captchaId), String(Number(given)), 'EX', this.ttlSeconds, 'NX');
  }
}
