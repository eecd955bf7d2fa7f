/**
 * k6 scenario: the province opening surge (P3) with live dashboard subscribers (P5).
 *
 * NOT RUN HERE: this repository's environment has no k6 binary. The file is type-checked against
 * `@types/k6` (`npm run typecheck` → `tsc -p tsconfig.k6.json`). It is written for k6 ≥ 1.0, which
 * runs TypeScript directly (esbuild), including the relative `../profiles.ts` and `./lib/` imports:
 *
 *   TEST_MODE=1 ADMIN_TOKEN=... npm start    # test mode, per-IP limits raised: see README.md here
 *   ADMIN_TOKEN=... npx tsx scripts/k6-fixtures.ts --candidates 6000 --province 11 --duration-s 300
 *   mkdir -p reports/k6
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e PEAK_RATE=200 -e DURATION_S=300 \
 *          -e PROVINCE=11 -e WS_SUBSCRIBERS=1000 loadtest/k6/opening.ts
 *
 * Candidates come from `loadtest/k6/candidates.json` (path relative to this script; override with
 * `-e CANDIDATES=...`), read once at init time (k6 only allows `open()` there) into a SharedArray;
 * the format is in `lib/data.ts`. The candidates must also be in the gateway's roster and the
 * province's registration window must open at the profile's `OPENING_AT_S` (scaled by DURATION_S)
 * after this test starts: `scripts/k6-fixtures.ts` does both (its `--duration-s` must equal
 * DURATION_S here; start k6 right after it). Each iteration takes the next candidate
 * (iterationInTest), so there must be at least as many candidates as arrivals (`totalArrivals` of
 * the scaled profile, logged at setup); iterations past the end wrap around and mostly see 409s.
 *
 * The arrival curve is `PROFILE` (openingDay by default: the login rush before the opening behind a
 * waiting room; or opening) and with `WAITING_ROOM=opening` (the default) every candidate takes a
 * ticket once logged in and waits for its turn (lib/queue.ts: most watch it over /ws/seats, some
 * poll), as the Node runner does; `k6-fixtures --waiting-room opening` sets the room up.
 *
 * Environment: BASE_URL (default http://127.0.0.1:8080), PEAK_RATE / DURATION_S (rescale the
 * profile), PROFILE (openingDay | opening), WAITING_ROOM (opening | off), STEP_S (k6 stage length,
 * default 5), PROVINCE (dashboard subscription and waiting room, default 11), WS_SUBSCRIBERS (default 100), SUBJECT_WRITTEN (default CET4), SUBJECT_ORAL (default
 * CET-SET4), P99_MS (default 500), FAILED_MAX (default 0.01), MAX_VUS (default 5000), PRE_VUS,
 * PAY_URL_BASE (simulator origin seen from k6, e.g. http://gateway:8081), ADMIN_TOKEN (optional:
 * reads the test-mode clock's offset so that staleness stays right after a clock move),
 * SUMMARY_DIR (default reports/k6), SHARD (i/n: run shard i of n, candidates k ≡ i−1 mod n;
 * README.md "Sharding").
 */
import http from 'k6/http';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter } from 'k6/metrics';
import type { Options } from 'k6/options';
import { defaultMix, pickBehaviour, profiles, profileTotal } from '../profiles.ts';
import { parseCandidates, type Candidate } from './lib/data.ts';
import { subscribe } from './lib/dashboard.ts';
import {
  arrivalScenario,
  baseThresholds,
  envNum,
  envStr,
  profileSeconds,
  scaledFromEnv,
  SHARD_OPTIONS,
} from './lib/env.ts';
import { candidateFlow as walkFlow } from './lib/flow.ts';
import { clockOffsetMs, EXPECTED_STATUSES } from './lib/http.ts';
import { summaryHandler } from './lib/summary.ts';

const PROVINCE = envStr('PROVINCE', '11');
const SUBJECTS = { written: envStr('SUBJECT_WRITTEN', 'CET4'), oral: envStr('SUBJECT_ORAL', 'CET-SET4') };
const WS_SUBSCRIBERS = envNum('WS_SUBSCRIBERS', 100);

const candidates = new SharedArray<Candidate>('candidates', () =>
  parseCandidates(open(envStr('CANDIDATES', './candidates.json'))),
);

const PROFILE = envStr('PROFILE', 'openingDay') === 'opening' ? profiles.opening : profiles.openingDay;
const WAITING_ROOM = envStr('WAITING_ROOM', 'opening');
const profile = scaledFromEnv(PROFILE);
const seconds = profileSeconds(profile);
const behaviours = new Counter('behaviour');

// SOLD_OUT / already-taken answers and shedding are expected outcomes of a surge, not failures.
http.setResponseCallback(http.expectedStatuses(...EXPECTED_STATUSES));

export const options: Options = {
  ...SHARD_OPTIONS,
  scenarios: {
    candidates: arrivalScenario(profile, 'candidateFlow'),
    ...(WS_SUBSCRIBERS > 0
      ? {
          dashboards: {
            executor: 'per-vu-iterations',
            exec: 'dashboardSubscriber',
            vus: WS_SUBSCRIBERS,
            iterations: 1,
            maxDuration: `${seconds + 60}s`,
          },
        }
      : {}),
  },
  thresholds: {
    ...baseThresholds(500, '{scenario:candidates}'),
    ...(WS_SUBSCRIBERS > 0 ? { seat_update_staleness: ['p(99)<500'] } : {}), // P5
    checks: ['rate>0.99'],
  },
};

interface SetupData {
  clockOffsetMs: number;
}

export function setup(): SetupData {
  const arrivals = Math.round(profileTotal(profile));
  if (candidates.length < arrivals) {
    console.warn(`opening: ${candidates.length} candidates for ~${arrivals} arrivals: later ones reuse them`);
  }
  return { clockOffsetMs: clockOffsetMs() };
}

/** One candidate walking the whole flow (with the deviations of its behaviour). */
export async function candidateFlow(): Promise<void> {
  const n = exec.scenario.iterationInTest;
  const c = candidates[n % candidates.length]!;
  const behaviour = pickBehaviour(defaultMix, Math.random());
  behaviours.add(1, { behaviour });
  await walkFlow(
    c,
    n,
    behaviour,
    SUBJECTS,
    WAITING_ROOM === 'off' ? undefined : { provinceCode: PROVINCE, maxWaitMs: seconds * 1000 },
  );
}

/** A dashboard subscriber: subscribes to the province for the whole surge. */
export function dashboardSubscriber(data: SetupData): void {
  subscribe({
    topics: [`province:${PROVINCE}`],
    durationMs: seconds * 1000,
    clockOffsetMs: data.clockOffsetMs,
  });
}

export const handleSummary = summaryHandler({
  scenario: 'opening',
  profile,
  config: {
    PROVINCE,
    SUBJECTS,
    WS_SUBSCRIBERS,
    WAITING_ROOM,
    profile: PROFILE.name,
    peakRate: __ENV.PEAK_RATE,
    durationS: __ENV.DURATION_S,
  },
});
