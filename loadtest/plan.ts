/**
 * The capacity plan: turns the throughputs one load-test run measured (report.json `measured`) into
 * the gateway processes, Redis shards, writers and login (KDF) cores an opening needs at a target
 * p99, showing the arithmetic of every line. Pure model: no I/O, no clock (scripts/plan.ts is the
 * CLI). It must never scale a measurement beyond what was measured: a p99 measured above the target
 * is reported as a warning, not extrapolated away.
 *
 * The model:
 * 1. Arrivals (candidates starting the flow per second). Either the `opening` surge profile scaled
 *    so its total is `candidates` (peak = its highest rate, 5 s after opening), or a flat window:
 *    `peakShare` of the candidates arriving evenly over `peakWindowS`. All listed provinces open at
 *    once; a province gets its weight's share of every arrival. A candidate's requests, engine ops
 *    and events are counted in the second it arrives (a walk takes seconds: slightly pessimistic).
 * 2. Every tier runs at ≤ `headroom` of its measured sustained rate (p99 explodes near saturation),
 *    then `redundancy` spares are added (N+1), never fewer than 1 unit per tier:
 *      gateway processes = ceil(peak × requestsPerCandidate / (gatewayRequestsPerSec × headroom)),
 *        cores = processes × gatewayCores;
 *      Redis shards = max of throughput ceil(peak × redisOpsPerCandidate / (redisOpsPerSec ×
 *        headroom)), memory ceil(candidates × bytesPerCandidate / maxMemoryPerShardBytes) and the
 *        provinces packed first-fit-decreasing onto shards (a province is one hash tag: it cannot
 *        span shards, so each province's peak is also checked against one shard on its own);
 *      login cores = ceil(peak × loginShareInPeak / (loginsPerSecPerCore × headroom)) — the rest
 *        of the logins happen in the pre-opening trickle;
 *      writers = the fewest whose backlog (a fluid queue over the arrival curve in 1 s steps, each
 *        writer draining writerEventsPerSec × headroom) never waits longer than targetLagS; at
 *        most what the peak rate needs, at least what the average needs at the full measured rate.
 * 3. A measured p99 above targetP99Ms is a warning: the measurement does not support the target.
 */
import type { MeasuredCapacity } from './report/types.ts';
import { num, pct } from './planNumbers.ts';
import {
  OPENING_AT_S,
  durationOf,
  opening,
  peakRate,
  peakTime,
  profileTotal,
  scaleProfile,
  startOf,
  totalArrivals,
  type SurgeProfile,
} from './profiles.ts';

export interface ProvinceShare {
  readonly code: string;
  readonly name: string;
  /** Relative size: the province gets weight / Σweights of the candidates. */
  readonly weight: number;
}

export interface PlanScenario {
  /** Candidates of the opening (all listed provinces together). */
  readonly candidates: number;
  /** Flat-window arrivals instead of the opening profile: the length of the peak window. */
  readonly peakWindowS?: number;
  /** Window mode: share of the candidates arriving inside the window (default: the opening
   *  profile's share in the same length after its opening). */
  readonly peakShare?: number;
  readonly targetP99Ms?: number;
  /** Fraction of each unit's measured sustained rate it may be loaded to. */
  readonly headroom?: number;
  /** Share of logins happening inside the peak (the rest in the pre-opening trickle). */
  readonly loginShareInPeak?: number;
  /** Spare units per tier (1 = N+1). */
  readonly redundancy?: number;
  /** Longest acceptable wait of an event before PostgreSQL has it (P6: 2 s). */
  readonly targetLagS?: number;
  /** Provinces opening together; without them the one-province-one-shard check is skipped. */
  readonly provinces?: readonly ProvinceShare[];
  /** Redis bytes per registered candidate (P4 measured 305 B); enables memory sizing. */
  readonly bytesPerCandidate?: number;
  /** Usable memory per shard (maxmemory), used with bytesPerCandidate. */
  readonly maxMemoryPerShardBytes?: number;
  /**
   * Where the measured per-shard rate (`redisOpsPerSec`) comes from, when not from the report
   * (e.g. `npm run bench:shards`, loadtest/planShards.ts): shown in the Redis tier's arithmetic.
   */
  readonly redisRateNotes?: readonly string[];
}

