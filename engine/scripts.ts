/**
 * Loads the engine's Lua scripts (engine/lua/<verbNoun>-<numKeys>.lua) and registers them with
 * ioredis `defineCommand` under versioned names (`cet_v1_<verbNoun>`), so a deploy that changes a
 * script never runs against the previous version's SHA. `--@include name` lines pull in
 * engine/lua/includes/name.lua; `CODE.<NAME>` names a refusal code of engine/codes.ts (checked at load).
 * A script without a key count in its name takes the count as its first argument.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { ClientContext, Cluster, Redis, Result } from 'ioredis';
import { ENGINE_CODES } from './codes.ts';

export const SCRIPT_VERSION = 1;
const LUA_DIR = new URL('./lua/', import.meta.url);
const INCLUDE = /^--@include\s+([A-Za-z0-9_]+)\s*$/gm;
const SCRIPT_FILE = /^([A-Za-z]+)(?:-(\d+))?\.lua$/;

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
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

export interface LoadedScript {
  readonly name: ScriptName;
  readonly command: string;
  /** undefined: the caller passes the key count first. */
  readonly numberOfKeys: number | undefined;
  readonly lua: string;
  readonly sha1: string;
}

const CODE_REFERENCE = /\bCODE\.([A-Z_]+)\b/g;

/**
 * `CODE.SOLD_OUT` in a script becomes the literal 'SOLD_OUT' at load time, after checking that
 * the code exists in engine/codes.ts: a typo fails at start-up, and no table is built per call.
 */
function substituteCodes(file: string, lua: string): string {
  return lua.replace(CODE_REFERENCE, (_match, code: string) => {
    if (!Object.hasOwn(ENGINE_CODES, code)) throw new Error(`engine/lua/${file}: unknown engine code ${code}`);
    return `'${code}'`;
  });
}

function expandIncludes(source: string, seen: Set<string>): string {
  return source.replace(INCLUDE, (_line, include: string) => {
    if (seen.has(include)) return `-- (${include} already included)`;
    seen.add(include);
    const body = readFileSync(new URL(`includes/${include}.lua`, LUA_DIR), 'utf8');
    return `-- begin include ${include}\n${expandIncludes(body, seen)}\n-- end include ${include}`;
  });
}

let cache: Map<ScriptName, LoadedScript> | undefined;

/** Reads and assembles every script once per process. */
export function loadScripts(): Map<ScriptName, LoadedScript> {
  if (cache) return cache;
  const scripts = new Map<ScriptName, LoadedScript>();
  for (const file of readdirSync(LUA_DIR)) {
    const match = SCRIPT_FILE.exec(file);
    if (!match) continue;
    const name = match[1] as ScriptName;
    if (!SCRIPT_NAMES.includes(name)) throw new Error(`engine/lua/${file}: not in SCRIPT_NAMES`);
    const lua = substituteCodes(file, expandIncludes(readFileSync(new URL(file, LUA_DIR), 'utf8'), new Set()));
    scripts.set(name, {
      name,
      command: `cet_v${SCRIPT_VERSION}_${name}`,
      numberOfKeys: match[2] === undefined ? undefined : Number(match[2]),
      lua,
      sha1: createHash('sha1').update(lua).digest('hex'),
    });
  }
  for (const name of SCRIPT_NAMES) {
    if (!scripts.has(name)) throw new Error(`engine/lua: no script file for ${name}`);
  }
  cache = scripts;
  return scripts;
}

type Arg = string | number;
type ScriptCommand = (...args: Arg[]) => Promise<string>;

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
  }
}

export type EngineRedis = Redis | Cluster;

const defined = new WeakSet<object>();

/** Registers every script on a client (idempotent per client). */
export function defineEngineCommands(redis: EngineRedis): void {
  if (defined.has(redis)) return;
  for (const script of loadScripts().values()) {
    redis.defineCommand(script.command, {
      lua: script.lua,
      ...(script.numberOfKeys === undefined ? {} : { numberOfKeys: script.numberOfKeys }),
    });
  }
  defined.add(redis);
}

/** Calls a script by name with KEYS and ARGV; the key count is checked against the file name. */
export function callScript(
  redis: EngineRedis,
  name: ScriptName,
  keys: readonly string[],
  args: readonly Arg[],
): Promise<string> {
  const script = loadScripts().get(name);
  if (!script) throw new Error(`unknown script ${name}`);
  const command = (redis as unknown as Record<string, ScriptCommand>)[script.command];
  if (typeof command !== 'function') throw new Error(`script ${name} is not defined on this client`);
  if (script.numberOfKeys === undefined) {
    return command.call(redis, keys.length, ...keys, ...args) as Promise<string>;
  }
  if (keys.length !== script.numberOfKeys) {
    throw new Error(`script ${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  }
  return command.call(redis, ...keys, ...args) as Promise<string>;
}
