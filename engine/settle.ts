/**
 * A bounded wait for work that may never finish: a stop() behind a Redis or PostgreSQL that died
 * first waits for ever on its commands (ioredis and pg reconnect without limit). Past the limit the
 * work goes on unawaited; the caller decides what to abandon (issue 16 item 16).
 */

/** Whether `work` settles (fulfilled or rejected) within `ms`. */
export async function settlesWithin(work: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (work === undefined) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
