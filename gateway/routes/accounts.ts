/**
 * Accounts and sessions (API.md; R1, R2): captcha (an ALTCHA proof of work), SMS codes,
 * registration of an account, login (captcha first, then the login's failure backoff at the
 * client address, then one KDF verification whatever the login), logout, phone binding and the
 * registration agreement. TEST_MODE adds the captcha and SMS answers to the responses.
 */
import { created, noContent, ok, route, type RouteDef } from '../http/route.ts';
import { strictObject, Type } from '../http/schemas.ts';
import type { Services } from '../services.ts';
import { ApiError } from '../errors.ts';
import { RateLimiter, type RateLimitRule } from '../http/rateLimit.ts';

const Phone = Type.String({ minLength: 1, maxLength: 32 });
const Password = Type.String({ minLength: 1, maxLength: 1024 });

const CaptchaId = Type.String({ minLength: 1, maxLength: 128 });
const CaptchaAnswer = Type.String({ minLength: 1, maxLength: 32 });
/** Beyond API.md: a captcha, needed once the address is past its captcha-free allowance. */
const OptionalCaptcha = { captchaId: Type.Optional(CaptchaId), captchaAnswer: Type.Optional(CaptchaAnswer) };
const SmsBody = strictObject({ phone: Phone, ...OptionalCaptcha });
const AccountBody = strictObject({
  email: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
  phone: Type.Optional(Phone),
  smsCode: Type.Optional(Type.String({ minLength: 1, maxLength: 16 })),
  password: Password,
  ...OptionalCaptcha,
});
const SessionBody = strictObject({
  login: Type.String({ minLength: 1, maxLength: 254 }),
  password: Password,
  captchaId: CaptchaId,
  captchaAnswer: CaptchaAnswer,
});
const PhoneBody = strictObject({
  phone: Phone,
  smsCode: Type.String({ minLength: 1, maxLength: 16 }),
  // beyond API.md: needed to change a phone already bound to another number
  password: Type.Optional(Password),
});
const AgreementBody = strictObject({ accepted: Type.Literal(true) });

