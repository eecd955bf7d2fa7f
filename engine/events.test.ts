import { describe, expect, it } from 'vitest';
import { decodeEvent, eventIdOf } from './events.ts';

describe('outbox events', () => {
  it('event ids are the shard tag and the entry id', () => {
    expect(eventIdOf('cet:{p11}:ev', '1764388800000-0')).toBe('p11/1764388800000-0');
    expect(eventIdOf('cet:{a3}:ev', '1-2')).toBe('a3/1-2');
    expect(() => eventIdOf('plain', '1-0')).toThrow();
  });

  it('decodes an entry and refuses a malformed one', () => {
    const event = decodeEvent('cet:{p11}:ev', '5-1', ['t', 'HELD', 'at', '1000', 'd', '{"holdId":7}']);
    expect(event).toEqual({
      eventId: 'p11/5-1',
      stream: 'cet:{p11}:ev',
      type: 'HELD',
      at: 1000,
      data: { holdId: 7 },
    });
    expect(() => decodeEvent('cet:{p11}:ev', '5-2', ['d', '{}'])).toThrow(/malformed/);
  });
});
