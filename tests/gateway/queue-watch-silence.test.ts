/**
 * The waiting room's pushes when the queue channel brings nothing (gateway/ws/queueWatch.ts): a
 * subscription lost without a word (as ioredis's ready check once lost one, or a Cluster node
 * gone) must not leave a watcher waiting for a pass. Against real Redis, with a subscriber that
 * never delivers: after the channel's silence the watch reads the room's counters itself and
 * pushes the admission.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaitingRoom } from '../../engine/queue.ts';
import { sealKeyFrom } from '../../engine/queueDraw.ts';
import { QueueWatch } from '../../gateway/ws/queueWatch.ts';
import {
  HOUR_MS,
  T0,
  campus,
  loadFixture,
  newTestEngine,
  openWindow,
  type TestEngine,
} from '../support/engine.ts';
import { waitFor } from '../support/wait.ts';

const OPENS = T0 + HOUR_MS;

/** Subscribed, ready, and silent: whatever is published never reaches it. */
class DeafSubscriber extends EventEmitter {
  readonly status = 'ready';
  async psubscribe(): Promise<number> {
    return 1;
  }
  async quit(): Promise<'OK'> {
    return 'OK';
  }
  disconnect(): void {}
}

let t: TestEngine;
let room: WaitingRoom;

beforeAll(async () => {
  t = await newTestEngine({ queueIdleMs: 30_000 });
  room = new WaitingRoom(t.engine, sealKeyFrom(Buffer.alloc(32, 9)));
  await loadFixture(t.engine, {
    calendar: [openWindow('21', OPENS, OPENS + 7 * 24 * HOUR_MS)],
    campuses: [campus({ campusId: 'c21', provinceCode: '21' })],
  });
  await room.setup(
    { provinceCode: '21', mode: 'opening', preQueueMinutes: 30, passMinutes: 15, maxAdmitPerMinute: null },
    T0,
  );
});

afterAll(async () => {
  await t?.close();
});

describe('a silent queue channel', () => {
  it('does not keep a watcher from its pass: the counters are read after the silence', async () => {
    const now = OPENS + 1_000;
    const watch = new QueueWatch({
      engine: t.engine,
      room,
      clock: { now: async () => now },
      log: pino({ level: 'silent' }),
      coalesceMs: 20,
      subscriber: new DeafSubscriber() as unknown as Redis,
      silenceMs: 200,
    });
    await watch.start();
    try {
      const joined = await room.join('acct1', '21', now);
      if (!joined.ok) throw new Error(`join refused: ${joined.code}`);
      const states: string[] = [];
      expect(
        await watch.watch(joined.ticket.ticketId, 'acct1', (json) => {
          states.push((JSON.parse(json) as { ticket: { state: string } }).ticket.state);
        }),
      ).toBe(true);
      expect(states).toEqual(['WAITING']);
      const tick = await room.tick(
        '21',
        {
          targetActive: 10,
          ratePerSec: 0,
          burst: 10,
          maxBatch: 10,
          drainGraceMs: 5_000,
          saturated: null,
          rateTauMs: 5_000,
          plan: 10,
        },
        now,
      );
      expect(tick.admitted).toBe(1);
      // the tick's message went to a channel this watch never hears
      await waitFor(() => states.at(-1) === 'ADMITTED', {
        timeoutMs: 5_000,
        message: 'the admission pushed after the silence',
      });
      expect(states).toEqual(['WAITING', 'ADMITTED']);
    } finally {
      await watch.close();
    }
  });
});
