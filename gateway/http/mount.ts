/**
 * Turns RouteDefs into uWS handlers: each request goes through named steps, with the discipline of
 * STYLE.md: everything needed from `req` is read synchronously (`readRequest`), `onAborted` is
 * registered before any await (`watchResponse`), every later write checks it and happens inside
 * `cork` (`writeReply`), and no exception escapes (one catch answers from the error table, 500 for
 * the unexpected). The steps:
 *   body         counted in onData (413 past the limit), started before the handler returns, and
 *                read whole before admission, within a deadline (gateway/http/body.ts): a slow
 *                upload holds no admission slot (issue 16 item 6);
 *   admit        the thread's adaptive limit, by the route's priority class (gateway/admission):
 *                refused at once with 503 OVERLOADED, the connection kept (the body was read);
 *   parse        JSON and the compiled schemas of body and query (400 VALIDATION_FAILED);
 *   access       session or admin token, rate limits, the clock (gateway/http/access.ts);
 *   idempotency  the Idempotency-Key's first answer, or a claim on it (gateway/http/idempotency.ts);
 *   handler      the route's own work, its refusals answered from the error table;
 *   answer       written corked, counted in the metrics; the latency feeds the adaptive limit.
 * A route naming a rate-limit rule the table lacks stops the mounting (access.ts `rulesOf`), and so
 * does a rule counted in its engine script (RouteDef.countedInScript) that it may not count there.
 */
import type { Logger } from 'pino';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Admission, PriorityClass } from '../admission/admission.ts';
import { ApiError, toApiError } from '../errors.ts';
import type { GatewayMetrics } from '../metrics.ts';
import {
  bearer,
  checkAccess,
  isAdminToken,
  rulesOf,
  scriptLimitsOf,
  type AccessDeps,
  type AccessRoute,
} from './access.ts';
import { parseRequest, readBody, type RequestShape } from './body.ts';
import { requestSubject } from './clientAddress.ts';
import { FailureWindow } from './failureWindow.ts';
import { IdempotencyStore, MAX_IDEMPOTENCY_KEY_LENGTH, type IdempotencyClaim } from './idempotency.ts';
import type { RateLimitRule } from './rateLimit.ts';
import { errorReply, watchResponse, writeReply, type ResponseState } from './reply.ts';
import type { Method, Reply, RequestContext, RouteDef, ScriptLimit } from './route.ts';
import { validatorFor } from './schemas.ts';

export type { SessionAuthenticator } from './access.ts';
export { errorReply, writeReply } from './reply.ts';

export interface MountDeps extends AccessDeps {
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly idempotency: IdempotencyStore;
  readonly rateLimitRules: Readonly<Record<string, RateLimitRule>>;
  readonly maxBodyBytes: number;
  /** Wrong admin tokens a client address may send per minute on this thread before it must wait. */
  readonly adminFailuresPerMinute: number;
  /** This thread's admission control (shared by every route of the app). */
  readonly admission: Admission;
}

const adminFailuresError = (retryAfterSeconds: number): ApiError =>
  new ApiError('RATE_LIMITED', { details: { retryAfterSeconds, rule: 'adminFailures' } });

export interface MountedRoutes {
  /** Requests admitted and not yet answered on this app. */
  inFlight(): number;
}

const HEADERS_READ = [
  'authorization',
  'idempotency-key',
  'content-type',
  'content-length',
  'x-request-id',
] as const;

const UWS_METHOD: Record<Method, 'get' | 'post' | 'put' | 'del'> = {
  GET: 'get',
  POST: 'post',
  PUT: 'put',
  DELETE: 'del',
};

const NO_BODY = Buffer.alloc(0);

/** A route made ready once, at mounting: its schemas compiled, its rules found, its metric series bound. */
interface MountedRoute extends AccessRoute, RequestShape {
  readonly def: RouteDef;
  readonly priority: PriorityClass;
  readonly admitAlways: boolean;
  readonly paramNames: readonly string[];
  readonly bodyLimit: number;
  /** The rules its handler counts in its engine script (RouteDef.countedInScript). */
  readonly scriptLimits: Readonly<Record<string, ScriptLimit>>;
  /** This route's requests shed by admission control. */
  readonly shed: { inc(): void };
  readonly latency: { observe(seconds: number): void };
  requestsOf(status: number): { inc(): void };
}

/** What a request brings, read from uWS before any await. */
interface IncomingRequest {
  readonly started: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly params: Readonly<Record<string, string>>;
  readonly queryString: string;
  readonly ip: string;
}

/** Answers the request once (corked, unless the client went away) and counts it. */
type Answer = (reply: Reply, closeConnection?: boolean) => void;

function paramNames(pattern: string): string[] {
  return pattern
    .split('/')
    .filter((part) => part.startsWith(':'))
    .map((part) => part.slice(1));
}

