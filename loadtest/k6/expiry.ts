/**
 * k6 scenario: the 12-hour expiry wave (`expiryProfile(COMPRESSION)`), time-compressed: a dedicated
 * `clock` scenario moves the gateway's test-mode clock (`POST /api/v1/admin/clock {advanceMs}`) so
 * that it runs COMPRESSION× faster than the wall clock, hence holds taken by the fixtures just
 * before the run expire (R22) when the compressed profile reaches 12 h. Meanwhile:
 * - `wave` (ramping-arrival-rate from the profile): a holder comes back, reads its registration and
 *   pays while its seat is HELD (→ PAID; LATE_REFUND when it loses the race with the deadline), or
 *   finds it EXPIRED and cannot pay it (`POST /api/v1/payments` → 409 NOTHING_TO_PAY);
 * - `latePayers` (LATE_PAYERS VUs, one each): open an order before the deadline, wait until the
 *   sweeper released the seat, then pay: the order must end LATE_REFUND and the seat stay EXPIRED
 *   (R23: a payment never revives an expired item).
 *
 * NOT RUN HERE (no k6 binary); type-checked with `npx tsc -p tsconfig.k6.json --noEmit`.
 *
 *   TEST_MODE=1 ADMIN_TOKEN=... npm start    # per-IP limits raised: see README.md here
 *   ADMIN_TOKEN=... npx tsx scripts/k6-fixtures.ts --province 15 --candidates 2000 --hold CET4 \
 *       --tokens loadtest/k6/tokens-expiry.json
 *   k6 run -e ADMIN_TOKEN=... -e TOKENS=./tokens-expiry.json -e PEAK_RATE=100 loadtest/k6/expiry.ts
 *
 * Start it right after the fixtures: the profile's t = 0 is the moment the holds were taken (a
 * delay d shifts the deadline d / COMPRESSION earlier; setup() logs where it falls). The gateway's
 * clock stays ~12.5 h ahead afterwards (restart the stack, or account for it). Tokens 0 … LATE_PAYERS−1
 * are the late payers; the wave uses the rest in turn.
 *
 * Environment: BASE_URL, ADMIN_TOKEN (required), TOKENS (./tokens.json), COMPRESSION (default
 * EXPIRY_COMPRESSION = 60), PEAK_RATE (rescales the rates only: time is COMPRESSION's), STEP_S,
 * TICK_S (clock step period, default 1), LATE_PAYERS (default 50), POLL_S (late payers' reads,
 * default 2), PAY_URL_BASE, P99_MS (500), FAILED_MAX (0.01), PRE_VUS / MAX_VUS, SUMMARY_DIR, SHARD
 * (i/n, README.md "Sharding": the one clock VU runs in shard 1 only, the late payers are split).
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter, Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import {
  EXPIRY_COMPRESSION,
  expiryProfile,
  HOLD_LIFETIME_S,
  profileTotal,
  scaleProfile,
} from '../profiles.ts';
import { parseTokens, type TokenEntry } from './lib/data.ts';
import {
  ADMIN_TOKEN,
  arrivalScenario,
  baseThresholds,
  envNum,
  envStr,
  profileSeconds,
  SHARD_OPTIONS,
} from './lib/env.ts';
import { awaitOrderStatus, openOrder, payAll, payAtProvider } from './lib/flow.ts';
import { adminClock, errorCode, EXPECTED_STATUSES, get, json } from './lib/http.ts';
import { summaryHandler } from './lib/summary.ts';

const COMPRESSION = envNum('COMPRESSION', EXPIRY_COMPRESSION);
const LATE_PAYERS = envNum('LATE_PAYERS', 50);
const TICK_S = envNum('TICK_S', 1);
const POLL_S = envNum('POLL_S', 2);
const tokens = new SharedArray<TokenEntry>('tokens', () =>
  parseTokens(open(envStr('TOKENS', './tokens.json'))),
);

const base = expiryProfile(COMPRESSION);
const profile = __ENV.PEAK_RATE ? scaleProfile(base, { peakRate: envNum('PEAK_RATE', 0) }) : base;
const seconds = profileSeconds(profile);

const paidOnTime = new Counter('expiry_paid_on_time');
const lostRace = new Counter('expiry_late_refund_in_wave');
const foundExpired = new Counter('expiry_found_expired');
const alreadyPaid = new Counter('expiry_already_paid');
const clockFailures = new Counter('clock_advance_failed');
const lateRefunded = new Rate('late_payment_refunded');
const notRevived = new Rate('expired_not_revived');

http.setResponseCallback(http.expectedStatuses(...EXPECTED_STATUSES));

export const options: Options = {
  ...SHARD_OPTIONS,
  scenarios: {
    wave: arrivalScenario(profile, 'returningHolder'),
    clock: {
      executor: 'per-vu-iterations',
      exec: 'advanceClock',
      vus: 1,
      iterations: 1,
      maxDuration: `${seconds + 30}s`,
    },
    ...(LATE_PAYERS > 0
      ? {
          latePayers: {
            executor: 'per-vu-iterations',
            exec: 'latePayer',
            vus: LATE_PAYERS,
            iterations: 1,
            maxDuration: `${seconds + 120}s`,
          },
        }
      : {}),
  },
  thresholds: {
    ...baseThresholds(500, '{scenario:wave}'),
    ...(LATE_PAYERS > 0 ? { late_payment_refunded: ['rate==1'], expired_not_revived: ['rate==1'] } : {}),
    clock_advance_failed: ['count<5'],
    checks: ['rate>0.99'],
  },
};

interface Item {
  subject: string;
  status: string;
  payBy?: string;
}

/** The session's written items (GET /api/v1/registration), or undefined when it has none. */
function writtenItems(token: string): Item[] | undefined {
  const res = get('/api/v1/registration', token);
  return json<{ registration?: { written?: Item[] } }>(res)?.registration?.written;
}

