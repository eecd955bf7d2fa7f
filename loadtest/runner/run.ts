/**
 * One surge against a running system (the gateway in TEST_MODE, with its Redis and PostgreSQL), in
 * named steps: prepares the province (loadtest/runner/world.ts), attaches the dashboards, starts
 * the clock and the samplers (seats and writer lag once a second), then starts simulated candidates
 * at the profile's arrival rate — open loop: the schedule never waits for the server — each walking
 * the flow (flow.ts), prints a progress line, waits for the stragglers, judges the run (verdict.ts)
 * and returns the report (surgeReport.ts). With a waiting room (`waitingRoom`), the province's room
 * is set up through the admin API before the first arrival, candidates wait for their turn in it
 * (queue.ts), and the report gains its section and the opening's figures (P7, P8). Its own
 * connection to Redis is a single node or a Redis Cluster (`redisClusterNodes`, issue 14), the same
 * as the system's.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Engine } from '../../engine/engine.ts';
import { PROVINCE_CODES } from '../../engine/provinces.ts';
import { isCluster, masterNodes, openRedis, type RedisClient } from '../../engine/redisClient.ts';
import { readNodeStats, type RedisNodeStats } from '../../engine/redisDurability.ts';
import { createPool, type Pool } from '../../db/pool.ts';
import { DrivenClock } from '../../gateway/clock.ts';
import { clockKey } from '../../gateway/services.ts';
import {
  OPENS_AT_S,
  defaultMix,
  durationOf,
  peakRate,
  pickBehaviour,
  profileTotal,
  profiles,
  scaleProfile,
  totalArrivals,
  type BehaviourMix,
  type ProfileName,
  type SurgeProfile,
} from '../profiles.ts';
import type { FailoverFigures, RedisNodeThroughput, RunReport } from '../report/types.ts';
import { AcknowledgedLedger } from './acknowledged.ts';
import { SurgeClient } from './client.ts';
import { connectDashboards, type Dashboards } from './dashboards.ts';
import { walkCandidate, type FlowContext } from './flow.ts';
import { QueueLog, type QueueContext } from './queue.ts';
import { drawOrder, commitmentOf } from '../../engine/queueDraw.ts';
import type { WaitingRoomReport } from '../report/types.ts';
import { RunRecorder } from './recorder.ts';
import { RedisStallWatch } from './redisStalls.ts';
import { judgeRun } from './verdict.ts';
import {
  commandsProcessed,
  plantOversell,
  progressTicker,
  sampleSeatsAndLag,
  streamLengths,
  type ProgressTick,
  type Samplers,
} from './probes.ts';
import { surgeReport } from './surgeReport.ts';
import { prepareSurgeWorld, SURGE_PASSWORD, type SurgeWorld } from './world.ts';
import { candidateSeed, globalIndex, shardDue, xorshift } from '../shard.ts';
import { phasesOf } from '../report/phases.ts';
import type { CpuPoint, GeneratorFigures } from '../report/types.ts';
import { CpuSeries, HeapWatch } from './footprint.ts';

/** Engine time at which the surge's province opens (an autumn registration). */
export const SURGE_OPENS_AT = Date.UTC(2026, 8, 1, 1, 0, 0);

