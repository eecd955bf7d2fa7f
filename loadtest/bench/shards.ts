/**
 * How the engine scales over Redis Cluster shards (issue 14 item 6), behind `npm run bench:shards`.
 * Measures; asserts nothing. For each master count (default 1, 2, 3, alternating over the rounds:
 * 1,2,3,1,2,3,…) a fresh private cluster of durable masters (devstack startRedisCluster) gets
 * the generated world of all 31 provinces (every shard holds provinces, so every shard gets work),
 * and `inflight` candidates at once walk the engine surge's path (engineWalk.ts: bind, written
 * hold, oral hold for 40 % of CET4 holders, order and payment for 70 %) through ioredis `Cluster`
 * (the product's client, auto-pipelining off: redis/ioredis#2109) until the round ends: the engine
 * at saturation. Over a steady window after a warm-up it reads, on every master, INFO's
 * total_commands_processed (the engine ops: the same unit as a load-test report's
 * `measured.redisOpsPerCandidate`) and /proc/<pid>/stat (utime + stime), and the load generator's
 * own CPU. Figures are per round, then medians per master count. The generator and every node
 * share this box's cores: on 2 cores that caps the scaling, and the output says so.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine } from '../../engine/index.ts';
import { loadWorld } from '../../engine/loader.ts';
import { connectRedis, openRedis } from '../../engine/redisClient.ts';
import type { RosterEntry } from '../../engine/world.ts';
import { redisCommand, startRedisCluster, type RedisClusterMaster } from '../../devstack/index.ts';
import { sampleProcesses, splitCpu, type CpuSample } from '../cpu.ts';
import { generateWorld } from '../seed/generate.ts';
import { median } from './drive.ts';
import { openingNowOf, walkCandidate } from './engineWalk.ts';

export interface ShardsBenchOptions {
  /** Master counts, measured in this order in every round; default [1, 2, 3]. */
  readonly masters: readonly number[];
  /** Rounds over all master counts; default 3. */
  readonly rounds: number;
  /** Seconds measured per round (after the warm-up); default 10. */
  readonly durationS: number;
  /** Seconds of load before the window opens; default 2. */
  readonly warmupS: number;
  /** Candidates walking at once; default 256. */
  readonly inflight: number;
  /** Candidates of the generated world (each round walks from the first; must outlast a round). */
  readonly candidates: number;
  readonly seed?: number;
  /**
   * Before each round, wait up to this long (s) for the box to be quiet (≤ 0.25 cores busy over
   * 1 s: other people's tests share it); default 30, 0 skips the wait.
   */
  readonly quietWaitS?: number;
  /** Progress lines (the CLI prints them). */
  readonly log?: (line: string) => void;
}

export const SHARDS_BENCH_DEFAULTS = {
  masters: [1, 2, 3],
  rounds: 3,
  durationS: 10,
  warmupS: 2,
  inflight: 256,
  candidates: 120_000,
} as const;

export interface NodeRound {
  /** Slot range of the master. */
  readonly slots: string;
  readonly commands: number;
  readonly opsPerSec: number;
  readonly scriptsPerSec: number;
  readonly cpuSeconds: number;
  /** CPU µs per command this node executed. */
  readonly cpuUsPerOp: number;
  /** Whether its CPU came from /proc/<pid>/stat (false: no /proc, figures are 0). */
  readonly cpuFromProc: boolean;
}

export interface ShardsRound {
  readonly round: number;
  readonly masters: number;
  readonly seconds: number;
  /** Engine ops (commands processed on the masters) per second, all masters. */
  readonly opsPerSec: number;
  /** Script executions on the masters per second. */
  readonly scriptsPerSec: number;
  /** Calls through the engine's wrappers (a bind is one call, three scripts). */
  readonly engineCallsPerSec: number;
  readonly candidatesPerSec: number;
  readonly nodes: readonly NodeRound[];
  /** All masters' CPU per engine op. */
  readonly redisCpuUsPerOpTotal: number;
  readonly generatorCpuUsPerOp: number;
  /** Cores busy: the generator, all masters, and everything else on the box. */
  readonly cores: { readonly generator: number; readonly redis: number; readonly other: number };
  /** The busiest other processes in the window (name, cores): neighbours that disturbed it. */
  readonly otherTop: readonly { readonly name: string; readonly cores: number }[];
  /** Whether the box was quiet when the round started (see quietWaitS; false when the wait was skipped). */
  readonly startedQuiet: boolean;
  /** Walk outcomes in the window, e.g. `written:OK`. */
  readonly outcomes: Readonly<Record<string, number>>;
}

