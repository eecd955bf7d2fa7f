import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openingShareIn, planCapacity, type CapacityPlan, type PlanScenario } from './plan.ts';
import { formatPlan } from './planFormat.ts';
import { readShards, shardsBasisOf, ShardsInputError } from './planShards.ts';
import { opening, peakRate, profileTotal } from './profiles.ts';
import type { MeasuredCapacity } from './report/types.ts';

/** Round numbers so the worked example can be checked by hand. */
const measured: MeasuredCapacity = {
  gatewayRequestsPerSec: 10_000,
  gatewayCores: 2,
  redisOpsPerSec: 50_000,
  writerEventsPerSec: 20_000,
  loginsPerSecPerCore: 100,
  requestsPerCandidate: 10,
  redisOpsPerCandidate: 5,
  eventsPerCandidate: 4,
  p99Ms: 40,
};

/** 1.2 M candidates, half of them in a 60 s window: 10,000 candidates/s at the peak. */
const worked: PlanScenario = {
  candidates: 1_200_000,
  peakWindowS: 60,
  peakShare: 0.5,
  headroom: 0.5,
  redundancy: 1,
  loginShareInPeak: 0.5,
  targetLagS: 30,
  provinces: [
    { code: 'A', name: '甲省', weight: 2 },
    { code: 'B', name: '乙省', weight: 1 },
    { code: 'C', name: '丙省', weight: 1 },
  ],
};

describe('planCapacity: a worked example computed by hand', () => {
  const plan = planCapacity(measured, worked);

  it('derives the peak arrival rate from the window', () => {
    expect(plan.arrivals.mode).toBe('window');
    expect(plan.arrivals.peakCandidatesPerSec).toBe(10_000); // 1.2 M × 0.5 / 60
  });

  it('sizes the gateway: 100,000 req/s ÷ (10,000 × 0.5) = 20, +1 spare, 2 cores each', () => {
    expect(plan.gateway.requiredRequestsPerSec).toBe(100_000);
    expect(plan.gateway.perProcessRequestsPerSec).toBe(5_000);
    expect(plan.gateway).toMatchObject({ needed: 20, spare: 1, units: 21, cores: 42 });
    expect(plan.gateway.arithmetic.join('\n')).toContain('100,000 ÷ 5,000 = 20 → 20');
  });

  it('sizes Redis: 50,000 ops/s ÷ (50,000 × 0.5) = 2 shards; provinces 25k + (12.5k + 12.5k) pack into 2', () => {
    expect(plan.redis).toMatchObject({ requiredOpsPerSec: 50_000, perShardOpsPerSec: 25_000 });
    expect(plan.redis).toMatchObject({ byThroughput: 2, byMemory: null, byProvincePacking: 2 });
    expect(plan.redis).toMatchObject({ needed: 2, units: 3, cores: 3 });
    expect(plan.provinces.map((p) => [p.code, p.peakOpsPerSec, p.ok])).toEqual([
      ['A', 25_000, true],
      ['B', 12_500, true],
      ['C', 12_500, true],
    ]);
  });

  it('sizes login cores: 10,000 × 0.5 = 5,000 logins/s ÷ (100 × 0.5) = 100, +1', () => {
    expect(plan.login).toMatchObject({
      peakLoginsPerSec: 5_000,
      perCoreLoginsPerSec: 50,
      needed: 100,
      units: 101,
    });
  });

  it('sizes writers for a 30 s lag: 3 writers (backlog 600k events ÷ 30k/s = 20 s), not the peak’s 4', () => {
    // 40,000 events/s; one writer 20,000 × 0.5 = 10,000. Peak: 4. Average at the full rate: 2.
    // 2 writers: backlog 60 × 20,000 = 1.2 M ÷ 20,000/s = 60 s > 30. 3: 60 × 10,000 ÷ 30,000 = 20 s.
    expect(plan.writers).toMatchObject({
      peakEventsPerSec: 40_000,
      perWriterEventsPerSec: 10_000,
      forPeak: 4,
      forAverage: 2,
      forTargetLag: 3,
      needed: 3,
      units: 4,
    });
    expect(plan.writers.worstLagS).toBeCloseTo(20, 9);
  });

  it('sizes writers for the peak when the lag target is short (2 s over a 60 s window)', () => {
    const tight = planCapacity(measured, { ...worked, targetLagS: 2 });
    expect(tight.writers).toMatchObject({ forTargetLag: 4, worstLagS: 0, units: 5 });
  });

  it('adds up the cores and has no warnings', () => {
    expect(plan.totalCores).toBe(42 + 3 + 4 + 101);
    expect(plan.warnings).toEqual([]);
  });

  it('formats a table with every tier, the arithmetic and the assumptions', () => {
    const text = formatPlan(plan);
    expect(text).toMatch(/^gateway\s+20\s+1\s+21\s+42\s+gateway processes$/m);
    expect(text).toMatch(/^Redis\s+2\s+1\s+3\s+3\s+Redis shards$/m);
    expect(text).toMatch(/^writers\s+3\s+1\s+4\s+4\s+writers$/m);
    expect(text).toMatch(/^login\s+100\s+1\s+101\s+101\s+login \(KDF\) cores$/m);
    expect(text).toMatch(/^total\s+150\s/m);
    expect(text).toContain("province A 甲省's peak needs 25,000 ops/s, one shard gives 25,000: OK");
    expect(text).toContain('assumptions:');
    expect(text).toContain('headroom');
    expect(text).not.toContain('WARNINGS');
    expect(text).not.toMatch(/NaN|undefined|Infinity/);
  });
});

