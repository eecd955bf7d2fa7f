/**
 * Environment and scenario building shared by the k6 scenarios: typed `__ENV` readers, the base
 * URLs, the shard (SHARD=i/n, ./segment.ts), profile rescaling (PEAK_RATE / DURATION_S) and the
 * arrival-rate scenario built from a profile with `toK6Stages` / `k6StartRate` (the curves live in
 * ../../profiles.ts only).
 */
import type { RampingArrivalRateScenario } from 'k6/options';
import { durationOf, k6StartRate, scaleProfile, toK6Stages, type SurgeProfile } from '../../profiles.ts';
import { shardFromText, shardMaxVUs, shardOptions } from './segment.ts';

/** A number from the environment; a set but non-numeric value stops the test at init. */
export function envNum(name: string, fallback: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got "${raw}"`);
  return value;
}

export function envStr(name: string, fallback: string): string {
  const raw = __ENV[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

export const BASE_URL = envStr('BASE_URL', 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const WS_URL = `${BASE_URL.replace(/^http/, 'ws')}/ws/seats`;
/** Admin token (ADMIN_TOKEN): only the scenarios that read or drive the test-mode clock need it. */
export const ADMIN_TOKEN = envStr('ADMIN_TOKEN', '');

/**
 * SHARD=i/n: this instance runs shard i of n of the test (README.md "Sharding"); undefined: the
 * whole test, or whatever `--execution-segment` says (the flags override SHARD's options).
 */
export const SHARD = shardFromText(__ENV.SHARD);
/** Spread into every scenario's exported options: SHARD's execution segment, sequence and tag. */
export const SHARD_OPTIONS = shardOptions(SHARD);

/** MAX_VUS (or `fallback`), rounded up to a multiple of n under SHARD=i/n (see ./segment.ts). */
export function maxVUsFromEnv(fallback: number): number {
  return shardMaxVUs(envNum('MAX_VUS', fallback), SHARD);
}

/** The profile rescaled by PEAK_RATE (highest arrivals/s) and DURATION_S (length), if set. */
export function scaledFromEnv(profile: SurgeProfile): SurgeProfile {
  const peak = __ENV.PEAK_RATE ? envNum('PEAK_RATE', 0) : undefined;
  const duration = __ENV.DURATION_S ? envNum('DURATION_S', 0) : undefined;
  return scaleProfile(profile, {
    ...(peak !== undefined ? { peakRate: peak } : {}),
    ...(duration !== undefined ? { durationS: duration } : {}),
  });
}

/** Time factor applied by `scaledFromEnv` (DURATION_S / the profile's own length, or 1). */
export function timeFactorFromEnv(profile: SurgeProfile): number {
  const len = durationOf(profile);
  return __ENV.DURATION_S && len > 0 ? envNum('DURATION_S', len) / len : 1;
}

/**
 * A `ramping-arrival-rate` scenario following `profile` (one iteration = one arrival), stages no
 * longer than STEP_S (default 5 s), VUs from PRE_VUS / MAX_VUS (MAX_VUS a multiple of n under
 * SHARD=i/n, so that iteration k stays in shard (k mod n) + 1).
 */
export function arrivalScenario(
  profile: SurgeProfile,
  exec: string,
  defaults: { maxVUs?: number } = {},
): RampingArrivalRateScenario {
  const maxVUs = maxVUsFromEnv(defaults.maxVUs ?? 5000);
  return {
    executor: 'ramping-arrival-rate',
    exec,
    startRate: k6StartRate(profile),
    timeUnit: '1s',
    preAllocatedVUs: envNum('PRE_VUS', Math.min(maxVUs, 500)),
    maxVUs,
    stages: toK6Stages(profile, { stepS: envNum('STEP_S', 5) }),
  };
}

/** Whole seconds the profile lasts (for maxDuration of side scenarios). */
export function profileSeconds(profile: SurgeProfile): number {
  return Math.ceil(durationOf(profile));
}

/**
 * The thresholds every scenario has: `http_req_duration` p(99) < P99_MS (or the given default) on
 * `selector` (e.g. `{scenario:candidates}`), and `http_req_failed` rate < FAILED_MAX (default
 * 0.01). 409/429/503 are declared expected by each scenario, so they do not count as failed.
 */
export function baseThresholds(p99DefaultMs: number, selector = ''): Record<string, string[]> {
  return {
    [`http_req_duration${selector}`]: [`p(99)<${envNum('P99_MS', p99DefaultMs)}`],
    http_req_failed: [`rate<${envNum('FAILED_MAX', 0.01)}`],
  };
}
