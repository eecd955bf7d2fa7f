import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runShardsBench, shardsBenchSummary } from './shards.ts';

describe('runShardsBench', () => {
  it('measures 1 and 2 durable masters: ops on every master, CPU read from /proc, the json shape', async () => {
    const report = await runShardsBench({
      masters: [1, 2],
      rounds: 1,
      durationS: 1.5,
      warmupS: 0.5,
      inflight: 64,
      candidates: 30_000,
      quietWaitS: 0,
    });
    expect(report.rounds).toBe(1);
    expect(report.method).toMatch(/appendfsync always/);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.appendfsync).toBe('always');
    expect(report.masters.map((m) => m.masters)).toEqual([1, 2]);
    for (const m of report.masters) {
      expect(Object.keys(m).sort()).toEqual(
        [
          'cores',
          'engineCallsPerSec',
          'generatorCpuUsPerOp',
          'masters',
          'opsPerSec',
          'opsPerSecPerShard',
          'opsShare',
          'scriptsPerSec',
          'redisCpuUsPerOp',
          'redisCpuUsPerOpTotal',
          'scaling',
        ].sort(),
      );
      expect(m.opsPerSec).toBeGreaterThan(0);
      expect(m.opsPerSecPerShard).toBe(Math.round(m.opsPerSec / m.masters));
      expect(m.redisCpuUsPerOp).toHaveLength(m.masters);
      expect(m.generatorCpuUsPerOp).toBeGreaterThan(0);
    }
    expect(report.masters[0]!.scaling).toBe(1);
    expect(report.runs).toHaveLength(2);
    const two = report.runs.find((run) => run.masters === 2)!;
    expect(two.nodes.map((node) => node.slots)).toEqual(['0-8191', '8192-16383']);
    for (const run of report.runs) {
      expect(run.outcomes['written:OK']).toBeGreaterThan(0);
      for (const node of run.nodes) {
        // every master got work, and its CPU came from /proc/<pid>/stat
        expect(node.commands).toBeGreaterThan(0);
        if (existsSync('/proc/self/stat')) {
          expect(node.cpuFromProc).toBe(true);
          expect(node.cpuSeconds).toBeGreaterThan(0);
          expect(node.cpuUsPerOp).toBeGreaterThan(0);
        }
      }
    }
    expect(shardsBenchSummary(report)).toMatch(/share them/);
  }, 30_000);
});
