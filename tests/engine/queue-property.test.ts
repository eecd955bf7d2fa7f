/**
 * The waiting room against a model (fast-check): random sequences of joins (new accounts and
 * returning ones), clock advances across the opening, draws, ticks with random slot targets and
 * orders that give slots back, on real Redis. After every step each account's ticket must have the
 * state and place the model says, and the invariant checker (engine/queueInvariants.ts) must find
 * nothing. A second property plants faults (a ticket admitted out of turn, a shared place, a second
 * live ticket) and the checker must name each.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.ts';
import { checkQueueInvariants } from '../../engine/queueInvariants.ts';
import { WaitingRoom, type TicketRecord } from '../../engine/queue.ts';
import { drawOrder, sealKeyFrom } from '../../engine/queueDraw.ts';
import { HOUR_MS, T0, campus, loadFixture, openWindow, tickParams } from '../support/engine.ts';
import { redisUrl } from '../support/env.ts';

const OPENS = T0 + HOUR_MS;
const PASS_MS = 120_000;
const IDLE_MS = 20_000;

type Op =
  | { kind: 'join'; account: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'tick'; target: number }
  | { kind: 'draw' }
  | { kind: 'order'; account: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('join' as const), account: fc.integer({ min: 0, max: 14 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 40_000 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), target: fc.integer({ min: 0, max: 6 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'draw' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('order' as const), account: fc.integer({ min: 0, max: 14 }) }),
  },
);

interface ModelTicket {
  account: string;
  state: 'P' | 'W' | 'A' | 'L';
  seq: number;
  passExpiresAt: number;
}

class Model {
  phase: 'PRE' | 'DRAWING' | 'OPEN' = 'PRE';
  pre: string[] = [];
  n = 0;
  drawn = 0;
  late = 0;
  head = 0;
  readonly tickets = new Map<string, ModelTicket>();
  readonly accounts = new Map<string, string>();
  readonly slots = new Map<string, number>();
  /** seq → ticket id, filled as places are given */
  readonly line = new Map<number, string>();

  private closeIfDue(now: number): void {
    if (this.phase === 'PRE' && now >= OPENS) {
      this.phase = 'DRAWING';
      this.n = this.pre.length;
    }
  }

  spent(ticket: ModelTicket, now: number): boolean {
    return ticket.state === 'L' || (ticket.state === 'A' && ticket.passExpiresAt <= now);
  }

  /** Returns whether a new ticket is expected. */
  join(account: string, now: number): 'refused' | 'same' | 'new' {
    if (now < OPENS - HOUR_MS) return 'refused';
    this.closeIfDue(now);
    const previous = this.accounts.get(account);
    if (previous && !this.spent(this.tickets.get(previous)!, now)) return 'same';
    return 'new';
  }

  addTicket(id: string, account: string): void {
    if (this.phase === 'PRE') {
      this.pre.push(id);
      this.tickets.set(id, { account, state: 'P', seq: 0, passExpiresAt: 0 });
    } else {
      this.late++;
      const seq = this.n + this.late;
      this.tickets.set(id, { account, state: 'W', seq, passExpiresAt: 0 });
      this.line.set(seq, id);
    }
    this.accounts.set(account, id);
  }

  draw(order: string[]): void {
    order.forEach((id, i) => {
      const ticket = this.tickets.get(id)!;
      ticket.state = 'W';
      ticket.seq = i + 1;
      this.line.set(i + 1, id);
    });
    this.drawn = this.n;
    this.phase = 'OPEN';
  }

  tick(target: number, now: number): void {
    this.closeIfDue(now);
    for (const [id, ticket] of this.tickets) {
      if (ticket.state === 'A' && ticket.passExpiresAt <= now) {
        ticket.state = 'L';
        this.slots.delete(id);
      }
    }
    for (const [id, until] of this.slots) if (until <= now) this.slots.delete(id);
    const admittable = this.drawn < this.n ? this.drawn : this.n + this.late;
    const k = Math.max(0, Math.min(target - this.slots.size, admittable - this.head));
    for (let i = 0; i < k; i++) {
      const id = this.line.get(++this.head)!;
      const ticket = this.tickets.get(id)!;
      ticket.state = 'A';
      ticket.passExpiresAt = now + PASS_MS;
      this.slots.set(id, now + IDLE_MS);
    }
  }

  order(account: string): void {
    const id = this.accounts.get(account);
    if (id) this.slots.delete(id);
  }
}

let redis: Redis;

beforeAll(() => {
  redis = new Redis(redisUrl(), { enableAutoPipelining: true, maxRetriesPerRequest: null });
});

afterAll(() => {
  redis.disconnect();
});

