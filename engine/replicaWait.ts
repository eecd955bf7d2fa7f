/**
 * REDIS_WAIT_REPLICAS (issue 14 item 3, P9): a script is answered only once N replicas have its
 * effect; fewer within the bound is ReplicationTimeoutError, never a silent success.
 *
 * WAIT counts the replicas that have every write its own connection sent before it, and blocks that
 * connection until it answers. One WAIT per script would therefore queue a node's scripts behind one
 * replica round trip each (`npm run bench:wait`: 14 % of the throughput without WAIT). So WAITs are
 * group commits: per client and per node, the scripts that arrive while a WAIT is out go together,
 * as one pipeline of their EVALSHAs closed by one WAIT, sent once the previous WAIT has answered;
 * that WAIT answers for all of them. A lone script goes at once, as a pipeline of two.
 *
 * EVALSHA, not the defined command: the command's own NOSCRIPT fallback would resend the script
 * alone, after the WAIT had answered for the earlier offset. A script that a batch could not run
 * (NOSCRIPT on a node that never saw it, a slot that moved) is run again alone (`callAndWait`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import { isCluster } from './redisClient.ts';

/** What a script call needs of its script (engine/luaScripts.ts's LoadedScript is one). */
export interface ReplicatedScript {
  readonly name: string;
  readonly lua: string;
  readonly sha1: string;
}

type ScriptArg = string | number;

/** The replicas a script's effect must reach (REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT_MS). */
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
/** Scripts in one group commit at most (one pipeline, one WAIT). */
const MAX_BATCH = 256;

type PipelineAnswer = [error: Error | null, result: unknown];

/** Whether a batch's failed script is worth running again alone. */
const retriable = (error: Error): boolean =>
  error.message.startsWith('NOSCRIPT') || CLUSTER_REDIRECTION.test(error.message);

/** What one WAIT answered, as the answer of a script it covered. */
function waited(
  script: ReplicatedScript,
  wait: ReplicaWait,
  [waitError, acknowledged]: PipelineAnswer,
  answer: unknown,
): unknown {
  if (waitError) throw new ReplicationTimeoutError(script.name, wait.replicas, null, { cause: waitError });
  if (Number(acknowledged) < wait.replicas) {
    throw new ReplicationTimeoutError(script.name, wait.replicas, Number(acknowledged));
  }
  return answer;
}

/** One script and its own WAIT, retried through NOSCRIPT and a Cluster's redirections. */
async function callAndWait(
  redis: Redis | Cluster,
  script: ReplicatedScript,
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
    return waited(script, wait, answers[1] ?? [new Error('no answer from WAIT'), null], answer);
  }
}

interface Pending {
  readonly script: ReplicatedScript;
  readonly keys: readonly string[];
  readonly args: readonly ScriptArg[];
  readonly resolve: (answer: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** The scripts of one client bound for one node, and whether a group commit is out. */
interface Group {
  readonly queue: Pending[];
  busy: boolean;
}

const groups = new WeakMap<Redis | Cluster, Map<string, Group>>();

/**
 * The node a script goes to, as far as the client knows: on a Cluster the master of its first
 * key's slot (every script's keys share one hash tag), or the slot itself before the slot map is
 * known; one group for a single Redis.
 */
function nodeOf(redis: Redis | Cluster, keys: readonly string[]): string {
  if (!isCluster(redis)) return '';
  const slot = calculateSlot(keys[0] ?? '');
  return redis.slots[slot]?.[0] ?? `slot ${slot}`;
}

/** Runs one group commit: the batch's scripts, then one WAIT for all of them. */
async function commit(redis: Redis | Cluster, batch: readonly Pending[], wait: ReplicaWait): Promise<void> {
  const alone = (call: Pending): void => {
    callAndWait(redis, call.script, call.keys, call.args, wait).then(call.resolve, call.reject);
  };
  const pipeline = redis.pipeline();
  for (const call of batch) {
    pipeline.evalsha(call.script.sha1, call.keys.length, ...call.keys, ...call.args);
  }
  pipeline.wait(wait.replicas, wait.timeoutMs);
  let answers: PipelineAnswer[];
  try {
    answers = (await pipeline.exec()) ?? [];
  } catch {
    // refused before anything ran (the slot map changed: its keys are no longer on one node)
    batch.forEach(alone);
    return;
  }
  const waitAnswer = answers[batch.length] ?? [new Error('no answer from WAIT'), null];
  batch.forEach((call, i) => {
    const [error, answer] = answers[i] ?? [new Error(`script ${call.script.name}: no answer`), null];
    if (error) {
      if (retriable(error)) alone(call);
      else call.reject(error);
      return;
    }
    try {
      call.resolve(waited(call.script, wait, waitAnswer, answer));
    } catch (timeout) {
      call.reject(timeout);
    }
  });
}

async function drain(redis: Redis | Cluster, group: Group, wait: ReplicaWait): Promise<void> {
  group.busy = true;
  try {
    while (group.queue.length > 0) await commit(redis, group.queue.splice(0, MAX_BATCH), wait);
  } finally {
    group.busy = false;
  }
}

/** A script answered once `wait.replicas` replicas have its effect: through its node's group commit. */
export function callReplicated(
  redis: Redis | Cluster,
  script: ReplicatedScript,
  keys: readonly string[],
  args: readonly ScriptArg[],
  wait: ReplicaWait,
): Promise<unknown> {
  let byNode = groups.get(redis);
  if (!byNode) groups.set(redis, (byNode = new Map<string, Group>()));
  const node = nodeOf(redis, keys);
  let group = byNode.get(node);
  if (!group) byNode.set(node, (group = { queue: [], busy: false }));
  const answered = new Promise<unknown>((resolve, reject) => {
    group.queue.push({ script, keys, args, resolve, reject });
  });
  if (!group.busy) void drain(redis, group, wait);
  return answered;
}
