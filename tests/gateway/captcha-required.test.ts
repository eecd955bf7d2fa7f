/**
 * Issue 16 item 11: SMS sending and account creation need a captcha once a client address has used
 * its captcha-free allowance (CAPTCHA_FREE_PER_IP_PER_HOUR). Before that the API.md bodies work as
 * they always did; past it a request without a captcha changes nothing (no code sent, no account)
 * and answers 400 CAPTCHA_REQUIRED; a solved captcha lets it through, once; a wrong one is 400
 * CAPTCHA_FAILED.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../db/pool.ts';
import { newPhone, startTestGateway, type TestGateway } from '../support/gateway.ts';

const ALLOWANCE = 3;
let gw: TestGateway;
let db: Pool;

beforeAll(async () => {
  gw = await startTestGateway({ CAPTCHA_FREE_PER_IP_PER_HOUR: String(ALLOWANCE) });
  db = createPool(gw.databaseUrl, { max: 1, applicationName: 'tests:captcha-required' });
}, 120_000);

afterAll(async () => {
  await db?.end();
  await gw?.close();
});

const captcha = async () => {
  const issued = await gw.http.get('/api/v1/captcha');
  return { captchaId: issued.body.captchaId as string, captchaAnswer: issued.body.testAnswer as string };
};

describe('a captcha on SMS sending and sign-up past the captcha-free allowance (issue 16 item 11)', () => {
  it('lets the first requests through as API.md has them, then asks for a captcha, checks it and consumes it', async () => {
    // within the allowance: the API.md bodies, no captcha (SMS sends and sign-ups count together)
    const first = newPhone();
    const sent = await gw.http.post('/api/v1/sms-codes', { phone: first });
    expect(sent.status).toBe(200);
    const account = await gw.http.post('/api/v1/accounts', {
      phone: first,
      smsCode: sent.body.testCode,
      password: 'opening2026',
    });
    expect(account.status).toBe(201);
    for (let i = 2; i < ALLOWANCE; i++) {
      expect((await gw.http.post('/api/v1/sms-codes', { phone: newPhone() })).status).toBe(200);
    }

    // past it: refused, nothing sent — the code the refused request would have made does not exist
    const refusedPhone = newPhone();
    const refused = await gw.http.post('/api/v1/sms-codes', { phone: refusedPhone });
    expect([refused.status, refused.body.error.code]).toEqual([400, 'CAPTCHA_REQUIRED']);
    expect(refused.body.testCode).toBeUndefined();
    const email = `cr${Date.now()}@example.com`;
    const refusedSignUp = await gw.http.post('/api/v1/accounts', { email, password: 'opening2026' });
    expect([refusedSignUp.status, refusedSignUp.body.error.code]).toEqual([400, 'CAPTCHA_REQUIRED']);
    const noAccount = await db.query(`SELECT 1 FROM accounts WHERE email = $1`, [email]);
    expect(noAccount.rows).toEqual([]);

    // a wrong captcha, or half of one: CAPTCHA_FAILED, nothing changes
    const wrong = { ...(await captcha()), captchaAnswer: '0' };
    const failed = await gw.http.post('/api/v1/sms-codes', { phone: refusedPhone, ...wrong });
    expect([failed.status, failed.body.error.code]).toEqual([400, 'CAPTCHA_FAILED']);
    const half = await gw.http.post('/api/v1/sms-codes', {
      phone: refusedPhone,
      captchaId: (await captcha()).captchaId,
    });
    expect([half.status, half.body.error.code]).toEqual([400, 'CAPTCHA_FAILED']);

    // a solved captcha: through, once (it is consumed)
    const solved = await captcha();
    const withCaptcha = await gw.http.post('/api/v1/sms-codes', { phone: refusedPhone, ...solved });
    expect(withCaptcha.status).toBe(200);
    const again = await gw.http.post('/api/v1/accounts', {
      phone: refusedPhone,
      smsCode: withCaptcha.body.testCode,
      password: 'opening2026',
      ...solved,
    });
    expect([again.status, again.body.error.code]).toEqual([400, 'CAPTCHA_FAILED']);
    const signedUp = await gw.http.post('/api/v1/accounts', {
      phone: refusedPhone,
      smsCode: withCaptcha.body.testCode,
      password: 'opening2026',
      ...(await captcha()),
    });
    expect(signedUp.status).toBe(201);
  });
});
