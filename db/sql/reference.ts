/**
 * Upserts a world's reference data (provinces, schools, campuses, capacities, calendar, fees) into
 * PostgreSQL, the record the engine's Redis copy is loaded from (engine/loader.ts). One statement
 * per table with array parameters; ON CONFLICT … DO UPDATE … WHERE IS DISTINCT FROM, so running it
 * again with the same world changes no row (not even its xmin). Call it inside one transaction
 * (withTransaction) so a world is applied whole or not at all.
 *
 * It never deletes: a campus, or a subject of a campus, missing from the world stays (registration
 * items reference campus_capacity); closing a subject is a capacity of 0.
 */
import { execute, query } from '../pool.ts';
import type { Queryable } from '../pool.ts';
import type { CalendarEntry, Campus, Fees, Province, School, World } from '../../engine/world.ts';

export interface ReferenceCounts {
  readonly provinces: number;
  readonly schools: number;
  readonly campuses: number;
  readonly capacities: number;
  readonly calendar: number;
  readonly fees: number;
  /** Rows inserted or changed, all tables together (0 when the database already held this world). */
  readonly changed: number;
}

const UPSERT_PROVINCES = `
  INSERT INTO provinces AS p (province_code, name)
  SELECT * FROM unnest($1::text[], $2::text[])
  ON CONFLICT (province_code) DO UPDATE SET name = excluded.name
  WHERE p.name IS DISTINCT FROM excluded.name`;

const UPSERT_SCHOOLS = `
  INSERT INTO schools AS s (school_id, name, province_code)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
  ON CONFLICT (school_id) DO UPDATE SET name = excluded.name, province_code = excluded.province_code
  WHERE (s.name, s.province_code) IS DISTINCT FROM (excluded.name, excluded.province_code)`;

const UPSERT_CAMPUSES = `
  INSERT INTO campuses AS c (campus_id, name, province_code, school_id, students_may_take_oral_elsewhere,
                             oral_own_school_opens_at, oral_province_wide_opens_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[],
                       $6::timestamptz[], $7::timestamptz[])
  ON CONFLICT (campus_id) DO UPDATE SET
    name = excluded.name,
    province_code = excluded.province_code,
    school_id = excluded.school_id,
    students_may_take_oral_elsewhere = excluded.students_may_take_oral_elsewhere,
    oral_own_school_opens_at = excluded.oral_own_school_opens_at,
    oral_province_wide_opens_at = excluded.oral_province_wide_opens_at
  WHERE (c.name, c.province_code, c.school_id, c.students_may_take_oral_elsewhere,
         c.oral_own_school_opens_at, c.oral_province_wide_opens_at)
     IS DISTINCT FROM (excluded.name, excluded.province_code, excluded.school_id,
         excluded.students_may_take_oral_elsewhere, excluded.oral_own_school_opens_at,
         excluded.oral_province_wide_opens_at)`;

const UPSERT_CAPACITIES = `
  INSERT INTO campus_capacity AS cc (campus_id, subject, capacity)
  SELECT * FROM unnest($1::text[], $2::text[], $3::integer[])
  ON CONFLICT (campus_id, subject) DO UPDATE SET capacity = excluded.capacity
  WHERE cc.capacity IS DISTINCT FROM excluded.capacity`;

const INSERT_MISSING_CAMPUSES = `${UPSERT_CAMPUSES.slice(0, UPSERT_CAMPUSES.indexOf('ON CONFLICT'))}
  ON CONFLICT (campus_id) DO NOTHING`;

const INSERT_MISSING_CAPACITIES = `${UPSERT_CAPACITIES.slice(0, UPSERT_CAPACITIES.indexOf('ON CONFLICT'))}
  ON CONFLICT (campus_id, subject) DO NOTHING`;

const UPSERT_CALENDAR = `
  INSERT INTO registration_calendar AS rc (province_code, opens_at, closes_at)
  SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])
  ON CONFLICT (province_code) DO UPDATE SET opens_at = excluded.opens_at, closes_at = excluded.closes_at
  WHERE (rc.opens_at, rc.closes_at) IS DISTINCT FROM (excluded.opens_at, excluded.closes_at)`;

const UPSERT_FEES = `
  INSERT INTO fees AS f (subject, yuan)
  SELECT * FROM unnest($1::text[], $2::numeric[])
  ON CONFLICT (subject) DO UPDATE SET yuan = excluded.yuan
  WHERE f.yuan IS DISTINCT FROM excluded.yuan`;

/** ISO strings are exact to the millisecond, unlike float seconds. */
const iso = (ms: number): string => new Date(ms).toISOString();

export async function upsertReference(db: Queryable, world: World): Promise<ReferenceCounts> {
  let changed = 0;
  changed += await execute(db, UPSERT_PROVINCES, [
    world.provinces.map((p) => p.code),
    world.provinces.map((p) => p.name),
  ]);
  changed += await execute(db, UPSERT_SCHOOLS, [
    world.schools.map((s) => s.schoolId),
    world.schools.map((s) => s.name),
    world.schools.map((s) => s.provinceCode),
  ]);
  const campuses = await upsertCampuses(db, world.campuses);
  changed += campuses.changed;
  changed += await upsertCalendar(db, world.calendar);
  const fees = Object.entries(world.fees).filter(
    (entry): entry is [string, number] => entry[1] !== undefined,
  );
  changed += await upsertFees(db, world.fees);
  return {
    provinces: world.provinces.length,
    schools: world.schools.length,
    campuses: world.campuses.length,
    capacities: campuses.capacities,
    calendar: world.calendar.length,
    fees: fees.length,
    changed,
  };
}

