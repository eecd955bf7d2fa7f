/**
 * What a reservation costs Redis (issue 13, P2: at most one script call on the hot path), read with
 * MONITOR on a Redis of its own, between two ECHO markers the test sends before and after the
 * request (everything the gateway sent for it was executed before its answer, so it lies between
 * them). One app thread, no sweeper, no writer, so no other script runs meanwhile.
 *  - With the session in the thread's cache, a written or an oral hold is exactly one script call,
 *    the engine's reserve script, and no command names the session: the access step made no call.
 *  - The `reserve` limit is counted by that script: past it the answer is still 429 RATE_LIMITED
 *    naming the rule with Retry-After, for one script call, and nothing changed (no HELD in the
 *    stream, the seats and the record as they were, the counter not counted on); an account with
 *    no binding is still told 429 past the limit, not 404.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../db/pool.ts';
import { loadScripts } from '../../engine/scripts.ts';
import { AuthKeys } from '../../gateway/auth/keys.ts';
import { Sessions } from '../../gateway/auth/sessions.ts';
import { startRedisServer, type RedisServerHandle } from '../../devstack/index.ts';
import { outcome } from '../support/answers.ts';
import { startTestGateway, type HttpAnswer, type TestGateway } from '../support/gateway.ts';
import { streamEvents } from '../support/engine.ts';
import { sleep, waitFor } from '../support/wait.ts';
import {
  boundAccounts as boundWorldAccounts,
  HOUR_MS,
  insertReadyAccounts,
  seedTestWorld,
  type TestWorld,
} from '../support/world.ts';

const LIMIT = 3;
const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);

let gw: TestGateway;
let world: TestWorld;
let db: Pool;
let sessions: Sessions;
let monitor: Redis;
let redisServer: RedisServerHandle | undefined;
let redisDir: string | undefined;

beforeAll(async () => {
  redisDir = await mkdtemp(path.join(os.tmpdir(), 'redis-reserve-calls-'));
  redisServer = await startRedisServer({ dir: redisDir });
  gw = await startTestGateway(
    {
      THREADS: '1',
      START_SWEEPER: '0',
      START_WRITER: '0',
      RATE_RESERVE_PER_ACCOUNT_PER_MINUTE: String(LIMIT),
    },
    { redisUrl: redisServer.url },
  );
  world = await seedTestWorld(gw);
  db = createPool(gw.databaseUrl, { max: 2, applicationName: 'tests:reserve-script-calls' });
  sessions = new Sessions({ db, redis: gw.redis, keys: new AuthKeys(gw.namespace), lifetimeMs: 4 * HOUR_MS });
  monitor = await gw.redis.monitor();
}, 120_000);

afterAll(async () => {
  monitor?.disconnect();
  await db?.end();
  await world?.close();
  await gw?.close();
  await redisServer?.stop();
  if (redisDir) await rm(redisDir, { recursive: true, force: true });
});

const boundAccounts = (count: number) => boundWorldAccounts(db, world, gw.engine, sessions, count, '196');

const written = (token: string, subject = 'CET4') =>
  gw.http.post('/api/v1/registration/written', { subject }, { token });
const oral = (token: string, subject = 'CET-SET4') =>
  gw.http.post('/api/v1/registration/oral', { subject, campusId: 'C11A' }, { token });

let markers = 0;

/** The commands Redis executed while `action` ran (MONITOR, between two ECHO markers). */
async function commandsDuring<T>(action: () => Promise<T>): Promise<{ answer: T; commands: string[][] }> {
  const seen: string[][] = [];
  const listener = (_time: string, args: string[]) => seen.push(args);
  monitor.on('monitor', listener);
  const [start, end] = [`marker-start-${++markers}`, `marker-end-${markers}`];
  const at = (marker: string) =>
    seen.findIndex((args) => args[0]?.toLowerCase() === 'echo' && args[1] === marker);
  try {
    await gw.redis.echo(start);
    const answer = await action();
    await gw.redis.echo(end);
    await waitFor(() => at(end) >= 0, { message: 'the end marker in MONITOR' });
    return { answer, commands: seen.slice(at(start) + 1, at(end)) };
  } finally {
    monitor.off('monitor', listener);
  }
}

