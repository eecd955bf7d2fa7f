/**
 * The CET6 eligibility review through HTTP (API.md "CET6 eligibility review"; R9–R14), before and
 * after binding, against the whole running system. Staff decisions (R11) are made on the engine
 * directly: the admin routes are another module's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideReview } from '../../engine/reviews.ts';
import { makeTicket } from '../../engine/ticket.ts';
import { signUp, startTestGateway, type SignedUp, type TestGateway } from '../support/gateway.ts';
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

const REVIEW = '/api/v1/cet6-review';
const QUERY = '/api/v1/eligibility/query';

/** Applies before binding, naming the candidate (R13). */
function apply(user: SignedUp, candidate: TestCandidate, ticketNumber: string) {
  return gw.http.post(REVIEW, { ticketNumber, confirm: true, ...candidate.identity }, { token: user.token });
}

async function decide(user: SignedUp, approve: boolean): Promise<void> {
  const review = await gw.engine.review(user.accountId);
  if (!review) throw new Error('no review');
  const decided = await decideReview(gw.engine, {
    reviewId: review.reviewId,
    approve,
    now: await world.clock.now(),
  });
  if (!decided.ok) throw new Error(decided.code);
}

/** Passed CET4 (the score is on file) but the school records do not list CET6 yet: R9's case. */
const LAGGING = { eligibleSubjects: ['CET4'] as const, cet4: { score: 480 } };

