/**
 * Idempotency-Key through HTTP (API.md "Conventions", REL4), against the whole running system:
 * a replay returns the first answer (status and body, marked `idempotent-replayed: true`) and
 * never makes a second reservation; the same key with another body → 422; a duplicate while the
 * first still runs → 409; keys are per account; a key longer than 255 characters → 400; a client
 * that goes away after sending gets, on retry with the same key, the answer it never read; a login
 * retried with its key gets its first session; what Redis keeps holds no password, ID number or
 * token, nor a plain hash of the body.
 */
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPool, query, type Pool } from '../../db/pool.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { signUp, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { scanKeys } from '../support/redis.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { registeredCandidate, seedTestWorld, type CandidateSpec, type TestWorld } from '../support/world.ts';
import { statusAndCode } from '../support/answers.ts';

let gw: TestGateway;
let world: TestWorld;
let db: Pool;

beforeAll(async () => {
  gw = await startTestGateway();
  world = await seedTestWorld(gw);
  db = createPool(gw.databaseUrl, { max: 2, applicationName: 'tests:idempotency' });
}, 120_000);

afterAll(async () => {
  await db?.end();
  await world?.close();
  await gw?.close();
});
// each test leaves the invariants holding, whichever ran before it
afterEach(async () => {
  expect((await checkInvariants(gw.engine, ['11', '31', '44'])).violations).toEqual([]);
});

const WRITTEN = '/api/v1/registration/written';
const PASSWORD = 'opening2026';

async function used(campusId: string, subject: string): Promise<number> {
  const counts = await gw.engine.seatCounts('11');
  return counts.find((count) => count.campusId === campusId && count.subject === subject)?.used ?? 0;
}

const registered = (spec: CandidateSpec = {}) => registeredCandidate(gw, world, spec);

async function accountsWithEmail(email: string): Promise<number> {
  const rows = await query<{ n: string }>(db, 'SELECT count(*)::text AS n FROM accounts WHERE email = $1', [
    email,
  ]);
  return Number(rows[0]!.n);
}

let emailSeq = 0;
const newEmail = () => `idem${++emailSeq}.${Date.now()}@example.com`;

describe('a replay returns the first answer', () => {
  it('the same key and body twice → one oral hold, identical answers, the second marked as replayed', async () => {
    const me = await registered();
    expect((await me.written('CET4')).status).toBe(201);
    const before = await used('C11A', 'CET-SET4');
    const first = await me.oral('CET-SET4', 'C11A', 'oral-1');
    const replay = await me.oral('CET-SET4', 'C11A', 'oral-1');
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(replay.status).toBe(first.status);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await used('C11A', 'CET-SET4')).toBe(before + 1);
    expect((await me.view()).oral).toEqual([first.body.item]);
  });

  it('the same key with another body → 422 IDEMPOTENCY_KEY_REUSED, and nothing is done', async () => {
    const me = await registered();
    expect((await me.written('CET4')).status).toBe(201);
    expect((await me.oral('CET-SET4', 'C11A', 'oral-2')).status).toBe(201);
    const annexBefore = await used('C11D', 'CET-SET4');
    const reused = await me.oral('CET-SET4', 'C11D', 'oral-2');
    expect(statusAndCode(reused)).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    expect(reused.headers.get('idempotent-replayed')).toBeNull();
    // the key on another route is another request too
    expect(statusAndCode(await me.written('CJT4', 'oral-2'))).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    expect(await used('C11D', 'CET-SET4')).toBe(annexBefore);
    const view = await me.view();
    expect(view.oral.map((item: { campusId: string }) => item.campusId)).toEqual(['C11A']);
    expect(view.written.map((item: { subject: string }) => item.subject)).toEqual(['CET4']);
  });

  it('a refusal is the first answer too: replayed as it was, even once the state would allow the call', async () => {
    const me = await registered();
    expect((await me.written('CET4')).status).toBe(201);
    const refused = await me.written('CJT4', 'cjt4-1');
    expect(statusAndCode(refused)).toEqual([409, 'SAME_LEVEL_TAKEN']);
    expect((await gw.http.delete(`${WRITTEN}/CET4`, { token: me.token })).status).toBe(200);
    const replay = await me.written('CJT4', 'cjt4-1');
    expect(statusAndCode(replay)).toEqual([409, 'SAME_LEVEL_TAKEN']);
    expect(replay.body).toEqual(refused.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    // the replay did not run the call: CET4 stays cancelled and nothing else was held
    expect(
      (await me.view()).written.map((item: { subject: string; status: string }) => [
        item.subject,
        item.status,
      ]),
    ).toEqual([['CET4', 'CANCELLED']]);
    // a new key is a new request
    expect((await me.written('CJT4', 'cjt4-2')).status).toBe(201);
  });
});

