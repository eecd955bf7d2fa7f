/**
 * How far the writer is behind the outbox (ARCHITECTURE.md P6), read from Redis alone: per outbox
 * stream its length (XLEN), the writer group's pending entries (delivered, not acknowledged:
 * XPENDING), its undelivered entries (XINFO GROUPS lag) and the age of the oldest entry not yet
 * acknowledged, from its entry id's millisecond part against Redis's own TIME (the clock that
 * stamped the id). Two pipelined round trips; on a Redis Cluster one pipeline per shard
 * (execKeyed). GET /api/v1/admin/stats shows it, and the load runner samples it directly, so that
 * its writer-lag series has no gap where the gateway sheds admin reads (the surge's busiest seconds).
 */
import type { Engine } from './engine.ts';
import { WRITER_GROUP } from './outbox.ts';
import { PROVINCE_CODES } from './provinces.ts';
import { execKeyed, type KeyedCommand } from './redisClient.ts';

/** XINFO GROUPS answers a flat [name, value, …] list per group. */
function fieldsOf(flat: unknown): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  if (Array.isArray(flat)) for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = flat[i + 1];
  return record;
}

const idMs = (entryId: string): number => Number(entryId.slice(0, entryId.indexOf('-')));

export interface StreamLag {
  readonly stream: string;
  readonly length: number;
  /** Delivered to the writer group, not yet acknowledged (XPENDING). */
  readonly pending: number;
  /** Not yet delivered to the writer group (XINFO GROUPS lag; null when Redis cannot tell). */
  readonly undelivered: number | null;
  /** Age of the oldest entry the writer has not acknowledged; null when it is all caught up. */
  readonly oldestUnprocessedAgeMs: number | null;
  readonly groupExists: boolean;
}

export async function outboxLag(engine: Engine) {
  const redis = engine.redis;
  const names = engine.keys.allStreams(PROVINCE_CODES);
  const answers = await execKeyed(redis, [
    ...names.flatMap((stream): KeyedCommand[] => [
      { key: stream, add: (p) => p.xlen(stream) },
      { key: stream, add: (p) => p.xinfo('GROUPS', stream) },
      { key: stream, add: (p) => p.xpending(stream, WRITER_GROUP) },
    ]),
    // Redis's own clock (the one that stamped the entry ids), from any node
    { key: names[0]!, add: (p) => p.time() },
  ]);
  const [timeError, time] = answers[answers.length - 1]!;
  if (timeError) throw timeError;
  const [seconds, micros] = time as [string, string];
  const redisNowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);

  interface StreamProbe {
    stream: string;
    length: number;
    pending: number;
    undelivered: number | null;
    oldestPendingId: string | null;
    lastDeliveredId: string | null;
    groupExists: boolean;
  }
  const partials: StreamProbe[] = names.map((stream, i) => {
    const [lengthError, length] = answers[3 * i]!;
    if (lengthError) throw lengthError;
    const [infoError, info] = answers[3 * i + 1]!; // "no such key" for a stream never written
    const group = infoError
      ? undefined
      : (info as unknown[]).map(fieldsOf).find((g) => g.name === WRITER_GROUP);
    const [pendingError, summary] = answers[3 * i + 2]!;
    const pendingSummary = pendingError ? null : (summary as [number, string | null, string | null, unknown]);
    const lag = group?.lag;
    return {
      stream,
      length: Number(length),
      pending: pendingSummary ? Number(pendingSummary[0]) : 0,
      undelivered:
        group === undefined ? Number(length) : lag === null || lag === undefined ? null : Number(lag),
      oldestPendingId: pendingSummary?.[1] ?? null,
      lastDeliveredId: group ? String(group['last-delivered-id']) : null,
      groupExists: group !== undefined,
    };
  });

  // the first undelivered entry of each stream that has any (a second, smaller round trip)
  const behind = partials.filter((p) => p.length > 0 && p.undelivered !== 0);
  const undeliveredAnswers = await execKeyed(
    redis,
    behind.map((probe) => ({
      key: probe.stream,
      add: (p) =>
        p.xrange(
          probe.stream,
          probe.lastDeliveredId === null ? '-' : `(${probe.lastDeliveredId}`,
          '+',
          'COUNT',
          1,
        ),
    })),
  );
  const firstUndelivered = new Map<string, string>();
  behind.forEach((p, i) => {
    const [error, entries] = undeliveredAnswers[i]!;
    const entry = error ? undefined : (entries as [string, string[]][])[0];
    if (entry) firstUndelivered.set(p.stream, entry[0]);
  });

  const byStream: StreamLag[] = partials.map((p) => {
    const candidates = [p.oldestPendingId, firstUndelivered.get(p.stream) ?? null]
      .filter((id): id is string => id !== null)
      .map(idMs);
    const oldest = candidates.length > 0 ? Math.min(...candidates) : null;
    return {
      stream: p.stream,
      length: p.length,
      pending: p.pending,
      undelivered: p.undelivered,
      oldestUnprocessedAgeMs: oldest === null ? null : Math.max(0, redisNowMs - oldest),
      groupExists: p.groupExists,
    };
  });
  const ages = byStream.map((s) => s.oldestUnprocessedAgeMs).filter((age): age is number => age !== null);
  return {
    group: WRITER_GROUP,
    length: byStream.reduce((sum, s) => sum + s.length, 0),
    pending: byStream.reduce((sum, s) => sum + s.pending, 0),
    undelivered: byStream.reduce((sum, s) => sum + (s.undelivered ?? 0), 0),
    /** The writer's lag: the oldest entry, over every stream, it has not acknowledged yet. */
    lagMs: ages.length > 0 ? Math.max(...ages) : 0,
    // idle streams (never written) are left out: 47 streams, mostly empty outside the surge
    byStream: byStream
      .filter((s) => s.length > 0 || s.groupExists)
      .sort(
        (a, b) => (b.oldestUnprocessedAgeMs ?? -1) - (a.oldestUnprocessedAgeMs ?? -1) || b.length - a.length,
      ),
  };
}
