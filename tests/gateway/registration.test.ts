/**
 * Eligibility and binding through HTTP (API.md "Eligibility and binding"; R1–R8), against the whole
 * running system with a hand-made world (tests/support/world.ts) and the clock fixed inside
 * province 11's window (31 not open yet, 44 closed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeResidentId } from '../../engine/idNumber.ts';
import { query } from '../../db/pool.ts';
import { login, signUp, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { waitFor } from '../support/wait.ts';
import { registerCandidate, seedTestWorld, type TestCandidate, type TestWorld } from '../support/world.ts';
import { statusAndCode } from '../support/answers.ts';

let gw: TestGateway;
let world: TestWorld;
beforeAll(async () => {
  gw = await startTestGateway();
  world = await seedTestWorld(gw);
}, 120_000);
afterAll(async () => {
  await world?.close();
  await gw?.close();
});

const QUERY = '/api/v1/eligibility/query';

/** A candidate of the main campus as the API shows it: the ID number masked. */
function shown(candidate: TestCandidate) {
  return {
    candidateId: candidate.candidateId,
    name: candidate.name,
    idType: 'RESIDENT_ID',
    idNumber: `${candidate.idNumber.slice(0, 6)}********${candidate.idNumber.slice(14)}`,
    provinceCode: '11',
    schoolId: 'S11A',
    campusId: 'C11A',
    grade: '2024',
  };
}
const REGISTRATION = '/api/v1/registration';