/** The writer queue is simulated second by second: a longer window is not a peak anyway. */
const MAX_PEAK_WINDOW_S = 86_400;

export const PLAN_DEFAULTS = {
  /** P2: p99 < 50 ms. */
  targetP99Ms: 50,
  headroom: 0.6,
  loginShareInPeak: 1,
  redundancy: 1,
  /** P6: PostgreSQL lag p99 < 2 s. */
  targetLagS: 2,
  maxMemoryPerShardBytes: 8 * 1024 ** 3,
} as const;

export interface ResolvedScenario {
  readonly candidates: number;
  readonly mode: 'profile' | 'window';
  readonly peakWindowS: number | null;
  readonly peakShare: number | null;
  readonly targetP99Ms: number;
  readonly headroom: number;
  readonly loginShareInPeak: number;
  readonly redundancy: number;
  readonly targetLagS: number;
  readonly provinces: readonly ProvinceShare[];
  readonly bytesPerCandidate: number | null;
  readonly maxMemoryPerShardBytes: number | null;
  readonly redisRateNotes: readonly string[];
}

export interface ArrivalModel {
  readonly mode: 'profile' | 'window';
  readonly description: string;
  readonly peakCandidatesPerSec: number;
  /** Seconds the arrival curve covers (average = candidates arriving in it / horizonS). */
  readonly horizonS: number;
  readonly averageCandidatesPerSec: number;
}

export interface TierPlan {
  readonly unitName: string;
  /** Units the load needs, before spares. */
  readonly needed: number;
  readonly spare: number;
  /** max(1, needed + spare). */
  readonly units: number;
  readonly cores: number;
  /** The arithmetic, one step a line, with the numbers used. */
  readonly arithmetic: readonly string[];
}

export interface GatewayTier extends TierPlan {
  readonly requiredRequestsPerSec: number;
  readonly perProcessRequestsPerSec: number;
}

export interface RedisTier extends TierPlan {
  readonly requiredOpsPerSec: number;
  readonly perShardOpsPerSec: number;
  readonly byThroughput: number;
  readonly byMemory: number | null;
  readonly byProvincePacking: number | null;
}

export interface WriterTier extends TierPlan {
  readonly peakEventsPerSec: number;
  readonly averageEventsPerSec: number;
  readonly perWriterEventsPerSec: number;
  readonly forPeak: number;
  readonly forAverage: number;
  readonly forTargetLag: number;
  /** Longest wait of an event (s) with `forTargetLag` writers. */
  readonly worstLagS: number;
}

export interface LoginTier extends TierPlan {
  readonly peakLoginsPerSec: number;
  readonly perCoreLoginsPerSec: number;
}

export interface ProvinceCheck {
  readonly code: string;
  readonly name: string;
  readonly candidates: number;
  readonly peakCandidatesPerSec: number;
  readonly peakOpsPerSec: number;
  /** What one shard gives at the headroom. */
  readonly shardOpsPerSec: number;
  readonly memoryBytes: number | null;
  readonly ok: boolean;
  readonly verdict: string;
}

export interface CapacityPlan {
  readonly scenario: ResolvedScenario;
  readonly measured: MeasuredCapacity;
  readonly arrivals: ArrivalModel;
  readonly gateway: GatewayTier;
  readonly redis: RedisTier;
  readonly writers: WriterTier;
  readonly login: LoginTier;
  readonly provinces: readonly ProvinceCheck[];
  /** Gateway + login cores, one per Redis shard and per writer (PostgreSQL not included). */
  readonly totalCores: number;
  readonly assumptions: readonly string[];
  readonly warnings: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

function positive(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive finite number, got ${String(value)}`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number ≥ 0, got ${String(value)}`);
  }
  return value;
}

function fraction(name: string, value: number, allowZero: boolean): number {
  const ok =
    typeof value === 'number' && Number.isFinite(value) && value <= 1 && (allowZero ? value >= 0 : value > 0);
  if (!ok)
    throw new RangeError(`${name} must be in ${allowZero ? '[0, 1]' : '(0, 1]'}, got ${String(value)}`);
  return value;
}

