/**
 * Surge profiles for the load-test harness: plain data + pure functions.
 *
 * This module is imported by both the Node runner and the k6 scripts, so it must stay free of
 * Node-only imports and of k6 imports (k6 runs it through its built-in esbuild TypeScript support).
 *
 * A profile is an arrival-rate curve: a piecewise-linear function given by points
 * `{ atSeconds, ratePerSecond }` with non-decreasing `atSeconds` and non-negative rates. Two points
 * with the same `atSeconds` make an instant step (the curve is right-continuous: at the step the
 * later point's rate applies). Conventions, used everywhere below:
 * - Outside `[first.atSeconds, last.atSeconds]` the rate is 0 (no arrivals before the test starts
 *   or after it ends); `rateAt` never extrapolates.
 * - An empty profile and a single-point profile have zero length: the rate is 0 everywhere except,
 *   for a single point, at exactly its `atSeconds` (where it is that point's rate); the total
 *   number of arrivals is 0 either way.
 * - Times are seconds from the start of the scenario; rates are arrivals (new candidates starting
 *   the flow) per second, sized for one large province (P3) and meant to be rescaled with
 *   `scaleProfile` for smaller boxes.
 */

export interface RatePoint {
  readonly atSeconds: number;
  readonly ratePerSecond: number;
}

export interface SurgeProfile {
  readonly name: string;
  readonly description: string;
  readonly points: readonly RatePoint[];
}

/** Throws a RangeError when the points are not a valid curve (see the module comment). */
export function validateProfile(profile: SurgeProfile): void {
  let prev = -Infinity;
  for (const p of profile.points) {
    if (!Number.isFinite(p.atSeconds) || !Number.isFinite(p.ratePerSecond)) {
      throw new RangeError(`${profile.name}: non-finite point ${JSON.stringify(p)}`);
    }
    if (p.ratePerSecond < 0) throw new RangeError(`${profile.name}: negative rate at ${p.atSeconds}s`);
    if (p.atSeconds < prev) throw new RangeError(`${profile.name}: points out of order at ${p.atSeconds}s`);
    prev = p.atSeconds;
  }
}

function pt(atSeconds: number, ratePerSecond: number): RatePoint {
  return { atSeconds, ratePerSecond };
}

function define(name: string, description: string, points: RatePoint[]): SurgeProfile {
  const profile: SurgeProfile = { name, description, points };
  validateProfile(profile);
  return profile;
}

/** Start time of the profile (0 for an empty one). */
export function startOf(profile: SurgeProfile): number {
  return profile.points[0]?.atSeconds ?? 0;
}

/** Length in seconds (0 for an empty or single-point profile). */
export function durationOf(profile: SurgeProfile): number {
  const pts = profile.points;
  const first = pts[0];
  const last = pts[pts.length - 1];
  return first && last ? last.atSeconds - first.atSeconds : 0;
}

/** Highest rate on the curve (0 for an empty profile). */
export function peakRate(profile: SurgeProfile): number {
  let max = 0;
  for (const p of profile.points) max = Math.max(max, p.ratePerSecond);
  return max;
}

/** Time of the first point carrying the peak rate (`startOf` for an empty profile). */
export function peakTime(profile: SurgeProfile): number {
  const max = peakRate(profile);
  const p = profile.points.find((q) => q.ratePerSecond === max);
  return p ? p.atSeconds : startOf(profile);
}

/**
 * Arrival rate at time `t` (seconds). 0 outside the profile's range; linear interpolation inside;
 * right-continuous at instant steps.
 */
export function rateAt(profile: SurgeProfile, t: number): number {
  const pts = profile.points;
  if (pts.length === 1) return pts[0]!.atSeconds === t ? pts[0]!.ratePerSecond : 0;
  // Scan from the end so that, at a step (equal atSeconds), the later segment wins.
  for (let i = pts.length - 2; i >= 0; i--) {
    const a = pts[i]!;
    const b = pts[i + 1]!;
    if (t >= a.atSeconds && t <= b.atSeconds) {
      const span = b.atSeconds - a.atSeconds;
      if (span === 0) return b.ratePerSecond;
      return a.ratePerSecond + ((b.ratePerSecond - a.ratePerSecond) * (t - a.atSeconds)) / span;
    }
  }
  return 0;
}

/**
 * Expected number of arrivals in `[fromS, toS]`: the exact integral of the piecewise-linear curve
 * (trapezoids over each segment clipped to the window; exact because the curve is linear there).
 * Parts of the window outside the profile contribute 0. Throws a RangeError when `toS < fromS`.
 */
