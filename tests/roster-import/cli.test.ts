/**
 * `npm run roster:import` as a process: exit codes (0 with bad rows reported, 1 for a file that
 * cannot be read, 2 for missing configuration), the summary line, the first rejects on the
 * terminal, and the world found beside the CSV.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../db/migrate.ts';
import { createPool, query } from '../../db/pool.ts';
import type { Pool } from '../../db/pool.ts';
import { redisUrl } from '../support/env.ts';
import { freshDatabase, type FreshDatabase } from '../support/pg.ts';
import { buildFixture, type Fixture } from './fixture.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const silent = { error() {}, warn() {}, info() {} };

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/roster-import.ts', ...args],
      { cwd: ROOT, env, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let fixture: Fixture;
let db: FreshDatabase;
let pool: Pool;
let reports: string;
let baseEnv: NodeJS.ProcessEnv;
const namespace = `t${randomBytes(5).toString('hex')}`;

beforeAll(async () => {
  fixture = await buildFixture();
  reports = await mkdtemp(join(tmpdir(), 'roster-cli-'));
  db = await freshDatabase();
  pool = createPool(db.url, { max: 2, logger: silent });
  await migrate(pool);
  baseEnv = { ...process.env };
  for (const name of ['ID_HMAC_KEY', 'ID_ENCRYPTION_KEY', 'DATABASE_URL', 'REDIS_URL']) delete baseEnv[name];
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
  if (fixture) await rm(fixture.dir, { recursive: true, force: true });
  if (reports) await rm(reports, { recursive: true, force: true });
});

describe('npm run roster:import', () => {
  it(
    'imports, prints the first rejects and a summary line, and exits 0 despite bad rows',
    { timeout: 180_000 },
    async () => {
      const outcome = await cli(
        [
          fixture.rosterPath,
          '--dev-keys',
          '--no-progress',
          '--namespace',
          namespace,
          '--rejects-dir',
          reports,
        ],
        { ...baseEnv, DATABASE_URL: db.url, REDIS_URL: redisUrl() },
      );
      expect(outcome.stderr).toContain('development ID keys');
      expect(outcome.code).toBe(0);
      const kept = fixture.rosterRows - fixture.rosterRejects.length;
      expect(outcome.stdout).toMatch(/^world .*world\.json: PostgreSQL \d+ provinces/m);
      expect(outcome.stdout).toMatch(
        new RegExp(
          `^roster\\.csv \\(roster\\): read ${fixture.rosterRows}, imported ${kept} \\(new ${kept}, changed 0, ` +
            `unchanged 0\\), rejected ${fixture.rosterRejects.length}, [\\d.]+ s, [\\d,]+ rows/s \\(PostgreSQL busy \\d+ %\\)$`,
          'm',
        ),
      );
      for (const { line, reason } of fixture.rosterRejects)
        expect(outcome.stdout).toContain(`line ${line}: ${reason}`);
      const report = await readFile(join(reports, 'roster.csv.rejects.csv'), 'utf8');
      expect(report.trimEnd().split('\n')).toHaveLength(1 + fixture.rosterRejects.length);
      const [row] = await query<{ n: number }>(pool, 'SELECT count(*)::int AS n FROM roster');
      expect(row!.n).toBe(kept);
    },
  );

  it(
    'exits 1 when a file cannot be read or is neither a roster nor a score file, importing nothing',
    { timeout: 180_000 },
    async () => {
      const env = { ...baseEnv, DATABASE_URL: db.url, REDIS_URL: redisUrl() };
      const missing = await cli([join(reports, 'nope.csv'), fixture.scoresPath, '--dev-keys'], env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/nope\.csv: cannot be read/);
      const other = join(reports, 'other.csv');
      await writeFile(other, 'a,b,c\n1,2,3\n');
      const unknown = await cli([other, '--dev-keys'], env);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/neither a roster .* nor a CET4 score file/);
      const [row] = await query<{ n: number }>(pool, 'SELECT count(*)::int AS n FROM cet4_scores');
      expect(row!.n).toBe(0);
    },
  );

  it(
    'exits 2 with a clear message when DATABASE_URL / REDIS_URL are missing and --stack is not given',
    { timeout: 180_000 },
    async () => {
      const outcome = await cli([fixture.rosterPath, '--dev-keys'], baseEnv);
      expect(outcome.code).toBe(2);
      expect(outcome.stderr).toMatch(/DATABASE_URL and REDIS_URL are not set.*--stack/s);
      const noKeys = await cli([fixture.rosterPath], {
        ...baseEnv,
        DATABASE_URL: db.url,
        REDIS_URL: redisUrl(),
      });
      expect(noKeys.code).toBe(2);
      expect(noKeys.stderr).toMatch(/ID_HMAC_KEY and ID_ENCRYPTION_KEY must be set/);
    },
  );
});
