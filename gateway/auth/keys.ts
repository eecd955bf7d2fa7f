/**
 * The one place that names the Redis keys of accounts and sessions. Every operation touches one
 * key, except SMS sending (code, last-sent and daily counter), whose keys share the phone as hash
 * tag so its script runs unchanged on Redis Cluster, and a session, whose token hash is the hash tag
 * of its rate-limit counters (gateway/auth/sessions.ts `authorize`). Keys never hold a password or a token: a
 * session is keyed by the SHA-256 of its token.
 */

export interface SmsKeys {
  /** The pending code and its failed-attempt count (a hash). */
  readonly code: string;
  /** Present while the phone may not be sent another code (minimum interval). */
  readonly interval: string;
  /** Codes sent in the current day window. */
  readonly daily: string;
}

export class AuthKeys {
  /** `namespace` separates deployments and test runs sharing one Redis (no `{` or `}` in it). */
  constructor(readonly namespace = 'cet') {
    if (!/^[A-Za-z0-9_.:-]+$/.test(namespace)) throw new Error(`invalid key namespace: ${namespace}`);
  }

  captcha(captchaId: string): string {
    return `${this.namespace}:auth:captcha:${captchaId}`;
  }

  /** `phone` must already match PHONE_PATTERN (digits only, so safe inside a hash tag). */
  sms(phone: string): SmsKeys {
    const base = `${this.namespace}:auth:sms:{${phone}}`;
    return { code: `${base}:code`, interval: `${base}:interval`, daily: `${base}:daily` };
  }

  /** The hash is the key's hash tag: the session's rate-limit counters share its cluster slot. */
  session(tokenHashHex: string): string {
    return `${this.namespace}:auth:session:{${tokenHashHex}}`;
  }

  /** Set once an account has a bound phone and the accepted agreement (both are permanent). */
  registrationReady(accountId: string): string {
    return `${this.namespace}:auth:ready:${accountId}`;
  }
}
