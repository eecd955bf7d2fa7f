/**
 * A gateway thread's subscriptions (the waiting room's pushes, the dashboards' seat updates) when
 * the connection is handed over between its TCP connect and ioredis's ready check, as a thread's
 * start can do on a busy box. ioredis 5 writes a PSUBSCRIBE at once in that state; its ready check
 * is then refused in subscriber mode and the connection comes back without the subscription, so
 * every message after it was lost (a demo run of 2026-12-07: 1,135 candidates waited for a pass
 * that was never pushed). Against real Redis: each subscriber receives what is published after
 * its start.
 */
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaitingRoom } from '../../engine/queue.ts';
import { sealKeyFrom } from '../../engine/queueDraw.ts';
import { psubscribeWhenReady } from '../../engine/redisClient.ts';
import { QueueWatch } from '../../gateway/ws/queueWatch.ts';
import { SeatHub } from '../../gateway/ws/seatHub.ts';
import { newTestEngine, type TestEngine } from '../support/engine.ts';
import { waitFor } from '../support/wait.ts';

let t: TestEngine;
const opened: Redis[] = [];

/** A new connection in the state a thread can meet it in: connected, its ready check not yet done. */
async function connectedNotReady(): Promise<Redis> {
  const connection = t.redis.duplicate();
  opened.push(connection);
  await once(connection, 'connect');
  expect(connection.status, 'the window this test is about (ioredis status `connect`)').toBe('connect');
  return connection;
}

/** Once ready (after a refused ready check, only on the connection that replaced it), its mode. */
async function modeOnceReady(connection: Redis): Promise<string> {
  await waitFor(() => connection.status === 'ready', { message: 'the connection ready' });
  return connection.mode;
}

beforeAll(async () => {
  t = await newTestEngine();
});

afterAll(async () => {
  for (const connection of opened) connection.disconnect();
  await t?.close();
});

describe('subscriptions started before the connection is ready', () => {
  it('psubscribeWhenReady receives what is published after it, every time', async () => {
    for (let round = 0; round < 5; round++) {
      const subscriber = await connectedNotReady();
      const received: string[] = [];
      subscriber.on('pmessage', (_pattern: string, _channel: string, message: string) => {
        received.push(message);
      });
      await psubscribeWhenReady(subscriber, `${t.namespace}:race${round}:*`);
      expect(await modeOnceReady(subscriber)).toBe('subscriber');
      await t.redis.publish(`${t.namespace}:race${round}:a`, `m${round}`);
      await waitFor(() => received.length === 1, { timeoutMs: 2_000, message: `round ${round}'s message` });
      expect(received).toEqual([`m${round}`]);
    }
  });

  it("a thread's queue watch and seat hub keep their subscriptions", async () => {
    const watch = new QueueWatch({
      engine: t.engine,
      room: new WaitingRoom(t.engine, sealKeyFrom(Buffer.alloc(32, 7))),
      clock: { now: async () => Date.now() },
      log: pino({ level: 'silent' }),
      coalesceMs: 20,
      subscriber: await connectedNotReady(),
    });
    const hub = new SeatHub({
      app: { publish: () => true },
      engine: t.engine,
      coalesceMs: 0,
      log: pino({ level: 'silent' }),
      subscriber: await connectedNotReady(),
      provinces: ['11'],
    });
    try {
      await Promise.all([watch.start(), hub.start()]);
      const [queueSubscriber, seatSubscriber] = opened.slice(-2) as [Redis, Redis];
      expect(await modeOnceReady(queueSubscriber)).toBe('subscriber');
      expect(await modeOnceReady(seatSubscriber)).toBe('subscriber');
      // a seat change published now reaches the hub
      await t.redis.publish(`${t.namespace}:{p11}:seats`, 'not a seat message');
      await waitFor(() => hub.stats.received + hub.stats.malformed > 0, {
        timeoutMs: 2_000,
        message: 'the seat message',
      });
    } finally {
      await watch.close();
      await hub.close();
    }
  });
});
