/**
 * Overload and admission control through HTTP (API.md "Conventions", P7): with the limits set low
 * (MAX_IN_FLIGHT=5 per app thread, a worker-pool queue of 2, a few requests per minute per rate
 * rule), a burst beyond them is shed at once with 503 OVERLOADED and Retry-After, the admitted
 * requests still do exactly what they should (each hold made once, nothing for a shed one), and the
 * rate rules answer 429 RATE_LIMITED with Retry-After. Accounts, sessions and bindings are set up
 * directly (as scripts/bench-gateway.ts does), so that set-up neither needs nor spends the limits.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, query, type Pool } from '../../db/pool.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { CLASS_SHARE } from '../../gateway/admission/admission.ts';
import { AuthKeys } from '../../gateway/auth/keys.ts';
import { Sessions } from '../../gateway/auth/sessions.ts';
import { startRedisServer, type RedisServerHandle } from '../../devstack/index.ts';
import { outcome } from '../support/answers.ts';
import { newPhone, startTestGateway, type HttpAnswer, type TestGateway } from '../support/gateway.ts';
import { sleep } from '../support/wait.ts';
import {
  boundAccounts as boundWorldAccounts,
  HOUR_MS,
  seedTestWorld,
  type TestWorld,
} from '../support/world.ts';
import { writerCaughtUp } from '../support/writer.ts';

const MAX_IN_FLIGHT = 5;
const THREADS = 2;
/** A reservation (class critical) may go a quarter over the limit (gateway/admission CLASS_SHARE). */
const CRITICAL_IN_FLIGHT = Math.floor(MAX_IN_FLIGHT * CLASS_SHARE.critical);
/** Ten times what the gateway admits at once (MAX_IN_FLIGHT per app thread). */
const BURST = 10 * MAX_IN_FLIGHT * THREADS;
const ROUNDS = 3;
const WRITTEN = '/api/v1/registration/written';
const LIMITS = { login: 3, sms: 2, reserve: 5 };

let gw: TestGateway;
let world: TestWorld;
let db: Pool;
let sessions: Sessions;
let redisServer: RedisServerHandle | undefined;
let redisDir: string | undefined;

beforeAll(async () => {
  // a Redis of its own: the admission test pauses Redis's writes, which must not stall other files
  redisDir = await mkdtemp(path.join(os.tmpdir(), 'redis-overload-'));
  redisServer = await startRedisServer({ dir: redisDir });
  gw = await startTestGateway(
    {
      THREADS: String(THREADS),
      MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
      POOL_THREADS: '1',
      POOL_MAX_QUEUE: '2',
      RATE_LOGIN_PER_IP_PER_MINUTE: String(LIMITS.login),
      RATE_SMS_PER_IP_PER_MINUTE: String(LIMITS.sms),
      RATE_RESERVE_PER_ACCOUNT_PER_MINUTE: String(LIMITS.reserve),
    },
    { redisUrl: redisServer.url },
  );
  world = await seedTestWorld(gw);
  db = createPool(gw.databaseUrl, { max: 4, applicationName: 'tests:overload' });
  sessions = new Sessions({ db, redis: gw.redis, keys: new AuthKeys(gw.namespace), lifetimeMs: 4 * HOUR_MS });
}, 120_000);

afterAll(async () => {
  await db?.end();
  await world?.close();
  await gw?.close();
  await redisServer?.stop();
  if (redisDir) await rm(redisDir, { recursive: true, force: true });
});

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function timed(request: () => Promise<HttpAnswer>): Promise<HttpAnswer & { ms: number }> {
  const started = performance.now();
  const answer = await request();
  return { ...answer, ms: performance.now() - started };
}

interface RawAnswer {
  readonly status: number;
  readonly headers: Map<string, string>;
  readonly body: { error?: { code?: string } } | undefined;
  /** From the request's write to its whole answer read. */
  readonly ms: number;
  /** The connection served no second request after the answer: the gateway had closed it. */
  readonly closed: boolean;
}

/**
 * Fires one POST per connection, all written in the same tick on connections opened beforehand,
 * and times each answer from its write: a bare socket per client, so that what is measured is the
 * gateway and not the client library (which would spend more than the gateway on a burst).
 *
 * With `holdAdmitted`, Redis's writes are paused (CLIENT PAUSE WRITE) while the burst is read, so
 * that an admitted request (its first step is a script call) cannot finish and free its slot before
 * the gateway has read the last request of the burst: then "at most so many per thread" is
 * what the count of admitted answers shows. Shedding touches no Redis, so the shed answers come
 * at once; Redis resumes when they are all in (the admitted ones answer after that).
 */
