/**
 * Redis keys in tests: listing a pattern's keys and removing a test namespace, with SCAN (never
 * KEYS, which would block the Redis every test file shares).
 */
import type { Redis } from 'ioredis';

/** Every key matching `pattern`. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...page);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Removes every key of a test's namespace (`<namespace>:*`). */
export async function removeNamespace(redis: Redis, namespace: string): Promise<void> {
  const keys = await scanKeys(redis, `${namespace}:*`);
  for (let i = 0; i < keys.length; i += 1000) await redis.unlink(...keys.slice(i, i + 1000));
}