export interface SurgeOptions {
  readonly base: string;
  /**
   * More gateways of the same system (other `npm start` processes on the same stores; issue 14
   * item 2): the candidates' requests take `base` and these in turn. The dashboards, the waiting
   * room's WebSockets and the operators' calls stay on `base`, so a dashboard there sees the seats
   * taken through the others.
   */
  readonly otherBases?: readonly string[];
  readonly redisUrl: string;
  /** The system's Redis Cluster (REDIS_CLUSTER_NODES), when it runs on one; `redisUrl` is then ignored. */
  readonly redisClusterNodes?: string;
  readonly databaseUrl: string;
  readonly namespace: string;
  readonly adminToken: string;
  readonly profile: ProfileName;
  readonly candidates: number;
  /** Length of the run: the profile is stretched or compressed to it. */
  readonly durationS: number;
  readonly dashboards: number;
  /** What each dashboard watches: the whole province (default) or one campus (round robin). */
  readonly dashboardScope?: 'province' | 'campus';
  readonly connections: number;
  readonly seed: number;
  readonly preseededSessions: boolean;
  readonly oralShare: number;
  readonly mix?: BehaviourMix;
  /** Gateway app threads and worker-pool threads (for the per-unit figures). */
  readonly gatewayThreads: number;
  readonly poolThreads: number;
  /** Test-only fault: after the surge, make one campus × subject oversold in Redis. */
  readonly plantOversell?: boolean;
  /**
   * After the profile ends, how long the run waits for its candidates still walking while none of
   * them finishes (default 120 s): a line that moves slowly is waited for, a stuck one is not.
   */
  readonly straggleTimeoutS?: number;
  /** The province's waiting room for the run (API.md "Waiting room"); default off. */
  readonly waitingRoom?: 'off' | 'opening' | 'auto';
  /**
   * Read every write acknowledged to a candidate back after the run (acknowledged.ts): the
   * report's `acknowledged` section. Implied by `fault`.
   */
  readonly checkAcknowledged?: boolean;
  /**
   * A fault injected mid-surge (`npm run demo:cluster` kills a Redis master): `inject` starts
   * `atS` seconds into the run, beside the arrivals, and resolves to the failover's figures; the
   * report's `failover` block is those plus the acknowledged operations lost.
   */
  readonly fault?: {
    readonly atS: number;
    /** `startedPerf`: performance.now() at the run's start; `provinceCode`: the surge's province. */
    inject(run: {
      readonly startedPerf: number;
      readonly provinceCode: string;
    }): Promise<Omit<FailoverFigures, 'acknowledgedLost'>>;
  };
  readonly progress?: (line: string) => void;
  /**
   * Candidates walking at once at most (issue 15): those due beyond it wait as a count (no state)
   * until one finishes, their wait recorded as the start delay. Candidates waiting for the opening
   * or in the waiting room do not count (they hold no request; walking and parked together stay
   * under PARKED_BOUND × the cap). One waiting out a Retry-After does count: parking those too let
   * 4 × as many walk, and the gateway shed twice as many answers for the same candidates started
   * per second (bench:harness, 2026-12-07). Default: 4 × connections, or no cap with a waiting
   * room (whose watchers each hold a socket, as a browser does).
   */
  readonly maxWalking?: number;
  /**
   * Test and bench knob: stop starting candidates this many seconds in (a partial run: the ones
   * never started are a violation of the run, said as such).
   */
  readonly stopStartingAfterS?: number;
  /** Process trees whose CPU the report follows (/proc), e.g. { system: pid, redis: pid }. */
  readonly cpuRoots?: Readonly<Record<string, number>>;
  /** Key of the preseeded sessions' secrets (world.ts); random when not given. */
  readonly sessionKey?: Buffer;
}

/** The profile stretched to `durationS` and scaled so that its arrivals add up to `candidates`. */
export function surgeProfile(name: ProfileName, candidates: number, durationS: number): SurgeProfile {
  const shaped = scaleProfile(profiles[name], { durationS });
  const total = profileTotal(shaped);
  return scaleProfile(shaped, { peakRate: (peakRate(shaped) * candidates) / total });
}

