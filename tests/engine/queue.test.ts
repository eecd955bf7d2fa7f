/**
 * The waiting room's transitions against real Redis (API.md "Waiting room"; P8): PREQUEUE before
 * the opening and the verifiable draw at it, arrival order after it, one ticket per account,
 * admission in order into free slots, passes and LAPSED, the gated writes, the slot given back by
 * an order, the room draining, and `auto` mode.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bind } from '../../engine/binding.ts';
import { WaitingRoom, ticketView } from '../../engine/queue.ts';
import { commitmentOf, drawOrder, sealKeyFrom } from '../../engine/queueDraw.ts';
import { checkQueueInvariants } from '../../engine/queueInvariants.ts';
import { decodeEvent } from '../../engine/events.ts';
import {
  HOUR_MS,
  T0,
  bindOrThrow,
  campus,
  loadFixture,
  newTestEngine,
  openWindow,
  openedLine,
  snapshot,
  tickParams,
  type TestEngine,
} from '../support/engine.ts';

const SEAL_KEY = sealKeyFrom(Buffer.alloc(32, 3));
const OPENS = T0 + HOUR_MS;
const MINUTE = 60_000;

const tick = tickParams;

let t: TestEngine;
let room: WaitingRoom;

async function provinceWith(code: string, mode: 'opening' | 'auto' | 'off', opensAt = OPENS) {
  await loadFixture(t.engine, {
    calendar: [openWindow(code, opensAt, opensAt + 7 * 24 * HOUR_MS)],
    campuses: [campus({ campusId: `c${code}`, provinceCode: code })],
  });
  return room.setup(
    { provinceCode: code, mode, preQueueMinutes: 30, passMinutes: 15, maxAdmitPerMinute: null },
    T0,
  );
}

async function events(code: string) {
  const stream = t.engine.keys.province(code).stream;
  const entries = await t.redis.xrange(stream, '-', '+');
  return entries.map(([id, fields]) => decodeEvent(stream, id, fields));
}

beforeAll(async () => {
  t = await newTestEngine({ queueIdleMs: 30_000 });
  room = new WaitingRoom(t.engine, SEAL_KEY);
});

afterAll(async () => {
  await t.close();
});

describe('an opening room', () => {
  it('publishes its commitment at set-up and keeps the seed sealed; a second set-up changes only settings', async () => {
    const first = await provinceWith('12', 'opening');
    expect(first.created).toBe(true);
    expect(first.commitment).toMatch(/^[0-9a-f]{64}$/);
    const again = await room.setup(
      { provinceCode: '12', mode: 'opening', preQueueMinutes: 20, passMinutes: 10, maxAdmitPerMinute: 600 },
      T0,
    );
    expect(again).toEqual({ commitment: first.commitment, created: false });
    const state = (await room.room('12', T0))!;
    expect(state.seed).toBeNull();
    expect(state.passMs).toBe(10 * MINUTE);
    expect(state.maxAdmitPerMinute).toBe(600);
    expect(await room.provinces()).toContain('12');
  });

  it('is not open for tickets before preQueueMinutes ahead of the opening', async () => {
    await provinceWith('13', 'opening');
    const early = await room.join('a1', '13', OPENS - 31 * MINUTE);
    expect(early).toEqual({ ok: false, code: 'QUEUE_NOT_ACTIVE' });
    const joined = await room.join('a1', '13', OPENS - 29 * MINUTE);
    expect(joined.ok && joined.ticket.state).toBe('PREQUEUE');
  });

  it('PREQUEUE, the draw at the opening (recomputable from the revealed seed), then arrival order', async () => {
    const { commitment } = await provinceWith('14', 'opening');
    const pre: string[] = [];
    for (let i = 0; i < 40; i++) {
      const joined = await room.join(`p${i}`, '14', OPENS - 10 * MINUTE + i);
      if (!joined.ok) throw new Error(joined.code);
      expect(joined.created).toBe(true);
      expect(joined.ticket).toMatchObject({ state: 'PREQUEUE', position: null, etaSeconds: null });
      pre.push(joined.ticket.ticketId);
    }
    // a refresh, a reconnect or a new login: the same ticket
    const again = await room.join('p3', '14', OPENS - 5 * MINUTE);
    expect(again.ok && again.created).toBe(false);
    expect(again.ok && again.ticket.ticketId).toBe(pre[3]);
    expect(await room.draw('14', OPENS - MINUTE)).toBeNull();
    const roomBefore = Object.values(await t.redis.hgetall(t.engine.keys.province('14').queue.room)).join(
      '|',
    );

    // the first joiner after the opening closes the PREQUEUE and queues behind all of it
    const late1 = await room.join('late1', '14', OPENS + 5);
    const late2 = await room.join('late2', '14', OPENS + 9);
    if (!late1.ok || !late2.ok) throw new Error('late join refused');
    expect(late1.ticket).toMatchObject({ state: 'WAITING', position: 41 });
    expect(late2.ticket).toMatchObject({ state: 'WAITING', position: 42 });
    expect(late1.ticket.etaSeconds).not.toBeNull();

    expect(await room.advanceDraw('14', OPENS + 10)).toBe(true);
    const draw = (await room.draw('14', OPENS + 10))!;
    expect(draw.lotterySeed).toMatch(/^[0-9a-f]{64}$/);
    expect(commitmentOf(Buffer.from(draw.lotterySeed, 'hex'))).toBe(commitment);
    // before the opening nothing in the room held the seed in the clear (it was sealed)
    expect(roomBefore).not.toContain(draw.lotterySeed);
    const recomputed = drawOrder(Buffer.from(draw.lotterySeed, 'hex'), pre);
    expect(draw.tickets.map(([id]) => id)).toEqual(recomputed);
    expect(draw.tickets.map(([, position]) => position)).toEqual(pre.map((_, i) => i + 1));
    // each PREQUEUE ticket now shows its drawn place
    const third = (await room.ticketOf('p3', '14'))!;
    expect(third.state).toBe('W');
    expect(third.seq).toBe(recomputed.indexOf(pre[3]!) + 1);
    // a second draw pass changes nothing
    expect(await room.advanceDraw('14', OPENS + 20)).toBe(true);

    // admission: strictly in seq order, as far as the slots allow
    const first = await room.tick('14', tick({ targetActive: 10 }), OPENS + 1000);
    expect(first).toMatchObject({ admitted: 10, head: 10, waiting: 32, active: 10, live: true });
    const admitted = await Promise.all(recomputed.slice(0, 10).map((id) => room.ticket(id)));
    expect(admitted.every((ticket) => ticket!.state === 'A')).toBe(true);
    expect((await room.ticket(recomputed[10]!))!.state).toBe('W');
    const counters = await room.counters('14');
    const stillWaiting = (await room.ticket(late1.ticket.ticketId))!;
    expect(stillWaiting.seq - counters.head).toBe(31);
    // no more slots: nothing admitted until one is given back
    expect((await room.tick('14', tick({ targetActive: 10 }), OPENS + 1250)).admitted).toBe(0);
    // a target cut below the slots held admits none (and says 0, not how far below it is)
    expect((await room.tick('14', tick({ targetActive: 4 }), OPENS + 1500)).admitted).toBe(0);
    const rest = await room.tick('14', tick(), OPENS + 2000);
    expect(rest.admitted).toBe(32);
    expect((await room.ticketOf('late2', '14'))!.state).toBe('A');

    const types = (await events('14')).map((event) => event.type);
    expect(types.filter((type) => type === 'QUEUE_JOINED')).toHaveLength(42);
    expect(types).toContain('QUEUE_CLOSED');
    expect(types).toContain('QUEUE_DRAW_DONE');
    expect(types.filter((type) => type === 'QUEUE_ADMITTED')).toHaveLength(2);
  });

  it('the gated writes need an ADMITTED pass while the room is active', async () => {
    await provinceWith('15', 'opening', T0 - MINUTE);
    const refused = await bind(t.engine, {
      accountId: 'g1',
      provinceCode: '15',
      candidateId: 'k1',
      campusId: 'c15',
      snapshot: snapshot(),
      now: T0,
    });
    expect(refused).toMatchObject({ ok: false, code: 'QUEUE_PASS_REQUIRED' });
    // the claim was given back: the account is free to bind once admitted
    const joined = await room.join('g1', '15', T0);
    expect(joined.ok && joined.ticket.state).toBe('WAITING');
    const waiting = await bind(t.engine, {
      accountId: 'g1',
      provinceCode: '15',
      candidateId: 'k1',
      campusId: 'c15',
      snapshot: snapshot(),
      now: T0 + 1,
    });
    expect(waiting).toMatchObject({ ok: false, code: 'QUEUE_PASS_REQUIRED' });
    if (!waiting.ok) expect(waiting.details).toMatchObject({ ticketId: joined.ok && joined.ticket.ticketId });
    await room.advanceDraw('15', T0 + 2);
    await room.tick('15', tick(), T0 + 3);
    const ref = await bindOrThrow(t.engine, {
      accountId: 'g1',
      candidateId: 'k1',
      campusId: 'c15',
      provinceCode: '15',
      now: T0 + 4,
    });
    const held = await t.engine.reserveWritten({
      ...ref,
      subject: 'CET4',
      eligible: true,
      fee: 30,
      now: T0 + 5,
    });
    expect(held.ok).toBe(true);
    // another account, bound before the room was set up elsewhere, is refused a hold without a pass
    const other = await t.engine.reserveOral({
      ...ref,
      accountId: 'nobody',
      subject: 'CET-SET4',
      campusId: 'c15',
      fee: 50,
      now: T0 + 6,
    });
    expect(other.ok).toBe(false);
    // an order gives the slot back at once
    const slotsKey = t.engine.keys.province('15').queue.slots;
    expect(await t.redis.zcard(slotsKey)).toBe(1);
    const order = await t.engine.createOrder({ ...ref, method: 'ALIPAY', now: T0 + 7 });
    expect(order.ok).toBe(true);
    expect(await t.redis.zcard(slotsKey)).toBe(0);
    expect((await events('15')).some((event) => event.type === 'QUEUE_RELEASED')).toBe(true);
  });

  it('a pass lapses after passMinutes; joining again goes to the back with a new ticket', async () => {
    await provinceWith('16', 'opening', T0 - MINUTE);
    for (const account of ['x1', 'x2', 'x3']) await room.join(account, '16', T0);
    await room.advanceDraw('16', T0);
    await room.tick('16', tick({ targetActive: 1 }), T0 + 10);
    const first = (await room.ticketOf('x1', '16'))!;
    expect(first.state).toBe('A');
    expect(first.passExpiresAt).toBe(T0 + 10 + 15 * MINUTE);
    // an admitted candidate that does nothing gives its slot back after the idle time (30 s here)
    expect((await room.tick('16', tick({ targetActive: 1 }), T0 + 20_000)).admitted).toBe(0);
    expect((await room.tick('16', tick({ targetActive: 1 }), T0 + 30_011)).admitted).toBe(1);
    // x1's pass lapses at its expiry
    const lapse = await room.tick('16', tick({ targetActive: 0 }), first.passExpiresAt);
    expect(lapse.lapsed).toBe(1);
    expect((await room.ticket(first.ticketId))!.state).toBe('L');
    const rejoined = await room.join('x1', '16', first.passExpiresAt + 1);
    if (!rejoined.ok) throw new Error(rejoined.code);
    expect(rejoined.created).toBe(true);
    expect(rejoined.ticket.ticketId).not.toBe(first.ticketId);
    expect(rejoined.ticket).toMatchObject({ state: 'WAITING', position: 2 });
    const joined = (await events('16')).find(
      (event) => event.type === 'QUEUE_JOINED' && event.data.ticketId === rejoined.ticket.ticketId,
    );
    expect(joined?.data).toMatchObject({ replaces: first.ticketId });
  });

  it('stops gating once its line has drained after the opening', async () => {
    await provinceWith('17', 'opening', T0 - MINUTE);
    await room.join('d1', '17', T0);
    await room.advanceDraw('17', T0);
    await room.tick('17', tick(), T0 + 1);
    expect((await room.tick('17', tick(), T0 + 2)).phase).toBe('OPEN');
    expect((await room.tick('17', tick({ drainGraceMs: 5_000 }), T0 + 6_000)).phase).toBe('DONE');
    expect((await room.room('17', T0 + 6_001))!.active).toBe(false);
    expect(await room.join('d2', '17', T0 + 6_002)).toEqual({ ok: false, code: 'QUEUE_NOT_ACTIVE' });
    // the gated write passes without a pass
    await bindOrThrow(t.engine, {
      accountId: 'd2',
      candidateId: 'k17',
      campusId: 'c17',
      provinceCode: '17',
      now: T0 + 6_003,
    });
  });
});

describe('an auto room', () => {
  it('turns on when admission is saturated, queues in arrival order, and off once nobody waits', async () => {
    await provinceWith('18', 'auto', T0 - MINUTE);
    expect(await room.join('u1', '18', T0)).toEqual({ ok: false, code: 'QUEUE_NOT_ACTIVE' });
    await bindOrThrow(t.engine, {
      accountId: 'u0',
      candidateId: 'k18',
      campusId: 'c18',
      provinceCode: '18',
      now: T0,
    });
    await room.tick('18', tick({ saturated: true, targetActive: 0 }), T0 + 1);
    expect((await room.room('18', T0 + 2))!.active).toBe(true);
    const a = await room.join('u1', '18', T0 + 3);
    const b = await room.join('u2', '18', T0 + 4);
    expect(a.ok && a.ticket).toMatchObject({ state: 'WAITING', position: 1 });
    expect(b.ok && b.ticket).toMatchObject({ state: 'WAITING', position: 2 });
    // not saturated, but people wait: it stays on until they are admitted
    await room.tick('18', tick({ saturated: false, targetActive: 0 }), T0 + 5);
    expect((await room.room('18', T0 + 6))!.active).toBe(true);
    await room.tick('18', tick({ saturated: false }), T0 + 7);
    await room.tick('18', tick({ saturated: false }), T0 + 8);
    expect((await room.room('18', T0 + 9))!.active).toBe(false);
  });
});

describe('concurrency', () => {
  it('800 accounts joining at once after the opening get 800 distinct places; double joins get one ticket', async () => {
    await provinceWith('19', 'opening', T0 - MINUTE);
    await room.join('first', '19', T0); // closes the (empty) PREQUEUE
    const accounts = Array.from({ length: 400 }, (_, i) => `c${i}`);
    const answers = await Promise.all(
      [...accounts, ...accounts].map((account, i) => room.join(account, '19', T0 + 1 + (i % 7))),
    );
    const tickets = new Map<string, string>();
    for (const [i, answer] of answers.entries()) {
      if (!answer.ok) throw new Error(answer.code);
      const account = accounts[i % 400]!;
      const known = tickets.get(account);
      if (known) expect(answer.ticket.ticketId).toBe(known);
      else tickets.set(account, answer.ticket.ticketId);
    }
    expect(new Set(tickets.values()).size).toBe(400);
    const seqs = await Promise.all([...tickets.values()].map(async (id) => (await room.ticket(id))!.seq));
    expect(new Set(seqs).size).toBe(400);
    expect(Math.min(...seqs)).toBe(2);
    expect(Math.max(...seqs)).toBe(401);
    // joinedAt never goes back along the line, although callers' clocks disagree by a few ms
    const byId = await Promise.all([...tickets.values()].map((id) => room.ticket(id)));
    const ordered = byId.sort((x, y) => x!.seq - y!.seq);
    for (let i = 1; i < ordered.length; i++)
      expect(ordered[i]!.joinedAt).toBeGreaterThanOrEqual(ordered[i - 1]!.joinedAt);
  });
});

describe('the line invariants', () => {
  it('a line that moves while it is checked is reported as that, once, not as mismatches', async () => {
    await openedLine(t.engine, room, '24', 600, 'm');
    let now = T0 + 1_000;
    const admitFive = async () => {
      now += 250;
      await room.tick('24', tick({ targetActive: 1_000, maxBatch: 5, burst: 5 }), now);
    };
    await admitFive();
    // at rest: nothing to say
    const quiet: { invariant: string; message: string }[] = [];
    await checkQueueInvariants(t.engine, '24', quiet);
    expect(quiet).toEqual([]);
    // a keeper still ticking (a run that timed out with people in line): the room's keys are read
    // one after another while batches are admitted between the reads
    let checking = true;
    const ticking = (async () => {
      while (checking) await admitFive();
    })();
    const moving: { invariant: string; message: string }[] = [];
    await checkQueueInvariants(t.engine, '24', moving);
    checking = false;
    await ticking;
    expect(moving).toHaveLength(1);
    expect(moving[0]!.message).toMatch(/^24 the line moved while it was checked \(head \d+ → \d+\)/);
    // at rest again: nothing to say
    const after: { invariant: string; message: string }[] = [];
    await checkQueueInvariants(t.engine, '24', after);
    expect(after).toEqual([]);
  });
});

describe("the line's measured rate (the ETA's denominator)", () => {
  /**
   * A room (opening passed) with 1,500 in line, ticked every 250 ms for 12 s by a keeper whose target
   * follows `targetAt(second)`; each admitted candidate stays idle, so its slot comes back a second
   * later (queueIdleMs): the line's departures follow the target a second behind.
   */
  async function lineServed(code: string, targetAt: (second: number) => number) {
    const fast = await newTestEngine({ queueIdleMs: 1_000 });
    try {
      const line = new WaitingRoom(fast.engine, SEAL_KEY);
      await openedLine(fast.engine, line, code, 1_500, 'r');
      let now = T0 + 2_000;
      for (let ms = 0; ms <= 12_000; ms += 250) {
        now = T0 + 2_000 + ms;
        const params = tick({
          targetActive: targetAt(Math.floor(ms / 1000)),
          rateTauMs: 3_000,
          trendTauMs: 5_000,
        });
        await line.tick(code, params, now);
      }
      const counters = await line.counters(code);
      const last = (await line.ticketOf('r1499', code))!;
      return { counters, view: ticketView(last, counters, now) };
    } finally {
      await fast.close();
    }
  }

  it('a steady line: the rate of its departures, no trend, ETA = position ÷ rate', async () => {
    const { counters, view } = await lineServed('21', () => 40);
    expect(counters.rate).toBeGreaterThan(40 * 0.85);
    expect(counters.rate).toBeLessThan(40 * 1.15);
    expect(Math.abs(counters.trend)).toBeLessThan(1);
    expect(view.state).toBe('WAITING');
    expect(Math.abs(view.etaSeconds! - view.position! / counters.rate)).toBeLessThanOrEqual(1);
  });

  it('a growing line (the target +5 a second): a trend near 5/s², and an ETA shorter than position ÷ rate', async () => {
    const { counters, view } = await lineServed('22', (second) => 10 + 5 * second);
    // departures a second behind the target: about 60/s at the end, the average lagging
    expect(counters.rate).toBeGreaterThan(40);
    expect(counters.rate).toBeLessThan(70);
    expect(counters.trend).toBeGreaterThan(2.5);
    expect(counters.trend).toBeLessThan(7.5);
    expect(view.etaSeconds!).toBeLessThan(view.position! / counters.rate - 2);
  });
});
