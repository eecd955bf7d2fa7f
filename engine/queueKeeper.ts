/**
 * The queue keeper: the waiting rooms' clock (ARCHITECTURE.md "The opening"). Every `intervalMs`,
 * for every province with a room, it reads the gateway threads' load reports, turns them into a
 * target of active candidates (engine/queueControl.ts), runs the draw when the opening has closed
 * the PREQUEUE, and ticks the room (admissions, lapses, the measured rate). It runs beside the
 * sweeper (START_SWEEPER); several may run at once: a short lease per room lets one of them tick it,
 * and every transition is a script that would refuse a double application anyway.
 */
import { hostname } from 'node:os';
import type { Engine } from './engine.ts';
import { WaitingRoom, type TickResult } from './queue.ts';
import {
  admissionPace,
  departureRate,
  DEFAULT_CONTROL,
  DEFAULT_PACE,
  gatewayView,
  nextTargetActive,
  type ControlOptions,
  type GatewayView,
  type PaceOptions,
  type ThreadLoad,
} from './queueControl.ts';
import { settlesWithin } from './settle.ts';

export interface KeeperOptions {
  readonly intervalMs: number;
  readonly now: () => Promise<number>;
  /** Target active candidates a room starts from (it adapts from there). */
  readonly initialActive: number;
  readonly control?: Partial<ControlOptions>;
  /** Admissions per tick at most. */
  readonly maxBatch?: number;
  /** How long an opening's line must stay empty before its room stops gating. */
  readonly drainGraceMs?: number;
  /** The smoothing of the measured admission rate (the ETA's denominator). */
  readonly rateTauMs?: number;
  /** The smoothing of that rate's trend. */
  readonly trendTauMs?: number;
  /** How admissions follow the measured rate (engine/queueControl.ts admissionPace; tickMs is intervalMs). */
  readonly pace?: Partial<Omit<PaceOptions, 'tickMs'>>;
  readonly onError?: (error: unknown) => void;
}

export interface RoomReport extends TickResult {
  readonly provinceCode: string;
  readonly targetActive: number;
  readonly health: GatewayView['health'];
}

const LEASE_MS = 3_000;
/** A load report older than this is deleted (its thread is gone). */
const FORGET_LOAD_MS = 60_000;

/**
 * The gateway threads' load reports (their own hash, written twice a second by each thread); with
 * `forget`, reports older than a minute (their thread is gone) are deleted.
 */
export async function readThreadLoads(
  engine: Engine,
  wallNow = Date.now(),
  forget = true,
): Promise<ThreadLoad[]> {
  const all = await engine.redis.hgetall(engine.keys.gatewayLoad);
  const loads: ThreadLoad[] = [];
  const gone: string[] = [];
  for (const [field, raw] of Object.entries(all)) {
    try {
      const load = JSON.parse(raw) as ThreadLoad;
      if (wallNow - load.at > FORGET_LOAD_MS) gone.push(field);
      else loads.push(load);
    } catch {
      gone.push(field);
    }
  }
  if (forget && gone.length > 0) await engine.redis.hdel(engine.keys.gatewayLoad, ...gone);
  return loads;
}

