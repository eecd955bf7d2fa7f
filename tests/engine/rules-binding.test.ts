/**
 * Rule tests against real Redis: the registration window (R5, R6), the account↔candidate binding
 * and its crash recovery (R6, I2), the snapshot (R7) and the deletion of empty registrations (R8).
 * Every test runs in a namespace of its own and ends with the invariant checker.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bind, bindCandidateCall, boundCandidate, readClaim, type BindInput } from '../../engine/binding.ts';
import { expireDue } from '../../engine/expiry.ts';
import { encodeSnapshot, type Snapshot } from '../../engine/views.ts';
import {
  HOUR_MS,
  T0,
  bindOrThrow,
  closeCheckingInvariants,
  campus,
  loadFixture,
  newTestEngine,
  openWindow,
  snapshot,
  streamEvents,
  type StreamEvent,
  type TestEngine,
} from '../support/engine.ts';

const OPENS_AT = T0 - HOUR_MS;
const CLOSES_AT = T0 + 7 * 24 * HOUR_MS;
const TWELVE_HOURS = 12 * HOUR_MS;

let t: TestEngine;

beforeEach(async () => {
  t = await newTestEngine();
  await loadFixture(t.engine, {
    calendar: [openWindow('11', OPENS_AT, CLOSES_AT), openWindow('31', OPENS_AT, CLOSES_AT)],
    campuses: [campus({ campusId: 'C1' }), campus({ campusId: 'C9', provinceCode: '31' })],
  });
});

afterEach(async () => {
  expect(await closeCheckingInvariants(t, ['11', '31'])).toEqual([]);
});

const events = (provinceCode = '11'): Promise<StreamEvent[]> =>
  streamEvents(t.redis, t.engine.keys.province(provinceCode).stream);

async function eventsOf(type: string, provinceCode = '11'): Promise<StreamEvent[]> {
  return (await events(provinceCode)).filter((event) => event.type === type);
}

function input(overrides: Partial<BindInput> & Pick<BindInput, 'accountId' | 'candidateId'>): BindInput {
  return { provinceCode: '11', campusId: 'C1', snapshot: snapshot(), now: T0, ...overrides };
}

/** Step 2 of the binding, called the way engine/binding.ts calls it (a late or crashed binder). */
async function bindCandidateStep(
  accountId: string,
  candidateId: string,
  token: string,
  now: number,
  snap: Snapshot = snapshot(),
) {
  const call = bindCandidateCall(t.engine, input({ accountId, candidateId, now, snapshot: snap }), token);
  return t.engine.run('bindCandidate', call.keys, call.args);
}

/** Step 1 of the binding only: a binder that crashes right after claiming the account. */
async function claimOnly(accountId: string, candidateId: string, token: string, now: number) {
  return t.engine.run(
    'claimAccount',
    [t.engine.keys.account(accountId).claims],
    [accountId, '11', candidateId, token, now],
  );
}