describe('planCapacity: the opening profile', () => {
  it('scales the profile so its total is the candidates (at its own total the peak is its own)', () => {
    const total = profileTotal(opening);
    const plan = planCapacity(measured, { candidates: Math.round(total) });
    expect(plan.arrivals.mode).toBe('profile');
    expect(plan.arrivals.peakCandidatesPerSec).toBeCloseTo(
      peakRate(opening) * (Math.round(total) / total),
      6,
    );
    expect(plan.arrivals.horizonS).toBe(1800);
  });

  it('doubling the candidates doubles the rates, and the units up to ceiling rounding', () => {
    const one = planCapacity(measured, { candidates: 1_000_000 });
    const two = planCapacity(measured, { candidates: 2_000_000 });
    expect(two.arrivals.peakCandidatesPerSec).toBeCloseTo(2 * one.arrivals.peakCandidatesPerSec, 6);
    expect(two.gateway.requiredRequestsPerSec).toBeCloseTo(2 * one.gateway.requiredRequestsPerSec, 6);
    expect(two.redis.requiredOpsPerSec).toBeCloseTo(2 * one.redis.requiredOpsPerSec, 6);
    expect(two.writers.peakEventsPerSec).toBeCloseTo(2 * one.writers.peakEventsPerSec, 6);
    expect(two.login.peakLoginsPerSec).toBeCloseTo(2 * one.login.peakLoginsPerSec, 6);
    for (const tier of ['gateway', 'redis', 'writers', 'login'] as const) {
      const n = one[tier].needed;
      expect(n, tier).toBeGreaterThan(0);
      expect(two[tier].needed, tier).toBeGreaterThanOrEqual(2 * n - 1);
      expect(two[tier].needed, tier).toBeLessThanOrEqual(2 * n);
    }
  });

  it('the window’s default peak share is the opening profile’s share in that window', () => {
    const plan = planCapacity(measured, { candidates: 1_000_000, peakWindowS: 60 });
    expect(plan.scenario.peakShare).toBeCloseTo(openingShareIn(60), 12);
    expect(openingShareIn(60)).toBeGreaterThan(0.2);
    expect(openingShareIn(60)).toBeLessThan(0.35);
  });
});

