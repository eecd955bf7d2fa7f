/**
 * Issue 14, the harness on a Redis Cluster through two gateways: the Node runner
 * (loadtest/runner/run.ts) drives an opening surge whose requests take two `npm start` processes
 * in turn (every candidate is served by both), on one private 3-master cluster and one PostgreSQL;
 * dashboards watch the first gateway only, so they must also see the seats taken through the
 * second. The runner's own verdict must pass: I1–I4 on the cluster, the writers drained and
 * reconcile equal (I5), every dashboard at the final counts. A small surge (300 candidates, logged
 * in before the opening) to keep the file short; `npm run loadtest -- --gateways 2` with
 * REDIS_CLUSTER_NODES runs the 2,000.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runSurge } from '../../loadtest/runner/run.ts';
import { ONE_ADDRESS_LIMITS, spawnSystem, type SpawnedSystem } from '../../loadtest/runner/system.ts';
import { startPrivateCluster, type PrivateCluster } from '../support/cluster.ts';
import { freshDatabase, type FreshDatabase } from '../support/pg.ts';

const CANDIDATES = 300;
const NAMESPACE = `ls${randomBytes(3).toString('hex')}`;
const ADMIN_TOKEN = randomBytes(18).toString('base64url');

let stores: PrivateCluster;
let database: FreshDatabase;
const systems: SpawnedSystem[] = [];
const logs: string[] = [];

beforeAll(async () => {
  stores = await startPrivateCluster();
  database = await freshDatabase();
  const env: NodeJS.ProcessEnv = {
    TEST_MODE: '1',
    REDIS_URL: '',
    REDIS_CLUSTER_NODES: stores.nodes,
    DATABASE_URL: database.url,
    KEY_NAMESPACE: NAMESPACE,
    ADMIN_TOKEN,
    THREADS: '1',
    POOL_THREADS: '1',
    PAYMENT_SIMULATOR_PORT: '0',
    ...ONE_ADDRESS_LIMITS,
  };
  const output = (text: string): void => void logs.push(text);
  for (const started of await Promise.allSettled([
    spawnSystem(env, { output, readyTimeoutMs: 60_000 }),
    spawnSystem(env, { output, readyTimeoutMs: 60_000 }),
  ])) {
    if (started.status === 'fulfilled') systems.push(started.value);
  }
  if (systems.length < 2) throw new Error(`a system did not start:\n${logs.join('').slice(-4000)}`);
}, 90_000);

afterAll(async () => {
  await Promise.all(systems.map((system) => system.stop()));
  await database?.drop();
  await stores?.stop();
});

it(`a ${CANDIDATES}-candidate opening through two gateways on the cluster passes I1–I5`, async () => {
  const [first, second] = systems as [SpawnedSystem, SpawnedSystem];
  const report = await runSurge({
    base: first.base,
    otherBases: [second.base],
    redisUrl: '',
    redisClusterNodes: stores.nodes,
    databaseUrl: database.url,
    namespace: NAMESPACE,
    adminToken: ADMIN_TOKEN,
    profile: 'opening',
    candidates: CANDIDATES,
    durationS: 10,
    dashboards: 10,
    connections: 64,
    seed: 14,
    preseededSessions: true,
    oralShare: 0.4,
    gatewayThreads: 2,
    poolThreads: 1,
    // the surge and its verdict take ≈ 12 s alone; shed answers are waited out (Retry-After)
    straggleTimeoutS: 60,
    checkAcknowledged: true,
  });
  expect(report.invariants.violations).toEqual([]);
  expect(report.invariants.ok).toBe(true);
  expect(report.totals.candidatesFinished).toBe(CANDIDATES);
  expect(Object.keys(report.totals.outcomes).filter((o) => o.startsWith('failed'))).toEqual([]);
  expect(report.totals.errors).toBe(0);
  expect(report.invariants.checked.registrations).toBe(CANDIDATES);
  expect(report.invariants.checked.reconcileDifferences).toBe(0);
  // the dashboards on the first gateway converged to the seats taken through both
  expect(report.invariants.checked.dashboardsConverged).toBe(10);
  // events counted on the master that holds the province's stream (at least each candidate's
  // BOUND; 0 if only another master were asked), commands over all three
  expect(report.measured.eventsPerCandidate).toBeGreaterThanOrEqual(1);
  expect(report.measured.redisOpsPerCandidate).toBeGreaterThan(report.measured.eventsPerCandidate);
  expect(report.measured.requestsPerCandidate).toBeGreaterThan(4);
  // every write acknowledged to a candidate is still there: at least each one's registration
  expect(report.acknowledged?.checked).toBeGreaterThanOrEqual(CANDIDATES);
  expect(report.acknowledged?.lost).toBe(0);
  // each of the three masters served part of the run (the province's shard and the sessions' spread)
  expect(report.redisNodes?.map((node) => node.role)).toEqual(['master', 'master', 'master']);
  expect(report.redisNodes?.every((node) => node.commandsPerSec > 0)).toBe(true);
}, 120_000);