describe('POST /api/v1/eligibility/query (R3, R4, R9)', () => {
  it('answers the school record with a masked ID number, the eligible subjects and the review offer', async () => {
    const { token } = await signUp(gw.http);
    const candidate = await world.candidate({ eligibleSubjects: ['CET4', 'CET6'], cet4: { score: 520 } });
    const answer = await gw.http.post(QUERY, candidate.identity, { token });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      candidate: shown(candidate),
      eligibleSubjects: ['CET4', 'CET6'],
      cet6Review: { offered: false, status: 'NONE' },
    });
    expect(answer.text).not.toContain(candidate.idNumber);
  });

  it('R4/R9: CET6 needs a passing CET4 score; the review is offered unless barred or the campus has no CET6', async () => {
    const { token } = await signUp(gw.http);
    const failed = await world.candidate({ eligibleSubjects: ['CET4', 'CET6'], cet4: { score: 424 } });
    const lagging = await world.candidate({ eligibleSubjects: ['CET4'] });
    const barred = await world.candidate({
      eligibleSubjects: ['CET4', 'CET6'],
      cet6Barred: true,
      cet4: { score: 600 },
    });
    const noCet6Campus = await world.candidate({ campus: 'small', eligibleSubjects: ['CET4'] });
    const answers = await Promise.all(
      [failed, lagging, barred, noCet6Campus].map((c) => gw.http.post(QUERY, c.identity, { token })),
    );
    expect(answers.map((a) => [a.status, a.body.eligibleSubjects, a.body.cet6Review.offered])).toEqual([
      [200, ['CET4'], true],
      [200, ['CET4'], true],
      [200, ['CET4'], false],
      [200, ['CET4'], false],
    ]);
  });

  it('finds names typed with spaces and other documents (passport, permits)', async () => {
    const { token } = await signUp(gw.http);
    const resident = await world.candidate();
    const spaced = await gw.http.post(
      QUERY,
      {
        ...resident.identity,
        name: ` ${[...resident.name].join(' ')} `,
        idNumber: resident.idNumber.toLowerCase(),
      },
      { token },
    );
    expect(spaced.status).toBe(200);
    for (const idType of ['PASSPORT', 'HK_MACAO_PERMIT', 'TAIWAN_PERMIT'] as const) {
      const holder = await world.candidate({ idType });
      const answer = await gw.http.post(QUERY, holder.identity, { token });
      expect([answer.status, answer.body.candidate?.idType]).toEqual([200, idType]);
      expect(answer.body.candidate.idNumber).not.toBe(holder.idNumber);
    }
  });

  it('refuses bad identities: 400 INVALID_ID_NUMBER, 400 ID_TYPE_NOT_ACCEPTED, 400 VALIDATION_FAILED', async () => {
    const { token } = await signUp(gw.http);
    const candidate = await world.candidate();
    const badCheck = candidate.idNumber.slice(0, 17) + (candidate.idNumber[17] === '0' ? '1' : '0');
    const invalid = await gw.http.post(QUERY, { ...candidate.identity, idNumber: badCheck }, { token });
    expect(statusAndCode(invalid)).toEqual([400, 'INVALID_ID_NUMBER']);
    expect(invalid.body.error.details).toEqual({ reason: 'CHECK_DIGIT' });
    const military = await gw.http.post(
      QUERY,
      { ...candidate.identity, idType: 'MILITARY_OFFICER' },
      { token },
    );
    expect(statusAndCode(military)).toEqual([400, 'ID_TYPE_NOT_ACCEPTED']);
    const unknownType = await gw.http.post(
      QUERY,
      { ...candidate.identity, idType: 'STUDENT_CARD' },
      { token },
    );
    expect(statusAndCode(unknownType)).toEqual([400, 'VALIDATION_FAILED']);
    const blankName = await gw.http.post(QUERY, { ...candidate.identity, name: '\u3000 ' }, { token });
    expect(statusAndCode(blankName)).toEqual([400, 'VALIDATION_FAILED']);
    expect(blankName.body.error.details.errors[0].field).toBe('/name');
    const missing = await gw.http.post(
      QUERY,
      { idType: 'RESIDENT_ID', idNumber: candidate.idNumber },
      { token },
    );
    expect(statusAndCode(missing)).toEqual([400, 'VALIDATION_FAILED']);
    const extra = await gw.http.post(QUERY, { ...candidate.identity, candidateId: '1' }, { token });
    expect(statusAndCode(extra)).toEqual([400, 'VALIDATION_FAILED']);
    expect(extra.body.error.details.errors[0]).toEqual({ field: '/candidateId', problem: 'unknown field' });
  });

  it('404 CANDIDATE_NOT_FOUND alike for an unknown ID number and for a known one with another name', async () => {
    const { token } = await signUp(gw.http);
    const candidate = await world.candidate();
    const unknown = await gw.http.post(
      QUERY,
      { ...candidate.identity, idNumber: makeResidentId('320102', '2002-02-02', 777) },
      { token },
    );
    const wrongName = await gw.http.post(QUERY, { ...candidate.identity, name: '欧阳不对' }, { token });
    expect(statusAndCode(unknown)).toEqual([404, 'CANDIDATE_NOT_FOUND']);
    expect(statusAndCode(wrongName)).toEqual([404, 'CANDIDATE_NOT_FOUND']);
    expect(wrongName.body).toEqual(unknown.body);
  });

  it('R1/R2: 401 without a session, 403 PHONE_NOT_BOUND, then 403 AGREEMENT_REQUIRED, before any lookup is answered', async () => {
    const candidate = await world.candidate();
    const anonymous = await gw.http.post(QUERY, candidate.identity);
    expect(statusAndCode(anonymous)).toEqual([401, 'UNAUTHORIZED']);
    const email = `r${Date.now()}${Math.random().toString(36).slice(2, 7)}@example.com`;
    await gw.http.post('/api/v1/accounts', { email, password: 'opening2026' });
    const noPhone = await login(gw.http, email, 'opening2026');
    for (const call of [
      gw.http.post(QUERY, candidate.identity, { token: noPhone }),
      gw.http.post(REGISTRATION, { ...candidate.identity, confirm: true }, { token: noPhone }),
      // an invalid identity's refusal is not what it gets: the readiness refusal comes first
      gw.http.post(QUERY, { ...candidate.identity, idNumber: '110105200301010000' }, { token: noPhone }),
    ]) {
      expect(statusAndCode(await call)).toEqual([403, 'PHONE_NOT_BOUND']);
    }
    const noAgreement = await signUp(gw.http, { agreement: false });
    const early = await gw.http.post(QUERY, candidate.identity, { token: noAgreement.token });
    expect(statusAndCode(early)).toEqual([403, 'AGREEMENT_REQUIRED']);
    const earlyBind = await gw.http.post(
      REGISTRATION,
      { ...candidate.identity, confirm: true },
      { token: noAgreement.token },
    );
    expect(statusAndCode(earlyBind)).toEqual([403, 'AGREEMENT_REQUIRED']);
    await gw.http.post('/api/v1/agreement', { accepted: true }, { token: noAgreement.token });
    expect((await gw.http.post(QUERY, candidate.identity, { token: noAgreement.token })).status).toBe(200);
  });
});

