/**
 * The waiting room's record in PostgreSQL (migration 010, db/sql/queueProjections.ts): a room's
 * whole life — PREQUEUE, the draw, late joiners, admissions, a released slot, a lapsed pass and a
 * new ticket — drained by the writer into queue_rooms and queue_tickets, agreeing with Redis
 * ticket by ticket; a redelivery changes nothing and nothing is dead-lettered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamWriter } from '../../db/writer.ts';
import { WaitingRoom } from '../../engine/queue.ts';
import { sealKeyFrom } from '../../engine/queueDraw.ts';
import {
  HOUR_MS,
  T0,
  campus,
  loadFixture,
  newTestEngine,
  openWindow,
  type TestEngine,
} from '../support/engine.ts';
import { drain, persistenceDb, TEST_TICK, type PersistenceDb } from './support.ts';

let te: TestEngine;
let pg: PersistenceDb;
const OPENS = T0 + HOUR_MS;
const tick = TEST_TICK;

beforeAll(async () => {
  te = await newTestEngine({ queueIdleMs: 10_000 });
  pg = await persistenceDb();
  await loadFixture(te.engine, {
    calendar: [openWindow('21', OPENS)],
    campuses: [campus({ campusId: 'QP1', provinceCode: '21' })],
  });
});

afterAll(async () => {
  await te?.close();
  await pg?.close();
});

describe('the waiting room in PostgreSQL', () => {
  it('mirrors the room and every ticket; a redelivery changes nothing', async () => {
    const room = new WaitingRoom(te.engine, sealKeyFrom(Buffer.alloc(32, 5)));
    const { commitment } = await room.setup(
      { provinceCode: '21', mode: 'opening', preQueueMinutes: 60, passMinutes: 1, maxAdmitPerMinute: null },
      T0,
    );
    for (let i = 0; i < 6; i++) await room.join(`${2000 + i}`, '21', T0 + i);
    for (let i = 6; i < 9; i++) await room.join(`${2000 + i}`, '21', OPENS + i);
    await room.advanceDraw('21', OPENS + 10);
    await room.tick('21', tick, OPENS + 20); // 3 admitted
    await te.redis.zrem(
      te.engine.keys.province('21').queue.slots,
      (await room.ticketOf('2000', '21'))?.ticketId ?? '',
    );
    await room.tick('21', tick, OPENS + 60_020); // the three passes lapse; 3 more admitted
    const lapsedAccount = (await te.redis.lrange(te.engine.keys.province('21').queue.drawn, 0, 0))[0]!;
    const lapsed = (await room.ticket(lapsedAccount))!;
    await room.join(lapsed.accountId, '21', OPENS + 60_030); // a new ticket at the back

    const streams = te.engine.keys.allStreams(['21']);
    const writer = new StreamWriter(te.redis, pg.db, { streams, consumer: 'q1' });
    await drain(writer);
    expect(writer.current.deadLetters).toBe(0);

    const roomRow = (await pg.db.query(`SELECT * FROM queue_rooms WHERE province_code = '21'`)).rows[0];
    expect(roomRow).toMatchObject({ mode: 'opening', lottery_commitment: commitment, prequeued: 6 });
    expect(roomRow.lottery_seed).toBe((await room.room('21', OPENS + 60_040))!.seed);

    const rows = (
      await pg.db.query(`SELECT * FROM queue_tickets WHERE province_code = '21' ORDER BY ticket_id`)
    ).rows;
    expect(rows).toHaveLength(10);
    const stateName = { P: 'PREQUEUE', W: 'WAITING', A: 'ADMITTED', L: 'LAPSED' } as const;
    for (const row of rows) {
      const ticket = (await room.ticket(row.ticket_id))!;
      expect({ id: row.ticket_id, state: row.state, seq: row.seq, account: row.account_id }).toEqual({
        id: ticket.ticketId,
        state: stateName[ticket.state],
        seq: ticket.seq === 0 ? null : ticket.seq,
        account: ticket.accountId,
      });
      if (ticket.state === 'A' || ticket.state === 'L') {
        expect(new Date(row.admitted_at).getTime()).toBe(ticket.admittedAt);
        expect(new Date(row.pass_expires_at).getTime()).toBe(ticket.passExpiresAt);
      }
    }
    expect(rows.filter((row) => row.state === 'LAPSED')).toHaveLength(3);
    expect(rows.filter((row) => row.released_at !== null)).toHaveLength(0); // released by an order only
    const renewed = rows.find((row) => row.replaces === lapsed.ticketId);
    expect(renewed?.state).toBe('WAITING');

    // redelivery: the same events again change nothing
    const before = JSON.stringify((await pg.db.query(`SELECT * FROM queue_tickets ORDER BY ticket_id`)).rows);
    for (const stream of streams) await te.redis.xgroup('SETID', stream, 'writer', '0');
    const again = new StreamWriter(te.redis, pg.db, { streams, consumer: 'q2' });
    await drain(again);
    const after = JSON.stringify((await pg.db.query(`SELECT * FROM queue_tickets ORDER BY ticket_id`)).rows);
    expect(after).toBe(before);
  });
});
