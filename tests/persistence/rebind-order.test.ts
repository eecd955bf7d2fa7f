/**
 * Issue 16 item 15b: an account whose binding ended by R8 binds a candidate of another province. Its
 * old binding's DELETED is in one province's stream, the new BOUND in another's; with the writer's
 * streams in separate lanes (or writers) the BOUND can reach PostgreSQL first, where the old live
 * row still holds the account (I2's partial unique index). That BOUND must wait for the DELETED —
 * never be dead-lettered while it can still come — and land once it has; a DELETED that never
 * comes leaves it dead-lettered after a bounded number of deliveries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamWriter } from '../../db/writer.ts';
import { expireDue } from '../../engine/index.ts';
import { campus, loadFixture, newTestEngine, openWindow, T0, type TestEngine } from '../support/engine.ts';
import { sleep } from '../support/wait.ts';
import { accountOf, bindN, pendingOf, persistenceDb, seedWorld, type PersistenceDb } from './support.ts';

const EMPTY_MS = 60_000;
const P11 = campus({ campusId: 'RB11', schoolId: 'SRB11', provinceCode: '11' });
const P12 = campus({ campusId: 'RB12', schoolId: 'SRB12', provinceCode: '12' });

let te: TestEngine;
let pg: PersistenceDb;

beforeAll(async () => {
  te = await newTestEngine({ emptyMs: EMPTY_MS });
  pg = await persistenceDb();
  await loadFixture(te.engine, { calendar: [openWindow('11'), openWindow('12')], campuses: [P11, P12] });
  await seedWorld(pg.db, [P11], 'ra', 4);
  await seedWorld(pg.db, [P12], 'rb', 4);
});

afterAll(async () => {
  await te?.close();
  await pg?.close();
});

/** One writer per province stream, as two lanes (or two writer processes) would read them. */
function writerOf(province: '11' | '12', maxDeliveries = 3): StreamWriter {
  return new StreamWriter(te.redis, pg.db, {
    streams: [te.engine.keys.province(province).stream],
    consumer: `lane-${province}-${maxDeliveries}`,
    claimIdleMs: 200,
    backoffBaseMs: 1,
    maxDeliveries,
  });
}

/** Account n bound in province 11 and written there; then ended by R8 (DELETED not yet written), then bound and holding in 12. */
async function rebindElsewhere(n: number, lane11: StreamWriter, at: number) {
  const { engine } = te;
  await bindN(engine, 'ra', n, P11.campusId, at, '11');
  await lane11.drainOnce('>'); // the old BOUND is in PostgreSQL
  const ended = await expireDue(engine, '11', at + EMPTY_MS + 1_000); // R8: no subject in time (its due second has passed)
  expect(ended.deleted.length).toBeGreaterThanOrEqual(1);
  const ref = await bindN(engine, 'rb', n, P12.campusId, at + EMPTY_MS + 1_001, '12');
  const held = await engine.reserveWritten({
    ...ref,
    subject: 'CET4',
    eligible: true,
    fee: 30,
    now: at + EMPTY_MS + 1_002,
  });
  expect(held.ok).toBe(true);
}

const liveRows = async (accountId: string) =>
  (
    await pg.db.query<{ candidate_id: string }>(
      `SELECT candidate_id FROM registrations WHERE account_id = $1 AND deleted_at IS NULL`,
      [accountId],
    )
  ).rows.map((row) => row.candidate_id);

describe('a re-bind in another province (issue 16 item 15b)', () => {
  it('waits for the old binding’s DELETED from the other stream, then writes the BOUND', async () => {
    const lane11 = writerOf('11');
    const lane12 = writerOf('12');
    const stream12 = te.engine.keys.province('12').stream;
    await rebindElsewhere(0, lane11, T0);

    // the new province's lane runs first: its BOUND waits (the HELD, whose row needs only the
    // roster, lands), nothing is dead-lettered
    await lane12.drainOnce('>');
    expect(lane12.current.deadLetters).toBe(0);
    expect(lane12.current.deferred).toBe(1);
    expect(await pendingOf(te.redis, stream12)).toBe(1);
    expect(await liveRows(accountOf(0))).toEqual(['ra0']);

    // the old province's lane writes the DELETED; the waiting entries are delivered again and land
    await lane11.drainOnce('>');
    await sleep(300); // past claimIdleMs
    await lane12.claimIdle();
    expect(await liveRows(accountOf(0))).toEqual(['rb0']);
    const items = await pg.db.query(`SELECT status FROM registration_items WHERE candidate_id = 'rb0'`);
    expect(items.rows).toEqual([{ status: 'HELD' }]);
    expect(await pendingOf(te.redis, stream12)).toBe(0);
    expect(lane12.current.deadLetters).toBe(0);
    expect(lane11.current.deadLetters).toBe(0);
    await lane11.stop();
    await lane12.stop();
  });

  it('dead-letters it after the bounded deliveries when the DELETED never comes', async () => {
    const lane11 = writerOf('11', 2);
    const lane12 = writerOf('12', 2);
    const stream12 = te.engine.keys.province('12').stream;
    await rebindElsewhere(1, lane11, T0 + 10 * EMPTY_MS);
    await lane12.drainOnce('>'); // first delivery: deferred
    expect(lane12.current.deferred).toBe(1);
    await sleep(300);
    await lane12.claimIdle(); // second delivery, the last allowed: dead-lettered, acknowledged
    expect(lane12.current.deadLetters).toBe(1);
    expect(await pendingOf(te.redis, stream12)).toBe(0);
    expect(await liveRows(accountOf(1))).toEqual(['ra1']);
    await lane11.stop();
    await lane12.stop();
  });
});
