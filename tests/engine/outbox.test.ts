/**
 * The outbox contract (engine/outbox.ts) against the scripts that write the outbox: every script
 * that emits runs against real Redis, every entry of every stream is read back, and each payload
 * must match its declared schema exactly (closed: no field missing, none extra, none of another
 * type), under a declared type; every declared type must show up. A new `emit` without its
 * declaration, a field added, dropped or retyped in a script, fails here.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CandidateRef } from '../../engine/engine.ts';
import { decodeEvent, type EngineEvent } from '../../engine/events.ts';
import { expireDue } from '../../engine/expiry.ts';
import {
  closedPayloadSchema,
  EVENT_TYPES,
  isEventType,
  payloadError,
  type EventType,
} from '../../engine/outbox.ts';
import { WaitingRoom } from '../../engine/queue.ts';
import { sealKeyFrom } from '../../engine/queueDraw.ts';
import { decideReview, deleteReview, editReview, submitReview } from '../../engine/reviews.ts';
import {
  HOUR_MS,
  T0,
  bindOrThrow,
  campus,
  loadFixture,
  newTestEngine,
  openWindow,
  tickParams,
  type TestEngine,
} from '../support/engine.ts';

const TICKET = '110001052100001';

let t: TestEngine;
let events: EngineEvent[];

async function ok<T extends { ok: boolean }>(outcome: Promise<T>, what: string) {
  const answer = await outcome;
  if (!answer.ok) throw new Error(`${what}: ${JSON.stringify(answer)}`);
  return answer as Extract<T, { ok: true }>;
}

async function hold(ref: CandidateRef, now = T0): Promise<void> {
  await ok(
    t.engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now }),
    'written hold',
  );
  await ok(
    t.engine.reserveOral({ ...ref, subject: 'CET-SET4', campusId: 'C1', fee: 50.5, now }),
    'oral hold',
  );
}

async function order(ref: CandidateRef, now = T0): Promise<string> {
  return (await ok(t.engine.createOrder({ ...ref, method: 'alipay', now }), 'order')).order.orderId;
}

/** One run through every transition that emits (CALENDAR_SET and CAMPUS_UPSERTED by the fixture). */
async function emitEverything(): Promise<void> {
  await loadFixture(t.engine, {
    campuses: [
      campus({ campusId: 'C1' }),
      campus({ campusId: 'C2', oralOpens: { ownSchoolAt: T0, provinceWideAt: null } }),
    ],
  });
  // cancelled: the written subject, and with it the oral one (BY_CANDIDATE, WRITTEN_ENDED)
  const cancelled = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
  await hold(cancelled);
  await ok(t.engine.cancel({ ...cancelled, subject: 'CET4', now: T0 + 1 }), 'cancel');
  // paid in time: PAID, nothing to refund (an empty Lua list)
  const paid = await bindOrThrow(t.engine, { candidateId: 'c2', campusId: 'C1' });
  await hold(paid);
  await ok(
    t.engine.confirmPayment({ orderId: await order(paid), now: T0 + 2, providerTx: 'tx-paid' }),
    'pay',
  );
  // expired (PAY_BY_PASSED, WRITTEN_ENDED), then paid too late: LATE_REFUND, nothing paid
  const late = await bindOrThrow(t.engine, { candidateId: 'c3', campusId: 'C2' });
  await hold(late);
  const lateOrder = await order(late);
  // also deletes c1 (empty since its cancellation) and c4 (never held anything): DELETED
  await bindOrThrow(t.engine, { candidateId: 'c4', campusId: 'C1' });
  const sweep = await expireDue(t.engine, '11', T0 + 13 * HOUR_MS);
  expect(sweep.expired).toHaveLength(2);
  expect(sweep.deleted.map((d) => d.candidateId).sort()).toEqual(['c1', 'c4']);
  await ok(
    t.engine.confirmPayment({ orderId: lateOrder, now: T0 + 14 * HOUR_MS, providerTx: 'tx-late' }),
    'late',
  );

  // a review submitted, rejected, resubmitted, rejected again and deleted; another approved at once
  const review = { ticketNumber: TICKET, candidateId: 'c2', provinceCode: '11', now: T0 };
  const submitted = await ok(
    submitReview(t.engine, { ...review, accountId: 'r1', status: 'PENDING' }),
    'submit',
  );
  const reviewId = submitted.review.reviewId;
  await ok(decideReview(t.engine, { reviewId, approve: false, now: T0 + 1 }), 'reject');
  await ok(editReview(t.engine, { ...review, accountId: 'r1', status: 'PENDING', now: T0 + 2 }), 'edit');
  await ok(decideReview(t.engine, { reviewId, approve: false, now: T0 + 3 }), 'reject again');
  await ok(deleteReview(t.engine, { accountId: 'r1', now: T0 + 4 }), 'delete');
  await ok(submitReview(t.engine, { ...review, accountId: 'r2', status: 'APPROVED' }), 'approved');

  await emitWaitingRoom();
}