/** Seconds into the run at which registration opens (the profile's OPENS_AT_S, scaled). */
export function openingOffsetS(name: ProfileName, durationS: number): number {
  return (OPENS_AT_S[name] * durationS) / durationOf(profiles[name]);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Say = (line: string) => void;

/** The run's own connections to the system's stores. */
export interface Stores {
  readonly redis: RedisClient;
  readonly engine: Engine;
  readonly db: Pool;
}

/** What the surge runs on: the scaled profile, when registration opens, the province's world. */
export interface Prepared {
  readonly profile: SurgeProfile;
  readonly openingS: number;
  readonly world: SurgeWorld;
}

/** Engine time as this process sees it: wall time plus the driven clock's offset (set at the start). */
export interface EngineTime {
  offsetMs: number;
}

/** The recorder of the run, once it exists: dashboards connect (and may measure) before it does. */
export interface RecorderRef {
  recorder: RunRecorder | null;
}

/** The run under way: its start, its recorder, its HTTP client and the flow's shared context. */
export interface Started {
  readonly startedPerf: number;
  readonly startedAt: string;
  readonly recorder: RunRecorder;
  readonly client: SurgeClient;
  readonly ctx: FlowContext;
  readonly random: () => number;
  readonly flowViolations: string[];
  /** What the candidates saw of the waiting room (when the run has one). */
  readonly queueLog: QueueLog | null;
  readonly acknowledged: AcknowledgedLedger | null;
  /** Candidates parked (waiting for the opening or in the line): they do not count as walking. */
  readonly parked: { count: number };
}

/** Step 1: the profile scaled to the run, and the province's world in PostgreSQL and Redis. */
export async function prepare(options: SurgeOptions, stores: Stores, say: Say): Promise<Prepared> {
  const profile = surgeProfile(options.profile, options.candidates, options.durationS);
  const openingS = openingOffsetS(options.profile, options.durationS);
  const world = await prepareSurgeWorld({
    redis: stores.redis,
    engine: stores.engine,
    db: stores.db,
    namespace: options.namespace,
    candidates: options.candidates,
    seed: options.seed,
    opensAtMs: SURGE_OPENS_AT,
    preseededSessions: options.preseededSessions,
    sessionKey: options.sessionKey ?? randomBytes(32),
    log: say,
  });
  return { profile, openingS, world };
}

/**
 * Step 1b: a warm-up before the clock starts, as a real system is warm at its opening: a few
 * captchas, logins (the KDF lane's first hashes), eligibility queries (the pool's first lookups)
 * and room reads, through every app thread of every gateway; nothing of it is recorded. The
 * candidates used log in again in the surge (a second session of theirs changes nothing).
 */
export async function warmUp(options: SurgeOptions, world: SurgeWorld): Promise<void> {
  for (const base of [options.base, ...(options.otherBases ?? [])]) await warmUpGateway(base, world);
}

async function warmUpGateway(base: string, world: SurgeWorld): Promise<void> {
  const json = async (path: string, init?: RequestInit): Promise<Record<string, unknown> | null> => {
    const answer = await fetch(`${base}${path}`, init);
    return answer.ok ? ((await answer.json()) as Record<string, unknown>) : null;
  };
  const count = Math.min(8, world.count);
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const candidate = world.candidate(i);
      const captcha = await json('/api/v1/captcha');
      const session = await json('/api/v1/sessions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          login: candidate.phone,
          password: SURGE_PASSWORD,
          captchaId: captcha?.captchaId,
          captchaAnswer: captcha?.testAnswer,
        }),
      });
      const token = typeof session?.token === 'string' ? session.token : candidate.token;
      if (!token) return;
      const { idType, idNumber, name } = candidate.entry;
      await json('/api/v1/eligibility/query', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ idType, idNumber, name }),
      });
      await json(`/api/v1/queue/${world.provinceCode}`);
      await json(`/api/v1/seats?province=${world.provinceCode}`);
    }),
  );
}

/** Step 2: the dashboards' WebSocket subscribers (none when not asked for). */
export async function attachDashboards(
  options: SurgeOptions,
  world: SurgeWorld,
  time: EngineTime,
  recorderRef: RecorderRef,
  say: Say,
): Promise<Dashboards | null> {
  if (options.dashboards <= 0) return null;
  const preRecorder = new RunRecorder(performance.now());
  const dashboards = await connectDashboards({
    url: `${options.base.replace(/^http/, 'ws')}/ws/seats`,
    count: options.dashboards,
    provinceCode: world.provinceCode,
    ...(options.dashboardScope === 'campus'
      ? {
          topicsOf: (i: number) => [
            `campus:${world.world.campuses[i % world.world.campuses.length]!.campusId}`,
          ],
        }
      : {}),
    engineNow: () => Date.now() + time.offsetMs,
    recorder: {
      staleness: (ms: number) => (recorderRef.recorder ?? preRecorder).staleness(ms),
    } as RunRecorder,
  });
  say(`dashboards: ${dashboards.connected} of ${options.dashboards} connected`);
  return dashboards;
}

/**
 * Step 3: the start. The driven clock is set so that engine time reaches the opening `openingS`
 * seconds into the run; the recorder, the client and the flow context start with it.
 */
export async function start(
  options: SurgeOptions,
  stores: Stores,
  prepared: Prepared,
  time: EngineTime,
  recorderRef: RecorderRef,
): Promise<Started> {
  const clock = new DrivenClock(stores.redis, clockKey(options.namespace));
  const startedPerf = performance.now();
  await clock.set({ nowMs: SURGE_OPENS_AT - Math.round(prepared.openingS * 1000) });
  time.offsetMs = Number((await stores.redis.get(clockKey(options.namespace))) ?? 0);
  return startedRun(options, prepared, time, recorderRef, startedPerf);
}

