import { describe, expect, it } from 'vitest';
import { MetricsCollector, threadMetricsText, valueWithin } from './metrics.ts';

/** A fake app thread: answers a collection (after a turn of the event loop) or never. */
interface FakeThread {
  readonly name: string;
  readonly answers: boolean;
}

function collectorOf(threads: readonly FakeThread[], waitMs: number) {
  const asked: string[] = [];
  const collector: MetricsCollector<FakeThread> = new MetricsCollector<FakeThread>((thread, id) => {
    asked.push(thread.name);
    if (thread.answers) setImmediate(() => collector.part(thread, id, { from: thread.name }));
  }, waitMs);
  return { collector, asked, threads };
}

const never = <T>(ms: number, value: T): Promise<T> =>
  new Promise((resolve) => setTimeout(resolve, ms, value).unref());

describe('MetricsCollector (issue 16 item 13)', () => {
  it('ends as soon as every thread answered', async () => {
    const { collector, asked, threads } = collectorOf(
      [
        { name: 'a', answers: true },
        { name: 'b', answers: true },
      ],
      60_000,
    );
    const started = performance.now();
    const collected = await collector.collect(threads, 2);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(asked).toEqual(['a', 'b']);
    expect(collected.missing).toBe(0);
    expect(collected.parts).toEqual(expect.arrayContaining([{ from: 'a' }, { from: 'b' }]));
    expect(collector.pending).toBe(0);
  });

  it('answers with what it has after the wait when a thread never answers', async () => {
    const { collector, threads } = collectorOf(
      [
        { name: 'a', answers: true },
        { name: 'stuck', answers: false },
      ],
      150,
    );
    const started = performance.now();
    const collected = await Promise.race([collector.collect(threads, 2), never(10_000, 'hung' as const)]);
    expect(collected).not.toBe('hung');
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(collected).toEqual({ parts: [{ from: 'a' }], missing: 1 });
    expect(collector.pending).toBe(0);
    // a late answer changes nothing
    collector.part(threads[1]!, 1, { from: 'late' });
    expect(collector.pending).toBe(0);
  });

  it('stops waiting at once for a thread that exited, and counts dead threads as missing', async () => {
    const stuck = { name: 'stuck', answers: false };
    const { collector, threads } = collectorOf([{ name: 'a', answers: true }, stuck], 60_000);
    const collecting = collector.collect(threads, 3);
    setImmediate(() => collector.gone(stuck));
    const collected = await Promise.race([collecting, never(10_000, 'hung' as const)]);
    expect(collected).toEqual({ parts: [{ from: 'a' }], missing: 2 });
  });

  it('ends at once with no live thread, or when asking a thread throws', async () => {
    const { collector } = collectorOf([], 60_000);
    expect(await Promise.race([collector.collect([], 2), never(10_000, 'hung' as const)])).toEqual({
      parts: [],
      missing: 2,
    });
    const throwing = new MetricsCollector<string>(() => {
      throw new Error('worker exited');
    }, 60_000);
    expect(await Promise.race([throwing.collect(['x'], 1), never(10_000, 'hung' as const)])).toEqual({
      parts: [],
      missing: 1,
    });
  });
});

describe('valueWithin', () => {
  it("is the work's value, or the fallback when it fails or takes too long", async () => {
    expect(await valueWithin(Promise.resolve('text'), 1_000, '')).toBe('text');
    expect(await valueWithin(Promise.reject(new Error('redis down')), 1_000, '')).toBe('');
    expect(await valueWithin(new Promise<string>(() => undefined), 50, 'fallback')).toBe('fallback');
  });
});

describe('threadMetricsText', () => {
  it('shows the threads and those missing from the answer', () => {
    const text = threadMetricsText(4, 1);
    expect(text).toMatch(/^gateway_threads 4$/m);
    expect(text).toMatch(/^metrics_threads_missing 1$/m);
    expect(text).toContain('# TYPE metrics_threads_missing gauge');
  });
});
