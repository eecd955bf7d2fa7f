/**
 * Two writers share a stream (issue 14 item 2), so the event an update depends on may be committed
 * by the other writer between two statements of this one's transaction: each statement sees what
 * was committed when it began. Found in `npm run demo:cluster`: a PAYMENT_CONFIRMED batch whose
 * UPDATE of the order saw nothing, then whose check saw the order (just committed, PENDING), went on
 * to mark its items PAID without a paid_at (refused by registration_items_state_check, so retried);
 * the same race let an EXPIRED or CANCELLED leave its item HELD for good, silently.
 *
 * A staff decision on a CET6 review had the same race (its existence check skipped it), and the
 * waiting room's record skipped an admission whose ticket it did not see.
 *
 * Planted here deterministically: a connection wrapper commits the other writer's event on a
 * second connection right after the projection's first UPDATE. Either way the projection must
 * answer MissingDependencyError (the writer retries it) and change nothing; its retry applies it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withTransaction, type Pool, type PoolClient, type Queryable } from '../../db/pool.ts';
import { MissingDependencyError } from '../../db/sql/projectionErrors.ts';
import { projectEvents } from '../../db/sql/projections.ts';
import { decodeEvent, type EngineEvent } from '../../engine/events.ts';
import { decideReview, submitReview } from '../../engine/reviews.ts';
import { WaitingRoom } from '../../engine/queue.ts';
import { sealKeyFrom } from '../../engine/queueDraw.ts';
import {
  campus,
  HOUR_MS,
  loadFixture,
  newTestEngine,
  openWindow,
  T0,
  type TestEngine,
} from '../support/engine.ts';
import { bindAndHold, persistenceDb, seedWorld, TEST_TICK, type PersistenceDb } from './support.ts';

const C1 = campus({ campusId: 'PR1', schoolId: 'SPR1', capacity: { CET4: 10 } });

let te: TestEngine;
let pg: PersistenceDb;

beforeAll(async () => {
  te = await newTestEngine();
  pg = await persistenceDb();
  await loadFixture(te.engine, { campuses: [C1] });
  await seedWorld(pg.db, [C1], 'pr', 4);
});

afterAll(async () => {
  await te?.close();
  await pg?.close();
});

/** The province stream's events of `candidateId`, in stream order. */
async function eventsOf(candidateId: string): Promise<EngineEvent[]> {
  const stream = te.engine.keys.province('11').stream;
  return (await te.redis.xrange(stream, '-', '+'))
    .map(([id, fields]) => decodeEvent(stream, id, fields))
    .filter((event) => (event.data as { candidateId?: string }).candidateId === candidateId);
}

const only = (events: readonly EngineEvent[], ...types: string[]) =>
  events.filter((event) => types.includes(event.type));

/**
 * `client` whose first query matching `after` is followed, before it answers, by `interleave`
 * committed on another connection: the other writer's commit landing between two statements.
 */
function interleaved(client: PoolClient, after: RegExp, interleave: () => Promise<void>): Queryable {
  let done = false;
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'query') return Reflect.get(target, property, receiver) as unknown;
      return async (text: string, values?: unknown[]) => {
        const answer = await target.query(text, values);
        if (!done && after.test(text)) {
          done = true;
          await interleave();
        }
        return answer;
      };
    },
  });
}

/** Projects `events` in one transaction through the wrapper; what it threw, or null. */
async function projectRacing(
  db: Pool,
  events: readonly EngineEvent[],
  after: RegExp,
  interleave: () => Promise<void>,
): Promise<unknown> {
  return withTransaction(db, (client) => projectEvents(interleaved(client, after, interleave), events)).then(
    () => null,
    (error: unknown) => error,
  );
}

it('PAYMENT_CONFIRMED whose order is committed by the other writer between its statements waits for it', async () => {
  const ref = await bindAndHold(te.engine, 'pr', 0, C1.campusId, T0);
  const order = await te.engine.createOrder({ ...ref, method: 'ALIPAY', now: T0 + 2 });
  if (!order.ok) throw new Error(order.code);
  const paid = await te.engine.confirmPayment({
    orderId: order.order.orderId,
    now: T0 + 3,
    providerTx: 'race-1',
  });
  expect(paid.ok).toBe(true);
  const events = await eventsOf(ref.candidateId);
  await withTransaction(pg.db, (client) => projectEvents(client, only(events, 'BOUND', 'HELD')));

  const thrown = await projectRacing(pg.db, only(events, 'PAYMENT_CONFIRMED'), /UPDATE payment_orders/, () =>
    withTransaction(pg.db, (client) => projectEvents(client, only(events, 'ORDER_CREATED'))),
  );
  expect(thrown).toBeInstanceOf(MissingDependencyError);
  const before = await pg.db.query<{ status: string; paid_at: Date | null }>(
    `SELECT status, paid_at FROM registration_items WHERE candidate_id = $1`,
    [ref.candidateId],
  );
  expect(before.rows).toEqual([{ status: 'HELD', paid_at: null }]);

  // the writer's retry: the order is there now
  await withTransaction(pg.db, (client) => projectEvents(client, only(events, 'PAYMENT_CONFIRMED')));
  const after = await pg.db.query<{ item: string; order: string }>(
    `SELECT ri.status AS item, o.status AS order FROM registration_items ri
       JOIN payment_order_items oi ON oi.item_id = ri.item_id JOIN payment_orders o ON o.order_id = oi.order_id
      WHERE ri.candidate_id = $1`,
    [ref.candidateId],
  );
  expect(after.rows).toEqual([{ item: 'PAID', order: 'PAID' }]);
});