/** The recorder, the client and the flow's context of a run whose t = 0 is `startedPerf`. */
export function startedRun(
  options: Pick<
    SurgeOptions,
    | 'base'
    | 'otherBases'
    | 'connections'
    | 'seed'
    | 'waitingRoom'
    | 'durationS'
    | 'straggleTimeoutS'
    | 'checkAcknowledged'
    | 'fault'
    | 'oralShare'
  >,
  prepared: Prepared,
  time: EngineTime,
  recorderRef: RecorderRef,
  startedPerf: number,
): Started {
  const startedAt = new Date(Date.now() - (performance.now() - startedPerf)).toISOString();
  const recorder = new RunRecorder(startedPerf);
  recorderRef.recorder = recorder;
  const parked = { count: 0 };
  const park = async <T>(wait: Promise<T>): Promise<T> => {
    parked.count += 1;
    try {
      return await wait;
    } finally {
      parked.count -= 1;
    }
  };
  const client = new SurgeClient([options.base, ...(options.otherBases ?? [])], recorder, {
    connections: options.connections,
  });
  const flowViolations: string[] = [];
  // the run's own stream; each candidate draws from its own (runArrivals), the same in every split
  const random = xorshift(options.seed >>> 0 || 1);
  const oralSeats = [...prepared.world.capacity].filter(([key]) => key.endsWith('|CET-SET4'));
  const botCampusId = oralSeats.sort((a, b) => b[1] - a[1])[0]?.[0].split('|')[0] ?? null;
  const queueLog = (options.waitingRoom ?? 'off') === 'off' ? null : new QueueLog(SURGE_OPENS_AT);
  const queue: QueueContext | undefined = queueLog
    ? {
        client,
        log: queueLog,
        wsUrl: `${options.base.replace(/^http/, 'ws')}/ws/seats`,
        engineNow: () => Date.now() + time.offsetMs,
        random,
        maxWaitMs: (options.durationS + (options.straggleTimeoutS ?? 120)) * 1000,
      }
    : undefined;
  const acknowledged = options.checkAcknowledged || options.fault ? new AcknowledgedLedger() : null;
  const ctx: FlowContext = {
    client,
    park,
    reserved: () => recorder.reserved(),
    ...(acknowledged ? { acknowledged } : {}),
    opensAtPerfMs: startedPerf + prepared.openingS * 1000,
    oralShare: options.oralShare,
    botCampusId,
    random,
    ...(queue ? { queue } : {}),
    onViolation: (message) => {
      if (!client.halted) flowViolations.push(message);
    },
  };
  return {
    startedPerf,
    startedAt,
    recorder,
    client,
    ctx,
    random,
    flowViolations,
    queueLog,
    acknowledged,
    parked,
  };
}

/**
 * Step 3b: the province's waiting room, set up through the admin API before the first arrival; its
 * PREQUEUE opens with the run (the whole pre-opening window), passes last 15 minutes, no cap.
 */
async function configureWaitingRoom(options: SurgeOptions, prepared: Prepared): Promise<void> {
  const mode = options.waitingRoom ?? 'off';
  if (mode === 'off') return;
  const answer = await fetch(`${options.base}/api/v1/admin/queue`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${options.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify([
      {
        provinceCode: prepared.world.provinceCode,
        mode,
        preQueueMinutes: Math.ceil(prepared.openingS / 60) + 1,
        passMinutes: 15,
        maxAdmitPerMinute: null,
      },
    ]),
  });
  const body = (await answer.json()) as { upserted?: number };
  if (answer.status !== 200 || body.upserted !== 1) {
    throw new Error(`waiting room set-up refused: ${answer.status} ${JSON.stringify(body)}`);
  }
}

/**
 * The waiting room's section of the report: what the candidates saw (queue.ts) and the published
 * draw, recomputed here from the revealed seed and checked against the published commitment.
 */
async function waitingRoomSection(
  options: SurgeOptions,
  provinceCode: string,
  log: QueueLog,
  series: WaitingRoomReport['series'],
  keeper: WaitingRoomReport['keeper'],
): Promise<WaitingRoomReport> {
  const room = (await fetch(`${options.base}/api/v1/queue/${provinceCode}`).then((r) => r.json())) as {
    lotteryCommitment: string | null;
  };
  const drawAnswer = await fetch(`${options.base}/api/v1/queue/${provinceCode}/draw`);
  const draw = drawAnswer.ok
    ? ((await drawAnswer.json()) as { lotterySeed: string; tickets: [string, number][] })
    : null;
  const drawVerified =
    draw !== null &&
    room.lotteryCommitment !== null &&
    commitmentOf(Buffer.from(draw.lotterySeed, 'hex')) === room.lotteryCommitment &&
    drawOrder(
      Buffer.from(draw.lotterySeed, 'hex'),
      draw.tickets.map(([id]) => id),
    ).every((id, i) => draw.tickets[i]![0] === id);
  return log.report({
    mode: options.waitingRoom ?? 'off',
    provinceCode,
    series,
    keeper,
    draw,
    drawVerified,
    lotteryCommitment: room.lotteryCommitment,
  });
}

