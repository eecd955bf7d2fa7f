/**
 * The local Redis Cluster helper (devstack/cluster.ts): three masters own all 16384 slots,
 * an ioredis Cluster client routes keys of different hash tags, and stop() leaves nothing behind.
 */
import { existsSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisCluster } from '../devstack/index.ts';
import { isAlive } from '../devstack/index.ts';

const SLOT_COUNT = 16_384;
type SlotRange = [number, number, [string, number, ...unknown[]], ...unknown[]];

describe('startRedisCluster', () => {
  let cluster: RedisCluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('starts 3 masters that together own all 16384 slots exactly once', async () => {
    expect(cluster.nodes).toHaveLength(3);
    const first = cluster.nodes[0];
    if (!first) throw new Error('no nodes');
    const node = new Redis(first.port, first.host);
    try {
      const ranges = (await node.call('CLUSTER', 'SLOTS')) as SlotRange[];
      const owners = new Set(ranges.map(([, , [, port]]) => port));
      expect([...owners].sort()).toEqual(cluster.nodes.map((n) => n.port).sort());
      const owned = new Array<number>(SLOT_COUNT).fill(0);
      for (const [start, end] of ranges)
        for (let slot = start; slot <= end; slot++) owned[slot] = (owned[slot] ?? 0) + 1;
      expect(owned.every((count) => count === 1)).toBe(true);
    } finally {
      node.disconnect();
    }
  });

  it('lets an ioredis Cluster client write and read keys under different hash tags', async () => {
    const client = new Cluster(cluster.nodes);
    try {
      const tags = Array.from({ length: 30 }, (_, i) => `{province-${i}}`);
      await Promise.all(tags.map((tag) => client.mset(`${tag}:a`, `${tag}-a`, `${tag}:b`, `${tag}-b`)));
      for (const tag of tags)
        expect(await client.mget(`${tag}:a`, `${tag}:b`)).toEqual([`${tag}-a`, `${tag}-b`]);

      // The tags really are spread: every master holds some of the keys.
      const sizes = await Promise.all(client.nodes('master').map((master) => master.dbsize()));
      expect(sizes).toHaveLength(3);
      for (const size of sizes) expect(size).toBeGreaterThan(0);
      expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(tags.length * 2);

      // Keys of different tags in one command are refused, as they would be in production.
      await expect(client.mget('{province-0}:a', '{province-1}:a')).rejects.toThrow(/CROSSSLOT/);
    } finally {
      client.disconnect();
    }
  });

  it('stop() kills every node and removes the cluster directory', async () => {
    const { pids, dir } = cluster;
    expect(pids.every(isAlive)).toBe(true);
    await cluster.stop();
    await cluster.stop();
    expect(pids.some(isAlive)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
