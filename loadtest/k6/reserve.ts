/**
 * k6 scenario: one route at a constant offered rate (open loop) — `POST /api/v1/registration/written`
 * with pre-seeded sessions — for the gateway figures P2 (≥ 20k/s; p99 < 50 ms at an offered 10k/s)
 * and P7 (at 3× the sustainable rate the admitted requests keep p99 < 100 ms and the rest get fast
 * 503/429 with Retry-After).
 *
 * NOT RUN HERE (no k6 binary); type-checked with `npx tsc -p tsconfig.k6.json --noEmit`.
 *
 *   TEST_MODE=1 ADMIN_TOKEN=... RATE_RESERVE_PER_ACCOUNT_PER_MINUTE=1000000 npm start  # + README.md
 *   ADMIN_TOKEN=... npx tsx scripts/k6-fixtures.ts --province 12 --candidates 20000 --tokens loadtest/k6/tokens.json
 *   mkdir -p reports/k6
 *   k6 run -e RATE=10000 -e DURATION_S=60 loadtest/k6/reserve.ts                        # P2
 *   k6 run -e RATE=7500 -e ADMITTED_P99_MS=100 -e SHED_MAX=0.9 loadtest/k6/reserve.ts   # P7, 3×2,500/s
 *
 * Iteration i reserves for session i mod N (tokens file, format in lib/data.ts): a first attempt
 * holds a seat, a repeat by the same candidate answers 409 ALREADY_REGISTERED after the same checks
 * (the bench:gateway convention), SOLD_OUT once the campus is full. 409 and 503/429 are declared
 * expected (`http.setResponseCallback`), so `http_req_failed` counts only real failures; shed answers
 * are counted apart (`shed_rate`, `shed_503_429`) and timed apart (`shed_duration`), admitted ones in
 * `admitted_duration`. Raise the gateway's RATE_RESERVE_PER_ACCOUNT_PER_MINUTE, or its per-session
 * limit turns the test into a rate-limit test (429s).
 *
 * Environment: BASE_URL, TOKENS (default ./tokens.json, relative to this file), SUBJECT (CET4),
 * RATE (offered requests/s, default 10000), DURATION_S (default 60), P99_MS (all answers, default
 * 50: P2), ADMITTED_P99_MS (answers other than 503/429, default 100: P7), SHED_MAX (highest share of
 * 503/429, default 0.01), SHED_P99_MS (shed answers must be fast, default 50), FAILED_MAX (0.01),
 * PRE_VUS / MAX_VUS (default 1000 / 5000), IDEMPOTENCY_KEYS (1: send a fresh Idempotency-Key with
 * every request, default 0), SUMMARY_DIR, SHARD (i/n: run shard i of n at RATE / n, README.md
 * "Sharding").
 */
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { parseTokens, type TokenEntry } from './lib/data.ts';
import { baseThresholds, envNum, envStr, maxVUsFromEnv, SHARD, SHARD_OPTIONS } from './lib/env.ts';
import { errorCode, EXPECTED_STATUSES, isShed, post } from './lib/http.ts';
import { summaryHandler } from './lib/summary.ts';

const SUBJECT = envStr('SUBJECT', 'CET4');
const RATE = envNum('RATE', 10_000);
const DURATION_S = envNum('DURATION_S', 60);
const IDEMPOTENCY_KEYS = envStr('IDEMPOTENCY_KEYS', '0') === '1';
const MAX_VUS = maxVUsFromEnv(5000);
/** This instance offers RATE / n under SHARD=i/n: its share of the dropped-iterations allowance. */
const SHARE = 1 / (SHARD?.count ?? 1);

const tokens = new SharedArray<TokenEntry>('tokens', () =>
  parseTokens(open(envStr('TOKENS', './tokens.json'))),
);

const admitted = new Trend('admitted_duration', true);
const shedDuration = new Trend('shed_duration', true);
const shedWithoutRetryAfter = new Counter('shed_without_retry_after');
const outcomes = new Counter('reserve_outcome');

http.setResponseCallback(http.expectedStatuses(...EXPECTED_STATUSES));

export const options: Options = {
  ...SHARD_OPTIONS,
  scenarios: {
    reserve: {
      executor: 'constant-arrival-rate',
      exec: 'reserve',
      rate: RATE,
      timeUnit: '1s',
      duration: `${DURATION_S}s`,
      preAllocatedVUs: envNum('PRE_VUS', Math.min(MAX_VUS, 1000)),
      maxVUs: MAX_VUS,
    },
  },
  thresholds: {
    ...baseThresholds(50),
    admitted_duration: [`p(99)<${envNum('ADMITTED_P99_MS', 100)}`],
    shed_rate: [`rate<${envNum('SHED_MAX', 0.01)}`],
    shed_duration: [`p(99)<${envNum('SHED_P99_MS', 50)}`],
    shed_without_retry_after: ['count<1'],
    dropped_iterations: [`count<${Math.max(1, Math.round(RATE * SHARE * DURATION_S * 0.01))}`],
  },
};

export function setup(): void {
  if (tokens.length < RATE) {
    console.warn(`reserve: ${tokens.length} sessions for ${RATE}/s: each reserves many times a second`);
  }
}

export function reserve(): void {
  const n = exec.scenario.iterationInTest;
  const t = tokens[n % tokens.length]!;
  const key = IDEMPOTENCY_KEYS ? `k6-reserve-${n}` : undefined;
  const res = post('/api/v1/registration/written', { subject: SUBJECT }, t.token, key);
  if (isShed(res)) {
    shedDuration.add(res.timings.duration);
    if (!res.headers['Retry-After']) shedWithoutRetryAfter.add(1);
  } else {
    admitted.add(res.timings.duration);
  }
  outcomes.add(1, { outcome: res.status === 201 ? 'HELD' : (errorCode(res) ?? String(res.status)) });
  check(res, { 'held, refused (409) or shed (503/429)': (r) => [201, 409, 429, 503].includes(r.status) });
}

export const handleSummary = summaryHandler({
  scenario: 'reserve',
  config: { SUBJECT, RATE, DURATION_S, IDEMPOTENCY_KEYS, tokens: tokens.length },
});
