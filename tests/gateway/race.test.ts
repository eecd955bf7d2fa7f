/**
 * Races through HTTP against the whole running system (REL1, I1, I2): 2,000 concurrent clients
 * for 100 oral seats, and many accounts binding one candidate at once (and one account binding
 * many candidates). Set-up is direct, as scripts/bench-gateway.ts does it, so that the KDF is not
 * what takes the time: roster rows and accounts inserted in PostgreSQL, sessions made with
 * `Sessions.create`, candidates bound with `bind()` and CET4 held with `engine.reserveWritten`.
 * Only the raced calls go through HTTP, all fired at once (one connection each).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../db/pool.ts';
import { bind } from '../../engine/binding.ts';
import { idKeysFromEnv } from '../../config/index.ts';
import { makeResidentId } from '../../engine/idNumber.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import type { Campus, RosterEntry } from '../../engine/world.ts';
import { AuthKeys } from '../../gateway/auth/keys.ts';
import { Sessions } from '../../gateway/auth/sessions.ts';
import { insertReference, insertRoster } from '../../db/sql/seedRows.ts';
import { outcome } from '../support/answers.ts';
import { startTestGateway, type HttpAnswer, type TestGateway } from '../support/gateway.ts';
import {
  DAY_MS,
  FEES,
  HOUR_MS,
  insertReadyAccounts,
  seedTestWorld,
  type TestWorld,
} from '../support/world.ts';

const CLIENTS = 2_000;
const ORAL_SEATS = 100;
const RACE_CAMPUS = 'C11R';
const RACE_SCHOOL = 'S11R';

let gw: TestGateway;
let world: TestWorld;
let db: Pool;
let sessions: Sessions;

beforeAll(async () => {
  // thousands of simultaneous requests: the race is the subject, not admission control (a static
  // limit well above the burst; adaptive admission has tests/gateway/overload.test.ts)
  gw = await startTestGateway({ ADMISSION_ADAPTIVE: '0' });
  world = await seedTestWorld(gw);
  db = createPool(gw.databaseUrl, { max: 4, applicationName: 'tests:race' });
  sessions = new Sessions({ db, redis: gw.redis, keys: new AuthKeys(gw.namespace), lifetimeMs: 4 * HOUR_MS });
  const raceCampus: Campus = {
    campusId: RACE_CAMPUS,
    name: '抢位考点',
    provinceCode: '11',
    schoolId: RACE_SCHOOL,
    studentsMayTakeOralElsewhere: true,
    capacity: { CET4: CLIENTS, 'CET-SET4': ORAL_SEATS },
    oralOpens: { ownSchoolAt: world.now - HOUR_MS, provinceWideAt: world.now - HOUR_MS },
  };
  await insertReference(db, {
    provinces: [{ code: '11', name: '北京市' }],
    schools: [{ schoolId: RACE_SCHOOL, name: '抢位大学', provinceCode: '11' }],
    campuses: [raceCampus],
  });
  const upserted = await gw.engine.upsertCampus(raceCampus, world.now);
  if (!upserted.ok) throw new Error(upserted.code);
}, 120_000);

afterAll(async () => {
  await db?.end();
  await world?.close();
  await gw?.close();
});

/** `count` ready accounts (phone bound, agreement accepted) with a live session each. */
async function readyAccounts(count: number): Promise<{ accountId: string; token: string }[]> {
  const accountIds = await insertReadyAccounts(db, count, '199');
  return inBatches(accountIds, 200, async (accountId) => ({
    accountId,
    token: (await sessions.create(accountId)).token,
  }));
}

async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += size) {
    const batch = items.slice(start, start + size);
    results.push(...(await Promise.all(batch.map((item, i) => work(item, start + i)))));
  }
  return results;
}

function tally(answers: readonly HttpAnswer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const answer of answers) counts[outcome(answer)] = (counts[outcome(answer)] ?? 0) + 1;
  return counts;
}

