/**
 * The stream writer (I5): drains the engine's outbox streams into PostgreSQL's `events` table with
 * a consumer group per stream. A batch is inserted in one statement with ON CONFLICT on the event
 * id, and XACKed only after COMMIT, so a crash between the two redelivers the batch and the
 * redelivery is a no-op. On start it first re-reads its own pending entries. Several writers may
 * run at once (distinct consumer names). This is the base the persistence issue grows
 * (projections, XAUTOCLAIM of dead consumers, dead letters, backoff by SQLSTATE, trimming).
 */
import type { Redis } from 'ioredis';
import { decodeEvent } from '../engine/events.ts';
import type { Pool } from './pool.ts';
import { insertEvents, type EventRow } from './sql/events.ts';

export interface WriterOptions {
  readonly streams: readonly string[];
  readonly group?: string;
  readonly consumer: string;
  readonly batchSize?: number;
  /** How long one read blocks waiting for new entries (ms). */
  readonly idleMs?: number;
  readonly onError?: (error: unknown) => void;
}

export interface WriterStats {
  readonly written: number;
  readonly batches: number;
  readonly errors: number;
  readonly lastWriteAt: number;
}

type StreamReply = [stream: string, entries: [id: string, fields: string[]][]][] | null;

// Single-node Redis: one XREADGROUP reads every stream. (On Redis Cluster the streams of different
// shards live on different nodes; the persistence issue splits the read per node.)

export class StreamWriter {
  private readonly group: string;
  private readonly batchSize: number;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private groupsReady = false;
  private stats: WriterStats = { written: 0, batches: 0, errors: 0, lastWriteAt: 0 };
  private readonly reader: Redis;

  constructor(
    private readonly redis: Redis,
    private readonly db: Pool,
    private readonly options: WriterOptions,
  ) {
    this.group = options.group ?? 'writer';
    this.batchSize = options.batchSize ?? 1000;
    this.reader = redis.duplicate();
  }

  get current(): WriterStats {
    return this.stats;
  }

  async ensureGroups(): Promise<void> {
    if (this.groupsReady) return;
    for (const stream of this.options.streams) {
      try {
        await this.redis.xgroup('CREATE', stream, this.group, '0', 'MKSTREAM');
      } catch (error) {
        if (!(error instanceof Error && error.message.includes('BUSYGROUP'))) throw error;
      }
    }
    this.groupsReady = true;
  }

  /**
   * Reads one batch across all streams in one XREADGROUP (blocking up to `blockMs` for new entries
   * when there are none, instead of polling), writes it, then acknowledges it. `from` '0' re-reads
   * this consumer's pending entries. The reader connection is dedicated (a blocking read would
   * stall other commands on a shared one).
   */
  async drainOnce(from: '>' | '0' = '>', blockMs = 0): Promise<number> {
    await this.ensureGroups();
    const streams = this.options.streams;
    const args: (string | number)[] = ['GROUP', this.group, this.options.consumer, 'COUNT', this.batchSize];
    if (blockMs > 0 && from === '>') args.push('BLOCK', blockMs);
    args.push('STREAMS', ...streams, ...streams.map(() => from));
    const reply = (await this.reader.call('XREADGROUP', ...args)) as StreamReply;
    let written = 0;
    for (const [stream, entries] of reply ?? []) {
      if (entries.length === 0) continue;
      const rows: EventRow[] = entries.map(([id, fields]) => {
        const event = decodeEvent(stream, id, fields);
        return {
          eventId: event.eventId,
          stream: event.stream,
          type: event.type,
          atMs: event.at,
          data: event.data,
        };
      });
      await insertEvents(this.db, rows);
      await this.redis.xack(stream, this.group, ...entries.map(([id]) => id));
      written += entries.length;
      this.stats = {
        written: this.stats.written + entries.length,
        batches: this.stats.batches + 1,
        errors: this.stats.errors,
        lastWriteAt: Date.now(),
      };
    }
    return written;
  }

  start(): void {
    this.loop = (async () => {
      // first whatever this consumer had read but not acknowledged before a crash
      while (!this.stopped && (await this.safeDrain('0')) > 0);
      while (!this.stopped) await this.safeDrain('>', this.options.idleMs ?? 200);
    })();
  }

  private async safeDrain(from: '>' | '0', blockMs = 0): Promise<number> {
    try {
      return await this.drainOnce(from, blockMs);
    } catch (error) {
      this.stats = { ...this.stats, errors: this.stats.errors + 1 };
      this.options.onError?.(error);
      await new Promise((resolve) => setTimeout(resolve, 500));
      return 0;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.reader.disconnect();
  }
}
