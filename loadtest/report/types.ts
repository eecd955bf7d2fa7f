/**
 * The shape of a load-test run's `report.json` (written by the Node runner, read by the HTML
 * renderer and by the capacity plan). Plain data, no imports: k6 summaries and other tools may
 * produce it too. Times in the timeline are whole seconds from the start of the run; latencies in
 * milliseconds; rates per second.
 */

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** One second of the run. */
export interface TimelinePoint {
  /** Seconds since the start of the run (the second [t, t+1)). */
  readonly t: number;
  /** Candidates the profile asked to start in this second (open loop: never slowed down). */
  readonly offered: number;
  /** Candidates actually started in this second. */
  readonly started: number;
  /** HTTP requests answered in this second (any status). */
  readonly completed: number;
  /** Answers in this second that are failures (5xx, network errors, timeouts, unexpected 4xx). */
  readonly errors: number;
  /** Answers in this second shed by admission control (503 OVERLOADED / 429 RATE_LIMITED). */
  readonly shed: number;
  /** Answers in this second that sent the candidate to the waiting room (403 QUEUE_PASS_REQUIRED). */
  readonly queued?: number;
  /** p99 of the answers the gateway served in this second (neither shed nor sent to the queue). */
  readonly admittedP99Ms?: number | null;
  /** Admitted answers slower than 200 ms in this second, by step (absent when none). */
  readonly slowAdmitted?: Readonly<Record<string, number>>;
  /** Latency of the requests answered in this second (null when none). */
  readonly p50Ms: number | null;
  readonly p90Ms: number | null;
  readonly p99Ms: number | null;
  /** Requests in flight at the end of the second. */
  readonly inFlight: number;
  /** Dashboard staleness p99 of the seat updates received in this second (null when none). */
  readonly stalenessP99Ms: number | null;
  /** Writer lag sampled in this second: events not yet in PostgreSQL, and the oldest one's age. */
  readonly writerLagEvents: number | null;
  readonly writerLagMs: number | null;
  /**
   * The load generator's own event-loop delay in this second (ms, p99 and max; absent in reports
   * of older runs): an answer that arrived while the generator's loop was busy is timed late by up
   * to this much, so a second's latency is the system's plus at most this.
   */
  readonly generatorLoopDelayP99Ms?: number | null;
  readonly generatorLoopDelayMaxMs?: number | null;
}

/** Seats remaining over time, one series per campus × subject (sampled once a second). */
export interface SeatSeries {
  readonly campusId: string;
  readonly subject: string;
  readonly capacity: number;
  /** [t, remaining] pairs. */
  readonly points: readonly (readonly [number, number])[];
}

export interface InvariantVerdict {
  readonly ok: boolean;
  /** One line per violation (I1–I5, reconcile drift). */
  readonly violations: readonly string[];
  /** What was checked, e.g. {"I1": "campus×subject counters", "reconcile": "..."} → counts. */
  readonly checked: Readonly<Record<string, number>>;
}

/**
 * Measured throughputs the capacity plan multiplies. Each is what one unit sustained in this run
 * (or in a benchmark), with the p99 at which it was sustained.
 */
export interface MeasuredCapacity {
  /** Full-flow HTTP requests per second one gateway process (all its threads) answered. */
  readonly gatewayRequestsPerSec: number;
  /** CPU cores that gateway process had. */
  readonly gatewayCores: number;
  /** Engine (Lua) operations per second one Redis shard executed. */
  readonly redisOpsPerSec: number;
  /** Events per second one writer put into PostgreSQL. */
  readonly writerEventsPerSec: number;
  /** Logins (password KDF verifications) per second per core. */
  readonly loginsPerSecPerCore: number;
  /** HTTP requests one candidate makes over the whole flow (measured average). */
  readonly requestsPerCandidate: number;
  /** Engine operations one candidate causes (measured average). */
  readonly redisOpsPerCandidate: number;
  /** Events one candidate produces (measured average). */
  readonly eventsPerCandidate: number;
  /** p99 latency (ms) at which these rates were sustained. */
  readonly p99Ms: number;
}

