/**
 * The payment-provider simulator (API.md "Payment"): its own small HTTP server, started by
 * `startSystem` in TEST_MODE, standing in for Alipay or a bank gateway in demos and load tests.
 *
 *   POST /pay/:orderId?provider&total_amount&sign   {"result": "SUCCESS" | "FAIL"}
 *     The candidate "pays" through the link the gateway signed (gateway/payments/payLink.ts); the
 *     simulator signs a notification (gateway/payments/notification.ts) and posts it to the
 *     gateway's `POST /api/v1/payments/notify/{provider}`, retrying transient failures like a
 *     provider, and answers once the gateway acknowledged: 200 {…, gateway: {status, answer}}, or
 *     502 NOT_ACKNOWLEDGED with the gateway's last answer. Paying a paid order again re-delivers
 *     the same notification (same notify_id and trade_no), as a provider's retry would.
 *   GET /notifications/:orderId   the deliveries sent for an order, raw bodies included (tests
 *     replay them).
 *   GET /healthz
 *
 * Notifications are signed with the gateway's clock (the admin clock in TEST_MODE), the time both
 * sides agree on. State is in memory and bounded; the simulator never touches Redis or PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { NOTIFICATION_CONTENT_TYPE, encodeNotification, type TradeStatus } from './notification.ts';
import { localBaseUrl, verifyPayLink } from './payLink.ts';
import type { PaymentProvider } from './signature.ts';

export interface PaymentSimulatorOptions {
  readonly host: string;
  /** 0: a free port. */
  readonly port: number;
  readonly secret: string;
  readonly log: Logger;
  /** Delivery attempts per payment (transient failures only are retried). */
  readonly attempts?: number;
  /** Orders remembered (oldest forgotten first). */
  readonly maxOrders?: number;
}

export interface NotifyTarget {
  /** The gateway's base URL, e.g. http://127.0.0.1:8080 */
  readonly gatewayUrl: string;
  /** The clock notifications are stamped with. */
  readonly now: () => Promise<number>;
}

export interface Delivery {
  readonly notifyId: string;
  readonly tradeNo: string;
  readonly tradeStatus: TradeStatus;
  readonly body: string;
  readonly contentType: string;
  readonly url: string;
  readonly status: number;
  readonly answer: string;
}

export interface PaymentSimulator {
  readonly port: number;
  readonly url: string;
  /** Where notifications go; until then pay requests answer 503. */
  connect(target: NotifyTarget): void;
  deliveries(orderId: string): readonly Delivery[];
  stop(): Promise<void>;
}

interface Trade {
  readonly provider: PaymentProvider;
  readonly notifyId: string;
  readonly tradeNo: string;
  readonly tradeStatus: TradeStatus;
  readonly totalAmount: string;
}

interface OrderState {
  /** The successful trade, once there is one: later payments re-deliver it. */
  paid: Trade | null;
  readonly deliveries: Delivery[];
}

