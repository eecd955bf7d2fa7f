/**
 * Turns RouteDefs into uWS handlers with the discipline of STYLE.md: everything needed from `req`
 * is read synchronously; `onAborted` is registered before any await and every later write checks
 * it and happens inside `cork`; the body is counted in `onData` (413 past the limit, chunks copied);
 * no exception escapes (one catch answers with the error table, 500 for the unexpected).
 * The pipeline: admission (the thread's adaptive limit, by the route's priority class:
 * gateway/admission/admission.ts) → body → schema → auth → rate limits → clock → Idempotency-Key →
 * handler → answer, metrics; the answer's latency feeds the adaptive limit.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { ApiError, toApiError } from '../errors.ts';
import type { Admission } from '../admission/admission.ts';
import type { Clock } from '../clock.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { IdempotencyStore, MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency.ts';
import type { RateCounter, RateLimiter, RateLimitRule } from './rateLimit.ts';
import type { Method, Reply, RequestContext, RouteDef } from './route.ts';
import { describeErrors, validatorFor } from './schemas.ts';

export interface SessionAuthenticator {
  /** The session's account and, in the same round trip, its rate-limit counters' counts. */
  authorize(
    token: string,
    counters: (tokenHashHex: string) => readonly RateCounter[],
  ): Promise<{ readonly accountId: string | null; readonly counts: readonly number[] }>;
}

export interface MountDeps {
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly clock: Clock;
  readonly sessions: SessionAuthenticator;
  readonly adminToken: string;
  readonly idempotency: IdempotencyStore;
  readonly rateLimiter: RateLimiter;
  readonly rateLimitRules: Readonly<Record<string, RateLimitRule>>;
  readonly maxBodyBytes: number;
  /** This thread's admission control (shared by every route of the app). */
  readonly admission: Admission;
}

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

const HEADERS_READ = [
  'authorization',
  'idempotency-key',
  'content-type',
  'content-length',
  'x-request-id',
] as const;