function wholeNonNegative(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a whole number ≥ 0, got ${String(value)}`);
  }
  return value;
}

/** Throws a RangeError naming the first field of a `measured` block that cannot be planned from. */
export function validateMeasured(measured: MeasuredCapacity): void {
  positive('measured.gatewayRequestsPerSec', measured.gatewayRequestsPerSec);
  positive('measured.gatewayCores', measured.gatewayCores);
  positive('measured.redisOpsPerSec', measured.redisOpsPerSec);
  positive('measured.writerEventsPerSec', measured.writerEventsPerSec);
  positive('measured.loginsPerSecPerCore', measured.loginsPerSecPerCore);
  nonNegative('measured.requestsPerCandidate', measured.requestsPerCandidate);
  nonNegative('measured.redisOpsPerCandidate', measured.redisOpsPerCandidate);
  nonNegative('measured.eventsPerCandidate', measured.eventsPerCandidate);
  nonNegative('measured.p99Ms', measured.p99Ms);
}

function resolveScenario(scenario: PlanScenario): ResolvedScenario {
  wholeNonNegative('candidates', scenario.candidates);
  const window = scenario.peakWindowS;
  if (window !== undefined && positive('peakWindowS', window) > MAX_PEAK_WINDOW_S) {
    throw new RangeError(`peakWindowS must be ≤ ${MAX_PEAK_WINDOW_S} s (a day), got ${window}`);
  }
  if (scenario.peakShare !== undefined) {
    if (window === undefined)
      throw new RangeError('peakShare needs peakWindowS (it is the share arriving in it)');
    fraction('peakShare', scenario.peakShare, false);
  }
  const provinces = scenario.provinces ?? [];
  const codes = new Set<string>();
  for (const p of provinces) {
    if (!p.code) throw new RangeError('a province needs a code');
    if (codes.has(p.code)) throw new RangeError(`province ${p.code} is listed twice`);
    codes.add(p.code);
    positive(`province ${p.code} weight`, p.weight);
  }
  if (scenario.maxMemoryPerShardBytes !== undefined && scenario.bytesPerCandidate === undefined) {
    throw new RangeError('maxMemoryPerShardBytes needs bytesPerCandidate');
  }
  const bytesPerCandidate =
    scenario.bytesPerCandidate === undefined
      ? null
      : positive('bytesPerCandidate', scenario.bytesPerCandidate);
  return {
    candidates: scenario.candidates,
    mode: window === undefined ? 'profile' : 'window',
    peakWindowS: window ?? null,
    peakShare: window === undefined ? null : (scenario.peakShare ?? openingShareIn(window)),
    targetP99Ms: positive('targetP99Ms', scenario.targetP99Ms ?? PLAN_DEFAULTS.targetP99Ms),
    headroom: fraction('headroom', scenario.headroom ?? PLAN_DEFAULTS.headroom, false),
    loginShareInPeak: fraction(
      'loginShareInPeak',
      scenario.loginShareInPeak ?? PLAN_DEFAULTS.loginShareInPeak,
      true,
    ),
    redundancy: wholeNonNegative('redundancy', scenario.redundancy ?? PLAN_DEFAULTS.redundancy),
    targetLagS: positive('targetLagS', scenario.targetLagS ?? PLAN_DEFAULTS.targetLagS),
    provinces,
    bytesPerCandidate,
    redisRateNotes: scenario.redisRateNotes ?? [],
    maxMemoryPerShardBytes:
      bytesPerCandidate === null
        ? null
        : positive(
            'maxMemoryPerShardBytes',
            scenario.maxMemoryPerShardBytes ?? PLAN_DEFAULTS.maxMemoryPerShardBytes,
          ),
  };
}

/** Share of the opening profile's candidates arriving in the `windowS` seconds after it opens. */
export function openingShareIn(windowS: number): number {
  const share = totalArrivals(opening, OPENING_AT_S, OPENING_AT_S + windowS) / profileTotal(opening);
  return Math.min(1, share);
}

// ---------------------------------------------------------------------------------------------
// Arithmetic helpers
// ---------------------------------------------------------------------------------------------

/** ceil that forgives floating-point noise (3.0000000000004 → 3). */
function ceilUnits(x: number): number {
  const units = Math.ceil(x - 1e-9 * Math.max(1, x));
  if (!Number.isSafeInteger(units)) {
    throw new RangeError(`the plan needs ${String(x)} units: a measured rate is too small to plan from`);
  }
  return Math.max(0, units);
}

function withSpares(needed: number, spare: number): number {
  return Math.max(1, needed + spare);
}

function spareLine(needed: number, spare: number, unitName: string): string {
  const base = `${num(needed)} + ${spare} spare = ${num(needed + spare)}`;
  return needed + spare < 1 ? `${base} → at least 1 ${unitName}` : `${base} ${unitName}`;
}

/** Units of `perUnit` needed for `demand`, with spares, and the two lines of arithmetic that say so. */
function unitsFor(demand: number, perUnit: number, spare: number, unitName: string) {
  const exact = demand / perUnit;
  const needed = ceilUnits(exact);
  return {
    needed,
    units: withSpares(needed, spare),
    lines: [
      `${num(demand)} ÷ ${num(perUnit)} = ${num(exact)} → ${needed}`,
      spareLine(needed, spare, unitName),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Arrivals
// ---------------------------------------------------------------------------------------------

interface Arrivals extends ArrivalModel {
  readonly curve: SurgeProfile;
}

function arrivalsOf(s: ResolvedScenario): Arrivals {
  if (s.mode === 'window') {
    const windowS = s.peakWindowS!;
    const share = s.peakShare!;
    const rate = (s.candidates * share) / windowS;
    const curve: SurgeProfile = {
      name: 'window',
      description: 'flat peak window',
      points: [
        { atSeconds: 0, ratePerSecond: rate },
        { atSeconds: windowS, ratePerSecond: rate },
      ],
    };
    return {
      mode: 'window',
      description: `${num(s.candidates)} candidates × ${pct(share)} in a ${num(windowS)} s window = ${num(rate)} candidates/s`,
      peakCandidatesPerSec: rate,
      horizonS: windowS,
      averageCandidatesPerSec: rate,
      curve,
    };
  }
  const factor = s.candidates / profileTotal(opening);
  const curve = scaleProfile(opening, { peakRate: peakRate(opening) * factor });
  const peak = peakRate(curve);
  const horizonS = durationOf(curve);
  return {
    mode: 'profile',
    description:
      `opening profile × ${num(factor)} (total ${num(s.candidates)}): peak ${num(peak)} candidates/s ` +
      `${num(peakTime(curve) - OPENING_AT_S)} s after opening`,
    peakCandidatesPerSec: peak,
    horizonS,
    averageCandidatesPerSec: horizonS > 0 ? s.candidates / horizonS : 0,
    curve,
  };
}

/** Candidates arriving in each second of the curve. */
function perSecond(curve: SurgeProfile): number[] {
  const t0 = startOf(curve);
  const seconds = Math.ceil(durationOf(curve));
  const out: number[] = [];
  for (let i = 0; i < seconds; i++) out.push(totalArrivals(curve, t0 + i, t0 + i + 1));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tiers
// ---------------------------------------------------------------------------------------------

function gatewayTier(s: ResolvedScenario, m: MeasuredCapacity, peak: number): GatewayTier {
  const required = peak * m.requestsPerCandidate;
  const perProcess = m.gatewayRequestsPerSec * s.headroom;
  const { needed, units, lines } = unitsFor(required, perProcess, s.redundancy, 'gateway processes');
  return {
    unitName: 'gateway processes',
    needed,
    spare: s.redundancy,
    units,
    cores: units * m.gatewayCores,
    requiredRequestsPerSec: required,
    perProcessRequestsPerSec: perProcess,
    arithmetic: [
      `peak ${num(peak)} candidates/s × ${num(m.requestsPerCandidate)} requests/candidate = ${num(required)} requests/s`,
      `one process: ${num(m.gatewayRequestsPerSec)} requests/s × ${num(s.headroom)} headroom = ${num(perProcess)} requests/s`,
      ...lines,
      `cores: ${units} × ${num(m.gatewayCores)} = ${num(units * m.gatewayCores)}`,
    ],
  };
}

interface Bin {
  ops: number;
  bytes: number;
}

/** First-fit-decreasing: shards needed when provinces cannot be split (oversized ones go alone). */
function packProvinces(
  checks: readonly ProvinceCheck[],
  shardOps: number,
  shardBytes: number | null,
): number {
  const items = [...checks].sort((a, b) => b.peakOpsPerSec - a.peakOpsPerSec);
  const bins: Bin[] = [];
  const tolerance = 1 + 1e-9;
  for (const item of items) {
    if (item.candidates === 0) continue;
    const bytes = item.memoryBytes ?? 0;
    const bin = bins.find(
      (b) =>
        b.ops + item.peakOpsPerSec <= shardOps * tolerance &&
        (shardBytes === null || b.bytes + bytes <= shardBytes * tolerance),
    );
    if (bin) {
      bin.ops += item.peakOpsPerSec;
      bin.bytes += bytes;
    } else {
      bins.push({ ops: item.peakOpsPerSec, bytes });
    }
  }
  return bins.length;
}

function provinceChecks(s: ResolvedScenario, m: MeasuredCapacity, peak: number): ProvinceCheck[] {
  const totalWeight = s.provinces.reduce((sum, p) => sum + p.weight, 0);
  const shardOps = m.redisOpsPerSec * s.headroom;
  return s.provinces.map((p) => {
    const share = p.weight / totalWeight;
    const candidates = s.candidates * share;
    const peakCandidates = peak * share;
    const ops = peakCandidates * m.redisOpsPerCandidate;
    const memoryBytes = s.bytesPerCandidate === null ? null : candidates * s.bytesPerCandidate;
    const opsOk = ops <= shardOps * (1 + 1e-9);
    const memoryOk = memoryBytes === null || memoryBytes <= s.maxMemoryPerShardBytes! * (1 + 1e-9);
    const ok = opsOk && memoryOk;
    let verdict =
      `province ${p.code} ${p.name}'s peak needs ${num(ops)} ops/s, one shard gives ${num(shardOps)}: ` +
      (opsOk ? 'OK' : 'NOT OK → split by campus or accept queueing');
    if (!opsOk && ops > m.redisOpsPerSec)
      verdict += ` (above even the measured ${num(m.redisOpsPerSec)} ops/s)`;
    if (!memoryOk) {
      verdict += `; its ${num(memoryBytes / 1024 ** 2)} MiB do not fit one shard's ${num(s.maxMemoryPerShardBytes! / 1024 ** 2)} MiB: NOT OK`;
    }
    return {
      code: p.code,
      name: p.name,
      candidates,
      peakCandidatesPerSec: peakCandidates,
      peakOpsPerSec: ops,
      shardOpsPerSec: shardOps,
      memoryBytes,
      ok,
      verdict,
    };
  });
}

