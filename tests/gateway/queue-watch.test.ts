/**
 * The WebSocket side of the waiting room at the draw (gateway/ws/queueWatch.ts), against real
 * Redis: one thread watches more tickets than it pushes in one turn of its event loop (the draw
 * makes every watched PREQUEUE ticket stale at once), and every watcher still gets its drawn place,
 * exactly once, with the position the draw gave it; a flush never pushes an older view after a
 * newer one (a later tick's admission arrives as ADMITTED, never followed by WAITING). And a
 * subscription lost without a word (as ioredis's ready check once lost one, or a Cluster node
 * gone) leaves no watcher waiting for its pass: after the channel's silence the watch reads the
 * room's counters itself and pushes the admission.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaitingRoom } from '../../engine/queue.ts';
import { drawOrder, sealKeyFrom } from '../../engine/queueDraw.ts';
import { QueueWatch } from '../../gateway/ws/queueWatch.ts';
import {
  HOUR_MS,
  T0,
  campus,
  loadFixture,
  newTestEngine,
  openWindow,
  tickParams,
  type TestEngine,
} from '../support/engine.ts';
import { FakeSubscriber } from '../support/fakeSubscriber.ts';
import { waitFor } from '../support/wait.ts';

const OPENS = T0 + HOUR_MS;
/** A keeper's tick that admits up to `n` at once. */
const admitUpTo = (n: number) =>
  tickParams({ targetActive: n, burst: n, maxBatch: n, rateTauMs: 5_000, trendTauMs: 5_000, plan: 10 });
/** More than one slice of the watch's flush (FLUSH_SLICE = 200), so the flush spans several turns. */
const WATCHERS = 450;

let t: TestEngine;
let room: WaitingRoom;
let watch: QueueWatch;
let now = OPENS - 60_000;

beforeAll(async () => {
  t = await newTestEngine({ queueIdleMs: 30_000 });
  room = new WaitingRoom(t.engine, sealKeyFrom(Buffer.alloc(32, 7)));
  await loadFixture(t.engine, {
    calendar: ['21', '22'].map((code) => openWindow(code, OPENS, OPENS + 7 * 24 * HOUR_MS)),
    campuses: ['21', '22'].map((code) => campus({ campusId: `c${code}`, provinceCode: code })),
  });
  for (const provinceCode of ['21', '22']) {
    await room.setup(
      { provinceCode, mode: 'opening', preQueueMinutes: 30, passMinutes: 15, maxAdmitPerMinute: null },
      T0,
    );
  }
  watch = new QueueWatch({
    engine: t.engine,
    room,
    clock: { now: async () => now },
    log: pino({ level: 'silent' }),
    coalesceMs: 20,
  });
  await watch.start();
});

afterAll(async () => {
  await watch?.close();
  await t?.close();
});

describe('watched tickets at the draw', () => {
  it(`pushes each of ${WATCHERS} watchers its drawn place, once, and admissions after it`, async () => {
    const tickets: string[] = [];
    const inbox = new Map<string, { state: string; position: number | null }[]>();
    for (let i = 0; i < WATCHERS; i++) {
      const joined = await room.join(`acct${i}`, '21', now);
      if (!joined.ok) throw new Error(`join refused: ${joined.code}`);
      const ticketId = joined.ticket.ticketId;
      tickets.push(ticketId);
      const messages: { state: string; position: number | null }[] = [];
      inbox.set(ticketId, messages);
      const watching = await watch.watch(ticketId, `acct${i}`, (json) => {
        const { ticket } = JSON.parse(json) as { ticket: { state: string; position: number | null } };
        messages.push({ state: ticket.state, position: ticket.position });
      });
      expect(watching).toBe(true);
    }
    // another account's ticket is not watched
    expect(await watch.watch(tickets[0]!, 'someone-else', () => undefined)).toBe(false);
    expect([...inbox.values()].every((m) => m.length === 1 && m[0]!.state === 'PREQUEUE')).toBe(true);

    // the opening: the first join after it closes the PREQUEUE (behind all of it), then the draw
    // (each chunk publishes the room's counters on the queue channel)
    now = OPENS + 5;
    const late = await room.join('late', '21', now);
    expect(late.ok && late.ticket.position).toBe(WATCHERS + 1);
    now = OPENS + 10;
    expect(await room.advanceDraw('21', now)).toBe(true);
    const draw = (await room.draw('21', now))!;
    const order = drawOrder(Buffer.from(draw.lotterySeed, 'hex'), tickets);
    await waitFor(() => [...inbox.values()].every((m) => m.length >= 2), {
      timeoutMs: 10_000,
      message: 'every watcher told its drawn place',
    });
    order.forEach((ticketId, index) => {
      expect(inbox.get(ticketId)!.slice(1)).toEqual([{ state: 'WAITING', position: index + 1 }]);
    });

    // the first 100 are admitted by a tick: they hear ADMITTED, and nothing after it goes backwards
    now = OPENS + 1_000;
    const tick = await room.tick('21', admitUpTo(100), now);
    expect(tick.admitted).toBe(100);
    await waitFor(() => order.slice(0, 100).every((id) => inbox.get(id)!.at(-1)!.state === 'ADMITTED'), {
      timeoutMs: 10_000,
      message: 'the admitted watchers told',
    });
    for (const [index, ticketId] of order.entries()) {
      const states = inbox.get(ticketId)!.map((m) => m.state);
      if (index < 100) expect(states.slice(states.indexOf('ADMITTED'))).toEqual(['ADMITTED']);
      else expect(states).not.toContain('ADMITTED');
    }
    // the others moved up by 100 places
    await waitFor(() => inbox.get(order[100]!)!.at(-1)!.position === 1, {
      timeoutMs: 10_000,
      message: 'the next in line told it is first',
    });
  });
});

describe('a silent queue channel', () => {
  it('does not keep a watcher from its pass: the counters are read after the silence', async () => {
    const at = OPENS + 1_000;
    const deaf = new QueueWatch({
      engine: t.engine,
      room,
      clock: { now: async () => at },
      log: pino({ level: 'silent' }),
      coalesceMs: 20,
      subscriber: new FakeSubscriber().asRedis(), // nobody emits on it
      silenceMs: 200,
    });
    await deaf.start();
    try {
      const joined = await room.join('acct22', '22', at);
      if (!joined.ok) throw new Error(`join refused: ${joined.code}`);
      const states: string[] = [];
      const watching = await deaf.watch(joined.ticket.ticketId, 'acct22', (json) => {
        states.push((JSON.parse(json) as { ticket: { state: string } }).ticket.state);
      });
      expect(watching).toBe(true);
      expect(states).toEqual(['WAITING']);
      expect((await room.tick('22', admitUpTo(10), at)).admitted).toBe(1);
      // the tick's message went to a channel this watch never hears
      await waitFor(() => states.at(-1) === 'ADMITTED', {
        timeoutMs: 5_000,
        message: 'the admission pushed after the silence',
      });
      expect(states).toEqual(['WAITING', 'ADMITTED']);
    } finally {
      await deaf.close();
    }
  });
});