describe('R5: before the opening, only the eligibility-confirmation step', () => {
  it('one account looks up several candidates (one of a province not open yet); nothing is bound', async () => {
    const { token } = await signUp(gw.http);
    const notYetOpen = await world.candidate({ campus: 'upcoming' });
    const others = await Promise.all([world.candidate(), world.candidate({ campus: 'fixed' })]);
    for (const candidate of [notYetOpen, ...others]) {
      const answer = await gw.http.post(QUERY, candidate.identity, { token });
      expect([answer.status, answer.body.candidate.candidateId]).toEqual([200, candidate.candidateId]);
    }
    expect(statusAndCode(await gw.http.get(REGISTRATION, { token }))).toEqual([404, 'NO_REGISTRATION']);
    const refused = await gw.http.post(REGISTRATION, { ...notYetOpen.identity, confirm: true }, { token });
    expect(statusAndCode(refused)).toEqual([403, 'REGISTRATION_NOT_OPEN']);
    // the refusal bound nothing: the account still binds another candidate, the candidate another account
    expect(statusAndCode(await gw.http.get(REGISTRATION, { token }))).toEqual([404, 'NO_REGISTRATION']);
    const bound = await gw.http.post(REGISTRATION, { ...others[0].identity, confirm: true }, { token });
    expect(bound.status).toBe(201);
    const someoneElse = await signUp(gw.http);
    const again = await gw.http.post(
      REGISTRATION,
      { ...notYetOpen.identity, confirm: true },
      { token: someoneElse.token },
    );
    expect(statusAndCode(again)).toEqual([403, 'REGISTRATION_NOT_OPEN']);
  });

  it('after the closing: 403 REGISTRATION_CLOSED, the lookup still answers', async () => {
    const { token } = await signUp(gw.http);
    const late = await world.candidate({ campus: 'closed' });
    expect((await gw.http.post(QUERY, late.identity, { token })).status).toBe(200);
    const refused = await gw.http.post(REGISTRATION, { ...late.identity, confirm: true }, { token });
    expect(statusAndCode(refused)).toEqual([403, 'REGISTRATION_CLOSED']);
    expect(statusAndCode(await gw.http.get(REGISTRATION, { token }))).toEqual([404, 'NO_REGISTRATION']);
  });
});

