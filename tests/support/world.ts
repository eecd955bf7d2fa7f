/**
 * A small, hand-made world for end-to-end tests against a running gateway (tests/support/gateway.ts),
 * loaded directly, not through the admin routes: reference data, roster rows and CET4 scores into
 * PostgreSQL (db/sql/seedRows.ts computes id_hmac / id_masked / name_normalised as the
 * eligibility query expects), campuses and calendars into Redis through the engine's own scripts,
 * fees into the gateway's fee table, and the TEST_MODE clock set to `now`.
 *
 * Three provinces, so that one fixed clock covers every window (R5): '11' is open at `now`, '31'
 * opens two days later, '44' closed the day before. Moving the clock far is avoided on purpose:
 * the sweeper follows it and would expire holds (R22) and empty registrations (R8).
 *
 * Province 11 has four campuses, chosen for R15–R21:
 *  - main   (school S11A): every subject; oral open to its own students and to the province;
 *  - fixed  (school S11B): its students must take the oral exam there (R19);
 *  - small  (school S11C): 3 CET4 seats, 2 CET-SET4 seats, no CET6 (SUBJECT_NOT_OFFERED, R9 not
 *            offered); oral open to its own students now, to the province only in 30 days (R20);
 *  - annex  (school S11A, no students): oral seats for its school only (never province-wide).
 * Candidates are made on demand (`world.candidate(...)`), each with a fresh identity, because a
 * binding is for good (R6) and tests must not share one.
 */
import { bind } from '../../engine/binding.ts';
import type { Engine } from '../../engine/engine.ts';
import { makeResidentId } from '../../engine/idNumber.ts';
import type { Sessions } from '../../gateway/auth/sessions.ts';
import { normaliseName } from '../../engine/eligibility.ts';
import { idKeysFromEnv } from '../../config/index.ts';
import { makeTicket } from '../../engine/ticket.ts';
import type { WrittenSubject } from '../../engine/subjects.ts';
import type { Campus, CalendarEntry, Fees, IdType, RosterEntry } from '../../engine/world.ts';
import { createPool, execute, query, type Pool } from '../../db/pool.ts';
import { DrivenClock } from '../../gateway/clock.ts';
import { FeeTable } from '../../gateway/fees.ts';
import { clockKey } from '../../gateway/services.ts';
import { insertCet4Scores, insertReference, insertRoster } from '../../db/sql/seedRows.ts';
import { signUp, type SignedUp, type TestGateway } from './gateway.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** 2026-03-10 10:00 China time. */
export const WORLD_NOW = Date.UTC(2026, 2, 10, 2, 0, 0);

export const FEES: Fees = { CET4: 30, CET6: 30, CJT4: 35, CJT6: 35, 'CET-SET4': 50, 'CET-SET6': 50 };

export type CampusName = 'main' | 'fixed' | 'small' | 'annex' | 'upcoming' | 'closed';

export interface WorldLayout {
  readonly now: number;
  readonly provinces: { readonly open: string; readonly upcoming: string; readonly closed: string };
  readonly campuses: Readonly<Record<CampusName, Campus>>;
  readonly calendar: readonly CalendarEntry[];
}

