/**
 * The conventional baseline (node:http + PostgreSQL row locks, no Redis) that the load runner
 * drives beside the gateway to measure the speed ratio; see server.ts for what it serves and why.
 */
export { startBaseline, type BaselineOptions, type BaselineServer } from './server.ts';
export {
  BASELINE_FEES,
  migrateBaseline,
  seedBaseline,
  type BaselineSeed,
  type BaselineSeedOptions,
} from './seed.ts';
export { checkBaselineInvariants, type BaselineInvariantReport } from './invariants.ts';
