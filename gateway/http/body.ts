/**
 * The body steps of the pipeline (gateway/http/mount.ts): reading it, counted in `onData` against
 * the limit (413 past it; chunks copied, uWS reuses their memory), dropping it (a shed request
 * keeps its connection), and parsing + validating it and the query with the route's compiled
 * schemas (400 VALIDATION_FAILED). Every path ends: a request never waits for ever.
 */
import type { ValidateFunction } from 'ajv';
import type { HttpResponse } from 'uWebSockets.js';
import { ApiError } from '../errors.ts';
import type { ResponseState } from './reply.ts';
import { describeErrors } from './schemas.ts';

/**
 * The body, counted against the limit. A client that goes away before its last chunk rejects the
 * promise (uWS calls onData no more): a request must never wait for ever, holding its admission slot.
 */
export function readBody(
  res: HttpResponse,
  state: ResponseState,
  limit: number,
  declared: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declared > limit) {
      reject(new ApiError('PAYLOAD_TOO_LARGE', { details: { limitBytes: limit } }));
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const gone = (): void => {
      if (done) return;
      done = true;
      reject(
        new ApiError('VALIDATION_FAILED', {
          details: { errors: [{ field: '/', problem: 'the connection closed before the whole body' }] },
        }),
      );
    };
    if (state.aborted) {
      gone();
      return;
    }
    state.onAborted = gone;
    res.onData((chunk, isLast) => {
      if (done) return;
      total += chunk.byteLength;
      if (total > limit) {
        done = true;
        reject(new ApiError('PAYLOAD_TOO_LARGE', { details: { limitBytes: limit } }));
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) {
        done = true;
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
      }
    });
  });
}

/**
 * Reads a small body and drops it, then calls `done` (closing the connection past `limit`): under
 * overload a shed answer that closed the connection would cost the client (and the kernel) a new
 * TCP connection per retry, which is the work shedding is meant to avoid (README, P7).
 */
export function dropBody(res: HttpResponse, limit: number, done: (closeConnection: boolean) => void): void {
  let dropped = 0;
  res.onData((chunk, isLast) => {
    dropped += chunk.byteLength;
    if (dropped > limit) done(true);
    else if (isLast) done(false);
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