export interface ShardsFigures {
  readonly masters: number;
  /** Median over the rounds. */
  readonly opsPerSec: number;
  readonly opsPerSecPerShard: number;
  /** Per master, in slot order: median CPU µs per op it executed. */
  readonly redisCpuUsPerOp: readonly number[];
  /** All masters' CPU per op of the cluster (median). */
  readonly redisCpuUsPerOpTotal: number;
  readonly generatorCpuUsPerOp: number;
  /** Script executions per second (each runs several of the ops). */
  readonly scriptsPerSec: number;
  readonly engineCallsPerSec: number;
  /** opsPerSec ÷ (masters ÷ smallest × opsPerSec at the smallest count): 1 = linear. */
  readonly scaling: number;
  /** Share of the ops each master executed (median), in slot order. */
  readonly opsShare: readonly number[];
  readonly cores: { readonly generator: number; readonly redis: number; readonly other: number };
}

export interface ShardsReport {
  readonly masters: readonly ShardsFigures[];
  readonly method: string;
  readonly rounds: number;
  readonly machine: {
    readonly cores: number;
    readonly cpuModel: string;
    readonly memoryGiB: number;
    readonly node: string;
    readonly redis: string;
    readonly appendfsync: string;
  };
  readonly capNote: string;
  readonly runs: readonly ShardsRound[];
  readonly measuredAt: string;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

interface NodeProbe {
  /** total_commands_processed: commands a script runs count too. */
  readonly commands: number;
  /** Script executions (EVALSHA, EVAL). */
  readonly scripts: number;
}

async function probe(master: RedisClusterMaster): Promise<NodeProbe> {
  const info = await redisCommand(master.node.port, ['INFO', 'stats', 'commandstats'], 5_000);
  const calls = (command: string): number =>
    Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return {
    commands: Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? NaN),
    scripts: calls('evalsha') + calls('eval'),
  };
}

const QUIET_CORES = 0.25;

/** Waits (at most `maxWaitS`) until the box is ≤ QUIET_CORES busy over one second. */
async function waitForQuiet(maxWaitS: number): Promise<boolean> {
  const deadline = performance.now() + maxWaitS * 1000;
  while (performance.now() < deadline) {
    const before = sampleProcesses();
    await sleep(1000);
    const after = sampleProcesses();
    if (!before || !after) return false;
    const split = splitCpu(before, after, {});
    if (split.boxCpuSeconds / split.seconds <= QUIET_CORES) return true;
  }
  return false;
}

/** The `count` processes outside `mine` that spent the most CPU between two samples (with their children). */
function busiestOthers(
  before: CpuSample,
  after: CpuSample,
  mine: ReadonlySet<number>,
  count = 3,
): { name: string; cores: number }[] {
  const spent: [number, number][] = [];
  for (const [pid, now] of after.processes) {
    if (mine.has(pid) || mine.has(now.ppid)) continue;
    const ticks = now.ticks - (before.processes.get(pid)?.ticks ?? 0);
    if (ticks > 0) spent.push([pid, ticks]);
  }
  const top = spent.sort((a, b) => b[1] - a[1]).slice(0, count);
  const roots: Record<string, number> = {};
  for (const [pid] of top) {
    let name = 'gone';
    try {
      name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      // ended since
    }
    roots[`${name} (${pid})`] = pid;
  }
  const split = splitCpu(before, after, roots);
  return Object.keys(roots).map((name) => ({
    name,
    cores: round3((split.cpuSeconds[name] ?? 0) / split.seconds),
  }));
}

