/**
 * Engine test fixtures: a real Redis client on the run's Redis, an Engine in a namespace of its
 * own (so test files never see each other's keys), a small world loader, and cleanup.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type Cluster } from 'ioredis';
import { Engine, HOUR_MS, bind, type EngineOptions } from '../../engine/index.ts';
import type { TickParams, WaitingRoom } from '../../engine/queue.ts';
import { decodeEvent } from '../../engine/events.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import type { Campus, CalendarEntry } from '../../engine/world.ts';
import type { SeatCount, Snapshot } from '../../engine/views.ts';
import { redisUrl } from './env.ts';
import { removeNamespace } from './redis.ts';

export { HOUR_MS };
/** A fixed instant for tests: 2026-03-01T09:00:00Z. */
export const T0 = Date.UTC(2026, 2, 1, 9, 0, 0);

export interface TestEngine {
  readonly engine: Engine;
  readonly redis: Redis;
  readonly namespace: string;
  close(): Promise<void>;
}

export async function newTestEngine(options: EngineOptions = {}): Promise<TestEngine> {
  const namespace = `t${randomBytes(5).toString('hex')}`;
  const redis = new Redis(redisUrl(), { enableAutoPipelining: true, maxRetriesPerRequest: null });
  const engine = new Engine(redis, { namespace, ...options });
  return {
    engine,
    redis,
    namespace,
    async close() {
      await removeNamespace(redis, namespace);
      redis.disconnect();
    },
  };
}

/**
 * The end of a rule test: the invariants (engine/invariants.ts) checked over `provinces`, the
 * namespace removed; the violations found, for the test to expect none.
 */
export async function closeCheckingInvariants(
  t: TestEngine,
  provinces: readonly string[] = ['11'],
): Promise<readonly unknown[]> {
  const report = await checkInvariants(t.engine, [...provinces]);
  await t.close();
  return report.violations;
}

/** One campus × subject of a province's seat counts. */
export async function seatOf(
  engine: Engine,
  campusId: string,
  subject: string,
  provinceCode = '11',
): Promise<SeatCount | undefined> {
  return (await engine.seatCounts(provinceCode)).find(
    (s) => s.campusId === campusId && s.subject === subject,
  );
}

/** An outbox event as the tests read it: its type and its payload, field by field. */
export interface StreamEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/** Every event of one outbox stream, in stream order (decoded as engine/events.ts does). */
export async function streamEvents(redis: Redis | Cluster, stream: string): Promise<StreamEvent[]> {
  const entries = await redis.xrange(stream, '-', '+');
  return entries.map(([id, fields]) => {
    const { type, data } = decodeEvent(stream, id, fields);
    return { type, data: data };
  });
}

export function campus(overrides: Partial<Campus> & Pick<Campus, 'campusId'>): Campus {
  return {
    name: `Campus ${overrides.campusId}`,
    provinceCode: '11',
    schoolId: `S${overrides.campusId}`,
    studentsMayTakeOralElsewhere: true,
    capacity: { CET4: 100, CET6: 100, CJT4: 10, 'CET-SET4': 10, 'CET-SET6': 10 },
    oralOpens: { ownSchoolAt: T0, provinceWideAt: T0 },
    ...overrides,
  };
}

export function openWindow(
  provinceCode = '11',
  opensAt = T0 - HOUR_MS,
  closesAt = T0 + 7 * 24 * HOUR_MS,
): CalendarEntry {
  return { provinceCode, registrationOpensAt: opensAt, registrationClosesAt: closesAt };
}

export async function loadFixture(
  engine: Engine,
  fixture: { calendar?: CalendarEntry[]; campuses: Campus[] },
  now = T0,
): Promise<void> {
  for (const entry of fixture.calendar ?? [openWindow()]) await engine.setCalendar(entry, now);
  for (const c of fixture.campuses) {
    const outcome = await engine.upsertCampus(c, now);
    if (!outcome.ok) throw new Error(`fixture campus ${c.campusId}: ${outcome.code}`);
  }
}

export function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    name: '王小明',
    idType: 'RESIDENT_ID',
    idMasked: '110105********002X',
    schoolId: 'S1',
    grade: '2024',
    eligibleSubjects: ['CET4'],
    ...overrides,
  };
}

/** Binds account `a<candidateId>` to a candidate and fails the test if it is refused. */
export async function bindOrThrow(
  engine: Engine,
  input: { candidateId: string; campusId: string; provinceCode?: string; accountId?: string; now?: number },
) {
  const ref = {
    accountId: input.accountId ?? `a${input.candidateId}`,
    provinceCode: input.provinceCode ?? '11',
    candidateId: input.candidateId,
  };
  const outcome = await bind(engine, {
    ...ref,
    campusId: input.campusId,
    snapshot: snapshot(),
    now: input.now ?? T0,
  });
  if (!outcome.ok) throw new Error(`bind ${input.candidateId}: ${outcome.code}`);
  return ref;
}

/**
 * A waiting room's tick for the tests: up to 1,000 active at once, admissions not paced, the rate
 * and its trend averaged over 10 s; `overrides` change what a test is about.
 */
export function tickParams(overrides: Partial<TickParams> = {}): TickParams {
  return {
    targetActive: 1_000,
    ratePerSec: 0,
    burst: 1_000,
    maxBatch: 1_000,
    drainGraceMs: 5_000,
    saturated: null,
    rateTauMs: 10_000,
    trendTauMs: 10_000,
    plan: 1,
    ...overrides,
  };
}

/**
 * A province whose opening room opened a minute before T0 and a line behind it: the first joiner
 * ('first', at T0) closes the empty PREQUEUE, then `waiting` accounts `${prefix}0`, `${prefix}1`, …
 * join in that order.
 */
export async function openedLine(
  engine: Engine,
  room: WaitingRoom,
  provinceCode: string,
  waiting: number,
  prefix: string,
): Promise<void> {
  await loadFixture(engine, {
    calendar: [openWindow(provinceCode, T0 - 60_000, T0 + HOUR_MS)],
    campuses: [campus({ campusId: `c${provinceCode}`, provinceCode })],
  });
  await room.setup(
    { provinceCode, mode: 'opening', preQueueMinutes: 30, passMinutes: 15, maxAdmitPerMinute: null },
    T0 - 120_000,
  );
  await room.join('first', provinceCode, T0);
  await Promise.all(
    Array.from({ length: waiting }, (_, i) => room.join(`${prefix}${i}`, provinceCode, T0 + 1 + i)),
  );
}