export class QueueKeeper {
  readonly room: WaitingRoom;
  private readonly id = `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private readonly targets = new Map<string, number>();
  /** Per room, the slots held right after the last tick's admissions. */
  private readonly filled = new Map<string, number>();
  /** Per room, slots given back per second (a short average: the pace's base while the line grows). */
  private readonly departures = new Map<string, { perSec: number; at: number }>();
  private readonly control: ControlOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private last: RoomReport[] = [];
  errors = 0;

  constructor(
    private readonly engine: Engine,
    sealKey: Buffer,
    private readonly options: KeeperOptions,
  ) {
    this.room = new WaitingRoom(engine, sealKey);
    this.control = { ...DEFAULT_CONTROL, ...options.control };
  }

  /** What the last pass did, per room. */
  get reports(): readonly RoomReport[] {
    return this.last;
  }

  private async lease(provinceCode: string): Promise<boolean> {
    const key = this.engine.keys.province(provinceCode).queue.keeperLease;
    const taken = await this.engine.redis.set(key, this.id, 'PX', LEASE_MS, 'NX');
    if (taken === 'OK') return true;
    if ((await this.engine.redis.get(key)) !== this.id) return false;
    await this.engine.redis.pexpire(key, LEASE_MS);
    return true;
  }

  /** One pass over every room. */
  async tickOnce(): Promise<RoomReport[]> {
    const now = await this.options.now();
    const provinces = await this.room.provinces();
    if (provinces.length === 0) return (this.last = []);
    const view = gatewayView(await readThreadLoads(this.engine), Date.now(), this.control);
    const reports: RoomReport[] = [];
    for (const provinceCode of provinces) {
      if (!(await this.lease(provinceCode))) continue;
      const state = await this.room.room(provinceCode, now);
      if (!state || state.mode === 'off') continue;
      if (state.phase === 'DRAWING') await this.room.advanceDraw(provinceCode, now);
      const current = this.targets.get(provinceCode) ?? this.options.initialActive;
      // whether the target is what holds the line back: the slots were full right after the last
      // tick's admissions (just before this tick, the candidates who finished since have freed some)
      const filled =
        this.filled.get(provinceCode) ??
        (await this.engine.redis.zcard(this.engine.keys.province(provinceCode).queue.slots));
      const target = nextTargetActive(
        current,
        view,
        { active: filled, waiting: state.waiting },
        this.control,
      );
      this.targets.set(provinceCode, target);
      const cap = state.maxAdmitPerMinute === null ? 0 : state.maxAdmitPerMinute / 60;
      // at most an eighth of the target per tick before the line's rate is measured: empty slots (the
      // opening) fill over two seconds of ticks, not in one burst of simultaneous bindings; a quarter
      // after, when the pace spreads admissions (in a keeper trace of one demo with an eighth, every
      // tick of the regrowth admitted exactly the batch bound)
      const share = state.rate > 0 ? 4 : 8;
      const maxBatch = Math.min(this.options.maxBatch ?? 500, Math.max(5, Math.ceil(target / share)));
      const idleS = this.engine.queueIdleMs / 1000;
      const departed = this.departures.get(provinceCode);
      const pace = admissionPace(
        { rate: Math.max(state.rate, departed?.perSec ?? 0), targetActive: target, filled, cap, maxBatch },
        { ...DEFAULT_PACE, ...this.options.pace, tickMs: this.options.intervalMs },
      );
      const result = await this.room.tick(
        provinceCode,
        {
          targetActive: target,
          ...pace,
          maxBatch,
          drainGraceMs: this.options.drainGraceMs ?? 10_000,
          saturated: view.health === 'down' ? true : view.health === 'up' ? false : null,
          rateTauMs: this.options.rateTauMs ?? 3_000,
          trendTauMs: this.options.trendTauMs ?? 5_000,
          // before the line's pace is measured: every slot turning over in a quarter of the idle time
          plan: cap > 0 ? Math.min(cap, (4 * target) / idleS) : (4 * target) / idleS,
        },
        now,
      );
      this.filled.set(provinceCode, result.active);
      this.departures.set(
        provinceCode,
        departureRate(departed, filled - (result.active - result.admitted), now),
      );
      reports.push({ ...result, provinceCode, targetActive: target, health: view.health });
    }
    this.last = reports;
    return reports;
  }

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.tickOnce()
        .then(() => undefined)
        .catch((error: unknown) => {
          this.errors++;
          this.options.onError?.(error);
        })
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.options.intervalMs);
        });
    };
    tick();
  }

  /**
   * Stops after the tick in hand, waiting at most `graceMs` for it: on a Redis that is gone its
   * commands wait for ever. An abandoned tick is harmless: each transition is one script, and
   * another keeper takes the room when the lease runs out.
   */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await settlesWithin(this.running, graceMs);
  }
}