describe('a duplicate while the first runs', () => {
  it('409 IDEMPOTENCY_IN_PROGRESS while the first (a KDF hash) runs; one account; then the replay', async () => {
    const email = newEmail();
    const body = { email, password: PASSWORD };
    const key = `signup-${email}`;
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => gw.http.post('/api/v1/accounts', body, { idempotencyKey: key })),
    );
    const created = answers.filter((a) => a.status === 201 && a.headers.get('idempotent-replayed') === null);
    const replayed = answers.filter(
      (a) => a.status === 201 && a.headers.get('idempotent-replayed') === 'true',
    );
    const running = answers.filter((a) => a.status !== 201);
    expect(created).toHaveLength(1);
    // the KDF takes tens of ms: duplicates sent with the first find it running (one arriving after
    // it finished, on a slow box, would be its replay)
    expect(running.length).toBeGreaterThan(0);
    for (const answer of running) expect(statusAndCode(answer)).toEqual([409, 'IDEMPOTENCY_IN_PROGRESS']);
    for (const answer of replayed) expect(answer.body).toEqual(created[0]!.body);
    const replay = await gw.http.post('/api/v1/accounts', body, { idempotencyKey: key });
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(created[0]!.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await accountsWithEmail(email)).toBe(1);
  });

  it('20 concurrent duplicates of a reservation: one hold; every answer is the 201, its replay or 409 in progress', async () => {
    const me = await registered();
    const before = await used('C11A', 'CET4');
    const answers = await Promise.all(Array.from({ length: 20 }, () => me.written('CET4', 'burst-1')));
    const fresh = answers.filter((a) => a.status === 201 && a.headers.get('idempotent-replayed') === null);
    const replayed = answers.filter(
      (a) => a.status === 201 && a.headers.get('idempotent-replayed') === 'true',
    );
    const inProgress = answers.filter((a) => a.status === 409);
    expect(fresh).toHaveLength(1);
    expect(fresh.length + replayed.length + inProgress.length).toBe(20);
    for (const answer of replayed) expect(answer.body).toEqual(fresh[0]!.body);
    for (const answer of inProgress) expect(statusAndCode(answer)).toEqual([409, 'IDEMPOTENCY_IN_PROGRESS']);
    expect(await used('C11A', 'CET4')).toBe(before + 1);
    expect((await me.view()).written).toHaveLength(1);
  });
});

describe('keys are per account', () => {
  it('another account using the same key and body is independent', async () => {
    const [a, b] = await Promise.all([
      registered({ campus: 'main', eligibleSubjects: ['CET4'] }),
      registered({ campus: 'fixed', eligibleSubjects: ['CET4'] }),
    ]);
    const [mainBefore, fixedBefore] = [await used('C11A', 'CET4'), await used('C11B', 'CET4')];
    const fromA = await a.written('CET4', 'shared-key');
    const fromB = await b.written('CET4', 'shared-key');
    expect([fromA.status, fromB.status]).toEqual([201, 201]);
    expect(fromB.headers.get('idempotent-replayed')).toBeNull();
    expect(fromA.body.item.campusId).toBe('C11A');
    expect(fromB.body.item.campusId).toBe('C11B');
    expect([await used('C11A', 'CET4'), await used('C11B', 'CET4')]).toEqual([
      mainBefore + 1,
      fixedBefore + 1,
    ]);
    // each account's replay is its own first answer
    const replayA = await a.written('CET4', 'shared-key');
    const replayB = await b.written('CET4', 'shared-key');
    expect(replayA.body).toEqual(fromA.body);
    expect(replayB.body).toEqual(fromB.body);
    // and B reusing the key with another body conflicts only with B's own request
    expect(statusAndCode(await b.written('CJT4', 'shared-key'))).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
  });
});

