/**
 * k6 scenario: the staggered oral campus openings (`profiles.oralOpenings`): candidates who already
 * hold their written seat race for the oral seats of their own campus at the moment it opens
 * (R20 `ownSchoolAt`), one campus after another; between openings, waiting candidates reload the
 * campus list.
 *
 * NOT RUN HERE (no k6 binary); type-checked with `npx tsc -p tsconfig.k6.json --noEmit`.
 *
 *   TEST_MODE=1 ADMIN_TOKEN=... npm start    # per-IP limits raised: see README.md here
 *   ADMIN_TOKEN=... npx tsx scripts/k6-fixtures.ts --province 13 --candidates 8000 --campuses 6 --hold CET4 \
 *       --tokens loadtest/k6/tokens-oral.json --campuses-out loadtest/k6/campuses-oral.json
 *   k6 run -e ADMIN_TOKEN=... -e TOKENS=./tokens-oral.json -e CAMPUSES=./campuses-oral.json \
 *          -e PEAK_RATE=100 -e DURATION_S=600 loadtest/k6/oral.ts
 *
 * Timing: the fixtures leave every campus's oral seats closed; `setup()` re-sends the campus rows
 * (CAMPUSES file, written by the fixtures) through `PUT /api/v1/admin/campuses` with
 * `oralOpens.ownSchoolAt` = the gateway's clock now + the k-th spike start of the scaled profile
 * (`lib/schedule.ts` spikeStarts: 60, 360, … s unscaled) and `provinceWideAt: null`, so the openings
 * line up with this run's arrival curve whatever the delay since the fixtures. Needs ADMIN_TOKEN.
 * Campus k of the rows opens k-th; token i belongs to campus i mod K (lib/data.ts), and the j-th
 * arrival after opening k takes token j·K + k, so each campus's candidates are used in turn. A
 * campus needs about `totalArrivals` of its spike in candidates (logged at setup).
 *
 * Environment: BASE_URL, ADMIN_TOKEN (required), TOKENS (./tokens.json), CAMPUSES
 * (./campuses.json), SUBJECT_ORAL (CET-SET4), PEAK_RATE / DURATION_S / STEP_S (profile), P99_MS
 * (500), FAILED_MAX (0.01), PRE_VUS / MAX_VUS (5000), SUMMARY_DIR, SHARD (i/n, README.md "Sharding";
 * every shard's setup() re-times the openings: start the shards together).
 */
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter } from 'k6/metrics';
import type { Options } from 'k6/options';
import { profiles, profileTotal, startOf, totalArrivals } from '../profiles.ts';
import { campusOrder, parseTokens, type TokenEntry } from './lib/data.ts';
import {
  ADMIN_TOKEN,
  arrivalScenario,
  BASE_URL,
  baseThresholds,
  envStr,
  scaledFromEnv,
  SHARD_OPTIONS,
} from './lib/env.ts';
import { adminClock, errorCode, EXPECTED_STATUSES, get, json, post } from './lib/http.ts';
import { openedIndex, spikeStarts } from './lib/schedule.ts';
import { summaryHandler } from './lib/summary.ts';

const SUBJECT_ORAL = envStr('SUBJECT_ORAL', 'CET-SET4');
const tokens = new SharedArray<TokenEntry>('tokens', () =>
  parseTokens(open(envStr('TOKENS', './tokens.json'))),
);
const campusRows = new SharedArray<Record<string, unknown>>('campuses', () => {
  const rows: unknown = JSON.parse(open(envStr('CAMPUSES', './campuses.json')));
  if (!Array.isArray(rows) || rows.length === 0) throw new Error('campuses file: expected a non-empty array');
  return rows as Record<string, unknown>[];
});

const profile = scaledFromEnv(profiles.oralOpenings);
const openings = spikeStarts(profile);
const t0 = startOf(profile);
/** Expected arrivals before each opening: the iteration number at which opening k begins. */
const arrivalsBefore = openings.map((s) => Math.round(totalArrivals(profile, t0, t0 + s)));
const campuses = campusOrder(tokens);
const K = campuses.length;
const perCampus = Math.max(1, Math.floor(tokens.length / Math.max(1, K)));

