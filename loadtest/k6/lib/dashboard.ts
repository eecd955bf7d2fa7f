/**
 * The live-dashboard subscriber (API.md "Live seat dashboards", P5), on k6/websockets (global event
 * loop: the iteration lasts until the socket closes). Subscribes to topics, skips the first message
 * of each campus × subject (the current state sent on subscribe), and records the staleness of
 * every later update: receive time − the message's `at`, corrected by `clockOffsetMs` (how far the
 * gateway's clock is ahead of the load generator's: non-zero when the test-mode clock was moved).
 * Assumes the two machines' clocks agree otherwise (same box, or NTP).
 */
import { WebSocket, type MessageEvent } from 'k6/websockets';
import { clearTimeout, setTimeout } from 'k6/timers';
import { Counter, Rate, Trend } from 'k6/metrics';
import { WS_URL } from './env.ts';

export const staleness = new Trend('seat_update_staleness', true);
export const seatUpdates = new Counter('seat_updates');
export const snapshotMessages = new Counter('seat_snapshot_messages');
export const wsOpened = new Rate('ws_opened');
/** Time from opening the socket to the first message (the current state), per connection. */
export const firstState = new Trend('ws_first_state', true);

export interface SubscribeOptions {
  readonly topics: readonly string[];
  /** How long the socket stays open. */
  readonly durationMs: number;
  readonly clockOffsetMs?: number;
  /** Close as soon as the first message (the current state) arrived: a page load, not a watcher. */
  readonly closeAfterFirst?: boolean;
}

export function subscribe(opts: SubscribeOptions): void {
  const started = Date.now();
  const offset = opts.clockOffsetMs ?? 0;
  const seen = new Set<string>();
  let opened = false;
  let first = true;
  const socket = new WebSocket(WS_URL);
  socket.addEventListener('open', () => {
    opened = true;
    wsOpened.add(true);
    socket.send(JSON.stringify({ subscribe: opts.topics }));
  });
  socket.addEventListener('error', () => {
    if (!opened) wsOpened.add(false);
    opened = true; // count a failed upgrade once
  });
  socket.addEventListener('message', (e) => {
    const received = Date.now();
    const data = (e as MessageEvent).data;
    if (typeof data !== 'string') return;
    let msg: { type?: string; campusId?: string; subject?: string; at?: string } | undefined;
    try {
      msg = JSON.parse(data) as typeof msg;
    } catch {
      return;
    }
    if (msg?.type !== 'seats' || !msg.at) return;
    if (first) {
      first = false;
      firstState.add(received - started);
      if (opts.closeAfterFirst) socket.close();
    }
    const key = `${msg.campusId ?? ''}|${msg.subject ?? ''}`;
    if (!seen.has(key)) {
      seen.add(key); // the current state sent on subscribe: not an update
      snapshotMessages.add(1);
      return;
    }
    const at = Date.parse(msg.at);
    if (!Number.isFinite(at)) return;
    staleness.add(Math.max(0, received + offset - at));
    seatUpdates.add(1);
  });
  const timer = setTimeout(() => {
    if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.close();
  }, opts.durationMs);
  // a socket closed early (page load done, server gone) must not keep the iteration waiting
  socket.addEventListener('close', () => clearTimeout(timer));
}
