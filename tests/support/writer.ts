/**
 * Waiting for the writer (db/writer.ts) in tests that run the whole system: PostgreSQL's events
 * table catches up with the Redis streams some time after the answers that produced them.
 */
import type { Redis } from 'ioredis';
import { query, type Pool } from '../../db/pool.ts';
import { waitFor } from './wait.ts';

/** Until PostgreSQL holds as many events of `streams` as the streams hold entries. */
export async function writerCaughtUp(
  redis: Redis,
  db: Pool,
  streams: readonly string[],
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    async () => {
      const lengths = await Promise.all(streams.map((stream) => redis.xlen(stream)));
      const [row] = await query<{ n: string }>(
        db,
        'SELECT count(*)::text AS n FROM events WHERE stream = ANY($1::text[])',
        [streams],
      );
      return Number(row!.n) >= lengths.reduce((sum, n) => sum + n, 0);
    },
    { timeoutMs, intervalMs: 50, message: `the writer to copy every event of ${streams.length} streams` },
  );
}