describe('before binding (R13: from the eligibility-confirmation step)', () => {
  it('R10: ticket + ID number of a passing record → 201 APPROVED at once; CET6 opens for this candidate', async () => {
    const user = await signUp(gw.http);
    const candidate = await world.candidate(LAGGING);
    const offered = await gw.http.post(QUERY, candidate.identity, { token: user.token });
    expect(offered.body).toMatchObject({
      eligibleSubjects: ['CET4'],
      cet6Review: { offered: true, status: 'NONE' },
    });

    const applied = await apply(user, candidate, candidate.ticket!);
    expect(applied.status).toBe(201);
    expect(applied.body).toMatchObject({ status: 'APPROVED', ticketNumber: candidate.ticket });
    const read = await gw.http.get(REVIEW, { token: user.token });
    expect(read.status).toBe(200);
    expect(read.body).toEqual({
      status: 'APPROVED',
      ticketNumber: candidate.ticket,
      submittedAt: expect.stringMatching(/\+08:00$/),
      decidedAt: read.body.submittedAt,
    });
    expect(Math.abs(Date.parse(read.body.submittedAt) - world.now)).toBeLessThan(60_000);

    const after = await gw.http.post(QUERY, candidate.identity, { token: user.token });
    expect(after.body).toMatchObject({
      eligibleSubjects: ['CET4', 'CET6'],
      cet6Review: { offered: false, status: 'APPROVED' },
    });
    // saved with CET6 in the snapshot, and CET6 can be held
    const saved = await gw.http.post(
      '/api/v1/registration',
      { ...candidate.identity, confirm: true },
      { token: user.token },
    );
    expect(saved.body.registration.candidate.eligibleSubjects).toEqual(['CET4', 'CET6']);
    expect(saved.body.registration.cet6Review).toEqual({ offered: false, status: 'APPROVED' });
    const cet6 = await gw.http.post(
      '/api/v1/registration/written',
      { subject: 'CET6' },
      { token: user.token },
    );
    expect(cet6.status).toBe(201);
  });

  it('R10/R11: ticket + name only → 201 PENDING, which cannot be changed or withdrawn; R12: one per account', async () => {
    const user = await signUp(gw.http);
    const candidate = await world.candidate({
      eligibleSubjects: ['CET4'],
      cet4: { score: 500, holder: 'name' },
    });
    const applied = await apply(user, candidate, candidate.ticket!);
    expect([applied.status, applied.body.status]).toEqual([201, 'PENDING']);
    const read = await gw.http.get(REVIEW, { token: user.token });
    expect(read.body).toMatchObject({ status: 'PENDING', decidedAt: null });
    const looked = await gw.http.post(QUERY, candidate.identity, { token: user.token });
    expect(looked.body).toMatchObject({
      eligibleSubjects: ['CET4'],
      cet6Review: { offered: true, status: 'PENDING' },
    });

    const edit = await gw.http.put(
      REVIEW,
      { ticketNumber: candidate.ticket, confirm: true },
      { token: user.token },
    );
    expect(statusAndCode(edit)).toEqual([409, 'REVIEW_PENDING']);
    expect(statusAndCode(await gw.http.delete(REVIEW, { token: user.token }))).toEqual([
      409,
      'REVIEW_PENDING',
    ]);
    expect(statusAndCode(await apply(user, candidate, candidate.ticket!))).toEqual([409, 'REVIEW_EXISTS']);
    const other = await world.candidate(LAGGING);
    expect(statusAndCode(await apply(user, other, other.ticket!))).toEqual([409, 'REVIEW_EXISTS']);
    expect((await gw.http.get(REVIEW, { token: user.token })).body).toEqual(read.body);
  });

  it('R11: after a rejection the applicant edits (a refused edit changes nothing) or deletes; R12: approved is final', async () => {
    const user = await signUp(gw.http);
    const candidate = await world.candidate({
      eligibleSubjects: ['CET4'],
      cet4: { score: 500, holder: 'name' },
    });
    expect((await apply(user, candidate, candidate.ticket!)).body.status).toBe('PENDING');
    await decide(user, false);
    const rejected = await gw.http.get(REVIEW, { token: user.token });
    expect(rejected.body).toMatchObject({ status: 'REJECTED', decidedAt: expect.stringMatching(/\+08:00$/) });
    const looked = await gw.http.post(QUERY, candidate.identity, { token: user.token });
    expect(looked.body.cet6Review).toEqual({ offered: true, status: 'REJECTED' });

    const wrong = await gw.http.put(
      REVIEW,
      { ticketNumber: world.unusedTicket(), confirm: true },
      { token: user.token },
    );
    expect(statusAndCode(wrong)).toEqual([422, 'REVIEW_NO_MATCH']);
    expect((await gw.http.get(REVIEW, { token: user.token })).body).toEqual(rejected.body);

    const ownTicket = await world.addCet4(candidate, { score: 455, holder: 'id' });
    const edited = await gw.http.put(
      REVIEW,
      { ticketNumber: ownTicket, confirm: true },
      { token: user.token },
    );
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ status: 'APPROVED', ticketNumber: ownTicket });

    expect(
      statusAndCode(
        await gw.http.put(REVIEW, { ticketNumber: ownTicket, confirm: true }, { token: user.token }),
      ),
    ).toEqual([409, 'REVIEW_APPROVED_FINAL']);
    expect(statusAndCode(await gw.http.delete(REVIEW, { token: user.token }))).toEqual([
      409,
      'REVIEW_APPROVED_FINAL',
    ]);
    expect(statusAndCode(await apply(user, candidate, ownTicket))).toEqual([409, 'REVIEW_APPROVED_FINAL']);
  });

  it('R11: a rejected application may be deleted; then a new one may be made', async () => {
    const user = await signUp(gw.http);
    const candidate = await world.candidate({
      eligibleSubjects: ['CET4'],
      cet4: { score: 500, holder: 'name' },
    });
    expect((await apply(user, candidate, candidate.ticket!)).status).toBe(201);
    await decide(user, false);
    const deleted = await gw.http.delete(REVIEW, { token: user.token });
    expect([deleted.status, deleted.body]).toEqual([200, { deleted: true }]);
    expect(statusAndCode(await gw.http.get(REVIEW, { token: user.token }))).toEqual([
      404,
      'REVIEW_NOT_FOUND',
    ]);
    expect(statusAndCode(await gw.http.delete(REVIEW, { token: user.token }))).toEqual([
      404,
      'REVIEW_NOT_FOUND',
    ]);
    const looked = await gw.http.post(QUERY, candidate.identity, { token: user.token });
    expect(looked.body.cet6Review).toEqual({ offered: true, status: 'NONE' });
    expect((await apply(user, candidate, candidate.ticket!)).body.status).toBe('PENDING');
  });

  it('R10/R14: a refused application answers 422 REVIEW_NO_MATCH and stores nothing', async () => {
    const user = await signUp(gw.http);
    const candidate = await world.candidate({ eligibleSubjects: ['CET4'], cet4: { score: 424 } });
    const oldTicket = await world.addCet4(candidate, { score: 600, year: 2004 });
    const strangers = await world.addCet4(candidate, { score: 600, holder: 'stranger' });
    const cet6Ticket = makeTicket({ siteCode: '110001', year: 2024, half: 1, level: 2, sequence: 99_999 });
    const cases: [string, string | undefined][] = [
      [candidate.ticket!, undefined], // the own record, below 425
      [oldTicket, 'TICKET_OUT_OF_SCOPE'], // R14: before 2005
      [strangers, undefined], // neither ID number nor name matches
      [world.unusedTicket(), undefined], // no record at all
      ['12345', 'TICKET_MALFORMED'],
      [cet6Ticket, 'NOT_CET4_TICKET'],
    ];
    for (const [ticketNumber, reason] of cases) {
      const refused = await apply(user, candidate, ticketNumber);
      expect(statusAndCode(refused)).toEqual([422, 'REVIEW_NO_MATCH']);
      expect(refused.body.error.details).toEqual(reason === undefined ? undefined : { reason });
      expect(statusAndCode(await gw.http.get(REVIEW, { token: user.token }))).toEqual([
        404,
        'REVIEW_NOT_FOUND',
      ]);
    }
    // "no record" and "someone else's record" cannot be told apart
    const unknown = await apply(user, candidate, world.unusedTicket());
    const foreign = await apply(user, candidate, strangers);
    expect(foreign.body).toEqual(unknown.body);
  });

  it('R9: 403 REVIEW_NOT_OFFERED when barred, when the campus has no CET6, when CET6 is already open', async () => {
    const user = await signUp(gw.http);
    const barred = await world.candidate({
      eligibleSubjects: ['CET4'],
      cet6Barred: true,
      cet4: { score: 500 },
    });
    const noCet6 = await world.candidate({
      campus: 'small',
      eligibleSubjects: ['CET4'],
      cet4: { score: 500 },
    });
    const eligible = await world.candidate({ eligibleSubjects: ['CET4', 'CET6'], cet4: { score: 500 } });
    for (const candidate of [barred, noCet6, eligible]) {
      expect(statusAndCode(await apply(user, candidate, candidate.ticket!))).toEqual([
        403,
        'REVIEW_NOT_OFFERED',
      ]);
    }
    expect(statusAndCode(await gw.http.get(REVIEW, { token: user.token }))).toEqual([
      404,
      'REVIEW_NOT_FOUND',
    ]);
  });

  it('names the candidate completely and validly: 400 VALIDATION_FAILED / INVALID_ID_NUMBER / ID_TYPE_NOT_ACCEPTED, 404', async () => {
    const user = await signUp(gw.http);
    const candidate = await world.candidate(LAGGING);
    const ticketNumber = candidate.ticket!;
    const post = (body: object) => gw.http.post(REVIEW, body, { token: user.token });
    expect(statusAndCode(await post({ ticketNumber, confirm: true }))).toEqual([400, 'VALIDATION_FAILED']);
    const partial = await post({
      ticketNumber,
      confirm: true,
      idType: 'RESIDENT_ID',
      idNumber: candidate.idNumber,
    });
    expect(statusAndCode(partial)).toEqual([400, 'VALIDATION_FAILED']);
    expect(partial.body.error.details.errors[0].field).toBe('/name');
    expect(statusAndCode(await post({ ticketNumber, ...candidate.identity }))).toEqual([
      400,
      'VALIDATION_FAILED',
    ]);
    expect(statusAndCode(await post({ ticketNumber, confirm: false, ...candidate.identity }))).toEqual([
      400,
      'VALIDATION_FAILED',
    ]);
    expect(
      statusAndCode(await post({ ticketNumber, confirm: true, score: 700, ...candidate.identity })),
    ).toEqual([400, 'VALIDATION_FAILED']);
    expect(
      statusAndCode(
        await post({ ticketNumber, confirm: true, ...candidate.identity, idNumber: '110105200301010010' }),
      ),
    ).toEqual([400, 'INVALID_ID_NUMBER']);
    expect(
      statusAndCode(
        await post({ ticketNumber, confirm: true, ...candidate.identity, idType: 'MILITARY_OFFICER' }),
      ),
    ).toEqual([400, 'ID_TYPE_NOT_ACCEPTED']);
    expect(
      statusAndCode(await post({ ticketNumber, confirm: true, ...candidate.identity, name: '查无此人' })),
    ).toEqual([404, 'CANDIDATE_NOT_FOUND']);
    expect(statusAndCode(await gw.http.get(REVIEW, { token: user.token }))).toEqual([
      404,
      'REVIEW_NOT_FOUND',
    ]);
  });

  it('R1/R2 first: 403 AGREEMENT_REQUIRED; and every route needs a session (401)', async () => {
    const user = await signUp(gw.http, { agreement: false });
    const candidate = await world.candidate(LAGGING);
    expect(statusAndCode(await apply(user, candidate, candidate.ticket!))).toEqual([
      403,
      'AGREEMENT_REQUIRED',
    ]);
    expect(
      statusAndCode(
        await gw.http.put(REVIEW, { ticketNumber: candidate.ticket, confirm: true }, { token: user.token }),
      ),
    ).toEqual([403, 'AGREEMENT_REQUIRED']);
    for (const answer of [
      await gw.http.get(REVIEW),
      await gw.http.delete(REVIEW),
      await gw.http.post(REVIEW, { ticketNumber: candidate.ticket, confirm: true }),
      await gw.http.put(REVIEW, { ticketNumber: candidate.ticket, confirm: true }),
    ]) {
      expect(statusAndCode(answer)).toEqual([401, 'UNAUTHORIZED']);
    }
    const ready = await signUp(gw.http);
    expect(
      statusAndCode(
        await gw.http.put(REVIEW, { ticketNumber: candidate.ticket, confirm: true }, { token: ready.token }),
      ),
    ).toEqual([404, 'REVIEW_NOT_FOUND']);
  });
});

