/**
 * The roster import end to end on a real PostgreSQL and Redis: a seeded world with bad rows planted
 * at known lines goes through runImport (worker pool, COPY, upsert). Exactly the planted lines are
 * reported with their reasons, every good row is stored without its ID number in clear, a second
 * run changes nothing, and the world reaches the engine's Redis.
 */
import { readFile, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../db/migrate.ts';
import { createPool, query } from '../../db/pool.ts';
import type { Pool } from '../../db/pool.ts';
import { normaliseIdNumber, normaliseName } from '../../engine/eligibility.ts';
import { idKeysFromEnv } from '../../config/index.ts';
import { decryptId, idHmac } from '../../engine/idCrypto.ts';
import { maskIdNumber } from '../../engine/idNumber.ts';
import { WorkerPool } from '../../gateway/workers/pool.ts';
import { runImport, type RunOptions, type RunResult } from '../../roster/run.ts';
import { readWorldFile } from '../../roster/world.ts';
import { newTestEngine, type TestEngine } from '../support/engine.ts';
import { UNHURRIED_LANES } from '../support/lanes.ts';
import { freshDatabase, type FreshDatabase } from '../support/pg.ts';
import { buildFixture, LINES_PER_CHUNK, NOW, type Fixture } from './fixture.ts';

const silent = { error() {}, warn() {}, info() {} };
const keys = idKeysFromEnv({ env: {}, allowDevelopmentKeys: true });

let fixture: Fixture;
let workers: WorkerPool;
let testEngine: TestEngine;
const databases: FreshDatabase[] = [];
const pools: Pool[] = [];

async function newDatabase(): Promise<Pool> {
  const db = await freshDatabase();
  databases.push(db);
  const pool = createPool(db.url, { max: 3, logger: silent });
  pools.push(pool);
  await migrate(pool);
  return pool;
}

async function importAll(pool: Pool, extra: Partial<RunOptions> = {}): Promise<RunResult> {
  return runImport({
    files: [fixture.rosterPath, fixture.scoresPath],
    pool,
    workers,
    keys,
    world: await readWorldFile(fixture.worldPath),
    engine: testEngine.engine,
    nowMs: NOW,
    linesPerChunk: LINES_PER_CHUNK,
    ...extra,
  });
}

/** Every stored column except updated_at and id_cipher (random IV): equal data, any database. */
async function rosterContentHash(pool: Pool): Promise<string> {
  const [row] = await query<{ hash: string }>(
    pool,
    `SELECT md5(string_agg(concat_ws('|', candidate_id, id_type, encode(id_hmac, 'hex'), id_masked, name,
              name_normalised, province_code, school_id, campus_id, grade, eligible_subjects::text,
              cet6_barred::text), E'\\n' ORDER BY candidate_id)) AS hash FROM roster`,
  );
  return row!.hash;
}

/** Everything, updated_at and ciphertexts included: what "nothing changed" means in one database. */
async function fullHash(pool: Pool): Promise<string> {
  const [row] = await query<{ hash: string }>(
    pool,
    `SELECT md5((SELECT string_agg(r::text, E'\\n' ORDER BY candidate_id) FROM roster r) || '#' ||
                (SELECT string_agg(c::text, E'\\n' ORDER BY ticket_number) FROM cet4_scores c)) AS hash`,
  );
  return row!.hash;
}

async function counts(pool: Pool): Promise<{ roster: number; scores: number }> {
  const [row] = await query<{ roster: number; scores: number }>(
    pool,
    `SELECT (SELECT count(*)::int FROM roster) AS roster, (SELECT count(*)::int FROM cet4_scores) AS scores`,
  );
  return row!;
}

const linesAndReasons = (rows: readonly { line: number; reason: string }[]) =>
  rows.map(({ line, reason }) => ({ line, reason }));

beforeAll(async () => {
  fixture = await buildFixture();
  workers = new WorkerPool({ threads: 2, lanes: UNHURRIED_LANES });
  testEngine = await newTestEngine();
});

afterAll(async () => {
  await workers?.close();
  await testEngine?.close();
  for (const pool of pools) await pool.end();
  for (const db of databases) await db.drop();
  if (fixture) await rm(fixture.dir, { recursive: true, force: true });
});

describe('roster import', () => {
  let pool: Pool;
  let first: RunResult;

  beforeAll(async () => {
    pool = await newDatabase();
    first = await importAll(pool);
  });

  it('reports exactly the planted bad roster rows, by line and reason, in the summary and the report file', async () => {
    const roster = first.files[0]!;
    expect(roster.kind).toBe('roster');
    expect(linesAndReasons(roster.firstRejects)).toEqual(fixture.rosterRejects);
    expect(roster.rejected).toBe(fixture.rosterRejects.length);
    expect(roster.rowsRead).toBe(fixture.rosterRows);
    expect(roster.imported).toBe(fixture.rosterRows - fixture.rosterRejects.length);

    const report = (await readFile(roster.rejectsPath, 'utf8')).trimEnd().split('\n');
    expect(report[0]).toBe('line,reason,detail');
    expect(report.slice(1).map((text) => text.split(',').slice(0, 2).join(','))).toEqual(
      fixture.rosterRejects.map(({ line, reason }) => `${line},${reason}`),
    );
    // The duplicates name the line they repeat; nothing in the report is an ID number.
    const details = roster.firstRejects.map((row) => `${row.reason}: ${row.detail}`);
    expect(
      details.filter((d) => d.startsWith('DUPLICATE_ID')).every((d) => /same ID number as line \d+/.test(d)),
    ).toBe(true);
    expect(details.find((d) => d.startsWith('DUPLICATE_CANDIDATE'))).toMatch(/already on line \d+/);
    const reportText = report.join('\n');
    for (const id of fixture.clearIdNumbers) expect(reportText.includes(id)).toBe(false);
  });

  it('reports exactly the planted bad score rows', async () => {
    const scores = first.files[1]!;
    expect(scores.kind).toBe('scores');
    expect(linesAndReasons(scores.firstRejects)).toEqual(fixture.scoresRejects);
    expect(scores.rowsRead).toBe(fixture.scoresRows);
    expect(scores.imported).toBe(fixture.scoresRows - fixture.scoresRejects.length);
  });

  it('stores every good row and nothing else', async () => {
    const stored = await query<{ candidate_id: string }>(pool, 'SELECT candidate_id FROM roster');
    expect(new Set(stored.map((row) => row.candidate_id))).toEqual(new Set(fixture.keptRoster.keys()));
    const tickets = await query<{ ticket_number: string }>(pool, 'SELECT ticket_number FROM cet4_scores');
    expect(new Set(tickets.map((row) => row.ticket_number))).toEqual(fixture.keptTickets);
  });

  it('finds candidates by HMAC, with masked and encrypted numbers and normalised names', async () => {
    const spotLines = [fixture.fullWidthLine, fixture.quotedLine, fixture.crlfLine];
    const rosterLines = (await readFile(fixture.rosterPath, 'utf8')).split('\n');
    const spotIds = spotLines.map((line) => rosterLines[line - 1]!.replaceAll('"', '').split(',')[0]!);
    const sample = [...spotIds, ...[...fixture.keptRoster.keys()].filter((_, i) => i % 37 === 0)];
    for (const candidateId of sample) {
      const fields = fixture.keptRoster.get(candidateId)!;
      const [, idType, rawId, name, provinceCode, schoolId, campusId, grade, subjects, barred] = fields;
      const idNumber = normaliseIdNumber(rawId!);
      const rows = await query<{
        candidate_id: string;
        id_masked: string;
        id_cipher: Buffer;
        name: string;
        name_normalised: string;
        province_code: string;
        school_id: string;
        campus_id: string;
        grade: string;
        eligible_subjects: string[];
        cet6_barred: boolean;
      }>(pool, 'SELECT * FROM roster WHERE id_type = $1 AND id_hmac = $2', [idType, idHmac(keys, idNumber)]);
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row.candidate_id).toBe(candidateId);
      expect(row.id_masked).toBe(maskIdNumber(idNumber));
      expect(decryptId(keys, row.id_cipher)).toBe(idNumber);
      expect(row.name).toBe(name);
      expect(row.name_normalised).toBe(normaliseName(name!));
      expect([row.province_code, row.school_id, row.campus_id, row.grade]).toEqual([
        provinceCode,
        schoolId,
        campusId,
        grade,
      ]);
      expect(row.eligible_subjects).toEqual(subjects === '' ? [] : subjects!.split(';'));
      expect(row.cet6_barred).toBe(barred === 'true');
    }
    // The full-width number was normalised to ASCII before hashing.
    expect(rosterLines[fixture.fullWidthLine - 1]).toMatch(/[\uff10-\uff19]{17}/);
  });

  it('keeps no ID number in clear anywhere in the roster or score tables', async () => {
    const [row] = await query<{ text: string }>(
      pool,
      `SELECT (SELECT string_agg(r::text, E'\\n') FROM roster r) || (SELECT string_agg(c::text, E'\\n') FROM cet4_scores c) AS text`,
    );
    const text = row!.text;
    expect(text.length).toBeGreaterThan(10_000);
    const leaked = [...fixture.clearIdNumbers].filter((id) => text.includes(id));
    expect(leaked).toEqual([]);
  });

  it('changes nothing when run again: same counts, same rejects, same content', async () => {
    const before = { counts: await counts(pool), hash: await fullHash(pool) };
    const again = await importAll(pool);
    expect(await counts(pool)).toEqual(before.counts);
    expect(await fullHash(pool)).toBe(before.hash);
    for (const [index, result] of again.files.entries()) {
      const earlier = first.files[index]!;
      expect(result.firstRejects).toEqual(earlier.firstRejects);
      expect({ inserted: result.inserted, updated: result.updated, unchanged: result.unchanged }).toEqual({
        inserted: 0,
        updated: 0,
        unchanged: earlier.imported,
      });
    }
    expect(again.reference?.changed).toBe(0);
  });

  it('puts the world into PostgreSQL and preloads it into the engine in Redis', async () => {
    const world = await readWorldFile(fixture.worldPath);
    const [row] = await query<{ campuses: number; capacities: number; calendar: number }>(
      pool,
      `SELECT (SELECT count(*)::int FROM campuses) AS campuses, (SELECT count(*)::int FROM campus_capacity) AS capacities,
              (SELECT count(*)::int FROM registration_calendar) AS calendar`,
    );
    expect(row!.campuses).toBe(world.campuses.length);
    expect(row!.calendar).toBe(world.calendar.length);
    expect(first.redis?.campuses).toBe(world.campuses.length);
    for (const province of world.provinces) {
      const campuses = await testEngine.engine.campuses(province.code);
      expect(campuses.size).toBe(world.campuses.filter((c) => c.provinceCode === province.code).length);
      expect((await testEngine.engine.seatCounts(province.code)).length).toBeGreaterThan(0);
    }
  });
});

