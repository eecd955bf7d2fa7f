/**
 * The Lua script loader the engine and the gateway share (BullMQ's convention): a folder of
 * `<verbNoun>-<numKeys>.lua` files, `-N` when the key count varies (the caller then passes it
 * first). Each script is registered with ioredis `defineCommand` under a versioned name,
 * `<prefix>_v<version>_<verbNoun>`, so a deploy that changes a script never runs against the
 * previous version's SHA; the key count comes from the file name, so nobody counts keys by hand,
 * and `call` checks every call against it. `--@include name` lines pull in `<folder>/includes/name.lua`.
 * A folder holds exactly the scripts its set names: a stray file or a missing one fails at load.
 * `call` with a `ReplicaWait` answers a script only once that many replicas have its effect
 * (engine/replicaWait.ts, issue 14 item 3), else ReplicationTimeoutError.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import { callReplicated, type ReplicaWait } from './replicaWait.ts';

export interface ScriptSetOptions<Name extends string> {
  /** The folder of scripts (a URL ending in `/`). */
  readonly dir: URL;
  /** Command names are `<prefix>_v<version>_<verbNoun>`. */
  readonly prefix: string;
  readonly version: number;
  /** Every script of the folder, by its `<verbNoun>`. */
  readonly names: readonly Name[];
  /** Rewrites a script once its includes are in (the engine substitutes its refusal codes). */
  readonly transform?: (file: string, lua: string) => string;
}

export interface LoadedScript<Name extends string = string> {
  readonly name: Name;
  readonly command: string;
  /** undefined (`-N`): the caller passes the key count first. */
  readonly numberOfKeys: number | undefined;
  readonly lua: string;
  readonly sha1: string;
}

export type ScriptArg = string | number;
type ScriptCommand = (...args: ScriptArg[]) => Promise<unknown>;

const SCRIPT_FILE = /^([A-Za-z]+)-(\d+|N)\.lua$/;
const INCLUDE = /^--@include\s+([A-Za-z0-9_]+)\s*$/gm;

function expandIncludes(dir: URL, source: string, seen: Set<string>): string {
  return source.replace(INCLUDE, (_line, include: string) => {
    if (seen.has(include)) return `-- (${include} already included)`;
    seen.add(include);
    const body = readFileSync(new URL(`includes/${include}.lua`, dir), 'utf8');
    return `-- begin include ${include}\n${expandIncludes(dir, body, seen)}\n-- end include ${include}`;
  });
}

/** One folder of scripts: read and assembled once per process, defined once per client. */
export class ScriptSet<Name extends string> {
  private loaded: Map<Name, LoadedScript<Name>> | undefined;
  private readonly defined = new WeakSet<object>();

  constructor(private readonly options: ScriptSetOptions<Name>) {}

  /** Every script of the set, by name. */
  scripts(): Map<Name, LoadedScript<Name>> {
    if (this.loaded) return this.loaded;
    const { dir, prefix, version, names, transform } = this.options;
    const folder = dir.pathname;
    const scripts = new Map<Name, LoadedScript<Name>>();
    for (const file of readdirSync(dir, { withFileTypes: true })) {
      if (!file.isFile() || !file.name.endsWith('.lua')) continue;
      const match = SCRIPT_FILE.exec(file.name);
      if (!match) throw new Error(`${folder}${file.name}: not named <verbNoun>-<numKeys|N>.lua`);
      const name = match[1] as Name;
      if (!names.includes(name)) throw new Error(`${folder}${file.name}: not one of the set's scripts`);
      if (scripts.has(name)) throw new Error(`${folder}: two files for ${name}`);
      const source = expandIncludes(dir, readFileSync(new URL(file.name, dir), 'utf8'), new Set());
      const lua = transform ? transform(file.name, source) : source;
      scripts.set(name, {
        name,
        command: `${prefix}_v${version}_${name}`,
        numberOfKeys: match[2] === 'N' ? undefined : Number(match[2]),
        lua,
        sha1: createHash('sha1').update(lua).digest('hex'),
      });
    }
    for (const name of names) {
      if (!scripts.has(name)) throw new Error(`${folder}: no script file for ${name}`);
    }
    this.loaded = scripts;
    return scripts;
  }

  /** Registers every script of the set on a client (idempotent per client). */
  define(redis: Redis | Cluster): void {
    if (this.defined.has(redis)) return;
    for (const script of this.scripts().values()) {
      redis.defineCommand(script.command, {
        lua: script.lua,
        ...(script.numberOfKeys === undefined ? {} : { numberOfKeys: script.numberOfKeys }),
      });
    }
    this.defined.add(redis);
  }

  /**
   * Calls a script by name with KEYS and ARGV; the key count is checked against the file name.
   * With `wait` (replicas > 0) the answer comes only once that many replicas have the script's
   * effect, else ReplicationTimeoutError; without it (or 0) nothing but the script is sent.
   */
  call(
    redis: Redis | Cluster,
    name: Name,
    keys: readonly string[],
    args: readonly ScriptArg[],
    wait?: ReplicaWait,
  ): Promise<unknown> {
    const script = this.scripts().get(name);
    if (!script) throw new Error(`unknown script ${name}`);
    if (script.numberOfKeys !== undefined && keys.length !== script.numberOfKeys) {
      throw new Error(`script ${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
    }
    if (wait !== undefined && wait.replicas > 0) return callReplicated(redis, script, keys, args, wait);
    const command = (redis as unknown as Record<string, ScriptCommand>)[script.command];
    if (typeof command !== 'function') throw new Error(`script ${name} is not defined on this client`);
    if (script.numberOfKeys === undefined) return command.call(redis, keys.length, ...keys, ...args);
    return command.call(redis, ...keys, ...args);
  }
}