describe('planCapacity: edge cases', () => {
  it('zero candidates need zero units, but every tier keeps its spare (at least 1)', () => {
    for (const redundancy of [0, 1]) {
      const plan = planCapacity(measured, { candidates: 0, redundancy, provinces: worked.provinces });
      for (const tier of [plan.gateway, plan.redis, plan.writers, plan.login]) {
        expect(tier.needed).toBe(0);
        expect(tier.units).toBe(1);
      }
      expect(plan.redis.byProvincePacking).toBe(0);
      expect(formatPlan(plan)).not.toMatch(/NaN|undefined|Infinity/);
    }
  });

  it('one candidate needs one unit per tier', () => {
    const plan = planCapacity(measured, { candidates: 1, peakWindowS: 1, peakShare: 1, redundancy: 0 });
    for (const tier of [plan.gateway, plan.redis, plan.writers, plan.login]) expect(tier.units).toBe(1);
  });

  it('tiny measured rates give large but finite plans; absurdly tiny ones are refused', () => {
    const slow = planCapacity({ ...measured, gatewayRequestsPerSec: 0.001 }, worked);
    expect(slow.gateway.needed).toBe(200_000_000); // 100,000 ÷ (0.001 × 0.5)
    expect(formatPlan(slow)).not.toMatch(/NaN|Infinity/);
    expect(() => planCapacity({ ...measured, gatewayRequestsPerSec: 1e-300 }, worked)).toThrow(
      /too small to plan from/,
    );
  });

  it('a per-candidate count of 0 leaves that tier to its spare and says so', () => {
    const plan = planCapacity({ ...measured, eventsPerCandidate: 0 }, worked);
    expect(plan.writers).toMatchObject({ needed: 0, units: 1 });
    expect(plan.warnings.join('\n')).toContain('eventsPerCandidate');
  });

  it.each([
    ['measured.gatewayRequestsPerSec', { ...measured, gatewayRequestsPerSec: 0 }, worked],
    ['measured.redisOpsPerSec', { ...measured, redisOpsPerSec: -5 }, worked],
    ['measured.writerEventsPerSec', { ...measured, writerEventsPerSec: Number.NaN }, worked],
    ['measured.loginsPerSecPerCore', { ...measured, loginsPerSecPerCore: Number.POSITIVE_INFINITY }, worked],
    ['measured.gatewayCores', { ...measured, gatewayCores: 0 }, worked],
    ['measured.requestsPerCandidate', { ...measured, requestsPerCandidate: -1 }, worked],
    ['candidates', measured, { ...worked, candidates: -1 }],
    ['candidates', measured, { ...worked, candidates: 1.5 }],
    ['headroom', measured, { ...worked, headroom: 0 }],
    ['headroom', measured, { ...worked, headroom: 1.2 }],
    ['peakWindowS', measured, { ...worked, peakWindowS: 0 }],
    ['peakWindowS', measured, { ...worked, peakWindowS: 1e9 }],
    ['peakShare', measured, { ...worked, peakShare: 0 }],
    ['peakShare needs peakWindowS', measured, { candidates: 10, peakShare: 0.5 }],
    ['targetP99Ms', measured, { ...worked, targetP99Ms: 0 }],
    ['loginShareInPeak', measured, { ...worked, loginShareInPeak: 2 }],
    ['redundancy', measured, { ...worked, redundancy: 0.5 }],
    ['targetLagS', measured, { ...worked, targetLagS: -2 }],
    ['province A weight', measured, { ...worked, provinces: [{ code: 'A', name: 'a', weight: 0 }] }],
    ['listed twice', measured, { ...worked, provinces: [worked.provinces![0]!, worked.provinces![0]!] }],
    ['bytesPerCandidate', measured, { ...worked, bytesPerCandidate: 0 }],
    ['maxMemoryPerShardBytes needs bytesPerCandidate', measured, { ...worked, maxMemoryPerShardBytes: 1e9 }],
  ] as const)('rejects a bad %s with a RangeError naming it', (field, m, scenario) => {
    expect(() => planCapacity(m, scenario)).toThrow(RangeError);
    expect(() => planCapacity(m, scenario)).toThrow(field);
  });
});

