/**
 * Login captchas (R1): a challenge image (SVG, characters drawn as distorted glyph paths over noise
 * curves by svg-captcha — no <text> element a bot could read) returned as a data URL, and its
 * answer kept in Redis for a few minutes. Every answer is single-use: checking it deletes it
 * (GETDEL), right or wrong, so a captcha cannot be replayed or guessed twice. The answer is drawn
 * with crypto randomness here (svg-captcha's own text uses Math.random). In TEST_MODE the gateway
 * asks for the answer alongside (`includeAnswer`); otherwise it never leaves this module.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import svgCaptcha from 'svg-captcha';
import { AuthKeys } from './keys.ts';

/** No 0/O, 1/I/L, and no G/Q (drawn lower-case they pass for 9): only unambiguous shapes. */
const ALPHABET = '23456789ABCDEFHJKMNPRSTUVWXYZ';
const CAPTCHA_ID = /^[A-Za-z0-9_-]{22}$/;

interface RenderOptions {
  width: number;
  height: number;
  fontSize: number;
  noise: number;
  color: boolean;
  background: string;
}
/** svg-captcha's default export renders a given text; its typings declare only `create`. */
type RenderSvg = (text: string, options: RenderOptions) => string;

const renderSvg: RenderSvg = (() => {
  const render: unknown = svgCaptcha;
  if (typeof render !== 'function') throw new Error('svg-captcha: default export is not a render function');
  return render as RenderSvg;
})();

export interface CaptchaOptions {
  readonly redis: Redis | Cluster;
  readonly keys?: AuthKeys;
  /** How long an answer stays valid (default 5 minutes). */
  readonly ttlSeconds?: number;
  /** Characters per challenge (default 5). */
  readonly length?: number;
}

export interface IssuedCaptcha {
  readonly captchaId: string;
  /** `data:image/svg+xml;base64,...` */
  readonly image: string;
  /** Only when asked for (TEST_MODE). */
  readonly testAnswer?: string;
}

export class Captchas {
  private readonly redis: Redis | Cluster;
  private readonly keys: AuthKeys;
  readonly ttlSeconds: number;
  readonly length: number;

  constructor(options: CaptchaOptions) {
    this.redis = options.redis;
    this.keys = options.keys ?? new AuthKeys();
    this.ttlSeconds = options.ttlSeconds ?? 300;
    this.length = options.length ?? 5;
  }

  async issue(options: { includeAnswer?: boolean } = {}): Promise<IssuedCaptcha> {
    const answer = Array.from({ length: this.length }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
    const captchaId = randomBytes(16).toString('base64url');
    await this.redis.set(this.keys.captcha(captchaId), answer, 'EX', this.ttlSeconds);
    const svg = renderSvg(drawnForm(answer), {
      width: 160,
      height: 56,
      fontSize: 54,
      noise: 4,
      color: true,
      background: '#f3f4f6',
    });
    const image = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
    return options.includeAnswer === true ? { captchaId, image, testAnswer: answer } : { captchaId, image };
  }

  /**
   * True when `answer` matches (case-insensitively, surrounding spaces ignored). The captcha is
   * consumed whatever the outcome; unknown, expired and malformed ids are simply false.
   */
  async verify(captchaId: unknown, answer: unknown): Promise<boolean> {
    if (typeof captchaId !== 'string' || !CAPTCHA_ID.test(captchaId)) return false;
    const expected = await this.redis.getdel(this.keys.captcha(captchaId));
    if (expected === null || typeof answer !== 'string') return false;
    return answer.trim().toUpperCase() === expected;
  }

  /**
   * Puts a correctly answered captcha back, for a login shed before its password was checked (the
   * KDF lane was full): the client's retry with the same captcha is then not refused. No password
   * guess was spent on it, so this gives a guesser nothing; only a right answer is put back.
   */
  async reinstate(captchaId: string, answer: string): Promise<void> {
    if (!CAPTCHA_ID.test(captchaId)) return;
    await this.redis.set(
      this.keys.captcha(captchaId),
      answer.trim().toUpperCase(),
      'EX',
      this.ttlSeconds,
      'NX',
    );
  }
}

/** Letters drawn in random case: harder to read by template, and the compare ignores case. */
function drawnForm(answer: string): string {
  return [...answer].map((ch) => (randomInt(2) === 0 ? ch.toLowerCase() : ch)).join('');
}
