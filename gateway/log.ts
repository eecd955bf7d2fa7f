/**
 * The gateway's logger: structured JSON (pino) with personal data and secrets redacted by field
 * name wherever they appear (ID numbers, names, phones, emails, passwords, codes, tokens). Callers
 * log ids and outcomes only; redaction is the safety net. Errors go through gateway/logRedaction.ts
 * (an allowlist of their fields, personal data scrubbed from message and stack).
 */
import { pino, type Logger } from 'pino';
import { REDACT_PATHS } from './auth/log.ts';
import { LOG_SERIALIZERS } from './logRedaction.ts';

const IDENTITY_FIELDS = ['idNumber', 'name', 'ticketNumber'];

export const GATEWAY_REDACT_PATHS = [
  ...REDACT_PATHS,
  ...IDENTITY_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
  'req.headers.authorization',
];

export function createLogger(
  options: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {},
): Logger {
  // no pino `name`: 'name' is a redacted field (a candidate's name)
  const config = {
    base: { component: options.name ?? 'gateway' },
    level: options.level ?? 'info',
    redact: { paths: GATEWAY_REDACT_PATHS, censor: '[redacted]' },
    // errors by value: what ioredis and pg attach to them (arguments, detail) never reaches a line
    serializers: LOG_SERIALIZERS,
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}
