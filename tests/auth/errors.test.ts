/**
 * The gateway's error table: API.md's codes with their statuses, the engine's codes included from
 * engine/codes.ts (not repeated), and the catch-all mapping of anything thrown.
 */
import { describe, expect, it } from 'vitest';
import { ENGINE_CODES } from '../../engine/codes.ts';
import { API_CODES, ApiError, isApiCode, toApiError } from '../../gateway/errors.ts';
import { LaneOverloaded } from '../../gateway/workers/pool.ts';

describe('gateway error codes (R1, R2 and API.md)', () => {
  it('gives the statuses API.md fixes', () => {
    const expected: Record<string, number> = {
      VALIDATION_FAILED: 400,
      WEAK_PASSWORD: 400,
      SMS_CODE_INVALID: 400,
      CAPTCHA_FAILED: 400,
      INVALID_CREDENTIALS: 401,
      UNAUTHORIZED: 401,
      ACCOUNT_EXISTS: 409,
      PHONE_IN_USE: 409,
      PHONE_NOT_BOUND: 403,
      AGREEMENT_REQUIRED: 403,
      RATE_LIMITED: 429,
      OVERLOADED: 503,
      PAYLOAD_TOO_LARGE: 413,
      IDEMPOTENCY_KEY_REUSED: 422,
      IDEMPOTENCY_IN_PROGRESS: 409,
      SOLD_OUT: 409,
      REGISTRATION_NOT_OPEN: 403,
      REVIEW_NO_MATCH: 422,
    };
    for (const [code, status] of Object.entries(expected)) {
      expect(isApiCode(code), code).toBe(true);
      if (isApiCode(code)) expect(new ApiError(code).status, code).toBe(status);
    }
  });

  // that no gateway code repeats an engine code is the compiler's check (GatewayCodesDisjointFromEngine)
  it('answers every engine refusal with the engine’s status and message', () => {
    for (const [code, info] of Object.entries(ENGINE_CODES)) {
      expect(isApiCode(code), code).toBe(true);
      if (!isApiCode(code)) continue;
      const err = new ApiError(code);
      expect([err.status, err.toBody()], code).toEqual([
        info.status,
        { error: { code, message: info.message } },
      ]);
    }
  });

  it('takes only the table’s own names for codes, not what every object inherits', () => {
    for (const name of ['NOPE', 'sold_out', '', 'toString', 'constructor', '__proto__', 'hasOwnProperty'])
      expect(isApiCode(name), name).toBe(false);
    for (const value of [undefined, null, 409, { code: 'SOLD_OUT' }]) expect(isApiCode(value)).toBe(false);
  });

  it('renders the error body and carries Retry-After seconds', () => {
    const err = new ApiError('RATE_LIMITED', { details: { retryAfterSeconds: 42 } });
    expect(err.retryAfterSeconds).toBe(42);
    expect(err.toBody()).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: API_CODES.RATE_LIMITED.message,
        details: { retryAfterSeconds: 42 },
      },
    });
    expect(new ApiError('WEAK_PASSWORD').toBody()).toEqual({
      error: { code: 'WEAK_PASSWORD', message: API_CODES.WEAK_PASSWORD.message },
    });
  });

  it('maps anything thrown: refusals keep their code, a full worker queue is OVERLOADED, Redis failing over STORE_UNAVAILABLE, the rest 500', () => {
    const refusal = new ApiError('PHONE_IN_USE');
    expect(toApiError(refusal)).toBe(refusal);
    const shed = toApiError(new LaneOverloaded('password', 'deadline', 2));
    expect(shed).toMatchObject({ code: 'OVERLOADED', status: 503, retryAfterSeconds: 2 });
    // a Redis node gone or failing over: 503 with Retry-After, not 500
    const gone = Object.assign(new Error('Too many Cluster redirections'), { name: 'ClusterAllFailedError' });
    for (const failure of [
      gone,
      new Error('Connection is closed.'),
      new Error('CLUSTERDOWN The cluster is down'),
      new Error('Too many Cluster redirections. Last error: ReplyError: MOVED 3420 127.0.0.1:32883'),
    ]) {
      expect(toApiError(failure)).toMatchObject({
        code: 'STORE_UNAVAILABLE',
        status: 503,
        retryAfterSeconds: 2,
      });
    }
    expect(toApiError(new Error('ERR unknown command'))).toMatchObject({ code: 'INTERNAL_ERROR' });
    const internal = toApiError(new Error('connection string postgres://secret'));
    expect(internal).toMatchObject({ code: 'INTERNAL_ERROR', status: 500 });
    expect(JSON.stringify(internal.toBody())).not.toContain('secret');
  });
});
