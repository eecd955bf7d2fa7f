/**
 * Sharded load generation (issue 15, P3) against the real system: 2 generator processes walk the
 * two halves of one province's 50,000 candidates on one clock; their reports merge into one and
 * I1–I5 are checked once, on the stores. All 50,000 are due within the first 10 s, far more than
 * the box can walk, so most of them wait in the generators' backlogs (what kept a million pending
 * requests in memory before): each generator must still hold ≤ 500 bytes of heap per candidate.
 * The run stops starting candidates at 25 s (a test-sized slice of the surge: the ones never
 * started are the run's only violations, said as such).
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReportHtml } from '../../loadtest/report/html.ts';
import type { RunReport } from '../../loadtest/report/types.ts';
import { runShardedSurge } from '../../loadtest/runner/coordinator.ts';
import { startSurgeTarget, type SurgeTarget } from '../support/surge.ts';

const CANDIDATES = 50_000;

describe('a sharded surge', () => {
  let target: SurgeTarget;
  beforeAll(async () => {
    target = await startSurgeTarget();
  }, 120_000);
  afterAll(async () => {
    await target?.stop();
  });

  it('splits 50,000 candidates over 2 generators in ≤ 500 bytes of heap each, merged and judged once', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'sharded-'));
    const report = await runShardedSurge({
      ...target.options,
      profile: 'opening',
      candidates: CANDIDATES,
      durationS: 10,
      dashboards: 0,
      connections: 128,
      seed: 11,
      preseededSessions: true,
      oralShare: 0.4,
      gatewayThreads: 2,
      poolThreads: 1,
      straggleTimeoutS: 30,
      stopStartingAfterS: 25,
      shards: 2,
      out,
    });
    const shards = [1, 2].map(
      (i) => JSON.parse(readFileSync(path.join(out, `shard-${i}`, 'report.json'), 'utf8')) as RunReport,
    );

    // the slices: disjoint halves, each offered its half of the curve
    expect(shards.map((s) => s.shard?.candidates)).toEqual([CANDIDATES / 2, CANDIDATES / 2]);
    expect(shards[0]!.shard!.zeroAtMs).toBe(shards[1]!.shard!.zeroAtMs);
    expect(report.mergedFrom?.map((s) => s.index)).toEqual([1, 2]);
    expect(report.totals.candidatesOffered).toBe(CANDIDATES);
    // counts add up: the merged run is the sum of its shards
    for (const key of ['requests', 'candidatesStarted', 'candidatesFinished', 'errors'] as const) {
      expect(report.totals[key]).toBe(shards[0]!.totals[key] + shards[1]!.totals[key]);
    }
    expect(report.latency.all.count).toBe(report.totals.requests);
    expect(report.timeline.reduce((sum, p) => sum + p.completed, 0)).toBe(report.totals.requests);
    expect(report.totals.requests).toBeGreaterThan(2_000);

    // the memory bound, with most candidates waiting in the backlog
    expect(report.generators).toHaveLength(2);
    for (const generator of report.generators!) {
      expect(generator.candidates).toBe(CANDIDATES / 2);
      expect(generator.backlogPeak).toBeGreaterThan(15_000);
      expect(generator.method).toContain('after a full GC');
      expect(generator.heapBytesPerCandidate).toBeLessThanOrEqual(500);
    }

    // I1–I5 checked once on the stores: passing; the only violations say the run was stopped early
    expect(report.invariants.checked.registrations).toBeGreaterThan(0);
    expect(report.invariants.checked.reconcileDifferences).toBe(0);
    expect(report.invariants.violations.length).toBeGreaterThan(0);
    for (const violation of report.invariants.violations) {
      expect(violation).toMatch(/never started|still walking when none had finished/);
    }
    // the phases and the page of the merged run
    expect(report.phases?.map((p) => p.name)).toContain('openingMinute');
    expect(renderReportHtml(report)).toContain('shard');
  }, 300_000);
});
