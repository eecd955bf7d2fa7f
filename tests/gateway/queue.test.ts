/**
 * The waiting room through HTTP and /ws/seats against a running system (API.md "Waiting room"):
 * an operator sets a room up; candidates take tickets before the opening (PREQUEUE, one per
 * account, kept across a new login and a gateway restart) and watch them over the WebSocket; the
 * keeper draws at the opening (recomputable from the revealed seed) and admits; the gated writes
 * refuse without a pass (with the ticket in the details) and work with one. Bad input to the new
 * routes gets a clear error and changes nothing.
 */
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitmentOf, drawOrder } from '../../engine/queueDraw.ts';
import { startSystem, type RunningSystem } from '../../gateway/system.ts';
import {
  ADMIN_TOKEN,
  HttpClient,
  login,
  signUp,
  startTestGateway,
  type SignedUp,
  type TestGateway,
} from '../support/gateway.ts';
import { redisUrl } from '../support/env.ts';
import { waitFor } from '../support/wait.ts';
import { seedTestWorld, type TestCandidate, type TestWorld } from '../support/world.ts';

const MINUTE = 60_000;

let gw: TestGateway;
let world: TestWorld;
let opensAt: number;
let commitment: string;
const people: { user: SignedUp; candidate: TestCandidate; ticketId: string }[] = [];

/** A WebSocket on /ws/seats with a session (?token=), collecting every message. */
async function ticketSocket(base: string, token: string | null) {
  const url = `${base.replace(/^http/, 'ws')}/ws/seats${token === null ? '' : `?token=${token}`}`;
  const ws = new WebSocket(url);
  const messages: Record<string, unknown>[] = [];
  ws.on('message', (data) =>
    messages.push(JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
  });
  return { ws, messages };
}

beforeAll(async () => {
  gw = await startTestGateway({ QUEUE_TICK_MS: '100', QUEUE_INITIAL_ACTIVE: '50' });
  world = await seedTestWorld(gw);
  opensAt = world.now + 10 * MINUTE;
  await gw.engine.setCalendar(
    {
      provinceCode: '11',
      registrationOpensAt: opensAt,
      registrationClosesAt: opensAt + 10 * 24 * 60 * MINUTE,
    },
    world.now,
  );
  const set = await gw.http.admin('PUT', '/api/v1/admin/queue', [
    { provinceCode: '11', mode: 'opening', preQueueMinutes: 30, passMinutes: 15, maxAdmitPerMinute: null },
    { provinceCode: '99', mode: 'opening', preQueueMinutes: 30, passMinutes: 15, maxAdmitPerMinute: null },
    { provinceCode: '31', mode: 'sometimes', preQueueMinutes: 30, passMinutes: 15, maxAdmitPerMinute: null },
    { provinceCode: '31', mode: 'opening', preQueueMinutes: -1, passMinutes: 0, maxAdmitPerMinute: null },
  ]);
  expect(set.status).toBe(200);
  expect(set.body.upserted).toBe(1);
  expect(set.body.rejected.map((r: { index: number; code: string }) => [r.index, r.code])).toEqual([
    [1, 'PROVINCE_NOT_FOUND'],
    [2, 'VALIDATION_FAILED'],
    [3, 'VALIDATION_FAILED'],
  ]);
  commitment = set.body.lotteryCommitments['11'];
  for (let i = 0; i < 4; i++) {
    const user = await signUp(gw.http);
    people.push({ user, candidate: await world.candidate(), ticketId: '' });
  }
}, 120_000);

afterAll(async () => {
  await world?.close();
  await gw?.close();
});

