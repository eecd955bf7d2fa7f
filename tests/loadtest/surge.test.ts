/**
 * The harness in CI (issue 6): a small opening surge through the Node runner — ≈ 2,000 candidates
 * walking the whole flow over HTTP (logins with the real KDF included), dashboards attached —
 * against the system in a process of its own; the invariant check (I1–I5, reconcile, dashboards'
 * final state) must pass. Then a planted oversell (the runner's test-only fault) must make the very
 * same checker fail.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSurge, type SurgeOptions } from '../../loadtest/runner/run.ts';
import { spawnSystem, type SpawnedSystem } from '../../loadtest/runner/system.ts';
import { redisUrl } from '../support/env.ts';
import { freshDatabase, type FreshDatabase } from '../support/pg.ts';

interface Target {
  system: SpawnedSystem;
  database: FreshDatabase;
  options: Pick<SurgeOptions, 'base' | 'redisUrl' | 'databaseUrl' | 'namespace' | 'adminToken'>;
}

async function startTarget(): Promise<Target> {
  const database = await freshDatabase();
  const namespace = `lt${randomBytes(3).toString('hex')}`;
  const adminToken = randomBytes(18).toString('base64url');
  const system = await spawnSystem({
    TEST_MODE: '1',
    REDIS_URL: redisUrl(),
    DATABASE_URL: database.url,
    KEY_NAMESPACE: namespace,
    ADMIN_TOKEN: adminToken,
    THREADS: '2',
    POOL_THREADS: '2',
    PAYMENT_SIMULATOR_PORT: '0',
    RATE_LOGIN_PER_IP_PER_MINUTE: '100000000',
    RATE_SMS_PER_IP_PER_MINUTE: '100000000',
    RATE_REGISTER_PER_IP_PER_MINUTE: '100000000',
  });
  return {
    system,
    database,
    options: { base: system.base, redisUrl: redisUrl(), databaseUrl: database.url, namespace, adminToken },
  };
}

const common = {
  profile: 'opening',
  connections: 128,
  seed: 7,
  oralShare: 0.4,
  gatewayThreads: 2,
  poolThreads: 2,
} as const;

describe('the surge runner', () => {
  let target: Target;
  beforeAll(async () => {
    target = await startTarget();
  }, 120_000);
  afterAll(async () => {
    await target?.system.stop();
    await target?.database.drop();
  });

  it('runs a 2,000-candidate opening surge with dashboards and passes I1–I5', async () => {
    const report = await runSurge({
      ...common,
      ...target.options,
      candidates: 2_000,
      durationS: 20,
      dashboards: 20,
      preseededSessions: false,
    });
    expect(report.invariants.violations).toEqual([]);
    expect(report.invariants.ok).toBe(true);
    // every candidate offered was started and walked to an outcome; none failed
    expect(report.totals.candidatesOffered).toBe(2_000);
    expect(report.totals.candidatesFinished).toBe(2_000);
    expect(Object.keys(report.totals.outcomes).filter((o) => o.startsWith('failed'))).toEqual([]);
    expect(report.totals.errors).toBe(0);
    // the flow really ran: logins, bindings, seats, payments
    expect(report.latency.byStep.login?.count).toBeGreaterThanOrEqual(2_000);
    expect(report.latency.byStep.bind?.count).toBe(2_000);
    expect((report.totals.outcomes.paid ?? 0) + (report.totals.outcomes.paidWithOral ?? 0)).toBeGreaterThan(
      1_000,
    );
    expect(report.invariants.checked.registrations).toBe(2_000);
    // the oral seats (≈ 8–18 % of the candidates) are fewer than the 40 % who race for them
    expect(report.answers['409 SOLD_OUT']).toBeGreaterThan(0);
    expect(report.sellOutS).not.toBeNull();
    // dashboards: attached, fed, converged to Redis's final counts
    expect(report.dashboards.subscribers).toBe(20);
    expect(report.dashboards.messages).toBeGreaterThan(0);
    expect(report.invariants.checked.dashboardsConverged).toBe(20);
    // the timeline covers the run and accounts for every request
    expect(report.timeline.reduce((sum, p) => sum + p.completed, 0)).toBe(report.totals.requests);
    expect(report.timeline.reduce((sum, p) => sum + p.offered, 0)).toBe(2_000);
    expect(report.measured.requestsPerCandidate).toBeGreaterThan(8);
  }, 300_000);

  it('fails the invariant check when an oversell is planted', async () => {
    const other = await startTarget();
    try {
      const report = await runSurge({
        ...common,
        ...other.options,
        candidates: 200,
        durationS: 6,
        dashboards: 0,
        preseededSessions: true,
        plantOversell: true,
      });
      expect(report.invariants.ok).toBe(false);
      expect(report.invariants.violations.some((v) => v.startsWith('I1:'))).toBe(true);
    } finally {
      await other.system.stop();
      await other.database.drop();
    }
  }, 180_000);
});
