/**
 * The private development stack (for `npm run stack`, the tests, the benchmarks and the load
 * tests; never production): redis-server and PostgreSQL on free ports of 127.0.0.1, a throw-away
 * Redis Cluster, and the process helpers they share. Nothing here touches the system Redis (6379)
 * or PostgreSQL (5432).
 */
export { findBinary, REDIS_INSTALL_HINT } from './binaries.ts';
export {
  startRedisCluster,
  type RedisCluster,
  type RedisClusterMaster,
  type RedisClusterNode,
  type RedisClusterOptions,
  type RedisClusterShard,
} from './cluster.ts';
export { freePort } from './ports.ts';
export type { PostgresServerHandle } from './postgres.ts';
export { cleanUpOnExit, isAlive, waitGone, type ExitCleanup } from './processes.ts';
export { startRedisServer, type RedisServerHandle, type RedisServerOptions } from './redisServer.ts';
export { redisCommand } from './resp.ts';
export { startStack, type Stack, type StackOptions } from './stack.ts';
