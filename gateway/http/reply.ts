/**
 * The answer step of the pipeline (gateway/http/mount.ts): a Reply written once, corked, and only
 * if the client is still there; the error table's answer for an ApiError. Never throws into uWS.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { ApiError } from '../errors.ts';
import type { Reply } from './route.ts';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  422: '422 Unprocessable Entity',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

/** What one request knows of its connection: set by `onAborted`, read before every write. */
export interface ResponseState {
  aborted: boolean;
  answered: boolean;
  /** Called once if the client goes away (after `aborted` is set). */
  onAborted?: () => void;
}

/** A fresh state whose `aborted` follows the response: call before any await. */
export function watchResponse(res: HttpResponse): ResponseState {
  const state: ResponseState = { aborted: false, answered: false };
  res.onAborted(() => {
    state.aborted = true;
    state.onAborted?.();
  });
  return state;
}

export function errorReply(error: ApiError): Reply {
  const retryAfter = error.retryAfterSeconds;
  return {
    status: error.status,
    body: error.toBody(),
    ...(retryAfter === undefined ? {} : { headers: { 'retry-after': String(retryAfter) } }),
  };
}

/** Writes a reply once, corked, unless the client went away. */
export function writeReply(
  res: HttpResponse,
  state: ResponseState,
  reply: Reply,
  closeConnection = false,
): void {
  if (state.aborted || state.answered) return;
  state.answered = true;
  const payload =
    reply.text ?? (reply.body === undefined || reply.status === 204 ? undefined : JSON.stringify(reply.body));
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[reply.status] ?? `${reply.status} Status`);
    if (payload !== undefined)
      res.writeHeader('content-type', reply.contentType ?? 'application/json; charset=utf-8');
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.writeHeader(name, value);
    if (payload === undefined) res.endWithoutBody(0, closeConnection);
    else res.end(payload, closeConnection);
  });
}
