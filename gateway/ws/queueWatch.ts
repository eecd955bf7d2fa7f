/**
 * Waiting-room tickets over /ws/seats (API.md: `{"subscribe": ["queue:<ticketId>"]}`, the ticket's
 * own account only): each app thread keeps the tickets its sockets watch, and one subscription to
 * every province's queue channel (the keeper's ticks and the draw publish the room's counters
 * there). A ticket's position and ETA follow from those counters alone (engine/queue.ts
 * ticketView), so a tick costs this thread no Redis read per watcher: only a ticket that the head
 * has passed (admitted) or that the draw has placed is read again. Pushes are coalesced per province
 * (at most one per `coalesceMs`) and a socket gets a message only when its ticket's view changed;
 * the current ticket is sent first on subscribe.
 *
 * A channel that falls silent for `silenceMs` while tickets are watched may have lost its
 * subscription without a word (a connection replaced, a Cluster node gone): the watched provinces'
 * counters are then read from Redis and pushed when they changed, so that a watcher never waits for
 * a pass the channel failed to bring.
 *
 * It never throws out of a callback; a failed read or push is logged and retried on the next tick.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Engine } from '../../engine/engine.ts';
import { psubscribeWhenReady } from '../../engine/redisClient.ts';
import {
  countersFromAnswer,
  ticketView,
  type RoomCounters,
  type TicketRecord,
  type WaitingRoom,
} from '../../engine/queue.ts';
import { provinceOfTicket } from '../../engine/queueDraw.ts';
import type { Clock } from '../clock.ts';
import { ticketBody } from '../routes/common.ts';

/** Where a watcher's messages go (a socket's checked send). */
export type TicketSink = (json: string) => void;

interface Watched {
  record: TicketRecord;
  readonly sinks: Map<TicketSink, string>;
}

/** Watched tickets read and pushed per turn of the event loop. */
const FLUSH_SLICE = 200;

export interface QueueWatchOptions {
  readonly engine: Engine;
  readonly room: WaitingRoom;
  readonly clock: Clock;
  readonly log: Logger;
  readonly coalesceMs: number;
  readonly subscriber?: Redis | Cluster;
  /** How long the channel may stay silent before watched counters are read from Redis (default 2 s). */
  readonly silenceMs?: number;
}

const DEFAULT_SILENCE_MS = 2_000;

function sameCounters(a: RoomCounters, b: RoomCounters): boolean {
  return (Object.keys(a) as (keyof RoomCounters)[]).every((key) => a[key] === b[key]);
}

export class QueueWatch {
  private readonly watched = new Map<string, Watched>();
  private readonly byProvince = new Map<string, Set<string>>();
  private readonly counters = new Map<string, RoomCounters>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly subscriber: Redis | Cluster;
  private started = false;
  private closed = false;
  /** When the channel last brought a message (performance.now()). */
  private heardAt = performance.now();
  private watchdog: ReturnType<typeof setInterval> | undefined;
  /** Times the counters read after a silence differed from the channel's: messages it lost. */
  private missed = 0;

