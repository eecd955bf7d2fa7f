/**
 * Operations routes (API.md "Operations"): liveness, readiness (Redis and PostgreSQL reachable,
 * scripts loaded), Prometheus metrics, and the OpenAPI document generated from the very schemas
 * the routes validate with.
 */
import { route, ok, type RouteDef } from '../http/route.ts';
import { openApiDocument } from '../http/openapi.ts';
import type { Services } from '../services.ts';
import { loadScripts } from '../../engine/scripts.ts';

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
  await Promise.all([
    services.redis
      .ping()
      .then(() => (checks.redis = 'ok'))
      .catch((error: Error) => (checks.redis = error.message)),
    services.db
      .query('select 1')
      .then(() => (checks.postgres = 'ok'))
      .catch((error: Error) => (checks.postgres = error.message)),
    (async () => {
      const shas = [...loadScripts().values()].map((script) => script.sha1);
      const loaded = (await services.redis.script('EXISTS', ...shas)) as number[];
      if (loaded.every((flag) => flag === 1)) checks.scripts = 'ok';
      else {
        // first start: load them now, so that the first surge does not pay EVAL + compile
        await Promise.all(
          [...loadScripts().values()].map((script) => services.redis.script('LOAD', script.lua)),
        );
        checks.scripts = 'ok';
      }
    })().catch((error: Error) => (checks.scripts = error.message)),
  ]);
  return { ready: Object.values(checks).every((value) => value === 'ok'), checks };
}

export function opsRoutes(services: Services, options: OpsOptions): RouteDef[] {
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
      summary: 'Redis and PostgreSQL reachable, scripts loaded',
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
