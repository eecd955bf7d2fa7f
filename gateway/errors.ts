/**
 * Every error code the gateway answers, with its HTTP status and a human message: the engine's
 * domain refusals (engine/codes.ts, imported, never repeated) plus the gateway's own (accounts,
 * sessions, validation, admission control). API.md fixes the codes it names; add new ones here and
 * nowhere else. `ApiError` is the one error class services throw for an expected refusal; anything
 * else reaching the gateway's catch-all becomes INTERNAL_ERROR (500) through `toApiError`.
 * This module must never put personal data (phones, emails, ID numbers, codes) in a message.
 */
import { ENGINE_CODES, type EngineCode } from '../engine/codes.ts';
import { isRedisUnavailable } from '../engine/redisClient.ts';
import { ReplicationTimeoutError } from '../engine/replicaWait.ts';
import { LaneOverloaded } from './admission/lane.ts';

export interface CodeInfo {
  readonly status: number;
  readonly message: string;
}

/** The gateway's own codes; the engine's are merged in below. */
export const GATEWAY_CODES = {
  // request shape and transport
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  NOT_FOUND: { status: 404, message: 'No such resource' },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'This Idempotency-Key was already used with a different request body',
  },
  IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    message: 'The first request with this Idempotency-Key is still running',
  },
  // accounts and sessions (R1, R2)
  WEAK_PASSWORD: {
    status: 400,
    message: 'The password must be 8 to 128 characters long and contain both letters and digits',
  },
  SMS_CODE_INVALID: { status: 400, message: 'The SMS code is wrong, expired or already used' },
  CAPTCHA_FAILED: { status: 400, message: 'The captcha answer is wrong or expired; request a new captcha' },
  PASSWORD_REQUIRED: {
    status: 403,
    message: "Changing a bound phone needs the account's password (password), and it must be right",
  },
  CAPTCHA_REQUIRED: {
    status: 400,
    message:
      'This address has sent many requests: solve a captcha (GET /api/v1/captcha) and send captchaId and captchaAnswer',
  },
  INVALID_CREDENTIALS: { status: 401, message: 'Wrong login or password' },
  UNAUTHORIZED: { status: 401, message: 'Sign in first: the session is missing, expired or revoked' },
  ACCOUNT_EXISTS: { status: 409, message: 'An account with this email or phone already exists' },
  PHONE_IN_USE: { status: 409, message: 'This phone number is already bound to another account' },
  PHONE_NOT_BOUND: { status: 403, message: 'Bind a mobile phone to this account before registering' },
  AGREEMENT_REQUIRED: { status: 403, message: 'Accept the registration agreement before registering' },
  // eligibility and CET6 review (R3, R9–R14) not decided by the engine's scripts
  INVALID_ID_NUMBER: { status: 400, message: 'The ID number is not valid' },
  ID_TYPE_NOT_ACCEPTED: { status: 400, message: 'This type of identity document is not accepted' },
  CANDIDATE_NOT_FOUND: { status: 404, message: 'No candidate matches these identity details' },
  REVIEW_NOT_OFFERED: {
    status: 403,
    message: 'The CET6 eligibility review is not offered to this candidate',
  },
  REVIEW_NO_MATCH: { status: 422, message: 'No passing CET4 record matches this application' },
  // the waiting room (API.md "Waiting room"); its refusals decided in Redis are the engine's
  PROVINCE_NOT_FOUND: { status: 404, message: 'No such province' },
  DRAW_NOT_DONE: { status: 409, message: 'The opening’s draw has not been done yet' },
  NO_TICKET: { status: 404, message: 'This account holds no ticket in this province’s waiting room' },
  // payment provider notifications (R23)
  BAD_SIGNATURE: { status: 400, message: 'The notification signature is not valid' },
  // admission control and failures (RATE_LIMITED is the engine's: a hold's script counts a limit too)
  OVERLOADED: { status: 503, message: 'The service is busy; retry later' },
  // issue 14 item 3 (REDIS_WAIT_REPLICAS): the change may have been made; a retry with the same
  // Idempotency-Key answers it
  REPLICATION_TIMEOUT: {
    status: 503,
    message: 'The change was not confirmed by enough replicas in time; retry with the same Idempotency-Key',
  },
  // a Redis node gone or failing over (issue 14 item 3): nothing is known of the change; a retry
  // with the same Idempotency-Key is safe
  STORE_UNAVAILABLE: {
    status: 503,
    message: 'A data store is failing over; retry with the same Idempotency-Key',
  },
  INTERNAL_ERROR: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, CodeInfo>;

