/**
 * The access step of the pipeline (gateway/http/mount.ts): who is asking (a session's account, or
 * the admin token), whether a rate limit refuses them, and the request's clock reading, in as few
 * Redis round trips as possible. A route's rule names are resolved when it is mounted: a name the
 * rule table lacks is a start-up error, never a limit that silently does not apply. An account rule
 * the route's handler counts in its own engine script (RouteDef.countedInScript: `reserve`, issue
 * 13, P2) is left to the handler (`ScriptLimit`): with the session in this thread's session cache,
 * a reservation's access step then costs no Redis call, and the reservation one script call.
 */
import { timingSafeEqual } from 'node:crypto';
import { accountHashTag } from '../../engine/keys.ts';
import type { Clock } from '../clock.ts';
import { ApiError } from '../errors.ts';
import type { FailureWindow } from './failureWindow.ts';
import type { RateCounter, RateLimiter, RateLimitRule, RateLimitVerdict } from './rateLimit.ts';
import type { AuthKind, RouteDef, ScriptLimit } from './route.ts';

export interface SessionAuthenticator {
  /**
   * The session's account and, in the same round trip, the counts of its account's counters
   * (`counters` names them with the account's hash tag); `counts` is empty when they could not be
   * counted in that call (no live session, or a token that does not name its account).
   */
  authorize(
    token: string,
    counters: (accountTag: string) => readonly RateCounter[],
    /** `database: false`: a token missing from the cache is not looked up (the address is held back). */
    options?: { readonly database?: boolean },
  ): Promise<{ readonly accountId: string | null; readonly counts: readonly number[] }>;
}

export interface AccessDeps {
  readonly sessions: SessionAuthenticator;
  readonly adminToken: string;
  readonly rateLimiter: RateLimiter;
  readonly clock: Clock;
  /**
   * Session tokens refused per client address (this thread): past its limit, a token missing from
   * Redis is refused without asking PostgreSQL (random well-formed tokens each cost a query).
   */
  readonly unknownTokens?: FailureWindow;
}

/** A route's rate-limit rules by what they count and who counts them. */
export interface RouteRules {
  /** Per client address. */
  readonly address: readonly RateLimitRule[];
  /** Per account (with a session, in the session check's own script call); per address without one. */
  readonly account: readonly RateLimitRule[];
  /** Per account, counted by the handler's engine script (RouteDef.countedInScript), not here. */
  readonly inScript: readonly RateLimitRule[];
}

/**
 * The route's rules from the table; throws on a name the table lacks (a misspelt rule), and on a
 * rule counted in script that the route does not list, that is not per account, or on a route
 * without a session (the script counts the session's account).
 */
export function rulesOf(def: RouteDef, table: Readonly<Record<string, RateLimitRule>>): RouteRules {
  const lookup = (name: string): RateLimitRule => {
    const rule = Object.hasOwn(table, name) ? table[name] : undefined;
    if (rule === undefined) {
      throw new Error(
        `${def.method} ${def.path}: unknown rate-limit rule "${name}" (the rules are: ${Object.keys(table).join(', ') || 'none'})`,
      );
    }
    return rule;
  };
  const names = def.rateLimits ?? [];
  const rules = names.map(lookup);
  const inScript = (def.countedInScript ?? []).map((name) => {
    const rule = lookup(name);
    const problem = !names.includes(name)
      ? 'is not among its rateLimits'
      : rule.by !== 'account'
        ? 'is not counted per account'
        : def.auth !== 'session'
          ? 'needs a session route'
          : null;
    if (problem !== null) {
      throw new Error(`${def.method} ${def.path}: rule "${name}" counted in script ${problem}`);
    }
    return rule;
  });
  return {
    address: rules.filter((rule) => rule.by === 'ip'),
    account: rules.filter((rule) => rule.by === 'account' && !inScript.includes(rule)),
    inScript,
  };
}

