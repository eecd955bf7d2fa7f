/**
 * Work-lane deadlines for tests that are not about shedding. The product's defaults (100 ms for a
 * candidate's KDF or eligibility task: config/defaults.ts) shed at once on a loaded two-core test
 * machine, where a few sign-ups at a time already wait that long for one KDF thread; a test that
 * is not about shedding must not meet that. Tests about the lanes (tests/gateway/lanes.test.ts,
 * overload.test.ts) set their own.
 */
import type { WorkerPoolOptions } from '../../gateway/workers/pool.ts';

const UNHURRIED_MS = 30_000;

/** For a WorkerPool built in a test. */
export const UNHURRIED_LANES: NonNullable<WorkerPoolOptions['lanes']> = {
  password: { deadlineMs: UNHURRIED_MS },
  eligibility: { deadlineMs: UNHURRIED_MS },
  roster: { deadlineMs: UNHURRIED_MS },
};

/** For a system started by a test (startTestGateway), before the test's own settings. */
export const UNHURRIED_LANE_ENV: NodeJS.ProcessEnv = {
  LANE_KDF_DEADLINE_MS: String(UNHURRIED_MS),
  LANE_ELIGIBILITY_DEADLINE_MS: String(UNHURRIED_MS),
  LANE_ROSTER_DEADLINE_MS: String(UNHURRIED_MS),
};
