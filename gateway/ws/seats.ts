/**
 * `GET /ws/seats` (API.md "Live seat dashboards"): a client sends
 * `{"subscribe": ["campus:<id>", "province:<code>"]}` (and optionally `{"unsubscribe": [...]}`); it
 * gets the current state of each new topic first, then the SeatHub's coalesced changes through uWS
 * topics. Live changes are never sent per socket: fan-out is `app.publish` in the hub.
 *
 * Waiting-room tickets (API.md "Waiting room"): `queue:<ticketId>` is the socket's own account's
 * ticket only, so it needs a session: `Authorization: Bearer <token>` on the upgrade request, or
 * `?token=<token>` (browsers cannot set headers on a WebSocket). A bad token is refused at the
 * upgrade (401); without one the socket is anonymous and may watch seats only. Tickets are pushed
 * per socket by gateway/ws/queueWatch.ts, their current state first.
 *
 * Backpressure (P5: a slow client never slows the others): uWS buffers at most `maxBackpressure`
 * bytes per socket and, past it, drops the message and closes that socket
 * (`closeOnBackpressureLimit`), so the publishing loop never waits for anyone. The snapshots that
 * this module sends itself go out of a per-socket queue, only while the socket's buffer is below
 * half the limit, and resume on `drain`; a snapshot entry that a live change has already overtaken
 * is skipped, so an old state never lands after a newer one.
 *
 * Nothing may throw out of a uWS callback: every handler catches, logs, and answers the client with
 * an error message where one is due. Incoming messages are small (maxPayloadLength) and strictly
 * validated; a bad one gets `{"type":"error","code":"VALIDATION_FAILED",...}` and the socket stays.
 */
import type { Logger } from 'pino';
import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import { requestSubject } from '../http/clientAddress.ts';
import { API_CODES, ApiError, type ApiCode } from '../errors.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { QueueWatch, TicketSink } from './queueWatch.ts';
import type { SeatHub, SnapshotMessage } from './seatHub.ts';

export const SEATS_PATH = '/ws/seats';
export const MAX_TOPICS_PER_SOCKET = 64;
/** Fits the largest valid message (64 topics of 64-character campus ids); uWS closes on more. */
export const MAX_WS_PAYLOAD_BYTES = 8 * 1024;
/** Subscribe requests of one socket whose snapshot is still being read; more are refused. */
const MAX_LOADING_PER_SOCKET = 4;

const CAMPUS_TOPIC = /^campus:([A-Za-z0-9_.-]{1,64})$/;
const PROVINCE_TOPIC = /^province:([0-9]{2})$/;
const QUEUE_TOPIC = /^queue:([0-9]{2}-[0-9a-f]{16})$/;

export interface SeatSocketDeps {
  readonly hub: SeatHub;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** Bytes buffered per socket before uWS drops and closes it (config.wsMaxBackpressure). */
  readonly maxBackpressure: number;
  /** Seconds without traffic before uWS closes a socket; pings are sent automatically. */
  readonly idleTimeoutSeconds?: number;
  /** Waiting-room tickets (queue:<ticketId> topics); without it such topics are refused. */
  readonly queue?: QueueWatch;
  /** A session token's account, or null (the upgrade's Authorization header or ?token=). */
  readonly authenticate?: (token: string) => Promise<string | null>;
  /**
   * Sockets this thread keeps open at most, in all and per client address (issue 16 item 17): past
   * them an upgrade answers 503 OVERLOADED / 429 RATE_LIMITED with Retry-After. Default: no cap.
   */
  readonly maxConnections?: number;
  readonly maxPerAddress?: number;
}

/**
 * The snapshot messages of one subscription waiting to be sent (a cursor into the hub's shared
 * snapshot). Two hub sequence numbers decide what is sent for a key when its turn comes: a key
 * published after `subscribedAt` already reached the client live (as new or newer): skip it. A key
 * published between `readFrom` (a shared read begun before this subscription) and `subscribedAt`
 * never reached the client and may be newer than the read: send the hub's last message for it.
 * Otherwise the read is the newest state there is: send it.
 */
interface PendingSnapshot {
  readonly topic: string;
  readonly messages: readonly SnapshotMessage[];
  next: number;
  readonly subscribedAt: number;
  readonly readFrom: number;
}

