/**
 * The waiting room's closed loop (ARCHITECTURE.md "The opening"): how many admitted candidates may
 * be active at once, from what the gateways say about themselves. Pure: the keeper
 * (engine/queueKeeper.ts) feeds it the gateway threads' load reports and the room's counts.
 *
 * - Every gateway thread reports its adaptive concurrency limit, requests in flight, latency (mean
 *   and the last window's p99) and what it served and shed since its last report.
 * - **Health**: `down` when any thread shed a critical request (a reservation found no slot) or
 *   the critical requests' p99 (what admitted candidates do) passed 1.5× the target; `up` when it
 *   is under the target and the threads' overall p99 is not far past it; `hold` in between.
 * - **Target active candidates** A: grows while healthy and the slots are full (demand exists),
 *   shrinks ×0.8 when not, and never grows beyond the Little's-law bound: the gateways can serve
 *   Σ limit ÷ latency requests/s, an active candidate makes r requests/s (measured: all that is
 *   served ÷ the active candidates, an overestimate that errs on the safe side), so
 *   A ≤ headroom × capacity ÷ r. Admissions then happen as slots free (tickQueue), so the
 *   admission rate is A ÷ W, W the time a candidate stays active: Little's law again.
 */

/** One gateway thread's report (written to Redis twice a second, read by the keeper). */
export interface ThreadLoad {
  /** When it was written (ms, the writer's wall clock). */
  readonly at: number;
  readonly limit: number;
  readonly inFlight: number;
  /** Mean latency of the last closed window (ms). */
  readonly rttMs: number | null;
  readonly p99Ms: number | null;
  /** Answers per second served (admitted, all classes) since the previous report. */
  readonly servedPerSec: number;
  /** Critical requests shed since the previous report. */
  readonly shedCritical: number;
  /**
   * p99 of the critical requests (reservations, bindings, payments: what an admitted candidate
   * does) answered since the previous report; null when none were.
   */
  readonly criticalP99Ms?: number | null;
  /** Since the thread started, per priority class: requests admitted and shed (the admin stats). */
  readonly totals?: {
    readonly admitted: Readonly<Record<'critical' | 'standard' | 'background', number>>;
    readonly shed: Readonly<Record<'critical' | 'standard' | 'background', number>>;
  };
}

export type Health = 'up' | 'down' | 'hold';

export interface ControlOptions {
  /** Admitted requests' p99 the loop aims under (ms; P7 allows 200). */
  readonly targetP99Ms: number;
  /** Share of the gateways' capacity the admitted candidates may take. */
  readonly headroom: number;
  readonly minActive: number;
  readonly maxActive: number;
  /** Growth per healthy tick (fraction of A, at least 1). */
  readonly growth: number;
  readonly backoff: number;
  /** A report older than this is ignored (a thread that died or stalled). */
  readonly staleMs: number;
}

export const DEFAULT_CONTROL: ControlOptions = {
  targetP99Ms: 100,
  headroom: 0.7,
  minActive: 8,
  maxActive: 100_000,
  growth: 0.1,
  backoff: 0.8,
  staleMs: 3_000,
};

export interface GatewayView {
  readonly threads: number;
  /** Requests/s the gateways could serve at their limits (Little: Σ limit ÷ latency). */
  readonly capacityPerSec: number;
  readonly servedPerSec: number;
  readonly health: Health;
}

export function gatewayView(
  loads: readonly ThreadLoad[],
  now: number,
  options: ControlOptions = DEFAULT_CONTROL,
): GatewayView {
  const fresh = loads.filter((load) => now - load.at <= options.staleMs);
  if (fresh.length === 0) return { threads: 0, capacityPerSec: 0, servedPerSec: 0, health: 'hold' };
  let capacity = 0;
  let served = 0;
  let shed = 0;
  let worstP99 = 0;
  let worstCritical = 0;
  for (const load of fresh) {
    if (load.rttMs !== null && load.rttMs > 0) capacity += load.limit / (load.rttMs / 1000);
    served += load.servedPerSec;
    shed += load.shedCritical;
    worstP99 = Math.max(worstP99, load.p99Ms ?? 0);
    worstCritical = Math.max(worstCritical, load.criticalP99Ms ?? 0);
  }
  // Only what the admitted candidates meet counts against them: a reservation shed (the critical
  // class found no slot), or their own requests' p99 past the target. Logins and polls beyond
  // capacity are the adaptive limit's and the KDF lane's to shed; they must not starve the line
  // (the whole thread's p99 only stops growth).
  let health: Health = 'hold';
  if (shed > 0 || worstCritical > options.targetP99Ms * 1.5) health = 'down';
  else if (worstCritical < options.targetP99Ms && worstP99 < options.targetP99Ms * 2) health = 'up';
  return { threads: fresh.length, capacityPerSec: capacity, servedPerSec: served, health };
}

