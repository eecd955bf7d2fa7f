/**
 * The seat fan-out of one gateway thread (API.md "Live seat dashboards", P5). The Lua scripts
 * PUBLISH every seat change on `<ns>:{pNN}:seats`; the hub listens to all of them on a Redis
 * connection of its own (PSUBSCRIBE), coalesces per campus × subject and publishes to the uWS topics
 * `campus:<campusId>` and `province:<code>`, so one Redis message costs one `app.publish` per topic
 * whatever the number of dashboards.
 *
 * Coalescing: a key that has been quiet for `coalesceMs` is published at once (leading edge); changes
 * inside the window only replace the pending state, which is published when the window ends
 * (trailing flush). So at most one message per key per window, and the last state always arrives.
 * Redis delivers a province's messages in the order the scripts ran, so "latest arrived" is
 * "latest state"; `at` (the caller's clock) is carried, never used to reorder.
 *
 * It also keeps campusId → provinceCode (for `campus:<id>` subscriptions) and shares concurrent
 * snapshot reads of a province. It must never throw out of a Redis or timer callback, and never
 * write to Redis.
 *
 * Redis Cluster (issue 14): the scripts' plain PUBLISH is broadcast over the cluster bus to every
 * node, and ioredis's Cluster keeps this PSUBSCRIBE on one node of its choosing, so the hub works
 * unchanged (a node leaving the pool, which may have held that subscription, triggers a resync).
 * Sharded pub/sub (SPUBLISH / SSUBSCRIBE, a province's channel served by its shard's
 * master alone) is not used yet, deliberately: it has no pattern form, so every app thread would
 * SSUBSCRIBE each province's channel through ioredis's opt-in `shardedSubscribers` group (one more
 * connection per master per thread), whose dropped subscriber is restarted only at its next slot
 * map refresh, without the 'ready' this hub resyncs on; and the waiting room's channel
 * (gateway/ws/queueWatch.ts), published by the queue scripts, would have to move with it. What it
 * costs: each seat change crosses the cluster bus to every node. Worth revisiting when the bus is
 * measured to be the limit (many masters).
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { TemplatedApp } from 'uWebSockets.js';
import type { Engine } from '../../engine/engine.ts';
import { psubscribeWhenReady } from '../../engine/redisClient.ts';
import { systemClock, type Clock } from '../clock.ts';
import { MAINLAND_PROVINCE_CODES } from '../../engine/idNumber.ts';
import { isSubject, seatColor, type SeatColor, type Subject } from '../../engine/subjects.ts';
import type { SeatCount } from '../../engine/views.ts';

/** Resyncs tried after a Redis node left the pool, a second apart. */
const NODE_LEFT_RESYNC_ATTEMPTS = 5;

/** What a dashboard receives (API.md), before JSON. */
export interface SeatMessage {
  readonly type: 'seats';
  readonly campusId: string;
  readonly subject: Subject;
  readonly remaining: number;
  readonly capacity: number;
  readonly color: SeatColor;
  /** ISO-8601 with offset. */
  readonly at: string;
}

export interface SeatState {
  readonly campusId: string;
  readonly subject: Subject;
  readonly remaining: number;
  readonly capacity: number;
  /** Epoch ms of the change (the engine's clock). */
  readonly at: number;
}

export const campusTopic = (campusId: string): string => `campus:${campusId}`;
export const provinceTopic = (provinceCode: string): string => `province:${provinceCode}`;
export const seatKey = (campusId: string, subject: string): string => `${campusId}|${subject}`;

export function seatMessage(state: SeatState): SeatMessage {
  const remaining = Math.max(0, state.remaining);
  return {
    type: 'seats',
    campusId: state.campusId,
    subject: state.subject,
    remaining,
    capacity: state.capacity,
    color: seatColor(remaining, state.capacity),
    at: new Date(state.at).toISOString(),
  };
}

export function seatMessageOfCount(count: SeatCount, at: number): SeatMessage {
  return seatMessage({ ...count, at });
}

/** One message of a snapshot, serialised once and shared by every socket that sends it. */
export interface SnapshotMessage {
  readonly key: string;
  readonly json: string;
}

/** A province's seat state as dashboard messages, with the hub sequence taken before the read. */
export interface SeatSnapshot {
  /** The hub's sequence when the read began: a publish numbered above it may be newer than the read. */
  readonly sequence: number;
  readonly counts: readonly SeatCount[];
  readonly messages: readonly SnapshotMessage[];
  readonly byCampus: ReadonlyMap<string, readonly SnapshotMessage[]>;
}

export interface SeatHubOptions {
  readonly app: Pick<TemplatedApp, 'publish'>;
  readonly engine: Engine;
  /** Window per campus × subject (config.wsCoalesceMs); 0 publishes every change. */
  readonly coalesceMs: number;
  readonly log: Logger;
  /** The connection to PSUBSCRIBE on; the hub owns and closes it. Default: engine.redis.duplicate(). */
  readonly subscriber?: Redis | Cluster;
  /** Provinces whose campuses are looked up; default: the mainland provinces. */
  readonly provinces?: readonly string[];
  /** Minimum time between two campus-map refreshes caused by unknown campus ids. */
  readonly refreshIntervalMs?: number;
  /** The `at` of snapshot messages (the gateway's clock; default the system clock). */
  readonly clock?: Clock;
}

