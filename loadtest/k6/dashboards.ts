/**
 * k6 scenario: live seat dashboards only (P5: 10,000 WebSocket subscribers during the surge, each
 * seeing a seat change within 500 ms at p99). Two scenarios:
 * - `subscribers` (SUBSCRIBERS VUs, one long iteration each): subscribe to `province:<PROVINCE>`
 *   on `/ws/seats` and stay DURATION_S, recording `seat_update_staleness` = receive time − the
 *   update's `at` for every update after the current state sent on subscribe;
 * - `pageLoads` (ramping-arrival-rate, the `opening` profile's shape scaled to PAGE_LOAD_PEAK/s
 *   over DURATION_S): the public reloading the dashboard — `GET /api/v1/seats?province=` then a
 *   socket that closes once the current state arrived (`ws_first_state`).
 *
 * Staleness needs seat changes: run this next to a surge (opening.ts or oral.ts in another k6
 * process, or `npm run demo`-style traffic) on the same province. `seat_updates: count>0` fails a
 * run that saw none rather than passing it on no data. The clocks of the load generator and the
 * gateway must agree (same box, or NTP); with ADMIN_TOKEN, setup() reads the test-mode clock's
 * offset (non-zero after expiry.ts moved it) and corrects for it.
 *
 * NOT RUN HERE (no k6 binary); type-checked with `npx tsc -p tsconfig.k6.json --noEmit`.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e PROVINCE=11 -e SUBSCRIBERS=10000 -e DURATION_S=300 \
 *          loadtest/k6/dashboards.ts
 *
 * Environment: BASE_URL, PROVINCE (11), SUBSCRIBERS (default 1000), DURATION_S (default 300),
 * PAGE_LOAD_PEAK (page loads/s at the peak, default 50; 0: none), STEP_S, STALENESS_P99_MS (500),
 * FIRST_STATE_P99_MS (1000), P99_MS (HTTP, default 500), FAILED_MAX (0.01), ADMIN_TOKEN (optional),
 * PRE_VUS / MAX_VUS (page loads, default 1000), SUMMARY_DIR, SHARD (i/n: this instance's slice of
 * the subscribers and page loads, README.md "Sharding"). Note that k6 needs one file
 * descriptor per socket: raise `ulimit -n` above SUBSCRIBERS.
 */
import http from 'k6/http';
import { check } from 'k6';
import type { Options } from 'k6/options';
import { profiles, scaleProfile } from '../profiles.ts';
import { subscribe } from './lib/dashboard.ts';
import { arrivalScenario, baseThresholds, envNum, envStr, SHARD_OPTIONS } from './lib/env.ts';
import { clockOffsetMs, EXPECTED_STATUSES, get } from './lib/http.ts';
import { summaryHandler } from './lib/summary.ts';

const PROVINCE = envStr('PROVINCE', '11');
const SUBSCRIBERS = envNum('SUBSCRIBERS', 1000);
const DURATION_S = envNum('DURATION_S', 300);
const PAGE_LOAD_PEAK = envNum('PAGE_LOAD_PEAK', 50);

const pageLoadProfile =
  PAGE_LOAD_PEAK > 0
    ? scaleProfile(profiles.opening, { peakRate: PAGE_LOAD_PEAK, durationS: DURATION_S })
    : undefined;

http.setResponseCallback(http.expectedStatuses(...EXPECTED_STATUSES));

export const options: Options = {
  ...SHARD_OPTIONS,
  scenarios: {
    ...(SUBSCRIBERS > 0
      ? {
          subscribers: {
            executor: 'per-vu-iterations',
            exec: 'subscriber',
            vus: SUBSCRIBERS,
            iterations: 1,
            maxDuration: `${DURATION_S + 60}s`,
          },
        }
      : {}),
    ...(pageLoadProfile ? { pageLoads: arrivalScenario(pageLoadProfile, 'pageLoad', { maxVUs: 1000 }) } : {}),
  },
  thresholds: {
    ...baseThresholds(500),
    seat_update_staleness: [`p(99)<${envNum('STALENESS_P99_MS', 500)}`], // P5
    seat_updates: ['count>0'],
    ws_opened: ['rate>0.99'],
    ws_first_state: [`p(99)<${envNum('FIRST_STATE_P99_MS', 1000)}`],
  },
};

interface SetupData {
  clockOffsetMs: number;
}

export function setup(): SetupData {
  return { clockOffsetMs: clockOffsetMs() };
}

/** A dashboard left open on the province for the whole run. */
export function subscriber(data: SetupData): void {
  subscribe({
    topics: [`province:${PROVINCE}`],
    durationMs: DURATION_S * 1000,
    clockOffsetMs: data.clockOffsetMs,
  });
}

/** A page load: the current state over HTTP, then a socket until its first message. */
export function pageLoad(data: SetupData): void {
  const res = get(`/api/v1/seats?province=${PROVINCE}`, undefined, '/api/v1/seats');
  check(res, { 'seats 200 (or shed)': (r) => [200, 429, 503].includes(r.status) });
  subscribe({
    topics: [`province:${PROVINCE}`],
    durationMs: 10_000,
    clockOffsetMs: data.clockOffsetMs,
    closeAfterFirst: true,
  });
}

export const handleSummary = summaryHandler({
  scenario: 'dashboards',
  ...(pageLoadProfile ? { profile: pageLoadProfile } : {}),
  config: { PROVINCE, SUBSCRIBERS, DURATION_S, PAGE_LOAD_PEAK },
});
