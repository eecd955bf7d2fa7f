/**
 * The capacity plan's Redis rate from `npm run bench:shards` (reports/bench/shards.json, issue 14
 * item 6): which measured figure stands for one shard, and the lines that say why, with the
 * measured scaling beside it. Reads one file; a file that cannot be used is one ShardsInputError
 * with a clear message. It must never pick a figure the file does not hold.
 *
 * The per-shard rate is the 1-master figure (the smallest master count measured when 1 is absent):
 * in that round one master had the box's cores to itself beside the load generator, as a shard on
 * a dedicated host has; at 2 and 3 masters the nodes split the same cores, so their per-shard rate
 * measures the shared box, not a shard.
 */
import { readJsonInput } from './report/file.ts';
import { num } from './planNumbers.ts';

export const DEFAULT_SHARDS_FILE = 'reports/bench/shards.json';

export class ShardsInputError extends Error {
  override readonly name = 'ShardsInputError';
}

export interface ShardsScalingPoint {
  readonly masters: number;
  readonly opsPerSec: number;
  readonly opsPerSecPerShard: number;
  readonly scaling: number;
}

export interface ShardsBasis {
  readonly file: string;
  /** Engine ops/s one shard sustains (the plan's `redisOpsPerSec`). */
  readonly perShardOpsPerSec: number;
  /** The master count whose per-shard figure is used. */
  readonly fromMasters: number;
  readonly scaling: readonly ShardsScalingPoint[];
  readonly machineCores: number | null;
  readonly rounds: number | null;
  /** For the Redis tier's arithmetic: the figure used, why, and the measured scaling. */
  readonly lines: readonly string[];
}

const isPositive = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;

/** Checks a parsed shards.json and picks the per-shard rate; `file` names it in messages. */
export function shardsBasisOf(data: unknown, file: string): ShardsBasis {
  const entries = (data as { masters?: unknown } | null)?.masters;
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new ShardsInputError(
      `${file} has no "masters" list (is it the output of \`npm run bench:shards\`?)`,
    );
  }
  const points = entries.map((entry: unknown, index): ShardsScalingPoint => {
    const e = entry as Partial<Record<keyof ShardsScalingPoint, unknown>> | null;
    const masters = e?.masters;
    if (!(typeof masters === 'number' && Number.isInteger(masters) && masters >= 1)) {
      throw new ShardsInputError(`${file}: masters[${index}].masters must be a whole number ≥ 1`);
    }
    for (const field of ['opsPerSec', 'opsPerSecPerShard', 'scaling'] as const) {
      if (!isPositive(e?.[field])) {
        throw new ShardsInputError(
          `${file}: masters[${index}].${field} must be a number > 0 (got ${JSON.stringify(e?.[field])})`,
        );
      }
    }
    return {
      masters,
      opsPerSec: e!.opsPerSec as number,
      opsPerSecPerShard: e!.opsPerSecPerShard as number,
      scaling: e!.scaling as number,
    };
  });
  const sorted = [...points].sort((a, b) => a.masters - b.masters);
  const used = sorted[0]!;
  const machine = (data as { machine?: { cores?: unknown } }).machine;
  const machineCores = isPositive(machine?.cores) ? machine.cores : null;
  const roundsField = (data as { rounds?: unknown }).rounds;
  const rounds = isPositive(roundsField) ? roundsField : null;
  const box = machineCores === null ? 'the benchmark box' : `a ${machineCores}-core box`;
  const why =
    used.masters === 1
      ? 'one master with the cores to itself beside the load generator, as a shard on a dedicated host'
      : `the smallest master count measured (no 1-master figure in the file)`;
  const lines = [
    `one shard's rate from ${file}: the ${used.masters}-master figure, ${num(used.opsPerSecPerShard)} ops/s per shard ` +
      `(${why}; at more masters the nodes split the same cores)`,
    `measured scaling on ${box}${rounds === null ? '' : `, medians of ${rounds} rounds`}: ` +
      sorted
        .map(
          (p) =>
            `${p.masters} → ${num(p.opsPerSec)} ops/s (${num(p.opsPerSecPerShard)}/shard, ×${p.scaling.toFixed(2)})`,
        )
        .join(', ') +
      (machineCores !== null && machineCores <= 2
        ? `; the ${machineCores} cores (generator and all nodes share them) cap it, so it is not Redis Cluster's scaling`
        : ''),
  ];
  return {
    file,
    perShardOpsPerSec: used.opsPerSecPerShard,
    fromMasters: used.masters,
    scaling: sorted,
    machineCores,
    rounds,
    lines,
  };
}

/** Reads and checks `npm run bench:shards`'s file. */
export function readShards(file: string): ShardsBasis {
  const data = readJsonInput(
    file,
    `shards figures at ${file}: produce them with \`npm run bench:shards\``,
    ShardsInputError,
  );
  return shardsBasisOf(data, file);
}
