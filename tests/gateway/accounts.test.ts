/**
 * Accounts and sessions through HTTP (R1, R2), against the whole running system.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, newPhone, signUp, startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
}, 120_000);
afterAll(async () => {
  await gw?.close();
});

describe('R1 accounts, login with captcha, phone binding', () => {
  it('signs up by phone with an SMS code, logs in with a captcha, logs out', async () => {
    const user = await signUp(gw.http);
    expect(user.token.length).toBeGreaterThanOrEqual(22);
    const again = await gw.http.delete('/api/v1/sessions/current', { token: user.token });
    expect(again.status).toBe(204);
    const after = await gw.http.post('/api/v1/agreement', { accepted: true }, { token: user.token });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('UNAUTHORIZED');
  });

  it('refuses a wrong captcha (400 CAPTCHA_FAILED) and wrong credentials (401), same error for unknown logins', async () => {
    const user = await signUp(gw.http);
    const captcha = await gw.http.get('/api/v1/captcha');
    expect(captcha.body.image).toMatch(/^data:image\/svg\+xml;base64,/);
    const wrong = await gw.http.post('/api/v1/sessions', {
      login: user.phone,
      password: user.password,
      captchaId: captcha.body.captchaId,
      captchaAnswer: 'nope!',
    });
    expect([wrong.status, wrong.body.error.code]).toEqual([400, 'CAPTCHA_FAILED']);
    await expect(login(gw.http, user.phone, 'wrongpass123')).rejects.toThrow(/401/);
    await expect(login(gw.http, newPhone(), 'wrongpass123')).rejects.toThrow(/401.*INVALID_CREDENTIALS/);
  });

  it('an account without a bound phone is told to bind one first (PHONE_NOT_BOUND), then the agreement (R2)', async () => {
    const email = `u${Date.now()}${Math.random().toString(36).slice(2, 6)}@example.com`;
    const created = await gw.http.post('/api/v1/accounts', { email, password: 'opening2026' });
    expect(created.status).toBe(201);
    expect(created.body.phoneBound).toBe(false);
    const duplicate = await gw.http.post('/api/v1/accounts', {
      email: email.toUpperCase(),
      password: 'opening2026',
    });
    expect([duplicate.status, duplicate.body.error.code]).toEqual([409, 'ACCOUNT_EXISTS']);
    const weak = await gw.http.post('/api/v1/accounts', { email: `x${email}`, password: 'short' });
    expect([weak.status, weak.body.error.code]).toEqual([400, 'WEAK_PASSWORD']);
    const token = await login(gw.http, email, 'opening2026');
    const query = { idType: 'RESIDENT_ID', idNumber: '11010519491231002X', name: '张三' };
    const early = await gw.http.post('/api/v1/eligibility/query', query, { token });
    if (early.status !== 404) {
      // the eligibility route exists: R1 refuses before any lookup
      expect([early.status, early.body.error.code]).toEqual([403, 'PHONE_NOT_BOUND']);
    }
    const phone = newPhone();
    const code = await gw.http.post('/api/v1/sms-codes', { phone });
    const bound = await gw.http.post(
      '/api/v1/accounts/me/phone',
      { phone, smsCode: code.body.testCode },
      { token },
    );
    expect(bound.body).toEqual({ phoneBound: true });
    const reused = await gw.http.post(
      '/api/v1/accounts/me/phone',
      { phone, smsCode: code.body.testCode },
      { token },
    );
    expect(reused.status).toBe(400);
    expect(reused.body.error.code).toBe('SMS_CODE_INVALID');
  });

  it('refuses unknown fields and bad JSON with 400 VALIDATION_FAILED', async () => {
    const unknown = await gw.http.post('/api/v1/sms-codes', { phone: newPhone(), admin: true });
    expect([unknown.status, unknown.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(unknown.body.error.details.errors[0]).toEqual({ field: '/admin', problem: 'unknown field' });
    const bad = await gw.http.post('/api/v1/sms-codes', undefined, {
      raw: '{"phone":',
      headers: { 'content-type': 'application/json' },
    });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
  });
});