function redisTier(
  s: ResolvedScenario,
  m: MeasuredCapacity,
  peak: number,
  checks: readonly ProvinceCheck[],
): RedisTier {
  const required = peak * m.redisOpsPerCandidate;
  const perShard = m.redisOpsPerSec * s.headroom;
  const exact = required / perShard;
  const byThroughput = ceilUnits(exact);
  const arithmetic = [
    `peak ${num(peak)} candidates/s × ${num(m.redisOpsPerCandidate)} engine ops/candidate = ${num(required)} ops/s`,
    ...s.redisRateNotes,
    `one shard: ${num(m.redisOpsPerSec)} ops/s × ${num(s.headroom)} headroom = ${num(perShard)} ops/s`,
    `throughput: ${num(required)} ÷ ${num(perShard)} = ${num(exact)} → ${byThroughput}`,
  ];
  let byMemory: number | null = null;
  if (s.bytesPerCandidate !== null) {
    const bytes = s.candidates * s.bytesPerCandidate;
    const max = s.maxMemoryPerShardBytes!;
    byMemory = ceilUnits(bytes / max);
    arithmetic.push(
      `memory: ${num(s.candidates)} candidates × ${num(s.bytesPerCandidate)} B = ${num(bytes / 1024 ** 2)} MiB ÷ ` +
        `${num(max / 1024 ** 2)} MiB per shard = ${num(bytes / max)} → ${byMemory}`,
    );
  }
  let byProvincePacking: number | null = null;
  if (checks.length > 0) {
    byProvincePacking = packProvinces(checks, perShard, s.maxMemoryPerShardBytes);
    arithmetic.push(
      `provinces (one hash tag each, not splittable) packed first-fit-decreasing: ${byProvincePacking} shards`,
    );
  }
  const needed = Math.max(byThroughput, byMemory ?? 0, byProvincePacking ?? 0);
  arithmetic.push(`needed: the largest of these = ${needed}`, spareLine(needed, s.redundancy, 'shards'));
  const units = withSpares(needed, s.redundancy);
  return {
    unitName: 'Redis shards',
    needed,
    spare: s.redundancy,
    units,
    cores: units,
    requiredOpsPerSec: required,
    perShardOpsPerSec: perShard,
    byThroughput,
    byMemory,
    byProvincePacking,
    arithmetic,
  };
}

