/**
 * The engine's Lua scripts (engine/lua/<verbNoun>-<numKeys>.lua, loaded by engine/luaScripts.ts),
 * registered with ioredis `defineCommand` under versioned names (`cet_v1_<verbNoun>`), so a deploy
 * that changes a script never runs against the previous version's SHA. `--@include name` lines pull
 * in engine/lua/includes/name.lua; `CODE.<NAME>` names a refusal code of engine/codes.ts (checked at
 * load). `expireDue-N.lua` takes its key count as its first argument.
 */
import type { ClientContext, Cluster, Redis, Result } from 'ioredis';
import { ENGINE_CODES } from './codes.ts';
import { ScriptSet, type LoadedScript as AnyLoadedScript, type ScriptArg } from './luaScripts.ts';
import type { ReplicaWait } from './replicaWait.ts';

export const SCRIPT_VERSION = 1;

export const SCRIPT_NAMES = [
  'claimAccount',
  'finalizeClaim',
  'releaseClaim',
  'resolveBind',
  'bindCandidate',
  'reserveWritten',
  'reserveOral',
  'cancelSubject',
  'createOrder',
  'confirmPayment',
  'expireDue',
  'submitReview',
  'editReview',
  'deleteReview',
  'decideReview',
  'upsertCampus',
  'setCalendar',
  'setupRoom',
  'joinQueue',
  'drawQueue',
  'tickQueue',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

export type LoadedScript = AnyLoadedScript<ScriptName>;

const CODE_REFERENCE = /\bCODE\.([A-Z_]+)\b/g;

/**
 * `CODE.SOLD_OUT` in a script becomes the literal 'SOLD_OUT' at load time, after checking that
 * the code exists in engine/codes.ts: a typo fails at start-up, and no table is built per call.
 */
function substituteCodes(file: string, lua: string): string {
  return lua.replace(CODE_REFERENCE, (_match, code: string) => {
    if (!Object.hasOwn(ENGINE_CODES, code))
      throw new Error(`engine/lua/${file}: unknown engine code ${code}`);
    return `'${code}'`;
  });
}

const ENGINE_SCRIPTS = new ScriptSet<ScriptName>({
  dir: new URL('./lua/', import.meta.url),
  prefix: 'cet',
  version: SCRIPT_VERSION,
  names: SCRIPT_NAMES,
  transform: substituteCodes,
});

/** Reads and assembles every script once per process. */
export function loadScripts(): Map<ScriptName, LoadedScript> {
  return ENGINE_SCRIPTS.scripts();
}

type Arg = ScriptArg;

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    cet_v1_claimAccount(...args: Arg[]): Result<string, Context>;
    cet_v1_finalizeClaim(...args: Arg[]): Result<string, Context>;
    cet_v1_releaseClaim(...args: Arg[]): Result<string, Context>;
    cet_v1_resolveBind(...args: Arg[]): Result<string, Context>;
    cet_v1_bindCandidate(...args: Arg[]): Result<string, Context>;
    cet_v1_reserveWritten(...args: Arg[]): Result<string, Context>;
    cet_v1_reserveOral(...args: Arg[]): Result<string, Context>;
    cet_v1_cancelSubject(...args: Arg[]): Result<string, Context>;
    cet_v1_createOrder(...args: Arg[]): Result<string, Context>;
    cet_v1_confirmPayment(...args: Arg[]): Result<string, Context>;
    cet_v1_expireDue(...args: Arg[]): Result<string, Context>;
    cet_v1_submitReview(...args: Arg[]): Result<string, Context>;
    cet_v1_editReview(...args: Arg[]): Result<string, Context>;
    cet_v1_deleteReview(...args: Arg[]): Result<string, Context>;
    cet_v1_decideReview(...args: Arg[]): Result<string, Context>;
    cet_v1_upsertCampus(...args: Arg[]): Result<string, Context>;
    cet_v1_setCalendar(...args: Arg[]): Result<string, Context>;
    cet_v1_setupRoom(...args: Arg[]): Result<string, Context>;
    cet_v1_joinQueue(...args: Arg[]): Result<string, Context>;
    cet_v1_drawQueue(...args: Arg[]): Result<string, Context>;
    cet_v1_tickQueue(...args: Arg[]): Result<string, Context>;
  }
}

export type EngineRedis = Redis | Cluster;

/** Registers every script on a client (idempotent per client). */
export function defineEngineCommands(redis: EngineRedis): void {
  ENGINE_SCRIPTS.define(redis);
}

/**
 * Calls a script by name with KEYS and ARGV; the key count is checked against the file name. Every
 * engine script may change state (after a refusal, which changes nothing, WAIT waits only for what
 * the connection wrote before), so `wait` applies to all of them (issue 14 item 3).
 */
export function callScript(
  redis: EngineRedis,
  name: ScriptName,
  keys: readonly string[],
  args: readonly Arg[],
  wait?: ReplicaWait,
): Promise<string> {
  return ENGINE_SCRIPTS.call(redis, name, keys, args, wait) as Promise<string>;
}
