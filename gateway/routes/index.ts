/**
 * Every route of the gateway, in one list (mounting order does not matter: uWS prefers static
 * segments over parameters over wildcards). Each module owns one area of API.md.
 */
import type { RouteDef } from '../http/route.ts';
import type { Services } from '../services.ts';
import { accountRoutes } from './accounts.ts';
import { opsRoutes } from './ops.ts';

export interface RouteOptions {
  /** The whole process's metrics text (all app threads). */
  readonly metricsText?: () => Promise<string>;
}

export function allRoutes(services: Services, options: RouteOptions = {}): RouteDef[] {
  const routes: RouteDef[] = [];
  routes.push(
    ...opsRoutes(services, {
      routes: () => routes,
      ...(options.metricsText ? { metricsText: options.metricsText } : {}),
    }),
  );
  routes.push(...accountRoutes(services));
  return routes;
}
