/**
 * Operations routes (API.md "Operations"): liveness, readiness (Redis and PostgreSQL reachable,
 * scripts loaded, Redis not nearly full), Prometheus metrics, and the OpenAPI document generated
 * from the very schemas the routes validate with.
 *
 * Redis runs with `noeviction` (engine/redisDurability.ts): full, it refuses every write. So
 * readiness fails from DEFAULTS.redisMemoryAlarmRatio of its maxmemory (issue 16 item 2), while
 * writes still work, and /metrics shows the ratio (`redis_memory_used_ratio`) for an alert.
 * On a Redis Cluster (issue 14) every master is asked: each answers PING, has the scripts loaded
 * (SCRIPT is per node) and is below the alarm; the gauge shows the fullest master, and the
 * `redis_node_*` gauges show every node, replicas included (memory, commands, replication links).
 */
import { DEFAULTS } from '../../config/defaults.ts';
import { route, ok, type RouteDef } from '../http/route.ts';
import { openApiDocument } from '../http/openapi.ts';
import type { Services } from '../services.ts';
import { loadScripts } from '../../engine/scripts.ts';
import { readMemoryUseOfMasters, readNodeStats } from '../../engine/redisDurability.ts';
import { masterNodes } from '../../engine/redisClient.ts';

/** A metrics collection does not wait longer than this for Redis's memory reading (the last value stays). */
const MEMORY_READ_WAIT_MS = 1_000;

/** The `redisMemory` check: ok below the alarm, else how full Redis is. */
function memoryCheck(ratio: number): string {
  const alarm = DEFAULTS.redisMemoryAlarmRatio;
  if (ratio < alarm) return 'ok';
  return `used ${Math.floor(ratio * 100)} % of maxmemory (alarm at ${Math.round(alarm * 100)} %)`;
}

/**
 * Redis's memory use into the gauge, and each node's INFO into the per-node gauges, within
 * MEMORY_READ_WAIT_MS; never rejects.
 */
async function gaugeRedisMemory(services: Services): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), MEMORY_READ_WAIT_MS);
  });
  const reading = Promise.all([readMemoryUseOfMasters(services.redis), readNodeStats(services.redis)]);
  try {
    const read = await Promise.race([reading, late]);
    if (read === null) return;
    services.metrics.redisMemoryUsedRatio.set(read[0]);
    services.metrics.setRedisNodes(read[1]);
  } catch {
    // Redis unreachable: /readyz says so; the gauges keep their last reading
  } finally {
    clearTimeout(timer);
  }
}

export interface OpsOptions {
  /** All routes of the app (for /openapi.json). */
  readonly routes: () => readonly RouteDef[];
  /** The whole process's metrics (all threads); defaults to this thread's registry. */
  readonly metricsText?: () => Promise<string>;
}

export async function readiness(
  services: Services,
): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const checks: Record<string, string> = {};
  // one node, or every master of a Redis Cluster (none known yet: not ready)
  const masters = masterNodes(services.redis);
  const everyMaster = async <T>(ask: (node: (typeof masters)[number]) => Promise<T>): Promise<T[]> => {
    if (masters.length === 0) throw new Error('no Redis Cluster master is known yet');
    return Promise.all(masters.map(ask));
  };
  await Promise.all([
    everyMaster((node) => node.ping())
      .then(() => (checks.redis = 'ok'))
      .catch((error: Error) => (checks.redis = error.message)),
    services.db
      .query('select 1')
      .then(() => (checks.postgres = 'ok'))
      .catch((error: Error) => (checks.postgres = error.message)),
    everyMaster(async (node) => {
      const shas = [...loadScripts().values()].map((script) => script.sha1);
      const loaded = (await node.script('EXISTS', ...shas)) as number[];
      if (loaded.every((flag) => flag === 1)) return;
      // first start: load them now, so that the first surge does not pay EVAL + compile
      await Promise.all([...loadScripts().values()].map((script) => node.script('LOAD', script.lua)));
    })
      .then(() => (checks.scripts = 'ok'))
      .catch((error: Error) => (checks.scripts = error.message)),
    readMemoryUseOfMasters(services.redis)
      .then((ratio) => {
        services.metrics.redisMemoryUsedRatio.set(ratio);
        checks.redisMemory = memoryCheck(ratio);
      })
      .catch((error: Error) => (checks.redisMemory = error.message)),
  ]);
  return { ready: Object.values(checks).every((value) => value === 'ok'), checks };
}

export function opsRoutes(services: Services, options: OpsOptions): RouteDef[] {
  // every collection of this thread's registry (each /metrics) reads the gauges afresh, once for all
  let reading: Promise<void> | undefined;
  services.metrics.readRedisMemory = () =>
    (reading ??= gaugeRedisMemory(services).finally(() => (reading = undefined)));
  return [
    route({
      method: 'GET',
      path: '/healthz',
      summary: 'Process is up',
      tags: ['operations'],
      auth: 'none',
      priority: 'critical',
      responses: { 200: 'up' },
      handler: async () => ok({ status: 'ok' }),
    }),
    route({
      method: 'GET',
      path: '/readyz',
      summary: 'Redis and PostgreSQL reachable, scripts loaded, Redis below 90 % of its maxmemory',
      tags: ['operations'],
      auth: 'none',
      priority: 'critical',
      responses: { 200: 'ready', 503: 'not ready (checks say why)' },
      handler: async () => {
        const { ready, checks } = await readiness(services);
        return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not ready', checks } };
      },
    }),
    route({
      method: 'GET',
      path: '/metrics',
      summary: 'Prometheus metrics',
      tags: ['operations'],
      auth: 'none',
      priority: 'background',
      responses: { 200: 'Prometheus text format' },
      handler: async () => ({
        status: 200,
        text: options.metricsText ? await options.metricsText() : await services.metrics.registry.metrics(),
        contentType: services.metrics.registry.contentType,
      }),
    }),
    route({
      method: 'GET',
      path: '/openapi.json',
      summary: 'This API, as OpenAPI 3.1, generated from the routes and their schemas',
      tags: ['operations'],
      auth: 'none',
      priority: 'background',
      responses: { 200: 'OpenAPI document' },
      handler: async () => ok(openApiDocument(options.routes())),
    }),
  ];
}
