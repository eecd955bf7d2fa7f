/**
 * Every domain refusal the engine can answer, with its HTTP status and a human message: the one
 * table that Lua and TypeScript share (a script names a code as `CODE.SOLD_OUT`; engine/scripts.ts
 * checks the name and writes the literal when it loads the script).
 * Codes are API.md's where API.md names one; the others are extensions, documented there too.
 */

export const ENGINE_CODES = {
  // binding (R5–R8, I2)
  REGISTRATION_NOT_OPEN: { status: 403, message: 'Online registration has not opened yet for this province' },
  REGISTRATION_CLOSED: { status: 403, message: 'Online registration has closed for this province' },
  ACCOUNT_ALREADY_BOUND: { status: 409, message: 'This account is already bound to a candidate' },
  CANDIDATE_ALREADY_BOUND: { status: 409, message: 'This candidate is already bound to another account' },
  BIND_ABORTED: { status: 409, message: 'This binding attempt was abandoned; please retry' },
  NO_REGISTRATION: { status: 404, message: 'No saved registration for this account' },
  // subjects (R15–R22, I1, I3)
  NOT_ELIGIBLE: { status: 403, message: 'The candidate is not eligible for this subject' },
  ALREADY_REGISTERED: { status: 409, message: 'This subject is already registered' },
  SAME_LEVEL_TAKEN: { status: 409, message: 'Another subject of the same level is already registered' },
  SOLD_OUT: { status: 409, message: 'No seats left for this subject at this campus' },
  SUBJECT_NOT_OFFERED: { status: 409, message: 'This campus does not offer this subject' },
  CAMPUS_NOT_FOUND: { status: 404, message: 'No such campus in the candidate’s province' },
  CAMPUS_NOT_OPEN: {
    status: 403,
    message: 'Oral registration at this campus is not open for this candidate yet',
  },
  EXTERNAL_ORAL_NOT_ALLOWED: {
    status: 403,
    message: 'Students of this written campus must take the oral exam at their own campus',
  },
  WRITTEN_REQUIRED: {
    status: 409,
    message: 'Register the written subject of the same language and level first',
  },
  NOT_REGISTERED: { status: 404, message: 'This subject is not registered' },
  ALREADY_PAID: { status: 409, message: 'A paid subject cannot be cancelled' },
  // payment (R22, R23)
  NOTHING_TO_PAY: { status: 409, message: 'There is no unpaid subject to pay for' },
  ORDER_NOT_FOUND: { status: 404, message: 'No such payment order' },
  TOO_MANY_ORDERS: {
    status: 429,
    message: 'Too many payment orders opened in the last 12 hours: pay an open one, or retry later',
  },
  // CET6 review (R9–R12)
  REVIEW_EXISTS: { status: 409, message: 'This account already holds a CET6 review application' },
  REVIEW_APPROVED_FINAL: { status: 409, message: 'An approved CET6 review can no longer be changed' },
  REVIEW_PENDING: { status: 409, message: 'A pending CET6 review cannot be changed or withdrawn' },
  REVIEW_NOT_FOUND: { status: 404, message: 'No CET6 review application for this account' },
  REVIEW_NOT_PENDING: { status: 409, message: 'Only a pending CET6 review can be decided' },
  // waiting room (API.md "Waiting room")
  QUEUE_NOT_ACTIVE: { status: 409, message: 'The waiting room of this province is not open now' },
  QUEUE_PASS_REQUIRED: {
    status: 403,
    message: 'The waiting room is open: take a ticket and wait for your turn before registering',
  },
  DRAW_NOT_DUE: { status: 409, message: 'The waiting room is not drawing places now' },
  // a per-account limit a hold's script counts itself (issue 13, P2); the gateway's other rate
  // limits answer the same code
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry later' },
  // administration
  CAPACITY_BELOW_TAKEN: { status: 409, message: 'Capacity cannot be lowered below the seats already taken' },
} as const satisfies Record<string, { status: number; message: string }>;

export type EngineCode = keyof typeof ENGINE_CODES;

export function isEngineCode(value: unknown): value is EngineCode {
  return typeof value === 'string' && Object.hasOwn(ENGINE_CODES, value);
}

/** A refusal decided by a rule: expected, typed, never an exception. */
export interface Refusal<C extends EngineCode = EngineCode> {
  readonly ok: false;
  readonly code: C;
  readonly details?: Record<string, unknown>;
}

export type Outcome<T, C extends EngineCode> = ({ readonly ok: true } & T) | Refusal<C>;

/** Thrown only for broken assumptions (a script answered something the wrapper cannot read). */
export class EngineError extends Error {
  readonly code = 'ENGINE_ERROR';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
  }
}
