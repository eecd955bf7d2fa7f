/** The engine's public surface. */
export {
  Engine,
  HOUR_MS,
  provinceOfOrder,
  type CandidateRef,
  type EngineOptions,
  type HoldGuard,
} from './engine.ts';
export {
  bind,
  boundCandidate,
  readClaim,
  releaseClaim,
  parseClaim,
  type AccountClaim,
  type BindCode,
} from './binding.ts';
export { expireDue, type SweepResult, type ExpiredHold } from './expiry.ts';
export { submitReview, editReview, deleteReview, decideReview, accountOfReview } from './reviews.ts';
export {
  ENGINE_CODES,
  EngineError,
  isEngineCode,
  type EngineCode,
  type Outcome,
  type Refusal,
} from './codes.ts';
export { KeySpace, dueBucketOf } from './keys.ts';
export * from './views.ts';
export * from './subjects.ts';
export { decodeEvent, eventIdOf, type EngineEvent, type EventData, type EventType } from './events.ts';
export { EVENT_PAYLOADS, EVENT_TYPES, WRITER_GROUP, type EventPayload } from './outbox.ts';
