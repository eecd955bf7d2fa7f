/**
 * The reservation path caches an account's bound candidate per gateway thread (gateway/routes/
 * common.ts boundRef). A binding can end under R8 (empty for 12 h) and the account can then bind
 * another candidate: every thread must follow, whatever it had cached.
 *
 * Which thread answered is read from the threads' own metrics: GET /metrics makes the main thread
 * gather every thread's registry and merge them (gateway/server.ts, AggregatorRegistry.aggregate);
 * a spy on that merge shows the parts, one per thread. Nothing the gateway answers changes.
 */
import { AggregatorRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expireDue } from '../../engine/expiry.ts';
import { startTestGateway, type HttpAnswer, type TestGateway } from '../support/gateway.ts';
import { HOUR_MS, registerCandidate, seedTestWorld, type TestWorld } from '../support/world.ts';

const THREADS = 2;
/** Enough fresh connections that the kernel has spread them over both threads (2^-31 to fail). */
const MAX_REQUESTS = 32;

let gw: TestGateway;
let world: TestWorld;
beforeAll(async () => {
  gw = await startTestGateway({ THREADS: String(THREADS) });
  world = await seedTestWorld(gw);
}, 120_000);
afterAll(async () => {
  await world?.close();
  await gw?.close();
});

/** Per thread, its count of written reservations by outcome (reservations_total). */
type Outcomes = Record<string, number>;

async function outcomesPerThread(): Promise<Outcomes[]> {
  const merge = vi.spyOn(AggregatorRegistry, 'aggregate');
  try {
    expect((await gw.http.get('/metrics')).status).toBe(200);
    expect(merge).toHaveBeenCalledTimes(1);
    const parts = merge.mock.calls[0]![0] as {
      name: string;
      values: { labels: Record<string, string>; value: number }[];
    }[][];
    return parts.map((metrics) => {
      const outcomes: Outcomes = {};
      for (const { labels, value } of metrics.find((m) => m.name === 'reservations_total')?.values ?? [])
        if (labels.kind === 'WRITTEN') outcomes[labels.outcome!] = value;
      return outcomes;
    });
  } finally {
    merge.mockRestore();
  }
}

/** What each thread counted since `before`, for the outcomes named. */
function servedSince(before: Outcomes[], now: Outcomes[], outcomes: string[]): number[] {
  return now.map((thread, i) =>
    outcomes.reduce((sum, outcome) => sum + (thread[outcome] ?? 0) - (before[i]![outcome] ?? 0), 0),
  );
}

/**
 * Sends `request` (each on a connection of its own, which the kernel hands to either thread) until
 * every thread has answered at least one with one of `outcomes`; the answers, and what each thread
 * counted.
 */
async function untilEveryThreadAnswered(
  request: () => Promise<HttpAnswer>,
  outcomes: string[],
): Promise<{ answers: HttpAnswer[]; perThread: number[] }> {
  const before = await outcomesPerThread();
  expect(before).toHaveLength(THREADS);
  const answers: HttpAnswer[] = [];
  let perThread = before.map(() => 0);
  while (answers.length < MAX_REQUESTS && !perThread.every((n) => n > 0)) {
    answers.push(await request());
    perThread = servedSince(before, await outcomesPerThread(), outcomes);
  }
  return { answers, perThread };
}

describe('R8 with the bound-candidate cache', () => {
  it('after the registration is deleted and the account binds anew, reservations reach the new candidate on every thread', async () => {
    const { user, candidate: first } = await registerCandidate(gw, world, { eligibleSubjects: ['CET4'] });
    const reserve = (subject: string) => () =>
      gw.http.post(
        '/api/v1/registration/written',
        { subject },
        { token: user.token, headers: { connection: 'close' } },
      );
    // fill both threads' caches with the first candidate (CJT4: not eligible, changes nothing)
    const filled = await untilEveryThreadAnswered(reserve('CJT4'), ['NOT_ELIGIBLE']);
    expect(filled.perThread.every((n) => n > 0)).toBe(true);
    expect(filled.answers.every((a) => a.body.error?.code === 'NOT_ELIGIBLE')).toBe(true);
    // R8: 12 h without a subject deletes the registration and the binding
    await world.clock.set({ advanceMs: 12 * HOUR_MS + 2_000 });
    const now = await world.clock.now();
    await expireDue(gw.engine, first.provinceCode, now);
    expect(await gw.engine.registration(first.provinceCode, first.candidateId)).toBeNull();
    const gone = await gw.http.get('/api/v1/registration', { token: user.token });
    expect(gone.status).toBe(404);

    const second = await world.candidate({ eligibleSubjects: ['CET4'] });
    const saved = await gw.http.post(
      '/api/v1/registration',
      { ...second.identity, confirm: true },
      { token: user.token },
    );
    expect(saved.status).toBe(201);
    // every thread, each with the first candidate cached, answers for the second: one hold, then
    // ALREADY_REGISTERED (a thread stuck on the first candidate would answer NO_REGISTRATION)
    const { answers, perThread } = await untilEveryThreadAnswered(reserve('CET4'), [
      'OK',
      'ALREADY_REGISTERED',
    ]);
    expect(perThread.every((n) => n > 0)).toBe(true);
    expect(answers.map((a) => [a.status, a.body.error?.code])).toEqual([
      [201, undefined],
      ...answers.slice(1).map(() => [409, 'ALREADY_REGISTERED']),
    ]);
    const registration = await gw.engine.registration(second.provinceCode, second.candidateId);
    expect(registration?.written.map((w) => [w.subject, w.status])).toEqual([['CET4', 'HELD']]);
  });

  it('bound anew to the same candidate after a records change: no thread holds a subject from its stale copy (issue 16 item 14)', async () => {
    const { user, candidate } = await registerCandidate(gw, world, { eligibleSubjects: ['CET4', 'CJT4'] });
    const reserve = (subject: string) => () =>
      gw.http.post(
        '/api/v1/registration/written',
        { subject },
        { token: user.token, headers: { connection: 'close' } },
      );
    // both threads cache the binding, CJT4 eligible (CET6 needs a CET4 score: not eligible, changes nothing)
    const filled = await untilEveryThreadAnswered(reserve('CET6'), ['NOT_ELIGIBLE']);
    expect(filled.perThread.every((n) => n > 0)).toBe(true);
    // R8 deletes the empty registration; the school records then drop CJT4 (R4)
    await world.clock.set({ advanceMs: 12 * HOUR_MS + 2_000 });
    await expireDue(gw.engine, candidate.provinceCode, await world.clock.now());
    expect(await gw.engine.registration(candidate.provinceCode, candidate.candidateId)).toBeNull();
    await world.updateRoster(candidate.candidateId, { eligibleSubjects: ['CET4'] });
    // bound anew through one thread: its copy is fresh, the other's is the old binding's
    const saved = await gw.http.post(
      '/api/v1/registration',
      { ...candidate.identity, confirm: true },
      { token: user.token },
    );
    expect(saved.status).toBe(201);
    expect(saved.body.registration.eligibleSubjects).toEqual(['CET4']);
    const { answers, perThread } = await untilEveryThreadAnswered(reserve('CJT4'), ['NOT_ELIGIBLE', 'OK']);
    expect(perThread.every((n) => n > 0)).toBe(true);
    expect(answers.map((a) => [a.status, a.body.error?.code])).toEqual(
      answers.map(() => [403, 'NOT_ELIGIBLE']),
    );
    const registration = await gw.engine.registration(candidate.provinceCode, candidate.candidateId);
    expect(registration?.written).toEqual([]);
  });
});