describe('R5/R6 registration window', () => {
  it('binds from registrationOpensAt up to (not including) registrationClosesAt', async () => {
    const first = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c1', now: OPENS_AT }));
    const last = await bind(t.engine, input({ accountId: 'a2', candidateId: 'c2', now: CLOSES_AT - 1 }));
    expect(first.ok).toBe(true);
    expect(last.ok).toBe(true);
    expect((await t.engine.registration('11', 'c1'))?.savedAt).toBe(OPENS_AT);
    expect((await t.engine.registration('11', 'c2'))?.savedAt).toBe(CLOSES_AT - 1);
  });

  it('refuses to bind before the opening time: REGISTRATION_NOT_OPEN, nothing stored', async () => {
    const outcome = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c1', now: OPENS_AT - 1 }));
    expect(outcome).toEqual({ ok: false, code: 'REGISTRATION_NOT_OPEN' });
    expect(await t.engine.registration('11', 'c1')).toBeNull();
    expect(await readClaim(t.engine, 'a1')).toBeNull();
    expect(await boundCandidate(t.engine, 'a1')).toBeNull();
    expect(await eventsOf('BOUND')).toEqual([]);
  });

  it('refuses to bind at and after the closing time: REGISTRATION_CLOSED, nothing stored', async () => {
    for (const now of [CLOSES_AT, CLOSES_AT + HOUR_MS]) {
      const outcome = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c1', now }));
      expect(outcome).toEqual({ ok: false, code: 'REGISTRATION_CLOSED' });
    }
    expect(await t.engine.registration('11', 'c1')).toBeNull();
    expect(await readClaim(t.engine, 'a1')).toBeNull();
    expect(await eventsOf('BOUND')).toEqual([]);
  });

  it('refuses to bind in a province whose window was never set: REGISTRATION_NOT_OPEN', async () => {
    const outcome = await bind(t.engine, input({ accountId: 'a1', provinceCode: '12', candidateId: 'c1' }));
    expect(outcome).toEqual({ ok: false, code: 'REGISTRATION_NOT_OPEN' });
    expect(await t.engine.registration('12', 'c1')).toBeNull();
    expect(await readClaim(t.engine, 'a1')).toBeNull();
  });

  it('lets one account look up (and fail to bind) several candidates before opening (R5)', async () => {
    for (const candidateId of ['c1', 'c2', 'c3']) {
      const outcome = await bind(t.engine, input({ accountId: 'a1', candidateId, now: OPENS_AT - 1 }));
      expect(outcome.ok).toBe(false);
    }
    // nothing was bound meanwhile, so the account is still free once the window opens
    const outcome = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c3', now: OPENS_AT }));
    expect(outcome.ok).toBe(true);
  });

  it('refuses every subject call outside the window the same way, changing nothing', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const held = await t.engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 });
    expect(held.ok).toBe(true);
    const before = await t.engine.registration('11', 'c1');
    const seatsBefore = await t.engine.seatCounts('11');
    const eventCount = (await events()).length;

    for (const [now, code] of [
      [OPENS_AT - 1, 'REGISTRATION_NOT_OPEN'],
      [CLOSES_AT, 'REGISTRATION_CLOSED'],
    ] as const) {
      expect(
        await t.engine.reserveWritten({ ...ref, subject: 'CET6', eligible: true, fee: 30, now }),
      ).toEqual({
        ok: false,
        code,
      });
      expect(
        await t.engine.reserveOral({ ...ref, subject: 'CET-SET4', campusId: 'C1', fee: 50, now }),
      ).toEqual({ ok: false, code });
      expect(await t.engine.cancel({ ...ref, subject: 'CET4', now })).toEqual({ ok: false, code });
      expect(await t.engine.createOrder({ ...ref, method: 'alipay', now })).toEqual({ ok: false, code });
    }

    expect(await t.engine.registration('11', 'c1')).toEqual(before);
    expect(await t.engine.seatCounts('11')).toEqual(seatsBefore);
    expect((await events()).length).toBe(eventCount);
  });
});