export function worldLayout(now = WORLD_NOW): WorldLayout {
  const provinces = { open: '11', upcoming: '31', closed: '44' } as const;
  const campus = (c: Omit<Campus, 'name'> & { name?: string }): Campus => ({
    name: `测试校区${c.campusId}`,
    ...c,
  });
  const openNow = { ownSchoolAt: now - HOUR_MS, provinceWideAt: now - HOUR_MS };
  const campuses: Record<CampusName, Campus> = {
    main: campus({
      campusId: 'C11A',
      provinceCode: '11',
      schoolId: 'S11A',
      studentsMayTakeOralElsewhere: true,
      capacity: { CET4: 500, CET6: 500, CJT4: 50, CJT6: 50, 'CET-SET4': 100, 'CET-SET6': 100 },
      oralOpens: openNow,
    }),
    fixed: campus({
      campusId: 'C11B',
      provinceCode: '11',
      schoolId: 'S11B',
      studentsMayTakeOralElsewhere: false,
      capacity: { CET4: 100, CET6: 100, 'CET-SET4': 20, 'CET-SET6': 20 },
      oralOpens: openNow,
    }),
    small: campus({
      campusId: 'C11C',
      provinceCode: '11',
      schoolId: 'S11C',
      studentsMayTakeOralElsewhere: true,
      capacity: { CET4: 3, CJT4: 5, 'CET-SET4': 2 },
      oralOpens: { ownSchoolAt: now - HOUR_MS, provinceWideAt: now + 30 * DAY_MS },
    }),
    annex: campus({
      campusId: 'C11D',
      provinceCode: '11',
      schoolId: 'S11A',
      studentsMayTakeOralElsewhere: true,
      capacity: { 'CET-SET4': 30 },
      oralOpens: { ownSchoolAt: now - HOUR_MS, provinceWideAt: null },
    }),
    upcoming: campus({
      campusId: 'C31A',
      provinceCode: '31',
      schoolId: 'S31A',
      studentsMayTakeOralElsewhere: true,
      capacity: { CET4: 100, CET6: 100, 'CET-SET4': 10 },
      oralOpens: { ownSchoolAt: now + 2 * DAY_MS, provinceWideAt: now + 2 * DAY_MS },
    }),
    closed: campus({
      campusId: 'C44A',
      provinceCode: '44',
      schoolId: 'S44A',
      studentsMayTakeOralElsewhere: true,
      capacity: { CET4: 100, CET6: 100, 'CET-SET4': 10 },
      oralOpens: openNow,
    }),
  };
  const calendar: CalendarEntry[] = [
    { provinceCode: '11', registrationOpensAt: now - DAY_MS, registrationClosesAt: now + 10 * DAY_MS },
    { provinceCode: '31', registrationOpensAt: now + 2 * DAY_MS, registrationClosesAt: now + 12 * DAY_MS },
    { provinceCode: '44', registrationOpensAt: now - 10 * DAY_MS, registrationClosesAt: now - DAY_MS },
  ];
  return { now, provinces, campuses, calendar };
}

/** How a made candidate's CET4 record looks (R4, R10). */
export interface Cet4Spec {
  readonly score: number;
  readonly year?: number;
  /**
   * Whose identity the record carries: 'id' = this candidate's ID number and name (a review is
   * approved at once), 'name' = this name with another ID number (pending), 'stranger' = someone
   * else entirely (no match).
   */
  readonly holder?: 'id' | 'name' | 'stranger';
}

export interface CandidateSpec {
  readonly campus?: CampusName;
  readonly eligibleSubjects?: readonly WrittenSubject[];
  readonly cet6Barred?: boolean;
  readonly idType?: Exclude<IdType, 'MILITARY_OFFICER'>;
  readonly name?: string;
  readonly grade?: string;
  readonly cet4?: Cet4Spec;
}

export interface TestCandidate extends RosterEntry {
  /** What a candidate types: POST /eligibility/query and /registration bodies. */
  readonly identity: { idType: IdType; idNumber: string; name: string };
  /** Its CET4 ticket, when `cet4` was given. */
  readonly ticket: string | null;
}

export interface TestWorld extends WorldLayout {
  readonly db: Pool;
  readonly clock: DrivenClock;
  /** A fresh candidate on the roster (and its CET4 record), unique in this world. */
  candidate(spec?: CandidateSpec): Promise<TestCandidate>;
  /** Another CET4 record for a made candidate (see Cet4Spec); its ticket. */
  addCet4(candidate: TestCandidate, spec: Cet4Spec): Promise<string>;
  /** A fresh, well-formed CET4 ticket number with no record behind it. */
  unusedTicket(year?: number): string;
  /** Changes a roster row the way a later school-records import would (R7). */
  updateRoster(
    candidateId: string,
    change: { name?: string; eligibleSubjects?: readonly WrittenSubject[]; cet6Barred?: boolean },
  ): Promise<void>;
  close(): Promise<void>;
}