/** Step 4: seats and writer lag, sampled once a second until stopped (probes.ts). */
export function startSamplers(
  options: SurgeOptions,
  engine: Engine,
  world: SurgeWorld,
  run: Started,
): Samplers {
  return sampleSeatsAndLag({
    engine,
    provinceCode: world.provinceCode,
    capacity: world.capacity,
    startedPerf: run.startedPerf,
    recorder: run.recorder,
    waitingRoom: run.queueLog !== null,
  });
}

/** What the generator did with the arrivals: how far it fell behind the curve, at most. */
export interface ArrivalFigures {
  readonly offered: number;
  readonly walkers: Set<Promise<void>>;
  readonly maxWalking: number;
  readonly walkingPeak: number;
  readonly backlogPeak: number;
  /** Candidates of the slice never started (the run stopped starting them: stopStartingAfterS). */
  readonly notStarted: number;
}

/** The violation a run (or one shard: `who`) whose stragglers stopped finishing is marked with. */
export function stragglersViolation(who: string, count: number): string {
  return `${who}: ${count} candidates still walking when none had finished for the straggle timeout`;
}

/** The violation a partial run (stopStartingAfterS) is marked with. */
export function notStartedViolation(
  count: number,
  options: Pick<SurgeOptions, 'stopStartingAfterS'>,
): string {
  return `run: ${count} candidates never started (the generator stopped starting them after ${options.stopStartingAfterS} s)`;
}

/**
 * Walking and parked candidates together stay under this many times the cap: a candidate parked
 * (waiting for the opening or in the line) holds no request but still its walk's
 * state, so a server that sheds most answers cannot grow the generator's heap without bound.
 */
const PARKED_BOUND = 4;

/** The default cap on candidates walking at once (SurgeOptions.maxWalking). */
export function defaultMaxWalking(options: Pick<SurgeOptions, 'connections' | 'waitingRoom'>): number {
  return (options.waitingRoom ?? 'off') === 'off' ? 4 * options.connections : Number.POSITIVE_INFINITY;
}

/**
 * When candidate `k` of the whole run is due (seconds into it): the first moment the curve's
 * arrivals reach k + 1 (a bisection of totalArrivals to the millisecond).
 */
function dueAtS(profile: SurgeProfile, k: number, endS: number): number {
  let low = 0;
  let high = endS;
  while (high - low > 0.001) {
    const mid = (low + high) / 2;
    if (Math.round(totalArrivals(profile, 0, mid)) >= k + 1) high = mid;
    else low = mid;
  }
  return high;
}

/**
 * Step 5: open-loop arrivals. Every 10 ms, whoever the curve says is due by now (of this process's
 * slice: loadtest/shard.ts) is due; the schedule never waits for the server. Due candidates start
 * walking at once while fewer than `maxWalking` walk; the others wait as a count, each started as
 * soon as a walker finishes, its delay since it was due recorded (issue 15: a waiting candidate
 * costs no memory; a million of them used to be a million pending requests). Each candidate draws
 * its behaviour and every random choice of its walk from its own stream (the run's seed and its
 * index), so it walks the same in every split of the run.
 */