describe('R6/I2 one account ↔ one candidate', () => {
  it("sends step 3 without waiting; idle() waits for the engine's background work, failed or not", async () => {
    const outcome = await bind(t.engine, input({ accountId: 'a9', candidateId: 'c9' }));
    expect(outcome.ok).toBe(true);
    await t.engine.idle();
    expect(await readClaim(t.engine, 'a9')).toMatchObject({ state: 'BOUND', candidateId: 'c9' });

    let finish!: () => void;
    t.engine.background(new Promise<void>((resolve) => (finish = resolve)));
    t.engine.background(Promise.reject(new Error('a lost connection')));
    let idle = false;
    const waited = t.engine.idle().then(() => (idle = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(idle).toBe(false);
    finish();
    await waited;
    expect(idle).toBe(true);
  });

  it('binds, finalizes the claim and reports the bound candidate', async () => {
    const outcome = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c1' }));
    if (!outcome.ok) throw new Error(outcome.code);
    expect(outcome.replay).toBe(false);
    expect(outcome.registration).toEqual({
      candidateId: 'c1',
      accountId: 'a1',
      provinceCode: '11',
      campusId: 'C1',
      savedAt: T0,
      deleteAt: T0 + TWELVE_HOURS,
      snapshot: snapshot(),
      written: [],
      oral: [],
      amountDue: 0,
    });
    expect(await t.engine.registration('11', 'c1')).toEqual(outcome.registration);
    expect(await readClaim(t.engine, 'a1')).toMatchObject({
      state: 'BOUND',
      provinceCode: '11',
      candidateId: 'c1',
      claimedAt: T0,
    });
    expect(await boundCandidate(t.engine, 'a1')).toEqual({
      accountId: 'a1',
      provinceCode: '11',
      candidateId: 'c1',
      registration: outcome.registration,
    });
    const bound = await eventsOf('BOUND');
    expect(bound).toHaveLength(1);
    expect(bound[0]?.data).toMatchObject({
      candidateId: 'c1',
      accountId: 'a1',
      campusId: 'C1',
      savedAt: T0,
      deleteAt: T0 + TWELVE_HOURS,
    });
  });

  it('refuses a second account for the same candidate and leaves no claim behind', async () => {
    await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1', accountId: 'a1' });
    const outcome = await bind(t.engine, input({ accountId: 'a2', candidateId: 'c1', now: T0 + 1000 }));
    expect(outcome).toEqual({ ok: false, code: 'CANDIDATE_ALREADY_BOUND' });
    expect(await readClaim(t.engine, 'a2')).toBeNull();
    expect(await boundCandidate(t.engine, 'a2')).toBeNull();
    expect((await t.engine.registration('11', 'c1'))?.accountId).toBe('a1');
    expect((await boundCandidate(t.engine, 'a1'))?.candidateId).toBe('c1');
    expect(await eventsOf('BOUND')).toHaveLength(1);
    // the compensation really freed the account: it can bind another candidate
    const other = await bind(t.engine, input({ accountId: 'a2', candidateId: 'c2', now: T0 + 2000 }));
    expect(other.ok).toBe(true);
    expect((await boundCandidate(t.engine, 'a2'))?.candidateId).toBe('c2');
  });

  it('refuses a second candidate for the same account, in any province, and stores nothing for it', async () => {
    await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1', accountId: 'a1' });
    const claim = await readClaim(t.engine, 'a1');

    const sameProvince = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c2' }));
    expect(sameProvince).toEqual({
      ok: false,
      code: 'ACCOUNT_ALREADY_BOUND',
      details: { sameCandidate: false, inProgress: false },
    });
    const otherProvince = await bind(
      t.engine,
      input({ accountId: 'a1', provinceCode: '31', campusId: 'C9', candidateId: 'c9' }),
    );
    expect(otherProvince).toEqual({
      ok: false,
      code: 'ACCOUNT_ALREADY_BOUND',
      details: { sameCandidate: false, inProgress: false },
    });

    expect(await t.engine.registration('11', 'c2')).toBeNull();
    expect(await t.engine.registration('31', 'c9')).toBeNull();
    expect(await readClaim(t.engine, 'a1')).toEqual(claim);
    expect((await boundCandidate(t.engine, 'a1'))?.candidateId).toBe('c1');
    expect(await eventsOf('BOUND', '31')).toEqual([]);
    // c2 stays free for its own account
    expect((await bind(t.engine, input({ accountId: 'a2', candidateId: 'c2' }))).ok).toBe(true);
  });

  it('answers a repeated save of the same pair with ACCOUNT_ALREADY_BOUND (sameCandidate) and no change', async () => {
    await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1', accountId: 'a1' });
    const before = await t.engine.registration('11', 'c1');
    const again = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c1', now: T0 + HOUR_MS }));
    expect(again).toEqual({
      ok: false,
      code: 'ACCOUNT_ALREADY_BOUND',
      details: { sameCandidate: true, inProgress: false },
    });
    expect(await t.engine.registration('11', 'c1')).toEqual(before);
    expect(await eventsOf('BOUND')).toHaveLength(1);
  });

  it('binds exactly one pair when many accounts race for one candidate and one account for many', async () => {
    const forOneCandidate = await Promise.all(
      Array.from({ length: 20 }, (_, n) => bind(t.engine, input({ accountId: `r${n}`, candidateId: 'c1' }))),
    );
    const winners = forOneCandidate.filter((outcome) => outcome.ok);
    expect(winners).toHaveLength(1);
    expect(forOneCandidate.filter((o) => !o.ok).map((o) => !o.ok && o.code)).toEqual(
      Array(19).fill('CANDIDATE_ALREADY_BOUND'),
    );

    const forOneAccount = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        bind(t.engine, input({ accountId: 'solo', candidateId: `s${n}` })),
      ),
    );
    expect(forOneAccount.filter((outcome) => outcome.ok)).toHaveLength(1);
    for (const outcome of forOneAccount) {
      if (!outcome.ok) expect(outcome.code).toBe('ACCOUNT_ALREADY_BOUND');
    }
    const bound = await boundCandidate(t.engine, 'solo');
    expect(bound).not.toBeNull();
    for (let n = 0; n < 20; n++) {
      const registration = await t.engine.registration('11', `s${n}`);
      expect(registration === null).toBe(`s${n}` !== bound?.candidateId);
    }
  });
});

