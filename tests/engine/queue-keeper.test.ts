/**
 * The queue keeper's loop against real Redis (engine/queueKeeper.ts): how fast a line whose
 * gateways report themselves healthy is let grow. The target grows one step (10 %) in a tick whose
 * slots were full; the pace must let admissions keep the slots full meanwhile. Paced from the
 * line's 5 s average rate alone, which trails a growing line, with a batch of an eighth of the
 * target a tick, the slots held fell for 3 s once the first admitted candidates left, and growth
 * stopped with them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaitingRoom } from '../../engine/queue.ts';
import type { ThreadLoad } from '../../engine/queueControl.ts';
import { sealKeyFrom } from '../../engine/queueDraw.ts';
import { QueueKeeper } from '../../engine/queueKeeper.ts';
import { T0, newTestEngine, openedLine, type TestEngine } from '../support/engine.ts';

const SEAL_KEY = sealKeyFrom(Buffer.alloc(32, 5));
const CODE = '23';
const TICK_MS = 250;

let t: TestEngine;

beforeAll(async () => {
  // an admitted candidate who does nothing gives its slot back 3 s later (about what a candidate of the demo stays): the line moves
  t = await newTestEngine({ queueIdleMs: 3_000 });
});

afterAll(async () => {
  await t.close();
});

/** Two gateway threads, healthy: critical p99 20 ms, nothing shed, far from their limits. */
async function healthyGateways(): Promise<void> {
  const load: ThreadLoad = {
    at: Date.now(),
    limit: 1_000,
    inFlight: 10,
    rttMs: 5,
    p99Ms: 20,
    servedPerSec: 100,
    shedCritical: 0,
    criticalP99Ms: 20,
  };
  await t.redis.hset(
    t.engine.keys.gatewayLoad,
    'thread-a',
    JSON.stringify(load),
    'thread-b',
    JSON.stringify(load),
  );
}

describe('the queue keeper', () => {
  it('lets a healthy line grow from 40 to at least 130 active within 12 s, admitting in arrival order', async () => {
    const room = new WaitingRoom(t.engine, SEAL_KEY);
    await openedLine(t.engine, room, CODE, 4_000, 'k');

    let clock = T0 + 5_000;
    const keeper = new QueueKeeper(t.engine, SEAL_KEY, {
      intervalMs: TICK_MS,
      now: () => Promise.resolve(clock),
      initialActive: 40,
    });
    const targets: number[] = [];
    let head = 0;
    for (let ms = 0; ms < 12_000; ms += TICK_MS) {
      clock += TICK_MS;
      await healthyGateways();
      const [report] = await keeper.tickOnce();
      expect(report!.provinceCode).toBe(CODE);
      expect(report!.health).toBe('up');
      expect(report!.head).toBeGreaterThanOrEqual(head);
      head = report!.head;
      targets.push(report!.targetActive);
    }
    // 40 → 150 in 12 s; paced from the 5 s average alone, with a batch of an eighth, 113 (the line
    // dipped for 3 s once its first candidates left); each tick at most one growth step
    expect(targets.at(-1)).toBeGreaterThanOrEqual(130);
    for (let i = 1; i < targets.length; i++) {
      expect(targets[i]!).toBeLessThanOrEqual(Math.round(targets[i - 1]! * 1.1) + 1);
    }
    // the admitted are the first in line
    const admitted = await Promise.all(
      Array.from({ length: head - 1 }, (_, i) => room.ticketOf(`k${i}`, CODE)),
    );
    expect(
      admitted.every((ticket) => ticket !== null && (ticket.state === 'A' || ticket.state === 'L')),
    ).toBe(true);
  });
});