it('CANCELLED whose item is committed by the other writer between its statements waits for it, not left HELD', async () => {
  const ref = await bindAndHold(te.engine, 'pr', 1, C1.campusId, T0);
  const cancelled = await te.engine.cancel({ ...ref, subject: 'CET4', now: T0 + 2 });
  expect(cancelled.ok).toBe(true);
  const events = await eventsOf(ref.candidateId);
  await withTransaction(pg.db, (client) => projectEvents(client, only(events, 'BOUND')));

  const thrown = await projectRacing(pg.db, only(events, 'CANCELLED'), /UPDATE registration_items/, () =>
    withTransaction(pg.db, (client) => projectEvents(client, only(events, 'HELD'))),
  );
  expect(thrown).toBeInstanceOf(MissingDependencyError);

  await withTransaction(pg.db, (client) => projectEvents(client, only(events, 'CANCELLED')));
  const items = await pg.db.query<{ status: string }>(
    `SELECT status FROM registration_items WHERE candidate_id = $1`,
    [ref.candidateId],
  );
  expect(items.rows).toEqual([{ status: 'CANCELLED' }]);
});

it('REVIEW_DECIDED whose review is committed by the other writer between its statements waits for it', async () => {
  const submitted = await submitReview(te.engine, {
    accountId: '1000002',
    status: 'PENDING',
    ticketNumber: '110001052100001',
    candidateId: 'pr2',
    provinceCode: '11',
    now: T0,
  });
  if (!submitted.ok) throw new Error(submitted.code);
  const { reviewId } = submitted.review;
  const decided = await decideReview(te.engine, { reviewId, approve: true, now: T0 + 1 });
  expect(decided.ok).toBe(true);
  const stream = te.engine.keys.account('1000002').stream;
  const events = (await te.redis.xrange(stream, '-', '+'))
    .map(([id, fields]) => decodeEvent(stream, id, fields))
    .filter((event) => (event.data as { reviewId?: string }).reviewId === reviewId);

  const thrown = await projectRacing(pg.db, only(events, 'REVIEW_DECIDED'), /UPDATE cet6_reviews/, () =>
    withTransaction(pg.db, (client) => projectEvents(client, only(events, 'REVIEW_SUBMITTED'))),
  );
  expect(thrown).toBeInstanceOf(MissingDependencyError);
  await withTransaction(pg.db, (client) => projectEvents(client, only(events, 'REVIEW_DECIDED')));
  const review = await pg.db.query<{ status: string }>(
    `SELECT status FROM cet6_reviews WHERE review_id = $1`,
    [reviewId],
  );
  expect(review.rows).toEqual([{ status: 'APPROVED' }]);
});

it('QUEUE_ADMITTED whose ticket is committed by the other writer between its statements waits for it', async () => {
  const opens = T0 + HOUR_MS;
  const queueCampus = campus({ campusId: 'PRQ1', schoolId: 'SPRQ1', provinceCode: '21' });
  await loadFixture(te.engine, { calendar: [openWindow('21', opens)], campuses: [queueCampus] });
  await seedWorld(pg.db, [queueCampus], 'prq', 1);
  const room = new WaitingRoom(te.engine, sealKeyFrom(Buffer.alloc(32, 7)));
  await room.setup(
    { provinceCode: '21', mode: 'opening', preQueueMinutes: 60, passMinutes: 1, maxAdmitPerMinute: null },
    T0,
  );
  await room.join('3000', '21', opens + 1); // after the opening: WAITING at once
  await room.tick('21', TEST_TICK, opens + 20);
  const stream = te.engine.keys.province('21').stream;
  const events = (await te.redis.xrange(stream, '-', '+')).map(([id, fields]) =>
    decodeEvent(stream, id, fields),
  );
  const queueEvents = events.filter((event) => event.type.startsWith('QUEUE_'));
  const joined = only(queueEvents, 'QUEUE_JOINED');
  const admitted = only(queueEvents, 'QUEUE_ADMITTED');
  expect([joined.length, admitted.length]).toEqual([1, 1]);
  await withTransaction(pg.db, (client) =>
    projectEvents(
      client,
      queueEvents.filter((event) => event.type !== 'QUEUE_JOINED' && event.type !== 'QUEUE_ADMITTED'),
    ),
  );

  const thrown = await projectRacing(pg.db, admitted, /UPDATE queue_tickets/, () =>
    withTransaction(pg.db, (client) => projectEvents(client, joined)),
  );
  expect(thrown).toBeInstanceOf(MissingDependencyError);
  await withTransaction(pg.db, (client) => projectEvents(client, admitted));
  // a redelivery changes nothing and is no error
  await withTransaction(pg.db, (client) => projectEvents(client, admitted));
  const ticket = await pg.db.query<{ state: string }>(
    `SELECT state FROM queue_tickets WHERE account_id = '3000'`,
  );
  expect(ticket.rows).toEqual([{ state: 'ADMITTED' }]);
});