describe('R6/I2 binding recovery after a crashed binder', () => {
  it('reports a fresh pending claim as in progress and does not touch it', async () => {
    await claimOnly('a1', 'c1', 'tok', T0);
    const outcome = await bind(
      t.engine,
      input({ accountId: 'a1', candidateId: 'c2', now: T0 + t.engine.claimStaleMs - 1 }),
    );
    expect(outcome).toEqual({
      ok: false,
      code: 'ACCOUNT_ALREADY_BOUND',
      details: { sameCandidate: false, inProgress: true },
    });
    expect(await readClaim(t.engine, 'a1')).toEqual({
      state: 'PENDING',
      provinceCode: '11',
      candidateId: 'c1',
      token: 'tok',
      claimedAt: T0,
    });
    expect(await boundCandidate(t.engine, 'a1')).toBeNull();
    expect(await t.engine.registration('11', 'c2')).toBeNull();
  });

  it('fences and releases a stale pending claim; the new bind succeeds and the late step 2 is aborted', async () => {
    await claimOnly('a1', 'c1', 'tok', T0);
    const now = T0 + t.engine.claimStaleMs;
    const outcome = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c2', now }));
    if (!outcome.ok) throw new Error(outcome.code);
    expect(outcome.registration.candidateId).toBe('c2');
    expect(await t.redis.hget(t.engine.keys.province('11').fence, 'tok')).toBe(String(now));
    expect(await readClaim(t.engine, 'a1')).toMatchObject({ state: 'BOUND', candidateId: 'c2' });

    // the crashed binder wakes up and sends its step 2 for c1: it must not bind a second candidate
    const late = await bindCandidateStep('a1', 'c1', 'tok', now + 1);
    expect(late).toEqual({ ok: false, code: 'BIND_ABORTED' });
    expect(await t.engine.registration('11', 'c1')).toBeNull();
    expect((await boundCandidate(t.engine, 'a1'))?.candidateId).toBe('c2');
    expect((await eventsOf('BOUND')).map((event) => event.data.candidateId)).toEqual(['c2']);
    // c1 is free for another account
    expect((await bind(t.engine, input({ accountId: 'a2', candidateId: 'c1', now: now + 2 }))).ok).toBe(true);
  });

  it('recovers a stale claim for the same candidate and binds it under the new attempt', async () => {
    await claimOnly('a1', 'c1', 'tok', T0);
    const now = T0 + t.engine.claimStaleMs;
    const outcome = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c1', now }));
    expect(outcome.ok).toBe(true);
    const late = await bindCandidateStep('a1', 'c1', 'tok', now + 1);
    expect(late).toEqual({ ok: false, code: 'BIND_ABORTED' });
    const claim = await readClaim(t.engine, 'a1');
    expect(claim).toMatchObject({ state: 'BOUND', candidateId: 'c1', claimedAt: now });
    expect(claim?.token).not.toBe('tok');
  });

  it('finalizes (does not release) a pending claim whose step 2 succeeded before the crash', async () => {
    await claimOnly('a1', 'c1', 'tok', T0);
    const stepTwo = await bindCandidateStep('a1', 'c1', 'tok', T0);
    expect(stepTwo).toMatchObject({ ok: true, replay: false });
    expect(await readClaim(t.engine, 'a1')).toMatchObject({ state: 'PENDING', token: 'tok' });
    // a pending claim already counts once the province side confirms it
    expect((await boundCandidate(t.engine, 'a1'))?.candidateId).toBe('c1');

    for (const now of [T0 + 1, T0 + t.engine.claimStaleMs + 1]) {
      const outcome = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c2', now }));
      expect(outcome).toEqual({
        ok: false,
        code: 'ACCOUNT_ALREADY_BOUND',
        details: { sameCandidate: false, inProgress: false },
      });
    }
    expect(await readClaim(t.engine, 'a1')).toEqual({
      state: 'BOUND',
      provinceCode: '11',
      candidateId: 'c1',
      token: 'tok',
      claimedAt: T0,
    });
    expect(await t.redis.hexists(t.engine.keys.province('11').fence, 'tok')).toBe(0);
    expect(await t.engine.registration('11', 'c2')).toBeNull();
    // a retried step 2 with the same token is an idempotent replay
    expect(await bindCandidateStep('a1', 'c1', 'tok', T0 + 5)).toMatchObject({ ok: true, replay: true });
    expect(await eventsOf('BOUND')).toHaveLength(1);
  });
});

