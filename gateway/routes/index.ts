/**
 * Every route of the gateway, in one list (mounting order does not matter: uWS prefers static
 * segments over parameters over wildcards). Each module owns one area of API.md.
 */
import type { RouteDef } from '../http/route.ts';
import type { Services } from '../services.ts';
import { accountRoutes } from './accounts.ts';
import { adminRoutes } from './admin.ts';
import { dashboardRoutes, type DashboardDeps } from './dashboard.ts';
import { opsRoutes } from './ops.ts';
import { registrationRoutes } from './registration.ts';
import { reviewRoutes } from './review.ts';
import { paymentRoutes } from './payments.ts';
import { queueRoutes } from './queue.ts';

export interface RouteOptions {
  /** The whole process's metrics text (all app threads). */
  readonly metricsText?: () => Promise<string>;
  /** The seat dashboards' routes (the app thread's seat hub knows the provinces). */
  readonly dashboard?: DashboardDeps;
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
  routes.push(...adminRoutes(services));
  routes.push(...registrationRoutes(services), ...reviewRoutes(services));
  routes.push(...paymentRoutes(services));
  routes.push(...queueRoutes(services));
  routes.push(...dashboardRoutes(options.dashboard ?? { engine: services.engine }));
  return routes;
}
