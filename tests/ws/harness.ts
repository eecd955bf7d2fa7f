/**
 * A real uWS app for the dashboard tests: the dashboard routes mounted through the real route
 * pipeline (gateway/http/mount.ts) with minimal dependencies, /ws/seats, and a SeatHub on a test
 * engine of its own namespace; listening on 127.0.0.1 on a free port. Plus a small WebSocket client
 * (the `ws` package) that records every message with its arrival time.
 * (tests/support/gateway.ts will build the whole gateway; these tests only need this part.)
 */
import { pino } from 'pino';
import { WebSocket } from 'ws';
import type { us_listen_socket } from 'uWebSockets.js';
import { DEFAULTS } from '../../config/defaults.ts';
import { systemClock } from '../../gateway/clock.ts';
import { IdempotencyStore } from '../../gateway/http/idempotency.ts';
import { mountNotFound, mountRoutes, type MountDeps } from '../../gateway/http/mount.ts';
import { RateLimiter } from '../../gateway/http/rateLimit.ts';
import { loadNativeUws } from '../../gateway/http/uws.ts';
import { Admission } from '../../gateway/admission/admission.ts';
import { GatewayMetrics } from '../../gateway/metrics.ts';
import { dashboardRoutes } from '../../gateway/routes/dashboard.ts';
import { SeatHub } from '../../gateway/ws/seatHub.ts';
import { registerSeatSockets, type SeatSockets } from '../../gateway/ws/seats.ts';
import { newTestEngine, type TestEngine } from '../support/engine.ts';

export interface SeatServer {
  readonly port: number;
  readonly baseUrl: string;
  readonly wsUrl: string;
  readonly t: TestEngine;
  readonly hub: SeatHub;
  readonly sockets: SeatSockets;
  readonly metrics: GatewayMetrics;
  close(): Promise<void>;
}

export interface SeatServerOptions {
  readonly coalesceMs?: number;
  readonly maxBackpressure?: number;
}

/** The config defaults (config/defaults.ts): 250 ms windows, 256 KiB per socket. */
export const DEFAULT_COALESCE_MS = DEFAULTS.wsCoalesceMs;
export const DEFAULT_MAX_BACKPRESSURE = DEFAULTS.wsMaxBackpressure;

export async function startSeatServer(options: SeatServerOptions = {}): Promise<SeatServer> {
  const t = await newTestEngine();
  const uws = loadNativeUws();
  const app = uws.App();
  const log = pino({ level: 'warn' });
  const metrics = new GatewayMetrics();
  const hub = new SeatHub({
    app,
    engine: t.engine,
    coalesceMs: options.coalesceMs ?? DEFAULT_COALESCE_MS,
    log,
    clock: systemClock,
  });
  await hub.start();
  const mountDeps: MountDeps = {
    log,
    metrics,
    clock: systemClock,
    sessions: { authorize: async () => ({ accountId: null, counts: [] }) },
    adminToken: 'test-admin-token-0123456789',
    idempotency: new IdempotencyStore(t.redis, { namespace: t.namespace }),
    rateLimiter: new RateLimiter(t.redis, t.namespace),
    rateLimitRules: {},
    maxBodyBytes: 16 * 1024,
    adminFailuresPerMinute: 10,
    admission: new Admission({ adaptive: false, max: 1024 }),
  };
  mountRoutes(app, dashboardRoutes({ engine: t.engine, provinces: () => hub.knownProvinces() }), mountDeps);
  const sockets = registerSeatSockets(app, {
    hub,
    metrics,
    log,
    maxBackpressure: options.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE,
  });
  mountNotFound(app);
  const token = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (listenSocket) => {
      if (listenSocket) resolve(listenSocket);
      else reject(new Error('uWS could not listen on 127.0.0.1'));
    });
  });
  const port = uws.us_socket_local_port(token);
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws/seats`,
    t,
    hub,
    sockets,
    metrics,
    async close() {
      uws.us_listen_socket_close(token);
      await hub.close();
      await t.close();
    },
  };
}

export interface Received {
  readonly at: number;
  readonly message: Record<string, unknown>;
}

/** A dashboard client: every message parsed and timestamped (performance.now()). */
export class SeatClient {
  readonly received: Received[] = [];
  /** campusId|subject → the last seats message for it (cheap to check on every message). */
  readonly latest = new Map<string, Received>();
  closed = false;
  closeCode: number | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data);
      const text = isBinary ? '' : bytes.toString('utf8');
      const received = { at: performance.now(), message: JSON.parse(text) as Record<string, unknown> };
      this.received.push(received);
      if (received.message.type === 'seats')
        this.latest.set(`${String(received.message.campusId)}|${String(received.message.subject)}`, received);
    });
    socket.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
    });
    socket.on('error', () => undefined);
  }

  static async connect(url: string): Promise<SeatClient> {
    const socket = new WebSocket(url);
    const client = new SeatClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  send(value: unknown): void {
    this.socket.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  seats(filter: { campusId?: string; subject?: string } = {}): Received[] {
    return this.received.filter(
      (r) =>
        r.message.type === 'seats' &&
        (filter.campusId === undefined || r.message.campusId === filter.campusId) &&
        (filter.subject === undefined || r.message.subject === filter.subject),
    );
  }

  /** The last message for one campus × subject. */
  last(campusId: string, subject: string): Record<string, unknown> | undefined {
    return this.latest.get(`${campusId}|${subject}`)?.message;
  }

  errors(): Received[] {
    return this.received.filter((r) => r.message.type === 'error');
  }

  close(): void {
    if (!this.closed) this.socket.close();
  }
}
