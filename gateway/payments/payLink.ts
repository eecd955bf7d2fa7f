/**
 * The payment link (`payUrl`) the gateway hands to the candidate: the provider's pay page for one
 * order, carrying the provider and the amount, signed by the gateway (like the signed order
 * request a merchant sends Alipay). The provider (here, the simulator) learns the order's amount
 * from the link itself and refuses a link whose amount or provider was altered; so the gateway
 * never has to call the provider to register an order.
 */
import {
  AMOUNT_PATTERN,
  ORDER_ID_PATTERN,
  deriveKey,
  formatAmount,
  isPaymentProvider,
  sign,
  verify,
  type PaymentProvider,
} from './signature.ts';

/** How a local client reaches a server listening on host:port (a wildcard host: the loopback). */
export function localBaseUrl(host: string, port: number): string {
  const reachable = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

export interface PayLinkOrder {
  readonly orderId: string;
  readonly provider: PaymentProvider;
  readonly amount: number;
}

function signedFields(orderId: string, provider: PaymentProvider, totalAmount: string) {
  return { out_trade_no: orderId, provider, total_amount: totalAmount };
}

/** `<base>/pay/<orderId>?provider=…&total_amount=…&sign=…` */
export function buildPayUrl(base: string, order: PayLinkOrder, secret: string): string {
  const totalAmount = formatAmount(order.amount);
  const signature = sign(
    signedFields(order.orderId, order.provider, totalAmount),
    deriveKey(secret, 'pay-link', order.provider),
  );
  const query = new URLSearchParams({ provider: order.provider, total_amount: totalAmount, sign: signature });
  return `${base}/pay/${encodeURIComponent(order.orderId)}?${query.toString()}`;
}

export type PayLink =
  { ok: true; orderId: string; provider: PaymentProvider; totalAmount: string } | { ok: false };

/** The provider side: the order a link is for, if the gateway signed exactly this link. */
export function verifyPayLink(orderId: string, query: URLSearchParams, secret: string): PayLink {
  const names = [...query.keys()];
  const provider = query.get('provider') ?? '';
  const totalAmount = query.get('total_amount') ?? '';
  const signature = query.get('sign') ?? '';
  if (
    names.length !== 3 ||
    new Set(names).size !== 3 ||
    !ORDER_ID_PATTERN.test(orderId) ||
    !isPaymentProvider(provider) ||
    !AMOUNT_PATTERN.test(totalAmount) ||
    !verify(signedFields(orderId, provider, totalAmount), signature, deriveKey(secret, 'pay-link', provider))
  ) {
    return { ok: false };
  }
  return { ok: true, orderId, provider, totalAmount };
}