describe('after binding: the application is for the bound candidate', () => {
  it('matches by the roster record of the bound candidate (the clear ID number is not kept) → APPROVED, CET6 opens', async () => {
    const { user, candidate, registration } = await registerCandidate(gw, world, LAGGING);
    expect(registration.cet6Review).toEqual({ offered: true, status: 'NONE' });
    expect(
      statusAndCode(
        await gw.http.post('/api/v1/registration/written', { subject: 'CET6' }, { token: user.token }),
      ),
    ).toEqual([403, 'NOT_ELIGIBLE']);
    const applied = await gw.http.post(
      REVIEW,
      { ticketNumber: candidate.ticket, confirm: true },
      { token: user.token },
    );
    expect([applied.status, applied.body.status]).toEqual([201, 'APPROVED']);
    const view = await gw.http.get('/api/v1/registration', { token: user.token });
    expect(view.body.registration).toMatchObject({
      cet6Review: { offered: false, status: 'APPROVED' },
      eligibleSubjects: ['CET4', 'CET6'],
      // R7: the snapshot itself is as saved
      candidate: { eligibleSubjects: ['CET4'] },
    });
    const cet6 = await gw.http.post(
      '/api/v1/registration/written',
      { subject: 'CET6' },
      { token: user.token },
    );
    expect(cet6.status).toBe(201);
  });

  it('a pending application approved later by staff opens CET6 for the saved registration', async () => {
    const { user, candidate } = await registerCandidate(gw, world, {
      eligibleSubjects: ['CET4'],
      cet4: { score: 430, holder: 'name' },
    });
    const applied = await gw.http.post(
      REVIEW,
      { ticketNumber: candidate.ticket, confirm: true },
      { token: user.token },
    );
    expect([applied.status, applied.body.status]).toEqual([201, 'PENDING']);
    const written = () =>
      gw.http.post('/api/v1/registration/written', { subject: 'CET6' }, { token: user.token });
    expect(statusAndCode(await written())).toEqual([403, 'NOT_ELIGIBLE']);
    await decide(user, true);
    expect((await written()).status).toBe(201);
  });

  it('R9 on the saved registration: offered from its snapshot, not from records changed later (R7)', async () => {
    const { user, candidate } = await registerCandidate(gw, world, LAGGING);
    // the records catch up with CET6 after saving: the saved registration still lacks it, so the review stays offered
    await world.updateRoster(candidate.candidateId, { eligibleSubjects: ['CET4', 'CET6'] });
    const view = await gw.http.get('/api/v1/registration', { token: user.token });
    expect(view.body.registration.cet6Review).toEqual({ offered: true, status: 'NONE' });
    expect(view.body.registration.eligibleSubjects).toEqual(['CET4']);
    // barred later: no longer offered
    await world.updateRoster(candidate.candidateId, { cet6Barred: true });
    const barred = await gw.http.post(
      REVIEW,
      { ticketNumber: candidate.ticket, confirm: true },
      { token: user.token },
    );
    expect(statusAndCode(barred)).toEqual([403, 'REVIEW_NOT_OFFERED']);
  });

  it('a refused application stores nothing after binding either (422)', async () => {
    const { user, candidate } = await registerCandidate(gw, world, {
      eligibleSubjects: ['CET4'],
      cet4: { score: 300 },
    });
    const refused = await gw.http.post(
      REVIEW,
      { ticketNumber: candidate.ticket, confirm: true },
      { token: user.token },
    );
    expect(statusAndCode(refused)).toEqual([422, 'REVIEW_NO_MATCH']);
    expect(statusAndCode(await gw.http.get(REVIEW, { token: user.token }))).toEqual([
      404,
      'REVIEW_NOT_FOUND',
    ]);
  });
});

