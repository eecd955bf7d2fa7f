/**
 * k6 scenario: the province opening surge (P3) with live dashboard subscribers (P5).
 *
 * NOT RUN HERE: this repository's environment has no k6 binary. The file is type-checked against
 * `@types/k6` (`npm run typecheck` → `tsc -p tsconfig.k6.json`). It is written for k6 ≥ 0.57, which
 * runs TypeScript directly (esbuild), including the relative `../profiles.ts` import:
 *
 *   TEST_MODE=1 npm start                    # gateway in test mode (captcha/SMS answers returned)
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e PEAK_RATE=2000 -e DURATION_S=300 \
 *          -e PROVINCE=11 -e WS_SUBSCRIBERS=1000 loadtest/k6/opening.ts
 *
 * Candidates come from `loadtest/k6/candidates.json` (path relative to this script; override with
 * `-e CANDIDATES=...`), read once at init time (k6 only allows `open()` there) into a SharedArray:
 *
 *   [{ "idType": "RESIDENT_ID", "idNumber": "...", "name": "...", "phone": "13800000000",
 *      "password": "...", "ticketNumber": "..." (optional, for CET6 reviewers),
 *      "provinceCode": "11" (optional) }, ...]
 *
 * The candidates must also be in the gateway's roster (`PUT /api/v1/admin/roster`) and the
 * province's registration window must open at the profile's `OPENING_AT_S` (scaled). Each
 * iteration takes the next candidate (iterationInTest), so there must be at least as many
 * candidates as arrivals (`totalArrivals` of the scaled profile); iterations past the end wrap
 * around and will mostly see 409s.
 *
 * Environment: BASE_URL (default http://127.0.0.1:8080), PEAK_RATE / DURATION_S (rescale the
 * opening profile), STEP_S (k6 stage length, default 5), PROVINCE (dashboard subscription),
 * WS_SUBSCRIBERS (default 100), SUBJECT_WRITTEN (default CET4), SUBJECT_ORAL (default CET-SET4),
 * P99_MS (default 500), MAX_VUS (default 5000).
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import ws from 'k6/ws';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import type { RefinedResponse, ResponseType } from 'k6/http';
import {
  defaultMix,
  durationOf,
  k6StartRate,
  pickBehaviour,
  profiles,
  scaleProfile,
  toK6Stages,
  type Behaviour,
} from '../profiles.ts';

interface Candidate {
  idType: string;
  idNumber: string;
  name: string;
  phone: string;
  password: string;
  ticketNumber?: string;
  provinceCode?: string;
}

const BASE_URL = __ENV.BASE_URL ?? 'http://127.0.0.1:8080';
const WS_URL = BASE_URL.replace(/^http/, 'ws') + '/ws/seats';
const PROVINCE = __ENV.PROVINCE ?? '11';
const SUBJECT_WRITTEN = __ENV.SUBJECT_WRITTEN ?? 'CET4';
const SUBJECT_ORAL = __ENV.SUBJECT_ORAL ?? 'CET-SET4';

const candidates = new SharedArray<Candidate>('candidates', () => {
  const parsed: unknown = JSON.parse(open(__ENV.CANDIDATES ?? './candidates.json'));
  if (!Array.isArray(parsed) || parsed.length === 0)
    throw new Error('candidates.json: expected a non-empty array');
  return parsed as Candidate[];
});

const profile = scaleProfile(profiles.opening, {
  ...(__ENV.PEAK_RATE ? { peakRate: Number(__ENV.PEAK_RATE) } : {}),
  ...(__ENV.DURATION_S ? { durationS: Number(__ENV.DURATION_S) } : {}),
});
const profileSeconds = Math.ceil(durationOf(profile));

// Custom metrics
const staleness = new Trend('seat_update_staleness', true);
const seatUpdates = new Counter('seat_updates');
const soldOut = new Counter('sold_out');
const shed = new Counter('shed_503_429');
const behaviours = new Counter('behaviour');

// SOLD_OUT / already-taken answers and shedding are expected outcomes of a surge, not failures.
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 409, 429, 503));

export const options: Options = {
  scenarios: {
    candidates: {
      executor: 'ramping-arrival-rate',
      exec: 'candidateFlow',
      startRate: k6StartRate(profile),
      timeUnit: '1s',
      preAllocatedVUs: Math.min(Number(__ENV.MAX_VUS ?? 5000), 500),
      maxVUs: Number(__ENV.MAX_VUS ?? 5000),
      stages: toK6Stages(profile, { stepS: Number(__ENV.STEP_S ?? 5) }),
    },
    dashboards: {
      executor: 'per-vu-iterations',
      exec: 'dashboardSubscriber',
      vus: Number(__ENV.WS_SUBSCRIBERS ?? 100),
      iterations: 1,
      maxDuration: `${profileSeconds + 60}s`,
    },
  },
  thresholds: {
    'http_req_duration{scenario:candidates}': [`p(99)<${Number(__ENV.P99_MS ?? 500)}`],
    http_req_failed: ['rate<0.01'],
    seat_update_staleness: ['p(99)<500'], // P5
    checks: ['rate>0.99'],
  },
};

type Res = RefinedResponse<ResponseType | undefined>;

function post(path: string, body: unknown, token?: string, idempotencyKey?: string): Res {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  return http.post(`${BASE_URL}${path}`, JSON.stringify(body), { headers, tags: { name: path } });
}

function get(path: string, token?: string, name = path): Res {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  return http.get(`${BASE_URL}${path}`, { headers, tags: { name } });
}

function json<T>(res: Res): T | undefined {
  try {
    return res.json() as unknown as T;
  } catch {
    return undefined;
  }
}

function count(res: Res): void {
  if (res.status === 503 || res.status === 429) shed.add(1);
  if (res.status === 409 && json<{ error?: { code?: string } }>(res)?.error?.code === 'SOLD_OUT')
    soldOut.add(1);
}

/** One candidate walking the whole flow (with the deviations of its behaviour). */
export function candidateFlow(): void {
  const n = exec.scenario.iterationInTest;
  const c = candidates[n % candidates.length]!;
  const behaviour: Behaviour = pickBehaviour(defaultMix, Math.random());
  behaviours.add(1, { behaviour });
  const key = (step: string): string => `k6-${n}-${step}`;

  // Captcha (TEST_MODE returns testAnswer) and SMS code (testCode).
  const captcha = json<{ captchaId: string; testAnswer?: string }>(get('/api/v1/captcha'));
  const sms = json<{ testCode?: string }>(post('/api/v1/sms-codes', { phone: c.phone }));
  if (!check(captcha, { 'captcha has testAnswer (TEST_MODE=1)': (x) => !!x?.testAnswer })) return;

  const account = post(
    '/api/v1/accounts',
    { phone: c.phone, smsCode: sms?.testCode ?? '', password: c.password },
    undefined,
    key('account'),
  );
  check(account, { 'account created or exists': (r) => r.status === 201 || r.status === 409 });

  const login = post('/api/v1/sessions', {
    login: c.phone,
    password: c.password,
    captchaId: captcha!.captchaId,
    captchaAnswer: captcha!.testAnswer,
  });
  const token = json<{ token?: string }>(login)?.token;
  if (!check(login, { 'logged in': (r) => r.status === 200 && !!token })) return;

  check(post('/api/v1/agreement', { accepted: true }, token, key('agreement')), {
    'agreement 200': (r) => r.status === 200,
  });

  const who = { idType: c.idType, idNumber: c.idNumber, name: c.name };
  check(post('/api/v1/eligibility/query', who, token), { 'eligible 200': (r) => r.status === 200 });

  if (behaviour === 'cet6Reviewer' && c.ticketNumber) {
    const review = post(
      '/api/v1/cet6-review',
      { ticketNumber: c.ticketNumber, confirm: true, ...who },
      token,
      key('review'),
    );
    check(review, { 'review accepted or refused cleanly': (r) => [201, 409, 422].includes(r.status) });
  }

  const reg = post('/api/v1/registration', { ...who, confirm: true }, token, key('registration'));
  count(reg);
  if (
    !check(reg, { 'registration 201 or bound/shed': (r) => [201, 409, 429, 503].includes(r.status) }) ||
    reg.status !== 201
  )
    return;

  const written = post('/api/v1/registration/written', { subject: SUBJECT_WRITTEN }, token, key('written'));
  count(written);
  check(written, {
    'written held or sold out': (r) =>
      r.status === 201 || r.status === 409 || r.status === 503 || r.status === 429,
  });
  if (behaviour === 'retrySameKey') {
    const replay = post('/api/v1/registration/written', { subject: SUBJECT_WRITTEN }, token, key('written'));
    check(replay, {
      'idempotent replay returns the first answer': (r) => r.status === written.status || r.status === 409,
    });
  }

  const campuses =
    json<{ campusId: string; remaining: number }[]>(
      get(`/api/v1/oral/campuses?subject=${SUBJECT_ORAL}`, token, '/api/v1/oral/campuses'),
    ) ?? [];
  if (behaviour === 'refresh') {
    for (let i = 0; i < 5; i++) {
      get(`/api/v1/oral/campuses?subject=${SUBJECT_ORAL}`, token, '/api/v1/oral/campuses');
      get('/api/v1/registration', token);
      sleep(0.2);
    }
  }
  const withSeats = campuses.filter((x) => x.remaining > 0);
  const campus = withSeats.length > 0 ? withSeats[Math.floor(Math.random() * withSeats.length)] : undefined;
  if (campus && written.status === 201) {
    const tries = behaviour === 'botHammeringOneCampus' ? 50 : 1;
    for (let i = 0; i < tries; i++) {
      // The bot uses a fresh key each time (it is hammering, not retrying).
      const oral = post(
        '/api/v1/registration/oral',
        { subject: SUBJECT_ORAL, campusId: campus.campusId },
        token,
        key(`oral-${i}`),
      );
      count(oral);
      check(oral, {
        'oral held, sold out, taken or shed': (r) => [201, 409, 403, 429, 503].includes(r.status),
      });
    }
  }

  // abandon: never pays (expires after 12 h); latePayer: pays in the expiry scenario, not here.
  if (behaviour === 'abandon' || behaviour === 'latePayer' || written.status !== 201) return;

  const order = post('/api/v1/payments', { method: 'ALIPAY' }, token, key('payment'));
  const o = json<{ orderId?: string; payUrl?: string }>(order);
  if (!check(order, { 'payment order 201': (r) => r.status === 201 && !!o?.payUrl }) || !o?.payUrl) return;
  const paid = http.post(o.payUrl, JSON.stringify({ result: 'SUCCESS' }), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'payUrl' },
  });
  check(paid, { 'provider simulator acknowledged': (r) => r.status >= 200 && r.status < 300 });
  const status = json<{ status?: string }>(
    get(`/api/v1/payments/${o.orderId ?? ''}`, token, '/api/v1/payments/{orderId}'),
  );
  check(status, { 'order PAID': (x) => x?.status === 'PAID' });
}

/** A dashboard subscriber: subscribes to the province and measures the staleness of each update. */
export function dashboardSubscriber(): void {
  const res = ws.connect(WS_URL, null, (socket) => {
    socket.on('open', () => socket.send(JSON.stringify({ subscribe: [`province:${PROVINCE}`] })));
    socket.on('message', (data: string) => {
      let msg: { type?: string; at?: string } | undefined;
      try {
        msg = JSON.parse(data) as { type?: string; at?: string };
      } catch {
        return;
      }
      if (msg?.type !== 'seats' || !msg.at) return;
      const at = Date.parse(msg.at);
      if (Number.isFinite(at)) {
        // Staleness relative to the server's `at`: assumes the load generator's clock is in sync
        // with the gateway's (same box, or NTP) — and the gateway NOT on a shifted admin clock.
        staleness.add(Math.max(0, Date.now() - at));
        seatUpdates.add(1);
      }
    });
    socket.setTimeout(() => socket.close(), profileSeconds * 1000);
  });
  check(res, { 'ws upgraded (101)': (r) => !!r && r.status === 101 });
}
