/**
 * REDIS_WAIT_REPLICAS (issue 14 item 3) on a private Redis with one replica of its own (devstack;
 * real processes, nothing mocked), so that stopping the replica stalls no other test file:
 *  - with the replica linked, every engine script is answered, and WAIT was the last command of the
 *    script's own connection; with 0 replicas asked no WAIT is sent at all;
 *  - with the replica stopped (SIGSTOP), a hold and a payment confirmation fail with
 *    ReplicationTimeoutError within about the timeout; their effect stands on the master, and the
 *    retry once the replica is back answers it (a hold's request tag, REL4; a confirmation's
 *    `duplicate`), never a second seat or a second payment;
 *  - through the gateway: 503 REPLICATION_TIMEOUT with Retry-After, and the client's retry with
 *    the same Idempotency-Key gets the hold its first attempt made.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisCommand, startRedisServer, type RedisServerHandle } from '../../devstack/index.ts';
import { Engine } from '../../engine/index.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { ReplicationTimeoutError, type ReplicaWait } from '../../engine/replicaWait.ts';
import { statusAndCode } from '../support/answers.ts';
import { campus, loadFixture, T0 } from '../support/engine.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { waitFor } from '../support/wait.ts';
import { registeredCandidate, seedTestWorld } from '../support/world.ts';
import { bindN } from './support.ts';

const WAIT: ReplicaWait = { replicas: 1, timeoutMs: 400 };
const C1 = campus({ campusId: 'RW1', schoolId: 'SRW1', capacity: { CET4: 50 } });

let dir: string;
let master: RedisServerHandle;
let replica: RedisServerHandle;
const clients: Redis[] = [];

/** A client of its own on the master, named so that CLIENT LIST tells its connection apart. */
function client(name: string): Redis {
  const redis = new Redis(master.url, { maxRetriesPerRequest: null, connectionName: name });
  clients.push(redis);
  return redis;
}

async function replicaLinked(): Promise<void> {
  await waitFor(
    async () => (await redisCommand(replica.port, ['INFO', 'replication'])).includes('master_link_status:up'),
    { timeoutMs: 15_000, intervalMs: 50, message: 'the replica to link to its master' },
  );
}

/** Runs `during` with the replica stopped (SIGSTOP: alive, linked, acknowledging nothing). */
async function withReplicaStopped<T>(during: () => Promise<T>): Promise<T> {
  process.kill(replica.pid, 'SIGSTOP');
  try {
    return await during();
  } finally {
    process.kill(replica.pid, 'SIGCONT');
  }
}

/** How many WAITs the master has run (INFO commandstats). */
async function waitsRun(): Promise<number> {
  const stats = await redisCommand(master.port, ['INFO', 'commandstats']);
  return Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

/** The last command of the connection named `name`, from CLIENT LIST. */
async function lastCommandOf(name: string): Promise<string | undefined> {
  const list = await redisCommand(master.port, ['CLIENT', 'LIST']);
  const line = list.split('\n').find((entry) => entry.includes(` name=${name} `));
  return /\bcmd=(\S+)/.exec(line ?? '')?.[1];
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'replica-wait-'));
  master = await startRedisServer({ dir: path.join(dir, 'master') });
  replica = await startRedisServer({
    dir: path.join(dir, 'replica'),
    extraArgs: ['--replicaof', '127.0.0.1', String(master.port)],
  });
  await replicaLinked();
});

afterAll(async () => {
  for (const redis of clients) redis.disconnect();
  await replica?.stop();
  await master?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The fixture, one bound candidate `<prefix>1` and its written hold; the bound reference. */
async function fixtureAndHold(engine: Engine, prefix: string) {
  await loadFixture(engine, { campuses: [C1] });
  const ref = await bindN(engine, prefix, 1, C1.campusId, T0);
  const held = await engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 + 1 });
  expect(held.ok).toBe(true);
  return ref;
}