/** A waiting room's whole life (province 12, opening) and an auto room turned on and off (13). */
async function emitWaitingRoom(): Promise<void> {
  const room = new WaitingRoom(t.engine, sealKeyFrom(Buffer.alloc(32, 1)));
  const opens = T0 + HOUR_MS;
  const tick = tickParams({ targetActive: 100, burst: 100, maxBatch: 100, drainGraceMs: 1_000 });
  await loadFixture(t.engine, {
    calendar: [openWindow('12', opens), openWindow('13', T0 - HOUR_MS)],
    campuses: [
      campus({ campusId: 'Q1', provinceCode: '12' }),
      campus({ campusId: 'Q2', provinceCode: '13' }),
    ],
  });
  const settings = { provinceCode: '12', mode: 'opening', preQueueMinutes: 60, passMinutes: 1 } as const;
  await room.setup({ ...settings, maxAdmitPerMinute: null }, T0);
  await ok(room.join('q1', '12', T0 + 1), 'prequeue'); // QUEUE_JOINED (P)
  await ok(room.join('q2', '12', opens + 1), 'late'); // QUEUE_CLOSED, QUEUE_JOINED (W)
  await room.advanceDraw('12', opens + 2); // QUEUE_DRAWN, QUEUE_DRAW_DONE
  await room.tick('12', tick, opens + 3); // QUEUE_ADMITTED
  const ref = await bindOrThrow(t.engine, {
    accountId: 'q1',
    candidateId: 'q1c',
    campusId: 'Q1',
    provinceCode: '12',
    now: opens + 4,
  });
  await ok(
    t.engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: opens + 5 }),
    'queued hold',
  );
  await order(ref, opens + 6); // QUEUE_RELEASED
  await room.tick('12', tick, opens + 3 + 60_000); // QUEUE_LAPSED
  await room.tick('12', tick, opens + 3 + 62_000); // QUEUE_DRAINED
  await room.setup(
    { provinceCode: '13', mode: 'auto', preQueueMinutes: 0, passMinutes: 15, maxAdmitPerMinute: 60 },
    T0,
  );
  await room.tick('13', { ...tick, saturated: true }, T0 + 1); // QUEUE_ACTIVATED on
  await room.tick('13', { ...tick, saturated: false }, T0 + 2); // QUEUE_ACTIVATED off
}

async function readAllStreams(): Promise<EngineEvent[]> {
  const all: EngineEvent[] = [];
  for (const stream of t.engine.keys.allStreams(['11', '12', '13'])) {
    for (const [id, fields] of await t.redis.xrange(stream, '-', '+'))
      all.push(decodeEvent(stream, id, fields));
  }
  return all;
}

beforeAll(async () => {
  t = await newTestEngine();
  await emitEverything();
  events = await readAllStreams();
});

afterAll(async () => {
  await t.close();
});

describe('the outbox contract (engine/outbox.ts)', () => {
  const ajv = new Ajv({ strict: true, allErrors: true });
  const validators = new Map<EventType, ValidateFunction>();
  const validatorOf = (type: EventType): ValidateFunction => {
    let validate = validators.get(type);
    if (!validate) validators.set(type, (validate = ajv.compile(closedPayloadSchema(type))));
    return validate;
  };

  it('declares the type of every event the scripts emit', () => {
    expect(events.length).toBeGreaterThan(EVENT_TYPES.length);
    expect(events.filter((event) => !isEventType(event.type)).map((event) => event.type)).toEqual([]);
  });

  it('every payload matches its declared schema exactly', () => {
    const mismatches: string[] = [];
    for (const event of events) {
      if (!isEventType(event.type)) continue;
      const validate = validatorOf(event.type);
      if (!validate(event.data)) {
        mismatches.push(`${event.type} ${JSON.stringify(event.data)}: ${ajv.errorsText(validate.errors)}`);
      }
      // what the readers check (open: a field they do not know is ignored) agrees
      const readerError = payloadError(event.type, event.data);
      if (readerError !== undefined) mismatches.push(`${event.type} (reader): ${readerError}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('every declared event type is emitted by some script', () => {
    const seen = new Set(events.map((event) => event.type));
    expect(EVENT_TYPES.filter((type) => !seen.has(type))).toEqual([]);
  });

  it('the closed schema refuses a field too many, one missing and one retyped', () => {
    const held = events.find((event) => event.type === 'HELD');
    if (!held) throw new Error('no HELD event');
    const validate = validatorOf('HELD');
    expect(validate(held.data)).toBe(true);
    expect(validate({ ...held.data, extra: 1 })).toBe(false);
    const missing: Record<string, unknown> = { ...held.data };
    delete missing.holdId;
    expect(validate(missing)).toBe(false);
    expect(validate({ ...held.data, holdId: String(held.data.holdId) })).toBe(false);
  });
});