/** Fails to compile if a gateway code repeats an engine code (one definition per code). */
type AssertNever<T extends never> = T;
export type GatewayCodesDisjointFromEngine = AssertNever<Extract<keyof typeof GATEWAY_CODES, EngineCode>>;

/** The whole table the gateway answers from. */
export const API_CODES = { ...ENGINE_CODES, ...GATEWAY_CODES } as const satisfies Record<string, CodeInfo>;

export type GatewayCode = keyof typeof GATEWAY_CODES;
export type ApiCode = keyof typeof API_CODES;

export function isApiCode(value: unknown): value is ApiCode {
  return typeof value === 'string' && Object.hasOwn(API_CODES, value);
}

export type ErrorDetails = Readonly<Record<string, unknown>>;

export interface ErrorBody {
  readonly error: { readonly code: ApiCode; readonly message: string; readonly details?: ErrorDetails };
}

export interface ApiErrorOptions {
  /** Machine-readable context (field names, retryAfterSeconds); never personal data. */
  readonly details?: ErrorDetails;
  /** Overrides the table's message for this occurrence. */
  readonly message?: string;
  readonly cause?: unknown;
}

/** An expected refusal with a stable code; its status comes from the table, never from the thrower. */
export class ApiError extends Error {
  readonly code: ApiCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;

  constructor(code: ApiCode, options: ApiErrorOptions = {}) {
    const info: CodeInfo = API_CODES[code];
    // An expected refusal (4xx) is an answer, not a fault: no stack trace is captured for it. At
    // opening most reservations end in SOLD_OUT or ALREADY_REGISTERED, and capturing a stack costs
    // more than the rest of building the answer (README, "Measured figures", P2).
    const stackTraceLimit = Error.stackTraceLimit;
    if (info.status < 500) Error.stackTraceLimit = 0;
    super(
      options.message ?? info.message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'ApiError';
    this.code = code;
    this.status = info.status;
    this.details = options.details;
  }

  /** Seconds for a `Retry-After` header (RATE_LIMITED, OVERLOADED, REPLICATION_TIMEOUT, STORE_UNAVAILABLE), when the thrower knew them. */
  get retryAfterSeconds(): number | undefined {
    const value = this.details?.retryAfterSeconds;
    return typeof value === 'number' ? value : undefined;
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/** REPLICATION_TIMEOUT's Retry-After: Retry-After counts whole seconds, and a lagging replica catches up in less. */
const REPLICATION_RETRY_AFTER_SECONDS = 1;
/** STORE_UNAVAILABLE's: a failover takes a few seconds (the demo's promotion: 3-4 s after a kill -9). */
const STORE_RETRY_AFTER_SECONDS = 2;

/** What the gateway's catch-all answers for anything thrown: refusals keep their code. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof LaneOverloaded) {
    // a work lane refused it (gateway/workers/pool.ts): which lane, and when to come back
    return new ApiError('OVERLOADED', {
      details: { retryAfterSeconds: err.retryAfterSeconds, lane: err.lane },
      cause: err,
    });
  }
  if (err instanceof ReplicationTimeoutError) {
    // a replica lagging past REDIS_WAIT_TIMEOUT_MS, or a shard whose master has no replica left
    // after a failover: a second later is the earliest a retry can find it caught up
    return new ApiError('REPLICATION_TIMEOUT', {
      details: { retryAfterSeconds: REPLICATION_RETRY_AFTER_SECONDS },
      cause: err,
    });
  }
  if (isRedisUnavailable(err)) {
    // a master killed or failing over: its replica is promoted within the cluster's node timeout
    return new ApiError('STORE_UNAVAILABLE', {
      details: { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS },
      cause: err,
    });
  }
  return new ApiError('INTERNAL_ERROR', { cause: err });
}
