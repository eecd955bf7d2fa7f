/**
 * Redaction by value for logged errors (issue 16 item 5). Field-name redaction (gateway/log.ts,
 * gateway/auth/log.ts) cannot see what libraries attach to an error: ioredis puts a failed
 * command's arguments on `error.command.args` (keys and values: phones, names, codes), PostgreSQL
 * quotes the offending row in `detail`, `where` and sometimes the message itself. So every logger
 * of the product serializes errors here: an allowlist of fields that describe the failure (type,
 * message, stack, code / SQLSTATE, the command's name, pg's table / constraint / routine), never
 * arguments, `detail`, `where`, parameters, queries or an ApiError's details; and the message and
 * stack scrubbed of values that look like personal data. This module must stay free of I/O.
 */
import type { Logger } from 'pino';
import type { WriterOptions } from '../db/writer.ts';
import { MissingDependencyError } from '../db/sql/projectionErrors.ts';

const REDACTED = '[redacted]';

/** Nested causes (and an AggregateError's errors) are followed this deep, then dropped. */
const MAX_DEPTH = 3;
const MAX_AGGREGATED = 5;
const MAX_MESSAGE = 2_000;
const MAX_STACK = 8_000;
const MAX_FIELD = 128;

/**
 * Patterns of personal data, applied to free text (an error's message and stack). Bounded by
 * digits on both sides, so longer numbers (timestamps in ms, stream ids, ports, row ids) are left
 * alone; a 6-digit number is taken for an SMS code only right after a word that says so.
 */
const SCRUBS: readonly (readonly [RegExp, string])[] = [
  // resident ID numbers: 17 digits and a check digit or X
  [/(?<!\d)\d{17}[\dXx](?![\dA-Za-z])/g, REDACTED],
  // mainland mobile numbers, with or without +86
  [/(?<![\d+])(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)/g, REDACTED],
  // SMS and captcha codes, only where the text says it is one ("code 123456", "验证码：123456")
  [/((?:code|验证码|otp)(?:\s+is)?[\s"'=:：]{0,4})\d{6}(?!\d)/gi, `$1${REDACTED}`],
  // email addresses (a login); the domain must end in letters, so `pkg@1.2.3` stays
  [/[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b/g, REDACTED],
  // Han text: messages of this product and its libraries are English, so Chinese text in one is
  // data echoed back (a candidate's name, with the dot of a transliterated name)
  [/\p{Script=Han}[\p{Script=Han}·・•]*/gu, REDACTED],
];

/** `text` with values that look like personal data replaced by `[redacted]`. */
export function scrubPersonalData(text: string): string {
  let scrubbed = text;
  for (const [pattern, replacement] of SCRUBS) scrubbed = scrubbed.replace(pattern, replacement);
  return scrubbed;
}

/** What an error may say in a log line. */
export interface SafeError {
  type: string;
  message?: string;
  stack?: string;
  /** `code` of the error (SQLSTATE, ECONNREFUSED, an ApiError's code); not `code`, which is redacted by name. */
  errorCode?: string | number;
  status?: number;
  errno?: number;
  syscall?: string;
  /** ioredis: the failed command's name, never its arguments. */
  command?: string;
  /** PostgreSQL: where the failure is, never the values involved. */
  severity?: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
  dataType?: string;
  routine?: string;
  /** PostgresOutageError (db/pgErrors.ts). */
  condition?: string;
  cause?: SafeError;
  errors?: SafeError[];
}

/** PostgreSQL's fields naming schema objects: safe to keep (names, not values). */
const PG_NAME_FIELDS = [
  'severity',
  'schema',
  'table',
  'column',
  'constraint',
  'dataType',
  'routine',
] as const;

/** A short identifier-like string, scrubbed; anything else undefined. */
function shortText(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return scrubPersonalData(value.slice(0, MAX_FIELD));
}

function clip(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}

function typeOf(value: object): string {
  const constructorName = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof constructorName === 'string' && constructorName !== '' ? constructorName : 'Object';
}

function serialize(value: unknown, depth: number): SafeError {
  if (value === undefined || value === null) return { type: String(value) };
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return { type: typeof value, message: clip(scrubPersonalData(String(value)), MAX_MESSAGE) };
  }
  if (typeof value !== 'object') return { type: typeof value }; // a function, symbol or bigint
  const source = value as Record<string, unknown>;
  const safe: SafeError = { type: typeOf(value) };
  if (typeof source.message === 'string') safe.message = clip(scrubPersonalData(source.message), MAX_MESSAGE);
  if (typeof source.stack === 'string') safe.stack = clip(scrubPersonalData(source.stack), MAX_STACK);
  if (typeof source.code === 'string') {
    const code = shortText(source.code);
    if (code !== undefined) safe.errorCode = code;
  } else if (typeof source.code === 'number') safe.errorCode = source.code;
  if (typeof source.status === 'number') safe.status = source.status;
  if (typeof source.errno === 'number') safe.errno = source.errno;
  const syscall = shortText(source.syscall);
  if (syscall !== undefined) safe.syscall = syscall;
  const command = source.command as { name?: unknown } | string | undefined;
  const commandName = shortText(typeof command === 'object' && command !== null ? command.name : undefined);
  if (commandName !== undefined) safe.command = commandName;
  for (const field of PG_NAME_FIELDS) {
    const text = shortText(source[field]);
    if (text !== undefined) safe[field] = text;
  }
  const condition = shortText(source.condition);
  if (condition !== undefined) safe.condition = condition;
  if (depth < MAX_DEPTH) {
    if (source.cause !== undefined) safe.cause = serialize(source.cause, depth + 1);
    if (Array.isArray(source.errors)) {
      safe.errors = source.errors.slice(0, MAX_AGGREGATED).map((inner) => serialize(inner, depth + 1));
    }
  }
  return safe;
}

/**
 * pino's serializer for errors (`err`, and errors logged bare, which pino puts under `err`):
 * an allowlist, whatever the library that threw attached to the error.
 */
export function serializeError(value: unknown): SafeError {
  return serialize(value, 0);
}

/** The serializers every logger of the product uses (gateway/log.ts, gateway/auth/log.ts). */
export const LOG_SERIALIZERS = { err: serializeError, error: serializeError } as const;

/**
 * The writer's log hooks, for every process that runs a writer. `err` goes through this file's
 * serializer (never pg's detail, where or parameters); a dead letter's reason is an error's
 * message, scrubbed the same way. A batch refused for a missing dependency is expected with two
 * writers on one stream (the creating event is with the other writer, or pending after a
 * failover): the writer retries it event by event and defers what still waits, so it is a warning.
 */
export function writerLogHooks(
  log: Logger,
): Required<Pick<WriterOptions, 'onError' | 'onRecovered' | 'onDeadLetter'>> {
  return {
    onError: (error) =>
      error instanceof MissingDependencyError
        ? log.warn({ err: error }, 'writer batch waits for a dependency: written event by event')
        : log.error({ err: error }, 'writer batch failed'),
    onRecovered: (outage) => log.info(outage, 'PostgreSQL outage over: the writer resumed'),
    onDeadLetter: (letter) =>
      log.error({ ...letter, reason: scrubPersonalData(letter.reason) }, 'event dead-lettered'),
  };
}
