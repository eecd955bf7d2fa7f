/**
 * What a route is: method, uWS path pattern, who may call it, the schemas of its body and query,
 * and a handler that turns a validated request into a Reply. Handlers never touch uWS objects;
 * gateway/http/mount.ts does the uWS discipline (read req synchronously, onAborted, cork, catch).
 */
import type { Static, TSchema } from './schemas.ts';
import type { Logger } from 'pino';
import type { PriorityClass } from '../admission/admission.ts';
import type { HoldGuard } from '../../engine/engine.ts';
import type { ApiError } from '../errors.ts';
import type { RateLimitRule } from './rateLimit.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
export type AuthKind = 'none' | 'session' | 'admin';

/**
 * An account rule that a route's handler counts in its own engine script (RouteDef.countedInScript;
 * issue 13, P2): the handler hands `guard` to the engine (the script checks it first and answers
 * RATE_LIMITED changing nothing) and turns that answer into `refusal`, the same 429 the access step
 * gives for any other rule.
 */
export interface ScriptLimit {
  readonly rule: RateLimitRule;
  /**
   * The engine's guard for `nowMs`'s window: `counterKey` names the counter under the script's own
   * hash tag (engine/keys.ts `ProvinceKeys.accountCounter`).
   */
  guard(counterKey: (ruleName: string, window: number) => string, nowMs: number): HoldGuard;
  /** 429 RATE_LIMITED naming the rule, Retry-After the end of `nowMs`'s window; counted as shed. */
  refusal(nowMs: number): ApiError;
  /**
   * Counts the rule where no script can (the account has no binding, so no province to count
   * under), in the account's own counter; throws `refusal` past the limit.
   */
  hitApart(accountId: string, nowMs: number): Promise<void>;
}

export interface RequestContext<Body = unknown, Query = Record<string, string>> {
  readonly method: Method;
  /** The route's pattern (metrics label), e.g. /api/v1/payments/:orderId */
  readonly route: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Query;
  readonly body: Body;
  /** The body as received (signature checks). */
  readonly rawBody: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly ip: string;
  /** The session's account (auth 'session'); null otherwise. */
  readonly accountId: string | null;
  /** The clock's reading for this request (gateway/clock.ts). */
  readonly now: number;
  /**
   * REL4: on an idempotent route with an Idempotency-Key, a tag of the key, the account and the
   * request (its fingerprint's first 16 characters); the engine keeps it with the state change, so
   * a retry whose stored answer was lost finds what its first attempt did. Absent otherwise.
   */
  readonly requestTag?: string;
  /** The route's rules counted in its engine script (RouteDef.countedInScript), by name. */
  readonly scriptLimits: Readonly<Record<string, ScriptLimit>>;
  readonly log: Logger;
}

export interface Reply {
  readonly status: number;
  /** JSON-serialised unless `text` is given. */
  readonly body?: unknown;
  readonly text?: string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteDef<
  BodySchema extends TSchema | undefined = TSchema | undefined,
  QuerySchema extends TSchema | undefined = TSchema | undefined,
> {
  readonly method: Method;
  readonly path: string;
  readonly summary: string;
  readonly tags?: readonly string[];
  readonly auth: AuthKind;
  readonly body?: BodySchema;
  readonly query?: QuerySchema;
  /** The body is not JSON (e.g. a provider's form-encoded notification): no parsing, no schema. */
  readonly rawBody?: boolean;
  /** Overrides the gateway's body limit (MAX_BODY_BYTES) for this route, e.g. bulk admin uploads. */
  readonly maxBodyBytes?: number;
  /** Honour Idempotency-Key (every state-changing POST). */
  readonly idempotent?: boolean;
  /**
   * Admission class (gateway/admission/admission.ts): `critical` for reservations and payment
   * confirmations, `background` for dashboards' snapshots and admin reads; default `standard`.
   */
  readonly priority?: PriorityClass;
  /**
   * Admitted whatever the adaptive limit is now, up to the thread's ceiling (MAX_IN_FLIGHT): a
   * provider's payment notification. It carries money already taken, its rate is bounded by the
   * orders the gateway admitted, and shedding it only delays it by the provider's retry schedule
   * (minutes for a real one), while the paid seats count down to their hold deadline (R22, R23).
   */
  readonly admitAlways?: boolean;
  /**
   * Rate-limit rules applied before the handler, by name (gateway/app.ts `rateLimitRules`); a name
   * the table lacks stops mountRoutes (gateway/http/access.ts `rulesOf`).
   */
  readonly rateLimits?: readonly string[];
  /**
   * Account rules of `rateLimits` that the handler counts itself, in its engine script, instead of
   * the access step (issue 13, P2: a reservation is one script call): the handler takes them from
   * `ctx.scriptLimits`. A name that is not a per-account rule of `rateLimits` on a session route
   * stops mountRoutes (gateway/http/access.ts `rulesOf`).
   */
  readonly countedInScript?: readonly string[];
  /** Documented answers for /openapi.json: status → description (and error codes). */
  readonly responses: Readonly<Record<number, string>>;
  readonly handler: (
    ctx: RequestContext<
      BodySchema extends TSchema ? Static<BodySchema> : undefined,
      QuerySchema extends TSchema ? Static<QuerySchema> : Record<string, string>
    >,
  ) => Promise<Reply>;
}

/** Keeps the handler's context typed from the route's schemas. */
export function route<B extends TSchema | undefined = undefined, Q extends TSchema | undefined = undefined>(
  def: RouteDef<B, Q>,
): RouteDef {
  return def;
}

export const ok = (body: unknown, headers?: Record<string, string>): Reply => ({
  status: 200,
  body,
  ...(headers ? { headers } : {}),
});
export const created = (body: unknown): Reply => ({ status: 201, body });
export const noContent = (): Reply => ({ status: 204 });
