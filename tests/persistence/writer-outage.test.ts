/**
 * Issue 16 item 9 (I5: persistence converges): PostgreSQL refusing the writer for a reason that no
 * retry of the same rows can fix but an operator can (INSERT revoked from the writer's role, its
 * table renamed away, read-only sessions as after a failover) is an outage, not bad data. The
 * writer keeps every entry pending (no dead letter, nothing acknowledged), reports the outage once
 * (without PostgreSQL's `detail`) and in its stats, and once PostgreSQL is repaired it writes
 * every event exactly once, by itself.
 *
 * The writer connects as a role of its own (LOGIN, the privileges `npm start`'s user would have),
 * so that the test can take privileges away from it while the test's own pool stays the owner.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, quoteIdent, type Pool } from '../../db/pool.ts';
import { deadLetterStreamOf, StreamWriter } from '../../db/writer.ts';
import { eventIdOf } from '../../engine/events.ts';
import { campus, loadFixture, newTestEngine, openWindow, T0, type TestEngine } from '../support/engine.ts';
import { databaseUrl } from '../support/env.ts';
import { sleep, waitFor } from '../support/wait.ts';
import {
  bindAndHold,
  nothingPending,
  pendingOf,
  persistenceDb,
  seedWorld,
  type PersistenceDb,
} from './support.ts';

/** Candidates per case: each case binds its own range (one binding per account in PostgreSQL). */
const PER_CASE = 20;
/** A campus per province: events of two provinces go to two streams, so to two writer lanes. */
const CAMPUSES = [
  campus({ campusId: 'PO1', schoolId: 'SPO1', capacity: { CET4: 3 * PER_CASE } }),
  campus({ campusId: 'PO2', schoolId: 'SPO2', provinceCode: '12', capacity: { CET4: 3 * PER_CASE } }),
];
const role = `writer_${randomBytes(5).toString('hex')}`;
const password = randomBytes(12).toString('hex');
const silent = { error: () => undefined, warn: () => undefined, info: () => undefined };