describe('planCapacity: warnings and checks', () => {
  it('warns when the measured p99 is above the target, and keeps the units it computed', () => {
    const over = planCapacity({ ...measured, p99Ms: 80 }, { ...worked, targetP99Ms: 50 });
    expect(over.warnings).toHaveLength(1);
    expect(over.warnings[0]).toContain('the measurement does not support the target');
    expect(over.warnings[0]).toContain('80 ms');
    expect(over.gateway.units).toBe(planCapacity(measured, worked).gateway.units);
    expect(formatPlan(over)).toContain('WARNINGS');
    expect(planCapacity({ ...measured, p99Ms: 50 }, { ...worked, targetP99Ms: 50 }).warnings).toEqual([]);
  });

  it('a province whose peak does not fit one shard is NOT OK (split by campus or queue)', () => {
    const skewed = planCapacity(measured, {
      ...worked,
      provinces: [
        { code: '41', name: '河南省', weight: 3 },
        { code: '46', name: '海南省', weight: 1 },
      ],
    });
    const [henan, hainan] = skewed.provinces;
    expect(henan).toMatchObject({ code: '41', peakOpsPerSec: 37_500, shardOpsPerSec: 25_000, ok: false });
    expect(henan!.verdict).toBe(
      "province 41 河南省's peak needs 37,500 ops/s, one shard gives 25,000: NOT OK → split by campus or accept queueing",
    );
    expect(hainan).toMatchObject({ peakOpsPerSec: 12_500, ok: true });
    expect(skewed.warnings).toEqual([henan!.verdict]);
    // Henan goes alone (over one shard), Hainan does not fit beside it: 2 shards.
    expect(skewed.redis.byProvincePacking).toBe(2);
  });

  it('says when a province is beyond even the measured rate, and when shards outnumber provinces', () => {
    const one = planCapacity(measured, {
      ...worked,
      candidates: 6_000_000,
      provinces: [{ code: '41', name: '河南省', weight: 1 }],
    });
    // 50,000 candidates/s × 5 = 250,000 ops/s: 10 shards by throughput, one hash tag.
    expect(one.provinces[0]!.verdict).toContain('above even the measured 50,000 ops/s');
    expect(one.redis.byThroughput).toBe(10);
    expect(one.warnings.some((w) => w.includes('only 1 province hash tags'))).toBe(true);
  });

  it('packs provinces first-fit-decreasing when they cannot share a shard', () => {
    // Three provinces of 15,000 ops/s each on 25,000 ops/s shards: throughput says 2, packing 3.
    const plan = planCapacity(measured, {
      ...worked,
      candidates: 1_080_000,
      provinces: ['X', 'Y', 'Z'].map((code) => ({ code, name: code, weight: 1 })),
    });
    expect(plan.provinces.map((p) => p.peakOpsPerSec)).toEqual([15_000, 15_000, 15_000]);
    expect(plan.redis).toMatchObject({ byThroughput: 2, byProvincePacking: 3, needed: 3 });
  });

  it('never plans fewer shards than the memory needs', () => {
    const plan = planCapacity(measured, {
      candidates: 9_000_000,
      peakWindowS: 3600,
      peakShare: 0.01,
      bytesPerCandidate: 305,
      maxMemoryPerShardBytes: 1024 ** 3,
    });
    // 9 M × 305 B = 2.56 GiB → 3 shards; 25 candidates/s × 5 ops need 1.
    expect(plan.redis).toMatchObject({ byThroughput: 1, byMemory: 3, needed: 3 });
    expect(plan.redis.arithmetic.join('\n')).toContain('memory: 9,000,000 candidates × 305 B');
  });
});

