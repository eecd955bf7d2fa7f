/**
 * A throw-away local Redis Cluster for the tests that prove the Lua scripts run unchanged on a
 * cluster (one hash tag per script): masters only and no persistence by default; with replicas,
 * durable nodes and a short node timeout for the failover tests and `npm run stack -- --cluster`
 * (issue 14 item 3, P9: 3 masters + 3 replicas). Each node is a private redis-server in a directory
 * of its own, on a free port whose bus port (port + 10000) is free too. Never used for data that
 * matters: nodes are killed, not shut down, and the cluster's directory is deleted.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { findBinary } from './binaries.ts';
import { freePort } from './ports.ts';
import { cleanUpOnExit } from './processes.ts';
import { startRedisServer, type RedisServerHandle } from './redisServer.ts';
import { redisCommand } from './resp.ts';

const CLUSTER_BUS_OFFSET = 10_000;
/** Hash slots of a Redis Cluster. */
const SLOTS = 16_384;
// replicas sync after the slots are assigned: on a busy 2-core box that can take a while
const READY_TIMEOUT_MS = 30_000;
const REDIS_CLI_INSTALL_HINT =
  'Install it with `apt-get install redis-tools` (Debian/Ubuntu) or `brew install redis` (Homebrew).';

export interface RedisClusterOptions {
  /** Number of masters; redis-cli needs at least 3. Default 3. */
  masters?: number;
  /** Replicas of each master (`--cluster-replicas`). Default 0: masters only. */
  replicasPerMaster?: number;
  /**
   * Durable nodes, as the product expects of its Redis (ARCHITECTURE.md "Durability": AOF with
   * `appendfsync always`, `noeviction`): for a cluster whose nodes are killed and restarted, where
   * what a replica acknowledged must survive. Default false: no AOF, the fast start of the tests
   * that only route keys.
   */
  persistent?: boolean;
  /**
   * `cluster-node-timeout`: how long a master may be silent before its replica takes over (the
   * failover also waits for the other masters' votes, about another second). Default 5000.
   */
  nodeTimeoutMs?: number;
  /** Parent directory; the cluster gets a fresh sub-directory in it, removed on stop. */
  dir?: string;
}

export interface RedisClusterNode {
  readonly host: string;
  readonly port: number;
}

/** Who serves a slot now, as the cluster itself says. */
export interface RedisClusterShard {
  readonly slot: number;
  readonly master: RedisClusterNode;
  /** Its replicas, linked or not. */
  readonly replicas: RedisClusterNode[];
}

/** A master of the cluster as `masters()` lists it. */
export interface RedisClusterMaster {
  readonly node: RedisClusterNode;
  readonly pid: number;
  /** Its slot ranges, `from-to[,from-to…]`. */
  readonly slots: string;
}

export interface RedisCluster {
  /** Every node, masters and replicas (all of them serve as seed nodes). */
  readonly nodes: RedisClusterNode[];
  /** The nodes' current process ids (a restarted node has a new one). */
  readonly pids: number[];
  /** The cluster's own directory (node configs, AOFs and logs). */
  readonly dir: string;
  /** The master of `key`'s slot and its replicas, from CLUSTER NODES of a node that answers. */
  shardOf(key: string): Promise<RedisClusterShard>;
  /** The masters, in the order of their first slot (so "master i" holds the same slots in any run). */
  masters(): Promise<RedisClusterMaster[]>;
  /** Signals one node (default SIGKILL: kill -9) and resolves once it has exited. */
  kill(node: RedisClusterNode, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts a killed node again on its port and directory: it reloads its AOF (when persistent) and
   * its node config, and rejoins; a master that was replaced comes back as the new master's replica.
   */
  restart(node: RedisClusterNode): Promise<void>;
  /** Resolves once every node says the cluster is ok and every replica's link to its master is up. */
  waitReady(): Promise<void>;
  /** Kills every node and removes `dir` (idempotent). */
  stop(): Promise<void>;
}

async function startNode(
  clusterDir: string,
  options: Required<Pick<RedisClusterOptions, 'persistent' | 'nodeTimeoutMs'>>,
): Promise<RedisServerHandle> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort({ alsoFreeAt: [CLUSTER_BUS_OFFSET] });
    try {
      return await startRedisServer({
        // a directory per node: nodes sharing one would share one AOF directory
        dir: path.join(clusterDir, `node-${port}`),
        port,
        // prettier-ignore
        extraArgs: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', String(options.nodeTimeoutMs),
          // a lone master never learns its address from a peer: CLUSTER SLOTS would name host ''
          '--cluster-announce-ip', '127.0.0.1',
          // durable: startRedisServer's own flags (AOF, appendfsync always, noeviction) stand
          ...(options.persistent ? [] : ['--appendonly', 'no', '--save', '']),
        ],
      });
    } catch (err) {
      const portTaken = err instanceof Error && err.message.includes('Address already in use');
      if (attempt >= 3 || !portTaken) throw err;
    }
  }
}