export async function runArrivals(
  options: Pick<
    SurgeOptions,
    | 'candidates'
    | 'durationS'
    | 'seed'
    | 'mix'
    | 'maxWalking'
    | 'connections'
    | 'waitingRoom'
    | 'stopStartingAfterS'
  >,
  prepared: Prepared,
  run: Started,
  tick: ProgressTick,
  say: Say,
  heap?: HeapWatch,
): Promise<ArrivalFigures> {
  const { profile, openingS, world } = prepared;
  const { startedPerf, recorder, ctx, parked } = run;
  const mix = options.mix ?? defaultMix;
  const maxWalking = options.maxWalking ?? defaultMaxWalking(options);
  const walkers = new Set<Promise<void>>();
  let offered = 0;
  let next = 0;
  let walkingPeak = 0;
  let backlogPeak = 0;
  const profileEndS = durationOf(profile);
  const sharded =
    world.shard.count > 1 ? ` (shard ${world.shard.index}/${world.shard.count}: ${world.shardCount})` : '';
  say(
    `surge: profile ${profile.name}, ${options.candidates} candidates${sharded} over ${options.durationS} s, peak ${Math.round(peakRate(profile))}/s, opening at t=${openingS.toFixed(1)} s`,
  );
  for (;;) {
    const now = performance.now();
    const elapsedS = (now - startedPerf) / 1000;
    const wholeDue = Math.min(
      world.count,
      Math.round(totalArrivals(profile, 0, Math.min(elapsedS, profileEndS))),
    );
    const due = Math.min(world.shardCount, shardDue(wholeDue, world.shard));
    if (due > offered) {
      recorder.offered(due - offered);
      offered = due;
    }
    while (
      next < due &&
      walkers.size - parked.count < maxWalking &&
      walkers.size < PARKED_BOUND * maxWalking
    ) {
      const k = globalIndex(next++, world.shard);
      const delayMs = Math.max(0, now - startedPerf - dueAtS(profile, k, profileEndS) * 1000);
      recorder.started(delayMs);
      const random = xorshift(candidateSeed(options.seed, k));
      const behaviour = pickBehaviour(mix, random());
      const walker = walkCandidate({ ...ctx, random }, world.candidate(k), behaviour)
        .catch((error: unknown) => `failed:${error instanceof Error ? error.name : 'error'}`)
        .then((outcome) => {
          recorder.finished(outcome);
          walkers.delete(walker);
        });
      walkers.add(walker);
    }
    walkingPeak = Math.max(walkingPeak, walkers.size - parked.count);
    backlogPeak = Math.max(backlogPeak, due - next);
    heap?.maybeSample();
    tick(elapsedS, walkers.size);
    if (elapsedS >= profileEndS && next >= world.shardCount) break;
    if (options.stopStartingAfterS !== undefined && elapsedS >= options.stopStartingAfterS) break;
    await sleep(10);
  }
  return { offered, walkers, maxWalking, walkingPeak, backlogPeak, notStarted: world.shardCount - next };
}

/**
 * Step 6: waits for the candidates still walking until they have all finished, or none has for the
 * straggle timeout; returns how many are left. Each walker ends by itself (its retry budget, its
 * wait in line are bounded), so the wait is bounded too. A fixed deadline after the profile used
 * to cut a slow but moving line: on 2026-12-08 a demo with ADMISSION_TARGET_P99_MS=50 ended with
 * 796 candidates still in line and admitted one by one, reported as failing I1–I5.
 */
export async function waitForStragglers(
  options: Pick<SurgeOptions, 'straggleTimeoutS'>,
  run: Pick<Started, 'client' | 'recorder' | 'startedPerf'>,
  walkers: ReadonlySet<Promise<void>>,
  tick: ProgressTick,
  heap?: HeapWatch,
): Promise<number> {
  const timeoutMs = (options.straggleTimeoutS ?? 120) * 1000;
  let left = walkers.size;
  let progressAt = performance.now();
  while (walkers.size > 0 && performance.now() - progressAt < timeoutMs) {
    await sleep(Math.min(250, timeoutMs));
    if (walkers.size < left) {
      left = walkers.size;
      progressAt = performance.now();
    }
    heap?.maybeSample();
    tick((performance.now() - run.startedPerf) / 1000, walkers.size);
  }
  const stragglers = walkers.size;
  if (stragglers > 0) {
    // given up on (a violation of its own): no request of theirs starts any more, and the ones in
    // flight are answered before the invariants are read, so the check sees settled stores (what
    // their flows say after the halt is not recorded: a 'halted' answer is no answer)
    run.client.halt();
    const settleBy = performance.now() + 30_000;
    while (run.recorder.inFlight > 0 && performance.now() < settleBy) await sleep(100);
  }
  return stragglers;
}

