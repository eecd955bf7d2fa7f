/**
 * How the benchmarks drive work: a fixed number of calls with a bounded number in flight, timed,
 * and the best of a few rounds (a shared machine's figures drift; the best round is the closest
 * to the uncontended figure).
 */

/** Runs `count` calls of `work` with at most `inflight` outstanding; returns calls per second. */
export async function drive(
  count: number,
  inflight: number,
  work: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(inflight, count) }, async () => {
      while (next < count) await work(next++);
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** The highest of `rounds` measurements. */
export async function best(rounds: number, measure: () => Promise<number> | number): Promise<number> {
  let top = 0;
  for (let round = 0; round < rounds; round++) top = Math.max(top, await measure());
  return top;
}

/** The middle value (the upper one of an even count). */
export const median = (runs: readonly number[]): number =>
  [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
