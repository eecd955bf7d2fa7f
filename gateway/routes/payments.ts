/**
 * Payment (API.md "Payment"; R22, R23): an order for every unpaid held subject of the session's
 * registration, with a signed link to the provider's pay page; the provider's notification,
 * verified (gateway/payments/notification.ts) before anything reads it and applied exactly once by
 * the engine's confirmPayment script; the order's state, to its own account only.
 *
 * A notification changes state only through confirmPayment, whose PENDING → PAID | LATE_REFUND
 * transition is atomic: duplicates, provider retries and replays inside the freshness window all
 * answer the same "success" and change nothing; a confirmation after the items expired records
 * them for refund and never revives a seat. A refused notification changes nothing either.
 */
import type { OrderView } from '../../engine/views.ts';
import { ApiError } from '../errors.ts';
import { created, ok, route, type Reply, type RouteDef } from '../http/route.ts';
import { strictObject, Type } from '../http/schemas.ts';
import { verifyNotification } from '../payments/notification.ts';
import { buildPayUrl, localBaseUrl } from '../payments/payLink.ts';
import { formatAmount, isPaymentProvider, providerOf } from '../payments/signature.ts';
import type { Services } from '../services.ts';
import { isoChina, refusalError, requireBound } from './common.ts';

const PaymentBody = strictObject({
  method: Type.Union([Type.Literal('ALIPAY'), Type.Literal('BANK')], {
    description: 'ALIPAY, or BANK (a bank gateway)',
  }),
});

/** Alipay expects the bare word, as text. */
const ACKNOWLEDGED: Reply = { status: 200, text: 'success', contentType: 'text/plain; charset=utf-8' };

function itemOutcome(order: OrderView, subject: string): 'PENDING' | 'PAID' | 'LATE_REFUND' {
  if (order.status === 'PENDING') return 'PENDING';
  return (order.paid as readonly string[]).includes(subject) ? 'PAID' : 'LATE_REFUND';
}

export function orderBody(order: OrderView) {
  return {
    orderId: order.orderId,
    status: order.status,
    method: order.method,
    amount: order.amount,
    items: order.items.map((item) => ({
      subject: item.subject,
      fee: item.fee,
      outcome: itemOutcome(order, item.subject),
    })),
    paid: order.paid,
    refund: order.refund,
    refundAmount: order.refundAmount,
    createdAt: isoChina(order.createdAt),
    paidAt: order.paidAt === null ? null : isoChina(order.paidAt),
  };
}

export function paymentRoutes(services: Services): RouteDef[] {
  const { engine, config } = services;
  const providerBase = localBaseUrl(config.host, config.paymentSimulatorPort);
  return [
    route({
      method: 'POST',
      path: '/api/v1/payments',
      summary: 'Open a payment order for every unpaid held subject (R23)',
      tags: ['payments'],
      auth: 'session',
      priority: 'critical',
      body: PaymentBody,
      idempotent: true,
      rateLimits: ['orders'],
      responses: {
        201: '{orderId, status, method, amount, payUrl, items: [{subject, fee}], createdAt}',
        403: 'REGISTRATION_NOT_OPEN, REGISTRATION_CLOSED',
        404: 'NO_REGISTRATION',
        409: 'NOTHING_TO_PAY',
        429: 'RATE_LIMITED, TOO_MANY_ORDERS (20 orders within 12 h; Retry-After)',
      },
      handler: async (ctx) => {
        const bound = await requireBound(services, ctx.accountId!);
        const outcome = await engine.createOrder({
          accountId: bound.accountId,
          provinceCode: bound.provinceCode,
          candidateId: bound.candidateId,
          method: ctx.body.method,
          now: ctx.now,
        });
        if (!outcome.ok) throw refusalError(outcome);
        const { order } = outcome;
        const provider = providerOf(order.method)!;
        return created({
          orderId: order.orderId,
          status: order.status,
          method: order.method,
          amount: order.amount,
          payUrl: buildPayUrl(
            providerBase,
            { orderId: order.orderId, provider, amount: order.amount },
            config.paymentSecret,
          ),
          items: order.items.map((item) => ({ subject: item.subject, fee: item.fee })),
          createdAt: isoChina(order.createdAt),
        });
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/payments/notify/:provider',
      summary: "The provider's signed notification (form-encoded, like Alipay's notify_url call)",
      tags: ['payments'],
      auth: 'none',
      priority: 'critical',
      admitAlways: true,
      rawBody: true,
      responses: {
        200: '"success" (text/plain), also for duplicates and replays',
        400: 'BAD_SIGNATURE (malformed, altered, unsigned or stale), VALIDATION_FAILED (amount or provider not those of the order)',
        404: 'ORDER_NOT_FOUND, NOT_FOUND (unknown provider)',
      },
      handler: async (ctx) => {
        const provider = ctx.params.provider ?? '';
        if (!isPaymentProvider(provider)) throw new ApiError('NOT_FOUND');
        const verified = verifyNotification(ctx.rawBody, ctx.headers['content-type'], {
          secret: config.paymentSecret,
          provider,
          now: ctx.now,
        });
        if (!verified.ok) {
          ctx.log.warn({ provider, reason: verified.reason }, 'payment notification refused');
          throw new ApiError('BAD_SIGNATURE', { details: { reason: verified.reason } });
        }
        const notification = verified.notification;
        const order = await engine.order(notification.orderId);
        if (!order) throw new ApiError('ORDER_NOT_FOUND');
        const mismatch =
          providerOf(order.method) !== provider
            ? 'provider'
            : formatAmount(order.amount) !== notification.totalAmount
              ? 'total_amount'
              : null;
        if (mismatch !== null) {
          // authentic, yet not about this order as it was opened: a provider-side error to settle by hand
          ctx.log.error(
            { orderId: order.orderId, provider, field: mismatch },
            'payment notification mismatch',
          );
          throw new ApiError('VALIDATION_FAILED', {
            details: { errors: [{ field: mismatch, problem: 'does not match the order' }] },
          });
        }
        if (notification.tradeStatus !== 'TRADE_SUCCESS') {
          // a failed or closed attempt: the order stays PENDING and may still be paid
          ctx.log.info({ orderId: order.orderId, notifyId: notification.notifyId }, 'payment attempt failed');
          return ACKNOWLEDGED;
        }
        const confirmed = await engine.confirmPayment({
          orderId: order.orderId,
          now: ctx.now,
          providerTx: notification.tradeNo,
        });
        if (!confirmed.ok) throw refusalError(confirmed);
        ctx.log.info(
          {
            orderId: order.orderId,
            notifyId: notification.notifyId,
            status: confirmed.order.status,
            duplicate: confirmed.duplicate,
          },
          confirmed.duplicate ? 'payment notification already applied' : 'payment confirmed',
        );
        return ACKNOWLEDGED;
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/payments/:orderId',
      summary: "A payment order's state (its own account only)",
      tags: ['payments'],
      auth: 'session',
      responses: {
        200: '{orderId, status: PENDING|PAID|LATE_REFUND, method, amount, items, paid, refund, refundAmount, createdAt, paidAt}',
        404: 'ORDER_NOT_FOUND (also for an order of another account)',
      },
      handler: async (ctx) => {
        const order = await engine.order(ctx.params.orderId ?? '');
        // another account's order is answered exactly like a missing one: no existence oracle
        if (!order || order.accountId !== ctx.accountId) throw new ApiError('ORDER_NOT_FOUND');
        return ok(orderBody(order));
      },
    }),
  ];
}
