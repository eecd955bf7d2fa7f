/**
 * The per-account limit that the reserve scripts count themselves (HoldGuard; issue 13, P2: a
 * reservation is one script call), against real Redis: the counter sits under the province's hash
 * tag, written and oral holds count against the same one, it is checked before anything else, and
 * past the limit a hold answers RATE_LIMITED and changes nothing (no seat, no record, no HELD, not
 * even the counter). Without a guard (or with an empty key) nothing is counted. Every test ends
 * with the invariant checker.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CandidateRef, HoldGuard } from '../../engine/engine.ts';
import { scanKeys } from '../support/redis.ts';
import {
  T0,
  bindOrThrow,
  campus,
  closeCheckingInvariants,
  loadFixture,
  newTestEngine,
  streamEvents,
  type TestEngine,
} from '../support/engine.ts';

const WINDOW_MS = 60_000;
const LIMIT = 3;

let t: TestEngine;

beforeEach(async () => {
  t = await newTestEngine();
  await loadFixture(t.engine, { campuses: [campus({ campusId: 'C1' })] });
});

afterEach(async () => {
  expect(await closeCheckingInvariants(t)).toEqual([]);
});

const guardFor = (accountId: string, limit = LIMIT): HoldGuard => ({
  key: t.engine.keys.province('11').accountCounter('reserve', accountId, Math.floor(T0 / WINDOW_MS)),
  windowMs: WINDOW_MS,
  limit,
});

const written = (ref: CandidateRef, guard?: HoldGuard, subject: 'CET4' | 'CET6' = 'CET4') =>
  t.engine.reserveWritten({ ...ref, subject, eligible: true, fee: 30, now: T0, ...(guard ? { guard } : {}) });

const oral = (ref: CandidateRef, guard?: HoldGuard) =>
  t.engine.reserveOral({
    ...ref,
    subject: 'CET-SET4',
    campusId: 'C1',
    fee: 50,
    now: T0,
    ...(guard ? { guard } : {}),
  });

/** Everything a refused hold must leave as it was. */
async function state(ref: CandidateRef) {
  const [seats, record, events] = await Promise.all([
    t.engine.seatCounts('11'),
    t.engine.storedRecord('11', ref.candidateId),
    streamEvents(t.redis, t.engine.keys.province('11').stream),
  ]);
  return { seats, record, held: events.filter((event) => event.type === 'HELD').length };
}

describe('the reserve limit counted by the hold’s own script', () => {
  it(`allows ${LIMIT} attempts per window, written and oral together; the next answers RATE_LIMITED and changes nothing`, async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const guard = guardFor(ref.accountId);
    const answers = [await written(ref, guard), await written(ref, guard), await oral(ref, guard)];
    expect(answers.map((a) => (a.ok ? 'ok' : a.code))).toEqual(['ok', 'ALREADY_REGISTERED', 'ok']);
    expect(await t.redis.get(guard.key)).toBe(String(LIMIT));
    const ttl = await t.redis.pttl(guard.key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(WINDOW_MS);

    const before = await state(ref);
    expect(before.held).toBe(2);
    // CET6 would be a new hold: refused before it is looked at, as is the oral one
    expect(await written(ref, guard, 'CET6')).toEqual({ ok: false, code: 'RATE_LIMITED' });
    expect(await oral(ref, guard)).toEqual({ ok: false, code: 'RATE_LIMITED' });
    expect(await state(ref)).toEqual(before);
    // the refused attempts are not counted either
    expect(await t.redis.get(guard.key)).toBe(String(LIMIT));

    // another account has its own counter; the next window starts afresh
    const other = await bindOrThrow(t.engine, { candidateId: 'c2', campusId: 'C1' });
    expect((await written(other, guardFor(other.accountId))).ok).toBe(true);
    const nextWindow = {
      ...guard,
      key: t.engine.keys
        .province('11')
        .accountCounter('reserve', ref.accountId, Math.floor(T0 / WINDOW_MS) + 1),
    };
    expect((await written(ref, nextWindow, 'CET6')).ok).toBe(true);
  });

  it('is checked before anything else: past the limit even a hold that would be refused otherwise is RATE_LIMITED', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const guard = guardFor(ref.accountId, 1);
    // a hold for a candidate bound to no one still counts (NO_REGISTRATION is decided after)
    const stranger = { ...ref, candidateId: 'nobody' };
    expect(await written(stranger, guard)).toEqual({ ok: false, code: 'NO_REGISTRATION' });
    expect(await written(ref, guard)).toEqual({ ok: false, code: 'RATE_LIMITED' });
    expect(await written(stranger, guard)).toEqual({ ok: false, code: 'RATE_LIMITED' });
    expect((await state(ref)).held).toBe(0);
  });

  it('keeps its counter under the province’s hash tag (one cluster slot with the seats)', async () => {
    const key = guardFor('a1').key;
    expect(/\{([^}]+)\}/.exec(key)?.[1]).toBe('p11');
    expect(key).toBe(`${t.namespace}:{p11}:rl:reserve:a1:${Math.floor(T0 / WINDOW_MS)}`);
    expect(() => t.engine.keys.province('11').accountCounter('re:serve', 'a1', 1)).toThrow(/rule name/);
    // a guard that is not a key of the hold's province is refused before any call
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const foreign = {
      ...guardFor(ref.accountId),
      key: guardFor(ref.accountId).key.replace('{p11}', '{p31}'),
    };
    await expect(written(ref, foreign)).rejects.toThrow(/guard/);
    expect((await state(ref)).held).toBe(0);
  });

  it('counts nothing without a guard, or with an empty key', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    const empty = { key: '', windowMs: WINDOW_MS, limit: 1 };
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await written(ref, i % 2 === 0 ? undefined : empty));
    expect(answers.map((a) => (a.ok ? 'ok' : a.code))).toEqual([
      'ok',
      ...Array<string>(4).fill('ALREADY_REGISTERED'),
    ]);
    expect((await oral(ref, empty)).ok).toBe(true);
    expect(await scanKeys(t.redis, `${t.namespace}:*:rl:*`)).toEqual([]);
  });
});