async function freshRoom() {
  const namespace = `qp${randomBytes(5).toString('hex')}`;
  const engine = new Engine(redis, { namespace, queueIdleMs: IDLE_MS });
  await loadFixture(engine, { calendar: [openWindow('11', OPENS)], campuses: [campus({ campusId: 'C1' })] });
  const room = new WaitingRoom(engine, sealKeyFrom(Buffer.alloc(32, 9)));
  await room.setup(
    {
      provinceCode: '11',
      mode: 'opening',
      preQueueMinutes: 60,
      passMinutes: PASS_MS / 60_000,
      maxAdmitPerMinute: null,
    },
    T0,
  );
  const cleanup = async () => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  };
  return { engine, room, cleanup };
}

const tickUpTo = (target: number) => tickParams({ targetActive: target, drainGraceMs: 10 * HOUR_MS });

describe('the waiting room against a model', () => {
  it('every step leaves each ticket where the model says, and the invariants hold', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (ops) => {
        const { engine, room, cleanup } = await freshRoom();
        const model = new Model();
        let now = OPENS - 60_000;
        try {
          for (const op of ops) {
            if (op.kind === 'advance') now += op.ms;
            else if (op.kind === 'join') {
              const account = `acct${op.account}`;
              const expected = model.join(account, now);
              const answer = await room.join(account, '11', now);
              if (expected === 'refused') {
                expect(answer.ok).toBe(false);
                continue;
              }
              if (!answer.ok) throw new Error(`join refused: ${answer.code}`);
              expect(answer.created).toBe(expected === 'new');
              if (expected === 'new') model.addTicket(answer.ticket.ticketId, account);
            } else if (op.kind === 'draw') {
              if (model.phase === 'DRAWING') {
                expect(await room.advanceDraw('11', now)).toBe(true);
                const draw = (await room.draw('11', now))!;
                const order = draw.tickets.map(([id]) => id);
                expect(order).toEqual(drawOrder(Buffer.from(draw.lotterySeed, 'hex'), model.pre));
                model.draw(order);
              }
            } else if (op.kind === 'tick') {
              await room.tick('11', tickUpTo(op.target), now);
              model.tick(op.target, now);
            } else {
              // an order gives the slot back (createOrder's release, without the registration)
              const ticketId = await redis.hget(
                engine.keys.province('11').queue.accounts,
                `acct${op.account}`,
              );
              if (ticketId) await redis.zrem(engine.keys.province('11').queue.slots, ticketId);
              model.order(`acct${op.account}`);
            }
            for (const [id, expected] of model.tickets) {
              const actual = (await room.ticket(id)) as TicketRecord;
              expect({ id, state: actual.state, seq: actual.seq }).toEqual({
                id,
                state: expected.state,
                seq: expected.seq,
              });
            }
            expect(await redis.zcard(engine.keys.province('11').queue.slots)).toBe(model.slots.size);
          }
          const violations: { invariant: string; message: string }[] = [];
          await checkQueueInvariants(engine, '11', violations);
          expect(violations).toEqual([]);
        } finally {
          await cleanup();
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  it('the checker names a ticket admitted out of turn, a shared place and a second live ticket', async () => {
    const { engine, room, cleanup } = await freshRoom();
    try {
      const now = OPENS + 1;
      for (let i = 0; i < 4; i++) await room.join(`acct${i}`, '11', now);
      await room.advanceDraw('11', now);
      await room.tick('11', tickUpTo(1), now);
      const clean: { invariant: string; message: string }[] = [];
      await checkQueueInvariants(engine, '11', clean);
      expect(clean).toEqual([]);
      const q = engine.keys.province('11').queue;
      const { pack } = await import('msgpackr');
      // the last in line marked admitted: out of turn
      const lastId = (await redis.lrange(q.late, -1, -1))[0]!;
      const last = (await room.ticket(lastId))!;
      await redis.hset(
        q.tickets,
        lastId,
        pack([last.accountId, 'A', last.seq, last.joinedAt, now, now + PASS_MS]),
      );
      // another account's live ticket given the same place as the second
      const secondId = (await redis.lrange(q.late, 1, 1))[0]!;
      const second = (await room.ticket(secondId))!;
      await redis.hset(q.tickets, '11-00000000000000ff', pack(['acct1', 'W', second.seq, now, 0, 0]));
      const found: { invariant: string; message: string }[] = [];
      await checkQueueInvariants(engine, '11', found);
      const text = found.map((v) => v.message).join('\n');
      expect(text).toMatch(/admitted out of turn/);
      expect(text).toMatch(/seq \d+ shared/);
      expect(text).toMatch(/has live ticket 11-00000000000000ff/);
    } finally {
      await cleanup();
    }
  });
});