// --- pieces, for the admin routes (gateway/admin/reference.ts) ------------------------------------

/** Campuses and their capacities; returns rows inserted or changed and capacity rows given. */
export function upsertCampuses(
  db: Queryable,
  campuses: readonly Campus[],
): Promise<{ changed: number; capacities: number }> {
  return writeCampuses(db, campuses, UPSERT_CAMPUSES, UPSERT_CAPACITIES);
}

/**
 * The campuses and capacity rows that do not exist yet, as given; existing rows are left as they
 * are (the admin route commits these before the engine's copy, so that a hold's event finds them).
 */
export async function insertMissingCampuses(db: Queryable, campuses: readonly Campus[]): Promise<number> {
  return (await writeCampuses(db, campuses, INSERT_MISSING_CAMPUSES, INSERT_MISSING_CAPACITIES)).changed;
}

/** The campus rows and their capacity rows, as columns, through the two statements given. */
async function writeCampuses(
  db: Queryable,
  campuses: readonly Campus[],
  campusSql: string,
  capacitySql: string,
): Promise<{ changed: number; capacities: number }> {
  let changed = await execute(db, campusSql, [
    campuses.map((c) => c.campusId),
    campuses.map((c) => c.name),
    campuses.map((c) => c.provinceCode),
    campuses.map((c) => c.schoolId),
    campuses.map((c) => c.studentsMayTakeOralElsewhere),
    campuses.map((c) => iso(c.oralOpens.ownSchoolAt)),
    campuses.map((c) => (c.oralOpens.provinceWideAt === null ? null : iso(c.oralOpens.provinceWideAt))),
  ]);
  const capacities = campuses.flatMap((c) =>
    Object.entries(c.capacity).map(([subject, seats]) => ({ campusId: c.campusId, subject, seats })),
  );
  changed += await execute(db, capacitySql, [
    capacities.map((row) => row.campusId),
    capacities.map((row) => row.subject),
    capacities.map((row) => row.seats),
  ]);
  return { changed, capacities: capacities.length };
}

export async function upsertCalendar(db: Queryable, entries: readonly CalendarEntry[]): Promise<number> {
  return execute(db, UPSERT_CALENDAR, [
    entries.map((entry) => entry.provinceCode),
    entries.map((entry) => iso(entry.registrationOpensAt)),
    entries.map((entry) => iso(entry.registrationClosesAt)),
  ]);
}

export async function upsertFees(db: Queryable, fees: Fees): Promise<number> {
  const entries = Object.entries(fees).filter((entry): entry is [string, number] => entry[1] !== undefined);
  return execute(db, UPSERT_FEES, [entries.map(([subject]) => subject), entries.map(([, yuan]) => yuan)]);
}

/**
 * Provinces and schools a campus names, created when missing and never changed when present
 * (a name set by a world import wins over the placeholder the admin routes give).
 */
export async function ensureProvinces(db: Queryable, provinces: readonly Province[]): Promise<number> {
  return execute(
    db,
    `INSERT INTO provinces (province_code, name) SELECT * FROM unnest($1::text[], $2::text[])
     ON CONFLICT (province_code) DO NOTHING`,
    [provinces.map((p) => p.code), provinces.map((p) => p.name)],
  );
}

export async function ensureSchools(db: Queryable, schools: readonly School[]): Promise<number> {
  return execute(
    db,
    `INSERT INTO schools (school_id, name, province_code) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
     ON CONFLICT (school_id) DO NOTHING`,
    [schools.map((s) => s.schoolId), schools.map((s) => s.name), schools.map((s) => s.provinceCode)],
  );
}

/** Province and school of the campuses and schools that exist among the given ids. */
export async function readPlacements(
  db: Queryable,
  campusIds: readonly string[],
  schoolIds: readonly string[],
): Promise<{
  campuses: Map<string, { provinceCode: string; schoolId: string }>;
  schools: Map<string, string>;
}> {
  const [campusRows, schoolRows] = await Promise.all([
    query<{ campus_id: string; province_code: string; school_id: string }>(
      db,
      'SELECT campus_id, province_code, school_id FROM campuses WHERE campus_id = ANY($1::text[])',
      [campusIds],
    ),
    query<{ school_id: string; province_code: string }>(
      db,
      'SELECT school_id, province_code FROM schools WHERE school_id = ANY($1::text[])',
      [schoolIds],
    ),
  ]);
  return {
    campuses: new Map(
      campusRows.map((r) => [r.campus_id, { provinceCode: r.province_code, schoolId: r.school_id }]),
    ),
    schools: new Map(schoolRows.map((r) => [r.school_id, r.province_code])),
  };
}
