/**
 * Issue 14 item 3, P9: what REDIS_WAIT_REPLICAS buys, shown where it matters. On loopback a
 * replica is a fraction of a millisecond behind its master, and even a replica that is merely
 * paused gets, once resumed, everything the kernel had buffered for it, so a kill -9 during a surge
 * rarely catches an acknowledged write that the replica lacks (`npm run demo:cluster` lost none
 * with WAIT 0 either). Here the replica loses its link for sure: it is stopped (SIGSTOP), the
 * master's buffer for it overflows (a 16 MB write past a 1 MB limit), so the master drops it; holds
 * are made; the master is killed (kill -9) and the replica, resumed, is promoted with what it had.
 *  - WAIT 0: every hold made meanwhile was acknowledged, and every one is lost with the master;
 *  - WAIT 1: none of them was acknowledged (each answered REPLICATION_TIMEOUT), so none is lost.
 * Either way the promoted data passes I1–I4.
 */
import type { Cluster } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { redisCommand, type RedisClusterNode } from '../../devstack/index.ts';
import { Engine } from '../../engine/engine.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { ReplicationTimeoutError } from '../../engine/replicaWait.ts';
import { campus, loadFixture, T0 } from '../support/engine.ts';
import { startPrivateCluster, type PrivateCluster } from '../support/cluster.ts';
import { waitFor } from '../support/wait.ts';
import { bindN } from '../persistence/support.ts';

const HOLDS = 15;
const PROVINCE = '11';
const C1 = campus({ campusId: 'LR1', schoolId: 'SLR1', capacity: { CET4: HOLDS } });

let stores: PrivateCluster | undefined;
let writes: Cluster | undefined;

afterEach(async () => {
  writes?.disconnect();
  await stores?.stop();
});

function pidOf(cluster: PrivateCluster, node: RedisClusterNode): number {
  const index = cluster.cluster.nodes.findIndex((candidate) => candidate.port === node.port);
  const pid = cluster.cluster.pids[index];
  if (pid === undefined) throw new Error(`no node on port ${node.port}`);
  return pid;
}

describe.each([
  { waitReplicas: 0, acknowledgedDuringLag: HOLDS },
  { waitReplicas: 1, acknowledgedDuringLag: 0 },
])(
  'REDIS_WAIT_REPLICAS=$waitReplicas, a lagging replica promoted',
  ({ waitReplicas, acknowledgedDuringLag }) => {
    it(`acknowledges ${acknowledgedDuringLag} of ${HOLDS} holds and loses exactly those`, async () => {
      stores = await startPrivateCluster({ replicasPerMaster: 1, persistent: true, nodeTimeoutMs: 1_000 });
      const reader = new Engine(stores.client, { namespace: 'lr' });
      await loadFixture(reader, { campuses: [C1] });
      const refs: Awaited<ReturnType<typeof bindN>>[] = [];
      for (let n = 0; n < HOLDS; n++) refs.push(await bindN(reader, 'lr', n, C1.campusId, T0));
      writes = stores.openClient();
      const engine = new Engine(writes, {
        namespace: 'lr',
        replicaWait: { replicas: waitReplicas, timeoutMs: 200 },
      });

      const shard = await stores.cluster.shardOf(reader.keys.province(PROVINCE).stream);
      const [replica] = shard.replicas;
      if (!replica) throw new Error('the shard has no replica');
      const replicaPid = pidOf(stores, replica);

      process.kill(replicaPid, 'SIGSTOP');
      const acknowledged: string[] = [];
      let timeouts = 0;
      try {
        const masterPort = shard.master.port;
        await redisCommand(masterPort, ['CONFIG', 'SET', 'client-output-buffer-limit', 'replica 1mb 0 0']);
        // past the kernel's socket buffers and the 1 MB limit: the master drops its replica
        await stores.client.set(`${reader.keys.province(PROVINCE).stream}:filler`, Buffer.alloc(16 << 20));
        await waitFor(
          async () =>
            (await redisCommand(masterPort, ['INFO', 'replication'])).includes('connected_slaves:0'),
          { timeoutMs: 10_000, intervalMs: 50, message: 'the master to drop its replica' },
        );
        for (const ref of refs) {
          const held = await engine
            .reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 + 1 })
            .catch((error: unknown) => {
              if (!(error instanceof ReplicationTimeoutError)) throw error;
              timeouts++;
              return null;
            });
          if (held?.ok) acknowledged.push(ref.candidateId);
          else if (held) throw new Error(`${ref.candidateId}: ${held.code}`);
        }
        await stores.cluster.kill(shard.master); // kill -9: what the replica has not got is gone
      } finally {
        process.kill(replicaPid, 'SIGCONT');
      }
      expect([acknowledged.length, timeouts]).toEqual([acknowledgedDuringLag, HOLDS - acknowledgedDuringLag]);

      await waitFor(
        async () =>
          (await stores?.cluster.shardOf(reader.keys.province(PROVINCE).stream).catch(() => null))?.master
            .port === replica.port,
        { timeoutMs: 20_000, intervalMs: 100, message: "the lagging replica's promotion" },
      );
      const held: string[] = [];
      for (const { candidateId } of refs) {
        const view = await reader.registration(PROVINCE, candidateId);
        if (view?.written.some((item) => item.subject === 'CET4')) held.push(candidateId);
      }
      const lost = acknowledged.filter((candidateId) => !held.includes(candidateId));
      expect(lost).toHaveLength(acknowledgedDuringLag);
      const invariants = await checkInvariants(reader, [PROVINCE]);
      expect(invariants.violations).toEqual([]);
    }, 60_000);
  },
);
