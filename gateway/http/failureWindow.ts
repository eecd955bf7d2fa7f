/**
 * Failures per client address in fixed windows, in this thread's memory: checked without a Redis
 * round trip (wrong admin tokens in the uWS handler before a body is read; unknown session tokens
 * before PostgreSQL is asked). Per thread and gateway, so the bound is that many times the limit.
 */
export class FailureWindow {
  private window = 0;
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  private roll(now: number): void {
    const window = Math.floor(now / this.windowMs);
    if (window !== this.window) {
      this.window = window;
      this.counts.clear();
    }
  }

  /** Seconds until `address` may try again; 0 when it may now. */
  blockedFor(address: string, now: number): number {
    this.roll(now);
    if ((this.counts.get(address) ?? 0) < this.limit) return 0;
    return Math.max(1, Math.ceil(((this.window + 1) * this.windowMs - now) / 1000));
  }

  failed(address: string, now: number): void {
    this.roll(now);
    this.counts.set(address, (this.counts.get(address) ?? 0) + 1);
  }
}