interface ResponseState {
  aborted: boolean;
  answered: boolean;
  /** Called once if the client goes away (after `aborted` is set). */
  onAborted?: () => void;
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

/**
 * The body, counted against the limit. A client that goes away before its last chunk rejects the
 * promise (uWS calls onData no more): a request must never wait for ever, holding its admission slot.
 */
function readBody(res: HttpResponse, state: ResponseState, limit: number, declared: number): Promise<Buffer> {
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

function paramNames(pattern: string): string[] {
  return pattern
    .split('/')
    .filter((part) => part.startsWith(':'))
    .map((part) => part.slice(1));
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && expected.length > 0 && timingSafeEqual(a, b);
}

function bearer(authorization: string): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  return match ? match[1]! : null;
}

const NO_RULES: readonly RateLimitRule[] = [];
const ANONYMOUS = { accountId: null, counts: [] } as const;

function rulesOf(
  names: readonly string[],
  table: Readonly<Record<string, RateLimitRule>>,
): readonly RateLimitRule[] {
  return names.flatMap((name) => table[name] ?? []);
}

const UWS_METHOD: Record<Method, 'get' | 'post' | 'put' | 'del'> = {
  GET: 'get',
  POST: 'post',
  PUT: 'put',
  DELETE: 'del',
};

export interface MountedRoutes {
  /** Requests admitted and not yet answered on this app. */
  inFlight(): number;
}

export function mountRoutes(app: TemplatedApp, routes: readonly RouteDef[], deps: MountDeps): MountedRoutes {
  const { admission } = deps;
  for (const def of routes) {
    const priority = def.priority ?? 'standard';
    const shedSeries = deps.metrics.shed.labels('OVERLOADED', priority);
    const names = paramNames(def.path);
    const expectsBody = def.method === 'POST' || def.method === 'PUT';
    const bodyValidator = def.body ? validatorFor(def.body) : undefined;
    const queryValidator = def.query ? validatorFor(def.query) : undefined;
    // the route's rate-limit rules by what they count: a session's are counted by the script that
    // checks the session; without a session (none given) they fall back to the address
    const rules = rulesOf(def.rateLimits ?? [], deps.rateLimitRules);
    const sessionRules = rules.filter((rule) => rule.by === 'session');
    const addressRules = rules.filter((rule) => rule.by === 'ip');
    const earlyRules = rules.filter((rule) => rule.by !== 'account');
    const accountRules = rules.filter((rule) => rule.by === 'account');
    // the route's metric series, bound once (prom-client hashes the labels on every unbound call)
    const latency = deps.metrics.latency.labels(def.path, def.method);
    const requestsByStatus = new Map<number, { inc(): void }>();
    const requestsOf = (status: number) => {
      let series = requestsByStatus.get(status);
      if (!series) {
        series = deps.metrics.requests.labels(def.path, def.method, String(status));
        requestsByStatus.set(status, series);
      }
      return series;
    };

    app[UWS_METHOD[def.method]](def.path, (res, req) => {
      const state: ResponseState = { aborted: false, answered: false };
      res.onAborted(() => {
        state.aborted = true;
        state.onAborted?.();
      });
      const started = performance.now();
      const headers: Record<string, string> = {};
      for (const name of HEADERS_READ) {
        const value = req.getHeader(name);
        if (value !== '') headers[name] = value;
      }
      const params: Record<string, string> = {};
      names.forEach((name, index) => {
        params[name] = safeDecode(req.getParameter(index));
      });
      const queryString = req.getQuery() ?? '';
      const ip = Buffer.from(res.getRemoteAddressAsText()).toString();

      const finish = (reply: Reply, closeConnection = false): void => {
        writeReply(res, state, reply, closeConnection);
        latency.observe((performance.now() - started) / 1000);
        requestsOf(reply.status).inc();
      };

      const startedWith = admission.tryAcquire(priority);
      if (startedWith === null) {
        shedSeries.inc();
        const reply = errorReply(new ApiError('OVERLOADED', { details: { retryAfterSeconds: 1 } }));
        const limit = def.maxBodyBytes ?? deps.maxBodyBytes;
        if (!expectsBody || Number(headers['content-length'] ?? 0) > limit) {
          finish(reply, expectsBody);
          return;
        }
        // A small body is read and dropped, so the connection stays open: under overload a shed
        // answer that closed it would cost the client (and the kernel) a new TCP connection per
        // retry, which is the work shedding is meant to avoid (README, P7).
        let dropped = 0;
        res.onData((chunk, isLast) => {
          dropped += chunk.byteLength;
          if (dropped > limit) finish(reply, true);
          else if (isLast) finish(reply);
        });
        return;
      }
      // Admin routes take large bulk bodies: refuse a wrong token before reading any of it.
      if (def.auth === 'admin') {
        const token = bearer(headers.authorization ?? '');
        if (token === null || !sameSecret(token, deps.adminToken)) {
          admission.release(startedWith, performance.now() - started, performance.now());
          finish(errorReply(new ApiError('UNAUTHORIZED')), expectsBody);
          return;
        }
      }
      deps.metrics.inFlight.set(admission.inFlight);
      const declaredLength = Number(headers['content-length'] ?? 0);
      const body = expectsBody
        ? readBody(res, state, def.maxBodyBytes ?? deps.maxBodyBytes, declaredLength)
        : Promise.resolve(Buffer.alloc(0));

      void (async () => {
        let idempotency: { scope: string; key: string; hash: string } | undefined;
        try {
          const rawBody = await body;
          let parsedBody: unknown = undefined;
          if (expectsBody && !def.rawBody) {
            if (rawBody.length === 0 && !def.body) parsedBody = undefined;
            else {
              try {
                parsedBody = JSON.parse(rawBody.toString('utf8'));
              } catch {
                throw new ApiError('VALIDATION_FAILED', {
                  details: { errors: [{ field: '/', problem: 'body is not valid JSON' }] },
                });
              }
            }
            if (bodyValidator && !bodyValidator(parsedBody)) {
              throw new ApiError('VALIDATION_FAILED', {
                details: { errors: describeErrors(bodyValidator.errors) },
              });
            }
          }
          const query = queryString === '' ? {} : Object.fromEntries(new URLSearchParams(queryString));
          if (queryValidator && !queryValidator(query)) {
            throw new ApiError('VALIDATION_FAILED', {
              details: { errors: describeErrors(queryValidator.errors) },
            });
          }

          // Session lookup, the rate limits that do not need the account, and the clock go to
          // Redis together: the session and its own counters are one script call (they share the
          // session's hash tag), the client-address counters and the clock go in the same batch.
          const token = def.auth === 'none' ? null : bearer(headers.authorization ?? '');
          if (def.auth === 'admin' && (token === null || !sameSecret(token, deps.adminToken))) {
            throw new ApiError('UNAUTHORIZED');
          }
          const bySession = def.auth === 'session' && token !== null;
          const fused = bySession ? sessionRules : NO_RULES;
          const early = bySession ? addressRules : earlyRules;
          const nowMs = Date.now();
          const subjectOf = (rule: RateLimitRule, accountId: string | null): string =>
            rule.by === 'ip'
              ? ip
              : rule.by === 'session' && token !== null
                ? `{${createHash('sha256').update(token).digest('hex')}}`
                : (accountId ?? `ip:${ip}`);
          const [authorization, verdicts, now] = await Promise.all([
            bySession
              ? deps.sessions.authorize(token, (hex) =>
                  fused.map((rule) => deps.rateLimiter.counter(rule, `{${hex}}`, nowMs)),
                )
              : Promise.resolve(ANONYMOUS),
            early.length === 0
              ? Promise.resolve([])
              : Promise.all(early.map((rule) => deps.rateLimiter.hit(rule, subjectOf(rule, null), nowMs))),
            deps.clock.now(),
          ]);
          const accountId = authorization.accountId;
          if (def.auth === 'session' && accountId === null) throw new ApiError('UNAUTHORIZED');
          const late = accountRules;
          const allVerdicts = [
            ...fused.map((rule, i) => ({
              rule,
              verdict: deps.rateLimiter.verdict(rule, authorization.counts[i] ?? 0, nowMs),
            })),
            ...verdicts.map((verdict, i) => ({ rule: early[i]!, verdict })),
            ...(late.length === 0
              ? []
              : await Promise.all(late.map((rule) => deps.rateLimiter.hit(rule, subjectOf(rule, accountId))))
            ).map((verdict, i) => ({ rule: late[i]!, verdict })),
          ];
          for (const { rule, verdict } of allVerdicts) {
            if (!verdict.allowed) {
              deps.metrics.shed.inc({ code: 'RATE_LIMITED', class: priority });
              throw new ApiError('RATE_LIMITED', {
                details: { retryAfterSeconds: verdict.retryAfterSeconds, rule: rule.name },
              });
            }
          }

          const key = headers['idempotency-key'];
          if (def.idempotent && key !== undefined) {
            if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
              throw new ApiError('VALIDATION_FAILED', {
                details: {
                  errors: [
                    { field: 'Idempotency-Key', problem: `longer than ${MAX_IDEMPOTENCY_KEY_LENGTH}` },
                  ],
                },
              });
            }
            const scope = accountId ?? `ip:${ip}`;
            const hash = IdempotencyStore.requestHash(
              scope,
              key,
              def.method,
              `${def.path}?${JSON.stringify(params)}`,
              rawBody,
            );
            const start = await deps.idempotency.begin(scope, key, hash);
            if (start.state === 'conflict') throw new ApiError('IDEMPOTENCY_KEY_REUSED');
            if (start.state === 'in-progress') throw new ApiError('IDEMPOTENCY_IN_PROGRESS');
            if (start.state === 'replay') {
              finish({ ...start.reply, headers: { ...start.reply.headers, 'idempotent-replayed': 'true' } });
              return;
            }
            idempotency = { scope, key, hash };
          }

          const ctx: RequestContext = {
            method: def.method,
            route: def.path,
            params,
            query,
            body: parsedBody,
            rawBody,
            headers,
            ip,
            accountId,
            now,
            log: deps.log,
          };
          let reply: Reply;
          try {
            reply = await def.handler(ctx as never);
          } catch (error) {
            const apiError = toApiError(error);
            if (apiError.status >= 500) throw error;
            reply = errorReply(apiError);
          }
          if (idempotency)
            await deps.idempotency.complete(idempotency.scope, idempotency.key, idempotency.hash, reply);
          finish(reply);
        } catch (error) {
          const apiError = toApiError(error);
          if (apiError.status >= 500 && apiError.code === 'INTERNAL_ERROR') {
            deps.log.error({ err: error, route: def.path, method: def.method }, 'request failed');
          }
          if (idempotency) {
            await deps.idempotency.abandon(idempotency.scope, idempotency.key).catch(() => undefined);
          }
          finish(errorReply(apiError), apiError.code === 'PAYLOAD_TOO_LARGE');
        } finally {
          const now = performance.now();
          admission.release(startedWith, now - started, now);
          deps.metrics.inFlight.set(admission.inFlight);
        }
      })();
    });
  }
  return { inFlight: () => admission.inFlight };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The catch-all: unknown paths answer 404 NOT_FOUND in the error format. */
export function mountNotFound(app: TemplatedApp): void {
  app.any('/*', (res) => {
    const state: ResponseState = { aborted: false, answered: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    writeReply(res, state, errorReply(new ApiError('NOT_FOUND')));
  });
}