/** One second of the queue keeper's loop (WaitingRoomReport.keeper). */
export interface KeeperSample {
  readonly t: number;
  readonly targetActive: number | null;
  readonly activeCandidates: number | null;
  readonly health: string | null;
  readonly limit: number | null;
  readonly inFlight: number | null;
}

/** The waiting room as the load generator saw it (API.md "Waiting room"; P7, P8). */
export interface WaitingRoomReport {
  readonly mode: string;
  readonly provinceCode: string;
  /** Sampled once a second from GET /api/v1/queue/{provinceCode}: [t, waiting, admittedPerMinute]. */
  readonly series: readonly (readonly [number, number, number])[];
  /**
   * The queue keeper's loop, sampled once a second from GET /api/v1/admin/stats: its target of
   * active candidates, the candidates holding a slot, the health it read from the gateway threads,
   * and their summed adaptive limit and requests in flight (engine/queueControl.ts). Absent in
   * reports written before it was sampled.
   */
  readonly keeper?: readonly KeeperSample[];
  readonly tickets: {
    readonly total: number;
    readonly prequeued: number;
    readonly joinedAfterOpening: number;
    readonly admitted: number;
    readonly abandoned: number;
    /** Watched over /ws/seats, or polled with GET /api/v1/queue/tickets/current. */
    readonly watched: number;
    readonly polled: number;
  };
  /** From the moment a ticket could be served (its join, or the opening for PREQUEUE) to its admission. */
  readonly waitS: LatencySummary;
  /** |ETA shown − actual wait left| ÷ actual, per ETA shown (P8: after the first minute). */
  readonly etaErrorPct: {
    readonly samples: number;
    readonly p50: number | null;
    readonly p90: number | null;
    /** The median signed error: positive when the ETAs said longer than the waits were. */
    readonly biasP50?: number | null;
    /** Which ETAs the figures cover: shown ≥ 60 s after the opening, or (too few of those) all. */
    readonly window: 'afterFirstMinute' | 'all';
  };
  /** Post-opening arrivals: admission order against arrival order (the line's own clock). */
  readonly order: {
    readonly passages: number;
    readonly inversions: number;
    readonly kendallTau: number | null;
  };
  readonly prequeue: {
    readonly tickets: number;
    readonly chiSquareP: number | null;
    readonly drawVerified: boolean;
  };
  /** Candidates seen waiting without a position after the opening (beyond the draw's grace). */
  readonly waitedWithoutPosition: number;
  readonly lotteryCommitment: string | null;
  readonly lotterySeed: string | null;
}

/** P7/P8's figures in one place (exactly these names: issue 12). */
export interface OpeningFigures {
  readonly admittedP99MaxPerSecondMs: number | null;
  readonly maxAnswerMs: number;
  readonly waitedWithoutPosition: number;
  readonly orderInversions: number;
  readonly etaErrorP90Pct: number | null;
  readonly prequeueChiSquareP: number | null;
}

