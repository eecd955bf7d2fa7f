/**
 * What every bulk admin call shares (API.md "Administration"): the body is a JSON array checked
 * row by row against a compiled row schema, so one bad row is reported with its index and code
 * while the good rows land; the answer is `{upserted, rejected: [{index, code, message}]}`.
 * Also the instants of admin bodies: ISO-8601 strings with an offset (or `Z`), or epoch
 * milliseconds. Messages name fields and reasons, never the values (they may be ID numbers).
 */
import type { ApiCode } from '../errors.ts';
import type { TArray, TUnknown } from '@sinclair/typebox';
import { describeErrors, Type, validatorFor, type Static, type TSchema } from '../http/schemas.ts';

export interface RejectedRow {
  readonly index: number;
  readonly code: ApiCode;
  readonly message: string;
  /** A finer reason where one exists (the roster importer's reject reasons, e.g. ID_CHECK_DIGIT). */
  readonly reason?: string;
}

export interface BulkAnswer {
  readonly upserted: number;
  readonly rejected: RejectedRow[];
}

/** Most rows one call takes; the request body limit (MAX_BODY_BYTES) usually binds first. */
export const MAX_ROWS = 10_000;

/**
 * The route-level body of a bulk call: any array (rows are judged one by one, not here). The row
 * schema rides along under `$defs` (an annotation: nothing references it, so it validates nothing
 * here) so that /openapi.json shows what a row must look like.
 */
export function bulkBody(description: string, row: TSchema, example: unknown): TArray<TUnknown> {
  return Type.Array(Type.Unknown(), {
    maxItems: MAX_ROWS,
    description: `${description}. Each row must match $defs.row; a row that does not is rejected alone.`,
    examples: [[example]],
    $defs: { row },
  });
}

/**
 * An instant of an admin body: an RFC 3339 / ISO-8601 date-time with an offset or `Z`
 * ("2026-03-01T09:00:00+08:00"), or epoch milliseconds (an integer).
 */
export const Instant = Type.Union([
  Type.String({ format: 'date-time', maxLength: 64 }),
  Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 }),
]);

/** Epoch ms of an Instant; null when the string is well-formed but not a real time (e.g. 23:59:60). */
export function instantMs(value: string | number): number | null {
  if (typeof value === 'number') return value;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

export type RowCheck<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** Checks one row against its schema; the message lists the failing fields (never their values). */
export function checkRow<S extends TSchema>(schema: S, row: unknown): RowCheck<Static<S>> {
  const validate = validatorFor(schema);
  if (validate(row)) return { ok: true, value: row as Static<S> };
  // anyOf (Instant, grade) reports each branch's failure, then its own: say "this or that"
  const byField = new Map<string, string[]>();
  for (const { field, problem } of describeErrors(validate.errors)) {
    if (problem === 'must match a schema in anyOf') continue;
    const problems = byField.get(field) ?? [];
    if (!problems.includes(problem)) problems.push(problem);
    byField.set(field, problems);
  }
  return {
    ok: false,
    message:
      [...byField].map(([field, problems]) => `${field}: ${problems.join(' or ')}`).join('; ') ||
      'invalid row',
  };
}

/** Collects rejections in index order and answers the bulk shape. */
export class BulkOutcome {
  private readonly rejections: RejectedRow[] = [];

  reject(index: number, code: ApiCode, message: string, reason?: string): void {
    this.rejections.push(reason === undefined ? { index, code, message } : { index, code, message, reason });
  }

  invalid(index: number, message: string, reason?: string): void {
    this.reject(index, 'VALIDATION_FAILED', message, reason);
  }

  get rejectedCount(): number {
    return this.rejections.length;
  }

  answer(upserted: number, extra: Record<string, unknown> = {}): BulkAnswer & Record<string, unknown> {
    return {
      upserted,
      rejected: [...this.rejections].sort((a, b) => a.index - b.index),
      ...extra,
    };
  }
}

/**
 * The first row wins when a key repeats inside one body (as in the roster importer): later rows
 * with the same key are rejected, naming the row that won.
 */
export class FirstRowWins {
  private readonly seen = new Map<string, number>();

  /** The index of an earlier row with this key, or undefined (and the key is now taken). */
  claim(key: string, index: number): number | undefined {
    const earlier = this.seen.get(key);
    if (earlier === undefined) this.seen.set(key, index);
    return earlier;
  }
}
