/**
 * Logging for accounts and sessions: a pino logger that redacts personal data and secrets by field
 * name wherever they appear, and the masks used when a message must say which phone it was about.
 * Callers still log ids and outcomes only; redaction is the safety net, not the plan.
 */
import { pino, type Logger } from 'pino';
import { LOG_SERIALIZERS } from '../logRedaction.ts';

/** Field names that may hold personal data or secrets, at the top level and one level down. */
const SENSITIVE = [
  'password',
  'passwordHash',
  'phone',
  'email',
  'login',
  'code',
  'smsCode',
  'captchaAnswer',
  'testAnswer',
  'testCode',
  'token',
  'authorization',
];

export const REDACT_PATHS: string[] = SENSITIVE.flatMap((field) => [field, `*.${field}`]);

export function createAuthLogger(
  options: { level?: string; destination?: NodeJS.WritableStream } = {},
): Logger {
  const config = {
    name: 'auth',
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: LOG_SERIALIZERS,
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}

/** `13812341234` → `138****1234`. */
export function maskPhone(phone: string): string {
  if (phone.length < 7) return '*'.repeat(phone.length);
  return `${phone.slice(0, 3)}${'*'.repeat(phone.length - 7)}${phone.slice(-4)}`;
}
