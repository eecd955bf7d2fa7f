/**
 * The reservation path caches an account's bound candidate per gateway thread (gateway/routes/
 * common.ts boundRef). A binding can end under R8 (empty for 12 h) and the account can then bind
 * another candidate: every thread must follow, whatever it had cached.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireDue } from '../../engine/expiry.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { HOUR_MS, registerCandidate, seedTestWorld, type TestWorld } from '../support/world.ts';

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

describe('R8 with the bound-candidate cache', () => {
  it('after the registration is deleted and the account binds anew, reservations reach the new candidate on every thread', async () => {
    const { user, candidate: first } = await registerCandidate(gw, world, { eligibleSubjects: ['CET4'] });
    // fill both threads' caches with the first candidate (CJT4: not eligible, changes nothing)
    for (let i = 0; i < 8; i++) {
      const refused = await gw.http.post(
        '/api/v1/registration/written',
        { subject: 'CJT4' },
        { token: user.token, headers: { connection: 'close' } },
      );
      expect(refused.body.error.code).toBe('NOT_ELIGIBLE');
    }
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
    const answers = [];
    for (let i = 0; i < 8; i++) {
      answers.push(
        await gw.http.post(
          '/api/v1/registration/written',
          { subject: 'CET4' },
          { token: user.token, headers: { connection: 'close' } },
        ),
      );
    }
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    expect(
      answers.filter((a) => a.status === 409).every((a) => a.body.error.code === 'ALREADY_REGISTERED'),
    ).toBe(true);
    const registration = await gw.engine.registration(second.provinceCode, second.candidateId);
    expect(registration?.written.map((w) => [w.subject, w.status])).toEqual([['CET4', 'HELD']]);
  });
});
