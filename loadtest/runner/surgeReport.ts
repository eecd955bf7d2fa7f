/**
 * The report of one surge (report/types.ts RunReport), from what the run recorded: totals and
 * latency from the recorder, the seat series the sampler took, the writer's lag and throughput, the
 * measured per-unit figures the capacity plan multiplies, and the verdict. Pure: no I/O.
 */
import { peakRate, type ProfileName, type SurgeProfile } from '../profiles.ts';
import type {
  InvariantVerdict,
  OpeningFigures,
  RunReport,
  SeatSeries,
  WaitingRoomReport,
} from '../report/types.ts';
import type { Dashboards } from './dashboards.ts';
import type { RunRecorder } from './recorder.ts';

/** The surge's settings the report repeats (run.ts SurgeOptions has them all). */
export interface ReportedSurgeOptions {
  readonly profile: ProfileName;
  readonly candidates: number;
  readonly durationS: number;
  readonly dashboards: number;
  readonly dashboardScope?: 'province' | 'campus';
  readonly connections: number;
  readonly seed: number;
  readonly preseededSessions: boolean;
  readonly oralShare: number;
  readonly gatewayThreads: number;
  readonly poolThreads: number;
  readonly plantOversell?: boolean;
  readonly waitingRoom?: 'off' | 'opening' | 'auto';
}

export interface SurgeFacts {
  readonly options: ReportedSurgeOptions;
  readonly profile: SurgeProfile;
  /** Seconds into the run at which registration opened. */
  readonly openingS: number;
  /** Seats of the province: campusId|subject → capacity. */
  readonly capacity: ReadonlyMap<string, number>;
  readonly startedAt: string;
  /** Wall time from the start of the arrivals to the last straggler. */
  readonly durationS: number;
  readonly recorder: RunRecorder;
  /** Remaining seats over time, by campusId|subject ('*' for the province's total). */
  readonly series: ReadonlyMap<string, [number, number][]>;
  /** Candidates the arrivals started. */
  readonly offered: number;
  readonly dashboards: Dashboards | null;
  /** Redis commands and outbox events during the run. */
  readonly commands: number;
  readonly events: number;
  readonly writerEventsPerSec: number;
  readonly verdict: InvariantVerdict;
  /** The waiting room as the candidates saw it (null: the run had none). */
  readonly waitingRoom: WaitingRoomReport | null;
}

/**
 * P7 and P8 in one block: the worst second's p99 of the answers the gateway served (neither shed
 * nor sent to the queue), the slowest answer of all, and the waiting room's fairness figures.
 */
export function openingFigures(recorder: RunRecorder, room: WaitingRoomReport | null): OpeningFigures {
  const perSecond = recorder
    .timeline()
    .map((point) => point.admittedP99Ms)
    .filter((p): p is number => p !== null && p !== undefined);
  return {
    admittedP99MaxPerSecondMs: perSecond.length > 0 ? Math.max(...perSecond) : null,
    maxAnswerMs: recorder.latency().all.maxMs,
    waitedWithoutPosition: room?.waitedWithoutPosition ?? 0,
    orderInversions: room?.order.inversions ?? 0,
    etaErrorP90Pct: room?.etaErrorPct.p90 ?? null,
    prequeueChiSquareP: room?.prequeue.chiSquareP ?? null,
  };
}

function seatSeries(facts: SurgeFacts): SeatSeries[] {
  return [...facts.series].map(([key, points]) => {
    const [campusId, subject] = key.split('|') as [string, string];
    const capacity =
      campusId === '*'
        ? [...facts.capacity].filter(([k]) => k.endsWith(`|${subject}`)).reduce((sum, [, c]) => sum + c, 0)
        : (facts.capacity.get(key) ?? 0);
    return { campusId, subject, capacity, points };
  });
}

export function surgeReport(facts: SurgeFacts): RunReport {
  const { options, profile, openingS, durationS, recorder, commands, events, verdict } = facts;
  const latency = recorder.latency();
  const finished = Math.max(1, recorder.candidatesFinished);
  const seats = seatSeries(facts);
  const oralTotal = facts.series.get('*|CET-SET4');
  const soldOutAt = oralTotal?.find(([, remaining]) => remaining === 0)?.[0];
  const stalenessSummary = recorder.stalenessSummary();
  const lagSamples = recorder
    .timeline()
    .map((p) => p.writerLagMs)
    .filter((v): v is number => v !== null)
    .sort((a, b) => a - b);
  return {
    version: 1,
    target: 'engine',
    profile: options.profile,
    startedAt: facts.startedAt,
    durationS: Math.round(durationS * 10) / 10,
    options: {
      candidates: options.candidates,
      durationS: options.durationS,
      dashboards: options.dashboards,
      dashboardScope: options.dashboardScope ?? 'province',
      connections: options.connections,
      seed: options.seed,
      preseededSessions: options.preseededSessions,
      oralShare: options.oralShare,
      gatewayThreads: options.gatewayThreads,
      poolThreads: options.poolThreads,
      openingAtS: Math.round(openingS * 10) / 10,
      peakOfferedPerSec: Math.round(peakRate(profile)),
      plantOversell: Boolean(options.plantOversell),
      waitingRoom: options.waitingRoom ?? 'off',
    },
    totals: {
      candidatesOffered: facts.offered,
      candidatesStarted: recorder.candidatesStarted,
      candidatesFinished: recorder.candidatesFinished,
      requests: recorder.requests,
      errors: recorder.errors,
      shed: recorder.shed,
      outcomes: Object.fromEntries([...recorder.outcomes].sort(([a], [b]) => a.localeCompare(b))),
    },
    latency,
    answers: Object.fromEntries([...recorder.answers].sort(([a], [b]) => a.localeCompare(b))),
    timeline: recorder.timeline(),
    seats,
    sellOutS: soldOutAt === undefined ? null : Math.max(0, Math.round((soldOutAt - openingS) * 10) / 10),
    dashboards: {
      subscribers: facts.dashboards?.connected ?? 0,
      messages: recorder.dashboardMessages,
      staleness: stalenessSummary,
    },
    writer: {
      lagP99Ms:
        lagSamples.length > 0
          ? lagSamples[Math.min(lagSamples.length - 1, Math.floor(lagSamples.length * 0.99))]!
          : null,
      lagMaxEvents: Math.max(0, ...recorder.timeline().map((p) => p.writerLagEvents ?? 0)),
    },
    measured: {
      gatewayRequestsPerSec: recorder.peakRate(null, 5),
      gatewayCores: options.gatewayThreads,
      redisOpsPerSec: Math.round(commands / durationS),
      writerEventsPerSec: facts.writerEventsPerSec,
      loginsPerSecPerCore:
        recorder.stepCount('login') > 0
          ? Math.round(recorder.peakRate('login', 5) / Math.max(1, options.poolThreads))
          : 0,
      requestsPerCandidate: Math.round((recorder.requests / finished) * 100) / 100,
      redisOpsPerCandidate: Math.round((commands / finished) * 100) / 100,
      eventsPerCandidate: Math.round((events / finished) * 100) / 100,
      p99Ms: latency.all.p99Ms,
    },
    invariants: { ok: verdict.ok, violations: verdict.violations, checked: verdict.checked },
    ...(facts.waitingRoom ? { waitingRoom: facts.waitingRoom } : {}),
    opening: openingFigures(recorder, facts.waitingRoom),
  };
}