const MAX_BODY_BYTES = 16 * 1024;
const MAX_DELIVERIES_KEPT = 20;
const ATTEMPT_TIMEOUT_MS = 10_000;
/** The longest Retry-After a delivery waits before its next attempt. */
const MAX_RETRY_AFTER_MS = 5_000;

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_BODY_BYTES) {
        reject(new HttpProblem(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

function parseResult(raw: Buffer): 'SUCCESS' | 'FAIL' {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpProblem(400, 'VALIDATION_FAILED', 'The body is not valid JSON');
  }
  if (
    body === null ||
    typeof body !== 'object' ||
    Object.keys(body).length !== 1 ||
    ((body as { result?: unknown }).result !== 'SUCCESS' && (body as { result?: unknown }).result !== 'FAIL')
  ) {
    throw new HttpProblem(400, 'VALIDATION_FAILED', 'The body must be {"result": "SUCCESS" | "FAIL"}');
  }
  return (body as { result: 'SUCCESS' | 'FAIL' }).result;
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return '';
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startPaymentSimulator(options: PaymentSimulatorOptions): Promise<PaymentSimulator> {
  const attempts = options.attempts ?? 3;
  const maxOrders = options.maxOrders ?? 100_000;
  const orders = new Map<string, OrderState>();
  let target: NotifyTarget | null = null;

  const stateOf = (orderId: string): OrderState => {
    let state = orders.get(orderId);
    if (!state) {
      state = { paid: null, deliveries: [] };
      orders.set(orderId, state);
      if (orders.size > maxOrders) orders.delete(orders.keys().next().value!);
    }
    return state;
  };

  /** Posts the trade's notification until the gateway answers for good; the last delivery. */
  const deliver = async (orderId: string, trade: Trade, to: NotifyTarget): Promise<Delivery> => {
    const url = `${to.gatewayUrl}/api/v1/payments/notify/${trade.provider}`;
    let last: Delivery | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      // every attempt is signed afresh (a new notify_time), with the same notify_id and trade_no
      const body = encodeNotification(
        {
          notifyId: trade.notifyId,
          notifyTime: await to.now(),
          orderId,
          tradeNo: trade.tradeNo,
          tradeStatus: trade.tradeStatus,
          totalAmount: trade.totalAmount,
        },
        options.secret,
        trade.provider,
      );
      let status = 0;
      let answer = '';
      let retryAfterMs = 0;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': NOTIFICATION_CONTENT_TYPE },
          body,
          signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
        });
        status = response.status;
        answer = await response.text();
        retryAfterMs = Math.min(
          MAX_RETRY_AFTER_MS,
          Number(response.headers.get('retry-after') ?? 0) * 1000 || 0,
        );
      } catch (error) {
        answer = error instanceof Error ? error.message : String(error);
      }
      last = { ...trade, body, contentType: NOTIFICATION_CONTENT_TYPE, url, status, answer };
      const state = stateOf(orderId);
      state.deliveries.push(last);
      if (state.deliveries.length > MAX_DELIVERIES_KEPT) state.deliveries.shift();
      const transient = status === 0 || status === 429 || status >= 500;
      if (!transient) break;
      // a gateway that sheds the notification says when to come back (Retry-After): honoured, as a
      // provider's retry schedule is long; otherwise 100 ms, 300 ms, …
      if (attempt < attempts) await pause(Math.max(100 * 3 ** (attempt - 1), retryAfterMs));
    }
    return last!;
  };

  const pay = async (orderId: string, url: URL, req: IncomingMessage, res: ServerResponse) => {
    const link = verifyPayLink(orderId, url.searchParams, options.secret);
    const result = parseResult(await readBody(req));
    if (!link.ok) throw new HttpProblem(400, 'BAD_SIGNATURE', 'The payment link is not valid');
    const to = target;
    if (!to) throw new HttpProblem(503, 'NOT_CONNECTED', 'The simulator does not know the gateway yet');
    const state = stateOf(orderId);
    let trade: Trade;
    if (state.paid) {
      if (result === 'FAIL') throw new HttpProblem(409, 'TRADE_ALREADY_PAID', 'This order is already paid');
      trade = state.paid; // the provider's retry: same notification
    } else {
      trade = {
        provider: link.provider,
        notifyId: randomBytes(16).toString('base64url'),
        tradeNo: `${link.provider === 'alipay' ? 'A' : 'B'}${randomBytes(12).toString('hex')}`,
        tradeStatus: result === 'SUCCESS' ? 'TRADE_SUCCESS' : 'TRADE_CLOSED',
        totalAmount: link.totalAmount,
      };
      // before the first await: a concurrent payment of the same order re-delivers this trade
      if (result === 'SUCCESS') state.paid = trade;
    }
    const delivery = await deliver(orderId, trade, to);
    const gateway = { status: delivery.status, answer: delivery.answer };
    if (delivery.status === 200 && delivery.answer.trim() === 'success') {
      send(res, 200, {
        orderId,
        result,
        provider: trade.provider,
        tradeNo: trade.tradeNo,
        notifyId: trade.notifyId,
        totalAmount: trade.totalAmount,
        acknowledged: true,
        gateway,
      });
      return;
    }
    options.log.warn({ orderId, gatewayStatus: delivery.status }, 'payment notification not acknowledged');
    throw new HttpProblem(502, 'NOT_ACKNOWLEDGED', 'The gateway did not acknowledge the notification', {
      gateway,
    });
  };

  const server = createServer((req, res) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://simulator');
        const [, first, orderId, extra] = url.pathname.split('/').map(safeDecode);
        if (req.method === 'POST' && first === 'pay' && orderId && extra === undefined) {
          await pay(orderId, url, req, res);
        } else if (req.method === 'GET' && first === 'notifications' && orderId && extra === undefined) {
          send(res, 200, { orderId, deliveries: orders.get(orderId)?.deliveries ?? [] });
        } else if (req.method === 'GET' && url.pathname === '/healthz') {
          send(res, 200, { ok: true, connected: target !== null });
        } else {
          throw new HttpProblem(404, 'NOT_FOUND', 'No such resource');
        }
      } catch (error) {
        if (error instanceof HttpProblem) {
          send(res, error.status, {
            error: {
              code: error.code,
              message: error.message,
              ...(error.details ? { details: error.details } : {}),
            },
          });
        } else {
          options.log.error({ err: error }, 'payment simulator request failed');
          send(res, 500, { error: { code: 'INTERNAL_ERROR', message: 'Internal error' } });
        }
      }
    })();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = localBaseUrl(options.host, port);
  options.log.info({ url }, 'payment simulator listening');

  let stopping: Promise<void> | undefined;
  return {
    port,
    url,
    connect(next) {
      target = next;
    },
    deliveries: (orderId) => orders.get(orderId)?.deliveries ?? [],
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), 5_000);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      })),
  };
}