const scriptCalls = (commands: readonly string[][]) =>
  commands.filter((args) => SCRIPT_COMMANDS.has(args[0]!.toLowerCase()));

const SHA = {
  written: loadScripts().get('reserveWritten')!.sha1,
  oral: loadScripts().get('reserveOral')!.sha1,
};

/** Rate windows are fixed minutes: start a rate test well inside one, so one window holds it. */
async function awayFromMinuteBoundary(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 45_000) await sleep(60_000 - intoMinute + 100);
}

function expectLimited(answer: HttpAnswer): void {
  expect(outcome(answer)).toBe('429 RATE_LIMITED');
  expect(answer.body.error.details.rule).toBe('reserve');
  const retryAfter = Number(answer.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(answer.body.error.details.retryAfterSeconds).toBe(retryAfter);
}

describe('a reservation is one Redis script call (issue 13, P2)', () => {
  it('with the session cached: exactly one script call, the reserve script, and no Redis call about the session', async () => {
    await awayFromMinuteBoundary();
    const [warm, me] = await boundAccounts(2);
    // a fresh Redis knows no script yet (ioredis's first EVALSHA falls back to EVAL): load both
    expect(outcome(await written(warm!.token))).toBe('201');
    expect(outcome(await oral(warm!.token))).toBe('201');
    // the session in the thread's cache (a route that counts nothing in Redis)
    expect((await gw.http.get('/api/v1/registration', { token: me!.token })).status).toBe(200);
    const sessionKey = sessions.cacheKeyOf(me!.token)!;

    const hold = await commandsDuring(() => written(me!.token));
    expect(outcome(hold.answer)).toBe('201');
    expect(scriptCalls(hold.commands).map((args) => args[1])).toEqual([SHA.written]);
    expect(hold.commands.filter((args) => args.includes(sessionKey))).toEqual([]);

    const oralHold = await commandsDuring(() => oral(me!.token));
    expect(outcome(oralHold.answer)).toBe('201');
    expect(scriptCalls(oralHold.commands).map((args) => args[1])).toEqual([SHA.oral]);
    expect(oralHold.commands.filter((args) => args.includes(sessionKey))).toEqual([]);
  });

  it(`the reserve limit (${LIMIT} a minute) still answers 429 naming its rule, in that one call, and changes nothing`, async () => {
    await awayFromMinuteBoundary();
    const [me] = await boundAccounts(1);
    const answers = [await written(me!.token), await written(me!.token), await oral(me!.token)];
    expect(answers.map(outcome)).toEqual(['201', '409 ALREADY_REGISTERED', '201']);
    const stream = gw.engine.keys.province('11').stream;
    const state = async () => ({
      held: (await streamEvents(gw.redis, stream)).filter((event) => event.type === 'HELD').length,
      seats: await gw.engine.seatCounts('11'),
      record: await gw.engine.storedRecord('11', me!.candidateId),
    });
    const before = await state();
    const counter = gw.engine.keys
      .province('11')
      .accountCounter('reserve', me!.accountId, Math.floor(Date.now() / 60_000));
    expect(await gw.redis.get(counter)).toBe(String(LIMIT));

    const refused = await commandsDuring(() => oral(me!.token, 'CET-SET6'));
    expectLimited(refused.answer);
    expect(scriptCalls(refused.commands).map((args) => args[1])).toEqual([SHA.oral]);
    expectLimited(await written(me!.token, 'CJT4'));
    expect(await state()).toEqual(before);
    expect(await gw.redis.get(counter)).toBe(String(LIMIT));
    // reading is not a reservation: still answered
    expect((await gw.http.get('/api/v1/registration', { token: me!.token })).status).toBe(200);
  });

  it('an account with no binding is counted too: 404 up to the limit, then 429', async () => {
    await awayFromMinuteBoundary();
    const [accountId] = await insertReadyAccounts(db, 1, '195');
    const { token } = await sessions.create(accountId!);
    const answers: HttpAnswer[] = [];
    for (let i = 0; i <= LIMIT; i++) answers.push(await written(token));
    expect(answers.slice(0, LIMIT).map(outcome)).toEqual(Array(LIMIT).fill('404 NO_REGISTRATION'));
    expectLimited(answers[LIMIT]!);
  });
});