export function totalArrivals(profile: SurgeProfile, fromS: number, toS: number): number {
  if (toS < fromS) throw new RangeError(`totalArrivals: toS (${toS}) < fromS (${fromS})`);
  const pts = profile.points;
  let total = 0;
  for (let i = 0; i + 1 < pts.length; i++) {
    const a = pts[i]!;
    const b = pts[i + 1]!;
    const lo = Math.max(a.atSeconds, fromS);
    const hi = Math.min(b.atSeconds, toS);
    if (hi <= lo) continue;
    const span = b.atSeconds - a.atSeconds;
    const at = (t: number): number =>
      a.ratePerSecond + ((b.ratePerSecond - a.ratePerSecond) * (t - a.atSeconds)) / span;
    total += ((at(lo) + at(hi)) / 2) * (hi - lo);
  }
  return total;
}

/** Arrivals over the whole profile. */
export function profileTotal(profile: SurgeProfile): number {
  return totalArrivals(profile, startOf(profile), startOf(profile) + durationOf(profile));
}

export interface ScaleOptions {
  /** New highest rate; every rate is multiplied by `peakRate / currentPeak`. */
  readonly peakRate?: number;
  /** New length; every time offset from the start is multiplied by `durationS / currentLength`. */
  readonly durationS?: number;
}

/**
 * Rescales a profile, preserving its shape: rates by one factor, time offsets (from the start) by
 * another. The total number of arrivals scales by the product of both factors. Throws a RangeError
 * when asked to rescale the rate of an all-zero profile or the length of a zero-length one, or for
 * negative / non-finite targets.
 */
export function scaleProfile(profile: SurgeProfile, opts: ScaleOptions): SurgeProfile {
  let rateFactor = 1;
  let timeFactor = 1;
  if (opts.peakRate !== undefined) {
    const peak = peakRate(profile);
    if (!(opts.peakRate >= 0) || !Number.isFinite(opts.peakRate))
      throw new RangeError('peakRate must be ≥ 0');
    if (peak === 0) throw new RangeError(`${profile.name}: cannot rescale the rate of an all-zero profile`);
    rateFactor = opts.peakRate / peak;
  }
  if (opts.durationS !== undefined) {
    const len = durationOf(profile);
    if (!(opts.durationS >= 0) || !Number.isFinite(opts.durationS))
      throw new RangeError('durationS must be ≥ 0');
    if (len === 0)
      throw new RangeError(`${profile.name}: cannot rescale the length of a zero-length profile`);
    timeFactor = opts.durationS / len;
  }
  const t0 = startOf(profile);
  return {
    name: profile.name,
    description: profile.description,
    points: profile.points.map((p) => pt(t0 + (p.atSeconds - t0) * timeFactor, p.ratePerSecond * rateFactor)),
  };
}

/** One stage of k6's `ramping-arrival-rate` executor (linear ramp to `target` over `duration`). */
export interface K6Stage {
  readonly target: number;
  readonly duration: string;
}

export interface K6StageOptions {
  /** Longest stage in seconds; segments are cut into pieces no longer than this. */
  readonly stepS: number;
}

/** `startRate` for k6's `ramping-arrival-rate` matching `toK6Stages` (rate at the start, rounded). */
export function k6StartRate(profile: SurgeProfile): number {
  return Math.round(rateAt(profile, startOf(profile)));
}

/**
 * Converts a profile into `ramping-arrival-rate` stages (with `timeUnit: '1s'` and
 * `startRate: k6StartRate(profile)`). Each segment becomes one or more stages no longer than
 * `stepS`; instant steps become `0ms` stages (k6 jumps to the target). Targets are rounded to whole
 * iterations per second (k6 wants integers). Durations are whole milliseconds computed from
 * rounded absolute times, so the stages add up exactly to the profile's length (rounded to ms).
 * An empty or single-point profile gives no stages.
 */
export function toK6Stages(profile: SurgeProfile, opts: K6StageOptions): K6Stage[] {
  if (!(opts.stepS > 0) || !Number.isFinite(opts.stepS)) throw new RangeError('stepS must be > 0');
  const pts = profile.points;
  const stages: K6Stage[] = [];
  const t0 = startOf(profile);
  let prevMs = 0;
  for (let i = 0; i + 1 < pts.length; i++) {
    const a = pts[i]!;
    const b = pts[i + 1]!;
    const span = b.atSeconds - a.atSeconds;
    const pieces = span === 0 ? 1 : Math.ceil(span / opts.stepS - 1e-9);
    for (let k = 1; k <= pieces; k++) {
      const t = k === pieces ? b.atSeconds : a.atSeconds + (span * k) / pieces;
      const ms = Math.round((t - t0) * 1000);
      const target = Math.round(k === pieces ? b.ratePerSecond : rateAt(profile, t));
      stages.push({ target, duration: `${ms - prevMs}ms` });
      prevMs = ms;
    }
  }
  return stages;
}