export function setup(): void {
  if (!ADMIN_TOKEN) exec.test.abort('expiry.ts needs ADMIN_TOKEN: it drives the test-mode clock');
  if (tokens.length <= LATE_PAYERS)
    exec.test.abort(`expiry: need more than LATE_PAYERS (${LATE_PAYERS}) tokens`);
  const nowMs = adminClock({ advanceMs: 0 });
  if (nowMs === undefined)
    exec.test.abort('cannot read the admin clock (TEST_MODE=1 and ADMIN_TOKEN needed)');
  const payBy = writtenItems(tokens[LATE_PAYERS]!.token)?.find((x) => x.status === 'HELD')?.payBy;
  if (!payBy)
    exec.test.abort('the first wave token holds no HELD written seat: run the fixtures with --hold');
  const deadlineS = (Date.parse(payBy!) - nowMs!) / 1000 / COMPRESSION;
  console.info(
    `expiry: holds expire ~${Math.round(deadlineS)} s into the run (profile: ${HOLD_LIFETIME_S / COMPRESSION} s)`,
  );
  const arrivals = Math.round(profileTotal(profile));
  if (tokens.length - LATE_PAYERS < arrivals)
    console.warn(`expiry: ${tokens.length - LATE_PAYERS} holders for ~${arrivals} arrivals`);
}

/** Keeps the gateway's clock at COMPRESSION× the wall clock since the start of the run. */
export function advanceClock(): void {
  const start = exec.scenario.startTime;
  let advanced = 0;
  for (;;) {
    const elapsedMs = Date.now() - start;
    if (elapsedMs > seconds * 1000) return;
    const target = Math.round((COMPRESSION - 1) * elapsedMs); // the clock itself runs at 1×
    if (target > advanced) {
      if (adminClock({ advanceMs: target - advanced }) !== undefined) advanced = target;
      else clockFailures.add(1);
    }
    sleep(TICK_S);
  }
}

/** A holder coming back: pays while HELD, or finds the seat expired and unpayable. */
export function returningHolder(): void {
  const n = exec.scenario.iterationInTest;
  const t = tokens[LATE_PAYERS + (n % (tokens.length - LATE_PAYERS))]!;
  const items = writtenItems(t.token) ?? [];
  if (items.some((x) => x.status === 'HELD')) {
    const r = payAll(t.token, `k6-expiry-${n}`);
    if (r.status === 'PAID') paidOnTime.add(1);
    else if (r.status === 'LATE_REFUND') lostRace.add(1);
    else if (errorCode(r.res) === 'NOTHING_TO_PAY') foundExpired.add(1); // expired in between
    check(r, {
      'paid, refunded late or expired meanwhile (or shed)': (x) =>
        x.status === 'PAID' || x.status === 'LATE_REFUND' || [409, 429, 503].includes(x.res.status),
    });
  } else if (items.some((x) => x.status === 'EXPIRED')) {
    foundExpired.add(1);
    const o = openOrder(t.token, `k6-expiry-${n}`);
    check(o.res, {
      'an expired seat is not payable (409 NOTHING_TO_PAY)': (r) => [409, 429, 503].includes(r.status),
    });
  } else {
    alreadyPaid.add(1);
  }
}

/** Orders before the deadline, pays after the sweeper released the seat: LATE_REFUND, not revived. */
export function latePayer(): void {
  const i = exec.scenario.iterationInTest;
  const t = tokens[i % LATE_PAYERS]!;
  const order = openOrder(t.token, `k6-late-${i}`);
  if (!order.orderId || !order.payUrl) {
    lateRefunded.add(false);
    check(order.res, { 'late payer opened an order before the deadline': () => false });
    return;
  }
  const giveUpAt = exec.scenario.startTime + (seconds + 90) * 1000;
  let expired = false;
  while (!expired && Date.now() < giveUpAt) {
    sleep(POLL_S);
    expired = (writtenItems(t.token) ?? []).some((x) => x.status === 'EXPIRED');
  }
  payAtProvider(order.payUrl);
  const status = awaitOrderStatus(t.token, order.orderId, ['LATE_REFUND', 'PAID']);
  lateRefunded.add(expired && status === 'LATE_REFUND');
  check(status, { 'late payment ends LATE_REFUND': (s) => s === 'LATE_REFUND' });
  const after = writtenItems(t.token) ?? [];
  notRevived.add(after.length > 0 && after.every((x) => x.status === 'EXPIRED'));
}

export const handleSummary = summaryHandler({
  scenario: 'expiry',
  profile,
  config: { COMPRESSION, LATE_PAYERS, TICK_S, POLL_S, tokens: tokens.length, peakRate: __ENV.PEAK_RATE },
});