describe('the key itself', () => {
  it('a 256-character key → 400 VALIDATION_FAILED and nothing held; 255 characters are accepted', async () => {
    const me = await registered();
    const before = await used('C11A', 'CET4');
    const tooLong = await me.written('CET4', 'k'.repeat(256));
    expect(statusAndCode(tooLong)).toEqual([400, 'VALIDATION_FAILED']);
    expect(JSON.stringify(tooLong.body.error.details)).toContain('Idempotency-Key');
    expect(await used('C11A', 'CET4')).toBe(before);
    expect((await me.view()).written).toEqual([]);

    const longest = 'k'.repeat(255);
    const first = await me.written('CET4', longest);
    const replay = await me.written('CET4', longest);
    expect(first.status).toBe(201);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await used('C11A', 'CET4')).toBe(before + 1);
  });
});

describe('logins (POST /api/v1/sessions)', () => {
  async function loginBody(loginName: string, password: string) {
    const captcha = await gw.http.get('/api/v1/captcha');
    return {
      login: loginName,
      password,
      captchaId: captcha.body.captchaId,
      captchaAnswer: captcha.body.testAnswer,
    };
  }

  it('a retry with the key gets the first session, not CAPTCHA_FAILED for the spent captcha; no second session', async () => {
    const me = await signUp(gw.http);
    const body = await loginBody(me.phone, me.password);
    const first = await gw.http.post('/api/v1/sessions', body, { idempotencyKey: 'login-1' });
    expect(first.status).toBe(200);
    const replay = await gw.http.post('/api/v1/sessions', body, { idempotencyKey: 'login-1' });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    // without the key, the same body is a new login: its captcha is spent
    expect(statusAndCode(await gw.http.post('/api/v1/sessions', body))).toEqual([400, 'CAPTCHA_FAILED']);
    // the replayed token works; the account has the sign-up's session and this one only
    expect((await gw.http.get('/api/v1/registration', { token: replay.body.token })).status).not.toBe(401);
    const sessions = await query<{ n: string }>(
      db,
      'SELECT count(*)::text AS n FROM sessions WHERE account_id = $1 AND revoked_at IS NULL',
      [me.accountId],
    );
    expect(Number(sessions[0]!.n)).toBe(2);
    // another body under the key (a wrong password) is refused as a reuse, not tried
    const other = await loginBody(me.phone, 'not-the-password');
    expect(
      statusAndCode(await gw.http.post('/api/v1/sessions', other, { idempotencyKey: 'login-1' })),
    ).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
  });

  it('Redis keeps no password, ID number or token, and no plain hash of the body', async () => {
    const me = await signUp(gw.http);
    const body = await loginBody(me.phone, me.password);
    const login = await gw.http.post('/api/v1/sessions', body, { idempotencyKey: 'login-secret' });
    expect(login.status).toBe(200);
    const candidate = await world.candidate();
    const saved = await gw.http.post(
      '/api/v1/registration',
      { ...candidate.identity, confirm: true },
      { token: me.token, idempotencyKey: 'bind-secret' },
    );
    expect(saved.status).toBe(201);
    const stored: string[] = [];
    for (const key of await scanKeys(gw.redis, `${gw.namespace}:idem:*`))
      stored.push((await gw.redis.get(key)) ?? '');
    expect(stored.length).toBeGreaterThan(1);
    const everything = stored.join('\n');
    expect(everything).not.toContain(me.password);
    expect(everything).not.toContain(String(login.body.token));
    expect(everything).not.toContain(me.token);
    expect(everything).not.toContain(candidate.identity.idNumber);
    expect(everything).not.toContain(candidate.identity.name);
    // the fingerprint is keyed: not the SHA-256 an attacker could recompute from guesses
    const plain = createHash('sha256')
      .update('POST\n/api/v1/sessions?{}\n')
      .update(JSON.stringify(body))
      .digest('base64url');
    expect(everything).not.toContain(plain);
  });
});

/** Sends one request on a raw connection and drops the connection `dropAfterMs` later, unread. */
async function sendAndVanish(path: string, body: unknown, key: string, dropAfterMs: number): Promise<void> {
  const payload = JSON.stringify(body);
  const url = new URL(gw.base);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\ncontent-type: application/json\r\n` +
      `idempotency-key: ${key}\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
  );
  await sleep(dropAfterMs);
  socket.destroy();
}