async function burstOn(
  base: string,
  path: string,
  body: unknown,
  tokens: readonly string[],
  holdAdmitted?: { readonly redis: Redis; readonly atMost: number },
): Promise<RawAnswer[]> {
  const url = new URL(base);
  const payload = JSON.stringify(body);
  const sockets = await Promise.all(
    tokens.map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(Number(url.port), url.hostname, () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  const request = (token: string) =>
    `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nauthorization: Bearer ${token}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
  const started: number[] = [];
  // the data handlers only take the time and keep the bytes: parsing waits until every answer is in,
  // so that one answer's parsing does not count in the next one's latency
  const arrivals = sockets.map(
    (socket, index) =>
      new Promise<{ at: number; bytes: Buffer }>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let expected = Number.POSITIVE_INFINITY;
        let length = 0;
        socket.on('data', (chunk: Buffer) => {
          const at = performance.now();
          chunks.push(chunk);
          length += chunk.length;
          if (expected === Number.POSITIVE_INFINITY) {
            const head = Buffer.concat(chunks);
            const end = head.indexOf('\r\n\r\n');
            if (end >= 0) {
              const declared = /\r\ncontent-length: *(\d+)/i.exec(head.subarray(0, end).toString('latin1'));
              expected = end + 4 + Number(declared?.[1] ?? 0);
            }
          }
          if (length >= expected) resolve({ at: at - started[index]!, bytes: Buffer.concat(chunks) });
        });
        socket.once('error', reject);
        socket.once('close', () => reject(new Error(`closed before a whole answer on connection ${index}`)));
      }),
  );
  let unpause = async (): Promise<void> => undefined;
  if (holdAdmitted) {
    const { redis, atMost } = holdAdmitted;
    // a bound on the pause, should the shed answers never reach their count
    await redis.client('PAUSE', 10_000, 'WRITE');
    let resumed: Promise<unknown> | undefined;
    unpause = () => (resumed ??= redis.client('UNPAUSE')).then(() => undefined);
    let arrived = 0;
    for (const arrival of arrivals) {
      void arrival.then(
        () => {
          if (++arrived >= tokens.length - atMost) void unpause();
        },
        () => void unpause(),
      );
    }
    setTimeout(() => void unpause(), 5_000).unref();
  }
  sockets.forEach((socket, index) => {
    started[index] = performance.now();
    socket.write(request(tokens[index]!));
  });
  const received = await Promise.all(arrivals).finally(unpause);
  // whether the gateway kept each connection after answering (a shed answer must: P7)
  const open = await Promise.all(sockets.map((socket) => stillServes(socket, url.host)));
  for (const socket of sockets) socket.destroy();
  return received.map(({ at, bytes }, index) => {
    const end = bytes.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
    const headers = new Map(
      lines.map((line) => {
        const colon = line.indexOf(':');
        return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as const;
      }),
    );
    const text = bytes.subarray(end + 4).toString('utf8');
    return {
      status: Number(statusLine!.split(' ')[1]),
      headers,
      body: text === '' ? undefined : (JSON.parse(text) as RawAnswer['body']),
      ms: at,
      closed: !open[index],
    };
  });
}

/** Whether a connection still serves after its answer: a second request on it is answered. */
function stillServes(socket: Socket, host: string): Promise<boolean> {
  if (socket.readableEnded || socket.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 5_000);
    const done = (open: boolean) => {
      clearTimeout(timer);
      resolve(open);
    };
    socket.on('data', (chunk: Buffer) => {
      if (chunk.toString('latin1').startsWith('HTTP/1.1 ')) done(true);
    });
    socket.once('end', () => done(false));
    socket.once('close', () => done(false));
    socket.once('error', () => done(false));
    socket.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

const boundAccounts = (count: number) => boundWorldAccounts(db, world, gw.engine, sessions, count, '198');

const writtenCet4 = (token: string) => gw.http.post(WRITTEN, { subject: 'CET4' }, { token });

async function usedCet4(): Promise<number> {
  const counts = await gw.engine.seatCounts('11');
  return counts.find((c) => c.campusId === 'C11A' && c.subject === 'CET4')?.used ?? 0;
}

/** Rate windows are fixed minutes: start a rate test well inside one, so one window holds it. */
async function awayFromMinuteBoundary(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 50_000) await sleep(60_000 - intoMinute + 100);
}

describe(`admission: at most ${CRITICAL_IN_FLIGHT} reservations in flight per app thread (MAX_IN_FLIGHT ${MAX_IN_FLIGHT})`, () => {
  it('bursts beyond it get fast 503 OVERLOADED with Retry-After; the admitted ones hold exactly once', async () => {
    const rounds: { accounts: Awaited<ReturnType<typeof boundAccounts>>; burst: RawAnswer[] }[] = [];
    const before = await usedCet4();
    for (let round = 0; round < ROUNDS; round++) {
      const accounts = await boundAccounts(BURST);
      // let the writer copy the set-up's events first: on two cores, its work would be measured too
      await writerCaughtUp(gw.redis, db, [gw.engine.keys.province('11').stream]);
      if (round === 0) {
        // warm the code paths up (JIT) with a burst that changes nothing: unknown sessions → 401
        const warmUp = await burstOn(
          gw.base,
          WRITTEN,
          { subject: 'CET4' },
          accounts.map(() => 'x'.repeat(43)),
        );
        expect(new Set(warmUp.map((answer) => answer.status))).toEqual(new Set([401, 503]));
      }
      const usedBefore = await usedCet4();
      const burst = await burstOn(
        gw.base,
        WRITTEN,
        { subject: 'CET4' },
        accounts.map((a) => a.token),
        { redis: gw.redis, atMost: CRITICAL_IN_FLIGHT * THREADS },
      );
      const admitted = burst.filter((answer) => answer.status === 201);
      const shed = burst.filter((answer) => answer.status !== 201);
      console.info(
        `burst ${round + 1} of ${burst.length}: ${admitted.length} admitted (p99 ${percentile(
          admitted.map((a) => a.ms),
          99,
        ).toFixed(1)} ms), ` +
          `${shed.length} shed (p50 ${percentile(
            shed.map((a) => a.ms),
            50,
          ).toFixed(1)} ms, p99 ${percentile(
            shed.map((a) => a.ms),
            99,
          ).toFixed(1)} ms)`,
      );
      expect(admitted.length).toBeGreaterThan(0);
      expect(admitted.length).toBeLessThanOrEqual(CRITICAL_IN_FLIGHT * THREADS);
      expect(shed.length).toBeGreaterThan(0);
      for (const answer of shed) {
        expect([answer.status, answer.body?.error?.code]).toEqual([503, 'OVERLOADED']);
        expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        // the small body was read and dropped: the client keeps its connection for the retry
        expect(answer.closed).toBe(false);
      }
      // the admitted requests did their work, the shed ones none
      expect(await usedCet4()).toBe(usedBefore + admitted.length);
      const views = await Promise.all(accounts.map((a) => gw.engine.registration('11', a.candidateId)));
      views.forEach((view, index) => {
        const held = view!.written.map((item) => `${item.subject}:${item.status}`);
        expect(held).toEqual(burst[index]!.status === 201 ? ['CET4:HELD'] : []);
      });
      rounds.push({ accounts, burst });
    }
    // fast: p99 under 50 ms (the median burst's, as two cores are shared with everything else)
    const p99s = rounds
      .map(({ burst }) =>
        percentile(
          burst.filter((a) => a.status === 503).map((a) => a.ms),
          99,
        ),
      )
      .sort((a, b) => a - b);
    expect(p99s[Math.floor(ROUNDS / 2)]).toBeLessThan(50);

    // the shed clients come back after Retry-After, within the limit this time: all held, once
    await sleep(1_000 * Number(rounds[0]!.burst.find((a) => a.status === 503)!.headers.get('retry-after')));
    const accounts = rounds.flatMap((r) => r.accounts);
    const burst = rounds.flatMap((r) => r.burst);
    const retried = accounts.filter((_, index) => burst[index]!.status !== 201);
    const answers: HttpAnswer[] = [];
    for (let start = 0; start < retried.length; start += MAX_IN_FLIGHT) {
      const wave = retried.slice(start, start + MAX_IN_FLIGHT);
      answers.push(...(await Promise.all(wave.map((account) => writtenCet4(account.token)))));
    }
    expect(answers.map(outcome).filter((c) => c !== '201')).toEqual([]);
    expect(await usedCet4()).toBe(before + accounts.length);
    // a repeat by an admitted client is refused, never a second seat
    const admittedFirst = accounts[burst.findIndex((answer) => answer.status === 201)]!;
    expect(outcome(await writtenCet4(admittedFirst.token))).toBe('409 ALREADY_REGISTERED');
    expect(await usedCet4()).toBe(before + accounts.length);
    expect((await checkInvariants(gw.engine, ['11'])).violations).toEqual([]);
  });

  it('a full worker-pool queue answers 503 OVERLOADED at once; the admitted sign-ups are made once', async () => {
    // five at a time never passes MAX_IN_FLIGHT: what sheds here is the KDF queue (1 thread + 2)
    const emails = Array.from({ length: MAX_IN_FLIGHT }, (_, i) => `pool${i}.${Date.now()}@example.com`);
    const answers = await Promise.all(
      emails.map((email) =>
        timed(() => gw.http.post('/api/v1/accounts', { email, password: 'opening2026' })),
      ),
    );
    const created = answers.filter((answer) => answer.status === 201);
    const shed = answers.filter((answer) => answer.status !== 201);
    expect(created.length).toBeGreaterThan(0);
    expect(shed.length).toBeGreaterThan(0);
    for (const answer of shed) {
      expect(outcome(answer)).toBe('503 OVERLOADED');
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // shed before the KDF: faster than any admitted sign-up
    expect(Math.max(...shed.map((a) => a.ms))).toBeLessThan(Math.max(...created.map((a) => a.ms)));
    const count = async () =>
      Number(
        (
          await query<{ n: string }>(db, 'SELECT count(*)::text AS n FROM accounts WHERE email = ANY($1)', [
            emails,
          ])
        )[0]!.n,
      );
    expect(await count()).toBe(created.length);
    // one at a time, the shed sign-ups go through
    for (const [index, answer] of answers.entries()) {
      if (answer.status === 201) continue;
      expect(
        outcome(await gw.http.post('/api/v1/accounts', { email: emails[index], password: 'opening2026' })),
      ).toBe('201');
    }
    expect(await count()).toBe(emails.length);
  });
});

describe('rate limits: 429 RATE_LIMITED with Retry-After', () => {
  function expectLimited(answer: HttpAnswer, rule: string): void {
    expect(outcome(answer)).toBe('429 RATE_LIMITED');
    expect(answer.body.error.details.rule).toBe(rule);
    const retryAfter = Number(answer.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(answer.body.error.details.retryAfterSeconds).toBe(retryAfter);
  }

  it(`login: ${LIMITS.login} captcha / session calls per client address per minute`, async () => {
    await awayFromMinuteBoundary();
    const allowed: HttpAnswer[] = [];
    for (let i = 0; i < LIMITS.login; i++) allowed.push(await gw.http.get('/api/v1/captcha'));
    expect(allowed.map(outcome)).toEqual(Array(LIMITS.login).fill('200'));
    expectLimited(await gw.http.get('/api/v1/captcha'), 'login');
    // the same rule guards the login itself, before the captcha is even looked at
    const login = await gw.http.post('/api/v1/sessions', {
      login: '13800000000',
      password: 'opening2026',
      captchaId: allowed[0]!.body.captchaId,
      captchaAnswer: allowed[0]!.body.testAnswer,
    });
    expectLimited(login, 'login');
  });

  it(`SMS codes: ${LIMITS.sms} per client address per minute, whatever the phone`, async () => {
    await awayFromMinuteBoundary();
    const answers: HttpAnswer[] = [];
    for (let i = 0; i <= LIMITS.sms; i++)
      answers.push(await gw.http.post('/api/v1/sms-codes', { phone: newPhone() }));
    expect(answers.slice(0, LIMITS.sms).map(outcome)).toEqual(Array(LIMITS.sms).fill('200'));
    expectLimited(answers[LIMITS.sms]!, 'sms');
  });

  it(`reservations: ${LIMITS.reserve} per account per minute, all its sessions together; the limited call does nothing; other accounts are not limited`, async () => {
    await awayFromMinuteBoundary();
    const [me, other] = await boundAccounts(2);
    // a second session of the same account (another device): its calls count against the same allowance
    const myOtherSession = (await sessions.create(me!.accountId)).token;
    const answers: HttpAnswer[] = [];
    for (let i = 0; i < LIMITS.reserve; i++) {
      answers.push(
        await gw.http.post(
          '/api/v1/registration/written',
          { subject: i === 0 ? 'CET6' : 'CET4' },
          { token: i % 2 === 0 ? me!.token : myOtherSession },
        ),
      );
    }
    expect(answers.map(outcome)).toEqual([
      '403 NOT_ELIGIBLE',
      '201',
      ...Array(LIMITS.reserve - 2).fill('409 ALREADY_REGISTERED'),
    ]);
    const used = await usedCet4();
    const limited = await gw.http.post(
      '/api/v1/registration/oral',
      { subject: 'CET-SET4', campusId: 'C11A' },
      { token: me!.token },
    );
    expectLimited(limited, 'reserve');
    expectLimited(await writtenCet4(myOtherSession), 'reserve');
    const view = await gw.engine.registration('11', me!.candidateId);
    expect(view!.oral).toEqual([]);
    expect(await usedCet4()).toBe(used);
    // another account's session has its own allowance
    expect(outcome(await writtenCet4(other!.token))).toBe('201');
    // reading is not a reservation: still answered
    expect((await gw.http.get('/api/v1/registration', { token: me!.token })).status).toBe(200);
  });
});