/** One round on a fresh cluster of `masters` masters. */
async function measureRound(
  masters: number,
  round: number,
  roster: readonly RosterEntry[],
  world: ReturnType<typeof generateWorld>['world'],
  options: ShardsBenchOptions,
): Promise<{ figures: ShardsRound; redisVersion: string; appendfsync: string }> {
  const startedQuiet = await waitForQuiet(options.quietWaitS ?? 30);
  // durable masters as production runs them (AOF, appendfsync always, noeviction), no replicas
  const cluster = await startRedisCluster({ masters, persistent: true });
  const seeds = cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',');
  const redis = openRedis({ redisUrl: '', redisClusterNodes: seeds }, { maxRetriesPerRequest: null });
  try {
    const masterNodes = await cluster.masters();
    await connectRedis(redis);
    const engine = new Engine(redis, { namespace: 'shards' });
    const openingNow = openingNowOf(world);
    const loaded = await loadWorld(engine, world, openingNow);
    if (loaded.rejected.length > 0) throw new Error(`world load refused ${loaded.rejected.length} campuses`);
    const server = await redisCommand(masterNodes[0]!.node.port, ['INFO', 'server']);
    const redisVersion = /redis_version:(\S+)/.exec(server)?.[1] ?? 'unknown';
    const appendfsync = (await redisCommand(masterNodes[0]!.node.port, ['INFO', 'persistence'])).includes(
      'aof_enabled:1',
    )
      ? 'always'
      : 'off';

    let next = 0;
    let calls = 0;
    let walked = 0;
    let running = true;
    let counting = false;
    const outcomes = new Map<string, number>();
    const hooks = {
      timed: <T>(_op: string, work: () => Promise<T>): Promise<T> => {
        if (counting) calls++;
        return work();
      },
      count: (outcome: string): void => {
        if (counting) outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      },
    };
    let exhausted = false;
    const walkers = Promise.all(
      Array.from({ length: options.inflight }, async () => {
        while (running) {
          if (next >= roster.length) {
            exhausted = true;
            return;
          }
          const entry = roster[next++]!;
          await walkCandidate(engine, entry, world.fees, openingNow + (next % 60_000), hooks);
          if (counting) walked++;
        }
      }),
    );
    await sleep(options.warmupS * 1000);
    const probesBefore = await Promise.all(masterNodes.map(probe));
    const cpuBefore = sampleProcesses();
    const generatorBefore = process.cpuUsage();
    counting = true;
    const started = performance.now();
    await sleep(options.durationS * 1000);
    counting = false;
    const seconds = (performance.now() - started) / 1000;
    const generatorAfter = process.cpuUsage(generatorBefore);
    const cpuAfter = sampleProcesses();
    const probesAfter = await Promise.all(masterNodes.map(probe));
    running = false;
    await walkers;
    if (exhausted) {
      throw new Error(
        `the roster (${roster.length} candidates) ran out during a ${masters}-master round: raise --candidates`,
      );
    }

    const roots: Record<string, number> = { generator: process.pid };
    masterNodes.forEach((master, i) => (roots[`node${i}`] = master.pid));
    const split = cpuBefore && cpuAfter ? splitCpu(cpuBefore, cpuAfter, roots) : null;
    const nodes: NodeRound[] = masterNodes.map((node, i) => {
      const commands = probesAfter[i]!.commands - probesBefore[i]!.commands;
      const scripts = probesAfter[i]!.scripts - probesBefore[i]!.scripts;
      const cpuSeconds = split?.cpuSeconds[`node${i}`] ?? 0;
      return {
        slots: node.slots,
        commands,
        opsPerSec: Math.round(commands / seconds),
        scriptsPerSec: Math.round(scripts / seconds),
        cpuSeconds: round3(cpuSeconds),
        cpuUsPerOp: round1((cpuSeconds * 1e6) / Math.max(1, commands)),
        cpuFromProc: split !== null,
      };
    });
    const ops = nodes.reduce((sum, node) => sum + node.commands, 0);
    const redisCpu = nodes.reduce((sum, node) => sum + node.cpuSeconds, 0);
    const generatorCpu = (generatorAfter.user + generatorAfter.system) / 1e6;
    return {
      figures: {
        round,
        masters,
        seconds: round3(seconds),
        opsPerSec: Math.round(ops / seconds),
        scriptsPerSec: nodes.reduce((sum, node) => sum + node.scriptsPerSec, 0),
        engineCallsPerSec: Math.round(calls / seconds),
        candidatesPerSec: Math.round(walked / seconds),
        nodes,
        redisCpuUsPerOpTotal: round1((redisCpu * 1e6) / Math.max(1, ops)),
        generatorCpuUsPerOp: round1((generatorCpu * 1e6) / Math.max(1, ops)),
        cores: {
          generator: round3(generatorCpu / seconds),
          redis: round3(redisCpu / seconds),
          other: round3((split?.cpuSeconds.other ?? 0) / seconds),
        },
        otherTop:
          cpuBefore && cpuAfter
            ? busiestOthers(cpuBefore, cpuAfter, new Set([process.pid, ...masterNodes.map((n) => n.pid)]))
            : [],
        startedQuiet,
        outcomes: Object.fromEntries([...outcomes].sort(([a], [b]) => a.localeCompare(b))),
      },
      redisVersion,
      appendfsync,
    };
  } finally {
    redis.disconnect();
    await cluster.stop();
  }
}