describe('REL4: the client goes away before the answer', () => {
  it('a retry with the same key gets the answer it never read; one account is made', async () => {
    const email = newEmail();
    const body = { email, password: PASSWORD };
    const key = `vanish-${email}`;
    // the KDF takes longer than this: the connection is gone while the request runs
    await sendAndVanish('/api/v1/accounts', body, key, 5);
    // while the first request runs, a retry is told so; then it gets the first one's answer
    const retry = await waitFor(
      async () => {
        const answer = await gw.http.post('/api/v1/accounts', body, { idempotencyKey: key });
        if (answer.status !== 409) return answer;
        expect(statusAndCode(answer)).toEqual([409, 'IDEMPOTENCY_IN_PROGRESS']);
        return undefined;
      },
      { timeoutMs: 5_000, message: 'the retry to get the answer' },
    );
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await accountsWithEmail(email)).toBe(1);
  });
});

describe('REL4: the stored answer is lost (a gateway or Redis died between the hold and storing it)', () => {
  it('a retry with the same key answers the hold its first attempt made, from the engine; another key is refused', async () => {
    const me = await registered();
    const first = await me.written('CET4', 'lost-written-1');
    expect(first.status).toBe(201);
    const oral = await me.oral('CET-SET4', 'C11A', 'lost-oral-1');
    expect(oral.status).toBe(201);
    const heldBefore = [await used('C11A', 'CET4'), await used('C11A', 'CET-SET4')];
    // what a crash leaves behind: the holds, and no stored answer (or an in-progress marker that expired)
    const stored = await scanKeys(gw.redis, `${gw.namespace}:idem:${me.user.accountId}:*`);
    expect(stored.length).toBeGreaterThanOrEqual(2);
    for (const key of stored) await gw.redis.del(key);
    const retried = await me.written('CET4', 'lost-written-1');
    expect(retried.status).toBe(201);
    expect(retried.body.item).toEqual(first.body.item);
    const oralRetried = await me.oral('CET-SET4', 'C11A', 'lost-oral-1');
    expect(oralRetried.status).toBe(201);
    expect(oralRetried.body.item).toEqual(oral.body.item);
    expect([await used('C11A', 'CET4'), await used('C11A', 'CET-SET4')]).toEqual(heldBefore);
    // a new request (another key) for the same subject is what it always was
    expect(statusAndCode(await me.written('CET4', 'lost-written-2'))).toEqual([409, 'ALREADY_REGISTERED']);
    expect(statusAndCode(await me.written('CET4'))).toEqual([409, 'ALREADY_REGISTERED']);
  });
});

describe('a claim beside the access check (routes without a session)', () => {
  let limited: TestGateway;
  beforeAll(async () => {
    limited = await startTestGateway({ RATE_LOGIN_PER_IP_PER_MINUTE: '8' });
  }, 120_000);
  afterAll(async () => {
    await limited?.close();
  });

  it('a login the rate limit refuses keeps no claim on its key; the ones served keep their answers', async () => {
    const me = await signUp(limited.http);
    const idempotencyKeys = async () => (await scanKeys(limited.redis, `${limited.namespace}:idem:*`)).length;
    const before = await idempotencyKeys();
    // one captcha for all: the first login spends it, the next ones are refused CAPTCHA_FAILED, an
    // answer kept under their keys like any other; then the address's limit answers 429
    const captcha = await limited.http.get('/api/v1/captcha');
    const body = {
      login: me.phone,
      password: me.password,
      captchaId: captcha.body.captchaId,
      captchaAnswer: captcha.body.testAnswer,
    };
    const statuses: number[] = [];
    for (let i = 0; i < 12 && !statuses.includes(429); i++) {
      statuses.push(
        (await limited.http.post('/api/v1/sessions', body, { idempotencyKey: `limited-${i}` })).status,
      );
    }
    const answered = statuses.filter((status) => status !== 429).length;
    expect(statuses[0]).toBe(200);
    expect(answered).toBeGreaterThan(1);
    expect(statuses.at(-1)).toBe(429);
    // the refused login's claim (made while its access was checked) was given up
    expect(await idempotencyKeys()).toBe(before + answered);
  });
});