describe('object-level authorization of reviews', () => {
  it('once bound, a body naming any candidate (even another one that would match) is refused', async () => {
    const { user, candidate } = await registerCandidate(gw, world, LAGGING);
    const other = await world.candidate(LAGGING);
    for (const identity of [other.identity, candidate.identity]) {
      const named = await gw.http.post(
        REVIEW,
        { ticketNumber: other.ticket, confirm: true, ...identity },
        { token: user.token },
      );
      expect(statusAndCode(named)).toEqual([400, 'VALIDATION_FAILED']);
    }
    // the other candidate's ticket does not match the bound candidate
    const foreignTicket = await gw.http.post(
      REVIEW,
      { ticketNumber: other.ticket, confirm: true },
      { token: user.token },
    );
    expect(statusAndCode(foreignTicket)).toEqual([422, 'REVIEW_NO_MATCH']);
    expect(statusAndCode(await gw.http.get(REVIEW, { token: user.token }))).toEqual([
      404,
      'REVIEW_NOT_FOUND',
    ]);
  });

  it("A's approved review is A's: it opens CET6 neither for B bound to that candidate nor for A's other candidate", async () => {
    const a = await signUp(gw.http);
    const b = await signUp(gw.http);
    const x = await world.candidate(LAGGING);
    const y = await world.candidate(LAGGING);
    expect((await apply(a, x, x.ticket!)).body.status).toBe('APPROVED');

    // B looks X up: B's account has no review, so nothing of A's shows
    const bLooks = await gw.http.post(QUERY, x.identity, { token: b.token });
    expect(bLooks.body).toMatchObject({
      eligibleSubjects: ['CET4'],
      cet6Review: { offered: true, status: 'NONE' },
    });
    expect(statusAndCode(await gw.http.get(REVIEW, { token: b.token }))).toEqual([404, 'REVIEW_NOT_FOUND']);
    // A's review counts for X only: looking Y up shows none
    const aLooksY = await gw.http.post(QUERY, y.identity, { token: a.token });
    expect(aLooksY.body).toMatchObject({ eligibleSubjects: ['CET4'], cet6Review: { status: 'NONE' } });

    // B binds X: its snapshot lacks CET6, and A's review does not open it for B
    const bSaved = await gw.http.post(
      '/api/v1/registration',
      { ...x.identity, confirm: true },
      { token: b.token },
    );
    expect(bSaved.body.registration).toMatchObject({
      candidate: { eligibleSubjects: ['CET4'] },
      cet6Review: { status: 'NONE' },
    });
    expect(
      statusAndCode(
        await gw.http.post('/api/v1/registration/written', { subject: 'CET6' }, { token: b.token }),
      ),
    ).toEqual([403, 'NOT_ELIGIBLE']);
    // A binds Y: the approved review is for X, so CET6 stays closed for Y
    const aSaved = await gw.http.post(
      '/api/v1/registration',
      { ...y.identity, confirm: true },
      { token: a.token },
    );
    expect(aSaved.body.registration).toMatchObject({
      eligibleSubjects: ['CET4'],
      cet6Review: { status: 'NONE' },
    });
    expect(
      statusAndCode(
        await gw.http.post('/api/v1/registration/written', { subject: 'CET6' }, { token: a.token }),
      ),
    ).toEqual([403, 'NOT_ELIGIBLE']);
    const aView = await gw.http.get('/api/v1/registration', { token: a.token });
    expect(aView.body.registration).toMatchObject({
      eligibleSubjects: ['CET4'],
      cet6Review: { status: 'NONE' },
    });
    // and B cannot change or delete A's application: B has none
    expect(statusAndCode(await gw.http.delete(REVIEW, { token: b.token }))).toEqual([
      404,
      'REVIEW_NOT_FOUND',
    ]);
    expect(
      statusAndCode(await gw.http.put(REVIEW, { ticketNumber: x.ticket, confirm: true }, { token: b.token })),
    ).toEqual([404, 'REVIEW_NOT_FOUND']);
    expect((await gw.http.get(REVIEW, { token: a.token })).body.status).toBe('APPROVED');
  });

  it('Idempotency-Key on POST: a replay answers the first 201 and stores one application', async () => {
    const user = await signUp(gw.http);
    const candidate = await world.candidate(LAGGING);
    const body = { ticketNumber: candidate.ticket, confirm: true, ...candidate.identity };
    const key = `review-${candidate.candidateId}`;
    const first = await gw.http.post(REVIEW, body, { token: user.token, idempotencyKey: key });
    const replay = await gw.http.post(REVIEW, body, { token: user.token, idempotencyKey: key });
    expect([first.status, replay.status]).toEqual([201, 201]);
    expect(replay.body).toEqual(first.body);
    expect(statusAndCode(await gw.http.post(REVIEW, body, { token: user.token }))).toEqual([
      409,
      'REVIEW_APPROVED_FINAL',
    ]);
  });
});