const outcomes = new Counter('oral_outcome');
const waiting = new Counter('oral_waiting_refresh');

http.setResponseCallback(http.expectedStatuses(...EXPECTED_STATUSES, 403));

export const options: Options = {
  ...SHARD_OPTIONS,
  scenarios: { candidates: arrivalScenario(profile, 'oralRace') },
  thresholds: { ...baseThresholds(500, '{scenario:candidates}'), checks: ['rate>0.99'] },
};

export function setup(): { openings: number[] } {
  if (!ADMIN_TOKEN) exec.test.abort('oral.ts needs ADMIN_TOKEN: setup() times the campus openings');
  if (K < openings.length)
    console.warn(`oral: ${K} campuses for ${openings.length} openings: campuses reopen`);
  const nowMs = adminClock({ advanceMs: 0 });
  if (nowMs === undefined)
    exec.test.abort('cannot read the admin clock (TEST_MODE=1 and ADMIN_TOKEN needed)');
  const rows = [];
  for (let k = 0; k < campusRows.length; k++) {
    const row = campusRows[k]!;
    // campus rows in token order: campus k of the tokens opens at the k-th spike
    const idx = campuses.indexOf(String(row.campusId));
    const at = idx >= 0 && idx < openings.length ? nowMs! + openings[idx]! * 1000 : nowMs! + 30 * 86_400_000;
    rows.push({ ...row, oralOpens: { ownSchoolAt: at, provinceWideAt: null } });
  }
  const res = http.put(`${BASE_URL}/api/v1/admin/campuses`, JSON.stringify(rows), {
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ADMIN_TOKEN}` },
    tags: { name: '/api/v1/admin/campuses' },
  });
  const body = json<{ upserted?: number; rejected?: unknown[] }>(res);
  if (res.status !== 200 || (body?.rejected?.length ?? 0) > 0) {
    exec.test.abort(`campus openings refused: ${res.status} ${res.body as string}`);
  }
  for (let k = 0; k < openings.length; k++) {
    const end = k + 1 < openings.length ? arrivalsBefore[k + 1]! : Math.round(profileTotal(profile));
    const need = end - arrivalsBefore[k]!;
    if (need > perCampus)
      console.warn(`oral: opening ${k} expects ~${need} arrivals, campus has ${perCampus}`);
  }
  return { openings };
}

/** One arrival: before the first opening a reload of the list, then a race at the latest campus. */
export function oralRace(): void {
  const n = exec.scenario.iterationInTest;
  const elapsedS = (Date.now() - exec.scenario.startTime) / 1000;
  const k = openedIndex(openings, elapsedS);
  const listPath = `/api/v1/oral/campuses?subject=${SUBJECT_ORAL}`;
  if (k < 0) {
    const t = tokens[n % tokens.length]!;
    waiting.add(1);
    check(get(listPath, t.token, '/api/v1/oral/campuses'), {
      'campus list 200 or shed': (r) => [200, 429, 503].includes(r.status),
    });
    return;
  }
  const campus = k % Math.max(1, K);
  const j = Math.max(0, n - arrivalsBefore[k]!) % perCampus;
  const t = tokens[(j * K + campus) % tokens.length]!;
  get(listPath, t.token, '/api/v1/oral/campuses'); // the page the candidate is on
  const res = post(
    '/api/v1/registration/oral',
    { subject: SUBJECT_ORAL, campusId: t.campusId },
    t.token,
    `k6-oral-${n}`,
  );
  outcomes.add(1, { outcome: res.status === 201 ? 'HELD' : (errorCode(res) ?? String(res.status)) });
  check(res, {
    // 403 CAMPUS_NOT_OPEN for an arrival a hair before its campus opened (clock skew)
    'oral held, sold out, taken, not yet open or shed': (r) => [201, 409, 403, 429, 503].includes(r.status),
  });
}

export const handleSummary = summaryHandler({
  scenario: 'oral',
  profile,
  config: {
    SUBJECT_ORAL,
    openings,
    campuses,
    tokens: tokens.length,
    peakRate: __ENV.PEAK_RATE,
    durationS: __ENV.DURATION_S,
  },
});