describe('the shards input (npm run bench:shards → plan --shards)', () => {
  const shardsFile = {
    masters: [
      { masters: 2, opsPerSec: 120_000, opsPerSecPerShard: 60_000, scaling: 0.6, redisCpuUsPerOp: [5, 5] },
      { masters: 1, opsPerSec: 100_000, opsPerSecPerShard: 100_000, scaling: 1, redisCpuUsPerOp: [4] },
      { masters: 3, opsPerSec: 150_000, opsPerSecPerShard: 50_000, scaling: 0.5, redisCpuUsPerOp: [6, 6, 6] },
    ],
    method: 'test',
    rounds: 3,
    machine: { cores: 2 },
  };

  it('uses the 1-master per-shard figure, says why, and prints the measured scaling beside it', () => {
    const basis = shardsBasisOf(shardsFile, 'shards.json');
    expect(basis).toMatchObject({ perShardOpsPerSec: 100_000, fromMasters: 1, machineCores: 2, rounds: 3 });
    expect(basis.scaling.map((p) => p.masters)).toEqual([1, 2, 3]);
    expect(basis.lines[0]).toContain('the 1-master figure, 100,000 ops/s per shard');
    expect(basis.lines[0]).toContain('dedicated host');
    expect(basis.lines[1]).toContain('2 → 120,000 ops/s (60,000/shard, ×0.60)');
    expect(basis.lines[1]).toContain('the 2 cores (generator and all nodes share them) cap it');
    // the plan divides by that rate and shows the lines in the Redis tier's arithmetic
    const plan = planCapacity(
      { ...measured, redisOpsPerSec: basis.perShardOpsPerSec },
      { ...worked, redisRateNotes: basis.lines },
    );
    expect(plan.redis.perShardOpsPerSec).toBe(50_000); // 100,000 × 0.5 headroom
    expect(plan.redis.byThroughput).toBe(1);
    expect(plan.redis.arithmetic).toEqual(expect.arrayContaining([...basis.lines]));
    expect(formatPlan(plan)).toContain("one shard's rate from shards.json");
  });

  it('without a 1-master figure, uses the smallest master count and says so', () => {
    const basis = shardsBasisOf({ masters: shardsFile.masters.filter((m) => m.masters !== 1) }, 'f.json');
    expect(basis).toMatchObject({ perShardOpsPerSec: 60_000, fromMasters: 2, machineCores: null });
    expect(basis.lines[0]).toContain('no 1-master figure');
  });

  it('refuses a file it cannot use with one clear message', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'plan-shards-'));
    try {
      const write = (name: string, text: string): string => {
        writeFileSync(path.join(dir, name), text);
        return path.join(dir, name);
      };
      expect(() => readShards(path.join(dir, 'missing.json'))).toThrow(/npm run bench:shards/);
      expect(() => readShards(write('bad.json', '{"masters": ['))).toThrow(/is not JSON/);
      expect(() => readShards(write('report.json', '{"measured": {}}'))).toThrow(/no "masters" list/);
      const zero = { masters: [{ masters: 1, opsPerSec: 0, opsPerSecPerShard: 0, scaling: 1 }] };
      expect(() => readShards(write('zero.json', JSON.stringify(zero)))).toThrow(
        /masters\[0\]\.opsPerSec must be a number > 0/,
      );
      expect(() => readShards(write('frac.json', '{"masters": [{"masters": 1.5}]}'))).toThrow(
        ShardsInputError,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('npm run plan --shards: a bad file is one clear error and exit 1; a good one sets the Redis rate', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'plan-cli-'));
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'scripts/plan.ts', ...args], { encoding: 'utf8' });
    try {
      const report = path.join(dir, 'report.json');
      writeFileSync(report, JSON.stringify({ measured }));
      const bad = path.join(dir, 'bad.json');
      writeFileSync(bad, JSON.stringify({ masters: [{ masters: 1, opsPerSec: -1 }] }));
      const refused = run('--report', report, '--shards', bad);
      expect(refused.status).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr.trim().split('\n')[0]).toBe(
        `plan: ${bad}: masters[0].opsPerSec must be a number > 0 (got -1)`,
      );
      const good = path.join(dir, 'shards.json');
      writeFileSync(good, JSON.stringify(shardsFile));
      const both = run('--report', report, '--shards', good, '--redis-ops', '5000');
      expect(both.status).toBe(1);
      expect(both.stderr).toContain('--shards and --redis-ops');
      const planned = run('--report', report, '--shards', good, '--json');
      expect(planned.status).toBe(0);
      const plan = JSON.parse(planned.stdout) as CapacityPlan;
      expect(plan.measured.redisOpsPerSec).toBe(100_000);
      expect(plan.redis.arithmetic.join('\n')).toContain(
        `one shard's rate from ${good}: the 1-master figure`,
      );
      const without = run('--report', report, '--shards', 'none', '--json');
      expect((JSON.parse(without.stdout) as CapacityPlan).measured.redisOpsPerSec).toBe(50_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