function prepareRoute(def: RouteDef, deps: MountDeps): MountedRoute {
  const priority = def.priority ?? 'standard';
  const requestsByStatus = new Map<number, { inc(): void }>();
  const rules = rulesOf(def, deps.rateLimitRules);
  // bound once: prom-client hashes the labels on every unbound call
  const rateLimited = deps.metrics.shed.labels('RATE_LIMITED', priority);
  return {
    def,
    auth: def.auth,
    rules,
    scriptLimits: scriptLimitsOf(rules.inScript, deps.rateLimiter, rateLimited),
    priority,
    admitAlways: def.admitAlways === true,
    paramNames: paramNames(def.path),
    expectsBody: def.method === 'POST' || def.method === 'PUT',
    rawBody: def.rawBody === true,
    body: def.body ? validatorFor(def.body) : undefined,
    query: def.query ? validatorFor(def.query) : undefined,
    bodyLimit: def.maxBodyBytes ?? deps.maxBodyBytes,
    shed: deps.metrics.shed.labels('OVERLOADED', priority),
    rateLimited,
    latency: deps.metrics.latency.labels(def.path, def.method),
    requestsOf(status) {
      let series = requestsByStatus.get(status);
      if (!series) {
        series = deps.metrics.requests.labels(def.path, def.method, String(status));
        requestsByStatus.set(status, series);
      }
      return series;
    },
  };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Everything the pipeline needs from `req`, which is invalid after the first await. */
function readRequest(route: MountedRoute, res: HttpResponse, req: HttpRequest): IncomingRequest {
  const started = performance.now();
  const headers: Record<string, string> = {};
  for (const name of HEADERS_READ) {
    const value = req.getHeader(name);
    if (value !== '') headers[name] = value;
  }
  const params: Record<string, string> = {};
  route.paramNames.forEach((name, index) => {
    params[name] = safeDecode(req.getParameter(index));
  });
  return {
    started,
    headers,
    params,
    queryString: req.getQuery() ?? '',
    // the client behind TRUSTED_PROXIES, an IPv6 client as its /64 (issue 16 item 10)
    ip: requestSubject(res, req),
  };
}

/** An admission slot: what tryAcquire returned and when (the adaptive limit learns from then to the answer). */
interface Slot {
  readonly startedWith: number;
  readonly at: number;
}

/**
 * Step admit: the admission slot, or null after answering 503 OVERLOADED. It comes after the body
 * was read whole, so the connection is kept: a shed answer that closed it would cost the client
 * (and the kernel) a new TCP connection per retry, the work shedding is meant to avoid (P7).
 */
function admit(route: MountedRoute, admission: Admission, answer: Answer): Slot | null {
  const at = performance.now();
  const startedWith = admission.tryAcquire(route.priority, at, route.admitAlways);
  if (startedWith !== null) return { startedWith, at };
  route.shed.inc();
  answer(
    errorReply(
      new ApiError('OVERLOADED', { details: { retryAfterSeconds: admission.retryAfterSeconds(at) } }),
    ),
  );
  return null;
}

type IdempotencyStep =
  | { readonly kind: 'none' }
  | { readonly kind: 'replay'; readonly reply: Reply }
  | { readonly kind: 'claimed'; readonly claim: IdempotencyClaim };

/** Step idempotency: the first answer to replay, a claim on the key, or nothing to do. */
async function claimIdempotencyKey(
  def: RouteDef,
  request: IncomingRequest,
  /** Whose keys these are: the session's account, or the client's address (`ip:…`). */
  scope: string,
  rawBody: Buffer,
  store: IdempotencyStore,
): Promise<IdempotencyStep> {
  const key = request.headers['idempotency-key'];
  if (!def.idempotent || key === undefined) return { kind: 'none' };
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new ApiError('VALIDATION_FAILED', {
      details: {
        errors: [{ field: 'Idempotency-Key', problem: `longer than ${MAX_IDEMPOTENCY_KEY_LENGTH}` }],
      },
    });
  }
  const path = `${def.path}?${JSON.stringify(request.params)}`;
  const claim = store.claimOf(scope, key, def.method, path, rawBody);
  const start = await store.begin(claim);
  if (start.state === 'conflict') throw new ApiError('IDEMPOTENCY_KEY_REUSED');
  if (start.state === 'in-progress') throw new ApiError('IDEMPOTENCY_IN_PROGRESS');
  if (start.state === 'replay') {
    return {
      kind: 'replay',
      reply: { ...start.reply, headers: { ...start.reply.headers, 'idempotent-replayed': 'true' } },
    };
  }
  return { kind: 'claimed', claim };
}

/** Step handler: the route's reply; its refusals (4xx) answered from the error table. */
async function runHandler(def: RouteDef, ctx: RequestContext): Promise<Reply> {
  try {
    return await def.handler(ctx);
  } catch (error) {
    const apiError = toApiError(error);
    if (apiError.status >= 500) throw error;
    return errorReply(apiError);
  }
}

