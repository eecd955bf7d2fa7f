/**
 * The world a surge runs in: one province of a generated roster (loadtest/seed, deterministic), put
 * straight into PostgreSQL (reference data, roster, CET4 scores, accounts) and Redis (calendar,
 * campuses, fees), the way an operator's imports would have left them before the opening day.
 * Every candidate has an account with a bound phone and one known password (hashed once with the
 * gateway's own KDF parameters, so each HTTP login still costs a full argon2id verification).
 * With `preseededSessions`, sessions are issued directly as well: the candidates logged in before
 * the opening and wait on the page (P3 on a box whose KDF does ~150 logins/s).
 *
 * The calendar is moved so that registration opens at `opensAtMs` (engine time) and every campus's
 * oral seats open then too, to own students and province-wide alike (R20): the surge races for
 * everything at once. Capacities are the generator's (written seats for everyone, oral seats for
 * 8–18 % of a campus's candidates), so the oral seats are what sells out.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { RedisClient } from '../../engine/redisClient.ts';
import type { Engine } from '../../engine/engine.ts';
import { idKeysFromEnv } from '../../config/index.ts';
import { loadWorld } from '../../engine/loader.ts';
import type { RosterEntry, World } from '../../engine/world.ts';
import { execute, query, type Pool } from '../../db/pool.ts';
import { upsertReference } from '../../db/sql/reference.ts';
import { insertCet4Scores, insertRoster } from '../../db/sql/seedRows.ts';
import { AuthKeys } from '../../gateway/auth/keys.ts';
import { hashPassword, type KdfRunner } from '../../gateway/auth/passwords.ts';
import passwordWorker, { type PasswordTask } from '../../gateway/workers/password.worker.ts';
import { Sessions, TOKEN_BYTES } from '../../gateway/auth/sessions.ts';
import { FeeTable } from '../../gateway/fees.ts';
import { generateWorld, type GeneratedWorld } from '../seed/generate.ts';
import { globalIndex, shardSize, WHOLE_RUN, type Shard } from '../shard.ts';

export const SURGE_PASSWORD = 'opening-day-2026';
const REGISTRATION_WINDOW_MS = 7 * 24 * 3_600_000;

export interface SurgeWorldOptions {
  readonly redis: RedisClient;
  readonly engine: Engine;
  readonly db: Pool;
  readonly namespace: string;
  readonly candidates: number;
  readonly seed: number;
  /** Engine time at which registration (and every oral campus) opens. */
  readonly opensAtMs: number;
  readonly preseededSessions: boolean;
  /**
   * The key preseeded sessions' secrets are derived from (HMAC of the account id): shard processes
   * given it rebuild a candidate's token when it starts instead of holding a million of them.
   * Random when not given.
   */
  readonly sessionKey?: Buffer;
  /** Session lifetime for preseeded sessions. */
  readonly sessionLifetimeMs?: number;
  readonly log?: (line: string) => void;
}

export interface SurgeCandidate {
  readonly entry: RosterEntry;
  /** The account's login (its bound phone). */
  readonly phone: string;
  readonly accountId: string;
  /** Issued before the surge when sessions are preseeded. */
  readonly token: string | null;
  /** The ticket of the candidate's best CET4 record (for a CET6 review, R10), if any. */
  readonly ticket: string | null;
}

export interface SurgeWorld {
  readonly world: World;
  readonly provinceCode: string;
  /** Candidates of the whole run. */
  readonly count: number;
  /** The slice this process walks (the whole run unless sharded) and its size. */
  readonly shard: Shard;
  readonly shardCount: number;
  /** Candidate `index` of the whole run (0-based), built when asked for (nothing held per candidate). */
  candidate(index: number): SurgeCandidate;
  /** Seats of the province: campusId|subject → capacity. */
  readonly capacity: ReadonlyMap<string, number>;
}

export const phoneOf = (index: number): string => `139${String(index).padStart(8, '0')}`;

/** The generated world with registration (and every campus's oral seats) opening at `opensAt`. */
function shiftedWorld(base: World, opensAt: number): World {
  return {
    ...base,
    calendar: base.calendar.map((c) => ({
      ...c,
      registrationOpensAt: opensAt,
      registrationClosesAt: opensAt + REGISTRATION_WINDOW_MS,
    })),
    campuses: base.campuses.map((c) => ({
      ...c,
      oralOpens: {
        ownSchoolAt: opensAt,
        provinceWideAt: c.oralOpens.provinceWideAt === null ? null : opensAt,
      },
    })),
  };
}