describe('POST /api/v1/registration (R6, R7, R8)', () => {
  it('binds, snapshots the record and answers the registration; GET answers the same', async () => {
    const { token } = await signUp(gw.http);
    const candidate = await world.candidate({
      eligibleSubjects: ['CET4', 'CET6', 'CJT4'],
      cet4: { score: 430 },
    });
    const saved = await gw.http.post(REGISTRATION, { ...candidate.identity, confirm: true }, { token });
    expect(saved.status).toBe(201);
    const registration = saved.body.registration;
    expect(registration.candidate).toEqual({
      ...shown(candidate),
      eligibleSubjects: ['CET4', 'CET6', 'CJT4'],
    });
    expect(registration).toMatchObject({
      written: [],
      oral: [],
      amountDue: 0,
      cet6Review: { offered: false, status: 'NONE' },
      eligibleSubjects: ['CET4', 'CET6', 'CJT4'],
      progress: { saved: true, writtenRegistered: false, oralRegistered: false, paid: false, unpaid: [] },
    });
    // R8: deleted 12 hours after saving unless a subject is registered; times carry the offset
    const savedAt = Date.parse(registration.savedAt);
    expect(Date.parse(registration.deleteAt) - savedAt).toBe(12 * 3_600_000);
    expect(registration.savedAt).toMatch(/\+08:00$/);
    expect(Math.abs(savedAt - world.now)).toBeLessThan(60_000);
    expect(saved.text).not.toContain(candidate.idNumber);

    const read = await gw.http.get(REGISTRATION, { token });
    expect(read.status).toBe(200);
    expect(read.body).toEqual(saved.body);
  });

  it('I5: the binding reaches PostgreSQL (the events the writer copies), without the clear ID number', async () => {
    const { user, candidate } = await registerCandidate(gw, world);
    const rows = await waitFor(
      async () => {
        const found = await query<{ data: Record<string, unknown> }>(
          world.db,
          `SELECT data FROM events WHERE type = 'BOUND' AND data->>'candidateId' = $1`,
          [candidate.candidateId],
        );
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'the BOUND event in PostgreSQL' },
    );
    expect(rows).toHaveLength(1);
    expect(String(rows[0]!.data.accountId)).toBe(user.accountId);
    expect(JSON.stringify(rows[0]!.data)).not.toContain(candidate.idNumber);
  });

  it('R6: a second account for the candidate, a second candidate for the account: both refused', async () => {
    const [first, second] = await Promise.all([signUp(gw.http), signUp(gw.http)]);
    const [candidate, other] = await Promise.all([world.candidate(), world.candidate()]);
    expect(
      (await gw.http.post(REGISTRATION, { ...candidate.identity, confirm: true }, { token: first.token }))
        .status,
    ).toBe(201);
    const taken = await gw.http.post(
      REGISTRATION,
      { ...candidate.identity, confirm: true },
      { token: second.token },
    );
    expect(statusAndCode(taken)).toEqual([409, 'CANDIDATE_ALREADY_BOUND']);
    const twice = await gw.http.post(
      REGISTRATION,
      { ...other.identity, confirm: true },
      { token: first.token },
    );
    expect(statusAndCode(twice)).toEqual([409, 'ACCOUNT_ALREADY_BOUND']);
    const same = await gw.http.post(
      REGISTRATION,
      { ...candidate.identity, confirm: true },
      { token: first.token },
    );
    expect(statusAndCode(same)).toEqual([409, 'ACCOUNT_ALREADY_BOUND']);
    expect(same.body.error.details).toMatchObject({ sameCandidate: true });
    // neither refusal left anything behind
    expect(statusAndCode(await gw.http.get(REGISTRATION, { token: second.token }))).toEqual([
      404,
      'NO_REGISTRATION',
    ]);
    expect(
      (await gw.http.post(REGISTRATION, { ...other.identity, confirm: true }, { token: second.token }))
        .status,
    ).toBe(201);
    const firstView = await gw.http.get(REGISTRATION, { token: first.token });
    expect(firstView.body.registration.candidate.candidateId).toBe(candidate.candidateId);
  });

  it('a candidate bound to another account is shown to no one else: 409 CANDIDATE_ALREADY_BOUND, no candidate data (issue 16 item 4)', async () => {
    const [owner, stranger] = await Promise.all([signUp(gw.http), signUp(gw.http)]);
    const candidate = await world.candidate({ eligibleSubjects: ['CET4'] });
    const before = await gw.http.post(QUERY, candidate.identity, { token: stranger.token });
    expect(before.status).toBe(200); // not bound yet: the record is shown (R3)
    const saved = await gw.http.post(
      REGISTRATION,
      { ...candidate.identity, confirm: true },
      { token: owner.token },
    );
    expect(saved.status).toBe(201);
    const after = await gw.http.post(QUERY, candidate.identity, { token: stranger.token });
    expect(statusAndCode(after)).toEqual([409, 'CANDIDATE_ALREADY_BOUND']);
    expect(Object.keys(after.body)).toEqual(['error']);
    for (const secret of [
      candidate.candidateId,
      candidate.name,
      'S11A',
      'C11A',
      candidate.idNumber.slice(0, 6),
    ]) {
      expect(after.text).not.toContain(secret);
    }
    // the account it is bound to still gets the whole answer
    const own = await gw.http.post(QUERY, candidate.identity, { token: owner.token });
    expect(own.status).toBe(200);
    expect(own.body.candidate).toEqual({ ...shown(candidate) });
  });

  it('the query is rate-limited per account: past 10 lookups in a minute, 429 RATE_LIMITED (rule lookup); another account is not held back', async () => {
    const [guesser, other] = await Promise.all([signUp(gw.http), signUp(gw.http)]);
    const candidate = await world.candidate();
    // a program guessing birth dates: each guess is a lookup, found or not. 21 in a row: even if a
    // fixed window's boundary falls between two of them, one window sees at least 11
    const answers = [];
    for (let i = 0; i < 21; i++) {
      const idNumber = makeResidentId('110101', `2003-01-${String(i + 1).padStart(2, '0')}`, 100 + i);
      answers.push(await gw.http.post(QUERY, { ...candidate.identity, idNumber }, { token: guesser.token }));
    }
    expect(answers.slice(0, 10).map((a) => a.status)).toEqual(Array(10).fill(404));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(answers.filter((a) => a.status === 404).length).toBeLessThanOrEqual(20);
    for (const answer of limited) {
      expect(statusAndCode(answer)).toEqual([429, 'RATE_LIMITED']);
      expect(answer.body.error.details.rule).toBe('lookup');
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect((await gw.http.post(QUERY, candidate.identity, { token: other.token })).status).toBe(200);
  });

  it('R6/I2 under concurrency: of 8 accounts racing for a candidate, and of 4 candidates raced for by one account, one wins', async () => {
    const accounts = await Promise.all(Array.from({ length: 8 }, () => signUp(gw.http)));
    const contested = await world.candidate();
    const answers = await Promise.all(
      accounts.map((account) =>
        gw.http.post(REGISTRATION, { ...contested.identity, confirm: true }, { token: account.token }),
      ),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    const winner = accounts[answers.findIndex((answer) => answer.status === 201)]!;

    const greedy = accounts.find((account) => account !== winner)!;
    const candidates = await Promise.all(Array.from({ length: 4 }, () => world.candidate()));
    const raced = await Promise.all(
      candidates.map((c) =>
        gw.http.post(REGISTRATION, { ...c.identity, confirm: true }, { token: greedy.token }),
      ),
    );
    expect(raced.filter((answer) => answer.status === 201)).toHaveLength(1);
    for (const answer of raced.filter((a) => a.status !== 201)) {
      expect(statusAndCode(answer)).toEqual([409, 'ACCOUNT_ALREADY_BOUND']);
    }
    const bound = raced.find((answer) => answer.status === 201)!.body.registration.candidate.candidateId;
    const view = await gw.http.get(REGISTRATION, { token: greedy.token });
    expect(view.body.registration.candidate.candidateId).toBe(bound);
  });

  it('R7: later changes of the school records do not change the saved registration', async () => {
    const { user, candidate } = await registerCandidate(gw, world, { eligibleSubjects: ['CET4', 'CJT4'] });
    const before = await gw.http.get(REGISTRATION, { token: user.token });
    await world.updateRoster(candidate.candidateId, { name: '改名后', eligibleSubjects: ['CET4'] });

    const after = await gw.http.get(REGISTRATION, { token: user.token });
    expect(after.body.registration.candidate).toEqual(before.body.registration.candidate);
    expect(after.body.registration.candidate).toMatchObject({
      name: candidate.name,
      eligibleSubjects: ['CET4', 'CJT4'],
    });
    // the subjects saved stay reservable though the records no longer list them
    const cjt4 = await gw.http.post(
      '/api/v1/registration/written',
      { subject: 'CJT4' },
      { token: user.token },
    );
    expect(cjt4.status).toBe(201);
    // the records themselves did change: the lookup sees the new name only
    const oldName = await gw.http.post(QUERY, candidate.identity, { token: user.token });
    expect(statusAndCode(oldName)).toEqual([404, 'CANDIDATE_NOT_FOUND']);
    const newName = await gw.http.post(
      QUERY,
      { ...candidate.identity, name: '改名后' },
      { token: user.token },
    );
    expect([newName.status, newName.body.eligibleSubjects]).toEqual([200, ['CET4']]);
  });

  it('refuses what it cannot bind: 400 without confirm, 400/404 for bad identities', async () => {
    const { token } = await signUp(gw.http);
    const candidate = await world.candidate();
    for (const body of [
      candidate.identity,
      { ...candidate.identity, confirm: false },
      { ...candidate.identity, confirm: true, candidateId: candidate.candidateId },
      { ...candidate.identity, confirm: true, campusId: 'C11B' },
    ]) {
      expect(statusAndCode(await gw.http.post(REGISTRATION, body, { token }))).toEqual([
        400,
        'VALIDATION_FAILED',
      ]);
    }
    const invalid = await gw.http.post(
      REGISTRATION,
      { ...candidate.identity, idNumber: '11010520030101001X', confirm: true },
      { token },
    );
    expect(statusAndCode(invalid)).toEqual([400, 'INVALID_ID_NUMBER']);
    const military = await gw.http.post(
      REGISTRATION,
      { ...candidate.identity, idType: 'MILITARY_OFFICER', confirm: true },
      { token },
    );
    expect(statusAndCode(military)).toEqual([400, 'ID_TYPE_NOT_ACCEPTED']);
    const unknown = await gw.http.post(
      REGISTRATION,
      { ...candidate.identity, name: '不存在', confirm: true },
      { token },
    );
    expect(statusAndCode(unknown)).toEqual([404, 'CANDIDATE_NOT_FOUND']);
    expect(statusAndCode(await gw.http.get(REGISTRATION, { token }))).toEqual([404, 'NO_REGISTRATION']);
    expect(statusAndCode(await gw.http.get(REGISTRATION))).toEqual([401, 'UNAUTHORIZED']);
  });

  it('honours Idempotency-Key: a replay answers the first 201, another body with the key 422', async () => {
    const { token } = await signUp(gw.http);
    const [candidate, other] = await Promise.all([world.candidate(), world.candidate()]);
    const key = `bind-${candidate.candidateId}`;
    const body = { ...candidate.identity, confirm: true };
    const first = await gw.http.post(REGISTRATION, body, { token, idempotencyKey: key });
    const replay = await gw.http.post(REGISTRATION, body, { token, idempotencyKey: key });
    expect([first.status, replay.status]).toEqual([201, 201]);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const reused = await gw.http.post(
      REGISTRATION,
      { ...other.identity, confirm: true },
      { token, idempotencyKey: key },
    );
    expect(statusAndCode(reused)).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
  });
});

describe('object-level authorization of the registration', () => {
  it("account B never reaches A's registration, whatever it sends", async () => {
    const a = await registerCandidate(gw, world, { eligibleSubjects: ['CET4', 'CJT4'] });
    const held = await gw.http.post(
      '/api/v1/registration/written',
      { subject: 'CET4' },
      { token: a.user.token },
    );
    expect(held.status).toBe(201);
    const b = await signUp(gw.http);

    expect(statusAndCode(await gw.http.get(REGISTRATION, { token: b.token }))).toEqual([
      404,
      'NO_REGISTRATION',
    ]);
    expect(
      statusAndCode(
        await gw.http.get(`${REGISTRATION}?candidateId=${a.candidate.candidateId}`, { token: b.token }),
      ),
    ).toEqual([404, 'NO_REGISTRATION']);
    const steal = await gw.http.post(
      REGISTRATION,
      { ...a.candidate.identity, confirm: true },
      { token: b.token },
    );
    expect(statusAndCode(steal)).toEqual([409, 'CANDIDATE_ALREADY_BOUND']);
    expect(steal.text).not.toContain(a.user.accountId);
    // knowing the identity of a bound candidate shows B nothing of it (API.md "Eligibility and binding")
    const lookup = await gw.http.post(QUERY, a.candidate.identity, { token: b.token });
    expect(statusAndCode(lookup)).toEqual([409, 'CANDIDATE_ALREADY_BOUND']);
    expect(lookup.text).not.toContain(a.candidate.candidateId);

    const cancel = await gw.http.delete('/api/v1/registration/written/CET4', { token: b.token });
    expect(statusAndCode(cancel)).toEqual([404, 'NO_REGISTRATION']);
    const aView = await gw.http.get(REGISTRATION, { token: a.user.token });
    expect(aView.body.registration.written.map((item: { status: string }) => item.status)).toEqual(['HELD']);
    expect(aView.body.registration.candidate.candidateId).toBe(a.candidate.candidateId);
  });
});