/** Steps parse → access → idempotency → handler → answer, after the body and admission; never rejects. */
async function serve(
  route: MountedRoute,
  request: IncomingRequest,
  rawBody: Buffer,
  slot: Slot,
  deps: MountDeps,
  answer: Answer,
): Promise<void> {
  let claim: IdempotencyStep = { kind: 'none' };
  try {
    const parsed = parseRequest(route, rawBody, request.queryString);
    const byAddress = `ip:${request.ip}`;
    // a route without a session has its key's scope (the address) before access is checked: the
    // claim goes beside the check (one round trip fewer, e.g. per login); the check still answers
    // first, and a claim made for a request it refuses is given up below, as any failed request's
    const [checked, early] = await Promise.allSettled([
      checkAccess(route, { authorization: request.headers.authorization, ip: request.ip }, deps),
      route.def.auth === 'none'
        ? claimIdempotencyKey(route.def, request, byAddress, rawBody, deps.idempotency)
        : null,
    ]);
    if (early.status === 'fulfilled' && early.value !== null) claim = early.value;
    if (checked.status === 'rejected') throw checked.reason;
    if (early.status === 'rejected') throw early.reason;
    const access = checked.value;
    if (early.value === null) {
      claim = await claimIdempotencyKey(
        route.def,
        request,
        access.accountId ?? byAddress,
        rawBody,
        deps.idempotency,
      );
    }
    if (claim.kind === 'replay') {
      answer(claim.reply);
      return;
    }
    const reply = await runHandler(route.def, {
      method: route.def.method,
      route: route.def.path,
      params: request.params,
      query: parsed.query,
      body: parsed.body,
      rawBody,
      headers: request.headers,
      ip: request.ip,
      accountId: access.accountId,
      now: access.now,
      ...(claim.kind === 'claimed' ? { requestTag: claim.claim.hash.slice(0, 16) } : {}),
      scriptLimits: route.scriptLimits,
      log: deps.log,
    });
    if (claim.kind === 'claimed') {
      // the state change is done: a failure to store its answer must not turn it into a 500 (the
      // retry finds it through the request tag, REL4)
      await deps.idempotency
        .complete(claim.claim, reply)
        .catch((error: unknown) => deps.log.warn({ err: error }, 'idempotent answer not stored'));
    }
    answer(reply);
  } catch (error) {
    const apiError = toApiError(error);
    if (apiError.status >= 500 && apiError.code === 'INTERNAL_ERROR') {
      deps.log.error({ err: error, route: route.def.path, method: route.def.method }, 'request failed');
    }
    if (claim.kind === 'claimed') {
      await deps.idempotency.abandon(claim.claim).catch(() => undefined);
    }
    answer(errorReply(apiError));
  } finally {
    const now = performance.now();
    deps.admission.release(slot.startedWith, now - slot.at, now, route.priority);
    deps.metrics.inFlight.set(deps.admission.inFlight);
  }
}

/** Steps admit → serve, once the body is whole. */
function admitAndServe(
  route: MountedRoute,
  request: IncomingRequest,
  rawBody: Buffer,
  deps: MountDeps,
  answer: Answer,
): void {
  const slot = admit(route, deps.admission, answer);
  if (slot === null) return;
  deps.metrics.inFlight.set(deps.admission.inFlight);
  void serve(route, request, rawBody, slot, deps, answer);
}

export function mountRoutes(app: TemplatedApp, routes: readonly RouteDef[], deps: MountDeps): MountedRoutes {
  const { admission } = deps;
  const adminFailures = new FailureWindow(deps.adminFailuresPerMinute, 60_000);
  for (const def of routes) {
    const route = prepareRoute(def, deps);
    app[UWS_METHOD[def.method]](def.path, (res, req) => {
      const state: ResponseState = watchResponse(res);
      const request = readRequest(route, res, req);
      const answer: Answer = (reply, closeConnection = false) => {
        writeReply(res, state, reply, closeConnection);
        route.latency.observe((performance.now() - request.started) / 1000);
        route.requestsOf(reply.status).inc();
      };
      // admin routes take large bulk bodies: refuse a wrong token before reading any of it; an
      // address that keeps trying wrong ones is told to wait (issue 16 item 17)
      if (def.auth === 'admin') {
        const waitS = adminFailures.blockedFor(request.ip, Date.now());
        if (waitS > 0) {
          answer(errorReply(adminFailuresError(waitS)), route.expectsBody);
          return;
        }
        if (!isAdminToken(bearer(request.headers.authorization ?? ''), deps.adminToken)) {
          adminFailures.failed(request.ip, Date.now());
          answer(errorReply(new ApiError('UNAUTHORIZED')), route.expectsBody);
          return;
        }
      }
      if (!route.expectsBody) {
        admitAndServe(route, request, NO_BODY, deps, answer);
        return;
      }
      // the body's onData is attached now, before this handler returns; the slot is taken once
      // the body is whole, so a slow upload holds none (a refused body closes the connection:
      // the rest of it would be read as the next request)
      readBody(
        res,
        state,
        route.bodyLimit,
        Number(request.headers['content-length'] ?? 0),
        request.started,
      ).then(
        (rawBody) => admitAndServe(route, request, rawBody, deps, answer),
        (error: unknown) => answer(errorReply(toApiError(error)), true),
      );
    });
  }
  return { inFlight: () => admission.inFlight };
}

/** The catch-all: unknown paths answer 404 NOT_FOUND in the error format. */
export function mountNotFound(app: TemplatedApp): void {
  app.any('/*', (res) => {
    writeReply(res, watchResponse(res), errorReply(new ApiError('NOT_FOUND')));
  });
}
