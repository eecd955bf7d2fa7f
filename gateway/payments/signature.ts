/**
 * How the gateway and a payment provider authenticate each other's messages (R23): Alipay's
 * canonical string (the parameters sorted by name, `sign` and `sign_type` left out, `k=v` joined
 * by `&`) signed with HMAC-SHA256 and sent base64-encoded in `sign`, with `sign_type=HMAC-SHA256`
 * (the scheme of WeChat Pay v2 and most bank gateways; Alipay's RSA2 differs only in the primitive).
 *
 * Why HMAC and not RSA2: the one thing a signature must stop is a forged or altered notification
 * arriving from the network, and HMAC-SHA256 under a secret of ≥ 16 characters (config
 * `paymentSecret`, validated at start) stops it as well as RSA2 does. RSA2's extra property, a
 * verifier that cannot sign, buys nothing here: whoever reads the gateway's secret also holds its
 * Redis and could mark orders paid without any notification. HMAC needs no key pair to generate,
 * pass to every app thread and rotate, and costs microseconds per notification instead of an RSA
 * verification. The keys are derived per purpose and provider from the one secret, so a payment
 * link's signature can never pass as a notification's, nor a bank notification as Alipay's.
 *
 * Verification is constant-time (timingSafeEqual over fixed-length digests). This module never
 * logs, and never puts a key or an expected signature in an error.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const PAYMENT_PROVIDERS = ['alipay', 'bank'] as const;
export type PaymentProvider = (typeof PAYMENT_PROVIDERS)[number];
export type PaymentMethod = 'ALIPAY' | 'BANK';

export function isPaymentProvider(value: string): value is PaymentProvider {
  return (PAYMENT_PROVIDERS as readonly string[]).includes(value);
}

export function providerOf(method: string): PaymentProvider | null {
  if (method === 'ALIPAY') return 'alipay';
  if (method === 'BANK') return 'bank';
  return null;
}

export const SIGN_TYPE = 'HMAC-SHA256';
const DIGEST_BYTES = 32;
const SIGNATURE_FIELDS: ReadonlySet<string> = new Set(['sign', 'sign_type']);

/** What a key signs: provider → gateway notifications, gateway → provider payment links. */
export type SigningPurpose = 'notify' | 'pay-link';

export function deriveKey(secret: string, purpose: SigningPurpose, provider: PaymentProvider): Buffer {
  return createHmac('sha256', secret).update(`cet-payments/v1/${purpose}/${provider}`).digest();
}

/** Alipay's string to sign: every parameter but `sign` and `sign_type`, sorted by name. */
export function canonicalString(params: Readonly<Record<string, string>>): string {
  return Object.keys(params)
    .filter((name) => !SIGNATURE_FIELDS.has(name))
    .sort()
    .map((name) => `${name}=${params[name]}`)
    .join('&');
}

export function sign(params: Readonly<Record<string, string>>, key: Buffer): string {
  return createHmac('sha256', key).update(canonicalString(params), 'utf8').digest('base64');
}

/**
 * True when `signature` (base64, as received) is the signature of `params` under `key`. The
 * caller has already checked that `params` holds exactly the expected fields, each well-formed:
 * with values free of `&` and `=`, distinct parameter sets never share a canonical string.
 */
export function verify(params: Readonly<Record<string, string>>, signature: string, key: Buffer): boolean {
  const given = Buffer.from(signature, 'base64');
  // strict base64 of exactly one digest: no padding tricks, no trailing garbage
  if (given.length !== DIGEST_BYTES || given.toString('base64') !== signature) return false;
  const expected = createHmac('sha256', key).update(canonicalString(params), 'utf8').digest();
  return timingSafeEqual(given, expected);
}

/** Amounts travel as yuan with two decimals ("80.00"), as Alipay's total_amount does. */
export function formatAmount(yuan: number): string {
  return yuan.toFixed(2);
}

export const AMOUNT_PATTERN = /^(0|[1-9][0-9]{0,8})\.[0-9]{2}$/;
export const ORDER_ID_PATTERN = /^[0-9]{2}-[A-Za-z0-9_-]{1,64}$/;