describe('R7 snapshot at save time', () => {
  it('stores and returns the snapshot as given, with the masked ID number only', async () => {
    const given = snapshot({
      name: '李四',
      idType: 'PASSPORT',
      idMasked: 'E1******8',
      schoolId: 'S77',
      grade: '2023',
      eligibleSubjects: ['CET4', 'CET6', 'CJT4'],
    });
    const outcome = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c1', snapshot: given }));
    if (!outcome.ok) throw new Error(outcome.code);
    expect(outcome.registration.snapshot).toEqual(given);
    expect((await t.engine.registration('11', 'c1'))?.snapshot).toEqual(given);
    expect((await boundCandidate(t.engine, 'a1'))?.registration.snapshot).toEqual(given);

    // whatever the stored encoding, it carries the masked number as given
    const stored = await t.redis.hgetBuffer(t.engine.keys.province('11').registrations('c1'), 'c1');
    expect(stored?.includes('E1******8')).toBe(true);
    const [bound] = await eventsOf('BOUND');
    expect(bound?.data.snapshot).toEqual(JSON.parse(encodeSnapshot(given)));
  });

  it('keeps the saved snapshot when the school record changes later', async () => {
    const saved = snapshot({ name: '王小明', grade: '2024', eligibleSubjects: ['CET4'] });
    await bind(t.engine, input({ accountId: 'a1', candidateId: 'c1', snapshot: saved }));
    const changed = snapshot({ name: '王晓明', grade: '2025', eligibleSubjects: ['CET4', 'CET6'] });
    // saving again with the changed record does not overwrite the first snapshot
    const again = await bind(
      t.engine,
      input({ accountId: 'a1', candidateId: 'c1', snapshot: changed, now: T0 + HOUR_MS }),
    );
    expect(again.ok).toBe(false);
    const ref = { accountId: 'a1', provinceCode: '11', candidateId: 'c1' };
    await t.engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 + HOUR_MS });
    expect((await t.engine.registration('11', 'c1'))?.snapshot).toEqual(saved);
  });
});

