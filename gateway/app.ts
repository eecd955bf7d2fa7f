/**
 * One gateway app (one uWS App on one thread): every route of gateway/routes, the seat dashboards'
 * WebSockets (with this thread's seat hub), and the 404 catch-all, over the thread's Services. `shutdown` is graceful: stop
 * accepting, let in-flight requests finish (bounded wait), close WebSockets.
 */
import type { us_listen_socket } from 'uWebSockets.js';
import { hostname } from 'node:os';
import { freePort } from '../devstack/ports.ts';
import { threadId } from 'node:worker_threads';
import { Admission } from './admission/admission.ts';
import { LoadReporter } from './admission/report.ts';
import { trustProxies, TrustedProxies } from './http/clientAddress.ts';
import { FailureWindow } from './http/failureWindow.ts';
import { mountNotFound, mountRoutes } from './http/mount.ts';
import { IdempotencyStore } from './http/idempotency.ts';
import { RateLimiter, type RateLimitRule } from './http/rateLimit.ts';
import { loadNativeUws } from './http/uws.ts';
import { allRoutes, type RouteOptions } from './routes/index.ts';
import type { Services } from './services.ts';
import { SeatHub } from './ws/seatHub.ts';
import { QueueWatch } from './ws/queueWatch.ts';
import { registerSeatSockets } from './ws/seats.ts';

export interface GatewayApp {
  listen(host: string, port: number): Promise<number>;
  shutdown(graceMs?: number): Promise<void>;
}

/** Session tokens refused per client address and minute (per app thread) before PostgreSQL is spared. */
const UNKNOWN_TOKENS_PER_MINUTE = 60;

/** Ports tried by a gateway asked for port 0 before it gives up. */
const LISTEN_ATTEMPTS = 5;

export function rateLimitRules(services: Services): Record<string, RateLimitRule> {
  const limits = services.config.rateLimits;
  const minute = 60_000;
  return {
    login: { name: 'login', limit: limits.loginPerIpPerMinute, windowMs: minute, by: 'ip' },
    sms: { name: 'sms', limit: limits.smsPerIpPerMinute, windowMs: minute, by: 'ip' },
    register: { name: 'register', limit: limits.registerPerIpPerMinute, windowMs: minute, by: 'ip' },
    // per account, all its sessions together: counted by the hold's own script, under the
    // province's hash tag (the routes' countedInScript; issue 13, P2)
    reserve: { name: 'reserve', limit: limits.reservePerAccountPerMinute, windowMs: minute, by: 'account' },
    // the eligibility query (API.md: per account and per client address; issue 16 item 4)
    lookup: { name: 'lookup', limit: limits.lookupPerAccountPerMinute, windowMs: minute, by: 'account' },
    lookupIp: { name: 'lookupIp', limit: limits.lookupPerIpPerMinute, windowMs: minute, by: 'ip' },
    // every other state-changing candidate route shares one allowance per account, and payment
    // orders (each kept in Redis) have a smaller one: no session grows Redis at will (issue 16 item 2)
    writes: { name: 'writes', limit: limits.writesPerAccountPerMinute, windowMs: minute, by: 'account' },
    orders: { name: 'orders', limit: limits.ordersPerAccountPerMinute, windowMs: minute, by: 'account' },
  };
}

export function createGatewayApp(services: Services, options: RouteOptions = {}): GatewayApp {
  const uws = loadNativeUws();
  const app = uws.App();
  const { config } = services;
  // one app per thread: the client address of every request of this thread (mount.ts readRequest)
  trustProxies(TrustedProxies.parse(config.trustedProxies));
  const hub = new SeatHub({
    app,
    engine: services.engine,
    coalesceMs: config.wsCoalesceMs,
    log: services.log,
    clock: services.clock,
  });
  // a ticket's ETA is in whole seconds: pushing it more than once a second only costs both sides
  const queueWatch = new QueueWatch({
    engine: services.engine,
    room: services.queue,
    clock: services.clock,
    log: services.log,
    coalesceMs: Math.max(config.wsCoalesceMs, 1_000),
  });
  const seatSockets = registerSeatSockets(app, {
    hub,
    metrics: services.metrics,
    log: services.log,
    maxBackpressure: config.wsMaxBackpressure,
    maxConnections: config.wsMaxConnections,
    maxPerAddress: config.wsMaxPerAddress,
    queue: queueWatch,
    authenticate: (token) => services.auth.sessions.authenticate(token),
  });
  const admission = new Admission({
    adaptive: config.admission.adaptive,
    initial: Math.min(config.admission.initialLimit, config.maxInFlight),
    min: Math.min(config.admission.minLimit, config.maxInFlight),
    max: config.maxInFlight,
    targetP99Ms: config.admission.targetP99Ms,
    timeoutMs: config.admission.timeoutMs,
  });
  const loadReporter = new LoadReporter(
    services.redis,
    services.engine.keys.gatewayLoad,
    `${hostname()}:${process.pid}:${threadId}`,
    admission,
    (load) => services.metrics.admissionLimit.set(load.limit),
  );
  const routes = allRoutes(services, {
    ...options,
    dashboard: { engine: services.engine, provinces: () => hub.knownProvinces() },
  });
  const mounted = mountRoutes(app, routes, {
    log: services.log,
    metrics: services.metrics,
    clock: services.clock,
    sessions: services.auth.sessions,
    adminToken: config.adminToken,
    idempotency: new IdempotencyStore(services.redis, { namespace: config.namespace }),
    rateLimiter: new RateLimiter(services.redis, config.namespace),
    rateLimitRules: rateLimitRules(services),
    maxBodyBytes: config.maxBodyBytes,
    adminFailuresPerMinute: config.rateLimits.adminFailuresPerIpPerMinute,
    // refused session tokens per address and minute before a cache miss stops reaching PostgreSQL
    unknownTokens: new FailureWindow(UNKNOWN_TOKENS_PER_MINUTE, 60_000),
    admission,
  });
  mountNotFound(app);
  let listenSocket: us_listen_socket | undefined;

  return {
    async listen(host, port) {
      await hub.start();
      await queueWatch.start();
      // sessions are answered from this thread's memory only once it hears of revocations
      await services.auth.sessions.ready();
      loadReporter.start();
      const bind = (at: number) =>
        new Promise<us_listen_socket | false>((resolve) => app.listen(host, at, resolve));
      let tried = port;
      let socket = port === 0 ? false : await bind(port);
      // port 0: a port found free just now, tried again if another process took it meanwhile.
      // (uWS gives a socket on port 0 no SO_REUSEPORT, so the other threads could not join it.)
      for (let attempt = 0; port === 0 && !socket && attempt < LISTEN_ATTEMPTS; attempt++) {
        tried = await freePort({ host: host === '0.0.0.0' ? '127.0.0.1' : host });
        socket = await bind(tried);
      }
      if (!socket) throw new Error(`cannot listen on ${host}:${tried}`);
      listenSocket = socket;
      return uws.us_socket_local_port(socket);
    },
    async shutdown(graceMs = 10_000) {
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = undefined;
      const deadline = Date.now() + graceMs;
      while (mounted.inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      seatSockets.closeAll();
      await hub.close();
      await queueWatch.close();
      await loadReporter.stop();
    },
  };
}