export interface RunReport {
  readonly version: 1;
  /** 'engine' = this project's gateway; 'baseline' = the conventional implementation. */
  readonly target: 'engine' | 'baseline';
  readonly profile: string;
  readonly startedAt: string;
  readonly durationS: number;
  readonly options: Readonly<Record<string, string | number | boolean>>;
  readonly totals: {
    readonly candidatesOffered: number;
    readonly candidatesStarted: number;
    readonly candidatesFinished: number;
    readonly requests: number;
    readonly errors: number;
    readonly shed: number;
    /** Outcome of each candidate's walk: e.g. {"paid": 1200, "soldOut": 300, "abandoned": 80}. */
    readonly outcomes: Readonly<Record<string, number>>;
  };
  /** Whole-run latency, all requests and per step of the flow ("login", "written", ...); `admitted`
   *  leaves out the answers shed by admission control (503 / 429), `shed` is those alone (P7). */
  readonly latency: {
    readonly all: LatencySummary;
    readonly byStep: Readonly<Record<string, LatencySummary>>;
    readonly admitted?: LatencySummary;
    readonly shed?: LatencySummary;
  };
  /** Answers by status and error code, e.g. {"201": 900, "409 SOLD_OUT": 80, "network": 0}. */
  readonly answers: Readonly<Record<string, number>>;
  readonly timeline: readonly TimelinePoint[];
  readonly seats: readonly SeatSeries[];
  /** Seconds from the opening until every written seat of the province was taken (null: never). */
  readonly sellOutS: number | null;
  readonly dashboards: {
    readonly subscribers: number;
    readonly messages: number;
    readonly staleness: LatencySummary;
  };
  readonly writer: { readonly lagP99Ms: number | null; readonly lagMaxEvents: number | null };
  readonly measured: MeasuredCapacity;
  readonly invariants: InvariantVerdict;
  /** Runs with a waiting room (--waiting-room opening|auto). */
  readonly waitingRoom?: WaitingRoomReport;
  readonly opening?: OpeningFigures;
  /** Every write acknowledged to a candidate, read back after the run (runs that ask for it). */
  readonly acknowledged?: AcknowledgedCheck;
  /** A master killed mid-surge (`npm run demo:cluster`; issue 14 item 4, P9). */
  readonly failover?: FailoverFigures;
  /** Commands each Redis node processed during the run, per second (runs on a Redis Cluster). */
  readonly redisNodes?: readonly RedisNodeThroughput[];
  /** This run is one slice of a sharded run (`--shard i/n`, issue 15); absent: the whole run. */
  readonly shard?: ShardInfo;
  /** A merged run (`npm run report -- merge`): the shards it was merged from. */
  readonly mergedFrom?: readonly ShardInfo[];
  /** The run's HDR histograms and per-second counts, what a merge adds up (issue 15). */
  readonly histograms?: RunHistograms;
  /** The load generator's own footprint (P3): one entry per generator process. */
  readonly generators?: readonly GeneratorFigures[];
  /** Cumulative CPU-seconds per process tree, sampled during the run (/proc; Linux only). */
  readonly cpuSeries?: readonly CpuPoint[];
  /** The phases a planner reasons about (issue 15 item 3). */
  readonly phases?: readonly PhaseFigures[];
  /** What Redis's latency monitor saw during the run (loadtest/runner/redisStalls.ts). */
  readonly redisStalls?: RedisStalls;
}

/** One event of Redis's latency monitor: the worst of its second (e.g. `aof-fsync-always`). */
export interface RedisStall {
  /** Seconds from the start of the run to the second Redis stamped it with, as it ended (1 s resolution). */
  readonly atS: number;
  readonly node: string;
  readonly event: string;
  readonly ms: number;
}

export interface RedisStalls {
  /** The monitor's threshold during the run (ms): shorter stalls are not recorded. */
  readonly thresholdMs: number;
  readonly events: readonly RedisStall[];
}

/** One slice of a sharded run (loadtest/shard.ts). */
export interface ShardInfo {
  /** 1-based: this is shard `index` of `count`. */
  readonly index: number;
  readonly count: number;
  /** Candidates in this slice, and in the whole run. */
  readonly candidates: number;
  readonly totalCandidates: number;
  readonly seed: number;
  /** Wall-clock instant (epoch ms) of t = 0, the same for every shard of one run. */
  readonly zeroAtMs: number;
}

/**
 * HDR histograms (values in µs, hdr-histogram-js's compressed base64 encoding) and per-second
 * counts of a run: merged shard by shard, never by averaging percentiles.
 */