/** Longest wait (s) of an event with `capacity` events/s draining per-second `arrivals`. */
function worstLag(eventsPerSecond: readonly number[], capacity: number): number {
  let backlog = 0;
  let worst = 0;
  for (const events of eventsPerSecond) {
    backlog = Math.max(0, backlog + events - capacity);
    worst = Math.max(worst, backlog / capacity);
  }
  return worst;
}

function writerTier(s: ResolvedScenario, m: MeasuredCapacity, arrivals: Arrivals): WriterTier {
  const peakEvents = arrivals.peakCandidatesPerSec * m.eventsPerCandidate;
  const averageEvents = arrivals.averageCandidatesPerSec * m.eventsPerCandidate;
  const perWriter = m.writerEventsPerSec * s.headroom;
  const forPeak = ceilUnits(peakEvents / perWriter);
  const forAverage = ceilUnits(averageEvents / m.writerEventsPerSec);
  const events = perSecond(arrivals.curve).map((c) => c * m.eventsPerCandidate);
  // Fewest writers meeting the lag target: worstLag falls as writers grow; forPeak always meets it.
  let lo = Math.max(1, forAverage);
  let hi = Math.max(lo, forPeak);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (worstLag(events, mid * perWriter) <= s.targetLagS * (1 + 1e-9)) hi = mid;
    else lo = mid + 1;
  }
  const forTargetLag = peakEvents === 0 ? 0 : lo;
  const lag = forTargetLag === 0 ? 0 : worstLag(events, forTargetLag * perWriter);
  const units = withSpares(forTargetLag, s.redundancy);
  return {
    unitName: 'writers',
    needed: forTargetLag,
    spare: s.redundancy,
    units,
    cores: units,
    peakEventsPerSec: peakEvents,
    averageEventsPerSec: averageEvents,
    perWriterEventsPerSec: perWriter,
    forPeak,
    forAverage,
    forTargetLag,
    worstLagS: lag,
    arithmetic: [
      `peak ${num(arrivals.peakCandidatesPerSec)} candidates/s × ${num(m.eventsPerCandidate)} events/candidate = ${num(peakEvents)} events/s`,
      `one writer: ${num(m.writerEventsPerSec)} events/s × ${num(s.headroom)} headroom = ${num(perWriter)} events/s`,
      `for the peak (no backlog): ${num(peakEvents)} ÷ ${num(perWriter)} = ${num(peakEvents / perWriter)} → ${forPeak}`,
      `floor, the average over ${num(arrivals.horizonS)} s: ${num(averageEvents)} events/s ÷ ${num(m.writerEventsPerSec)} = ` +
        `${num(averageEvents / m.writerEventsPerSec)} → ${forAverage} (fewer and the backlog never drains)`,
      `backlog ≤ ${num(s.targetLagS)} s (queue over the arrival curve, 1 s steps): ${forTargetLag} writers, ` +
        `worst wait ${num(lag)} s`,
      spareLine(forTargetLag, s.redundancy, 'writers'),
    ],
  };
}

