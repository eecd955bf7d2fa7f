/**
 * One session must not be able to grow Redis without bound (issue 16 item 2): every
 * state-changing candidate route is rate-limited per account (one `writes` allowance shared by
 * the agreement, phone binding, logout, the registration, cancellations, the CET6 review and queue
 * tickets; payment orders have their own, smaller one: `orders`), and a refusal stored for an
 * Idempotency-Key is kept minutes, not the day a success is kept.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outcome } from '../support/answers.ts';
import { newPhone, signUp, startTestGateway, type HttpAnswer, type TestGateway } from '../support/gateway.ts';
import { sleep } from '../support/wait.ts';

const WRITES = 3;
const ORDERS = 2;
const HOUR_MS = 3_600_000;

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({
    THREADS: '1',
    RATE_WRITES_PER_ACCOUNT_PER_MINUTE: String(WRITES),
    RATE_ORDERS_PER_ACCOUNT_PER_MINUTE: String(ORDERS),
  });
}, 120_000);

afterAll(async () => {
  await gw?.close();
});

async function awayFromMinuteBoundary(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 45_000) await sleep(60_000 - intoMinute + 100);
}

/** The answer's outcome, naming the rule when it is a 429. */
const limitedBy = (answer: HttpAnswer): string =>
  answer.status === 429 ? `429 ${answer.body.error.details.rule}` : outcome(answer);

const IDENTITY = { idType: 'RESIDENT_ID', idNumber: '110105199001010011', name: '张三' };

describe('per-account limits on the state-changing routes', () => {
  it('one writes allowance per account covers every state-changing route without a limit of its own', async () => {
    await awayFromMinuteBoundary();
    const me = await signUp(gw.http, { agreement: false });
    const other = await signUp(gw.http, { agreement: false });
    const token = { token: me.token };
    const agreed: string[] = [];
    for (let i = 0; i < WRITES; i++) {
      agreed.push(limitedBy(await gw.http.post('/api/v1/agreement', { accepted: true }, token)));
    }
    expect(agreed).toEqual(Array(WRITES).fill('200'));
    const calls: [string, () => Promise<HttpAnswer>][] = [
      ['agreement', () => gw.http.post('/api/v1/agreement', { accepted: true }, token)],
      [
        'phone',
        () => gw.http.post('/api/v1/accounts/me/phone', { phone: newPhone(), smsCode: '123456' }, token),
      ],
      ['registration', () => gw.http.post('/api/v1/registration', { ...IDENTITY, confirm: true }, token)],
      ['written cancel', () => gw.http.delete('/api/v1/registration/written/CET4', token)],
      ['oral cancel', () => gw.http.delete('/api/v1/registration/oral/CET-SET4', token)],
      [
        'review',
        () => gw.http.post('/api/v1/cet6-review', { ticketNumber: '123456789012345', confirm: true }, token),
      ],
      [
        'review edit',
        () => gw.http.put('/api/v1/cet6-review', { ticketNumber: '123456789012345', confirm: true }, token),
      ],
      ['review delete', () => gw.http.delete('/api/v1/cet6-review', token)],
      ['queue ticket', () => gw.http.post('/api/v1/queue/tickets', { provinceCode: '11' }, token)],
      ['logout', () => gw.http.delete('/api/v1/sessions/current', token)],
    ];
    const refused: Record<string, string> = {};
    for (const [name, call] of calls) refused[name] = limitedBy(await call());
    expect(refused).toEqual(Object.fromEntries(calls.map(([name]) => [name, '429 writes'])));
    // refused, the logout did nothing: the session still works; another account has its own allowance
    expect((await gw.http.get('/api/v1/registration', token)).status).not.toBe(401);
    expect(
      limitedBy(await gw.http.post('/api/v1/agreement', { accepted: true }, { token: other.token })),
    ).toBe('200');
  });

  it('payment orders: a smaller allowance of their own', async () => {
    await awayFromMinuteBoundary();
    const me = await signUp(gw.http);
    const answers: string[] = [];
    for (let i = 0; i <= ORDERS; i++) {
      answers.push(
        limitedBy(await gw.http.post('/api/v1/payments', { method: 'ALIPAY' }, { token: me.token })),
      );
    }
    expect(answers.slice(0, ORDERS).every((answer) => !answer.startsWith('429'))).toBe(true);
    expect(answers[ORDERS]).toBe('429 orders');
  });
});

describe('Idempotency-Key answers', () => {
  const storedKey = (accountId: string, idempotencyKey: string): string =>
    `${gw.namespace}:idem:${accountId}:${createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 32)}`;

  it('a refusal is kept 10 minutes, a success 24 hours', async () => {
    await awayFromMinuteBoundary();
    const me = await signUp(gw.http, { agreement: false });
    const agreed = await gw.http.post(
      '/api/v1/agreement',
      { accepted: true },
      { token: me.token, idempotencyKey: 'agree-1' },
    );
    expect(agreed.status).toBe(200);
    const refused = await gw.http.post(
      '/api/v1/payments',
      { method: 'ALIPAY' },
      { token: me.token, idempotencyKey: 'pay-1' },
    );
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    const success = await gw.redis.pttl(storedKey(me.accountId, 'agree-1'));
    const refusal = await gw.redis.pttl(storedKey(me.accountId, 'pay-1'));
    expect(success).toBeGreaterThan(23 * HOUR_MS);
    expect(refusal).toBeGreaterThan(0);
    expect(refusal).toBeLessThanOrEqual(10 * 60_000);
    // still the first answer while it is kept
    const replay = await gw.http.post(
      '/api/v1/payments',
      { method: 'ALIPAY' },
      { token: me.token, idempotencyKey: 'pay-1' },
    );
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(refused.body);
  });
});