function figuresOf(masters: number, runs: readonly ShardsRound[]): Omit<ShardsFigures, 'scaling'> {
  const mine = runs.filter((run) => run.masters === masters);
  const of = (pick: (run: ShardsRound) => number): number => median(mine.map(pick));
  const opsPerSec = Math.round(of((run) => run.opsPerSec));
  return {
    masters,
    opsPerSec,
    opsPerSecPerShard: Math.round(opsPerSec / masters),
    redisCpuUsPerOp: Array.from({ length: masters }, (_, i) => of((run) => run.nodes[i]!.cpuUsPerOp)),
    redisCpuUsPerOpTotal: of((run) => run.redisCpuUsPerOpTotal),
    generatorCpuUsPerOp: of((run) => run.generatorCpuUsPerOp),
    scriptsPerSec: Math.round(of((run) => run.scriptsPerSec)),
    engineCallsPerSec: Math.round(of((run) => run.engineCallsPerSec)),
    opsShare: Array.from({ length: masters }, (_, i) =>
      round3(of((run) => run.nodes[i]!.commands / Math.max(1, run.opsPerSec * run.seconds))),
    ),
    cores: {
      generator: of((run) => run.cores.generator),
      redis: of((run) => run.cores.redis),
      other: of((run) => run.cores.other),
    },
  };
}

export function capNoteOf(cores: number): string {
  return (
    `${cores} core(s): the load generator and every master share them, so adding masters adds no ` +
    'CPU — the scaling measured here is capped by the box, not by Redis Cluster; on dedicated ' +
    'hosts (one core per shard) a shard gives about the 1-master per-shard rate'
  );
}

