/**
 * The Lua script loader the engine and the gateway share (BullMQ's convention): a folder of
 * `<verbNoun>-<numKeys>.lua` files, `-N` when the key count varies (the caller then passes it
 * first). Each script is registered with ioredis `defineCommand` under a versioned name,
 * `<prefix>_v<version>_<verbNoun>`, so a deploy that changes a script never runs against the
 * previous version's SHA; the key count comes from the file name, so nobody counts keys by hand,
 * and `call` checks every call against it. `--@include name` lines pull in `<folder>/includes/name.lua`.
 * A folder holds exactly the scripts its set names: a stray file or a missing one fails at load.
 * `call` with a `ReplicaWait` follows the script with `WAIT` on the same connection (issue 14 item 3)
 * and never answers a script fewer replicas acknowledged than asked: ReplicationTimeoutError.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import { isCluster } from './redisClient.ts';

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

/** Issue 14 item 3 (REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT_MS): the replicas a script's effect must reach. */
export interface ReplicaWait {
  /** 0: no WAIT is sent (the call is exactly as without a ReplicaWait). */
  readonly replicas: number;
  /** WAIT's bound; never 0, which is WAIT's "for ever". */
  readonly timeoutMs: number;
}

/**
 * A script ran on its master, but fewer replicas than asked acknowledged it within the timeout: a
 * failover now could lose it, so it is no answer (the gateway: 503 REPLICATION_TIMEOUT with
 * Retry-After). Its effect may stand: a retry must be one the script answers safely again (a hold's
 * request tag, REL4; a confirmation's `duplicate`).
 */
export class ReplicationTimeoutError extends Error {
  readonly code = 'REPLICATION_TIMEOUT';
  constructor(
    readonly script: string,
    readonly wanted: number,
    /** What WAIT answered; null when WAIT itself failed (say the connection closed after the script). */
    readonly acknowledged: number | null,
    options?: ErrorOptions,
  ) {
    super(
      acknowledged === null
        ? `script ${script}: WAIT for ${wanted} replica(s) failed`
        : `script ${script}: ${acknowledged} of ${wanted} replica(s) acknowledged in time`,
      options,
    );
    this.name = 'ReplicationTimeoutError';
  }
}

/**
 * A Cluster's refusals before a script runs. ioredis retries a pipeline only when all its commands
 * failed alike or the others are read-only; WAIT is neither, so these come back to us, and we
 * retry as ioredis retries a lone command: the slot map refreshed, 100 ms apart (its
 * retryDelayOnClusterDown / OnTryAgain defaults), at most its maxRedirections (16) times.
 */
const CLUSTER_REDIRECTION = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;
const REDIRECTION_DELAY_MS = 100;
const MAX_REDIRECTIONS = 16;

type PipelineAnswer = [error: Error | null, result: unknown];

/**
 * The script and `WAIT` in one pipeline: ioredis writes a pipeline to one connection (on a Cluster,
 * the node of its keyed commands; WAIT has no key), so WAIT counts the replicas that have this
 * connection's writes up to the script's. EVALSHA, not the defined command: the command's own
 * NOSCRIPT fallback resends the script alone, after the WAIT has answered for the earlier offset.
 */
async function callAndWait(
  redis: Redis | Cluster,
  script: LoadedScript,
  keys: readonly string[],
  args: readonly ScriptArg[],
  wait: ReplicaWait,
): Promise<unknown> {
  let sendSource = false;
  let redirections = 0;
  for (;;) {
    const pipeline = redis.pipeline();
    if (sendSource) pipeline.eval(script.lua, keys.length, ...keys, ...args);
    else pipeline.evalsha(script.sha1, keys.length, ...keys, ...args);
    pipeline.wait(wait.replicas, wait.timeoutMs);
    const answers = ((await pipeline.exec()) ?? []) as PipelineAnswer[];
    const [scriptError, answer] = answers[0] ?? [new Error(`script ${script.name}: no answer`), null];
    if (scriptError) {
      if (!sendSource && scriptError.message.startsWith('NOSCRIPT')) {
        sendSource = true; // EVAL also caches it on that node: the next call's EVALSHA finds it
        continue;
      }
      if (
        isCluster(redis) &&
        CLUSTER_REDIRECTION.test(scriptError.message) &&
        redirections++ < MAX_REDIRECTIONS
      ) {
        await new Promise<void>((resolve) => redis.refreshSlotsCache(() => resolve()));
        await sleep(REDIRECTION_DELAY_MS);
        continue;
      }
      throw scriptError;
    }
    const [waitError, acknowledged] = answers[1] ?? [new Error('no answer from WAIT'), null];
    if (waitError) throw new ReplicationTimeoutError(script.name, wait.replicas, null, { cause: waitError });
    if (Number(acknowledged) < wait.replicas) {
      throw new ReplicationTimeoutError(script.name, wait.replicas, Number(acknowledged));
    }
    return answer;
  }
}

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
    if (wait !== undefined && wait.replicas > 0) return callAndWait(redis, script, keys, args, wait);
    const command = (redis as unknown as Record<string, ScriptCommand>)[script.command];
    if (typeof command !== 'function') throw new Error(`script ${name} is not defined on this client`);
    if (script.numberOfKeys === undefined) return command.call(redis, keys.length, ...keys, ...args);
    return command.call(redis, ...keys, ...args);
  }
}
