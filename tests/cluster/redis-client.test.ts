/**
 * engine/redisClient.ts against real servers (issue 14 item 1): the same batch of single-key
 * commands over several shards answers the same, in order, on the run's single Redis and on a
 * private 3-master cluster (where one plain pipeline over those shards is refused by ioredis);
 * XINFO reaches the stream's master; SCAN and deletion reach every master.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  execKeyed,
  masterNodes,
  scanKeys,
  unlinkMatching,
  xinfoGroups,
  type KeyedCommand,
  type RedisClient,
} from '../../engine/redisClient.ts';
import { startPrivateCluster, type PrivateCluster } from '../support/cluster.ts';
import { redisUrl } from '../support/env.ts';

let stores: PrivateCluster;
let single: Redis;
const ns = `rc${randomBytes(4).toString('hex')}`;
/** One stream and one hash per shard, and a key with no hash tag. */
const TAGS = ['p11', 'p31', 'p44', 'a3'];
const streamOf = (tag: string): string => `${ns}:{${tag}}:ev`;
const hashOf = (tag: string): string => `${ns}:{${tag}}:h`;
const UNTAGGED = `${ns}:stats`;
const COUNTER = `${ns}:n`;

beforeAll(async () => {
  stores = await startPrivateCluster();
  single = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  for (const redis of [single, stores.client] as RedisClient[]) {
    for (const tag of TAGS) {
      await redis.xadd(streamOf(tag), '*', 't', tag);
      await redis.xgroup('CREATE', streamOf(tag), 'g', '0');
      await redis.hset(hashOf(tag), 'tag', tag);
    }
    await redis.set(UNTAGGED, 'x');
  }
}, 60_000);

afterAll(async () => {
  if (single) {
    await unlinkMatching(single, `${ns}:*`);
    single.disconnect();
  }
  await stores?.stop();
});

/** A batch over every shard: reads answered in the order they were asked, a write, TIME. */
function batch(): KeyedCommand[] {
  return [
    ...TAGS.flatMap((tag): KeyedCommand[] => [
      { key: streamOf(tag), add: (p) => p.xlen(streamOf(tag)) },
      { key: hashOf(tag), add: (p) => p.hget(hashOf(tag), 'tag') },
      { key: streamOf(tag), add: (p) => p.xinfo('GROUPS', streamOf(tag)) },
    ]),
    { key: COUNTER, add: (p) => p.incr(COUNTER) },
    { key: streamOf('p11'), add: (p) => p.time() },
  ];
}

describe('engine/redisClient.ts on a single node and on a 3-master cluster', () => {
  it('the shards of the batch live on every master of the cluster', async () => {
    const masters = new Set(
      await Promise.all(TAGS.map(async (tag) => (await stores.cluster.shardOf(streamOf(tag))).master.port)),
    );
    expect(masters.size).toBe(3);
    expect(masterNodes(stores.client)).toHaveLength(3);
    expect(masterNodes(single)).toEqual([single]);
  });

  it('one plain pipeline over several shards is refused on the cluster (why execKeyed exists)', async () => {
    const pipeline = stores.client.pipeline();
    for (const tag of TAGS) pipeline.xlen(streamOf(tag));
    await expect(pipeline.exec()).rejects.toThrow(/same slots allocation group|same slot/);
  });

  it('execKeyed answers the same batch the same way, in order, on both', async () => {
    const answers = await Promise.all([execKeyed(single, batch()), execKeyed(stores.client, batch())]);
    for (const answer of answers) {
      expect(answer.map(([error]) => error)).toEqual(answer.map(() => null));
      TAGS.forEach((tag, i) => {
        expect(answer[3 * i]![1]).toBe(1);
        expect(answer[3 * i + 1]![1]).toBe(tag);
        const groups = answer[3 * i + 2]![1] as unknown[][];
        expect(groups.map((group) => group[group.indexOf('name') + 1])).toEqual(['g']);
      });
      expect(answer[3 * TAGS.length]![1]).toBe(1);
      expect((answer[3 * TAGS.length + 1]![1] as string[]).length).toBe(2);
    }
  });

  it("xinfoGroups asks the stream's master; a missing stream is refused as XINFO refuses it", async () => {
    for (const redis of [single, stores.client] as RedisClient[]) {
      for (const tag of TAGS) {
        const [group] = (await xinfoGroups(redis, streamOf(tag))) as unknown[][];
        expect(group?.[group.indexOf('name') + 1]).toBe('g');
      }
      await expect(xinfoGroups(redis, streamOf('p99'))).rejects.toThrow(/no such key/i);
    }
  });

  it('scanKeys and unlinkMatching reach every master', async () => {
    const expected = [...TAGS.flatMap((tag) => [streamOf(tag), hashOf(tag)]), UNTAGGED, COUNTER].sort();
    expect((await scanKeys(single, `${ns}:*`)).sort()).toEqual(expected);
    expect((await scanKeys(stores.client, `${ns}:*`)).sort()).toEqual(expected);
    expect(await unlinkMatching(stores.client, `${ns}:*`)).toBe(expected.length);
    expect(await scanKeys(stores.client, `${ns}:*`)).toEqual([]);
  });
});
