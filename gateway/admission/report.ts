/**
 * A gateway thread's load report (engine/queueControl.ts ThreadLoad), written to Redis twice a
 * second: its adaptive limit, what is in flight, the last window's latency, what it served and the
 * critical requests it shed since the last report. The queue keeper reads every thread's report
 * (of every gateway process) to set how many candidates the waiting rooms let in at once; the admin
 * stats show them. A failed write is skipped: the next one carries the totals forward.
 */
import type { ThreadLoad } from '../../engine/queueControl.ts';
import type { EngineRedis } from '../../engine/scripts.ts';
import type { Admission } from './admission.ts';

export class LoadReporter {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastAt = performance.now();
  private lastServed = 0;
  private lastShedCritical = 0;

  constructor(
    private readonly redis: EngineRedis,
    /** The hash of every thread's report (engine/keys.ts gatewayLoad). */
    private readonly key: string,
    /** This thread's field: host, process and thread. */
    readonly field: string,
    private readonly admission: Admission,
    private readonly onReport: (load: ThreadLoad) => void = () => undefined,
    private readonly intervalMs = 500,
  ) {}

  /** The current report; moves the "since last report" counters on. */
  take(): ThreadLoad {
    const now = performance.now();
    const stats = this.admission.stats();
    const served = stats.admitted.critical + stats.admitted.standard + stats.admitted.background;
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    const load: ThreadLoad = {
      at: Date.now(),
      limit: stats.limit,
      inFlight: stats.inFlight,
      rttMs: stats.shortRttMs,
      p99Ms: stats.windowP99Ms,
      servedPerSec: Math.round((served - this.lastServed) / seconds),
      shedCritical: stats.shed.critical - this.lastShedCritical,
      criticalP99Ms: this.admission.takeCriticalP99(),
      totals: { admitted: stats.admitted, shed: stats.shed },
    };
    this.lastAt = now;
    this.lastServed = served;
    this.lastShedCritical = stats.shed.critical;
    return load;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const load = this.take();
      this.onReport(load);
      this.redis.hset(this.key, this.field, JSON.stringify(load)).catch(() => undefined);
    }, this.intervalMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.redis.hdel(this.key, this.field).catch(() => undefined);
  }
}
