/**
 * The world of the single-route scenarios (bench:gateway, the engine-vs-baseline comparison):
 * one province, `campuses` campuses with `capacityPerCampus` seats each, and `candidates` accounts
 * already logged in and bound to a candidate (R6), seeded directly — accounts and sessions in
 * PostgreSQL, bindings through the engine's own scripts — so that what is measured is the
 * reservation route, not the KDF or the binding. Candidate i is bound to account i, at campus
 * i mod campuses; the reference data and the roster go to PostgreSQL as well, because the writer
 * projects registrations and items onto them (foreign keys), as in a real deployment.
 */
import type { RedisClient } from '../../engine/redisClient.ts';
import { bind } from '../../engine/binding.ts';
import { HOUR_MS, type Engine } from '../../engine/engine.ts';
import type { Campus } from '../../engine/world.ts';
import { query, type Pool } from '../../db/pool.ts';
import { upsertReference } from '../../db/sql/reference.ts';
import { AuthKeys } from '../../gateway/auth/keys.ts';
import { Sessions } from '../../gateway/auth/sessions.ts';
import { FeeTable } from '../../gateway/fees.ts';

export interface ReserveWorldOptions {
  readonly redis: RedisClient;
  readonly engine: Engine;
  readonly db: Pool;
  readonly namespace: string;
  readonly candidates: number;
  readonly campuses: number;
  /** Seats per campus, e.g. {CET4: 1200}. */
  readonly capacityPerCampus: Readonly<Record<string, number>>;
  readonly now: number;
}

/** A stored hash no password matches: these accounts never log in (their sessions are issued). */
const UNUSABLE_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

export async function seedReserveWorld(
  options: ReserveWorldOptions,
): Promise<{ tokens: string[]; campusIds: string[] }> {
  const { engine, db, now } = options;
  const campusList: Campus[] = Array.from({ length: options.campuses }, (_, i) => {
    const campusId = `11${String(i + 1).padStart(4, '0')}1`;
    return {
      campusId,
      name: campusId,
      provinceCode: '11',
      schoolId: campusId.slice(0, 6),
      studentsMayTakeOralElsewhere: true,
      capacity: { ...options.capacityPerCampus },
      oralOpens: { ownSchoolAt: now - HOUR_MS, provinceWideAt: now - HOUR_MS },
    };
  });
  const campusIds = campusList.map((c) => c.campusId);
  const calendar = {
    provinceCode: '11',
    registrationOpensAt: now - HOUR_MS,
    registrationClosesAt: now + 48 * HOUR_MS,
  };
  const fees = { CET4: 30, CET6: 30, 'CET-SET4': 50, 'CET-SET6': 50 };
  await engine.setCalendar(calendar, now);
  await upsertReference(db, {
    provinces: [{ code: '11', name: '北京市' }],
    schools: campusList.map((c) => ({ schoolId: c.schoolId, name: c.schoolId, provinceCode: '11' })),
    campuses: campusList,
    calendar: [calendar],
    fees,
  });
  for (const campus of campusList) await engine.upsertCampus(campus, now);
  await new FeeTable(options.redis, options.namespace).set(fees);
  await db.query(
    `INSERT INTO roster (candidate_id, id_type, id_hmac, id_masked, name, name_normalised, province_code, school_id, campus_id, grade, eligible_subjects)
     SELECT g::text, 'RESIDENT_ID', sha256(convert_to('reserve' || g, 'UTF8')), '110105********002X', '考生', '考生', '11',
            '11' || lpad(((g - 1) % $2 + 1)::text, 4, '0'), '11' || lpad(((g - 1) % $2 + 1)::text, 4, '0') || '1', '2024', '{CET4}'
     FROM generate_series(1, $1::int) g`,
    [options.candidates, options.campuses],
  );

  const sessions = new Sessions({
    db,
    redis: options.redis,
    keys: new AuthKeys(options.namespace),
    lifetimeMs: 4 * HOUR_MS,
  });
  const tokens: string[] = [];
  for (let start = 0; start < options.candidates; start += 1000) {
    const count = Math.min(1000, options.candidates - start);
    const rows = await query<{ account_id: string }>(
      db,
      `INSERT INTO accounts (phone, password_hash, agreement_accepted_at)
       SELECT '138' || lpad(g::text, 8, '0'), $3, now() FROM generate_series($1::int, $2::int) g
       RETURNING account_id::text`,
      [start, start + count - 1, UNUSABLE_HASH],
    );
    const made = await Promise.all(
      rows.map(async ({ account_id: accountId }, i) => {
        const bound = await bind(engine, {
          accountId,
          provinceCode: '11',
          candidateId: String(start + i + 1),
          campusId: campusIds[(start + i) % campusIds.length]!,
          snapshot: {
            name: '考生',
            idType: 'RESIDENT_ID',
            idMasked: '110105********002X',
            schoolId: campusIds[(start + i) % campusIds.length]!.slice(0, 6),
            grade: '2024',
            eligibleSubjects: ['CET4'],
          },
          now,
        });
        if (!bound.ok) throw new Error(`bind: ${bound.code}`);
        return (await sessions.create(accountId)).token;
      }),
    );
    tokens.push(...made);
  }
  return { tokens, campusIds };
}
