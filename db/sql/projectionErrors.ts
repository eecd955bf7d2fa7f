/**
 * How a projection refuses an event (db/sql/projections.ts, queueProjections.ts); the writer
 * (db/writer.ts) retries the first kind and dead-letters the second.
 */

/**
 * What the event updates is not written yet: its creating event is held by another writer (or
 * committed by it after this one's UPDATE began), or it was dead-lettered. Retried, then deferred.
 */
export class MissingDependencyError extends Error {
  constructor(
    message: string,
    readonly eventIds: readonly string[],
    /**
     * What it waits for is on another stream (e.g. a re-bind's old binding, whose DELETED is in
     * another province's stream and may be in another writer lane): nothing pending on its own
     * stream tells whether it will come, so the writer waits a bounded number of deliveries.
     */
    readonly crossStream = false,
  ) {
    super(message);
    this.name = 'MissingDependencyError';
  }
}

/** A malformed event: never retried (it cannot get better). */
export class PoisonEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonEventError';
  }
}