export interface SeatSocketData {
  readonly id: number;
  closed: boolean;
  loading: number;
  outbox: PendingSnapshot[];
  /** The session's account (queue topics need one); null for an anonymous dashboard. */
  readonly accountId: string | null;
  /** Watched tickets and this socket's sink for each. */
  readonly tickets: Map<string, TicketSink>;
  /** The client address it counts against (gateway/http/clientAddress.ts `requestSubject`). */
  readonly address: string;
}

type SeatSocket = WebSocket<SeatSocketData>;

export interface SeatSockets {
  /** Sockets open on this thread. */
  clients(): number;
  /** Closes every socket (shutdown); dashboards reconnect by themselves. */
  closeAll(code?: number, reason?: string): void;
  readonly stats: { opened: number; closed: number; droppedForBackpressure: number; rejected: number };
}

type Topic =
  | { kind: 'campus'; campusId: string; topic: string }
  | { kind: 'province'; code: string; topic: string }
  | { kind: 'queue'; ticketId: string; topic: string };

class ClientError extends Error {
  constructor(
    readonly code: ApiCode,
    readonly details: Record<string, unknown>,
  ) {
    super(code);
  }
}

function validationFailed(field: string, problem: string): ClientError {
  return new ClientError('VALIDATION_FAILED', { errors: [{ field, problem }] });
}

function parseTopics(value: unknown, field: string): Topic[] {
  if (!Array.isArray(value)) throw validationFailed(field, 'must be an array of topics');
  if (value.length > MAX_TOPICS_PER_SOCKET)
    throw validationFailed(field, `at most ${MAX_TOPICS_PER_SOCKET} topics`);
  const topics: Topic[] = [];
  const seen = new Set<string>();
  value.forEach((entry: unknown, index) => {
    if (typeof entry !== 'string') throw validationFailed(`${field}/${index}`, 'must be a string');
    if (seen.has(entry)) return;
    seen.add(entry);
    const campus = CAMPUS_TOPIC.exec(entry);
    if (campus) {
      topics.push({ kind: 'campus', campusId: campus[1]!, topic: entry });
      return;
    }
    const province = PROVINCE_TOPIC.exec(entry);
    if (province) {
      topics.push({ kind: 'province', code: province[1]!, topic: entry });
      return;
    }
    const queue = QUEUE_TOPIC.exec(entry);
    if (queue) {
      topics.push({ kind: 'queue', ticketId: queue[1]!, topic: entry });
      return;
    }
    throw validationFailed(
      `${field}/${index}`,
      'must be "campus:<campusId>", "province:<two digits>" or "queue:<ticketId>"',
    );
  });
  return topics;
}