let pg: PersistenceDb;
let writerUrl: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  pg = await persistenceDb();
  await seedWorld(pg.db, CAMPUSES, 'o', 3 * PER_CASE);
  const database = new URL(pg.url).pathname.slice(1);
  await pg.db.query(`CREATE ROLE ${quoteIdent(role)} LOGIN PASSWORD '${password}'`);
  await pg.db.query(`GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(role)}`);
  await pg.db.query(`GRANT USAGE ON SCHEMA public TO ${quoteIdent(role)}`);
  await pg.db.query(
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${quoteIdent(role)}`,
  );
  await pg.db.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${quoteIdent(role)}`);
  const url = new URL(pg.url);
  url.username = role;
  url.password = password;
  writerUrl = url.toString();
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await pg?.close();
  // roles belong to the server, not to the (dropped) database
  const server = createPool(databaseUrl(), { max: 1, logger: silent });
  await server.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`).catch(() => undefined);
  await server.end();
});

/** Ends every session of the writer's role, as a failover ends the old primary's. */
async function endWriterSessions(): Promise<void> {
  await pg.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
}

interface Breakage {
  readonly name: string;
  /** The SQLSTATE the writer meets while broken. */
  readonly code: string;
  readonly first: number;
  /**
   * Writer lanes (candidates spread over that many provinces, up to two): with several, each lane
   * waits the outage out, and it is still one episode.
   */
  readonly lanes: number;
  break(): Promise<void>;
  repair(): Promise<void>;
}

const cases: Breakage[] = [
  {
    name: 'INSERT on events revoked from the writer role',
    code: '42501',
    first: 0,
    lanes: 1,
    break: () => pg.db.query(`REVOKE INSERT ON events FROM ${quoteIdent(role)}`).then(() => undefined),
    repair: () => pg.db.query(`GRANT INSERT ON events TO ${quoteIdent(role)}`).then(() => undefined),
  },
  {
    name: 'the events table renamed away',
    code: '42P01',
    first: PER_CASE,
    lanes: 2,
    break: () => pg.db.query(`ALTER TABLE events RENAME TO events_away`).then(() => undefined),
    repair: () => pg.db.query(`ALTER TABLE events_away RENAME TO events`).then(() => undefined),
  },
  {
    name: 'the writer role read-only (default_transaction_read_only, as on a standby after a failover)',
    code: '25006',
    first: 2 * PER_CASE,
    lanes: 1,
    async break() {
      await pg.db.query(`ALTER ROLE ${quoteIdent(role)} SET default_transaction_read_only = on`);
      await endWriterSessions();
    },
    async repair() {
      await pg.db.query(`ALTER ROLE ${quoteIdent(role)} RESET default_transaction_read_only`);
      await endWriterSessions();
    },
  },
];

async function streamEntryIds(te: TestEngine, streams: readonly string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const stream of streams) {
    for (const [id] of await te.redis.xrange(stream, '-', '+')) ids.push(eventIdOf(stream, id));
  }
  return ids.sort();
}

async function storedEventIds(streams: readonly string[]): Promise<string[]> {
  const { rows } = await pg.db.query<{ event_id: string }>(
    `SELECT event_id FROM events WHERE stream = ANY($1::text[])`,
    [streams],
  );
  return rows.map((row) => row.event_id).sort();
}

/** While PostgreSQL is broken: nothing dead-lettered, every entry read and left pending, the outage reported once. */
async function expectOutageHeld(during: {
  te: TestEngine;
  writer: StreamWriter;
  streams: readonly string[];
  expected: number;
  errors: readonly unknown[];
  code: string;
}): Promise<void> {
  const { te, writer, streams, errors } = during;
  await waitFor(() => writer.current.errors >= 5, {
    timeoutMs: 30_000,
    message: 'the writer failing against the broken PostgreSQL',
  });
  await sleep(2_000); // the window in which a writer that takes this for bad data dead-letters it all

  let deadLetters = 0;
  for (const stream of streams) deadLetters += await te.redis.xlen(deadLetterStreamOf(stream));
  expect(deadLetters).toBe(0);
  expect(writer.current.deadLetters).toBe(0);
  let pending = 0;
  for (const stream of streams) pending += await pendingOf(te.redis, stream);
  expect(pending).toBe(during.expected); // read, none acknowledged
  expect(writer.current.outage).toBe(true);
  expect(writer.current.outages).toBe(1);
  // reported once for the episode, not once per attempt, and without PostgreSQL's `detail`
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ code: during.code });
  expect(errors[0]).not.toHaveProperty('detail');
}

describe('writer outage: PostgreSQL refusing for a reason an operator fixes', () => {
  for (const breakage of cases) {
    it(`${breakage.name}: nothing dead-lettered, every entry pending, then every event exactly once`, async () => {
      const te = await newTestEngine();
      cleanups.push(() => te.close());
      const campuses = CAMPUSES.slice(0, breakage.lanes);
      const provinces = campuses.map((c) => c.provinceCode);
      await loadFixture(te.engine, { calendar: provinces.map((code) => openWindow(code)), campuses });
      const streams = te.engine.keys.allStreams(provinces);
      await breakage.break();
      for (let n = breakage.first; n < breakage.first + PER_CASE; n++) {
        const at = campuses[n % campuses.length]!;
        await bindAndHold(te.engine, 'o', n, at.campusId, T0, at.provinceCode);
      }
      const expected = await streamEntryIds(te, streams);
      expect(expected.length).toBeGreaterThanOrEqual(2 * PER_CASE);

      const db: Pool = createPool(writerUrl, {
        max: breakage.lanes + 1,
        applicationName: 'writer-outage',
        logger: silent,
      });
      cleanups.push(() => db.end());
      const errors: unknown[] = [];
      const writer = new StreamWriter(te.redis, db, {
        streams,
        consumer: 'outage',
        lanes: breakage.lanes,
        idleMs: 100,
        backoffBaseMs: 20,
        backoffMaxMs: 200,
        onError: (error) => errors.push(error),
      });
      writer.start();
      cleanups.push(() => writer.stop());

      // repaired even when an assertion below fails: the next case needs a working PostgreSQL
      try {
        await expectOutageHeld({
          te,
          writer,
          streams,
          expected: expected.length,
          errors,
          code: breakage.code,
        });
      } finally {
        await breakage.repair();
      }
      await waitFor(async () => (await storedEventIds(streams)).length >= expected.length, {
        timeoutMs: 60_000,
        intervalMs: 100,
        message: 'every event in PostgreSQL after the repair',
      });
      await nothingPending(te.redis, streams);
      expect(await storedEventIds(streams)).toEqual(expected); // 0 missing, 0 duplicates
      // projected too (registrations: hold ids, and so item ids, repeat in every case's key space)
      const { rows } = await pg.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM registrations WHERE candidate_id = ANY($1::text[])`,
        [Array.from({ length: PER_CASE }, (_, i) => `o${breakage.first + i}`)],
      );
      expect(Number(rows[0]!.n)).toBe(PER_CASE);
      expect(writer.current.outage).toBe(false);
      expect(writer.current.outages).toBe(1);
      expect(writer.current.deadLetters).toBe(0);
      await writer.stop();
    }, 120_000);
  }
});
