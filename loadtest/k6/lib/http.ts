/**
 * HTTP helpers shared by the k6 scenarios: JSON requests with a `name` tag per route (so that
 * k6's metrics group `/api/v1/payments/123` under one name), safe JSON parsing, error codes, the
 * shed/sold-out counters, captcha login, and the payment-simulator link.
 */
import http from 'k6/http';
import { Counter, Rate } from 'k6/metrics';
import type { RefinedResponse, ResponseType } from 'k6/http';
import { ADMIN_TOKEN, BASE_URL, envStr } from './env.ts';

export type Res = RefinedResponse<ResponseType | undefined>;
/** What `http.expectedStatuses` returns (the type itself is not exported by @types/k6). */
export type ExpectedStatuses = ReturnType<typeof http.expectedStatuses>;

/** Statuses a surge answers by design: SOLD_OUT / already-taken conflicts and shedding. */
export const EXPECTED_STATUSES = [{ min: 200, max: 299 }, 409, 429, 503] as const;

/** Answers shed by admission control (503 OVERLOADED / 429 RATE_LIMITED), as a count and a share. */
export const shedCount = new Counter('shed_503_429');
export const shedRate = new Rate('shed_rate');
export const soldOut = new Counter('sold_out');

function headers(token?: string, idempotencyKey?: string, json = true): Record<string, string> {
  const h: Record<string, string> = json ? { 'Content-Type': 'application/json' } : {};
  if (token) h.Authorization = `Bearer ${token}`;
  if (idempotencyKey) h['Idempotency-Key'] = idempotencyKey;
  return h;
}

/**
 * POST `path` (relative to BASE_URL) with a JSON body; `name` tags the metrics (default: path);
 * `expected` replaces the scenario's expected statuses for this request only.
 */
export function post(
  path: string,
  body: unknown,
  token?: string,
  idempotencyKey?: string,
  name = path,
  expected?: ExpectedStatuses,
): Res {
  const res = http.post(`${BASE_URL}${path}`, JSON.stringify(body), {
    headers: headers(token, idempotencyKey),
    tags: { name },
    ...(expected ? { responseCallback: expected } : {}),
  });
  track(res);
  return res;
}

export function get(path: string, token?: string, name = path): Res {
  const res = http.get(`${BASE_URL}${path}`, { headers: headers(token, undefined, false), tags: { name } });
  track(res);
  return res;
}

export function json<T>(res: Res): T | undefined {
  try {
    return res.json() as unknown as T;
  } catch {
    return undefined;
  }
}

/** The error code of an error answer (`{"error": {"code": ...}}`), or undefined. */
export function errorCode(res: Res): string | undefined {
  if (res.status < 400) return undefined;
  return json<{ error?: { code?: string } }>(res)?.error?.code;
}

export function isShed(res: Res): boolean {
  return res.status === 503 || res.status === 429;
}

/** Counts shed answers (and their share) and SOLD_OUT refusals. */
export function track(res: Res): void {
  const shed = isShed(res);
  shedRate.add(shed);
  if (shed) shedCount.add(1);
  else if (res.status === 409 && errorCode(res) === 'SOLD_OUT') soldOut.add(1);
}

/** Captcha (TEST_MODE returns testAnswer) then `POST /api/v1/sessions`; the token or undefined. */
export function login(loginName: string, password: string): string | undefined {
  const captcha = json<{ captchaId?: string; testAnswer?: string }>(get('/api/v1/captcha'));
  if (!captcha?.captchaId || !captcha.testAnswer) return undefined;
  const res = post('/api/v1/sessions', {
    login: loginName,
    password,
    captchaId: captcha.captchaId,
    captchaAnswer: captcha.testAnswer,
  });
  return res.status === 200 ? json<{ token?: string }>(res)?.token : undefined;
}

/**
 * The simulator's `payUrl` is built by the gateway from its own view of the simulator's address
 * (`http://127.0.0.1:<PORT+1>` when it listens on 0.0.0.0). From another host or container, set
 * PAY_URL_BASE (e.g. `http://gateway:8081`) to replace the link's origin.
 */
const PAY_URL_BASE = envStr('PAY_URL_BASE', '').replace(/\/+$/, '');
export function payUrlFor(payUrl: string): string {
  return PAY_URL_BASE ? payUrl.replace(/^https?:\/\/[^/]+/, PAY_URL_BASE) : payUrl;
}

/**
 * `POST /api/v1/admin/clock` (TEST_MODE only, ADMIN_TOKEN): `{advanceMs: 0}` reads the clock.
 * Returns the gateway clock's epoch ms, or undefined when refused (no token, not test mode).
 */
export function adminClock(change: { advanceMs: number } | { nowMs: number }): number | undefined {
  if (!ADMIN_TOKEN) return undefined;
  const res = http.post(`${BASE_URL}/api/v1/admin/clock`, JSON.stringify(change), {
    headers: headers(ADMIN_TOKEN),
    tags: { name: '/api/v1/admin/clock' },
  });
  return res.status === 200 ? json<{ nowMs?: number }>(res)?.nowMs : undefined;
}

/**
 * How far the gateway's clock is ahead of this machine's (ms), read through the admin clock; 0 when
 * it cannot be read. Used to measure dashboard staleness against a test-mode clock that was moved.
 */
export function clockOffsetMs(): number {
  const before = Date.now();
  const nowMs = adminClock({ advanceMs: 0 });
  if (nowMs === undefined) return 0;
  return Math.round(nowMs - (before + Date.now()) / 2);
}