export async function prepareSurgeWorld(options: SurgeWorldOptions): Promise<SurgeWorld> {
  const log = options.log ?? (() => undefined);
  const generated = generateWorld({ candidates: options.candidates, provinces: 1, seed: options.seed });
  const world = shiftedWorld(generated.world, options.opensAtMs);
  const sessionKey = options.sessionKey ?? randomBytes(32);
  let started = performance.now();
  await upsertReference(options.db, world);
  await loadWorld(options.engine, world, options.opensAtMs);
  await new FeeTable(options.redis, options.namespace).set(world.fees);
  const keys = idKeysFromEnv({ allowDevelopmentKeys: true });
  await insertRoster(options.db, keys, generated.roster());
  await insertCet4Scores(options.db, keys, generated.cet4Scores());
  log(
    `roster: ${generated.candidateCount} candidates in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  started = performance.now();
  // the gateway's own KDF task, run inline once: every account shares this hash (one salt), and
  // each HTTP login still verifies it in full on the gateway's pool
  const inline: KdfRunner = { run: async (_kind, task) => passwordWorker(task as PasswordTask) as never };
  const passwordHash = await hashPassword(inline, SURGE_PASSWORD);
  const chunk = 10_000;
  for (let first = 0; first < generated.candidateCount; first += chunk) {
    const last = Math.min(generated.candidateCount, first + chunk) - 1;
    const made = await query<{ n: string }>(
      options.db,
      `WITH made AS (
         INSERT INTO accounts (phone, password_hash)
         SELECT '139' || lpad(g::text, 8, '0'), $3 FROM generate_series($1::int, $2::int) g
         ON CONFLICT DO NOTHING RETURNING 1)
       SELECT count(*)::text AS n FROM made`,
      [first, last, passwordHash],
    );
    if (Number(made[0]?.n) !== last - first + 1) {
      throw new Error('accounts already exist for this surge: run it on a fresh database or key namespace');
    }
  }
  if (options.preseededSessions) {
    // logged in before the opening, and the agreement accepted then too (R2)
    await execute(options.db, 'UPDATE accounts SET agreement_accepted_at = now() WHERE phone LIKE $1', [
      '139%',
    ]);
    const sessions = new Sessions({
      db: options.db,
      redis: options.redis,
      keys: new AuthKeys(options.namespace),
      lifetimeMs: options.sessionLifetimeMs ?? 4 * 3_600_000,
    });
    const secretOf = sessionSecret(sessionKey);
    await forEachAccountChunk(options.db, WHOLE_RUN, 5_000, async (rows) => {
      await sessions.createMany(
        rows.map((row) => row.account_id),
        secretOf,
      );
    });
  }
  log(
    `accounts: ${generated.candidateCount}${options.preseededSessions ? ' with sessions' : ''} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return attachWorld({ ...options, sessionKey }, generated, world, WHOLE_RUN);
}

/** HMAC-SHA256(key, account id): a preseeded session's secret (TOKEN_BYTES). */
function sessionSecret(key: Buffer): (accountId: string) => Buffer {
  return (accountId) => createHmac('sha256', key).update(accountId).digest().subarray(0, TOKEN_BYTES);
}

/** The surge's accounts of one slice, in chunks (account id, 0-based index of the candidate). */
async function forEachAccountChunk(
  db: Pool,
  shard: Shard,
  size: number,
  each: (rows: readonly { account_id: string; i: number }[]) => Promise<void>,
): Promise<void> {
  // by phone, which the accounts' unique index orders: '139' and 8 digits, so phone order is index order
  let after = '139';
  for (;;) {
    const rows = await query<{ account_id: string; i: number; phone: string }>(
      db,
      `SELECT account_id::text, substr(phone, 4)::int AS i, phone FROM accounts
       WHERE phone > $1 AND phone <= '13999999999' AND substr(phone, 4)::int % $2 = $3
       ORDER BY phone LIMIT $4`,
      [after, shard.count, shard.index - 1, size],
    );
    if (rows.length === 0) return;
    await each(rows);
    after = rows[rows.length - 1]!.phone;
  }
}

/**
 * The world as a shard process sees it: the same generated world (deterministic for the seed) and
 * its slice's account ids, read from PostgreSQL into one Float64Array (8 bytes a candidate); the
 * stores were prepared by the coordinator (`prepareSurgeWorld`).
 */
export async function attachSurgeWorld(
  options: Pick<SurgeWorldOptions, 'db' | 'candidates' | 'seed' | 'opensAtMs' | 'preseededSessions'> & {
    readonly sessionKey: Buffer;
  },
  shard: Shard,
): Promise<SurgeWorld> {
  const generated = generateWorld({ candidates: options.candidates, provinces: 1, seed: options.seed });
  return attachWorld(options, generated, shiftedWorld(generated.world, options.opensAtMs), shard);
}

async function attachWorld(
  options: Pick<SurgeWorldOptions, 'db' | 'preseededSessions'> & { readonly sessionKey: Buffer },
  generated: GeneratedWorld,
  world: World,
  shard: Shard,
): Promise<SurgeWorld> {
  const size = shardSize(generated.candidateCount, shard);
  const accountIds = new Float64Array(size);
  let found = 0;
  await forEachAccountChunk(options.db, shard, 50_000, async (rows) => {
    for (const row of rows) {
      accountIds[(row.i - (shard.index - 1)) / shard.count] = Number(row.account_id);
      found += 1;
    }
  });
  if (found !== size)
    throw new Error(`the surge's accounts: found ${found} of shard ${shard.index}/${shard.count}'s ${size}`);
  const secretOf = sessionSecret(options.sessionKey);
  const provinceCode = world.provinces[0]!.code;
  const capacity = new Map<string, number>();
  for (const campus of world.campuses) {
    for (const [subject, seats] of Object.entries(campus.capacity)) {
      if (seats) capacity.set(`${campus.campusId}|${subject}`, seats);
    }
  }
  return {
    world,
    provinceCode,
    count: generated.candidateCount,
    shard,
    shardCount: size,
    capacity,
    candidate: (index) => {
      const j = (index - (shard.index - 1)) / shard.count;
      if (!Number.isInteger(j) || j < 0 || j >= size) {
        throw new RangeError(`candidate ${index} is not in shard ${shard.index}/${shard.count}`);
      }
      const seeded = generated.candidate(index + 1);
      const best = [...seeded.scores].sort((a, b) => b.score - a.score)[0];
      const accountId = String(accountIds[j]);
      return {
        entry: seeded.entry,
        ticket: best?.ticketNumber ?? null,
        phone: phoneOf(index),
        accountId,
        token: options.preseededSessions ? `${accountId}.${secretOf(accountId).toString('base64url')}` : null,
      };
    },
  };
}

/** Ids of the shard's candidates in arrival order (the whole run's indices). */
export function* shardIndices(world: SurgeWorld): Generator<number> {
  for (let j = 0; j < world.shardCount; j++) yield globalIndex(j, world.shard);
}