interface Window {
  /** The state waiting for the end of the window, if any change came inside it. */
  pending: { state: SeatState; provinceCode: string } | null;
  timer: NodeJS.Timeout;
}

const CHANNEL = /:\{p([0-9]{2})\}:seats$/;

export class SeatHub {
  readonly coalesceMs: number;
  private readonly app: Pick<TemplatedApp, 'publish'>;
  private readonly engine: Engine;
  private readonly log: Logger;
  private readonly subscriber: Redis | Cluster;
  private readonly refreshIntervalMs: number;
  private readonly clock: Clock;
  private readonly provinces: Set<string>;
  private readonly windows = new Map<string, Window>();
  /** Per key: the number and the JSON of its last publish. */
  private readonly lastPublished = new Map<string, { sequence: number; json: string }>();
  private readonly campusProvince = new Map<string, string>();
  private readonly snapshotFlights = new Map<string, Promise<SeatSnapshot>>();
  private refreshFlight: Promise<void> | null = null;
  private lastRefreshAt = -Infinity;
  private sequenceNumber = 0;
  private readyCount = 0;
  private closed = false;

  /** Counters for metrics and tests. */
  readonly stats = { received: 0, published: 0, coalesced: 0, malformed: 0 };

  constructor(options: SeatHubOptions) {
    this.app = options.app;
    this.engine = options.engine;
    this.coalesceMs = options.coalesceMs;
    this.log = options.log;
    this.subscriber = options.subscriber ?? options.engine.redis.duplicate();
    this.refreshIntervalMs = options.refreshIntervalMs ?? 1_000;
    this.clock = options.clock ?? systemClock;
    this.provinces = new Set(options.provinces ?? MAINLAND_PROVINCE_CODES);
    this.subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
      try {
        this.onSeatMessage(channel, message);
      } catch (error) {
        this.log.error({ err: error }, 'seat hub: message handling failed');
      }
    });
    this.subscriber.on('error', (error: unknown) => {
      this.log.warn({ err: error }, 'seat hub: subscriber connection error');
    });
    // changes published while the connection was down are lost: after a reconnect (ioredis
    // re-subscribes by itself) push every province's current state through the usual path
    this.subscriber.on('ready', () => {
      if (this.readyCount++ === 0 || this.closed) return;
      this.resync().catch((error: unknown) => {
        this.log.warn({ err: error }, 'seat hub: resync after reconnect failed');
      });
    });
    // on a Cluster the PSUBSCRIBE lives on one node, which ioredis replaces by itself when that
    // node goes (no 'ready' here): after any node leaves the pool, push the current state too
    this.subscriber.on('-node', () => void this.resyncAfterNodeLeft());
  }

  /**
   * The resync after a node left, tried again a few times a second apart: the cluster may still be
   * failing over (CLUSTERDOWN) when its slot map first drops the node.
   */
  private async resyncAfterNodeLeft(): Promise<void> {
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        await this.resync();
        return;
      } catch (error) {
        if (attempt >= NODE_LEFT_RESYNC_ATTEMPTS) {
          this.log.warn({ err: error }, 'seat hub: resync after a Redis node left failed');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
      }
    }
  }

  /** Subscribes and loads the campus map; resolves once changes are being received. */
  async start(): Promise<void> {
    await psubscribeWhenReady(this.subscriber, this.engine.keys.seatChannelPattern());
    await this.refreshCampuses();
  }

  /** Drops pending windows (the app is going away) and closes the subscriber connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const window of this.windows.values()) clearTimeout(window.timer);
    this.windows.clear();
    try {
      await this.subscriber.quit();
    } catch {
      this.subscriber.disconnect();
    }
  }

  /** Number of the last publish; pair with publishedSince. */
  get sequence(): number {
    return this.sequenceNumber;
  }

  /** Whether `key` (seatKey) was published after the publish numbered `sequence`. */
  publishedSince(key: string, sequence: number): boolean {
    return (this.lastPublished.get(key)?.sequence ?? 0) > sequence;
  }

  /** The last message published for `key`, if any. */
  lastMessage(key: string): string | undefined {
    return this.lastPublished.get(key)?.json;
  }

  /** Provinces the hub knows (configured, or seen on a seat channel). */
  knownProvinces(): string[] {
    return [...this.provinces].sort();
  }

  /** The province of a campus; on a miss the map is reloaded (at most once per refresh interval). */
  async provinceOf(campusId: string): Promise<string | undefined> {
    const known = this.campusProvince.get(campusId);
    if (known !== undefined) return known;
    if (this.refreshFlight === null && performance.now() - this.lastRefreshAt >= this.refreshIntervalMs) {
      this.refreshFlight = this.refreshCampuses().finally(() => {
        this.refreshFlight = null;
      });
    }
    if (this.refreshFlight !== null) await this.refreshFlight;
    return this.campusProvince.get(campusId);
  }

  /**
   * A province's seat counts; concurrent callers share one read, so the read may have begun before
   * a caller's own subscription: compare `sequence` with the caller's (see gateway/ws/seats.ts).
   */
  snapshot(provinceCode: string): Promise<SeatSnapshot> {
    const flying = this.snapshotFlights.get(provinceCode);
    if (flying) return flying;
    const sequence = this.sequenceNumber;
    const flight = Promise.all([this.engine.seatCounts(provinceCode), this.clock.now()])
      .then(([counts, at]) => buildSnapshot(sequence, counts, at))
      .finally(() => {
        this.snapshotFlights.delete(provinceCode);
      });
    this.snapshotFlights.set(provinceCode, flight);
    return flight;
  }

  private async refreshCampuses(): Promise<void> {
    this.lastRefreshAt = performance.now();
    const provinces = this.knownProvinces();
    const all = await Promise.all(provinces.map((code) => this.engine.campuses(code)));
    provinces.forEach((code, index) => {
      for (const campusId of all[index]!.keys()) this.campusProvince.set(campusId, code);
    });
  }

  /** Re-publishes every known province's current state (after a lost subscription). */
  async resync(): Promise<void> {
    const provinces = this.knownProvinces();
    const snapshots = await Promise.all(provinces.map((code) => this.snapshot(code)));
    const at = Date.now();
    provinces.forEach((code, index) => {
      for (const count of snapshots[index]!.counts) this.onState({ ...count, at }, code);
    });
  }

  private onSeatMessage(channel: string, raw: string): void {
    if (this.closed) return;
    this.stats.received++;
    const provinceCode = CHANNEL.exec(channel)?.[1];
    const state = provinceCode === undefined ? null : parseSeatState(raw);
    if (provinceCode === undefined || state === null) {
      this.stats.malformed++;
      if (this.stats.malformed <= 10) this.log.warn({ channel }, 'seat hub: malformed seat message ignored');
      return;
    }
    this.onState(state, provinceCode);
  }

  private onState(state: SeatState, provinceCode: string): void {
    if (this.closed) return;
    this.provinces.add(provinceCode);
    this.campusProvince.set(state.campusId, provinceCode);

    if (this.coalesceMs <= 0) {
      this.publish(state, provinceCode);
      return;
    }
    const key = seatKey(state.campusId, state.subject);
    const window = this.windows.get(key);
    if (window) {
      if (window.pending) this.stats.coalesced++;
      window.pending = { state, provinceCode };
      return;
    }
    this.publish(state, provinceCode);
    this.openWindow(key);
  }

  private openWindow(key: string): void {
    const window: Window = {
      pending: null,
      timer: setTimeout(() => {
        try {
          this.closeWindow(key, window);
        } catch (error) {
          this.windows.delete(key);
          this.log.error({ err: error }, 'seat hub: trailing flush failed');
        }
      }, this.coalesceMs),
    };
    window.timer.unref();
    this.windows.set(key, window);
  }

  private closeWindow(key: string, window: Window): void {
    this.windows.delete(key);
    if (this.closed || window.pending === null) return;
    this.publish(window.pending.state, window.pending.provinceCode);
    // the flush starts a window of its own: still at most one message per key per coalesceMs
    this.openWindow(key);
  }

  private publish(state: SeatState, provinceCode: string): void {
    const json = JSON.stringify(seatMessage(state));
    this.sequenceNumber++;
    this.lastPublished.set(seatKey(state.campusId, state.subject), { sequence: this.sequenceNumber, json });
    this.stats.published++;
    this.app.publish(campusTopic(state.campusId), json);
    this.app.publish(provinceTopic(provinceCode), json);
  }
}

function buildSnapshot(sequence: number, counts: readonly SeatCount[], at: number): SeatSnapshot {
  const messages: SnapshotMessage[] = [];
  const byCampus = new Map<string, SnapshotMessage[]>();
  for (const count of counts) {
    const message = {
      key: seatKey(count.campusId, count.subject),
      json: JSON.stringify(seatMessageOfCount(count, at)),
    };
    messages.push(message);
    const ofCampus = byCampus.get(count.campusId);
    if (ofCampus) ofCampus.push(message);
    else byCampus.set(count.campusId, [message]);
  }
  return { sequence, counts, messages, byCampus };
}

function finiteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** The scripts' message `{campusId, subject, remaining, capacity, at}`, or null if malformed. */
export function parseSeatState(raw: string): SeatState | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { campusId, subject, remaining, capacity, at } = value as Record<string, unknown>;
  if (typeof campusId !== 'string' || campusId === '' || !isSubject(subject)) return null;
  if (!finiteNumber(remaining) || !finiteNumber(capacity) || !finiteNumber(at)) return null;
  return { campusId, subject, remaining, capacity, at };
}
