/**
 * k6 scenario: the payment wave (`profiles.payment`): candidates holding unpaid seats open an order
 * (`POST /api/v1/payments`), pay it at the payment-provider simulator (`POST {payUrl}`
 * `{"result":"SUCCESS"}`: the simulator sends the signed notification and answers once the gateway
 * acknowledged it), then read the order (`GET /api/v1/payments/{orderId}`) until it is PAID.
 *
 * NOT RUN HERE (no k6 binary); type-checked with `npx tsc -p tsconfig.k6.json --noEmit`.
 *
 *   TEST_MODE=1 ADMIN_TOKEN=... npm start    # per-IP limits raised: see README.md here
 *   ADMIN_TOKEN=... npx tsx scripts/k6-fixtures.ts --province 14 --candidates 13000 --hold CET4 \
 *       --tokens loadtest/k6/tokens-payment.json
 *   k6 run -e TOKENS=./tokens-payment.json -e PEAK_RATE=50 -e DURATION_S=600 loadtest/k6/payment.ts
 *
 * Iteration i pays for session i mod N (each holder pays once: a reused session answers 409
 * NOTHING_TO_PAY, counted in `payment_nothing_to_pay`; size the fixtures to `totalArrivals`, logged
 * at setup). From another host or container the simulator's link must be re-based: PAY_URL_BASE
 * (e.g. http://gateway:8081; the simulator listens on the gateway's PORT + 1).
 *
 * Environment: BASE_URL, TOKENS (./tokens.json), PAY_URL_BASE, METHOD (ALIPAY, BANK or MIXED;
 * default ALIPAY), PEAK_RATE / DURATION_S / STEP_S (profile), P99_MS (500), FAILED_MAX (0.01),
 * PAID_MIN (share of orders read back PAID, default 0.99), SETTLE_P99_MS (order → PAID, default
 * 2000), STATUS_TRIES (order reads before giving up, default 10), PRE_VUS / MAX_VUS, SUMMARY_DIR,
 * SHARD (i/n: run shard i of n, README.md "Sharding").
 */
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter, Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import { profiles, profileTotal } from '../profiles.ts';
import { parseTokens, type TokenEntry } from './lib/data.ts';
import { arrivalScenario, baseThresholds, envNum, envStr, scaledFromEnv, SHARD_OPTIONS } from './lib/env.ts';
import { awaitOrderStatus, openOrder, payAtProvider, paymentSettle } from './lib/flow.ts';
import { errorCode, EXPECTED_STATUSES } from './lib/http.ts';
import { summaryHandler } from './lib/summary.ts';

const METHOD = envStr('METHOD', 'ALIPAY');
const STATUS_TRIES = envNum('STATUS_TRIES', 10);
const tokens = new SharedArray<TokenEntry>('tokens', () =>
  parseTokens(open(envStr('TOKENS', './tokens.json'))),
);
const profile = scaledFromEnv(profiles.payment);

const paid = new Rate('payment_paid');
const nothingToPay = new Counter('payment_nothing_to_pay');

http.setResponseCallback(http.expectedStatuses(...EXPECTED_STATUSES));

export const options: Options = {
  ...SHARD_OPTIONS,
  scenarios: { payers: arrivalScenario(profile, 'payer') },
  thresholds: {
    ...baseThresholds(500, '{scenario:payers}'),
    payment_paid: [`rate>=${envNum('PAID_MIN', 0.99)}`],
    payment_settle: [`p(99)<${envNum('SETTLE_P99_MS', 2000)}`],
    checks: ['rate>0.99'],
  },
};

export function setup(): void {
  const arrivals = Math.round(profileTotal(profile));
  if (tokens.length < arrivals) {
    console.warn(
      `payment: ${tokens.length} holders for ~${arrivals} arrivals: reused ones get NOTHING_TO_PAY`,
    );
  }
}

export function payer(): void {
  const n = exec.scenario.iterationInTest;
  const t = tokens[n % tokens.length]!;
  const method = METHOD === 'MIXED' ? (n % 2 === 0 ? 'ALIPAY' : 'BANK') : METHOD;
  const started = Date.now();
  const order = openOrder(t.token, `k6-pay-${n}`, method);
  if (order.res.status === 409 && errorCode(order.res) === 'NOTHING_TO_PAY') {
    nothingToPay.add(1);
    return;
  }
  if (
    !check(order.res, {
      'order 201 with payUrl (or shed)': (r) =>
        (r.status === 201 && !!order.payUrl) || r.status === 503 || r.status === 429,
    })
  )
    return;
  if (!order.orderId || !order.payUrl) return; // shed
  const ack = payAtProvider(order.payUrl);
  check(ack, { 'provider simulator acknowledged': (r) => r.status >= 200 && r.status < 300 });
  const status = awaitOrderStatus(t.token, order.orderId, ['PAID', 'LATE_REFUND'], STATUS_TRIES);
  paid.add(status === 'PAID');
  if (status === 'PAID') paymentSettle.add(Date.now() - started);
  check(status, { 'order PAID': (s) => s === 'PAID' });
}

export const handleSummary = summaryHandler({
  scenario: 'payment',
  profile,
  config: {
    METHOD,
    STATUS_TRIES,
    tokens: tokens.length,
    peakRate: __ENV.PEAK_RATE,
    durationS: __ENV.DURATION_S,
  },
});
