/**
 * The Redis factory's pure parts (issue 14): REDIS_CLUSTER_NODES parsed or refused, a cluster
 * target opened as an ioredis Cluster that never auto-pipelines (redis/ioredis#2109), a single
 * node as Redis, and the hash tags that decide which commands may share a cluster pipeline.
 * (What they do against a real cluster: tests/cluster/.)
 */
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  clusterNodesOf,
  describeRedisTarget,
  hashTagOf,
  hasRedisTarget,
  isCluster,
  isClusterTarget,
  openRedis,
} from './redisClient.ts';

describe('REDIS_CLUSTER_NODES', () => {
  it('parses host:port seed nodes, IPv6 in brackets included', () => {
    expect(clusterNodesOf('')).toEqual([]);
    expect(clusterNodesOf('10.0.0.1:7000, redis-b:7001,[::1]:7002')).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
  });

  it('refuses an entry that is not host:port', () => {
    for (const bad of ['redis-a', ':7000', 'redis-a:0', 'redis-a:70000', 'redis-a:x', 'a:7000,,b:7001']) {
      expect(() => clusterNodesOf(bad), bad).toThrow(/REDIS_CLUSTER_NODES/);
    }
  });

  it('decides the target: cluster nodes win over REDIS_URL; neither means none', () => {
    expect(isClusterTarget({ redisUrl: 'redis://a:6379', redisClusterNodes: 'b:7000' })).toBe(true);
    expect(isClusterTarget({ redisUrl: 'redis://a:6379', redisClusterNodes: '' })).toBe(false);
    expect(hasRedisTarget({ redisUrl: '', redisClusterNodes: '' })).toBe(false);
    expect(hasRedisTarget({ redisUrl: '', redisClusterNodes: 'b:7000' })).toBe(true);
    expect(describeRedisTarget({ redisUrl: 'redis://:secret@a:6379', redisClusterNodes: '' })).not.toContain(
      'secret',
    );
  });
});

describe('openRedis', () => {
  it('opens a Cluster for cluster nodes, auto-pipelining off whatever is asked (ioredis#2109)', () => {
    const client = openRedis(
      { redisUrl: 'redis://ignored:6379', redisClusterNodes: '127.0.0.1:1,127.0.0.1:2' },
      { enableAutoPipelining: true, lazyConnect: true, maxRetriesPerRequest: 1 },
    );
    try {
      expect(client).toBeInstanceOf(Cluster);
      expect(isCluster(client)).toBe(true);
      expect((client as Cluster).options.enableAutoPipelining).toBe(false);
      expect((client as Cluster).options.redisOptions?.maxRetriesPerRequest).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  it('opens a single node on REDIS_URL otherwise, with the options asked for', () => {
    const client = openRedis(
      { redisUrl: 'redis://127.0.0.1:1', redisClusterNodes: '' },
      { enableAutoPipelining: true, lazyConnect: true },
    );
    try {
      expect(client).toBeInstanceOf(Redis);
      expect(isCluster(client)).toBe(false);
      expect((client as Redis).options.enableAutoPipelining).toBe(true);
    } finally {
      client.disconnect();
    }
  });
});

describe('hashTagOf (which keys share a slot)', () => {
  it('is the first non-empty {…}, else the whole key', () => {
    expect(hashTagOf('cet:{p11}:ev')).toBe('p11');
    expect(hashTagOf('cet:auth:session:{acct:42}:ab')).toBe('acct:42');
    expect(hashTagOf('cet:writer:stats')).toBe('cet:writer:stats');
    expect(hashTagOf('a{}{b}')).toBe('a{}{b}');
    expect(hashTagOf('a{b}{c}')).toBe('b');
    expect(hashTagOf('a{b')).toBe('a{b');
  });
});
