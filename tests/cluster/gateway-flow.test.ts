/**
 * Issue 14 item 1, end to end on a private 3-master Redis Cluster: the whole system started with
 * REDIS_CLUSTER_NODES (gateway threads, worker pool, writer, sweeper, queue keeper, payment
 * simulator, all on ioredis Cluster through engine/redisClient.ts) and one candidate's whole flow
 * over HTTP — SMS code, account, captcha login, agreement, eligibility, save (the binding across
 * the account's and the province's shards, I2), a written and an oral hold (R15–R21), an order
 * paid at the provider (R23). Then what spans shards: /readyz asks every master, /metrics and
 * /api/v1/admin/stats read every shard's stream, the invariant checker finds I1–I4 intact, the
 * writer has drained every shard's stream (read per stream on a Cluster) and reconcile finds
 * PostgreSQL equal to Redis (I5).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../db/pool.ts';
import { makeResidentId } from '../../engine/idNumber.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { masterNodes, scanKeys } from '../../engine/redisClient.ts';
import {
  expectFlowPersisted,
  startClusterGateway,
  startPrivateCluster,
  type ClusterGateway,
  type PrivateCluster,
} from '../support/cluster.ts';
import { signUp, type HttpAnswer, type HttpClient } from '../support/gateway.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** 2026-03-10 10:00 China time. */
const NOW = Date.UTC(2026, 2, 10, 2, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();
const CAMPUS = 'CL-C1';
const SCHOOL = 'CL-S1';
const FEES = { CET4: 30, 'CET-SET4': 50 } as const;
const IDENTITY = {
  idType: 'RESIDENT_ID',
  idNumber: makeResidentId('110105', '2004-05-06', 377),
  name: '集群',
} as const;

let stores: PrivateCluster;
let gw: ClusterGateway;
let db: Pool;
let candidateId = '';
const answers: Record<string, HttpAnswer> = {};
let paidStatus = 0;

/** Operators set up province 11 through the admin API: clock, campus, calendar, fees, roster. */
async function setUpProvince(http: HttpClient): Promise<void> {
  answers.clock = await http.admin('POST', '/api/v1/admin/clock', { nowMs: NOW });
  answers.campuses = await http.admin('PUT', '/api/v1/admin/campuses', [
    {
      campusId: CAMPUS,
      name: '集群考点',
      provinceCode: '11',
      schoolId: SCHOOL,
      studentsMayTakeOralElsewhere: true,
      capacity: { CET4: 100, 'CET-SET4': 10 },
      oralOpens: { ownSchoolAt: iso(NOW - HOUR_MS), provinceWideAt: iso(NOW - HOUR_MS) },
    },
  ]);
  answers.calendar = await http.admin('PUT', '/api/v1/admin/calendar', [
    { provinceCode: '11', registrationOpensAt: iso(NOW - DAY_MS), registrationClosesAt: iso(NOW + DAY_MS) },
  ]);
  answers.fees = await http.admin('PUT', '/api/v1/admin/fees', FEES);
  answers.roster = await http.admin('PUT', '/api/v1/admin/roster', [
    {
      ...IDENTITY,
      schoolId: SCHOOL,
      campusId: CAMPUS,
      grade: '2024',
      eligibleSubjects: ['CET4'],
      cet6Barred: false,
    },
  ]);
  candidateId = String(answers.roster.body?.candidates?.[0]?.candidateId ?? '');
}

/** One candidate through the flow, every answer kept (a wrong one fails the test that reads it). */
async function walk(http: HttpClient): Promise<void> {
  const { token } = await signUp(http); // SMS code, account, captcha, login, agreement (R1, R2)
  answers.eligibility = await http.post('/api/v1/eligibility/query', IDENTITY, { token });
  answers.saved = await http.post('/api/v1/registration', { ...IDENTITY, confirm: true }, { token });
  answers.written = await http.post('/api/v1/registration/written', { subject: 'CET4' }, { token });
  answers.oral = await http.post(
    '/api/v1/registration/oral',
    { subject: 'CET-SET4', campusId: CAMPUS },
    { token },
  );
  answers.order = await http.post('/api/v1/payments', { method: 'ALIPAY' }, { token });
  const payUrl: unknown = answers.order.body?.payUrl;
  if (typeof payUrl === 'string') {
    const paying = await fetch(payUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ result: 'SUCCESS' }),
    });
    paidStatus = paying.status;
  }
  answers.home = await http.get('/api/v1/registration', { token });
}

