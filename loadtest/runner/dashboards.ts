/**
 * Dashboard subscribers for a surge (P5): N WebSocket clients on /ws/seats, each subscribed to the
 * province (or to what `topicsOf` says, e.g. one campus each), measuring how stale each seat update is when it arrives: the receive time on the
 * engine's clock minus the message's `at` (the moment of the change, engine clock; coalescing
 * delay included). The snapshot sent on subscribe describes the past, so messages in the first
 * second after subscribing are not measured. Also keeps the latest remaining count per
 * campus × subject, so the runner can check that every dashboard converged to Redis's numbers.
 */
import WebSocket from 'ws';
import type { RunRecorder } from './recorder.ts';

export interface DashboardOptions {
  readonly url: string;
  readonly count: number;
  readonly provinceCode: string;
  /** What dashboard i subscribes to (default: the whole province). */
  readonly topicsOf?: (index: number) => string[];
  /** Engine time now (Date.now() plus the driven clock's offset). */
  readonly engineNow: () => number;
  readonly recorder: RunRecorder;
}

export interface Dashboards {
  readonly connected: number;
  /** Latest remaining per `campusId|subject`, as seen by the first dashboard. */
  view(): ReadonlyMap<string, number>;
  /** How many dashboards have seen `remaining` for every key in `expected` they were sent. */
  converged(expected: ReadonlyMap<string, number>): number;
  close(): Promise<void>;
}

const SETTLE_MS = 1_000;

export async function connectDashboards(options: DashboardOptions): Promise<Dashboards> {
  const sockets: WebSocket[] = [];
  const views: Map<string, number>[] = [];
  const opened = Array.from({ length: options.count }, (_, i) => {
    const view = new Map<string, number>();
    views.push(view);
    return new Promise<void>((resolve) => {
      const socket = new WebSocket(options.url);
      sockets.push(socket);
      let subscribedAt = Infinity;
      socket.on('open', () => {
        subscribedAt = performance.now();
        const topics = options.topicsOf?.(i) ?? [`province:${options.provinceCode}`];
        socket.send(JSON.stringify({ subscribe: topics }));
        resolve();
      });
      socket.on('message', (data) => {
        const receivedAt = options.engineNow();
        let message: { type?: string; campusId?: string; subject?: string; remaining?: number; at?: string };
        try {
          message = JSON.parse((data as Buffer).toString('utf8')) as typeof message; // ws: a Buffer (nodebuffer)
        } catch {
          return;
        }
        if (message.type !== 'seats') return;
        view.set(`${message.campusId}|${message.subject}`, Number(message.remaining));
        if (performance.now() - subscribedAt > SETTLE_MS && message.at) {
          options.recorder.staleness(receivedAt - Date.parse(message.at));
        }
      });
      socket.on('error', () => resolve());
    });
  });
  await Promise.all(opened);
  return {
    connected: sockets.filter((s) => s.readyState === WebSocket.OPEN).length,
    view: () => views[0] ?? new Map(),
    converged(expected) {
      // every key a dashboard was sent (its snapshot lists all of its topics' keys) must show
      // Redis's final count
      let count = 0;
      for (const view of views) {
        let ok = view.size > 0;
        for (const [key, remaining] of view) {
          if (expected.get(key) !== remaining) {
            ok = false;
            break;
          }
        }
        if (ok) count += 1;
      }
      return count;
    },
    async close() {
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState === WebSocket.CLOSED) return resolve();
              socket.once('close', () => resolve());
              socket.terminate();
            }),
        ),
      );
    },
  };
}