describe('the waiting room over HTTP', () => {
  it('publishes the room: mode, commitment, not yet the seed; 31 was refused and stays off', async () => {
    const room = await gw.http.get('/api/v1/queue/11');
    expect(room.status).toBe(200);
    expect(room.body).toMatchObject({
      provinceCode: '11',
      mode: 'opening',
      active: true,
      waiting: 0,
      lotteryCommitment: commitment,
      lotterySeed: null,
    });
    expect(room.body.opensAt).toMatch(/\+08:00$/);
    const off = await gw.http.get('/api/v1/queue/31');
    expect(off.body).toMatchObject({ mode: 'off', active: false, lotteryCommitment: null });
    expect((await gw.http.get('/api/v1/queue/99')).body.error.code).toBe('PROVINCE_NOT_FOUND');
    expect((await gw.http.get('/api/v1/queue/11/draw')).body.error.code).toBe('DRAW_NOT_DONE');
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const { token } = people[0]!.user;
    const cases: [unknown, number, string][] = [
      [{ provinceCode: '99' }, 404, 'PROVINCE_NOT_FOUND'],
      [{ provinceCode: 11 }, 400, 'VALIDATION_FAILED'],
      [{ provinceCode: '11', priority: 'me first' }, 400, 'VALIDATION_FAILED'],
      [{}, 400, 'VALIDATION_FAILED'],
      [{ provinceCode: '31' }, 409, 'QUEUE_NOT_ACTIVE'],
    ];
    for (const [body, status, code] of cases) {
      const answer = await gw.http.post('/api/v1/queue/tickets', body, { token });
      expect([answer.status, answer.body.error?.code]).toEqual([status, code]);
    }
    expect((await gw.http.post('/api/v1/queue/tickets', { provinceCode: '11' })).status).toBe(401);
    expect((await gw.http.get('/api/v1/queue/tickets/current', { token })).status).toBe(400);
    const none = await gw.http.get('/api/v1/queue/tickets/current?provinceCode=11', { token });
    expect([none.status, none.body.error.code]).toEqual([404, 'NO_TICKET']);
    expect((await gw.http.get('/api/v1/queue/11')).body.waiting).toBe(0);
  });

  it('PREQUEUE before the opening: one ticket per account, kept by a refresh and a new login', async () => {
    for (const person of people) {
      const joined = await gw.http.post(
        '/api/v1/queue/tickets',
        { provinceCode: '11' },
        { token: person.user.token },
      );
      expect(joined.status).toBe(201);
      expect(joined.body.ticket).toMatchObject({
        provinceCode: '11',
        state: 'PREQUEUE',
        position: null,
        etaSeconds: null,
        admittedAt: null,
        passExpiresAt: null,
      });
      person.ticketId = joined.body.ticket.ticketId;
    }
    const first = people[0]!;
    const again = await gw.http.post(
      '/api/v1/queue/tickets',
      { provinceCode: '11' },
      { token: first.user.token },
    );
    expect([again.status, again.body.ticket.ticketId]).toEqual([200, first.ticketId]);
    const newSession = await login(gw.http, first.user.phone, first.user.password);
    const current = await gw.http.get('/api/v1/queue/tickets/current?provinceCode=11', { token: newSession });
    expect(current.body.ticket.ticketId).toBe(first.ticketId);
    expect((await gw.http.get('/api/v1/queue/11')).body.waiting).toBe(4);
  });

  it('a WebSocket watches only its own account’s ticket, the current state first', async () => {
    const anonymous = await ticketSocket(gw.base, null);
    anonymous.ws.send(JSON.stringify({ subscribe: [`queue:${people[0]!.ticketId}`] }));
    // the suite's other files share this Redis and the 2 cores: answers may take seconds
    await waitFor(() => anonymous.messages.length > 0, {
      timeoutMs: 20_000,
      message: 'an answer to the anonymous socket',
    });
    expect(anonymous.messages[0]).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    anonymous.ws.close();
    await expect(ticketSocket(gw.base, 'not-a-session')).rejects.toThrow(/401/);

    const mine = await ticketSocket(gw.base, people[1]!.user.token);
    mine.ws.send(JSON.stringify({ subscribe: [`queue:${people[0]!.ticketId}`] }));
    await waitFor(() => mine.messages.length > 0, {
      timeoutMs: 20_000,
      message: "an answer about another account's ticket",
    });
    expect(mine.messages[0]).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
    mine.ws.send(JSON.stringify({ subscribe: [`queue:${people[1]!.ticketId}`] }));
    await waitFor(() => mine.messages.length > 1, { timeoutMs: 20_000, message: 'the current ticket' });
    expect(mine.messages[1]).toMatchObject({
      type: 'queue',
      ticket: { ticketId: people[1]!.ticketId, state: 'PREQUEUE' },
    });
    mine.ws.close();
  });

  it('operators see the line and the admission: /api/v1/admin/stats and /metrics', async () => {
    await waitFor(
      async () =>
        (await gw.http.admin('GET', '/api/v1/admin/stats')).body.queue?.byProvince?.['11']?.targetActive > 0,
      { message: "the keeper's first tick" },
    );
    const stats = (await gw.http.admin('GET', '/api/v1/admin/stats')).body;
    expect(stats.queue.rooms).toBe(1);
    expect(stats.queue.waiting).toBe(4);
    expect(stats.queue.byProvince['11']).toMatchObject({
      mode: 'opening',
      phase: 'PRE',
      active: true,
      waiting: 4,
      admitted: 0,
      activeCandidates: 0,
      targetActive: 50,
    });
    // every app thread reports its admission (THREADS=2), totals per class since it started
    await waitFor(
      async () => (await gw.http.admin('GET', '/api/v1/admin/stats')).body.admission.threads === 2,
      {
        message: 'both threads’ load reports',
      },
    );
    const admission = (await gw.http.admin('GET', '/api/v1/admin/stats')).body.admission;
    expect(admission.limit).toBeGreaterThanOrEqual(2 * 8);
    expect(admission.health).toMatch(/^(up|down|hold)$/);
    expect(admission.admitted.standard + admission.admitted.background).toBeGreaterThan(0);
    expect(Object.keys(admission.shed).sort()).toEqual(['background', 'critical', 'standard']);

    const metrics = (await gw.http.get('/metrics')).text;
    expect(metrics).toContain('queue_waiting{province="11"} 4');
    expect(metrics).toContain('queue_target_active{province="11"} 50');
    expect(metrics).toMatch(/queue_admitted_per_minute\{province="11"\} 0/);
  });

  it('a gateway restart loses no ticket', async () => {
    const before = await gw.http.get('/api/v1/queue/tickets/current?provinceCode=11', {
      token: people[2]!.user.token,
    });
    await gw.system.stop();
    const restarted: RunningSystem = await startSystem({
      TEST_MODE: '1',
      PORT: '0',
      HOST: '127.0.0.1',
      THREADS: '2',
      POOL_THREADS: '1',
      REDIS_URL: redisUrl(),
      DATABASE_URL: gw.databaseUrl,
      KEY_NAMESPACE: gw.namespace,
      ADMIN_TOKEN,
      LOG_LEVEL: 'warn',
      PAYMENT_SIMULATOR_PORT: '0',
      QUEUE_TICK_MS: '100',
    });
    // the rest of this file talks to the restarted system
    Object.assign(gw, { system: restarted, base: `http://127.0.0.1:${restarted.port}` });
    Object.assign(gw, { http: new HttpClient(gw.base) });
    const after = await gw.http.get('/api/v1/queue/tickets/current?provinceCode=11', {
      token: people[2]!.user.token,
    });
    expect(after.status).toBe(200);
    expect(after.body.ticket).toEqual(before.body.ticket);
  }, 60_000);

  it('at the opening: the draw (recomputable), then admission; the gated writes need the pass', async () => {
    const watcher = await ticketSocket(gw.base, people[3]!.user.token);
    watcher.ws.send(JSON.stringify({ subscribe: [`queue:${people[3]!.ticketId}`] }));
    await waitFor(() => watcher.messages.length > 0, { message: 'the current ticket' });

    // a candidate with no ticket is refused with details.ticket = null, once registration is open
    const outsider = await signUp(gw.http);
    const candidate = await world.candidate();
    await world.clock.set({ nowMs: opensAt + 1_000 });
    const refused = await gw.http.post(
      '/api/v1/registration',
      { ...candidate.identity, confirm: true },
      { token: outsider.token },
    );
    expect([refused.status, refused.body.error.code]).toEqual([403, 'QUEUE_PASS_REQUIRED']);
    expect(refused.body.error.details).toEqual({ ticket: null });

    await waitFor(async () => (await gw.http.get('/api/v1/queue/11/draw')).status === 200, {
      timeoutMs: 20_000,
      message: 'the draw',
    });
    const draw = (await gw.http.get('/api/v1/queue/11/draw')).body;
    expect(commitmentOf(Buffer.from(draw.lotterySeed, 'hex'))).toBe(commitment);
    const ids = people.map((p) => p.ticketId);
    expect(draw.tickets.map((t: [string, number]) => t[0])).toEqual(
      drawOrder(Buffer.from(draw.lotterySeed, 'hex'), ids),
    );
    expect((await gw.http.get('/api/v1/queue/11')).body.lotterySeed).toBe(draw.lotterySeed);

    // the outsider joins after the opening: behind all four drawn tickets
    const late = await gw.http.post(
      '/api/v1/queue/tickets',
      { provinceCode: '11' },
      { token: outsider.token },
    );
    expect(late.status).toBe(201);
    expect(late.body.ticket.state).toMatch(/WAITING|ADMITTED/);

    await waitFor(
      () => watcher.messages.some((m) => (m.ticket as { state?: string } | undefined)?.state === 'ADMITTED'),
      { timeoutMs: 20_000, message: 'the watched ticket admitted over the WebSocket' },
    );
    const admitted = watcher.messages.find((m) => (m.ticket as { state: string }).state === 'ADMITTED')!;
    expect(admitted.ticket).toMatchObject({ position: 0, etaSeconds: 0 });
    expect((admitted.ticket as { passExpiresAt: string }).passExpiresAt).toMatch(/\+08:00$/);
    watcher.ws.close();

    // with the pass: bind and hold
    const person = people[3]!;
    const bound = await gw.http.post(
      '/api/v1/registration',
      { ...person.candidate.identity, confirm: true },
      { token: person.user.token },
    );
    expect(bound.status).toBe(201);
    const held = await gw.http.post(
      '/api/v1/registration/written',
      { subject: 'CET4' },
      { token: person.user.token },
    );
    expect(held.status).toBe(201);
  }, 60_000);
});