/** `{"subscribe"?: [...], "unsubscribe"?: [...]}` and nothing else. */
export function parseClientMessage(text: string): { subscribe: Topic[]; unsubscribe: Topic[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw validationFailed('/', 'message is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw validationFailed('/', 'message must be an object');
  const record = value as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    if (name !== 'subscribe' && name !== 'unsubscribe') throw validationFailed(`/${name}`, 'unknown field');
  }
  if (record.subscribe === undefined && record.unsubscribe === undefined)
    throw validationFailed('/', 'expected "subscribe" or "unsubscribe"');
  return {
    subscribe: record.subscribe === undefined ? [] : parseTopics(record.subscribe, '/subscribe'),
    unsubscribe: record.unsubscribe === undefined ? [] : parseTopics(record.unsubscribe, '/unsubscribe'),
  };
}

function errorMessage(code: ApiCode, details: Record<string, unknown>): string {
  return JSON.stringify({ type: 'error', code, message: API_CODES[code].message, details });
}

/** `token=<session token>` from the upgrade's query string, or null. */
function tokenOf(query: string | undefined): string | null {
  if (!query) return null;
  const token = new URLSearchParams(query).get('token');
  return token === null || token === '' ? null : token;
}

export function registerSeatSockets(app: TemplatedApp, deps: SeatSocketDeps): SeatSockets {
  let nextId = 1;
  const openSockets = new Set<SeatSocket>();
  const stats = { opened: 0, closed: 0, droppedForBackpressure: 0, rejected: 0 };
  /** Open sockets per client address. */
  const perAddress = new Map<string, number>();
  const maxConnections = deps.maxConnections ?? Number.POSITIVE_INFINITY;
  const maxPerAddress = deps.maxPerAddress ?? Number.POSITIVE_INFINITY;
  /** Why an upgrade from `address` is refused now, or null. */
  const capRefusal = (address: string): { status: string; error: ApiError } | null => {
    if (openSockets.size >= maxConnections) {
      return {
        status: '503 Service Unavailable',
        error: new ApiError('OVERLOADED', { details: { retryAfterSeconds: 5 } }),
      };
    }
    if ((perAddress.get(address) ?? 0) >= maxPerAddress) {
      return {
        status: '429 Too Many Requests',
        error: new ApiError('RATE_LIMITED', { details: { retryAfterSeconds: 5, rule: 'wsPerAddress' } }),
      };
    }
    return null;
  };
  const pumpBelow = Math.max(1, Math.floor(deps.maxBackpressure / 2));

  /** Closes a socket whose direct send was dropped: its view would be wrong from then on. */
  const dropSlow = (ws: SeatSocket, data: SeatSocketData): void => {
    stats.droppedForBackpressure++;
    data.outbox = [];
    if (data.closed) return;
    try {
      ws.end(1008, 'backpressure limit');
    } catch {
      // already closed by uWS
    }
  };

  /** Sends queued snapshot messages while the socket's buffer is below half the limit. */
  const pump = (ws: SeatSocket, data: SeatSocketData): void => {
    if (data.closed || data.outbox.length === 0) return;
    ws.cork(() => {
      while (!data.closed && data.outbox.length > 0 && ws.getBufferedAmount() < pumpBelow) {
        const pending = data.outbox[0]!;
        const message = pending.messages[pending.next++];
        if (message === undefined) {
          data.outbox.shift();
          continue;
        }
        if (deps.hub.publishedSince(message.key, pending.subscribedAt)) continue;
        const json =
          pending.readFrom < pending.subscribedAt && deps.hub.publishedSince(message.key, pending.readFrom)
            ? (deps.hub.lastMessage(message.key) ?? message.json)
            : message.json;
        if (ws.send(json) === 2) {
          dropSlow(ws, data);
          return;
        }
      }
    });
  };

  /** A direct, small message (errors): checked like any send. */
  const sendNow = (ws: SeatSocket, data: SeatSocketData, json: string): void => {
    if (data.closed) return;
    ws.cork(() => {
      if (ws.send(json) === 2) dropSlow(ws, data);
    });
  };

  /** The current state of a topic as a pending snapshot, or a ClientError for an unknown campus. */
  const loadSnapshot = async (
    topic: Exclude<Topic, { kind: 'queue' }>,
    subscribedAt: number,
  ): Promise<PendingSnapshot> => {
    const provinceCode = topic.kind === 'province' ? topic.code : await deps.hub.provinceOf(topic.campusId);
    if (provinceCode === undefined) {
      throw new ClientError('NOT_FOUND', { topic: topic.topic, problem: 'unknown campus' });
    }
    const snapshot = await deps.hub.snapshot(provinceCode);
    const messages =
      topic.kind === 'province' ? snapshot.messages : (snapshot.byCampus.get(topic.campusId) ?? []);
    return { topic: topic.topic, messages, next: 0, subscribedAt, readFrom: snapshot.sequence };
  };

  /** A ticket of the socket's own account: its current state now, then its changes. */
  const watchTicket = (
    ws: SeatSocket,
    data: SeatSocketData,
    topic: Extract<Topic, { kind: 'queue' }>,
  ): void => {
    const queue = deps.queue;
    if (!queue || data.accountId === null) {
      throw new ClientError('UNAUTHORIZED', { topic: topic.topic, problem: 'queue topics need a session' });
    }
    if (data.tickets.has(topic.ticketId)) return;
    if (ws.getTopics().length + data.tickets.size >= MAX_TOPICS_PER_SOCKET) {
      throw validationFailed('/subscribe', `at most ${MAX_TOPICS_PER_SOCKET} topics per connection`);
    }
    const sink: TicketSink = (json) => sendNow(ws, data, json);
    data.tickets.set(topic.ticketId, sink);
    queue.watch(topic.ticketId, data.accountId, sink).then(
      (found) => {
        if (found && data.closed) queue.unwatch(topic.ticketId, sink);
        if (found || data.closed) return;
        data.tickets.delete(topic.ticketId);
        sendNow(
          ws,
          data,
          errorMessage('NOT_FOUND', { topic: topic.topic, problem: 'no such ticket of yours' }),
        );
      },
      (error: unknown) => {
        data.tickets.delete(topic.ticketId);
        deps.log.warn({ err: error }, 'seat socket: ticket watch failed');
        sendNow(ws, data, errorMessage('INTERNAL_ERROR', { topic: topic.topic }));
      },
    );
  };

  const unwatchTickets = (data: SeatSocketData, ticketIds: Iterable<string>): void => {
    for (const ticketId of [...ticketIds]) {
      const sink = data.tickets.get(ticketId);
      if (!sink) continue;
      data.tickets.delete(ticketId);
      deps.queue?.unwatch(ticketId, sink);
    }
  };

  const subscribe = (ws: SeatSocket, data: SeatSocketData, requested: Topic[]): void => {
    for (const topic of requested) if (topic.kind === 'queue') watchTicket(ws, data, topic);
    const topics = requested.filter((t): t is Exclude<Topic, { kind: 'queue' }> => t.kind !== 'queue');
    const fresh = topics.filter((t) => !ws.isSubscribed(t.topic));
    if (fresh.length === 0) return;
    if (ws.getTopics().length + data.tickets.size + fresh.length > MAX_TOPICS_PER_SOCKET) {
      throw validationFailed('/subscribe', `at most ${MAX_TOPICS_PER_SOCKET} topics per connection`);
    }
    if (data.loading >= MAX_LOADING_PER_SOCKET) {
      throw new ClientError('RATE_LIMITED', { problem: 'wait for the previous subscriptions to load' });
    }
    // subscribe before reading the state: a change after the read then reaches the client as a live
    // message, and the queue skips any snapshot entry it overtakes
    for (const topic of fresh) ws.subscribe(topic.topic);
    const subscribedAt = deps.hub.sequence;
    data.loading++;
    void (async () => {
      for (const topic of fresh) {
        try {
          const pending = await loadSnapshot(topic, subscribedAt);
          if (data.closed) return;
          if (!ws.isSubscribed(topic.topic)) continue; // unsubscribed while it loaded
          data.outbox.push(pending);
          pump(ws, data);
        } catch (error) {
          if (data.closed) return;
          if (error instanceof ClientError) {
            try {
              ws.unsubscribe(topic.topic);
            } catch {
              // closed meanwhile
            }
            sendNow(ws, data, errorMessage(error.code, error.details));
          } else {
            deps.log.warn({ err: error, topic: topic.topic }, 'seat socket: snapshot failed');
            sendNow(ws, data, errorMessage('INTERNAL_ERROR', { topic: topic.topic }));
          }
        }
      }
    })()
      .catch((error: unknown) => {
        deps.log.error({ err: error }, 'seat socket: subscribe failed');
      })
      .finally(() => {
        data.loading--;
      });
  };

  app.ws<SeatSocketData>(SEATS_PATH, {
    compression: 0,
    maxPayloadLength: MAX_WS_PAYLOAD_BYTES,
    maxBackpressure: deps.maxBackpressure,
    // the type says number, the binding reads a boolean
    closeOnBackpressureLimit: true as unknown as number,
    idleTimeout: deps.idleTimeoutSeconds ?? 120,
    sendPingsAutomatically: true,
    maxLifetime: 0,

    upgrade: (res, req, context) => {
      try {
        const address = requestSubject(res, req);
        const refusal = capRefusal(address);
        if (refusal !== null) {
          stats.rejected++;
          res.cork(() => {
            res
              .writeStatus(refusal.status)
              .writeHeader('content-type', 'application/json; charset=utf-8')
              .writeHeader('retry-after', '5')
              .end(JSON.stringify(refusal.error.toBody()), true);
          });
          return;
        }
        const key = req.getHeader('sec-websocket-key');
        const protocol = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        const token =
          /^Bearer\s+(\S+)$/i.exec(req.getHeader('authorization'))?.[1] ?? tokenOf(req.getQuery());
        const socketData = (accountId: string | null): SeatSocketData => ({
          id: nextId++,
          closed: false,
          loading: 0,
          outbox: [],
          accountId,
          tickets: new Map(),
          address,
        });
        if (token === null || !deps.authenticate) {
          res.upgrade(socketData(null), key, protocol, extensions, context);
          return;
        }
        // a session: checked before the upgrade (req is invalid after this callback returns)
        let aborted = false;
        res.onAborted(() => {
          aborted = true;
        });
        deps.authenticate(token).then(
          (accountId) => {
            if (aborted) return;
            res.cork(() => {
              if (accountId === null) {
                stats.rejected++;
                res
                  .writeStatus('401 Unauthorized')
                  .writeHeader('content-type', 'application/json; charset=utf-8')
                  .end(JSON.stringify(new ApiError('UNAUTHORIZED').toBody()), true);
              } else res.upgrade(socketData(accountId), key, protocol, extensions, context);
            });
          },
          (error: unknown) => {
            deps.log.warn({ err: error }, 'seat socket: session check failed');
            if (!aborted) res.cork(() => res.writeStatus('503 Service Unavailable').end('', true));
          },
        );
      } catch (error) {
        stats.rejected++;
        deps.log.error({ err: error }, 'seat socket: upgrade failed');
        try {
          res.cork(() => {
            res.writeStatus('500 Internal Server Error').end('', true);
          });
        } catch {
          // the connection is gone
        }
      }
    },

    open: (ws) => {
      try {
        openSockets.add(ws);
        const address = ws.getUserData().address;
        perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
        stats.opened++;
        deps.metrics.wsClients.inc();
      } catch (error) {
        deps.log.error({ err: error }, 'seat socket: open failed');
      }
    },

    message: (ws, message, isBinary) => {
      const data = ws.getUserData();
      try {
        if (isBinary) throw validationFailed('/', 'send JSON text messages');
        // the ArrayBuffer is only valid during this callback: decode (copy) it now
        const text = Buffer.from(message).toString('utf8');
        const request = parseClientMessage(text);
        if (request.unsubscribe.length > 0) {
          unwatchTickets(
            data,
            request.unsubscribe.flatMap((topic) => (topic.kind === 'queue' ? [topic.ticketId] : [])),
          );
          const gone = new Set(
            request.unsubscribe.filter((t) => t.kind !== 'queue').map((topic) => topic.topic),
          );
          for (const topic of gone) ws.unsubscribe(topic);
          data.outbox = data.outbox.filter((pending) => !gone.has(pending.topic));
        }
        subscribe(ws, data, request.subscribe);
      } catch (error) {
        if (error instanceof ClientError) {
          sendNow(ws, data, errorMessage(error.code, error.details));
        } else {
          deps.log.error({ err: error }, 'seat socket: message failed');
          try {
            sendNow(ws, data, errorMessage('INTERNAL_ERROR', {}));
          } catch {
            // nothing more to do
          }
        }
      }
    },

    drain: (ws) => {
      try {
        pump(ws, ws.getUserData());
      } catch (error) {
        deps.log.error({ err: error }, 'seat socket: drain failed');
      }
    },

    close: (ws) => {
      try {
        const data = ws.getUserData();
        data.closed = true;
        data.outbox = [];
        unwatchTickets(data, data.tickets.keys());
        openSockets.delete(ws);
        const left = (perAddress.get(data.address) ?? 1) - 1;
        if (left > 0) perAddress.set(data.address, left);
        else perAddress.delete(data.address);
        stats.closed++;
        deps.metrics.wsClients.dec();
      } catch (error) {
        deps.log.error({ err: error }, 'seat socket: close failed');
      }
    },
  });

  const closeAll = (code = 1001, reason = 'server going away'): void => {
    for (const ws of [...openSockets]) {
      try {
        ws.end(code, reason);
      } catch {
        openSockets.delete(ws);
      }
    }
  };

  return { clients: () => openSockets.size, closeAll, stats };
}
