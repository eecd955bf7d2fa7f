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
import { Sessions } from '../../gateway/auth/sessions.ts';
import { FeeTable } from '../../gateway/fees.ts';
import { generateWorld } from '../seed/generate.ts';

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
  readonly count: number;
  candidate(index: number): SurgeCandidate;
  /** Seats of the province: campusId|subject → capacity. */
  readonly capacity: ReadonlyMap<string, number>;
}

export const phoneOf = (index: number): string => `139${String(index).padStart(8, '0')}`;

export async function prepareSurgeWorld(options: SurgeWorldOptions): Promise<SurgeWorld> {
  const log = options.log ?? (() => undefined);
  const generated = generateWorld({ candidates: options.candidates, provinces: 1, seed: options.seed });
  const opensAt = options.opensAtMs;
  const base = generated.world;
  const world: World = {
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
  const provinceCode = world.provinces[0]!.code;

  let started = performance.now();
  await upsertReference(options.db, world);
  await loadWorld(options.engine, world, opensAt);
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
  const accountIds: string[] = new Array<string>(generated.candidateCount);
  const chunk = 10_000;
  for (let first = 0; first < generated.candidateCount; first += chunk) {
    const last = Math.min(generated.candidateCount, first + chunk) - 1;
    const rows = await query<{ account_id: string; i: number }>(
      options.db,
      `INSERT INTO accounts (phone, password_hash)
       SELECT '139' || lpad(g::text, 8, '0'), $3 FROM generate_series($1::int, $2::int) g
       ON CONFLICT DO NOTHING
       RETURNING account_id::text, substr(phone, 4)::int AS i`,
      [first, last, passwordHash],
    );
    if (rows.length !== last - first + 1) {
      throw new Error('accounts already exist for this surge: run it on a fresh database or key namespace');
    }
    for (const row of rows) accountIds[row.i] = row.account_id;
  }
  const tokens: (string | null)[] = new Array<string | null>(generated.candidateCount).fill(null);
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
    for (let first = 0; first < generated.candidateCount; first += 5_000) {
      const ids = accountIds.slice(first, Math.min(generated.candidateCount, first + 5_000));
      const made = await sessions.createMany(ids);
      made.forEach((session, k) => {
        tokens[first + k] = session.token;
      });
    }
  }
  log(
    `accounts: ${generated.candidateCount}${options.preseededSessions ? ' with sessions' : ''} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

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
    capacity,
    candidate: (index) => {
      const seeded = generated.candidate(index + 1);
      const best = [...seeded.scores].sort((a, b) => b.score - a.score)[0];
      return {
        entry: seeded.entry,
        ticket: best?.ticketNumber ?? null,
        phone: phoneOf(index),
        accountId: accountIds[index]!,
        token: tokens[index] ?? null,
      };
    },
  };
}