describe('engine scripts with REDIS_WAIT_REPLICAS', () => {
  it('1 replica asked and linked: every script is answered, WAIT last on its own connection', async () => {
    const engine = new Engine(client('wait-linked'), { namespace: 'rw1', replicaWait: WAIT });
    const before = await waitsRun();
    const ref = await fixtureAndHold(engine, 'rw');
    const order = await engine.createOrder({ ...ref, method: 'ALIPAY', now: T0 + 2 });
    if (!order.ok) throw new Error(order.code);
    const paid = await engine.confirmPayment({ orderId: order.order.orderId, now: T0 + 3, providerTx: 't1' });
    expect(paid.ok && paid.order.status).toBe('PAID');
    // setCalendar, upsertCampus, the binding's scripts, reserve, order, confirmation: one WAIT each
    expect((await waitsRun()) - before).toBeGreaterThanOrEqual(6);
    expect(await lastCommandOf('wait-linked')).toBe('wait');
    expect((await checkInvariants(engine, ['11'])).violations).toEqual([]);
  });

  it('0 replicas asked: no WAIT is sent', async () => {
    const engine = new Engine(client('wait-none'), {
      namespace: 'rw0',
      replicaWait: { replicas: 0, timeoutMs: WAIT.timeoutMs },
    });
    const before = await waitsRun();
    await fixtureAndHold(engine, 'rz');
    expect(await waitsRun()).toBe(before);
    // the script itself (EVAL the first time on a connection, EVALSHA after: ioredis's way)
    expect(await lastCommandOf('wait-none')).toMatch(/^eval(sha)?$/);
  });

  it('scripts in flight together share one WAIT (group commit); a flushed script cache is survived', async () => {
    const engine = new Engine(client('wait-group'), { namespace: 'rwg', replicaWait: WAIT });
    await loadFixture(engine, { campuses: [C1] });
    const refs: Awaited<ReturnType<typeof bindN>>[] = [];
    for (let n = 0; n < 40; n++) refs.push(await bindN(engine, 'rg', n, C1.campusId, T0));
    // the first batch meets NOSCRIPT on every script: each is run again alone (EVAL, then WAIT)
    await redisCommand(master.port, ['SCRIPT', 'FLUSH']);
    const before = await waitsRun();
    const holdAll = (some: typeof refs) =>
      Promise.all(
        some.map((ref) =>
          engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 + 1 }),
        ),
      );
    const cold = await holdAll(refs.slice(0, 20));
    expect(cold.filter((outcome) => outcome.ok)).toHaveLength(20);
    // one per batch, plus one per script run again alone after NOSCRIPT
    expect((await waitsRun()) - before).toBeLessThanOrEqual(2 * 20);
    // the script cached again: 20 holds at once are a lone first one and one batch (+ slack)
    const warmBefore = await waitsRun();
    const warm = await holdAll(refs.slice(20));
    expect(warm.filter((outcome) => outcome.ok)).toHaveLength(20);
    expect((await waitsRun()) - warmBefore).toBeLessThanOrEqual(4);
    const invariants = await checkInvariants(engine, ['11']);
    expect(invariants.violations).toEqual([]);
  });

  it('replica stopped: the hold fails within about the timeout, stands, and its retry answers it', async () => {
    const engine = new Engine(client('wait-stopped'), { namespace: 'rws', replicaWait: WAIT });
    const reader = new Engine(client('wait-reader'), { namespace: 'rws' });
    await loadFixture(engine, { campuses: [C1] });
    const ref = await bindN(engine, 'rs', 1, C1.campusId, T0);
    const hold = () =>
      engine.reserveWritten({
        ...ref,
        subject: 'CET4',
        eligible: true,
        fee: 30,
        now: T0 + 1,
        requestTag: 'rs1-first',
      });

    const startedAt = performance.now();
    const failure = await withReplicaStopped(() =>
      hold().then(
        () => null,
        (error: unknown) => error,
      ),
    );
    const tookMs = performance.now() - startedAt;
    expect(failure).toBeInstanceOf(ReplicationTimeoutError);
    expect(failure).toMatchObject({ code: 'REPLICATION_TIMEOUT', wanted: 1, acknowledged: 0 });
    expect(tookMs).toBeGreaterThanOrEqual(WAIT.timeoutMs - 50);
    expect(tookMs).toBeLessThan(WAIT.timeoutMs + 1_500);
    // the script ran: the hold is on the master, unacknowledged
    const stood = (await reader.registration('11', ref.candidateId))?.written;
    expect(stood?.map((item) => [item.subject, item.status])).toEqual([['CET4', 'HELD']]);

    await replicaLinked();
    const retried = await hold();
    if (!retried.ok) throw new Error(retried.code);
    expect(retried.replayed).toBe(true);
    expect(retried.item.holdId).toBe(stood?.[0]?.holdId);

    // a confirmation whose WAIT timed out was applied once; its retry says so (`duplicate`)
    const order = await engine.createOrder({ ...ref, method: 'ALIPAY', now: T0 + 2 });
    if (!order.ok) throw new Error(order.code);
    const confirm = () =>
      engine.confirmPayment({ orderId: order.order.orderId, now: T0 + 3, providerTx: 't2' });
    await expect(withReplicaStopped(confirm)).rejects.toBeInstanceOf(ReplicationTimeoutError);
    await replicaLinked();
    const confirmed = await confirm();
    expect(confirmed.ok && [confirmed.order.status, confirmed.duplicate]).toEqual(['PAID', true]);

    const invariants = await checkInvariants(reader, ['11']);
    expect(invariants.violations).toEqual([]);
    expect(invariants.seatsUsed).toBe(1);
  });
});

describe('the gateway with REDIS_WAIT_REPLICAS=1', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway(
      { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: String(WAIT.timeoutMs) },
      { redisUrl: master.url },
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('/metrics shows the master with its replica linked (issue 14 item 1: per node)', async () => {
    const metrics = (await gw.http.get('/metrics')).text;
    expect(metrics).toMatch(
      new RegExp(`^redis_node_connected_replicas\\{node="127\\.0\\.0\\.1:${master.port}"\\} 1$`, 'm'),
    );
    expect(metrics).toMatch(
      new RegExp(
        `^redis_node_commands_processed\\{node="127\\.0\\.0\\.1:${master.port}",role="master"\\} \\d+$`,
        'm',
      ),
    );
  });

  it('answers 503 REPLICATION_TIMEOUT with Retry-After; the retry with the same key gets the hold', async () => {
    const world = await seedTestWorld(gw);
    const me = await registeredCandidate(gw, world);
    const refused = await withReplicaStopped(() => me.written('CET4', 'replica-wait-1'));
    expect(statusAndCode(refused)).toEqual([503, 'REPLICATION_TIMEOUT']);
    expect(refused.headers.get('retry-after')).toBe('1');

    await replicaLinked();
    const retried = await me.written('CET4', 'replica-wait-1');
    expect(retried.status).toBe(201);
    const view = await me.view();
    expect(view.written).toEqual([retried.body.item]);
    expect(retried.body.item).toMatchObject({ subject: 'CET4', status: 'HELD' });
  });
});
