/**
 * The provider's asynchronous notification (R23), as it travels: a form-encoded body like
 * Alipay's `notify_url` call, signed as gateway/payments/signature.ts describes. The simulator
 * encodes it; the gateway decodes and verifies it before anything else reads it.
 *
 * Signed fields: `notify_id` (unique per delivery attempt series: a provider's retries repeat it),
 * `notify_time` (epoch ms when this attempt was signed), `out_trade_no` (our order id),
 * `trade_no` (the provider's transaction), `trade_status` (TRADE_SUCCESS or TRADE_CLOSED),
 * `total_amount` (yuan, two decimals). A notification is refused when a field is missing, repeated,
 * unknown or malformed, when the signature does not match, or when `notify_time` is further than
 * the window from the gateway's clock (a captured notification cannot be replayed later). A replay
 * inside the window is harmless: confirmation is exactly-once in the engine.
 */
import {
  AMOUNT_PATTERN,
  ORDER_ID_PATTERN,
  SIGN_TYPE,
  deriveKey,
  sign,
  verify,
  type PaymentProvider,
} from './signature.ts';

export const NOTIFY_WINDOW_MS = 5 * 60_000;

export type TradeStatus = 'TRADE_SUCCESS' | 'TRADE_CLOSED';

export interface Notification {
  readonly notifyId: string;
  readonly notifyTime: number;
  readonly orderId: string;
  readonly tradeNo: string;
  readonly tradeStatus: TradeStatus;
  readonly totalAmount: string;
}

const FIELD_PATTERNS: Readonly<Record<string, RegExp>> = {
  notify_id: /^[A-Za-z0-9_-]{16,64}$/,
  notify_time: /^[1-9][0-9]{9,14}$/,
  out_trade_no: ORDER_ID_PATTERN,
  trade_no: /^[A-Za-z0-9]{8,64}$/,
  trade_status: /^(TRADE_SUCCESS|TRADE_CLOSED)$/,
  total_amount: AMOUNT_PATTERN,
  sign_type: /^[A-Z0-9-]{1,16}$/,
  sign: /^[A-Za-z0-9+/=]{1,128}$/,
};
const FIELD_COUNT = Object.keys(FIELD_PATTERNS).length;

export const NOTIFICATION_CONTENT_TYPE = 'application/x-www-form-urlencoded; charset=utf-8';

/** The provider side: the signed form body of one delivery attempt. */
export function encodeNotification(
  notification: Notification,
  secret: string,
  provider: PaymentProvider,
): string {
  const params: Record<string, string> = {
    notify_id: notification.notifyId,
    notify_time: String(notification.notifyTime),
    out_trade_no: notification.orderId,
    trade_no: notification.tradeNo,
    trade_status: notification.tradeStatus,
    total_amount: notification.totalAmount,
  };
  const signature = sign(params, deriveKey(secret, 'notify', provider));
  return new URLSearchParams({ ...params, sign_type: SIGN_TYPE, sign: signature }).toString();
}

export type RefusalReason = 'MALFORMED' | 'SIGNATURE_MISMATCH' | 'STALE';

export type Verified = { ok: true; notification: Notification } | { ok: false; reason: RefusalReason };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseForm(rawBody: Buffer, contentType: string | undefined): Record<string, string> | null {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType !== 'application/x-www-form-urlencoded') return null;
  let text: string;
  try {
    text = utf8.decode(rawBody);
  } catch {
    return null;
  }
  const params: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of new URLSearchParams(text)) {
    const pattern = FIELD_PATTERNS[name];
    // unknown, repeated or malformed fields: the exact set is signed, nothing else is accepted
    if (!pattern || Object.hasOwn(params, name) || !pattern.test(value)) return null;
    params[name] = value;
    count++;
  }
  return count === FIELD_COUNT ? params : null;
}

/** The gateway side: the notification if it is well-formed, authentic and fresh. */
export function verifyNotification(
  rawBody: Buffer,
  contentType: string | undefined,
  options: { secret: string; provider: PaymentProvider; now: number; windowMs?: number },
): Verified {
  const params = parseForm(rawBody, contentType);
  if (params === null || params.sign_type !== SIGN_TYPE) return { ok: false, reason: 'MALFORMED' };
  const { sign: signature, ...signed } = params;
  if (!verify(signed, signature!, deriveKey(options.secret, 'notify', options.provider)))
    return { ok: false, reason: 'SIGNATURE_MISMATCH' };
  const notifyTime = Number(params.notify_time);
  if (Math.abs(options.now - notifyTime) > (options.windowMs ?? NOTIFY_WINDOW_MS))
    return { ok: false, reason: 'STALE' };
  return {
    ok: true,
    notification: {
      notifyId: params.notify_id!,
      notifyTime,
      orderId: params.out_trade_no!,
      tradeNo: params.trade_no!,
      tradeStatus: params.trade_status as TradeStatus,
      totalAmount: params.total_amount!,
    },
  };
}
