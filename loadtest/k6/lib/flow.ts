/**
 * Candidate flows shared by the scenarios: the whole opening flow of one candidate (login,
 * eligibility, a turn in the waiting room when the province has one, binding, written and oral
 * seats, payment, with the deviations of its behaviour), and the payment steps (order → provider
 * simulator → order status).
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import type { Behaviour } from '../../profiles.ts';
import type { Candidate } from './data.ts';
import { errorCode, EXPECTED_STATUSES, get, json, login, payUrlFor, post, track, type Res } from './http.ts';
import { waitForTurn } from './queue.ts';

/** From `POST /api/v1/payments` to the order read back PAID / LATE_REFUND. */
export const paymentSettle = new Trend('payment_settle', true);
/** Registrations refused REGISTRATION_NOT_OPEN (arrivals before the window opens). */
export const notOpenYet = new Counter('registration_not_open');
const EXPECTED_WITH_403 = http.expectedStatuses(...EXPECTED_STATUSES, 403);

export interface Order {
  readonly res: Res;
  readonly orderId?: string;
  readonly payUrl?: string;
}

/** `POST /api/v1/payments` for every unpaid hold of the session's registration. */
export function openOrder(token: string, idempotencyKey: string, method = 'ALIPAY'): Order {
  const res = post('/api/v1/payments', { method }, token, idempotencyKey);
  const o = res.status === 201 ? json<{ orderId?: string; payUrl?: string }>(res) : undefined;
  return { res, ...(o?.orderId ? { orderId: o.orderId } : {}), ...(o?.payUrl ? { payUrl: o.payUrl } : {}) };
}

/** `POST {payUrl}` `{"result": ...}` at the simulator: answers once the gateway acknowledged. */
export function payAtProvider(payUrl: string, result: 'SUCCESS' | 'FAIL' = 'SUCCESS'): Res {
  const res = http.post(payUrlFor(payUrl), JSON.stringify({ result }), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'payUrl' },
  });
  track(res);
  return res;
}

/** Reads `GET /api/v1/payments/{orderId}` until its status is one of `want` (or tries run out). */
export function awaitOrderStatus(
  token: string,
  orderId: string,
  want: readonly string[],
  tries = 10,
  intervalS = 0.2,
): string | undefined {
  let status: string | undefined;
  for (let i = 0; i < tries; i++) {
    const res = get(`/api/v1/payments/${encodeURIComponent(orderId)}`, token, '/api/v1/payments/{orderId}');
    status = json<{ status?: string }>(res)?.status;
    if (status !== undefined && want.includes(status)) return status;
    sleep(intervalS);
  }
  return status;
}

/** Order, pay at the simulator, read the order back; the final status (PAID, LATE_REFUND, …). */
export function payAll(
  token: string,
  idempotencyKey: string,
  method = 'ALIPAY',
): Order & { status?: string } {
  const started = Date.now();
  const order = openOrder(token, idempotencyKey, method);
  if (!order.orderId || !order.payUrl) return order;
  const paid = payAtProvider(order.payUrl);
  check(paid, { 'provider simulator acknowledged': (r) => r.status >= 200 && r.status < 300 });
  const status = awaitOrderStatus(token, order.orderId, ['PAID', 'LATE_REFUND']);
  if (status === 'PAID' || status === 'LATE_REFUND') paymentSettle.add(Date.now() - started);
  return { ...order, ...(status ? { status } : {}) };
}

export interface FlowSubjects {
  readonly written: string;
  readonly oral: string;
}

/** The province's waiting room, when the scenario runs behind one. */
export interface FlowQueue {
  readonly provinceCode: string;
  /** Longest a candidate waits for its turn. */
  readonly maxWaitMs: number;
}