/** Total length of k6 stages in seconds (durations as produced by `toK6Stages`: `<n>ms` or `<n>s`). */
export function k6StagesDurationS(stages: readonly K6Stage[]): number {
  let ms = 0;
  for (const s of stages) {
    const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(s.duration);
    if (!m) throw new RangeError(`unsupported duration ${s.duration}`);
    ms += m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * 1000;
  }
  return ms / 1000;
}

// ---------------------------------------------------------------------------------------------
// Named profiles
// ---------------------------------------------------------------------------------------------

/** Seconds into the `opening` profile at which registration opens. */
export const OPENING_AT_S = 600;

/**
 * The province opening: 10 minutes of pre-opening trickle (early birds logging in, checking
 * eligibility, refreshing), the spike in the first seconds after opening, then a decay over the
 * following half hour as seats sell out.
 */
export const opening: SurgeProfile = define(
  'opening',
  'pre-opening trickle, spike at registration opening (t=600s), decay',
  [
    pt(0, 20),
    pt(OPENING_AT_S - 10, 40),
    pt(OPENING_AT_S, 40),
    pt(OPENING_AT_S + 5, 20_000),
    pt(OPENING_AT_S + 20, 18_000),
    pt(OPENING_AT_S + 60, 8_000),
    pt(OPENING_AT_S + 300, 2_000),
    pt(OPENING_AT_S + 1200, 300),
  ],
);

/** Seconds into the `openingDay` profile at which registration opens. */
export const OPENING_DAY_AT_S = 300;

/**
 * An opening day behind a waiting room: most candidates come early — they log in during the five
 * minutes before the opening (the login rush rising towards it), check their eligibility and take
 * a PREQUEUE ticket — then the latecomers' spike when registration opens, and its decay. About
 * 62 % of the arrivals come before the opening.
 */
export const openingDay: SurgeProfile = define(
  'openingDay',
  'login rush before the opening (t=300s, ~62 % of arrivals), then the latecomers’ spike and decay',
  [
    pt(0, 10),
    pt(OPENING_DAY_AT_S - 60, 60),
    pt(OPENING_DAY_AT_S, 100),
    pt(OPENING_DAY_AT_S + 3, 200),
    pt(OPENING_DAY_AT_S + 30, 60),
    pt(OPENING_DAY_AT_S + 120, 10),
    pt(OPENING_DAY_AT_S + 300, 2),
  ],
);

/**
 * A train of spikes on a base rate: one spike per campus opening, `gapS` apart, starting at
 * `firstAtS`. Each spike ramps from `baseRate` to `spikeRate` in `riseS`, and back down in `decayS`.
 * Spikes must not overlap (`riseS + decayS ≤ gapS`).
 */
export function spikeTrain(opts: {
  count: number;
  firstAtS: number;
  gapS: number;
  baseRate: number;
  spikeRate: number;
  riseS: number;
  decayS: number;
  tailS: number;
}): RatePoint[] {
  if (opts.riseS + opts.decayS > opts.gapS) throw new RangeError('spikes overlap');
  const points: RatePoint[] = [pt(0, opts.baseRate)];
  for (let i = 0; i < opts.count; i++) {
    const at = opts.firstAtS + i * opts.gapS;
    points.push(
      pt(at, opts.baseRate),
      pt(at + opts.riseS, opts.spikeRate),
      pt(at + opts.riseS + opts.decayS, opts.baseRate),
    );
  }
  const lastEnd = points[points.length - 1]!.atSeconds;
  points.push(pt(lastEnd + opts.tailS, opts.baseRate));
  return points;
}

/** Staggered oral campus openings: 6 campuses opening 5 minutes apart, each a sharp spike. */
export const oralOpenings: SurgeProfile = define(
  'oralOpenings',
  'staggered oral campus openings (every 300s from t=60s), each a 3s rise and 60s decay',
  spikeTrain({
    count: 6,
    firstAtS: 60,
    gapS: 300,
    baseRate: 50,
    spikeRate: 6_000,
    riseS: 3,
    decayS: 60,
    tailS: 120,
  }),
);

/** The payment wave: holders paying over the hour after their holds, peaking ~10 minutes in. */
export const payment: SurgeProfile = define('payment', 'payment wave after the holds (peak at t=600s)', [
  pt(0, 100),
  pt(120, 3_000),
  pt(600, 5_000),
  pt(1800, 1_500),
  pt(3600, 200),
]);

/** Default time compression of the expiry wave: 12 hours become 12 minutes. */
export const EXPIRY_COMPRESSION = 60;
/** Hold lifetime before unpaid items expire (R22): 12 hours, in real seconds. */
export const HOLD_LIFETIME_S = 12 * 3600;

