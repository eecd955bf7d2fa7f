/**
 * Reference data operators set (API.md "Administration"): campuses with capacities and oral
 * opening times, the registration calendar, fees. Each goes to both stores: PostgreSQL (the
 * record, db/sql/reference.ts) and the engine's live copy in Redis (upsertCampus, setCalendar,
 * the fee hash), inside one PostgreSQL transaction that holds an advisory lock, so two admin calls
 * never interleave their writes and leave the stores disagreeing. The engine is written first and
 * decides what lands (CAPACITY_BELOW_TAKEN refuses the row); PostgreSQL then records exactly the
 * rows the engine took. Should the commit fail after the engine took a row, the call answers 500
 * and re-running the same (idempotent) PUT brings PostgreSQL level.
 *
 * Provinces and schools that campuses name are created when missing (a province gets its name
 * from the seed's table, a school its id as a placeholder name) and never renamed here. A campus
 * keeps its province (its seats live on that province's Redis shard) and its school (roster rows
 * name both): a row that would move one is rejected.
 */
import { withTransaction, type PoolClient } from '../../db/pool.ts';
import {
  ensureProvinces,
  ensureSchools,
  readPlacements,
  upsertCalendar,
  insertMissingCampuses,
  upsertCampuses,
  upsertFees,
} from '../../db/sql/reference.ts';
import { PROVINCE_CODES, PROVINCES } from '../../engine/provinces.ts';
import { ALL_SUBJECTS, type Subject } from '../../engine/subjects.ts';
import type { CalendarEntry, Campus, Fees, Province } from '../../engine/world.ts';
import { ApiError } from '../errors.ts';
import type { TOptional } from '@sinclair/typebox';
import { strictObject, Type, type TSchema } from '../http/schemas.ts';
import type { Services } from '../services.ts';
import { BulkOutcome, checkRow, FirstRowWins, Instant, instantMs, type BulkAnswer } from './rows.ts';

/** Same shape as the roster importer's school and campus ids, so roster rows can name them. */
const REFERENCE_ID = '^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$';
const ProvinceCode = Type.Unsafe<string>({ type: 'string', enum: [...PROVINCE_CODES] });
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

const subjectFields = <S extends TSchema>(value: () => S) =>
  Object.fromEntries(ALL_SUBJECTS.map((subject) => [subject, Type.Optional(value())])) as unknown as Record<
    Subject,
    TOptional<S>
  >;

export const CampusRow = strictObject({
  campusId: Type.String({ pattern: REFERENCE_ID }),
  name: Type.String({ minLength: 1, maxLength: 128 }),
  provinceCode: ProvinceCode,
  schoolId: Type.String({ pattern: REFERENCE_ID }),
  studentsMayTakeOralElsewhere: Type.Boolean(),
  capacity: strictObject(subjectFields(() => Type.Integer({ minimum: 0, maximum: 1_000_000 }))),
  oralOpens: strictObject({
    ownSchoolAt: Instant,
    /** Absent or null: never opened to the rest of the province (R20). */
    provinceWideAt: Type.Optional(Type.Union([Instant, Type.Null()])),
  }),
});

export const CalendarRow = strictObject({
  provinceCode: ProvinceCode,
  registrationOpensAt: Instant,
  registrationClosesAt: Instant,
});

/** Yuan per subject (numeric(8, 2) in PostgreSQL); a subject left out keeps its fee. */
export const FeesBody = strictObject(
  subjectFields(() => Type.Number({ minimum: 0, maximum: 999_999.99 })),
  {
    description: 'Fee per subject in yuan, at most two decimals: {"CET4": 30, "CET-SET4": 50}',
  },
);

const PROVINCE_NAMES = new Map<string, string>(PROVINCES.map((p) => [p.code, p.name]));
const provinceOf = (code: string): Province => ({ code, name: PROVINCE_NAMES.get(code) ?? code });