describe('R8 empty registration deleted 12 hours after saving', () => {
  // Deadlines are indexed per whole second and a second is swept once all of it is due
  // (engine/keys.ts dueBucketOf): saving at .999 ms puts deleteAt on such a sweep boundary.
  const SAVED_AT = T0 + 999;
  const DELETE_AT = SAVED_AT + TWELVE_HOURS;

  it('deletes it, binding included, exactly at savedAt + 12h and not a millisecond before', async () => {
    const saved = await bind(t.engine, input({ accountId: 'a1', candidateId: 'c1', now: SAVED_AT }));
    if (!saved.ok) throw new Error(saved.code);
    expect(saved.registration.deleteAt).toBe(DELETE_AT);

    for (const now of [DELETE_AT - 1000, DELETE_AT - 1]) {
      const early = await expireDue(t.engine, '11', now);
      expect(early.deleted).toEqual([]);
      expect(await t.engine.registration('11', 'c1')).toEqual(saved.registration);
      expect((await boundCandidate(t.engine, 'a1'))?.candidateId).toBe('c1');
    }

    const sweep = await expireDue(t.engine, '11', DELETE_AT);
    expect(sweep.deleted).toEqual([{ candidateId: 'c1', accountId: 'a1' }]);
    expect(sweep.expired).toEqual([]);
    expect(await t.engine.registration('11', 'c1')).toBeNull();
    expect(await readClaim(t.engine, 'a1')).toBeNull();
    expect(await boundCandidate(t.engine, 'a1')).toBeNull();

    const again = await expireDue(t.engine, '11', DELETE_AT + HOUR_MS);
    expect(again.deleted).toEqual([]);
    const deleted = await eventsOf('DELETED');
    expect(deleted).toEqual([
      { type: 'DELETED', data: { candidateId: 'c1', accountId: 'a1', reason: 'EMPTY_PAST_DEADLINE' } },
    ]);

    // the account may bind another candidate, and the candidate must be saved again to register
    expect((await bind(t.engine, input({ accountId: 'a1', candidateId: 'c2', now: DELETE_AT + 1 }))).ok).toBe(
      true,
    );
    expect(
      await t.engine.reserveWritten({
        accountId: 'a1',
        provinceCode: '11',
        candidateId: 'c1',
        subject: 'CET4',
        eligible: true,
        fee: 30,
        now: DELETE_AT + 1,
      }),
    ).toEqual({ ok: false, code: 'NO_REGISTRATION' });
    expect((await bind(t.engine, input({ accountId: 'a9', candidateId: 'c1', now: DELETE_AT + 2 }))).ok).toBe(
      true,
    );
  });

  it('keeps a registration that holds a live subject, then restarts the 12 hours when its hold expires', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1', accountId: 'a1', now: T0 });
    // held at .999 ms so that the pay-by deadline, too, falls on a sweep boundary
    const heldAt = T0 + HOUR_MS + 999;
    const held = await t.engine.reserveWritten({
      ...ref,
      subject: 'CET4',
      eligible: true,
      fee: 30,
      now: heldAt,
    });
    if (!held.ok) throw new Error(held.code);
    expect((await t.engine.registration('11', 'c1'))?.deleteAt).toBeNull();

    // past the original empty deadline: not deleted while the subject is live
    const early = await expireDue(t.engine, '11', T0 + TWELVE_HOURS + 1000);
    expect(early.deleted).toEqual([]);
    expect(early.expired).toEqual([]);
    const live = await t.engine.registration('11', 'c1');
    expect(live?.deleteAt).toBeNull();
    expect(live?.written.map((item) => item.status)).toEqual(['HELD']);

    // the hold expires: the registration is empty again and gets deleteAt = expiry time + 12h
    const payBy = held.item.payBy;
    const expiry = await expireDue(t.engine, '11', payBy);
    expect(expiry.expired).toEqual([{ candidateId: 'c1', subject: 'CET4', holdId: held.item.holdId }]);
    expect(expiry.deleted).toEqual([]);
    const empty = await t.engine.registration('11', 'c1');
    expect(empty?.deleteAt).toBe(payBy + TWELVE_HOURS);
    expect(empty?.written.map((item) => item.status)).toEqual(['EXPIRED']);

    expect((await expireDue(t.engine, '11', payBy + TWELVE_HOURS - 1)).deleted).toEqual([]);
    expect(await t.engine.registration('11', 'c1')).not.toBeNull();
    const sweep = await expireDue(t.engine, '11', payBy + TWELVE_HOURS);
    expect(sweep.deleted).toEqual([{ candidateId: 'c1', accountId: 'a1' }]);
    expect(await t.engine.registration('11', 'c1')).toBeNull();
    expect(await readClaim(t.engine, 'a1')).toBeNull();
    expect(await eventsOf('DELETED')).toHaveLength(1);
  });

  it('restarts the 12 hours when the last subject is cancelled', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1', accountId: 'a1', now: T0 });
    await t.engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 + 1000 });
    const cancelAt = T0 + 2 * HOUR_MS + 999;
    expect(await t.engine.cancel({ ...ref, subject: 'CET4', now: cancelAt })).toEqual({
      ok: true,
      cancelled: ['CET4'],
    });
    expect((await t.engine.registration('11', 'c1'))?.deleteAt).toBe(cancelAt + TWELVE_HOURS);
    // the first empty deadline (savedAt + 12h) no longer applies
    expect((await expireDue(t.engine, '11', T0 + TWELVE_HOURS + 1000)).deleted).toEqual([]);
    expect((await expireDue(t.engine, '11', cancelAt + TWELVE_HOURS)).deleted).toEqual([
      { candidateId: 'c1', accountId: 'a1' },
    ]);
  });
});
