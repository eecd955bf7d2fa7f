/**
 * Decoding of the outbox entries every script appends to its shard's stream
 * (engine/lua/includes/events.lua; the event types and payloads are engine/outbox.ts): entry fields
 * `t` (type), `at` (the transition's `now`, ms) and `d` (JSON data). The event id that makes
 * downstream writes idempotent is the stream's shard tag and the entry id, e.g.
 * "p11/1764388800000-0": unique, assigned atomically with the state change, and unchanged when
 * Redis reloads its AOF.
 */
import type { EventPayload, EventType } from './outbox.ts';

export type { EventPayload, EventType } from './outbox.ts';

type PayloadField = { [T in EventType]: keyof EventPayload<T> }[EventType];

/**
 * The payload of a `T` event; a field only other types carry reads as `undefined`, so any
 * event's `data.candidateId` type-checks, and narrowing on `type` gives the exact payload.
 */
export type EventData<T extends EventType> = EventPayload<T> & {
  readonly [F in Exclude<PayloadField, keyof EventPayload<T>>]?: undefined;
};

interface EventOf<T extends EventType> {
  readonly eventId: string;
  readonly stream: string;
  readonly type: T;
  readonly at: number;
  readonly data: EventData<T>;
}

/** An outbox event; `EngineEvent<'HELD'>` is one of a given type. */
export type EngineEvent<T extends EventType = EventType> = { [U in T]: EventOf<U> }[T];

const TAG = /\{([^}]+)\}/;

export function eventIdOf(streamKey: string, entryId: string): string {
  const tag = TAG.exec(streamKey)?.[1];
  if (!tag) throw new Error(`not an engine stream: ${streamKey}`);
  return `${tag}/${entryId}`;
}

/** A field of a stream entry's flat [field, value, …] list. */
export function entryField(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * Decodes one XRANGE / XREADGROUP entry ([id, [field, value, …]]). Only the envelope is checked
 * here: the payload is typed as the contract declares it (the scripts are the outbox's only
 * writers, and tests/engine/outbox.test.ts holds them to it); a reader that writes it somewhere
 * checks it first (engine/outbox.ts `payloadError`).
 */
export function decodeEvent(streamKey: string, entryId: string, fields: readonly string[]): EngineEvent {
  const type = entryField(fields, 't');
  const at = Number(entryField(fields, 'at'));
  if (!type || !Number.isFinite(at)) throw new Error(`malformed event ${streamKey} ${entryId}`);
  return {
    eventId: eventIdOf(streamKey, entryId),
    stream: streamKey,
    type: type as EventType,
    at,
    data: JSON.parse(entryField(fields, 'd') ?? '{}') as EventData<EventType>,
  };
}
