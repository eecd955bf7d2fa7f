/**
 * A throw-away local Redis Cluster (masters only, no persistence) for the tests that prove the
 * Lua scripts run unchanged on a cluster (one hash tag per script). Each node is a private
 * redis-server on a free port whose bus port (port + 10000) is free too. Never used for data
 * that matters: nodes are killed, not shut down, and their directory is deleted.
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
const READY_TIMEOUT_MS = 20_000;
const REDIS_CLI_INSTALL_HINT =
  'Install it with `apt-get install redis-tools` (Debian/Ubuntu) or `brew install redis` (Homebrew).';

export interface RedisClusterOptions {
  /** Number of masters; redis-cli needs at least 3. Default 3. */
  masters?: number;
  /** Parent directory; the cluster gets a fresh sub-directory in it, removed on stop. */
  dir?: string;
}

export interface RedisCluster {
  nodes: { host: string; port: number }[];
  pids: number[];
  /** The cluster's own directory (node configs and logs). */
  dir: string;
  /** Kills every node and removes `dir` (idempotent). */
  stop(): Promise<void>;
}

async function startNode(dir: string): Promise<RedisServerHandle> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort({ alsoFreeAt: [CLUSTER_BUS_OFFSET] });
    try {
      return await startRedisServer({
        dir,
        port,
        // prettier-ignore
        extraArgs: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', '5000',
          '--appendonly', 'no',
          '--save', '',
        ],
      });
    } catch (err) {
      const portTaken = err instanceof Error && err.message.includes('Address already in use');
      if (attempt >= 3 || !portTaken) throw err;
    }
  }
}

async function waitForClusterOk(ports: number[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const infos = await Promise.all(
      ports.map((port) => redisCommand(port, ['CLUSTER', 'INFO'], 1_000).catch((err: Error) => err.message)),
    );
    if (infos.every((info) => info.includes('cluster_state:ok'))) return;
    if (Date.now() > deadline) {
      const states = ports.map(
        (port, i) => `${port}: ${/cluster_state:\w+/.exec(infos[i] ?? '')?.[0] ?? infos[i]}`,
      );
      throw new Error(`Redis Cluster not ok after ${READY_TIMEOUT_MS} ms (${states.join(', ')})`);
    }
    await sleep(50);
  }
}

export async function startRedisCluster(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = opts.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 3) {
    throw new Error(`a Redis Cluster needs at least 3 masters (got ${masters})`);
  }
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

  try {
    const nodes = await Promise.allSettled(Array.from({ length: masters }, () => startNode(dir)));
    for (const node of nodes) if (node.status === 'fulfilled') started.push(node.value);
    const failed = nodes.find((node) => node.status === 'rejected');
    if (failed) throw failed.reason;

    const addresses = started.map((node) => `127.0.0.1:${node.port}`);
    await promisify(execFile)(
      redisCli,
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 30_000 },
    ).catch((err: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(
        `redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`,
      );
    });
    await waitForClusterOk(started.map((node) => node.port));
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    nodes: started.map((node) => ({ host: '127.0.0.1', port: node.port })),
    pids: started.map((node) => node.pid),
    dir,
    stop,
  };
}