/**
 * The 12-hour expiry wave, time-compressed by `compression` (times are divided by it; rates are
 * kept, so totals shrink by the same factor — the runner advances the gateway's admin clock by
 * `compression` × wall time so expiry itself happens at the real moments). Shape in real time: a
 * quiet 11 hours, late payers rushing in the last hour before the deadline, the expiry of the
 * opening spike's holds at 12 h (racing late payments against the sweeper), then a tail of
 * candidates coming back to find their items expired.
 */
export function expiryProfile(compression: number = EXPIRY_COMPRESSION): SurgeProfile {
  if (!(compression > 0) || !Number.isFinite(compression)) throw new RangeError('compression must be > 0');
  const h = HOLD_LIFETIME_S;
  const real: RatePoint[] = [
    pt(0, 10),
    pt(h - 3600, 10),
    pt(h - 300, 400),
    pt(h, 3_000),
    pt(h + 60, 3_000),
    pt(h + 600, 300),
    pt(h + 1800, 20),
  ];
  return define(
    'expiry',
    `12-hour expiry wave, time-compressed ×${compression}`,
    real.map((p) => pt(p.atSeconds / compression, p.ratePerSecond)),
  );
}

export const expiry: SurgeProfile = expiryProfile();

export const profiles = { opening, openingDay, oralOpenings, payment, expiry } as const;
export type ProfileName = keyof typeof profiles;

/** Seconds into each profile at which registration opens (0: open from the start). */
export const OPENS_AT_S: Readonly<Record<ProfileName, number>> = {
  opening: OPENING_AT_S,
  openingDay: OPENING_DAY_AT_S,
  oralOpenings: 0,
  payment: 0,
  expiry: 0,
};

// ---------------------------------------------------------------------------------------------
// Behaviour mix
// ---------------------------------------------------------------------------------------------

/**
 * Probability that a simulated candidate deviates from the plain full flow in a given way. The
 * probabilities must be ≥ 0 and sum to ≤ 1; the remainder (`1 − sum`) is the `normal` candidate
 * who walks the whole flow once and pays on time.
 */
export interface BehaviourMix {
  /** Takes written/oral holds and never pays: the items expire after 12 h (R22). */
  readonly abandon: number;
  /** Repeats state-changing POSTs with the same Idempotency-Key (flaky network / double click);
   *  must get the first answer back, never a second seat. */
  readonly retrySameKey: number;
  /** Keeps reloading read endpoints (campus list, own registration) while waiting. */
  readonly refresh: number;
  /** Pays after the hold deadline: the payment must not revive expired items (R23). */
  readonly latePayer: number;
  /** Applies for the CET6 eligibility review before registering (R9–R14). */
  readonly cet6Reviewer: number;
  /** Script hammering one campus's oral reservation far above a human rate (rate limits, P7). */
  readonly botHammeringOneCampus: number;
  /** Takes a waiting-room ticket and leaves the line before its turn (closes the page). */
  readonly abandonInQueue: number;
}

export type Behaviour = keyof BehaviourMix | 'normal';

const BEHAVIOURS: readonly (keyof BehaviourMix)[] = [
  'abandon',
  'retrySameKey',
  'refresh',
  'latePayer',
  'cet6Reviewer',
  'botHammeringOneCampus',
  'abandonInQueue',
];

export const defaultMix: BehaviourMix = {
  abandon: 0.08,
  retrySameKey: 0.1,
  refresh: 0.2,
  latePayer: 0.02,
  cet6Reviewer: 0.05,
  botHammeringOneCampus: 0.005,
  abandonInQueue: 0.03,
};

/** Share of the candidates in a waiting room who poll their ticket instead of watching it live. */
export const QUEUE_POLLING_SHARE = 0.2;

/** Throws a RangeError when a probability is negative / non-finite or the sum exceeds 1. */
export function validateMix(mix: BehaviourMix): void {
  let sum = 0;
  for (const k of BEHAVIOURS) {
    const p = mix[k];
    if (!Number.isFinite(p) || p < 0) throw new RangeError(`behaviour ${k}: probability ${p} must be ≥ 0`);
    sum += p;
  }
  if (sum > 1 + 1e-12) throw new RangeError(`behaviour probabilities sum to ${sum} > 1`);
}

/**
 * Picks a behaviour for a uniform draw `u ∈ [0, 1)`: the behaviours take consecutive intervals of
 * [0, 1) in the order of `BehaviourMix`'s fields, and `normal` takes the rest. Validates the mix.
 */
export function pickBehaviour(mix: BehaviourMix, u: number): Behaviour {
  validateMix(mix);
  if (!(u >= 0 && u < 1)) throw new RangeError(`u must be in [0, 1), got ${u}`);
  let acc = 0;
  for (const k of BEHAVIOURS) {
    acc += mix[k];
    if (u < acc) return k;
  }
  return 'normal';
}
