/**
 * The schema's own guarantees, independent of the engine: UNIQUE indexes that mirror I2 and I3
 * while letting history rows stay, CHECKs on enums and counts, and idempotent event inserts (I5).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../db/migrate.ts';
import { createPool, execute, pgErrorInfo, query, SqlState, withTransaction } from '../../db/pool.ts';
import type { Pool, Queryable } from '../../db/pool.ts';
import { insertEvents, insertEventsCopy } from '../../db/sql/events.ts';
import { freshDatabase } from '../support/pg.ts';
import type { FreshDatabase } from '../support/pg.ts';

const silent = { error() {}, warn() {}, info() {} };
const T0 = Date.UTC(2026, 2, 1, 1, 0, 0);
const HOUR = 3_600_000;
const at = (ms: number): string => new Date(ms).toISOString();

let db: FreshDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await freshDatabase();
  pool = createPool(db.url, { max: 4, logger: silent });
  await migrate(pool);
  await seedReferenceData(pool);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

async function seedReferenceData(q: Queryable): Promise<void> {
  await execute(q, `INSERT INTO provinces VALUES ('11', 'Beijing')`);
  await execute(q, `INSERT INTO schools VALUES ('S1', 'School One', '11')`);
  await execute(q, `INSERT INTO campuses VALUES ('C1', 'Campus One', '11', 'S1', true, $1, $2)`, [
    at(T0),
    at(T0 + 24 * HOUR),
  ]);
  await execute(
    q,
    `INSERT INTO campus_capacity (campus_id, subject, capacity)
     SELECT 'C1', subject, 100 FROM subjects`,
  );
}

async function expectSqlError(promise: Promise<unknown>, code: string, constraint?: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  const info = pgErrorInfo(err);
  expect(info, `expected SQLSTATE ${code}, got ${String(err)}`).toBeDefined();
  expect(info?.code).toBe(code);
  if (constraint !== undefined) expect(info?.constraint).toBe(constraint);
}

let nextId = 0;
const uniqueId = (prefix: string): string => `${prefix}${++nextId}`;

async function newCandidate(): Promise<string> {
  const candidateId = uniqueId('9000');
  await execute(
    pool,
    `INSERT INTO roster (candidate_id, id_type, id_hmac, id_masked, name, name_normalised,
                         province_code, school_id, campus_id, grade, eligible_subjects)
     VALUES ($1, 'RESIDENT_ID', $2, '110105********002X', 'Zhang San', 'ZHANGSAN', '11', 'S1', 'C1', '2024', $3)`,
    [candidateId, randomBytes(32), ['CET4', 'CET6', 'CJT4']],
  );
  return candidateId;
}

async function newAccount(): Promise<string> {
  const [row] = await query<{ account_id: string }>(
    pool,
    `INSERT INTO accounts (email, phone, password_hash) VALUES ($1, $2, 'scrypt$...') RETURNING account_id`,
    [`${uniqueId('user')}@example.com`, uniqueId('1380000')],
  );
  if (row === undefined) throw new Error('no account');
  return row.account_id;
}

function bind(candidateId: string, accountId: string, registrationId = uniqueId('reg')): Promise<number> {
  return execute(
    pool,
    `INSERT INTO registrations (registration_id, candidate_id, account_id, province_code, campus_id, snapshot, saved_at)
     VALUES ($1, $2, $3, '11', 'C1', '{"name": "Zhang San"}', $4)`,
    [registrationId, candidateId, accountId, at(T0)],
  );
}

function unbind(registrationId: string): Promise<number> {
  return execute(
    pool,
    `UPDATE registrations SET deleted_at = $2, delete_reason = 'NO_SUBJECT_IN_12H' WHERE registration_id = $1`,
    [registrationId, at(T0 + 12 * HOUR)],
  );
}

interface ItemSpec {
  readonly subject: string;
  readonly kind: 'WRITTEN' | 'ORAL';
  readonly level: 4 | 6;
}
const CET4: ItemSpec = { subject: 'CET4', kind: 'WRITTEN', level: 4 };
const CET6: ItemSpec = { subject: 'CET6', kind: 'WRITTEN', level: 6 };
const CJT4: ItemSpec = { subject: 'CJT4', kind: 'WRITTEN', level: 4 };
const SET4: ItemSpec = { subject: 'CET-SET4', kind: 'ORAL', level: 4 };

function hold(candidateId: string, item: ItemSpec, itemId = uniqueId('hold')): Promise<number> {
  return execute(
    pool,
    `INSERT INTO registration_items (item_id, candidate_id, subject, kind, level, campus_id, status, fee, held_at, pay_by)
     VALUES ($1, $2, $3, $4, $5, 'C1', 'HELD', 30, $6, $7)`,
    [itemId, candidateId, item.subject, item.kind, item.level, at(T0), at(T0 + 12 * HOUR)],
  );
}

function expire(itemId: string): Promise<number> {
  return execute(
    pool,
    `UPDATE registration_items SET status = 'EXPIRED', ended_at = pay_by WHERE item_id = $1`,
    [itemId],
  );
}

describe('events (I5)', () => {
  const event = (eventId: string, data: Record<string, unknown> = { seat: 1 }) => ({
    eventId,
    stream: 'p11',
    type: 'seat.held',
    atMs: T0 + 123,
    data,
  });

  it('stores a redelivered event id once, keeping the first copy', async () => {
    expect(await insertEvents(pool, [event('p11/1764388800000-0'), event('p11/1764388800000-1')])).toBe(2);
    expect(await insertEvents(pool, [event('p11/1764388800000-0', { seat: 'changed' })])).toBe(0);
    // A batch with a duplicate inside it and one already stored: only the new one lands.
    expect(
      await insertEvents(pool, [
        event('p11/1764388800001-0'),
        event('p11/1764388800001-0'),
        event('p11/1764388800000-1'),
      ]),
    ).toBe(1);

    const rows = await query<{ event_id: string; data: unknown; at: Date }>(
      pool,
      `SELECT event_id, data, at FROM events WHERE event_id LIKE 'p11/%' ORDER BY event_id`,
    );
    expect(rows.map((row) => row.event_id)).toEqual([
      'p11/1764388800000-0',
      'p11/1764388800000-1',
      'p11/1764388800001-0',
    ]);
    expect(rows[0]?.data).toEqual({ seat: 1 });
    expect(rows[0]?.at.getTime()).toBe(T0 + 123);
  });

  it('through COPY: the same idempotency, and text that needs escaping round-trips', async () => {
    const awkward = { name: 'tab\there, new\nline, back\\slash, 引号"', seat: 2 };
    const first = await withTransaction(pool, (client) =>
      insertEventsCopy(client, [event('p11/copy-0', awkward), event('p11/copy-1'), event('p11/copy-1')]),
    );
    expect([...first].sort()).toEqual(['p11/copy-0', 'p11/copy-1']);
    // again, with one already stored by the array path: nothing new but the new one
    await insertEvents(pool, [event('p11/copy-2')]);
    const second = await withTransaction(pool, (client) =>
      insertEventsCopy(client, [
        event('p11/copy-0', { seat: 'changed' }),
        event('p11/copy-2'),
        event('p11/copy-3'),
      ]),
    );
    expect([...second]).toEqual(['p11/copy-3']);
    const rows = await query<{ event_id: string; data: unknown; at: Date }>(
      pool,
      `SELECT event_id, data, at FROM events WHERE event_id LIKE 'p11/copy-%' ORDER BY event_id`,
    );
    expect(rows.map((row) => row.event_id)).toEqual(['p11/copy-0', 'p11/copy-1', 'p11/copy-2', 'p11/copy-3']);
    expect(rows[0]?.data).toEqual(awkward);
    expect(rows[0]?.at.getTime()).toBe(T0 + 123);
    // the staging table is emptied at COMMIT: a later batch on the same connection starts clean
    const third = await withTransaction(pool, (client) => insertEventsCopy(client, [event('p11/copy-4')]));
    expect([...third]).toEqual(['p11/copy-4']);
  });

  it('refuses a duplicate event id without ON CONFLICT', async () => {
    await insertEvents(pool, [event('p11/dup-0')]);
    await expectSqlError(
      execute(
        pool,
        `INSERT INTO events (event_id, stream, type, at, data) VALUES ('p11/dup-0', 'p11', 't', now(), '{}')`,
      ),
      SqlState.uniqueViolation,
      'events_pkey',
    );
  });
});

describe('registrations: one live binding per account and per candidate (R6, R8, I2)', () => {
  it('refuses a second live binding for the same candidate', async () => {
    const candidate = await newCandidate();
    await bind(candidate, await newAccount());
    await expectSqlError(
      bind(candidate, await newAccount()),
      SqlState.uniqueViolation,
      'registrations_live_candidate_key',
    );
  });

  it('refuses a second live binding for the same account', async () => {
    const account = await newAccount();
    await bind(await newCandidate(), account);
    await expectSqlError(
      bind(await newCandidate(), account),
      SqlState.uniqueViolation,
      'registrations_live_account_key',
    );
  });

  it('lets a deleted (historic) binding stay while the candidate and the account bind anew', async () => {
    const candidate = await newCandidate();
    const account = await newAccount();
    const first = uniqueId('reg');
    await bind(candidate, account, first);
    expect(await unbind(first)).toBe(1);

    // The candidate re-registers from another account, the account binds another candidate.
    const second = uniqueId('reg');
    await bind(candidate, await newAccount(), second);
    await bind(await newCandidate(), account);

    const rows = await query<{ registration_id: string; live: boolean }>(
      pool,
      `SELECT registration_id, deleted_at IS NULL AS live FROM registrations WHERE candidate_id = $1 ORDER BY saved_at, registration_id`,
      [candidate],
    );
    expect(rows).toHaveLength(2);
    expect(rows.filter((row) => row.live).map((row) => row.registration_id)).toEqual([second]);

    // History cannot come back to life beside the new binding.
    await expectSqlError(
      execute(
        pool,
        `UPDATE registrations SET deleted_at = NULL, delete_reason = NULL WHERE registration_id = $1`,
        [first],
      ),
      SqlState.uniqueViolation,
      'registrations_live_candidate_key',
    );
  });

  it('refuses a deletion without a reason', async () => {
    const reg = uniqueId('reg');
    await bind(await newCandidate(), await newAccount(), reg);
    await expectSqlError(
      execute(pool, `UPDATE registrations SET deleted_at = saved_at WHERE registration_id = $1`, [reg]),
      SqlState.checkViolation,
      'registrations_deletion_check',
    );
  });
});

describe('registration items: one live written subject per level (R16, I3)', () => {
  it('refuses a second live written item of the same level, not of another level or an oral one', async () => {
    const candidate = await newCandidate();
    await hold(candidate, CET4);
    await expectSqlError(
      hold(candidate, CJT4),
      SqlState.uniqueViolation,
      'registration_items_live_level_key',
    );
    expect(await hold(candidate, CET6)).toBe(1);
    expect(await hold(candidate, SET4)).toBe(1);
  });

  it('lets an expired item stay as history while the level is taken again', async () => {
    const candidate = await newCandidate();
    const first = uniqueId('hold');
    await hold(candidate, CET4, first);
    expect(await expire(first)).toBe(1);
    expect(await hold(candidate, CJT4)).toBe(1);
    // And the expired one cannot be revived beside it.
    await expectSqlError(
      execute(pool, `UPDATE registration_items SET status = 'HELD', ended_at = NULL WHERE item_id = $1`, [
        first,
      ]),
      SqlState.uniqueViolation,
      'registration_items_live_level_key',
    );
  });

  it('refuses a second live item of the same subject, oral included', async () => {
    const candidate = await newCandidate();
    await hold(candidate, SET4);
    await expectSqlError(
      hold(candidate, SET4),
      SqlState.uniqueViolation,
      'registration_items_live_subject_key',
    );
  });

  it('refuses a kind or level that disagrees with the subject', async () => {
    const candidate = await newCandidate();
    await expectSqlError(
      hold(candidate, { subject: 'CJT4', kind: 'WRITTEN', level: 6 }),
      SqlState.foreignKeyViolation,
      'registration_items_subject_fkey',
    );
    await expectSqlError(
      hold(candidate, { subject: 'CET-SET4', kind: 'WRITTEN', level: 4 }),
      SqlState.foreignKeyViolation,
      'registration_items_subject_fkey',
    );
  });

  it('refuses a payment recorded after the deadline (R23)', async () => {
    const candidate = await newCandidate();
    const item = uniqueId('hold');
    await hold(candidate, CET4, item);
    await expectSqlError(
      execute(
        pool,
        `UPDATE registration_items SET status = 'PAID', paid_at = pay_by + interval '1 ms' WHERE item_id = $1`,
        [item],
      ),
      SqlState.checkViolation,
      'registration_items_paid_in_time',
    );
  });
});

describe('reference data checks', () => {
  it('refuses a negative capacity and an empty registration window', async () => {
    await expectSqlError(
      execute(pool, `UPDATE campus_capacity SET capacity = -1 WHERE campus_id = 'C1' AND subject = 'CET4'`),
      SqlState.checkViolation,
    );
    await expectSqlError(
      execute(pool, `INSERT INTO registration_calendar VALUES ('11', $1, $1)`, [at(T0)]),
      SqlState.checkViolation,
      'registration_calendar_window_check',
    );
  });

  it('keeps one live CET6 review per account, deletable only once rejected (R11, R12)', async () => {
    const account = await newAccount();
    const candidate = await newCandidate();
    const review = (id: string, status: string) =>
      execute(
        pool,
        `INSERT INTO cet6_reviews (review_id, account_id, candidate_id, ticket_number, status, submitted_at, decided_at)
         VALUES ($1, $2, $3, '120051234567890', $4, $5, CASE WHEN $4 = 'PENDING' THEN NULL ELSE $5::timestamptz END)`,
        [id, account, candidate, status, at(T0)],
      );
    await review('rev-a', 'PENDING');
    await expectSqlError(
      review('rev-b', 'PENDING'),
      SqlState.uniqueViolation,
      'cet6_reviews_live_account_key',
    );
    await expectSqlError(
      execute(pool, `UPDATE cet6_reviews SET deleted_at = now() WHERE review_id = 'rev-a'`),
      SqlState.checkViolation,
      'cet6_reviews_deletion_check',
    );
    await execute(
      pool,
      `UPDATE cet6_reviews SET status = 'REJECTED', decided_at = submitted_at, deleted_at = submitted_at WHERE review_id = 'rev-a'`,
    );
    expect(await review('rev-b', 'APPROVED')).toBe(1);
  });
});

describe('references of the projection tables, checked once per statement (migration 009)', () => {
  it('refuses a registration, item or order whose reference is missing, naming the constraint (23503)', async () => {
    const candidate = await newCandidate();
    const account = await newAccount();
    await expectSqlError(
      bind('nobody', account),
      SqlState.foreignKeyViolation,
      'registrations_candidate_id_fkey',
    );
    await expectSqlError(
      bind(candidate, '999999999'),
      SqlState.foreignKeyViolation,
      'registrations_account_id_fkey',
    );
    await expectSqlError(
      hold('nobody', CET4),
      SqlState.foreignKeyViolation,
      'registration_items_candidate_id_fkey',
    );
    await expectSqlError(
      execute(
        pool,
        `INSERT INTO payment_orders (order_id, candidate_id, amount, method, status, created_at)
         VALUES ($1, 'nobody', 30, 'ALIPAY', 'PENDING', $2)`,
        [uniqueId('order'), at(T0)],
      ),
      SqlState.foreignKeyViolation,
      'payment_orders_candidate_id_fkey',
    );
    const order = uniqueId('order');
    await execute(
      pool,
      `INSERT INTO payment_orders (order_id, candidate_id, amount, method, status, created_at)
       VALUES ($1, $2, 30, 'ALIPAY', 'PENDING', $3)`,
      [order, candidate, at(T0)],
    );
    const item = uniqueId('hold');
    await hold(candidate, CET4, item);
    await expectSqlError(
      execute(pool, `INSERT INTO payment_order_items (order_id, item_id, fee) VALUES ($1, 'no-item', 30)`, [
        order,
      ]),
      SqlState.foreignKeyViolation,
      'payment_order_items_item_id_fkey',
    );
    await expectSqlError(
      execute(pool, `INSERT INTO payment_order_items (order_id, item_id, fee) VALUES ('no-order', $1, 30)`, [
        item,
      ]),
      SqlState.foreignKeyViolation,
      'payment_order_items_order_id_fkey',
    );
    // a multi-row statement with one bad row changes nothing
    const before = await query<{ n: string }>(pool, 'SELECT count(*)::text AS n FROM registration_items');
    await expectSqlError(
      execute(
        pool,
        `INSERT INTO registration_items (item_id, candidate_id, subject, kind, level, campus_id, status, fee, held_at, pay_by)
         SELECT i, c, 'CET4', 'WRITTEN', 4, 'C1', 'HELD', 30, $3, $4
           FROM unnest($1::text[], $2::text[]) AS u(i, c)`,
        [[uniqueId('hold'), uniqueId('hold')], [await newCandidate(), 'nobody'], at(T0), at(T0 + HOUR)],
      ),
      SqlState.foreignKeyViolation,
      'registration_items_candidate_id_fkey',
    );
    expect(await query(pool, 'SELECT count(*)::text AS n FROM registration_items')).toEqual(before);
  });

  it('refuses an update that points a row at a missing reference', async () => {
    const candidate = await newCandidate();
    const item = uniqueId('hold');
    await hold(candidate, CET4, item);
    await expectSqlError(
      execute(pool, `UPDATE registration_items SET candidate_id = 'nobody' WHERE item_id = $1`, [item]),
      SqlState.foreignKeyViolation,
      'registration_items_candidate_id_fkey',
    );
    // an update of other columns is not checked again, and passes
    expect(await expire(item)).toBe(1);
  });

  it('refuses to delete or re-key a referenced row, and allows it once nothing refers to it', async () => {
    const candidate = await newCandidate();
    const account = await newAccount();
    await bind(candidate, account);
    await expectSqlError(
      execute(pool, 'DELETE FROM roster WHERE candidate_id = $1', [candidate]),
      SqlState.foreignKeyViolation,
      'registrations_candidate_id_fkey',
    );
    await expectSqlError(
      execute(pool, `UPDATE roster SET candidate_id = candidate_id || 'x' WHERE candidate_id = $1`, [
        candidate,
      ]),
      SqlState.foreignKeyViolation,
      'registrations_candidate_id_fkey',
    );
    // naming a key column without changing it is allowed; changing a referenced one is not
    expect(await execute(pool, `UPDATE campuses SET campus_id = campus_id WHERE campus_id = 'C1'`)).toBe(1);
    await expectSqlError(
      execute(pool, `UPDATE campuses SET campus_id = 'C1x' WHERE campus_id = 'C1'`),
      SqlState.foreignKeyViolation,
      'registrations_campus_id_fkey',
    );
    const unreferenced = await newCandidate();
    expect(await execute(pool, 'DELETE FROM roster WHERE candidate_id = $1', [unreferenced])).toBe(1);
  });
});
