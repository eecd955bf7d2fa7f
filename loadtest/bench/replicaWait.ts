/**
 * What `REDIS_WAIT_REPLICAS=1` costs a reservation (issue 14 item 3, P9), behind
 * `npm run bench:wait`. Measures; asserts nothing. On a private Redis Cluster of 3 durable masters
 * with one replica each (AOF, appendfsync always, as the product runs), distinct bound candidates
 * of one province hold a written seat through the engine, with WAIT 0 and WAIT 1 alternating:
 *  - one at a time: the latency a client sees (p50, p99), nothing else in flight;
 *  - `inflight` at once: reservations per second on the province's shard and their latency.
 * The setup (calendar, campuses, bindings) runs without WAIT: only the holds are measured.
 */
import { Engine, HOUR_MS, bind, type CandidateRef } from '../../engine/index.ts';
import { openRedis } from '../../engine/redisClient.ts';
import { startRedisCluster } from '../../devstack/index.ts';
import { newHistogram, summarise } from '../runner/recorder.ts';
import type { LatencySummary } from '../report/types.ts';
import { drive, median } from './drive.ts';
import { BENCH_NOW, BENCH_PROVINCE, BENCH_SNAPSHOT, campusFor } from './engine.ts';

export interface ReplicaWaitBenchOptions {
  /** Alternating rounds of (WAIT 0, WAIT 1); default 3. */
  readonly rounds: number;
  /** Holds per round one at a time; default 500. */
  readonly sequential: number;
  /** Holds per round with `inflight` at once; default 5,000. */
  readonly concurrent: number;
  /** Calls in flight in the concurrent part; default 64. */
  readonly inflight: number;
  /** WAIT's bound (REDIS_WAIT_TIMEOUT_MS); default 500. */
  readonly timeoutMs: number;
}

export interface WaitModeFigures {
  readonly waitReplicas: number;
  /** One hold at a time: median over the rounds of each round's percentiles. */
  readonly sequential: LatencySummary;
  /** `inflight` holds at once. */
  readonly concurrent: LatencySummary & { readonly holdsPerSec: number };
  /** Holds answered REPLICATION_TIMEOUT (none expected with the replica up). */
  readonly replicationTimeouts: number;
}

const NOW = BENCH_NOW;
const PROVINCE = BENCH_PROVINCE;

/** The median of each percentile over the rounds. */
function medianSummary(rounds: readonly LatencySummary[]): LatencySummary {
  const of = (pick: (s: LatencySummary) => number) => median(rounds.map(pick));
  return {
    count: rounds.reduce((sum, s) => sum + s.count, 0),
    p50Ms: of((s) => s.p50Ms),
    p90Ms: of((s) => s.p90Ms),
    p99Ms: of((s) => s.p99Ms),
    maxMs: of((s) => s.maxMs),
  };
}