  constructor(private readonly options: QueueWatchOptions) {
    this.subscriber = options.subscriber ?? options.engine.redis.duplicate();
    this.subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
      this.heardAt = performance.now();
      try {
        const provinceCode = /\{p([0-9]{2})\}/.exec(channel)?.[1];
        if (!provinceCode) return;
        const parsed = JSON.parse(message) as { room?: unknown };
        this.counters.set(provinceCode, countersFromAnswer(parsed.room));
        this.schedule(provinceCode);
      } catch (error) {
        options.log.warn({ err: error }, 'queue watch: unreadable channel message');
      }
    });
    this.subscriber.on('error', (error: unknown) => {
      options.log.warn({ err: error }, 'queue watch: subscriber connection error');
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await psubscribeWhenReady(this.subscriber, this.options.engine.keys.queueChannelPattern());
    const silenceMs = this.options.silenceMs ?? DEFAULT_SILENCE_MS;
    this.watchdog = setInterval(() => void this.readAfterSilence(silenceMs), silenceMs);
    this.watchdog.unref();
  }

  /** After `silenceMs` without a message: each watched province's counters from Redis, pushed if they changed. */
  private async readAfterSilence(silenceMs: number): Promise<void> {
    if (this.closed || performance.now() - this.heardAt < silenceMs) return;
    for (const [provinceCode, ids] of this.byProvince) {
      if (ids.size === 0) continue;
      try {
        const counters = await this.options.room.counters(provinceCode);
        const known = this.counters.get(provinceCode);
        if (known && sameCounters(known, counters)) continue;
        if (this.missed++ % 100 === 0) {
          this.options.log.warn(
            { provinceCode, missed: this.missed },
            'queue watch: the channel was silent and the room had changed: read from Redis',
          );
        }
        this.counters.set(provinceCode, counters);
        this.schedule(provinceCode);
      } catch (error) {
        this.options.log.warn(
          { err: error, provinceCode },
          'queue watch: counters read after silence failed',
        );
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    try {
      await this.subscriber.quit();
    } catch {
      this.subscriber.disconnect();
    }
  }

  /** Tickets watched on this thread. */
  get size(): number {
    return this.watched.size;
  }

  /**
   * Starts pushing `ticketId` to `sink` if it is `accountId`'s ticket; sends its current state
   * first. Resolves false (nothing sent) when there is no such ticket of that account.
   */
  async watch(ticketId: string, accountId: string, sink: TicketSink): Promise<boolean> {
    const provinceCode = provinceOfTicket(ticketId);
    if (provinceCode === null) return false;
    const [record, counters, now] = await Promise.all([
      this.options.room.ticket(ticketId),
      this.options.room.counters(provinceCode),
      this.options.clock.now(),
    ]);
    if (!record || record.accountId !== accountId) return false;
    if (!this.counters.has(provinceCode)) this.counters.set(provinceCode, counters);
    let entry = this.watched.get(ticketId);
    if (!entry) {
      entry = { record, sinks: new Map() };
      this.watched.set(ticketId, entry);
      let ids = this.byProvince.get(provinceCode);
      if (!ids) this.byProvince.set(provinceCode, (ids = new Set()));
      ids.add(ticketId);
    }
    const json = this.message(entry.record, this.counters.get(provinceCode) ?? counters, now);
    entry.sinks.set(sink, json);
    sink(json);
    return true;
  }

  unwatch(ticketId: string, sink: TicketSink): void {
    const entry = this.watched.get(ticketId);
    if (!entry) return;
    entry.sinks.delete(sink);
    if (entry.sinks.size > 0) return;
    this.watched.delete(ticketId);
    const provinceCode = provinceOfTicket(ticketId);
    if (provinceCode) this.byProvince.get(provinceCode)?.delete(ticketId);
  }

  private message(record: TicketRecord, counters: RoomCounters, now: number): string {
    return JSON.stringify({ type: 'queue', ticket: ticketBody(ticketView(record, counters, now)) });
  }

  private schedule(provinceCode: string): void {
    if (this.closed || this.timers.has(provinceCode) || !this.byProvince.get(provinceCode)?.size) return;
    this.timers.set(
      provinceCode,
      setTimeout(() => {
        // the timer's entry stays until the flush ends (it spans several turns of the event loop), so
        // that two flushes of one province never interleave and push an older view after a newer one
        const counters = this.counters.get(provinceCode);
        this.flush(provinceCode)
          .catch((error: unknown) => {
            this.options.log.warn({ err: error, provinceCode }, 'queue watch: push failed');
          })
          .finally(() => {
            this.timers.delete(provinceCode);
            if (this.counters.get(provinceCode) !== counters) this.schedule(provinceCode);
          });
      }, this.options.coalesceMs),
    );
  }

  /** Pushes every watched ticket of a province whose view changed. */
  private async flush(provinceCode: string): Promise<void> {
    const ids = [...(this.byProvince.get(provinceCode) ?? [])];
    const counters = this.counters.get(provinceCode);
    if (ids.length === 0 || !counters) return;
    // a ticket the head has passed was admitted, a PREQUEUE one the draw has placed: read them again
    const stale = new Set(
      ids.filter((id) => {
        const record = this.watched.get(id)?.record;
        return (
          record !== undefined &&
          ((record.state === 'W' && record.seq <= counters.head) ||
            (record.state === 'P' && counters.drawn > 0))
        );
      }),
    );
    // read and push in slices, yielding between them: at the draw every watched ticket is stale at
    // once (thousands per thread), and one long turn of the event loop would delay every request
    // this thread is serving (P7)
    for (let from = 0; from < ids.length; from += FLUSH_SLICE) {
      if (from > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const slice = ids.slice(from, from + FLUSH_SLICE);
      const staleIds = slice.filter((id) => stale.has(id));
      const [fresh, now] = await Promise.all([
        Promise.all(staleIds.map((id) => this.options.room.ticket(id))),
        this.options.clock.now(),
      ]);
      fresh.forEach((record) => {
        const entry = record && this.watched.get(record.ticketId);
        if (entry) entry.record = record;
      });
      for (const id of slice) {
        const entry = this.watched.get(id);
        if (!entry) continue;
        const json = this.message(entry.record, counters, now);
        for (const [sink, last] of entry.sinks) {
          if (last === json) continue;
          entry.sinks.set(sink, json);
          sink(json);
        }
      }
    }
  }
}
