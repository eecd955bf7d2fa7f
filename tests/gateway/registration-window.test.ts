/**
 * The registration window by the driven clock (R5, R6, R15, R22; API.md: subject calls outside the
 * window answer 403 REGISTRATION_NOT_OPEN / REGISTRATION_CLOSED). The clock moves here, so this
 * file has its own gateway: the sweeper follows the clock, and other files keep theirs fixed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { DAY_MS, seedTestWorld, type TestWorld } from '../support/world.ts';
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

describe('province 31: before, inside and after its window', () => {
  it('looks up before the opening, binds and holds inside, refuses subject calls outside', async () => {
    const [user, other] = await Promise.all([signUp(gw.http), signUp(gw.http)]);
    const [candidate, late] = await Promise.all([
      world.candidate({ campus: 'upcoming', eligibleSubjects: ['CET4', 'CET6'], cet4: { score: 500 } }),
      world.candidate({ campus: 'upcoming' }),
    ]);
    const token = user.token;
    const bindBody = { ...candidate.identity, confirm: true };
    const opensAt = world.now + 2 * DAY_MS;

    // before: the eligibility-confirmation step only (R5)
    expect((await gw.http.post('/api/v1/eligibility/query', candidate.identity, { token })).status).toBe(200);
    expect(statusAndCode(await gw.http.post('/api/v1/registration', bindBody, { token }))).toEqual([
      403,
      'REGISTRATION_NOT_OPEN',
    ]);

    // one minute after the opening: bind, hold written and oral (the campus's own oral opens with it)
    await world.clock.set({ nowMs: opensAt + 60_000 });
    const saved = await gw.http.post('/api/v1/registration', bindBody, { token });
    expect(saved.status).toBe(201);
    expect(Math.abs(Date.parse(saved.body.registration.savedAt) - (opensAt + 60_000))).toBeLessThan(60_000);
    expect((await gw.http.post('/api/v1/registration/written', { subject: 'CET4' }, { token })).status).toBe(
      201,
    );
    const campuses = await gw.http.get('/api/v1/oral/campuses?subject=CET-SET4', { token });
    expect(campuses.body.map((campus: { campusId: string }) => campus.campusId)).toEqual(['C31A']);
    expect(
      (await gw.http.post('/api/v1/registration/oral', { subject: 'CET-SET4', campusId: 'C31A' }, { token }))
        .status,
    ).toBe(201);

    // the operators postpone the opening: subject calls are refused as not open
    const now = await world.clock.now();
    await gw.engine.setCalendar(
      { provinceCode: '31', registrationOpensAt: now + DAY_MS, registrationClosesAt: now + 5 * DAY_MS },
      now,
    );
    const notOpen = [
      await gw.http.post('/api/v1/registration/written', { subject: 'CET6' }, { token }),
      await gw.http.delete('/api/v1/registration/written/CET4', { token }),
      await gw.http.post('/api/v1/registration/oral', { subject: 'CET-SET4', campusId: 'C31A' }, { token }),
      await gw.http.delete('/api/v1/registration/oral/CET-SET4', { token }),
    ];
    for (const answer of notOpen) expect(statusAndCode(answer)).toEqual([403, 'REGISTRATION_NOT_OPEN']);

    // the window closes two minutes from now; three minutes later everything is refused as closed
    await gw.engine.setCalendar(
      { provinceCode: '31', registrationOpensAt: opensAt, registrationClosesAt: now + 120_000 },
      now,
    );
    await world.clock.set({ nowMs: now + 180_000 });
    const closed = [
      await gw.http.post('/api/v1/registration/written', { subject: 'CET6' }, { token }),
      await gw.http.delete('/api/v1/registration/written/CET4', { token }),
      await gw.http.post('/api/v1/registration/oral', { subject: 'CET-SET4', campusId: 'C31A' }, { token }),
      await gw.http.delete('/api/v1/registration/oral/CET-SET4', { token }),
      await gw.http.post('/api/v1/registration', { ...late.identity, confirm: true }, { token: other.token }),
    ];
    for (const answer of closed) expect(statusAndCode(answer)).toEqual([403, 'REGISTRATION_CLOSED']);
    // nothing was changed by the refusals; the lookup and the registration page still answer
    const view = await gw.http.get('/api/v1/registration', { token });
    expect(view.body.registration.written.map((item: { status: string }) => item.status)).toEqual(['HELD']);
    expect(view.body.registration.oral.map((item: { status: string }) => item.status)).toEqual(['HELD']);
    expect(
      (await gw.http.post('/api/v1/eligibility/query', late.identity, { token: other.token })).status,
    ).toBe(200);
  });
});
