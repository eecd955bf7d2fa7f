/**
 * Every default setting of the product and its tools, in one place: the configuration schema
 * (config/schema.ts) takes its defaults from here, and so do the library classes that keep a safe
 * default for callers that pass none (the engine, the writer, sessions, the worker pool). Plain
 * values only: this module imports nothing of the project and reads no environment.
 */
import { availableParallelism } from 'node:os';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

export const DEFAULTS = {
  port: 8080,
  host: '0.0.0.0',
  namespace: 'cet',
  logLevel: 'info',
  /** API.md "Running it": refuse a Redis that could lose or evict an acknowledged write. */
  redisDurability: 'strict' as 'strict' | 'relaxed',
  /**
   * Issue 14 item 3: every state-changing engine script is answered only after a `WAIT replicas
   * timeoutMs` on its connection (one WAIT per group of scripts: engine/replicaWait.ts), and fewer
   * acknowledgements fail the call (503 REPLICATION_TIMEOUT) instead of answering it. 0 replicas: no
   * WAIT is sent, the hot path pays nothing. The timeout bounds what a candidate waits while a
   * replica lags; the answer is retryable with its Idempotency-Key.
   */
  redisWait: { replicas: 0, timeoutMs: 500 },
  maxBodyBytes: 16 * 1024,
  /**
   * Proxies whose X-Forwarded-For is believed (comma-separated addresses or CIDRs): none, so the
   * socket's address is the client (gateway/http/clientAddress.ts; issue 16 item 10).
   */
  trustedProxies: '',
  /** The most requests in flight per app thread: the adaptive limit's ceiling (or the limit, static). */
  maxInFlight: 4096,
  admission: {
    adaptive: true,
    initialLimit: 64,
    minLimit: 8,
    // P7 allows an admitted p99 of 200 ms; the loop aims well below it, with room for the client's
    // side. 70 against 100, 6 demo runs each alternating on 2026-12-08 (README, "Notes: P7 and P8
    // in the demo"): P7's every-second bound in 6 of 6 runs against 2 of 6, for a slower sell-out
    // (23–33 s after the opening against 15–23 s) and more answers shed
    targetP99Ms: 70,
    timeoutMs: 1_000,
  },
  // an admitted candidate's slot lasts 15 s after its last gated write (its pass stays valid longer)
  queue: { idleMs: 15_000, tickMs: 250, initialActive: 100, drainGraceMs: 10_000, paceSlackPct: 50 },
  /** The work lanes of the worker pool; the KDF lane's threads depend on the cores: `defaultLaneThreads`. */
  lanes: {
    // a candidate's task waits at most 50 ms for the KDF, 100 ms for eligibility: a served login
    // (its wait, then a hash of tens of ms on a busy box) must stay within P7's 200 ms, and an
    // answer shed at once (with Retry-After) beats one served late
    // its threads may run at a lower priority (nice, LANE_KDF_NICE); 0 by default: nice 10 in the
    // demo, 3 runs each alternating (2026-12-07), gave no steadier opening (worst second 498 / 210 /
    // 215 ms against 242 / 231 / 189 ms, ETA error p90 118 / 150 / 75 % against 68 / 80 / 73 %)
    password: { deadlineMs: 50, maxQueue: 512, nice: 0, budgetMs: 0 },
    eligibility: { threads: 1, deadlineMs: 100, maxQueue: 512 },
    // a roster chunk may wait longer: an import is not an interactive request
    roster: { threads: 1, deadlineMs: 30_000, maxQueue: 512 },
  },
  sessionTtlMs: 2 * HOUR_MS,
  /**
   * How long a gateway thread answers a session it found live from memory (gateway/auth/
   * sessionCache.ts; issue 13, P2), never past the session's expiry; 0: never. A logout reaches the
   * other threads by pub/sub at once; this is the worst case when a message is lost.
   */
  sessionCacheMs: 10_000,
  /**
   * The login captcha's proof of work (gateway/auth/captcha.ts): the secret number is drawn from
   * 0…this, so a browser hashes half of it on average, about 0.05–0.5 s (ALTCHA's own range).
   */
  captchaMaxNumber: 100_000,
  /**
   * Failed logins per login and client address (gateway/auth/loginFailures.ts; issue 16 item 1):
   * `freeFailures` pass, then each next attempt waits `backoffBaseMs` doubled per failure, at most
   * `backoffCapMs`. Past `accountAlarm` failures of one login from every address within
   * `accountWindowMs`, an address that failed at all waits from its first failure.
   */
  loginFailures: {
    freeFailures: 5,
    backoffBaseMs: 1_000,
    backoffCapMs: 15 * MINUTE_MS,
    addressWindowMs: HOUR_MS,
    accountAlarm: 100,
    accountWindowMs: HOUR_MS,
  },
  /** Live sessions per account: a new login revokes the oldest beyond it (gateway/auth/sessions.ts). */
  maxLiveSessionsPerAccount: 20,
  /** How long an Idempotency-Key's answer is kept: a success a day, a refusal (4xx) minutes. */
  idempotency: { retainMs: 24 * HOUR_MS, refusalRetainMs: 10 * MINUTE_MS },
  /** GET /readyz fails from this share of Redis's maxmemory: with noeviction a full Redis refuses every write. */
  redisMemoryAlarmRatio: 0.9,
  /** R22: how long a held subject waits for payment. */
  holdMs: 12 * HOUR_MS,
  /** R8: how long a saved registration may stay without any subject. */
  emptyMs: 12 * HOUR_MS,
  wsCoalesceMs: 250,
  wsMaxBackpressure: 256 * 1024,
  // WebSockets per app thread, in all and per client address (a campus NAT is one address: its
  // students watching their tickets need room; a script opening sockets by the thousand does not)
  wsMaxConnections: 50_000,
  wsMaxPerAddress: 1_000,
  rateLimits: {
    loginPerIpPerMinute: 600,
    smsPerIpPerMinute: 120,
    reservePerAccountPerMinute: 60,
    registerPerIpPerMinute: 600,
    // SMS sends and sign-ups an address may make per hour without a captcha (issue 16 item 11);
    // past it each needs one (400 CAPTCHA_REQUIRED), as a login always does
    captchaFreePerIpPerHour: 10,
    // the eligibility query answers a school record for a name and an ID number: a person needs a
    // few tries, a program guessing birth dates and counties needs thousands (issue 16 item 4)
    lookupPerAccountPerMinute: 10,
    lookupPerIpPerMinute: 600,
    // wrong admin tokens per client address and app thread, before it must wait
    adminFailuresPerIpPerMinute: 10,
    // every other state-changing candidate call (agreement, phone, logout, registration,
    // cancellations, CET6 review, queue tickets) shares one allowance per account, far above a
    // person's (who makes each about once) and far below a script's (issue 16 item 2)
    writesPerAccountPerMinute: 60,
    // payment orders: each is kept in Redis, and a person opens one or two
    ordersPerAccountPerMinute: 10,
  },
  /** The payment secret in TEST_MODE (outside it, a random one unless PAYMENT_SECRET is set). */
  testModePaymentSecret: 'test-mode-payment-secret',
  sweepIntervalMs: 250,
  // `npm start` runs the writer and the sweeper beside the gateway unless told they run elsewhere
  // (`npm run writer` / `npm run sweeper` on other hosts: both are stateless and scale out)
  startWriter: true,
  startSweeper: true,
  writer: {
    // '' means host-pid, chosen by the process that runs the writer
    consumer: '',
    insertWith: 'unnest',
    batchSize: 1000,
    lanes: 1,
    claimIdleMs: 30_000,
    claimIntervalMs: 5_000,
    maxAttempts: 3,
    /**
     * On a Redis Cluster a writer cannot block on every stream in one read (XREADGROUP names the
     * streams of one slot only, and each shard's stream has a slot of its own): it reads each
     * stream without blocking and, when none had anything, waits this long before the next round
     * (db/writer.ts; issue 14). At most this much more lag, about 20 reads a second per stream idle.
     */
    clusterPollMs: 50,
    /** Acknowledged entries younger than this stay in the stream (for reconcile and inspection). */
    retainMs: 10 * MINUTE_MS,
  },
  /** `npm run baseline` (the conventional baseline); its workers default to the cores. */
  baseline: { port: 8090, host: '127.0.0.1', poolSize: 20 },
  /** scripts/k6-fixtures.ts: the gateway it prepares. */
  k6Fixtures: { baseUrl: 'http://127.0.0.1:8080' },
} as const;

/** The gateway's app threads: one per core. */
export function defaultThreads(cores = availableParallelism()): number {
  return cores;
}

/** Each lane's threads: the KDF leaves a core to the event loops (P7: a login storm must not starve them). */
export function defaultLaneThreads(cores = availableParallelism()): {
  password: number;
  eligibility: number;
  roster: number;
} {
  return {
    password: Math.max(1, cores - 1),
    eligibility: DEFAULTS.lanes.eligibility.threads,
    roster: DEFAULTS.lanes.roster.threads,
  };
}