export interface SeedOptions {
  /** The clock's reading after seeding (default WORLD_NOW). */
  readonly now?: number;
  readonly fees?: Fees;
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴'];
const GIVEN = ['伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳', '杰', '涛', '明'];

export async function seedTestWorld(gw: TestGateway, options: SeedOptions = {}): Promise<TestWorld> {
  const layout = worldLayout(options.now ?? WORLD_NOW);
  const db = createPool(gw.databaseUrl, { max: 2, applicationName: 'tests:world' });
  const keys = idKeysFromEnv({ allowDevelopmentKeys: true });
  const campuses = Object.values(layout.campuses);
  await insertReference(db, {
    provinces: [
      { code: '11', name: '北京市' },
      { code: '31', name: '上海市' },
      { code: '44', name: '广东省' },
    ],
    schools: [...new Map(campuses.map((c) => [c.schoolId, c])).values()].map((c) => ({
      schoolId: c.schoolId,
      name: `测试大学${c.schoolId}`,
      provinceCode: c.provinceCode,
    })),
    campuses,
  });
  for (const entry of layout.calendar) await gw.engine.setCalendar(entry, layout.now);
  for (const campus of campuses) {
    const outcome = await gw.engine.upsertCampus(campus, layout.now);
    if (!outcome.ok) throw new Error(`campus ${campus.campusId}: ${outcome.code}`);
  }
  await new FeeTable(gw.redis, gw.namespace).set(options.fees ?? FEES);
  const clock = new DrivenClock(gw.redis, clockKey(gw.namespace));
  await clock.set({ nowMs: layout.now });

  let serial = 0;
  let tickets = 0;
  const nextTicket = (year: number) =>
    makeTicket({ siteCode: '110001', year, half: 1, level: 1, sequence: ++tickets });
  const residentId = (n: number) =>
    makeResidentId('110105', new Date(Date.UTC(2003, 0, 1) + Math.floor(n / 1000) * DAY_MS), n % 1000);

  const addCet4 = async (candidate: RosterEntry, spec: Cet4Spec): Promise<string> => {
    const year = spec.year ?? 2024;
    const ticket = nextTicket(year);
    const holder = spec.holder ?? 'id';
    serial += 1;
    const inserted = await insertCet4Scores(db, keys, [
      {
        ticketNumber: ticket,
        idNumber: holder === 'id' ? candidate.idNumber : residentId(serial),
        name: holder === 'stranger' ? '路人甲' : candidate.name,
        score: spec.score,
        year,
      },
    ]);
    if (inserted !== 1) throw new Error(`cet4 record ${ticket}`);
    return ticket;
  };

  return {
    ...layout,
    db,
    clock,
    addCet4,
    async candidate(spec = {}) {
      serial += 1;
      const campus = layout.campuses[spec.campus ?? 'main'];
      const idType = spec.idType ?? 'RESIDENT_ID';
      const idNumber =
        idType === 'RESIDENT_ID'
          ? residentId(serial)
          : idType === 'PASSPORT'
            ? `E${String(10_000_000 + serial)}`
            : idType === 'HK_MACAO_PERMIT'
              ? `H${String(10_000_000 + serial)}`
              : String(10_000_000 + serial);
      const entry: RosterEntry = {
        candidateId: `9${campus.provinceCode}${String(serial).padStart(6, '0')}`,
        idType,
        idNumber,
        name:
          spec.name ??
          `${SURNAMES[serial % SURNAMES.length]}${GIVEN[Math.floor(serial / SURNAMES.length) % GIVEN.length]}${GIVEN[serial % GIVEN.length]}`,
        provinceCode: campus.provinceCode,
        schoolId: campus.schoolId,
        campusId: campus.campusId,
        grade: spec.grade ?? '2024',
        eligibleSubjects: spec.eligibleSubjects ?? ['CET4', 'CJT4'],
        cet6Barred: spec.cet6Barred ?? false,
      };
      if ((await insertRoster(db, keys, [entry])) !== 1) throw new Error(`roster row ${entry.candidateId}`);
      const ticket = spec.cet4 ? await addCet4(entry, spec.cet4) : null;
      return {
        ...entry,
        identity: { idType: entry.idType, idNumber: entry.idNumber, name: entry.name },
        ticket,
      };
    },
    unusedTicket(year = 2024) {
      return nextTicket(year);
    },
    async updateRoster(candidateId, change) {
      await execute(
        db,
        `UPDATE roster SET name = coalesce($2, name), name_normalised = coalesce($3, name_normalised),
                eligible_subjects = coalesce($4::text[], eligible_subjects),
                cet6_barred = coalesce($5, cet6_barred), updated_at = now()
          WHERE candidate_id = $1`,
        [
          candidateId,
          change.name ?? null,
          change.name === undefined ? null : normaliseName(change.name),
          change.eligibleSubjects === undefined ? null : [...change.eligibleSubjects],
          change.cet6Barred ?? null,
        ],
      );
    },
    async close() {
      await db.end();
    },
  };
}

/** Any valid argon2id string: the accounts made directly never log in with a password. */
const UNUSED_PASSWORD_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

const nextPhone = new Map<string, number>();

/**
 * `count` ready accounts (phone bound, agreement accepted) inserted straight into PostgreSQL, as
 * scripts/bench-gateway.ts makes them, so that the KDF is not what a test waits for; their ids.
 * Phones are `<phonePrefix>` and 8 digits, numbered on from the last call with that prefix: a
 * prefix of its own (e.g. 198, 199) never meets a number newPhone() (13…) hands out.
 */
export async function insertReadyAccounts(db: Pool, count: number, phonePrefix: string): Promise<string[]> {
  const first = nextPhone.get(phonePrefix) ?? 1;
  nextPhone.set(phonePrefix, first + count);
  const rows = await query<{ account_id: string }>(
    db,
    `INSERT INTO accounts (phone, password_hash, agreement_accepted_at)
     SELECT $1 || lpad(g::text, 8, '0'), $4, now() FROM generate_series($2::int, $3::int) g
     RETURNING account_id::text`,
    [phonePrefix, first, first + count - 1, UNUSED_PASSWORD_HASH],
  );
  return rows.map((row) => row.account_id);
}

/**
 * `count` ready accounts (insertReadyAccounts) bound directly to fresh CET4 candidates of the
 * world's `main` campus in province 11, each with a session: for tests of what a bound candidate's
 * requests cost, without the KDF or the binding's HTTP steps.
 */
export async function boundAccounts(
  db: Pool,
  world: TestWorld,
  engine: Engine,
  sessions: Sessions,
  count: number,
  phonePrefix: string,
): Promise<{ accountId: string; provinceCode: string; candidateId: string; token: string }[]> {
  const accountIds = await insertReadyAccounts(db, count, phonePrefix);
  return Promise.all(
    accountIds.map(async (accountId) => {
      const candidate = await world.candidate({ campus: 'main', eligibleSubjects: ['CET4'] });
      const ref = { accountId, provinceCode: '11', candidateId: candidate.candidateId };
      const bound = await bind(engine, {
        ...ref,
        campusId: candidate.campusId,
        snapshot: {
          name: candidate.name,
          idType: candidate.idType,
          idMasked: '110105********0000',
          schoolId: candidate.schoolId,
          grade: candidate.grade,
          eligibleSubjects: ['CET4'],
        },
        now: world.now,
      });
      if (!bound.ok) throw new Error(`bind: ${bound.code}`);
      return { ...ref, token: (await sessions.create(accountId)).token };
    }),
  );
}

/**
 * A ready account (signUp: phone, agreement) bound to a fresh candidate through HTTP, in a
 * province open at the world's clock.
 */
export async function registerCandidate(
  gw: TestGateway,
  world: TestWorld,
  spec: CandidateSpec = {},
): Promise<{ user: SignedUp; candidate: TestCandidate; registration: Record<string, unknown> }> {
  const [user, candidate] = await Promise.all([signUp(gw.http), world.candidate(spec)]);
  const saved = await gw.http.post(
    '/api/v1/registration',
    { ...candidate.identity, confirm: true },
    { token: user.token },
  );
  if (saved.status !== 201) throw new Error(`registration: ${saved.status} ${saved.text}`);
  return { user, candidate, registration: saved.body.registration };
}

/** A registered candidate (registerCandidate) with the calls the tests make bound to its session. */
export async function registeredCandidate(gw: TestGateway, world: TestWorld, spec: CandidateSpec = {}) {
  const { user, candidate } = await registerCandidate(gw, world, spec);
  const token = user.token;
  const withKey = (idempotencyKey?: string) => ({
    token,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  });
  return {
    user,
    candidate,
    token,
    written: (subject: string, idempotencyKey?: string) =>
      gw.http.post('/api/v1/registration/written', { subject }, withKey(idempotencyKey)),
    oral: (subject: string, campusId: string, idempotencyKey?: string) =>
      gw.http.post('/api/v1/registration/oral', { subject, campusId }, withKey(idempotencyKey)),
    campuses: (subject: string) => gw.http.get(`/api/v1/oral/campuses?subject=${subject}`, { token }),
    review: (ticketNumber: string) =>
      gw.http.post('/api/v1/cet6-review', { ticketNumber, confirm: true }, { token }),
    view: async () => (await gw.http.get('/api/v1/registration', { token })).body.registration,
  };
}
