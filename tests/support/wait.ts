/**
 * Waiting in tests. `waitFor` polls a condition until it holds and fails naming what it waited
 * for, so that a test neither passes nor fails merely because a fixed pause was too short or too
 * long on a loaded machine. `sleep` is for pauses that are themselves the point (a window to let
 * pass, a pace to keep, a client that dawdles); never for "long enough that it must have happened".
 */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** How long to keep trying before failing (default 5 s). */
  readonly timeoutMs?: number;
  /** The pause between two checks (default 20 ms). */
  readonly intervalMs?: number;
  /** What is waited for, for the error: "every event in PostgreSQL". */
  readonly message?: string;
}

/** What `check` answers while the condition does not hold yet. */
type NotYet = false | null | undefined;

/**
 * Runs `check` (sync or async) until it answers something other than `false`, `null` or
 * `undefined`, and resolves with that answer (a predicate's `true`, or the value looked for).
 * After `timeoutMs` it throws "timed out after … waiting for <message>". An error thrown by
 * `check` is not retried: it fails the wait at once.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Exclude<T, NotYet>> {
  const { timeoutMs = 5_000, intervalMs = 20, message = 'a condition' } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const answer = await check();
    if (answer !== false && answer !== null && answer !== undefined) return answer as Exclude<T, NotYet>;
    if (performance.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await sleep(Math.min(intervalMs, Math.max(0, deadline - performance.now())));
  }
}
