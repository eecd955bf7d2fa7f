/**
 * The body steps of the pipeline (gateway/http/mount.ts): reading it, counted in `onData` against
 * the limit (413 past it; chunks copied, uWS reuses their memory) and within a deadline (400 past
 * it), before the request takes an admission slot (a slow upload holds memory, never a slot: issue
 * 16 item 6), and parsing + validating it and the query with the route's compiled schemas (400
 * VALIDATION_FAILED). Every path ends: a request never waits for ever.
 */
import type { ValidateFunction } from 'ajv';
import type { HttpResponse } from 'uWebSockets.js';
import { ApiError } from '../errors.ts';
import type { ResponseState } from './reply.ts';
import { describeErrors } from './schemas.ts';

/**
 * How long a body may take to arrive, from its request's headers: this much, plus its declared
 * length at BODY_MIN_BYTES_PER_MS (an 8 MB roster upload gets two more minutes). A client slower
 * than that is refused (400, the connection closed), so a dawdling upload holds its buffer and
 * connection for a bounded time; it never holds an admission slot (the slot is taken after it).
 */
export const BODY_DEADLINE_MS = 10_000;
export const BODY_MIN_BYTES_PER_MS = 64;

/** The deadline of a body of `declared` bytes (0: unknown, the route's `limit` is assumed). */
export function bodyDeadlineMs(declared: number, limit: number): number {
  return (
    BODY_DEADLINE_MS + Math.ceil((declared > 0 ? Math.min(declared, limit) : limit) / BODY_MIN_BYTES_PER_MS)
  );
}

/**
 * Bodies still arriving and when each is due, checked by one timer per thread (not one per
 * request: almost every body is whole by the end of its request's first callback).
 */
const arriving = new Map<() => void, number>();
let sweeper: NodeJS.Timeout | undefined;
const SWEEP_EVERY_MS = 250;

function sweepLateBodies(): void {
  const now = performance.now();
  for (const [expire, due] of arriving) {
    if (now >= due) {
      arriving.delete(expire);
      expire();
    }
  }
  if (arriving.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

function watchArrival(expire: () => void, due: number): void {
  arriving.set(expire, due);
  sweeper ??= setInterval(sweepLateBodies, SWEEP_EVERY_MS).unref();
}

function refusal(problem: string): ApiError {
  return new ApiError('VALIDATION_FAILED', { details: { errors: [{ field: '/', problem }] } });
}

/**
 * The body, counted against the limit and within `deadlineMs` (bodyDeadlineMs) from `started`
 * (performance.now() of the request's headers). A client that goes away before its last chunk
 * rejects the promise (uWS calls onData no more), and so does one slower than the deadline: a
 * request never waits for ever. After a rejection the caller closes the connection: the rest of
 * an unread body would be taken for the next request.
 */
export function readBody(
  res: HttpResponse,
  state: ResponseState,
  limit: number,
  declared: number,
  started = performance.now(),
  deadlineMs = bodyDeadlineMs(declared, limit),
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declared > limit) {
      reject(new ApiError('PAYLOAD_TOO_LARGE', { details: { limitBytes: limit } }));
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const fail = (error: ApiError): void => {
      if (done) return;
      done = true;
      arriving.delete(expire);
      reject(error);
    };
    const gone = (): void => fail(refusal('the connection closed before the whole body'));
    const expire = (): void =>
      fail(refusal(`the body did not arrive within ${Math.ceil(deadlineMs / 1000)} s`));
    if (state.aborted) {
      gone();
      return;
    }
    state.onAborted = gone;
    res.onData((chunk, isLast) => {
      if (done) return;
      total += chunk.byteLength;
      if (total > limit) {
        fail(new ApiError('PAYLOAD_TOO_LARGE', { details: { limitBytes: limit } }));
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) {
        done = true;
        arriving.delete(expire);
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
      }
    });
    // what came with the headers is usually handed over before this runs: only the rest is watched
    queueMicrotask(() => {
      if (!done) watchArrival(expire, started + deadlineMs);
    });
  });
}

/** What the route's schemas expect of a request. */
export interface RequestShape {
  readonly expectsBody: boolean;
  /** The body is not JSON (e.g. a provider's form-encoded notification): no parsing, no schema. */
  readonly rawBody: boolean;
  readonly body: ValidateFunction | undefined;
  readonly query: ValidateFunction | undefined;
}

function invalid(errors: unknown): ApiError {
  return new ApiError('VALIDATION_FAILED', { details: { errors } });
}

/**
 * The JSON pointer of the first string (value or key) holding U+0000, or null. PostgreSQL's text
 * cannot hold it, so such a value would fail deep in a handler as a 500 (issue 16 item 7); no
 * field of this API has a use for it. Only walked when the raw text could hold one.
 */
export function nulField(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return value.includes('\0') ? path || '/' : null;
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, item] of Object.entries(value)) {
    const at = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (key.includes('\0')) return at;
    const found = nulField(item, at);
    if (found !== null) return found;
  }
  return null;
}

function refuseNul(value: unknown): void {
  const field = nulField(value);
  if (field !== null) throw invalid([{ field, problem: 'contains a NUL character' }]);
}

/** The parsed body and query, or 400 VALIDATION_FAILED naming what is wrong. */
export function parseRequest(
  shape: RequestShape,
  rawBody: Buffer,
  queryString: string,
): { body: unknown; query: Record<string, string> } {
  let body: unknown = undefined;
  if (shape.expectsBody && !shape.rawBody && (rawBody.length > 0 || shape.body)) {
    const text = rawBody.toString('utf8');
    try {
      body = JSON.parse(text);
    } catch {
      throw invalid([{ field: '/', problem: 'body is not valid JSON' }]);
    }
    // JSON carries a NUL only escaped: the walk runs for bodies that spell one
    if (text.includes('\\u0000')) refuseNul(body);
    if (shape.body && !shape.body(body)) throw invalid(describeErrors(shape.body.errors));
  }
  const query = queryString === '' ? {} : Object.fromEntries(new URLSearchParams(queryString));
  if (queryString.includes('%00')) refuseNul(query);
  if (shape.query && !shape.query(query)) throw invalid(describeErrors(shape.query.errors));
  return { body, query };
}