function loginTier(s: ResolvedScenario, m: MeasuredCapacity, peak: number): LoginTier {
  const logins = peak * s.loginShareInPeak;
  const perCore = m.loginsPerSecPerCore * s.headroom;
  const { needed, units, lines } = unitsFor(logins, perCore, s.redundancy, 'cores');
  return {
    unitName: 'login (KDF) cores',
    needed,
    spare: s.redundancy,
    units,
    cores: units,
    peakLoginsPerSec: logins,
    perCoreLoginsPerSec: perCore,
    arithmetic: [
      `peak ${num(peak)} candidates/s × ${pct(s.loginShareInPeak)} logging in inside the peak = ${num(logins)} logins/s`,
      `one core: ${num(m.loginsPerSecPerCore)} logins/s × ${num(s.headroom)} headroom = ${num(perCore)} logins/s`,
      ...lines,
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------------------------

/** Plans an opening from measured capacity. Throws a RangeError on invalid input. */
export function planCapacity(measured: MeasuredCapacity, scenario: PlanScenario): CapacityPlan {
  validateMeasured(measured);
  const s = resolveScenario(scenario);
  const arrivals = arrivalsOf(s);
  const peak = arrivals.peakCandidatesPerSec;
  const gateway = gatewayTier(s, measured, peak);
  const checks = provinceChecks(s, measured, peak);
  const redis = redisTier(s, measured, peak, checks);
  const writers = writerTier(s, measured, arrivals);
  const login = loginTier(s, measured, peak);

  const warnings: string[] = [];
  if (measured.p99Ms > s.targetP99Ms) {
    warnings.push(
      `the measurement does not support the target: the rates were sustained at p99 ${num(measured.p99Ms)} ms, ` +
        `above the target ${num(s.targetP99Ms)} ms. Running units at ${pct(s.headroom)} lowers p99 by an unmeasured ` +
        'amount: measure at a lower offered rate (or fix the latency) before trusting this plan.',
    );
  }
  for (const check of checks) if (!check.ok) warnings.push(check.verdict);
  if (s.provinces.length > 0 && redis.byThroughput > s.provinces.length) {
    warnings.push(
      `the load needs ${redis.byThroughput} shards but there are only ${s.provinces.length} province hash tags: ` +
        'extra shards would sit idle unless provinces are split (by campus)',
    );
  }
  const zero: string[] = [];
  if (measured.requestsPerCandidate === 0) zero.push('requestsPerCandidate');
  if (measured.redisOpsPerCandidate === 0) zero.push('redisOpsPerCandidate');
  if (measured.eventsPerCandidate === 0) zero.push('eventsPerCandidate');
  if (zero.length > 0) {
    warnings.push(`the run measured 0 for ${zero.join(', ')}: those tiers are sized by their spares only`);
  }

  const assumptions = [
    `arrivals: ${arrivals.description}`,
    'all listed provinces open at the same moment; each gets its weight’s share of every arrival',
    'a candidate’s requests, engine ops and events all land in the second it arrives (pessimistic: a walk takes seconds)',
    `units run at ≤ ${pct(s.headroom)} of their measured sustained rate, where the measured p99 (${num(measured.p99Ms)} ms) holds`,
    `${s.redundancy} spare unit(s) per tier (N+${s.redundancy}), at least 1 unit per tier; Redis replicas for failover come on top`,
    `${pct(s.loginShareInPeak)} of logins happen inside the peak (the others in the pre-opening trickle); login cores come on top of the gateway cores`,
    `writer lag target ${num(s.targetLagS)} s (worst wait in a fluid queue, a bound on the p99)`,
    'one core per Redis shard (scripts run on one thread) and per writer; PostgreSQL is not sized here',
    s.provinces.length > 0
      ? 'a province is one hash tag: it lives on one shard, so its own peak must fit one shard'
      : 'no provinces given: the one-province-one-shard check was skipped',
  ];
  if (s.bytesPerCandidate !== null) {
    assumptions.push(
      `Redis memory: ${num(s.bytesPerCandidate)} B per candidate, ${num(s.maxMemoryPerShardBytes! / 1024 ** 2)} MiB usable per shard`,
    );
  }

  return {
    scenario: s,
    measured,
    arrivals: {
      mode: arrivals.mode,
      description: arrivals.description,
      peakCandidatesPerSec: arrivals.peakCandidatesPerSec,
      horizonS: arrivals.horizonS,
      averageCandidatesPerSec: arrivals.averageCandidatesPerSec,
    },
    gateway,
    redis,
    writers,
    login,
    provinces: checks,
    totalCores: gateway.cores + login.cores + redis.cores + writers.cores,
    assumptions,
    warnings,
  };
}