/** The ScriptLimit of each rule counted in script, by name. */
export function scriptLimitsOf(
  rules: readonly RateLimitRule[],
  limiter: RateLimiter,
  rateLimited: { inc(): void },
): Readonly<Record<string, ScriptLimit>> {
  const limits: Record<string, ScriptLimit> = {};
  for (const rule of rules) {
    const refusal = (nowMs: number): ApiError => {
      rateLimited.inc();
      // the count of a refused attempt: one past the limit
      const { retryAfterSeconds } = limiter.verdict(rule, rule.limit + 1, nowMs);
      return new ApiError('RATE_LIMITED', { details: { retryAfterSeconds, rule: rule.name } });
    };
    limits[rule.name] = {
      rule,
      guard: (counterKey, nowMs) => ({
        key: counterKey(rule.name, limiter.windowOf(rule, nowMs)),
        windowMs: rule.windowMs,
        limit: rule.limit,
      }),
      refusal,
      async hitApart(accountId, nowMs) {
        if (!(await limiter.hit(rule, accountHashTag(accountId), nowMs)).allowed) throw refusal(nowMs);
      },
    };
  }
  return limits;
}

export function bearer(authorization: string): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  return match ? match[1]! : null;
}

/** The admin token, compared in constant time. */
export function isAdminToken(token: string | null, expected: string): boolean {
  if (token === null) return false;
  const a = Buffer.from(token);
  const b = Buffer.from(expected);
  return a.length === b.length && expected.length > 0 && timingSafeEqual(a, b);
}

/** What the access step needs of a route. */
export interface AccessRoute {
  readonly auth: AuthKind;
  readonly rules: RouteRules;
  /** Counts a request refused by a rate limit (the route's metric series). */
  readonly rateLimited: { inc(): void };
}

export interface Access {
  /** The session's account (auth 'session'); null otherwise. */
  readonly accountId: string | null;
  /** The clock's reading for this request. */
  readonly now: number;
}

const ANONYMOUS = { accountId: null, counts: [] } as const;

/**
 * The caller's account and the clock, or 401 UNAUTHORIZED / 429 RATE_LIMITED (naming the rule).
 * One batch to Redis: the session check with its account's counters (one script call under the
 * account's hash tag), the address counters, and the clock. Only a token that does not name its
 * account (issued before tokens did) costs a second round trip, for its account's counters.
 */
export async function checkAccess(
  route: AccessRoute,
  caller: { readonly authorization: string | undefined; readonly ip: string },
  deps: AccessDeps,
): Promise<Access> {
  const token = route.auth === 'none' ? null : bearer(caller.authorization ?? '');
  if (route.auth === 'admin' && !isAdminToken(token, deps.adminToken)) throw new ApiError('UNAUTHORIZED');
  const session = route.auth === 'session' ? token : null;
  const nowMs = Date.now();
  // without a session, the account rules count the client address
  const byAddress = session === null ? [...route.rules.address, ...route.rules.account] : route.rules.address;
  const subjectOf = (rule: RateLimitRule): string => (rule.by === 'ip' ? caller.ip : `ip:${caller.ip}`);
  const [authorization, addressVerdicts, now] = await Promise.all([
    session === null
      ? Promise.resolve(ANONYMOUS)
      : deps.sessions.authorize(
          session,
          (tag) => route.rules.account.map((rule) => deps.rateLimiter.counter(rule, tag, nowMs)),
          { database: (deps.unknownTokens?.blockedFor(caller.ip, nowMs) ?? 0) === 0 },
        ),
    Promise.all(byAddress.map((rule) => deps.rateLimiter.hit(rule, subjectOf(rule), nowMs))),
    deps.clock.now(),
  ]);
  const { accountId } = authorization;
  if (session !== null && accountId === null) deps.unknownTokens?.failed(caller.ip, nowMs);
  if (route.auth === 'session' && accountId === null) throw new ApiError('UNAUTHORIZED');
  const verdicts: { rule: RateLimitRule; verdict: RateLimitVerdict }[] = [];
  if (session !== null && accountId !== null) {
    const counted = authorization.counts.length === route.rules.account.length;
    const accountVerdicts = counted
      ? route.rules.account.map((rule, i) => deps.rateLimiter.verdict(rule, authorization.counts[i]!, nowMs))
      : await Promise.all(
          route.rules.account.map((rule) => deps.rateLimiter.hit(rule, accountHashTag(accountId), nowMs)),
        );
    route.rules.account.forEach((rule, i) => verdicts.push({ rule, verdict: accountVerdicts[i]! }));
  }
  byAddress.forEach((rule, i) => verdicts.push({ rule, verdict: addressVerdicts[i]! }));
  const refused = verdicts.find(({ verdict }) => !verdict.allowed);
  if (refused !== undefined) {
    route.rateLimited.inc();
    throw new ApiError('RATE_LIMITED', {
      details: { retryAfterSeconds: refused.verdict.retryAfterSeconds, rule: refused.rule.name },
    });
  }
  return { accountId, now };
}
