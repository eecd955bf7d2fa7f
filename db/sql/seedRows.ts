/**
 * Puts a generated world (loadtest/seed) into PostgreSQL for tests, benchmarks and the load-test
 * harness: reference rows, roster and CET4 scores, with id_hmac / id_masked / name_normalised
 * computed the way the eligibility query expects (engine/eligibility.ts normalisers,
 * engine/idCrypto.ts HMAC). A plain batched INSERT … SELECT FROM unnest(…) with ON CONFLICT DO
 * NOTHING: seeding, not the operators' roster importer (roster/, COPY, rejects).
 */
import { normaliseIdNumber, normaliseName } from '../../engine/eligibility.ts';
import { idHmac, type IdKeys } from '../../engine/idCrypto.ts';
import { maskIdNumber } from '../../engine/idNumber.ts';
import type { Cet4Score, RosterEntry, World } from '../../engine/world.ts';
import { execute, type Queryable } from '../pool.ts';

const ROWS_PER_STATEMENT = 5_000;

function* chunks<T>(rows: Iterable<T>, size = ROWS_PER_STATEMENT): Generator<T[]> {
  let chunk: T[] = [];
  for (const row of rows) {
    chunk.push(row);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export async function insertReference(
  db: Queryable,
  world: Pick<World, 'provinces' | 'schools' | 'campuses'>,
): Promise<void> {
  await execute(
    db,
    `INSERT INTO provinces (province_code, name) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`,
    [world.provinces.map((p) => p.code), world.provinces.map((p) => p.name)],
  );
  for (const part of chunks(world.schools)) {
    await execute(
      db,
      `INSERT INTO schools (school_id, name, province_code)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
      [part.map((s) => s.schoolId), part.map((s) => s.name), part.map((s) => s.provinceCode)],
    );
  }
  for (const part of chunks(world.campuses)) {
    await execute(
      db,
      `INSERT INTO campuses (campus_id, name, province_code, school_id, students_may_take_oral_elsewhere,
                             oral_own_school_opens_at, oral_province_wide_opens_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::timestamptz[], $7::timestamptz[])
       ON CONFLICT DO NOTHING`,
      [
        part.map((c) => c.campusId),
        part.map((c) => c.name),
        part.map((c) => c.provinceCode),
        part.map((c) => c.schoolId),
        part.map((c) => c.studentsMayTakeOralElsewhere),
        part.map((c) => iso(c.oralOpens.ownSchoolAt)),
        part.map((c) => (c.oralOpens.provinceWideAt === null ? null : iso(c.oralOpens.provinceWideAt))),
      ],
    );
    const capacity = part.flatMap((c) =>
      Object.entries(c.capacity).map(([subject, seats]) => ({
        campusId: c.campusId,
        subject,
        seats: seats ?? 0,
      })),
    );
    await execute(
      db,
      `INSERT INTO campus_capacity (campus_id, subject, capacity)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) ON CONFLICT DO NOTHING`,
      [capacity.map((c) => c.campusId), capacity.map((c) => c.subject), capacity.map((c) => c.seats)],
    );
  }
}

const hmacHex = (keys: IdKeys, idNumber: string): string =>
  idHmac(keys, normaliseIdNumber(idNumber)).toString('hex');

export async function insertRoster(
  db: Queryable,
  keys: IdKeys,
  entries: Iterable<RosterEntry>,
): Promise<number> {
  let count = 0;
  for (const part of chunks(entries)) {
    count += await execute(
      db,
      `INSERT INTO roster (candidate_id, id_type, id_hmac, id_masked, name, name_normalised, province_code,
                           school_id, campus_id, grade, eligible_subjects, cet6_barred)
       SELECT r.candidate_id, r.id_type, decode(r.id_hmac, 'hex'), r.id_masked, r.name, r.name_normalised,
              r.province_code, r.school_id, r.campus_id, r.grade, string_to_array(r.subjects, ','), r.barred
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                   $9::text[], $10::text[], $11::text[], $12::boolean[])
         AS r(candidate_id, id_type, id_hmac, id_masked, name, name_normalised, province_code, school_id,
              campus_id, grade, subjects, barred)
       ON CONFLICT DO NOTHING`,
      [
        part.map((e) => e.candidateId),
        part.map((e) => e.idType),
        part.map((e) => hmacHex(keys, e.idNumber)),
        part.map((e) => maskIdNumber(normaliseIdNumber(e.idNumber))),
        part.map((e) => e.name),
        part.map((e) => normaliseName(e.name)),
        part.map((e) => e.provinceCode),
        part.map((e) => e.schoolId),
        part.map((e) => e.campusId),
        part.map((e) => e.grade),
        part.map((e) => e.eligibleSubjects.join(',')),
        part.map((e) => e.cet6Barred),
      ],
    );
  }
  return count;
}

export async function insertCet4Scores(
  db: Queryable,
  keys: IdKeys,
  scores: Iterable<Cet4Score>,
): Promise<number> {
  let count = 0;
  for (const part of chunks(scores)) {
    count += await execute(
      db,
      `INSERT INTO cet4_scores (ticket_number, id_hmac, name, name_normalised, score, year)
       SELECT s.ticket_number, decode(s.id_hmac, 'hex'), s.name, s.name_normalised, s.score, s.year
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[])
         AS s(ticket_number, id_hmac, name, name_normalised, score, year)
       ON CONFLICT DO NOTHING`,
      [
        part.map((s) => s.ticketNumber),
        part.map((s) => hmacHex(keys, s.idNumber)),
        part.map((s) => s.name),
        part.map((s) => normaliseName(s.name)),
        part.map((s) => s.score),
        part.map((s) => s.year),
      ],
    );
  }
  return count;
}