/** One node's view: the cluster's state, and for a replica its link to its master. */
async function nodeState(
  port: number,
): Promise<{ ok: boolean; link: 'master' | 'up' | 'down'; said: string }> {
  try {
    const [info, replication] = await Promise.all([
      redisCommand(port, ['CLUSTER', 'INFO'], 1_000),
      redisCommand(port, ['INFO', 'replication'], 1_000),
    ]);
    const state = /cluster_state:\w+/.exec(info)?.[0] ?? info;
    if (!replication.includes('role:slave'))
      return { ok: state === 'cluster_state:ok', link: 'master', said: state };
    const link = replication.includes('master_link_status:up') ? 'up' : 'down';
    return { ok: state === 'cluster_state:ok', link, said: `${state}, replica link ${link}` };
  } catch (err) {
    return { ok: false, link: 'down', said: (err as Error).message };
  }
}

/** Until every node says ok and `replicas` replicas have their link to their master up. */
async function waitForCluster(ports: number[], replicas: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const states = await Promise.all(ports.map(nodeState));
    const linked = states.filter((state) => state.link === 'up').length;
    if (states.every((state) => state.ok && state.link !== 'down') && linked === replicas) return;
    if (Date.now() > deadline) {
      const said = ports.map((port, i) => `${port}: ${states[i]?.said}`);
      throw new Error(
        `Redis Cluster not ok with ${replicas} linked replica(s) after ${READY_TIMEOUT_MS} ms (${said.join(', ')})`,
      );
    }
    await sleep(50);
  }
}

/** CLUSTER NODES' line of one node: `<id> <ip:port@bus> <flags> <master id|-> … <slots…>`. */
interface NodeLine {
  readonly id: string;
  readonly node: RedisClusterNode;
  readonly flags: string[];
  readonly masterId: string;
  /** Its slot ranges (importing / migrating markers left out). */
  readonly slots: [number, number][];
}

function parseClusterNodes(text: string): NodeLine[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id = '', address = '', flags = '', masterId = '', , , , , ...slots] = line.trim().split(' ');
      const hostPort = address.split('@')[0] ?? '';
      const colon = hostPort.lastIndexOf(':');
      return {
        id,
        node: { host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) },
        flags: flags.split(','),
        masterId,
        slots: slots
          .filter((range) => !range.startsWith('['))
          .map((range): [number, number] => {
            const [from, to = from] = range.split('-');
            return [Number(from), Number(to)];
          }),
      };
    });
}

/**
 * `redis-cli --cluster create` wants 3 masters at least: 1 or 2 (a benchmark's smaller clusters,
 * `npm run bench:shards`) get equal slot ranges with CLUSTER ADDSLOTSRANGE and meet each other.
 */
async function assignSlotsByHand(ports: readonly number[]): Promise<void> {
  const perNode = Math.ceil(SLOTS / ports.length);
  await Promise.all(
    ports.map((port, i) =>
      redisCommand(port, [
        'CLUSTER',
        'ADDSLOTSRANGE',
        String(i * perNode),
        String(Math.min(SLOTS, (i + 1) * perNode) - 1),
      ]),
    ),
  );
  for (const port of ports.slice(1)) {
    await redisCommand(ports[0]!, ['CLUSTER', 'MEET', '127.0.0.1', String(port)]);
  }
}

