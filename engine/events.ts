/**
 * The outbox events every script appends to its shard's stream (engine/lua/includes/events.lua):
 * entry fields `t` (type), `at` (the transition's `now`, ms) and `d` (JSON data). The event id that
 * makes downstream writes idempotent is the stream's shard tag and the entry id, e.g.
 * "p11/1764388800000-0": unique, assigned atomically with the state change, and unchanged when
 * Redis reloads its AOF.
 */

export type EventType =
  | 'BOUND'
  | 'DELETED'
  | 'HELD'
  | 'CANCELLED'
  | 'EXPIRED'
  | 'ORDER_CREATED'
  | 'PAYMENT_CONFIRMED'
  | 'REVIEW_SUBMITTED'
  | 'REVIEW_EDITED'
  | 'REVIEW_DELETED'
  | 'REVIEW_DECIDED'
  | 'CAMPUS_UPSERTED'
  | 'CALENDAR_SET';

export interface EngineEvent {
  readonly eventId: string;
  readonly stream: string;
  readonly type: EventType;
  readonly at: number;
  readonly data: Record<string, unknown>;
}

const TAG = /\{([^}]+)\}/;

export function eventIdOf(streamKey: string, entryId: string): string {
  const tag = TAG.exec(streamKey)?.[1];
  if (!tag) throw new Error(`not an engine stream: ${streamKey}`);
  return `${tag}/${entryId}`;
}

/** Decodes one XRANGE / XREADGROUP entry ([id, [field, value, …]]). */
export function decodeEvent(streamKey: string, entryId: string, fields: readonly string[]): EngineEvent {
  const value = (name: string): string | undefined => {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
    return undefined;
  };
  const type = value('t');
  const at = Number(value('at'));
  if (!type || !Number.isFinite(at)) throw new Error(`malformed event ${streamKey} ${entryId}`);
  return {
    eventId: eventIdOf(streamKey, entryId),
    stream: streamKey,
    type: type as EventType,
    at,
    data: JSON.parse(value('d') ?? '{}') as Record<string, unknown>,
  };
}