export async function runReplicaWaitBench(options: ReplicaWaitBenchOptions) {
  const { rounds, sequential, concurrent, inflight, timeoutMs } = options;
  const perRound = sequential + concurrent;
  const candidates = rounds * 2 * perRound;
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, persistent: true });
  const nodes = cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',');
  const open = () => openRedis({ redisUrl: '', redisClusterNodes: nodes }, { maxRetriesPerRequest: null });
  const clients = [open(), open()];
  try {
    const namespace = `wait${Date.now()}`;
    const setup = new Engine(clients[0]!, { namespace });
    const engines = [0, 1].map(
      (replicas) => new Engine(clients[1]!, { namespace, replicaWait: { replicas, timeoutMs } }),
    );
    await setup.setCalendar(
      {
        provinceCode: PROVINCE,
        registrationOpensAt: NOW - HOUR_MS,
        registrationClosesAt: NOW + 100 * HOUR_MS,
      },
      NOW,
    );
    const campuses = Array.from({ length: 20 }, (_, i) =>
      campusFor(i + 1, { CET4: Math.ceil(candidates / 20) }),
    );
    for (const c of campuses) await setup.upsertCampus(c, NOW);
    const refs: CandidateRef[] = [];
    await drive(candidates, 64, async (i) => {
      const ref = { accountId: String(2_000_000 + i), provinceCode: PROVINCE, candidateId: String(i + 1) };
      const bound = await bind(setup, {
        ...ref,
        campusId: campuses[i % 20]!.campusId,
        snapshot: BENCH_SNAPSHOT,
        now: NOW,
      });
      if (!bound.ok) throw new Error(`bind ${i}: ${bound.code}`);
      refs[i] = ref;
    });
    const shard = await cluster.shardOf(setup.keys.province(PROVINCE).stream);

    const seq: LatencySummary[][] = [[], []];
    const conc: LatencySummary[][] = [[], []];
    const rates: number[][] = [[], []];
    const timeouts = [0, 0];
    let next = 0;
    for (let round = 0; round < rounds; round++) {
      for (const replicas of [0, 1]) {
        const engine = engines[replicas]!;
        const hold = async (histogram: ReturnType<typeof newHistogram>) => {
          const ref = refs[next++]!;
          const started = performance.now();
          const outcome = await engine
            .reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: NOW })
            .catch((error: unknown) => {
              if ((error as { code?: string }).code !== 'REPLICATION_TIMEOUT') throw error;
              timeouts[replicas]!++;
              return null;
            });
          histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
          if (outcome && !outcome.ok) throw new Error(`hold ${ref.candidateId}: ${outcome.code}`);
        };
        const one = newHistogram();
        await drive(sequential, 1, () => hold(one));
        seq[replicas]!.push(summarise(one));
        const many = newHistogram();
        rates[replicas]!.push(await drive(concurrent, inflight, () => hold(many)));
        conc[replicas]!.push(summarise(many));
      }
    }
    const modes: WaitModeFigures[] = [0, 1].map((replicas) => ({
      waitReplicas: replicas,
      sequential: medianSummary(seq[replicas]!),
      concurrent: { ...medianSummary(conc[replicas]!), holdsPerSec: Math.round(median(rates[replicas]!)) },
      replicationTimeouts: timeouts[replicas]!,
    }));
    return {
      method:
        `private Redis Cluster, 3 masters + 1 replica each (AOF appendfsync always), all on this host; ` +
        `province ${PROVINCE}'s shard (master ${shard.master.port}); ${rounds} rounds alternating WAIT 0 / WAIT 1, ` +
        `each: ${sequential} holds one at a time, then ${concurrent} with ${inflight} in flight; ` +
        `figures are medians over the rounds; engine client on its own cluster connection`,
      rounds,
      timeoutMs,
      modes,
      costMs: {
        sequentialP50: round2(modes[1]!.sequential.p50Ms - modes[0]!.sequential.p50Ms),
        sequentialP99: round2(modes[1]!.sequential.p99Ms - modes[0]!.sequential.p99Ms),
        concurrentP99: round2(modes[1]!.concurrent.p99Ms - modes[0]!.concurrent.p99Ms),
      },
      throughputRatio: round2(modes[1]!.concurrent.holdsPerSec / modes[0]!.concurrent.holdsPerSec),
    };
  } finally {
    for (const client of clients) client.disconnect();
    await cluster.stop();
  }
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

export type ReplicaWaitBenchResult = Awaited<ReturnType<typeof runReplicaWaitBench>>;

export function replicaWaitSummary(result: ReplicaWaitBenchResult): string {
  const rows = result.modes.map(
    (m) =>
      `  WAIT ${m.waitReplicas}: one at a time p50 ${m.sequential.p50Ms} ms, p99 ${m.sequential.p99Ms} ms; ` +
      `concurrent ${m.concurrent.holdsPerSec} holds/s, p50 ${m.concurrent.p50Ms} ms, p99 ${m.concurrent.p99Ms} ms` +
      (m.replicationTimeouts > 0 ? `; ${m.replicationTimeouts} REPLICATION_TIMEOUT` : ''),
  );
  return [
    `REDIS_WAIT_REPLICAS cost (${result.method})`,
    ...rows,
    `  WAIT 1 − WAIT 0: p50 +${result.costMs.sequentialP50} ms, p99 +${result.costMs.sequentialP99} ms one at a time; ` +
      `p99 +${result.costMs.concurrentP99} ms concurrent; throughput × ${result.throughputRatio}`,
  ].join('\n');
}