/**
 * The next target of active candidates. `room.active`: the slots held right after the last tick's
 * admissions (growth only when they were full: the target, not the line, held admission back).
 */
export function nextTargetActive(
  current: number,
  view: GatewayView,
  room: { readonly active: number; readonly waiting: number },
  options: ControlOptions = DEFAULT_CONTROL,
): number {
  let next = current;
  if (view.health === 'down') next = current * options.backoff;
  else if (view.health === 'up' && room.waiting > 0 && room.active >= current - 1) {
    next = current + Math.max(1, current * options.growth);
  }
  // Little's law bound: what the gateways can serve ÷ what one active candidate asks of them
  if (room.active > 0 && view.servedPerSec > 0 && view.capacityPerSec > 0) {
    const perCandidate = view.servedPerSec / room.active;
    next = Math.min(next, Math.max(current, (options.headroom * view.capacityPerSec) / perCandidate));
  }
  return Math.round(Math.max(options.minActive, Math.min(options.maxActive, next)));
}

export interface PaceOptions {
  /**
   * Admissions may run this fraction above the line's measured rate (a negative value: no pacing,
   * slots are filled as soon as they free).
   */
  readonly slack: number;
  /** Slots the target adds beyond those held are filled over this many seconds. */
  readonly fillS: number;
  readonly tickMs: number;
}

export const DEFAULT_PACE: PaceOptions = { slack: 0.5, fillS: 2, tickMs: 250 };

/**
 * The token bucket a room's tick admits through (tickQueue's ratePerSec and burst; rate 0: none):
 * admissions follow the line's measured rate (the ETA's denominator) with some slack, plus the
 * target's growth beyond the slots held spread over `fillS`, under the operator's cap. Without it
 * a wave of slots freed at once was refilled in one tick: a burst of simultaneous bindings (P7's
 * slowest seconds) and a line that moved by jumps its ETAs could not follow (P8). Before the rate
 * is measured (the opening) only the cap and the keeper's batch bound the fill.
 */
export function admissionPace(
  room: {
    /** The line's measured rate (admissions/s; 0 before it is measured). */
    readonly rate: number;
    readonly targetActive: number;
    /** Slots held right after the last tick's admissions. */
    readonly filled: number;
    /** The operator's cap (admissions/s; 0: none). */
    readonly cap: number;
    /** The keeper's batch bound (admissions per tick). */
    readonly maxBatch: number;
  },
  options: PaceOptions = DEFAULT_PACE,
): { readonly ratePerSec: number; readonly burst: number } {
  let rate = 0;
  if (options.slack >= 0 && room.rate > 0) {
    const gap = Math.max(0, room.targetActive - room.filled);
    rate = (1 + options.slack) * room.rate + gap / options.fillS;
  }
  if (room.cap > 0) rate = rate > 0 ? Math.min(rate, room.cap) : room.cap;
  if (rate <= 0) return { ratePerSec: 0, burst: room.maxBatch };
  // the operator's cap allows a second's worth at once (as before pacing); the pace two ticks'
  // worth, so that a tick that comes late does not lose its share
  if (rate === room.cap) return { ratePerSec: rate, burst: Math.max(1, rate) };
  return { ratePerSec: rate, burst: Math.max(1, (2 * rate * options.tickMs) / 1000) };
}

/** How quickly the pace's departure rate follows the line (ms): a second, against the ETA's 3. */
export const DEPARTURE_TAU_MS = 1_000;

/**
 * The slots given back per second, averaged over about a second: `departed` since the previous
 * tick (`previous.at`). The pace's base, beside the room's measured rate (the ETA's, an average
 * that trails a growing line): paced from a 5 s average alone, admissions fell below the slots that
 * freed once the first admitted candidates left, the slots held fell, and the target, which grows
 * only in a tick whose slots were full, stopped growing (tests/engine/queue-keeper.test.ts).
 */