export function accountRoutes(services: Services): RouteDef[] {
  const { accounts, captchas, sms, sessions } = services.auth;
  const testMode = services.config.testMode;
  // SMS sends and sign-ups (issue 16 item 11): a captcha when the body brings one (checked and
  // consumed), else one counted against the address's captcha-free allowance, past which the
  // request changes nothing and answers 400 CAPTCHA_REQUIRED (a client solves GET /api/v1/captcha
  // and sends it again); a campus NAT's students solve one each, a script solves one per request
  const limiter = new RateLimiter(services.redis, services.config.namespace);
  const captchaFree: RateLimitRule = {
    name: 'captchaFree',
    limit: services.config.rateLimits.captchaFreePerIpPerHour,
    windowMs: 3_600_000,
    by: 'ip',
  };
  const captchaOrAllowance = async (
    body: { readonly captchaId?: string; readonly captchaAnswer?: string },
    ip: string,
  ): Promise<void> => {
    if (body.captchaId !== undefined || body.captchaAnswer !== undefined) {
      if (!(await captchas.verify(body.captchaId, body.captchaAnswer))) throw new ApiError('CAPTCHA_FAILED');
      return;
    }
    const verdict = await limiter.hit(captchaFree, ip);
    if (!verdict.allowed) {
      throw new ApiError('CAPTCHA_REQUIRED', { details: { retryAfterSeconds: verdict.retryAfterSeconds } });
    }
  };
  return [
    route({
      method: 'GET',
      path: '/api/v1/captcha',
      summary:
        'A captcha: an ALTCHA proof of work (find n ≤ maxnumber with SHA-256(salt + n) = challenge; send n as captchaAnswer); single-use',
      tags: ['accounts'],
      auth: 'none',
      rateLimits: ['login'],
      responses: {
        200: '{captchaId, image, challenge: {algorithm, challenge, salt, signature, maxnumber}} (+ testAnswer in TEST_MODE)',
        429: 'RATE_LIMITED',
      },
      handler: async () => ok(await captchas.issue({ includeAnswer: testMode })),
    }),
    route({
      method: 'POST',
      path: '/api/v1/sms-codes',
      summary: 'Send an SMS code to a mainland mobile number (R1)',
      tags: ['accounts'],
      auth: 'none',
      body: SmsBody,
      idempotent: true,
      rateLimits: ['sms'],
      responses: {
        200: '{sent: true} (+ testCode in TEST_MODE)',
        400: 'VALIDATION_FAILED, CAPTCHA_REQUIRED (past the address’s captcha-free allowance), CAPTCHA_FAILED',
        429: 'RATE_LIMITED',
      },
      handler: async (ctx) => {
        await captchaOrAllowance(ctx.body, ctx.ip);
        return ok(await sms.send(ctx.body.phone, { includeCode: testMode }));
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/accounts',
      summary: 'Create an account with an email, or a phone and its SMS code (R1)',
      tags: ['accounts'],
      auth: 'none',
      body: AccountBody,
      idempotent: true,
      rateLimits: ['register'],
      responses: {
        201: '{accountId, phoneBound}',
        400: 'VALIDATION_FAILED, WEAK_PASSWORD, SMS_CODE_INVALID, CAPTCHA_REQUIRED, CAPTCHA_FAILED',
        409: 'ACCOUNT_EXISTS',
      },
      handler: async (ctx) => {
        await captchaOrAllowance(ctx.body, ctx.ip);
        return created(await accounts.register(ctx.body));
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/sessions',
      summary: 'Log in with email or phone, password and captcha (R1)',
      tags: ['accounts'],
      auth: 'none',
      body: SessionBody,
      // a retry after a timeout gets the first answer instead of failing on the spent captcha;
      // the stored answer (it holds the token) is sealed under the key (gateway/http/idempotency.ts)
      idempotent: true,
      rateLimits: ['login'],
      responses: {
        200: '{token, accountId, phoneBound, expiresAt}',
        400: 'CAPTCHA_FAILED',
        401: 'INVALID_CREDENTIALS',
        429: 'RATE_LIMITED (rule login: per address; loginFailures: this login failed too often from this address)',
      },
      handler: async (ctx) => ok(await accounts.login(ctx.body, ctx.ip)),
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/sessions/current',
      summary: 'Log out (revoke this session)',
      tags: ['accounts'],
      auth: 'session',
      rateLimits: ['writes'],
      responses: { 204: 'logged out', 401: 'UNAUTHORIZED' },
      handler: async (ctx) => {
        await sessions.logout(/^Bearer\s+(\S+)$/i.exec(ctx.headers.authorization ?? '')?.[1]);
        return noContent();
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/accounts/me/phone',
      summary: 'Bind a mobile phone to the account (R1: required before registering)',
      tags: ['accounts'],
      auth: 'session',
      body: PhoneBody,
      idempotent: true,
      rateLimits: ['writes'],
      responses: {
        200: '{phoneBound: true}',
        400: 'SMS_CODE_INVALID',
        403: 'PASSWORD_REQUIRED (changing a bound phone: the password is missing or wrong)',
        409: 'PHONE_IN_USE',
        429: 'RATE_LIMITED (writes; loginFailures after wrong passwords)',
      },
      handler: async (ctx) =>
        ok(
          await accounts.bindPhone(
            ctx.accountId!,
            ctx.body.phone,
            ctx.body.smsCode,
            ctx.body.password,
            ctx.ip,
          ),
        ),
    }),
    route({
      method: 'POST',
      path: '/api/v1/agreement',
      summary: 'Accept the registration agreement (R2)',
      tags: ['accounts'],
      auth: 'session',
      body: AgreementBody,
      idempotent: true,
      rateLimits: ['writes'],
      responses: { 200: '{accepted: true}', 400: 'VALIDATION_FAILED' },
      handler: async (ctx) => {
        await accounts.acceptAgreement(ctx.accountId!);
        return ok({ accepted: true });
      },
    }),
  ];
}