describe('a crash in the middle of a file', () => {
  it('leaves whole chunks only, and a re-run completes the import', async () => {
    const clean = await newDatabase();
    await importAll(clean, { files: [fixture.rosterPath] });
    const expectedHash = await rosterContentHash(clean);

    const pool = await newDatabase();
    const crashAt = 3;
    await expect(
      importAll(pool, {
        files: [fixture.rosterPath],
        loader: {
          beforeCommit: (chunkIndex) => {
            if (chunkIndex === crashAt) throw new Error('simulated crash before COMMIT');
          },
        },
      }),
    ).rejects.toThrow('simulated crash');
    // Chunks 0..2 are in, chunk 3 not at all: exactly the good rows of lines 2 .. 1 + 3 * 50.
    const lastCommittedLine = 1 + crashAt * LINES_PER_CHUNK;
    const rosterLines = (await readFile(fixture.rosterPath, 'utf8')).split('\n');
    const candidateOf = (line: number) => rosterLines[line - 1]!.replaceAll('"', '').split(',')[0]!;
    const expectedIds = new Set<string>();
    const rejected = new Set(fixture.rosterRejects.map((r) => r.line));
    for (let line = 2; line <= lastCommittedLine; line++) {
      if (!rejected.has(line) && line !== fixture.blankLine) expectedIds.add(candidateOf(line));
    }
    const stored = await query<{ candidate_id: string }>(pool, 'SELECT candidate_id FROM roster');
    expect(new Set(stored.map((row) => row.candidate_id))).toEqual(expectedIds);

    const rerun = await importAll(pool, { files: [fixture.rosterPath] });
    expect(linesAndReasons(rerun.files[0]!.firstRejects)).toEqual(fixture.rosterRejects);
    expect(rerun.files[0]!.unchanged).toBe(expectedIds.size);
    expect(await rosterContentHash(pool)).toBe(expectedHash);
  });
});