beforeAll(async () => {
  stores = await startPrivateCluster();
  gw = await startClusterGateway(stores, { QUEUE_TICK_MS: '100' });
  db = createPool(gw.databaseUrl, { max: 2, applicationName: 'tests:cluster-flow' });
  await setUpProvince(gw.http);
  await walk(gw.http);
}, 90_000);

afterAll(async () => {
  await db?.end();
  await gw?.close();
  await stores?.stop();
});

describe('the whole system on a Redis Cluster (issue 14)', () => {
  it('is ready: every master answers, holds the scripts and has room', async () => {
    const ready = await gw.http.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ redis: 'ok', postgres: 'ok', scripts: 'ok', redisMemory: 'ok' });
    expect(masterNodes(stores.client)).toHaveLength(3);
  });

  it('serves one candidate the whole flow: bound, CET4 and CET-SET4 held, ordered and PAID', () => {
    expect([answers.clock!.status, answers.campuses!.status, answers.calendar!.status]).toEqual([
      200, 200, 200,
    ]);
    expect([answers.fees!.status, answers.roster!.status, candidateId === '']).toEqual([200, 200, false]);
    expect(answers.eligibility!.status).toBe(200);
    expect(answers.saved!.status).toBe(201);
    expect([answers.written!.status, answers.written!.body.item?.status]).toEqual([201, 'HELD']);
    expect([answers.oral!.status, answers.oral!.body.item?.status]).toEqual([201, 'HELD']);
    expect([answers.order!.status, answers.order!.body.amount]).toEqual([201, FEES.CET4 + FEES['CET-SET4']]);
    expect(paidStatus).toBe(200);
    const registration = answers.home!.body.registration;
    expect(registration.written.map((item: { status: string }) => item.status)).toEqual(['PAID']);
    expect(registration.oral.map((item: { status: string }) => item.status)).toEqual(['PAID']);
    expect(registration.amountDue).toBe(0);
  });

  it("spread the candidate's data over more than one master (account, session and province shards)", async () => {
    const holding = [];
    for (const node of masterNodes(stores.client)) {
      const keys = await scanKeys(node, `${gw.namespace}:*`);
      if (keys.length > 0) holding.push(keys.length);
    }
    expect(holding.length).toBeGreaterThanOrEqual(2);
  });

  it('I1–I4 hold on the cluster, and the writer drains every shard: PostgreSQL equals Redis (I5)', async () => {
    const report = await checkInvariants(gw.engine, ['11']);
    expect(report.violations).toEqual([]);
    expect([report.registrations, report.liveItems]).toEqual([1, 2]);
    await expectFlowPersisted(gw.engine, stores.client, db, candidateId, ['11']);
  });

  it('/metrics and /api/v1/admin/stats read every shard: no lag, no dead letter, the seats taken', async () => {
    const metrics = await gw.http.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^writer_lag_events 0$/m);
    expect(metrics.text).toMatch(/^writer_dead_letters 0$/m);
    // every node, by its address: the three masters' commands and memory (issue 14 item 1)
    const perNode = (name: string) =>
      [...metrics.text.matchAll(new RegExp(`^${name}\\{node="([^"]+)",role="master"\\} (\\S+)$`, 'gm'))]
        .map((match) => [match[1], Number(match[2])] as const)
        .sort();
    const nodes = stores.nodes.split(',').sort();
    expect(perNode('redis_node_commands_processed').map(([node]) => node)).toEqual(nodes);
    expect(perNode('redis_node_commands_processed').every(([, count]) => count > 0)).toBe(true);
    expect(perNode('redis_node_memory_used_ratio').map(([node]) => node)).toEqual(nodes);
    const stats = await gw.http.admin('GET', '/api/v1/admin/stats');
    expect(stats.status).toBe(200);
    expect(stats.body.seats.byProvince['11']).toMatchObject({ capacity: 110, taken: 2 });
    expect(stats.body.streams).toMatchObject({ pending: 0, undelivered: 0 });
    expect(stats.body.streams.length).toBeGreaterThan(0);
  });
});