/** Serialises admin writes to reference data (both stores) across gateways. */
async function lockReference(tx: PoolClient): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext('cet:admin:reference'))`);
}

interface Indexed<T> {
  readonly index: number;
  readonly value: T;
}

// ---------------------------------------------------------------------------------- campuses

export async function putCampuses(
  services: Services,
  rows: readonly unknown[],
  now: number,
): Promise<BulkAnswer> {
  const outcome = new BulkOutcome();
  const firstRow = new FirstRowWins();
  const valid: Indexed<Campus>[] = [];
  rows.forEach((row, index) => {
    const checked = checkRow(CampusRow, row);
    if (!checked.ok) return outcome.invalid(index, checked.message);
    const r = checked.value;
    if (r.name.trim() === '' || CONTROL.test(r.name)) {
      return outcome.invalid(index, '/name: must not be blank or hold control characters');
    }
    const ownSchoolAt = instantMs(r.oralOpens.ownSchoolAt);
    const wide = r.oralOpens.provinceWideAt ?? null;
    const provinceWideAt = wide === null ? null : instantMs(wide);
    if (ownSchoolAt === null || (wide !== null && provinceWideAt === null)) {
      return outcome.invalid(index, '/oralOpens: not a real date-time');
    }
    const earlier = firstRow.claim(r.campusId, index);
    if (earlier !== undefined) return outcome.invalid(index, `/campusId: the same campus as row ${earlier}`);
    valid.push({
      index,
      value: {
        campusId: r.campusId,
        name: r.name.trim(),
        provinceCode: r.provinceCode,
        schoolId: r.schoolId,
        studentsMayTakeOralElsewhere: r.studentsMayTakeOralElsewhere,
        capacity: r.capacity,
        oralOpens: { ownSchoolAt, provinceWideAt },
      },
    });
  });
  if (valid.length === 0) return outcome.answer(0);

  // first, committed: the placement checks and every campus and capacity row that is new, so that
  // PostgreSQL holds what a hold's event will reference before Redis lets anyone hold it (issue 16
  // item 15: a hold between the Redis upsert and the commit was dead-lettered on a foreign key)
  const placed = await withTransaction(services.db, async (tx) => {
    await lockReference(tx);
    const placements = await readPlacements(
      tx,
      valid.map((row) => row.value.campusId),
      valid.map((row) => row.value.schoolId),
    );
    const kept = valid.filter(({ index, value }) => {
      const schoolProvince = placements.schools.get(value.schoolId);
      if (schoolProvince !== undefined && schoolProvince !== value.provinceCode) {
        outcome.invalid(index, `/schoolId: the school belongs to province ${schoolProvince}`);
        return false;
      }
      const existing = placements.campuses.get(value.campusId);
      if (existing && existing.provinceCode !== value.provinceCode) {
        outcome.invalid(
          index,
          `/provinceCode: the campus belongs to province ${existing.provinceCode}; it cannot move`,
        );
        return false;
      }
      if (existing && existing.schoolId !== value.schoolId) {
        outcome.invalid(
          index,
          `/schoolId: the campus belongs to school ${existing.schoolId}; it cannot move`,
        );
        return false;
      }
      return true;
    });
    const values = kept.map(({ value }) => value);
    if (values.length > 0) {
      await ensureProvinces(tx, [...new Set(values.map((c) => c.provinceCode))].map(provinceOf));
      await ensureSchools(
        tx,
        values.map((c) => ({ schoolId: c.schoolId, name: c.schoolId, provinceCode: c.provinceCode })),
      );
      await insertMissingCampuses(tx, values);
    }
    return kept;
  });
  if (placed.length === 0) return outcome.answer(0);
  // then the engine's live copy (it refuses a capacity below the seats taken) and the changes of
  // existing rows, under the same lock
  const landed = await withTransaction(services.db, async (tx) => {
    await lockReference(tx);
    const taken = await Promise.all(
      placed.map(async ({ index, value }) => {
        const answer = await services.engine.upsertCampus(value, now);
        if (answer.ok) return value;
        const d = answer.details ?? {};
        outcome.reject(
          index,
          answer.code,
          `capacity of ${String(d.subject)} cannot go below the ${String(d.used)} seats taken (asked ${String(d.capacity)})`,
        );
        return null;
      }),
    );
    const accepted = taken.filter((campus): campus is Campus => campus !== null);
    if (accepted.length === 0) return 0;
    await upsertCampuses(tx, accepted);
    return accepted.length;
  });
  return outcome.answer(landed);
}

// ---------------------------------------------------------------------------------- calendar

export async function putCalendar(
  services: Services,
  rows: readonly unknown[],
  now: number,
): Promise<BulkAnswer> {
  const outcome = new BulkOutcome();
  const firstRow = new FirstRowWins();
  const valid: CalendarEntry[] = [];
  rows.forEach((row, index) => {
    const checked = checkRow(CalendarRow, row);
    if (!checked.ok) return outcome.invalid(index, checked.message);
    const opensAt = instantMs(checked.value.registrationOpensAt);
    const closesAt = instantMs(checked.value.registrationClosesAt);
    if (opensAt === null || closesAt === null) return outcome.invalid(index, 'not a real date-time');
    if (opensAt >= closesAt) {
      return outcome.invalid(index, '/registrationClosesAt: must be after registrationOpensAt');
    }
    const earlier = firstRow.claim(checked.value.provinceCode, index);
    if (earlier !== undefined)
      return outcome.invalid(index, `/provinceCode: the same province as row ${earlier}`);
    valid.push({
      provinceCode: checked.value.provinceCode,
      registrationOpensAt: opensAt,
      registrationClosesAt: closesAt,
    });
  });
  if (valid.length > 0) {
    await withTransaction(services.db, async (tx) => {
      await lockReference(tx);
      await ensureProvinces(
        tx,
        valid.map((entry) => provinceOf(entry.provinceCode)),
      );
      await Promise.all(valid.map((entry) => services.engine.setCalendar(entry, now)));
      await upsertCalendar(tx, valid);
    });
  }
  return outcome.answer(valid.length);
}

// ---------------------------------------------------------------------------------- fees

/**
 * Fees are one object, not rows: it is validated whole (an unknown subject is an unknown field:
 * 400 VALIDATION_FAILED, as everywhere in the API) and applied whole.
 */
export async function putFees(services: Services, fees: Fees): Promise<BulkAnswer & { fees: Fees }> {
  const entries = Object.entries(fees).filter((entry): entry is [Subject, number] => entry[1] !== undefined);
  const cents = entries.find(([, yuan]) => Math.abs(yuan * 100 - Math.round(yuan * 100)) > 1e-6);
  if (cents) {
    // checked here, not by the schema: multipleOf 0.01 fails on binary fractions such as 30.1
    throw new ApiError('VALIDATION_FAILED', {
      details: { errors: [{ field: `/${cents[0]}`, problem: 'must have at most two decimals' }] },
    });
  }
  if (entries.length > 0) {
    await withTransaction(services.db, async (tx) => {
      await lockReference(tx);
      await upsertFees(tx, fees);
      await services.fees.set(fees);
    });
  }
  return { ...new BulkOutcome().answer(entries.length), fees: await services.fees.all() };
}