export interface RunHistograms {
  readonly all: string;
  readonly byStep: Readonly<Record<string, string>>;
  /** By how the answer counts: ok, refused, shed, queued, failed (recorder.ts AnswerKind). */
  readonly byKind: Readonly<Record<string, string>>;
  readonly staleness: string;
  /** How long a candidate due by the arrival curve waited for the generator to start it. */
  readonly startDelay: string;
  /** Per second of the run (index = t): all answers and the admitted ones; null: none. */
  readonly perSecond: readonly {
    readonly latency: string | null;
    readonly admitted: string | null;
  }[];
  /** Answers per second (index = t) of each step. */
  readonly stepSeconds: Readonly<Record<string, readonly number[]>>;
  /** Seats taken per second (index = t): written and oral holds answered 2xx. */
  readonly reservationSeconds: readonly number[];
}

/** One load generator process: what it held (heap + ArrayBuffers), measured every few seconds. */
export interface GeneratorFigures {
  readonly shard: number | null;
  readonly candidates: number;
  /** Before the world's candidates were loaded (after a full GC where --expose-gc allows). */
  readonly heapBaselineBytes: number;
  readonly heapPeakBytes: number;
  /** (peak − baseline) ÷ candidates: P3 allows 500. */
  readonly heapBytesPerCandidate: number;
  /** Candidates walking at once at most (the generator's cap), and the most that did. */
  readonly maxWalking: number;
  readonly walkingPeak: number;
  /** Candidates due by the curve but not yet started, at most (kept as a count, no state). */
  readonly backlogPeak: number;
  readonly startDelay: LatencySummary;
  /** How the heap was read. */
  readonly method: string;
}

/** Cumulative CPU-seconds per process tree at `t` seconds into the run. */
export interface CpuPoint {
  readonly t: number;
  readonly cpuSeconds: Readonly<Record<string, number>>;
}

export type PhaseName = 'preOpening' | 'openingMinute' | 'sellOut' | 'paymentTail';

/** One phase of the run: [fromS, toS) seconds from its start. */
export interface PhaseFigures {
  readonly name: PhaseName;
  readonly fromS: number;
  readonly toS: number;
  readonly requests: number;
  readonly reservations: number;
  readonly latency: LatencySummary;
  /** CPU-seconds per process tree in the phase (null: no CPU series). */
  readonly cpuSeconds: Readonly<Record<string, number>> | null;
  /** CPU µs per reservation by process tree (null: no series, or no reservation in the phase). */
  readonly cpuPerReservationUs: Readonly<Record<string, number>> | null;
}

/** What `AcknowledgedLedger.check` (loadtest/runner/acknowledged.ts) found. */
export interface AcknowledgedCheck {
  /** Acknowledged operations read back. */
  readonly checked: number;
  readonly lost: number;
  readonly lostByKind: Readonly<Record<'registration' | 'written' | 'oral' | 'payment', number>>;
  /** A few of the lost ones (subjects and ids only, no personal data). */
  readonly examples: readonly string[];
}

/** The failover block of `npm run demo:cluster` (issue 14 item 4: exactly these names, then ours). */
export interface FailoverFigures {
  /** When the master was killed (kill -9), ms after the surge started. */
  readonly killedAtMs: number;
  /** From the kill until the cluster answered with the replica promoted (every slot served), ms. */
  readonly promotedAfterMs: number | null;
  /** Acknowledged operations no longer there after the run (acknowledged.ts). */
  readonly acknowledgedLost: number;
  /** REDIS_WAIT_REPLICAS of the system under test. */
  readonly waitReplicas: number;
  /** From the kill until the killed node was back as the new master's replica, linked (ms). */
  readonly recoveredAfterMs: number | null;
  /** The node killed (host:port) and the replica that took its place. */
  readonly killedNode: string;
  readonly promotedNode: string | null;
}

export interface RedisNodeThroughput {
  /** host:port */
  readonly node: string;
  /** Its role at the end of the run ('gone' once killed). */
  readonly role: 'master' | 'replica' | 'gone';
  readonly commandsPerSec: number;
}