describe(`${CLIENTS} concurrent clients race for ${ORAL_SEATS} oral seats (I1, REL1)`, () => {
  it(`exactly ${ORAL_SEATS} succeed, the rest get 409 SOLD_OUT, nothing oversold`, async () => {
    const accounts = await readyAccounts(CLIENTS);
    const keys = idKeysFromEnv({ allowDevelopmentKeys: true });
    const roster: RosterEntry[] = accounts.map((_, i) => ({
      candidateId: `911R${String(i).padStart(6, '0')}`,
      idType: 'RESIDENT_ID',
      idNumber: makeResidentId(
        '110108',
        new Date(Date.UTC(2003, 5, 1) + Math.floor(i / 1000) * DAY_MS),
        i % 1000,
      ),
      name: '竞赛考生',
      provinceCode: '11',
      schoolId: RACE_SCHOOL,
      campusId: RACE_CAMPUS,
      grade: '2024',
      eligibleSubjects: ['CET4'],
      cet6Barred: false,
    }));
    expect(await insertRoster(db, keys, roster)).toBe(CLIENTS);
    const racers = await inBatches(accounts, 200, async (account, index) => {
      const entry = roster[index]!;
      const ref = { accountId: account.accountId, provinceCode: '11', candidateId: entry.candidateId };
      const bound = await bind(gw.engine, {
        ...ref,
        campusId: RACE_CAMPUS,
        snapshot: {
          name: entry.name,
          idType: 'RESIDENT_ID',
          idMasked: '110108********0000',
          schoolId: RACE_SCHOOL,
          grade: '2024',
          eligibleSubjects: ['CET4'],
        },
        now: world.now,
      });
      if (!bound.ok) throw new Error(`bind ${entry.candidateId}: ${bound.code}`);
      const held = await gw.engine.reserveWritten({
        ...ref,
        subject: 'CET4',
        eligible: true,
        fee: FEES.CET4!,
        now: world.now,
      });
      if (!held.ok) throw new Error(`CET4 ${entry.candidateId}: ${held.code}`);
      return { ...ref, token: account.token };
    });
    expect(new Set(racers.map((racer) => racer.candidateId)).size).toBe(CLIENTS);

    // the race: every request in flight at once, each on its own connection
    const started = performance.now();
    const answers = await Promise.all(
      racers.map((racer) =>
        gw.http.post(
          '/api/v1/registration/oral',
          { subject: 'CET-SET4', campusId: RACE_CAMPUS },
          { token: racer.token },
        ),
      ),
    );
    const elapsedMs = performance.now() - started;
    console.info(
      `${CLIENTS} oral reservations through HTTP in ${elapsedMs.toFixed(0)} ms: ${JSON.stringify(tally(answers))}`,
    );

    expect(tally(answers)).toEqual({ '201': ORAL_SEATS, '409 SOLD_OUT': CLIENTS - ORAL_SEATS });
    for (const answer of answers.filter((a) => a.status === 201)) {
      expect(answer.body.item).toMatchObject({ subject: 'CET-SET4', campusId: RACE_CAMPUS, status: 'HELD' });
    }

    // the counter, the holds and the answers agree: the winners hold the seat, nobody else does
    const seat = (await gw.engine.seatCounts('11')).find(
      (count) => count.campusId === RACE_CAMPUS && count.subject === 'CET-SET4',
    );
    expect(seat).toMatchObject({ capacity: ORAL_SEATS, used: ORAL_SEATS, remaining: 0, color: 'RED' });
    const registrations = await inBatches(racers, 500, (racer) =>
      gw.engine.registration('11', racer.candidateId),
    );
    registrations.forEach((registration, index) => {
      const won = answers[index]!.status === 201;
      expect(registration?.oral.map((item) => item.status) ?? null).toEqual(won ? ['HELD'] : []);
      expect(registration?.written.map((item) => item.status)).toEqual(['HELD']);
    });
    const report = await checkInvariants(gw.engine, ['11']);
    expect(report.violations).toEqual([]);

    // what a candidate sees now: the campus is RED, and one more try is still refused
    const listed = await gw.http.get('/api/v1/oral/campuses?subject=CET-SET4', { token: racers[0]!.token });
    expect(listed.body.find((c: { campusId: string }) => c.campusId === RACE_CAMPUS)).toMatchObject({
      remaining: 0,
      color: 'RED',
    });
    const loser = racers[answers.findIndex((answer) => answer.status !== 201)]!;
    const again = await gw.http.post(
      '/api/v1/registration/oral',
      { subject: 'CET-SET4', campusId: RACE_CAMPUS },
      { token: loser.token },
    );
    expect(outcome(again)).toBe('409 SOLD_OUT');
  });
});

describe('concurrent binds through POST /api/v1/registration (R6, I2)', () => {
  it('200 accounts bind one candidate at once: exactly one 201, the rest 409 CANDIDATE_ALREADY_BOUND', async () => {
    const [accounts, candidate] = await Promise.all([readyAccounts(200), world.candidate()]);
    const answers = await Promise.all(
      accounts.map((account) =>
        gw.http.post(
          '/api/v1/registration',
          { ...candidate.identity, confirm: true },
          { token: account.token },
        ),
      ),
    );
    expect(tally(answers)).toEqual({ '201': 1, '409 CANDIDATE_ALREADY_BOUND': 199 });
    const winner = accounts[answers.findIndex((answer) => answer.status === 201)]!;
    const registration = await gw.engine.registration('11', candidate.candidateId);
    expect(registration?.accountId).toBe(winner.accountId);
    // only the winner sees a registration; every loser is still free
    const views = await Promise.all(
      accounts.map((account) => gw.http.get('/api/v1/registration', { token: account.token })),
    );
    expect(tally(views)).toEqual({ '404 NO_REGISTRATION': 199, '200': 1 });
    expect(views[accounts.indexOf(winner)]!.body.registration.candidate.candidateId).toBe(
      candidate.candidateId,
    );
    expect((await checkInvariants(gw.engine, ['11'])).violations).toEqual([]);
  });

  it('one account binds 50 candidates at once: exactly one 201, the rest 409 ACCOUNT_ALREADY_BOUND', async () => {
    const [[account], candidates] = await Promise.all([
      readyAccounts(1),
      Promise.all(Array.from({ length: 50 }, () => world.candidate())),
    ]);
    const answers = await Promise.all(
      candidates.map((candidate) =>
        gw.http.post(
          '/api/v1/registration',
          { ...candidate.identity, confirm: true },
          { token: account!.token },
        ),
      ),
    );
    expect(tally(answers)).toEqual({ '201': 1, '409 ACCOUNT_ALREADY_BOUND': 49 });
    const bound = await Promise.all(candidates.map((c) => gw.engine.registration('11', c.candidateId)));
    expect(bound.filter((registration) => registration !== null)).toHaveLength(1);
    expect((await checkInvariants(gw.engine, ['11'])).violations).toEqual([]);
  });
});