/** Step 7: the planted fault if asked for, then I1–I5, reconcile and the dashboards (verdict.ts). */
export async function judge(
  options: SurgeOptions,
  stores: Stores,
  world: SurgeWorld,
  flowViolations: readonly string[],
  stragglers: number,
  dashboards: Dashboards | null,
  say: Say,
): Promise<Awaited<ReturnType<typeof judgeRun>>> {
  if (options.plantOversell) await plantOversell(stores.engine, world.provinceCode, say);
  return judgeRun({
    engine: stores.engine,
    db: stores.db,
    provinceCode: world.provinceCode,
    flowViolations:
      stragglers > 0 ? [...flowViolations, stragglersViolation('run', stragglers)] : flowViolations,
    dashboards,
    log: say,
  });
}

/**
 * A probes.ts counter summed over every master (the client itself on a single node): on a Redis
 * Cluster each node counts its own commands and holds its own shards' streams; a node asked about
 * a stream it does not hold answers MOVED, which streamLengths counts as no stream.
 */
export async function overMasters(
  redis: RedisClient,
  read: (node: Redis) => Promise<number>,
): Promise<number> {
  const counts = await Promise.all(masterNodes(redis).map(read));
  return counts.reduce((sum, count) => sum + count, 0);
}

/** Starts the run's fault, if any, `atS` seconds in; never rejects (a failed injection is said and reported as none). */
function injectFault(
  options: SurgeOptions,
  run: Started,
  provinceCode: string,
  say: Say,
): Promise<Omit<FailoverFigures, 'acknowledgedLost'> | null> {
  const fault = options.fault;
  if (!fault) return Promise.resolve(null);
  const dueIn = run.startedPerf + fault.atS * 1000 - performance.now();
  return sleep(Math.max(0, dueIn))
    .then(() => fault.inject({ startedPerf: run.startedPerf, provinceCode }))
    .then((figures) => {
      say(
        `fault: ${figures.killedNode} killed at ${(figures.killedAtMs / 1000).toFixed(1)} s; ${figures.promotedNode ?? 'no replica'} promoted after ${figures.promotedAfterMs ?? '-'} ms`,
      );
      return figures;
    })
    .catch((error: unknown) => {
      say(`fault injection failed: ${error instanceof Error ? error.message : String(error)}`);
      return null;
    });
}

/** Commands per second per node over the run; a node counted before and not after is 'gone'. */
function nodeThroughput(
  before: readonly RedisNodeStats[] | null,
  after: readonly RedisNodeStats[] | null,
  durationS: number,
): RedisNodeThroughput[] | null {
  if (!before || !after) return null;
  const nodes = [...new Set([...before, ...after].map((stats) => stats.node))].sort();
  return nodes.map((node) => {
    const end = after.find((stats) => stats.node === node);
    const start = before.find((stats) => stats.node === node)?.commandsProcessed ?? 0;
    return end
      ? { node, role: end.role, commandsPerSec: Math.round((end.commandsProcessed - start) / durationS) }
      : { node, role: 'gone' as const, commandsPerSec: 0 };
  });
}

/** The run's own connections to the system's stores (a single node or a Redis Cluster). */
export function openSurgeStores(
  options: Pick<SurgeOptions, 'redisUrl' | 'redisClusterNodes' | 'namespace' | 'databaseUrl'>,
): Stores {
  const redis = openRedis(
    { redisUrl: options.redisUrl, redisClusterNodes: options.redisClusterNodes ?? '' },
    { enableAutoPipelining: true, maxRetriesPerRequest: null },
  );
  return {
    redis,
    engine: new Engine(redis, { namespace: options.namespace }),
    db: createPool(options.databaseUrl, { max: 8, applicationName: 'loadtest' }),
  };
}

/** Redis stalls shorter than this are not listed in the report (its latency monitor's threshold). */
const REDIS_STALL_THRESHOLD_MS = 20;