/** One candidate walking the whole opening flow (with the deviations of its behaviour). */
export async function candidateFlow(
  c: Candidate,
  n: number,
  behaviour: Behaviour,
  subjects: FlowSubjects,
  queue?: FlowQueue,
): Promise<void> {
  const key = (step: string): string => `k6-${n}-${step}`;

  if (!c.accountExists) {
    // SMS code (TEST_MODE returns testCode), then the account; 409 when it already exists.
    const sms = json<{ testCode?: string }>(post('/api/v1/sms-codes', { phone: c.phone }));
    const account = post(
      '/api/v1/accounts',
      { phone: c.phone, smsCode: sms?.testCode ?? '', password: c.password },
      undefined,
      key('account'),
    );
    check(account, { 'account created or exists': (r) => r.status === 201 || r.status === 409 });
  }

  const token = login(c.phone, c.password);
  if (!check(token, { 'logged in (TEST_MODE captcha answer)': (t) => !!t }) || !token) return;

  check(post('/api/v1/agreement', { accepted: true }, token, key('agreement')), {
    'agreement 200': (r) => r.status === 200,
  });

  const who = { idType: c.idType, idNumber: c.idNumber, name: c.name };
  check(post('/api/v1/eligibility/query', who, token), { 'eligible 200': (r) => r.status === 200 });

  if (behaviour === 'cet6Reviewer' && c.ticketNumber) {
    const review = post(
      '/api/v1/cet6-review',
      { ticketNumber: c.ticketNumber, confirm: true, ...who },
      token,
      key('review'),
    );
    check(review, { 'review accepted or refused cleanly': (r) => [201, 409, 422].includes(r.status) });
  }

  // With a waiting room: a ticket now (PREQUEUE before the opening), the bind once admitted; a
  // gated write refused QUEUE_PASS_REQUIRED sends the candidate back to the line once.
  const turn = async (step: string) =>
    queue ? waitForTurn(token, queue.provinceCode, behaviour, key(step), queue.maxWaitMs) : 'notActive';
  const first = await turn('queue');
  if (first === 'abandoned' || first === 'failed') return;
  const register = (attempt: string) =>
    post(
      '/api/v1/registration',
      { ...who, confirm: true },
      token,
      key(`registration${attempt}`),
      '/api/v1/registration',
      EXPECTED_WITH_403,
    );
  // An early bird (before the window opens) is refused REGISTRATION_NOT_OPEN: expected, not failed.
  let reg = register('');
  if (reg.status === 403 && errorCode(reg) === 'QUEUE_PASS_REQUIRED') {
    const again = await turn('queue-again');
    if (again !== 'admitted' && again !== 'notActive') return;
    reg = register('-again');
  }
  const early = reg.status === 403 && errorCode(reg) === 'REGISTRATION_NOT_OPEN';
  if (early) notOpenYet.add(1);
  if (
    !check(reg, {
      'registration 201, bound, not open yet or shed': (r) =>
        [201, 409, 429, 503].includes(r.status) || early,
    }) ||
    reg.status !== 201
  )
    return;

  const written = post('/api/v1/registration/written', { subject: subjects.written }, token, key('written'));
  check(written, { 'written held or sold out': (r) => [201, 409, 429, 503].includes(r.status) });
  if (behaviour === 'retrySameKey') {
    const replay = post('/api/v1/registration/written', { subject: subjects.written }, token, key('written'));
    check(replay, {
      'idempotent replay returns the first answer': (r) => r.status === written.status || r.status === 409,
    });
  }

  const listPath = `/api/v1/oral/campuses?subject=${subjects.oral}`;
  const campuses =
    json<{ campusId: string; remaining: number }[]>(get(listPath, token, '/api/v1/oral/campuses')) ?? [];
  if (behaviour === 'refresh') {
    for (let i = 0; i < 5; i++) {
      get(listPath, token, '/api/v1/oral/campuses');
      get('/api/v1/registration', token);
      sleep(0.2);
    }
  }
  const withSeats = Array.isArray(campuses) ? campuses.filter((x) => x.remaining > 0) : [];
  const campus = withSeats.length > 0 ? withSeats[Math.floor(Math.random() * withSeats.length)] : undefined;
  if (campus && written.status === 201) {
    const tries = behaviour === 'botHammeringOneCampus' ? 50 : 1;
    for (let i = 0; i < tries; i++) {
      // The bot uses a fresh key each time (it is hammering, not retrying).
      const oral = post(
        '/api/v1/registration/oral',
        { subject: subjects.oral, campusId: campus.campusId },
        token,
        key(`oral-${i}`),
      );
      check(oral, {
        'oral held, sold out, taken or shed': (r) => [201, 409, 403, 429, 503].includes(r.status),
      });
    }
  }

  // abandon: never pays (expires after 12 h); latePayer: pays in expiry.ts, not here.
  if (behaviour === 'abandon' || behaviour === 'latePayer' || written.status !== 201) return;

  const paid = payAll(token, key('payment'));
  check(paid.res, { 'payment order 201': (r) => r.status === 201 && !!paid.payUrl });
  if (paid.orderId) check(paid.status, { 'order PAID': (s) => s === 'PAID' });
}