export async function startRedisCluster(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = opts.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 1) {
    throw new Error(`a Redis Cluster needs at least 1 master (got ${masters})`);
  }
  const replicasPerMaster = opts.replicasPerMaster ?? 0;
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new Error(`replicasPerMaster must be a whole number ≥ 0 (got ${replicasPerMaster})`);
  }
  if (masters < 3 && replicasPerMaster > 0) {
    throw new Error(`replicas need a cluster of at least 3 masters (got ${masters})`);
  }
  const nodeOptions = { persistent: opts.persistent ?? false, nodeTimeoutMs: opts.nodeTimeoutMs ?? 5_000 };
  const redisCli = findBinary('redis-cli', REDIS_CLI_INSTALL_HINT);
  const parent = opts.dir ?? os.tmpdir();
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(path.join(parent, 'cet-redis-cluster-'));

  const started: RedisServerHandle[] = [];
  let stopping: Promise<void> | undefined;
  // Registered before the nodes, so on exit the nodes (registered later) are killed first.
  const unregister = cleanUpOnExit({
    now: () => rmSync(dir, { recursive: true, force: true }),
    graceful: () => stop(),
  });
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all(started.map((node) => node.kill('SIGKILL').then(() => node.stop())));
      await rm(dir, { recursive: true, force: true });
      unregister();
    })());

  const ready = (): Promise<void> =>
    waitForCluster(
      started.map((node) => node.port),
      masters * replicasPerMaster,
    );
  try {
    const nodes = await Promise.allSettled(
      Array.from({ length: masters * (1 + replicasPerMaster) }, () => startNode(dir, nodeOptions)),
    );
    for (const node of nodes) if (node.status === 'fulfilled') started.push(node.value);
    const failed = nodes.find((node) => node.status === 'rejected');
    if (failed) throw failed.reason;

    const addresses = started.map((node) => `127.0.0.1:${node.port}`);
    if (masters < 3) await assignSlotsByHand(started.map((node) => node.port));
    else
      await promisify(execFile)(
        redisCli,
        [
          '--cluster',
          'create',
          ...addresses,
          '--cluster-replicas',
          String(replicasPerMaster),
          '--cluster-yes',
        ],
        { timeout: 30_000 },
      ).catch((err: Error & { stdout?: string; stderr?: string }) => {
        throw new Error(
          `redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`,
        );
      });
    await ready();
  } catch (err) {
    await stop();
    throw err;
  }

  const serverOf = (node: RedisClusterNode): RedisServerHandle => {
    const server = started.find((candidate) => candidate.port === node.port);
    if (!server) throw new Error(`no node of this cluster listens on port ${node.port}`);
    return server;
  };
  return {
    nodes: started.map((node) => ({ host: '127.0.0.1', port: node.port })),
    get pids() {
      return started.map((node) => node.pid);
    },
    dir,
    async shardOf(key) {
      // any node that answers (the one asked about may be the killed one)
      let lastError: unknown;
      for (const server of started) {
        try {
          const slot = Number(await redisCommand(server.port, ['CLUSTER', 'KEYSLOT', key], 1_000));
          const lines = parseClusterNodes(await redisCommand(server.port, ['CLUSTER', 'NODES'], 1_000));
          const master = lines.find(
            (line) =>
              line.flags.includes('master') && line.slots.some(([from, to]) => slot >= from && slot <= to),
          );
          if (!master) throw new Error(`no master serves slot ${slot} (asked port ${server.port})`);
          const replicas = lines.filter(
            (line) => line.flags.includes('slave') && line.masterId === master.id,
          );
          return { slot, master: master.node, replicas: replicas.map((line) => line.node) };
        } catch (err) {
          lastError = err;
        }
      }
      throw lastError instanceof Error ? lastError : new Error('no node of the cluster answered');
    },
    async masters() {
      const lines = parseClusterNodes(await redisCommand(started[0]!.port, ['CLUSTER', 'NODES'], 2_000));
      return lines
        .filter((line) => line.flags.includes('master') && line.slots.length > 0)
        .sort((a, b) => a.slots[0]![0] - b.slots[0]![0])
        .map((line) => ({
          node: line.node,
          pid: serverOf(line.node).pid,
          slots: line.slots.map(([from, to]) => `${from}-${to}`).join(','),
        }));
    },
    kill: (node, signal = 'SIGKILL') => serverOf(node).kill(signal),
    restart: (node) => serverOf(node).restart(),
    waitReady: ready,
    stop,
  };
}