export async function runSurge(options: SurgeOptions): Promise<RunReport> {
  const say = options.progress ?? (() => undefined);
  const stores = openSurgeStores(options);
  const { redis } = stores;
  let dashboards: Dashboards | null = null;
  try {
    const heap = new HeapWatch();
    const prepared = await prepare(options, stores, say);
    await warmUp(options, prepared.world);
    const time: EngineTime = { offsetMs: 0 };
    const recorderRef: RecorderRef = { recorder: null };
    dashboards = await attachDashboards(options, prepared.world, time, recorderRef, say);
    const run = await start(options, stores, prepared, time, recorderRef);
    await configureWaitingRoom(options, prepared);
    const samplers = startSamplers(options, stores.engine, prepared.world, run);
    const streams = stores.engine.keys.allStreams(PROVINCE_CODES);
    const commandsBefore = await overMasters(redis, commandsProcessed);
    const eventsBefore = await overMasters(redis, (node) => streamLengths(node, streams));
    // every node's commands, master or replica (a Cluster only)
    const nodesBefore = isCluster(redis) ? await readNodeStats(redis) : null;

    const cpu = new CpuSeries({ ...options.cpuRoots, generator: process.pid }, run.startedPerf).start();
    const stallWatch = await RedisStallWatch.start(
      redis,
      REDIS_STALL_THRESHOLD_MS,
      Date.parse(run.startedAt),
    );
    const tick = progressTicker(run.recorder, samplers, say);
    const fault = injectFault(options, run, prepared.world.provinceCode, say);
    const arrivals = await runArrivals(options, prepared, run, tick, say, heap);
    const { offered, walkers } = arrivals;
    const stragglers = await waitForStragglers(options, run, walkers, tick, heap);
    const cpuSeries = cpu.stop();
    const redisStalls = await stallWatch.stop();
    if (arrivals.notStarted > 0) run.flowViolations.push(notStartedViolation(arrivals.notStarted, options));
    const durationS = (performance.now() - run.startedPerf) / 1000;
    const injected = await fault;
    const commands = (await overMasters(redis, commandsProcessed)) - commandsBefore;
    const events = (await overMasters(redis, (node) => streamLengths(node, streams))) - eventsBefore;
    const redisNodes = nodeThroughput(
      nodesBefore,
      isCluster(redis) ? await readNodeStats(redis) : null,
      durationS,
    );
    const acknowledged = run.acknowledged ? await run.acknowledged.check(options.base) : null;
    if (acknowledged) {
      say(
        `acknowledged operations read back: ${acknowledged.checked}, lost ${acknowledged.lost} ${JSON.stringify(acknowledged.lostByKind)}`,
      );
    }

    const verdict = await judge(
      options,
      stores,
      prepared.world,
      run.flowViolations,
      stragglers,
      dashboards,
      say,
    );
    await samplers.stop();
    await run.client.close();
    const waitingRoom = run.queueLog
      ? await waitingRoomSection(
          options,
          prepared.world.provinceCode,
          run.queueLog,
          samplers.queue,
          samplers.keeper,
        )
      : null;
    const report = surgeReport({
      waitingRoom,
      options,
      profile: prepared.profile,
      openingS: prepared.openingS,
      capacity: prepared.world.capacity,
      startedAt: run.startedAt,
      durationS,
      recorder: run.recorder,
      series: samplers.series,
      offered,
      dashboards,
      commands,
      events,
      // writer throughput over the run and the drain: events written / time until the backlog hit 0
      writerEventsPerSec: Math.round(events / (durationS + verdict.drainMs / 1000)),
      verdict,
    });
    const histograms = run.recorder.histograms();
    return {
      ...report,
      ...footprintSections({
        report,
        prepared,
        histograms,
        cpuSeries,
        generator: heap.figures({
          shard: null,
          candidates: prepared.world.shardCount,
          maxWalking: arrivals.maxWalking,
          walkingPeak: arrivals.walkingPeak,
          backlogPeak: arrivals.backlogPeak,
          startDelay: run.recorder.startDelaySummary(),
        }),
      }),
      ...(acknowledged ? { acknowledged } : {}),
      ...(injected ? { failover: { ...injected, acknowledgedLost: acknowledged?.lost ?? 0 } } : {}),
      ...(redisNodes ? { redisNodes } : {}),
      redisStalls,
    };
  } finally {
    await dashboards?.close();
    redis.disconnect();
    await stores.db.end();
  }
}

/**
 * The report's issue-15 sections of one generator's run: its histograms (what a merge adds), its
 * footprint, the CPU series and the phases.
 */
export function footprintSections(facts: {
  readonly report: RunReport;
  readonly prepared: Prepared;
  readonly histograms: ReturnType<RunRecorder['histograms']>;
  readonly cpuSeries: readonly CpuPoint[];
  readonly generator: GeneratorFigures;
}): Pick<RunReport, 'histograms' | 'generators' | 'cpuSeries' | 'phases'> {
  const { report, prepared, histograms, cpuSeries } = facts;
  return {
    histograms,
    generators: [facts.generator],
    cpuSeries,
    phases: phasesOf({
      openingS: prepared.openingS,
      sellOutS: report.sellOutS,
      durationS: report.durationS,
      histograms,
      cpuSeries,
    }),
  };
}