export async function runShardsBench(options: ShardsBenchOptions): Promise<ShardsReport> {
  const log = options.log ?? (() => undefined);
  const counts = [...new Set(options.masters)];
  if (counts.length === 0 || counts.some((m) => !Number.isInteger(m) || m < 1)) {
    throw new RangeError(`masters must be whole numbers ≥ 1 (got ${options.masters.join(',')})`);
  }
  if (!Number.isInteger(options.rounds) || options.rounds < 1) throw new RangeError('rounds must be ≥ 1');
  const generated = generateWorld({ candidates: options.candidates, seed: options.seed ?? 42 });
  const roster = [...generated.roster()];
  log(
    `world: ${generated.world.calendar.length} provinces, ${generated.world.campuses.length} campuses, ` +
      `${roster.length} candidates`,
  );
  const runs: ShardsRound[] = [];
  let redis = 'unknown';
  let appendfsync = 'unknown';
  for (let round = 1; round <= options.rounds; round++) {
    for (const masters of counts) {
      const measured = await measureRound(masters, round, roster, generated.world, options);
      runs.push(measured.figures);
      redis = measured.redisVersion;
      appendfsync = measured.appendfsync;
      const f = measured.figures;
      log(
        `round ${round}, ${masters} master(s): ${f.opsPerSec.toLocaleString('en')} ops/s ` +
          `(${f.scriptsPerSec.toLocaleString('en')} scripts/s, ${f.engineCallsPerSec.toLocaleString('en')} engine calls/s), redis ${f.redisCpuUsPerOpTotal} µs/op, ` +
          `generator ${f.generatorCpuUsPerOp} µs/op, cores gen ${f.cores.generator} redis ${f.cores.redis} other ${f.cores.other}` +
          (f.startedQuiet ? '' : ' (box busy at the start)') +
          (f.cores.other > 0.25
            ? ` — others: ${f.otherTop.map((o) => `${o.name} ${o.cores}`).join(', ')}`
            : ''),
      );
    }
  }
  const base = Math.min(...counts);
  const baseFigures = figuresOf(base, runs);
  const masters = counts.map((count): ShardsFigures => {
    const figures = figuresOf(count, runs);
    const scaling = figures.opsPerSec / ((count / base) * Math.max(1, baseFigures.opsPerSec));
    return { ...figures, scaling: round3(scaling) };
  });
  const cores = os.cpus().length;
  return {
    masters,
    method:
      `${options.rounds} round(s) alternating ${counts.join(',')} master(s); each round a fresh private Redis ` +
      'Cluster of durable masters (AOF appendfsync always, noeviction, no replicas) with the generated world of ' +
      `${generated.world.calendar.length} provinces; ${options.inflight} candidates at once walk the engine surge's path ` +
      '(bind, written hold, oral hold for 40 % of CET4 holders, order + payment for 70 %) through ioredis Cluster ' +
      `(auto-pipelining off) for ${options.warmupS} s of warm-up and a ${options.durationS} s window; ops = ` +
      'total_commands_processed on the masters, the commands a script runs included (the unit of a load-test ' +
      "report's measured.redisOpsPerSec and redisOpsPerCandidate; script executions are reported beside); CPU from " +
      "/proc/<pid>/stat utime+stime of each redis-server and the generator's process.cpuUsage(); medians over the rounds; " +
      `scaling = ops/s at N ÷ (N/${base} × ops/s at ${base})`,
    rounds: options.rounds,
    machine: {
      cores,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
      node: process.version,
      redis,
      appendfsync,
    },
    capNote: capNoteOf(cores),
    runs,
    measuredAt: new Date().toISOString(),
  };
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : ' '.repeat(width - text.length) + text;
}

/** The medians as the terminal shows them. */
export function shardsBenchSummary(report: ShardsReport): string {
  const header = [
    'masters',
    'ops/s',
    'ops/s/shard',
    'scaling',
    'redis µs/op per node',
    'generator µs/op',
    'cores gen/redis/other',
  ];
  const rows = report.masters.map((m) => [
    String(m.masters),
    m.opsPerSec.toLocaleString('en'),
    m.opsPerSecPerShard.toLocaleString('en'),
    m.scaling.toFixed(2),
    m.redisCpuUsPerOp.join(' / '),
    String(m.generatorCpuUsPerOp),
    `${m.cores.generator} / ${m.cores.redis} / ${m.cores.other}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => pad(c, widths[i]!)).join('  ');
  return [
    `engine on Redis Cluster (${report.rounds} rounds, medians; ${report.machine.cores} cores, Redis ${report.machine.redis}, appendfsync ${report.machine.appendfsync})`,
    line(header),
    ...rows.map(line),
    `note: ${report.capNote}`,
    '→ reports/bench/shards.json',
  ].join('\n');
}