export function departureRate(
  previous: { readonly perSec: number; readonly at: number } | undefined,
  departed: number,
  now: number,
  tauMs = DEPARTURE_TAU_MS,
): { perSec: number; at: number } {
  if (previous === undefined || now <= previous.at) return { perSec: previous?.perSec ?? 0, at: now };
  const dt = now - previous.at;
  const instant = (Math.max(0, departed) * 1000) / dt;
  return { perSec: previous.perSec + (1 - Math.exp(-dt / tauMs)) * (instant - previous.perSec), at: now };
}

/** How far ahead an ETA follows the rate's growth (s); the rate is held after that. */
export const ETA_TREND_HORIZON_S = 60;

/**
 * Seconds until a WAITING ticket at `position` is admitted: the time the line takes to serve its
 * place at the measured admission rate (the room's smoothed level) growing by its measured trend
 * (admissions/s per second; only growth counts, for at most ETA_TREND_HORIZON_S), or at the keeper's
 * planned rate before anything was measured. A line whose rate grows (the target grows back once
 * the latecomers' logins stop) is served faster than its rate so far says: the ETAs shown after the
 * first minute of 10 demo runs, replayed offline against the admissions that followed, p90 error
 * 108–404 % with a 5 s average alone, 50–320 % with the trend, lower in every run
 * (engine/lua/tickQueue-10.lua).
 * Never null for a waiting ticket: a position always comes with an ETA. Rounded to the nearest
 * second, at least 1 while a place is ahead: rounding up added up to a whole second to every ETA,
 * which near the front of the line is most of the wait (an offline replay of one demo's 75,634
 * ETAs with a 5 s average rate: the p90 error of those shown with 1–5 s left, 123 % rounded up,
 * 102 % rounded).
 */
export function etaSeconds(position: number, rate: number, plan: number, trend = 0): number {
  if (position <= 0) return 0;
  if (rate <= 0) return Math.max(1, Math.round(position / (plan > 0 ? plan : 1)));
  const growth = Math.max(0, trend);
  if (growth === 0) return Math.max(1, Math.round(position / rate));
  // served by time t: rate·t + growth·t²/2 within the horizon, then at the rate reached
  const horizon = ETA_TREND_HORIZON_S;
  const withinHorizon = rate * horizon + (growth * horizon * horizon) / 2;
  const seconds =
    position <= withinHorizon
      ? (Math.sqrt(rate * rate + 2 * growth * position) - rate) / growth
      : horizon + (position - withinHorizon) / (rate + growth * horizon);
  return Math.max(1, Math.round(seconds));
}

const CLASSES = ['critical', 'standard', 'background'] as const;
type ClassCounts = Record<(typeof CLASSES)[number], number>;

/**
 * The fresh load reports (`staleMs`) summed over every gateway thread: what GET
 * /api/v1/admin/stats and the load runner's sampler show of admission control.
 */
export function admissionSummary(loads: readonly ThreadLoad[], wallNow: number) {
  const fresh = loads.filter((load) => wallNow - load.at <= DEFAULT_CONTROL.staleMs);
  const admitted: ClassCounts = { critical: 0, standard: 0, background: 0 };
  const shed: ClassCounts = { critical: 0, standard: 0, background: 0 };
  let limit = 0;
  let inFlight = 0;
  let servedPerSec = 0;
  let p99Ms: number | null = null;
  let criticalP99Ms: number | null = null;
  for (const load of fresh) {
    limit += load.limit;
    inFlight += load.inFlight;
    servedPerSec += load.servedPerSec;
    if (load.p99Ms !== null) p99Ms = Math.max(p99Ms ?? 0, load.p99Ms);
    if (load.criticalP99Ms != null) criticalP99Ms = Math.max(criticalP99Ms ?? 0, load.criticalP99Ms);
    for (const c of CLASSES) {
      admitted[c] += load.totals?.admitted[c] ?? 0;
      shed[c] += load.totals?.shed[c] ?? 0;
    }
  }
  const view = gatewayView(fresh, wallNow);
  return {
    threads: fresh.length,
    /** The adaptive limits' sum (requests in flight at once). */
    limit,
    inFlight,
    servedPerSec,
    /** The worst thread's p99 over its last window, and of its critical requests (ms). */
    p99Ms,
    criticalP99Ms,
    /** up: the waiting rooms may let more in; down: fewer; hold (engine/queueControl.ts). */
    health: view.health,
    /** Since each thread started (threads that stopped are no longer counted). */
    admitted,
    shed,
  };
}
