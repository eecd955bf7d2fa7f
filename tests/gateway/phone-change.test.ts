/**
 * Issue 16 item 17: a session alone cannot move an account to another phone. Binding a first phone
 * works as API.md has it ({phone, smsCode}); changing a phone already bound to another number needs
 * the account's password too, checked before the SMS code is spent: missing or wrong → 403
 * PASSWORD_REQUIRED and nothing changes; right → the new phone is bound and logs in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../db/pool.ts';
import { login, newPhone, signUp, startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;
let db: Pool;

beforeAll(async () => {
  gw = await startTestGateway();
  db = createPool(gw.databaseUrl, { max: 1, applicationName: 'tests:phone-change' });
}, 120_000);

afterAll(async () => {
  await db?.end();
  await gw?.close();
});

const phoneOf = async (accountId: string) =>
  (await db.query<{ phone: string }>(`SELECT phone FROM accounts WHERE account_id = $1`, [accountId]))
    .rows[0]!.phone;

describe('changing a bound phone (issue 16 item 17)', () => {
  it('needs the password as well as the new phone’s code; without it, or with a wrong one, nothing changes', async () => {
    const user = await signUp(gw.http);
    const next = newPhone();
    const code = (await gw.http.post('/api/v1/sms-codes', { phone: next })).body.testCode as string;
    const change = (body: Record<string, unknown>) =>
      gw.http.post(
        '/api/v1/accounts/me/phone',
        { phone: next, smsCode: code, ...body },
        { token: user.token },
      );

    const without = await change({});
    expect([without.status, without.body.error.code]).toEqual([403, 'PASSWORD_REQUIRED']);
    const wrong = await change({ password: `${user.password}x` });
    expect([wrong.status, wrong.body.error.code]).toEqual([403, 'PASSWORD_REQUIRED']);
    expect(await phoneOf(user.accountId)).toBe(user.phone);

    // the code was not spent by the refusals: the right password with it binds the new phone
    const right = await change({ password: user.password });
    expect([right.status, right.body]).toEqual([200, { phoneBound: true }]);
    expect(await phoneOf(user.accountId)).toBe(next);
    expect(await login(gw.http, next, user.password)).toMatch(/./);
  });

  it('binds a first phone as API.md has it (no password)', async () => {
    const email = `pc${Date.now()}@example.com`;
    expect((await gw.http.post('/api/v1/accounts', { email, password: 'opening2026' })).status).toBe(201);
    const token = await login(gw.http, email, 'opening2026');
    const phone = newPhone();
    const first = await gw.http.post(
      '/api/v1/accounts/me/phone',
      { phone, smsCode: (await gw.http.post('/api/v1/sms-codes', { phone })).body.testCode },
      { token },
    );

    expect([first.status, first.body]).toEqual([200, { phoneBound: true }]);
  });
});
