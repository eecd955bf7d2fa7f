/**
 * One report from the reports of a sharded run's shards (issue 15, `npm run report -- merge`).
 * Counts are added; latency comes from the shards' HDR histograms added together (exact: a
 * percentile is never averaged); the timelines are laid over each other by wall-clock time; the
 * histograms are stored again merged, so the merged report can be phased (phases.ts) again. What
 * every shard measured on the one system they drove (Redis commands, writer events, seats left,
 * a failover) is taken once, never added. Runs with a waiting room are refused.
 *
 * Pure: no I/O. Bad input is one ReportInputError with a clear message.
 */
import type { Histogram } from 'hdr-histogram-js';
import { ReportInputError } from './inputError.ts';
import { decodeHistogram, encodeHistogram, newHistogram, summarise, peakRateOf, withinMax } from './hdr.ts';
import { phasesOf } from './phases.ts';
import type {
  AcknowledgedCheck,
  InvariantVerdict,
  LatencySummary,
  MeasuredCapacity,
  OpeningFigures,
  RedisStall,
  RedisStalls,
  RunHistograms,
  RunReport,
  ShardInfo,
  TimelinePoint,
} from './types.ts';

/** One shard's report with what the merge needs checked and at hand. */
interface ShardPart {
  readonly report: RunReport;
  readonly shard: ShardInfo;
  readonly histograms: RunHistograms;
  /** Whole seconds this shard's t = 0 came after the earliest shard's (0 when they share it). */
  readonly shiftS: number;
  /** "shard 2/3", for messages. */
  readonly label: string;
}

/** The answer kinds the gateway served (recorder.ts: RunRecorder.latency's `admitted`). */
const ADMITTED_KINDS = ['ok', 'refused', 'failed'] as const;

/** RunRecorder.peakRate's window for `measured.gatewayRequestsPerSec`. */
const PEAK_WINDOW_S = 5;

const NOT_CHECKED_ON_STORES =
  'I1–I5 not checked on the stores: merged without a verdict on the system the shards drove ' +
  '(npm run report -- merge … --run <run.json> checks it)';

const labelOf = (shard: ShardInfo): string => `shard ${shard.index}/${shard.count}`;

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/** "report 2", or its file when the caller names the reports (the CLI). */
function reportName(position: number, names: readonly string[] | undefined): string {
  return names?.[position] ?? `report ${position + 1}`;
}

/** Each report's shard block and histograms, or why the report cannot be merged. */
function shardAndHistograms(
  report: RunReport,
  position: number,
  names: readonly string[] | undefined,
): [ShardInfo, RunHistograms] {
  const which = reportName(position, names);
  if (!report.shard) {
    throw new ReportInputError(
      report.mergedFrom
        ? `${which} is already merged (from ${report.mergedFrom.length} shards): merge the shards’ own reports`
        : `${which} has no "shard" block: it is not the report of one shard of a sharded run (--shard i/n)`,
    );
  }
  if (typeof report.histograms !== 'object' || report.histograms === null) {
    throw new ReportInputError(
      `${which} (${labelOf(report.shard)}) has no "histograms": its runner did not store them, so its ` +
        'latency cannot be added to the others’ (run the shard again)',
    );
  }
  return [report.shard, report.histograms];
}

/** Every index 1…n exactly once, n being the number of reports. */
function checkIndices(shards: readonly ShardInfo[], names: readonly string[] | undefined): void {
  const counts = [...new Set(shards.map((shard) => shard.count))];
  if (counts.length > 1) {
    throw new ReportInputError(
      `the reports are of runs split ${counts.join(', ')} ways (shard.count): they are not the shards of one run`,
    );
  }
  const count = counts[0]!;
  const seen = new Map<number, number>();
  shards.forEach((shard, position) => {
    const earlier = seen.get(shard.index);
    if (earlier !== undefined) {
      throw new ReportInputError(
        `${labelOf(shard)} given twice (${reportName(earlier, names)} and ${reportName(position, names)}): ` +
          'give each shard’s report once',
      );
    }
    seen.set(shard.index, position);
  });
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((index) => !seen.has(index));
  if (shards.length !== count || missing.length > 0) {
    throw new ReportInputError(
      `the run was split into ${count} shards but ${shards.length} reports were given` +
        (missing.length > 0 ? ` (missing: ${missing.map((i) => `${i}/${count}`).join(', ')})` : '') +
        ': every shard’s report is needed',
    );
  }
}

/** The same value in every shard's report, or a message naming two that differ. */
function checkSame(
  parts: readonly ShardPart[],
  what: string,
  pick: (part: ShardPart) => string | number,
): void {
  const first = parts[0]!;
  const other = parts.find((part) => pick(part) !== pick(first));
  if (other) {
    throw new ReportInputError(
      `the reports are not of one run: ${what} ${String(pick(first))} (${first.label}) but ` +
        `${String(pick(other))} (${other.label})`,
    );
  }
}

/**
 * The reports as shards of one run, in shard order; a ReportInputError says why they are not,
 * naming a report by `names` (e.g. its file) or by its place in the list.
 */
function shardPartsOf(reports: readonly RunReport[], names?: readonly string[]): ShardPart[] {
  if (reports.length < 2) {
    throw new ReportInputError(
      `merge needs the reports of every shard of one run (at least 2), got ${reports.length}`,
    );
  }
  const found = reports.map((report, position) => shardAndHistograms(report, position, names));
  checkIndices(
    found.map(([shard]) => shard),
    names,
  );
  const zeroAtMs = Math.min(...found.map(([shard]) => shard.zeroAtMs));
  const parts = reports
    .map((report, position) => {
      const [shard, histograms] = found[position]!;
      const shiftS = Math.round((shard.zeroAtMs - zeroAtMs) / 1000);
      return { report, shard, histograms, shiftS, label: labelOf(shard) };
    })
    .sort((a, b) => a.shard.index - b.shard.index);
  checkSame(parts, 'seed', (part) => part.shard.seed);
  checkSame(parts, 'total candidates', (part) => part.shard.totalCandidates);
  checkSame(parts, 'profile', (part) => part.report.profile);
  checkSame(parts, 'target', (part) => part.report.target);
  const withRoom = parts.find((part) => part.report.waitingRoom !== undefined);
  if (withRoom) {
    throw new ReportInputError(
      `${withRoom.label} ran with a waiting room: merging runs with a waiting room is not supported: ` +
        'its fairness figures need every ticket of the province in one log',
    );
  }
  return parts;
}

/**
 * Throws the ReportInputError mergeReports would, without merging (the CLI checks before it judges
 * the stores), naming the reports by `names` when given.
 */
export function checkShardReports(reports: readonly RunReport[], names?: readonly string[]): void {
  shardPartsOf(reports, names);
}

// ---------------------------------------------------------------------------------------------
// Histograms
// ---------------------------------------------------------------------------------------------

function decodeStored(encoded: string, part: ShardPart, what: string): Histogram {
  try {
    return decodeHistogram(encoded);
  } catch (error) {
    if (error instanceof RangeError) {
      throw new ReportInputError(`${part.label}: histograms.${what} is ${error.message}`);
    }
    throw error;
  }
}

/**
 * The sum of one stored histogram over the shards (absent ones skipped); `what` names it in the
 * shard's report, for the message when it does not decode.
 */
function addStored(
  parts: readonly ShardPart[],
  what: string | ((part: ShardPart) => string),
  pick: (part: ShardPart) => string | null | undefined,
): Histogram {
  const sum = newHistogram();
  for (const part of parts) {
    const encoded = pick(part);
    if (encoded) sum.add(decodeStored(encoded, part, typeof what === 'string' ? what : what(part)));
  }
  return sum;
}

/** A merged report's own stored histogram (encoded by this module: decoding it cannot fail). */
function decodeMerged(encoded: string | undefined): Histogram {
  return encoded ? decodeHistogram(encoded) : newHistogram();
}

/**
 * A merged histogram's summary. Its max is the largest of the shards' own maxima when they give
 * them: the stored form keeps a value only to its bucket, so the max read back from it is the
 * bucket's top, while each shard's summary holds the exact one (percentiles are bucket tops anyway).
 */
function summaryOf(
  histogram: Histogram,
  shardSummaries: readonly (LatencySummary | undefined)[],
): LatencySummary {
  const summary = summarise(histogram);
  const maxima = shardSummaries.filter((s) => s !== undefined && s.count > 0).map((s) => s!.maxMs);
  return summary.count > 0 && maxima.length > 0
    ? withinMax({ ...summary, maxMs: Math.max(...maxima) })
    : summary;
}

function sortedKeys(records: readonly Readonly<Record<string, unknown>>[]): string[] {
  return [...new Set(records.flatMap((record) => Object.keys(record)))].sort((a, b) => a.localeCompare(b));
}

/** Per-second counts of every shard laid over each other by time (a JSON null counts 0). */
function addSeconds(
  parts: readonly ShardPart[],
  length: number,
  pick: (part: ShardPart) => readonly (number | null)[] | undefined,
): number[] {
  const sum = new Array<number>(length).fill(0);
  for (const part of parts) {
    (pick(part) ?? []).forEach((count, t) => {
      if (t + part.shiftS < length) sum[t + part.shiftS]! += count ?? 0;
    });
  }
  return sum;
}

/** Seconds the merged run covers: the latest second any shard recorded, on the common clock. */
function mergedLength(parts: readonly ShardPart[]): number {
  return Math.max(
    ...parts.map((part) => {
      const { timeline } = part.report;
      const h = part.histograms;
      const own = Math.max(
        timeline.length > 0 ? Math.max(...timeline.map((point) => point.t)) + 1 : 0,
        h.perSecond.length,
        h.reservationSeconds.length,
        ...Object.values(h.stepSeconds).map((counts) => counts.length),
      );
      return part.shiftS + own;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Timeline
// ---------------------------------------------------------------------------------------------

function sumOf(points: readonly TimelinePoint[], pick: (point: TimelinePoint) => number | undefined): number {
  return points.reduce((sum, point) => sum + (pick(point) ?? 0), 0);
}

function maxOf(
  points: readonly TimelinePoint[],
  pick: (point: TimelinePoint) => number | null | undefined,
): number | null {
  const values = points.map(pick).filter((v): v is number => v !== null && v !== undefined);
  return values.length > 0 ? Math.max(...values) : null;
}

function addSlowAdmitted(points: readonly TimelinePoint[]): Record<string, number> | null {
  const slow: Record<string, number> = {};
  for (const point of points) {
    for (const [step, count] of Object.entries(point.slowAdmitted ?? {}))
      slow[step] = (slow[step] ?? 0) + count;
  }
  return Object.keys(slow).length > 0 ? slow : null;
}

/**
 * One second of the merged run from the shards' points of that second and its merged histograms.
 * Counts and in-flight requests add up; percentiles come from the merged histograms. Writer lag is
 * one system's, sampled by each shard: the largest sample. Staleness p99 has no stored histogram
 * per second: the largest shard's p99 (an upper bound of the merged one). The generators' loop
 * delay: the worst generator's.
 */
function mergedPoint(
  t: number,
  points: readonly TimelinePoint[],
  latency: Histogram,
  admitted: Histogram,
): TimelinePoint {
  const percentiles = latency.totalCount > 0 ? summarise(latency) : null;
  const slowAdmitted = addSlowAdmitted(points);
  return {
    t,
    offered: sumOf(points, (p) => p.offered),
    started: sumOf(points, (p) => p.started),
    completed: sumOf(points, (p) => p.completed),
    errors: sumOf(points, (p) => p.errors),
    shed: sumOf(points, (p) => p.shed),
    ...(points.some((p) => p.queued !== undefined) ? { queued: sumOf(points, (p) => p.queued) } : {}),
    admittedP99Ms: admitted.totalCount > 0 ? summarise(admitted).p99Ms : null,
    ...(slowAdmitted ? { slowAdmitted } : {}),
    p50Ms: percentiles?.p50Ms ?? null,
    p90Ms: percentiles?.p90Ms ?? null,
    p99Ms: percentiles?.p99Ms ?? null,
    inFlight: sumOf(points, (p) => p.inFlight),
    stalenessP99Ms: maxOf(points, (p) => p.stalenessP99Ms),
    writerLagEvents: maxOf(points, (p) => p.writerLagEvents),
    writerLagMs: maxOf(points, (p) => p.writerLagMs),
    generatorLoopDelayP99Ms: maxOf(points, (p) => p.generatorLoopDelayP99Ms),
    generatorLoopDelayMaxMs: maxOf(points, (p) => p.generatorLoopDelayMaxMs),
  };
}

/**
 * The merged timeline and per-second histograms, second by second (one second's histograms in
 * memory at a time: a long run's hundreds of seconds would otherwise hold tens of MB).
 */
function mergeSeconds(
  parts: readonly ShardPart[],
  length: number,
): { timeline: TimelinePoint[]; perSecond: RunHistograms['perSecond'] } {
  const pointsByT = parts.map((part) => new Map(part.report.timeline.map((point) => [point.t, point])));
  const timeline: TimelinePoint[] = [];
  const perSecond: { latency: string | null; admitted: string | null }[] = [];
  for (let t = 0; t < length; t++) {
    const points = parts
      .map((part, i) => pointsByT[i]!.get(t - part.shiftS))
      .filter((point): point is TimelinePoint => point !== undefined);
    const ownSecond = (part: ShardPart) => t - part.shiftS;
    const stored = (part: ShardPart) => part.histograms.perSecond[ownSecond(part)];
    const latency = addStored(
      parts,
      (part) => `perSecond[${ownSecond(part)}].latency`,
      (part) => stored(part)?.latency,
    );
    const admitted = addStored(
      parts,
      (part) => `perSecond[${ownSecond(part)}].admitted`,
      (part) => stored(part)?.admitted,
    );
    timeline.push(mergedPoint(t, points, latency, admitted));
    perSecond.push({
      latency: latency.totalCount > 0 ? encodeHistogram(latency) : null,
      admitted: admitted.totalCount > 0 ? encodeHistogram(admitted) : null,
    });
  }
  return { timeline, perSecond };
}

/** Every shard's histograms added, stored again (encoded) so that the merged report can be phased. */
function mergeHistograms(
  parts: readonly ShardPart[],
  length: number,
  perSecond: RunHistograms['perSecond'],
): RunHistograms {
  const encodedSum = (what: string, pick: (h: RunHistograms) => string | undefined): string =>
    encodeHistogram(addStored(parts, what, (part) => pick(part.histograms)));
  const byKey = (what: 'byStep' | 'byKind'): Record<string, string> =>
    Object.fromEntries(
      sortedKeys(parts.map((part) => part.histograms[what])).map((key) => [
        key,
        encodedSum(`${what}.${key}`, (h) => h[what][key]),
      ]),
    );
  const steps = sortedKeys(parts.map((part) => part.histograms.stepSeconds));
  return {
    all: encodedSum('all', (h) => h.all),
    byStep: byKey('byStep'),
    byKind: byKey('byKind'),
    staleness: encodedSum('staleness', (h) => h.staleness),
    startDelay: encodedSum('startDelay', (h) => h.startDelay),
    perSecond,
    stepSeconds: Object.fromEntries(
      steps.map((step) => [step, addSeconds(parts, length, (part) => part.histograms.stepSeconds[step])]),
    ),
    reservationSeconds: addSeconds(parts, length, (part) => part.histograms.reservationSeconds),
  };
}

// ---------------------------------------------------------------------------------------------
// Whole-run figures
// ---------------------------------------------------------------------------------------------

function addRecords(records: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  return Object.fromEntries(
    sortedKeys(records).map((key) => [key, records.reduce((sum, record) => sum + (record[key] ?? 0), 0)]),
  );
}

function maxOrNull(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length > 0 ? Math.max(...known) : null;
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

/** Whole-run latency from the merged histograms (admitted: RunRecorder.latency's kinds). */
function latencyOf(parts: readonly ShardPart[], merged: RunHistograms): RunReport['latency'] {
  const summaries = parts.map((part) => part.report.latency);
  const ofKinds = (kinds: readonly string[]): Histogram => {
    const sum = newHistogram();
    for (const kind of kinds) sum.add(decodeMerged(merged.byKind[kind]));
    return sum;
  };
  return {
    all: summaryOf(
      decodeMerged(merged.all),
      summaries.map((s) => s.all),
    ),
    byStep: Object.fromEntries(
      Object.entries(merged.byStep).map(([step, encoded]) => [
        step,
        summaryOf(
          decodeMerged(encoded),
          summaries.map((s) => s.byStep[step]),
        ),
      ]),
    ),
    admitted: summaryOf(
      ofKinds(ADMITTED_KINDS),
      summaries.map((s) => s.admitted),
    ),
    shed: summaryOf(
      ofKinds(['shed']),
      summaries.map((s) => s.shed),
    ),
  };
}

/** What the merged run's measured capacity is recomputed from. */
interface MergedCounts {
  /** Answers per second of the merged timeline, and logins per second (absent: no login step). */
  readonly completed: readonly number[];
  readonly logins: readonly number[] | undefined;
  readonly requests: number;
  readonly finished: number;
  readonly p99Ms: number;
}

/**
 * The measured capacity of the merged run. Recomputed from the merged counts:
 * gatewayRequestsPerSec (best 5-second average of the answers per second, as RunRecorder.peakRate),
 * loginsPerSecPerCore (the same over logins, ÷ options.poolThreads; the shards' figures added when
 * the option is absent), requestsPerCandidate and p99Ms. Shard 1's, since every shard read them
 * from the one system all shards drove: gatewayCores, redisOpsPerSec, writerEventsPerSec. Per
 * candidate, shard 1's count of Redis commands and events (which were every shard's) over every
 * shard's finished candidates: redisOpsPerCandidate, eventsPerCandidate.
 */
function measuredOf(parts: readonly ShardPart[], merged: MergedCounts): MeasuredCapacity {
  const first = parts[0]!.report;
  const poolThreads = first.options.poolThreads;
  const loginsPerSecPerCore =
    merged.logins === undefined || merged.logins.every((count) => count === 0)
      ? 0
      : typeof poolThreads === 'number'
        ? Math.round(peakRateOf(merged.logins, PEAK_WINDOW_S) / Math.max(1, poolThreads))
        : parts.reduce((sum, part) => sum + part.report.measured.loginsPerSecPerCore, 0);
  const finished = Math.max(1, merged.finished);
  const firstFinished = Math.max(1, first.totals.candidatesFinished);
  const perEveryCandidate = (perFirstCandidate: number): number =>
    round2((perFirstCandidate * firstFinished) / finished);
  return {
    gatewayRequestsPerSec: peakRateOf(merged.completed, PEAK_WINDOW_S),
    gatewayCores: first.measured.gatewayCores,
    redisOpsPerSec: first.measured.redisOpsPerSec,
    writerEventsPerSec: first.measured.writerEventsPerSec,
    loginsPerSecPerCore,
    requestsPerCandidate: round2(merged.requests / finished),
    redisOpsPerCandidate: perEveryCandidate(first.measured.redisOpsPerCandidate),
    eventsPerCandidate: perEveryCandidate(first.measured.eventsPerCandidate),
    p99Ms: merged.p99Ms,
  };
}

/**
 * Without a verdict nothing checked the stores (I1–I5 are about the whole system, which no single
 * shard saw): not ok. With one, every shard's own violations still count.
 */
function invariantsOf(parts: readonly ShardPart[], verdict: InvariantVerdict | undefined): InvariantVerdict {
  const shardViolations = parts.flatMap((part) =>
    part.report.invariants.violations.map((violation) => `${part.label}: ${violation}`),
  );
  if (!verdict) return { ok: false, violations: [...shardViolations, NOT_CHECKED_ON_STORES], checked: {} };
  return {
    ok: verdict.ok && shardViolations.length === 0,
    violations: [...verdict.violations, ...shardViolations],
    checked: verdict.checked,
  };
}

function acknowledgedOf(parts: readonly ShardPart[]): AcknowledgedCheck | undefined {
  const checks = parts.map((part) => part.report.acknowledged).filter((c) => c !== undefined);
  if (checks.length === 0) return undefined;
  const byKind = addRecords(checks.map((check) => check.lostByKind));
  return {
    checked: checks.reduce((sum, check) => sum + check.checked, 0),
    lost: checks.reduce((sum, check) => sum + check.lost, 0),
    lostByKind: {
      registration: byKind.registration ?? 0,
      written: byKind.written ?? 0,
      oral: byKind.oral ?? 0,
      payment: byKind.payment ?? 0,
    },
    examples: checks.flatMap((check) => check.examples),
  };
}

/** P7's figures again from the merged run (no waiting room: its fairness figures are none). */
function openingOf(timeline: readonly TimelinePoint[], maxAnswerMs: number): OpeningFigures {
  return {
    admittedP99MaxPerSecondMs: maxOf(timeline, (point) => point.admittedP99Ms),
    maxAnswerMs,
    waitedWithoutPosition: 0,
    orderInversions: 0,
    etaErrorP90Pct: null,
    prequeueChiSquareP: null,
  };
}

/** Seconds from the start of the run to the opening: options.openingS, or openingAtS (surgeReport.ts). */
function openingOffsetOf(options: RunReport['options']): number | null {
  const offset = options.openingS ?? options.openingAtS;
  return typeof offset === 'number' && Number.isFinite(offset) ? offset : null;
}

function sumOver(parts: readonly ShardPart[], pick: (report: RunReport) => number): number {
  return parts.reduce((sum, part) => sum + pick(part.report), 0);
}

function totalsOf(parts: readonly ShardPart[]): RunReport['totals'] {
  return {
    candidatesOffered: sumOver(parts, (report) => report.totals.candidatesOffered),
    candidatesStarted: sumOver(parts, (report) => report.totals.candidatesStarted),
    candidatesFinished: sumOver(parts, (report) => report.totals.candidatesFinished),
    requests: sumOver(parts, (report) => report.totals.requests),
    errors: sumOver(parts, (report) => report.totals.errors),
    shed: sumOver(parts, (report) => report.totals.shed),
    outcomes: addRecords(parts.map((part) => part.report.totals.outcomes)),
  };
}

/**
 * Every shard samples the same seats of the one system: the series of the shard that has the most
 * points (missed fewer samples), on the merged run's clock.
 */
function seatsOf(parts: readonly ShardPart[]): RunReport['seats'] {
  const pointCount = (report: RunReport): number =>
    report.seats.reduce((sum, series) => sum + series.points.length, 0);
  const fullest = parts.reduce((best, part) =>
    pointCount(part.report) > pointCount(best.report) ? part : best,
  );
  return fullest.report.seats.map((series) => ({
    ...series,
    points: series.points.map(([t, remaining]) => [t + fullest.shiftS, remaining] as const),
  }));
}

/** The first shard (in shard order) that has it: what every shard saw of the one system. */
function firstOf<T>(parts: readonly ShardPart[], pick: (report: RunReport) => T | undefined): T | undefined {
  return parts.map((part) => pick(part.report)).find((value) => value !== undefined);
}

/**
 * Every shard watched the same Redis: its stalls are one list, each moved onto the merged clock
 * and kept once (a stall both shards saw has the same node, event and second).
 */
function redisStallsOf(parts: readonly ShardPart[]): RedisStalls | undefined {
  const watched = parts.filter((part) => part.report.redisStalls !== undefined);
  if (watched.length === 0) return undefined;
  const events = new Map<string, RedisStall>();
  for (const part of watched) {
    for (const stall of part.report.redisStalls!.events) {
      const atS = Math.round((stall.atS + part.shiftS) * 10) / 10;
      events.set(`${stall.node} ${stall.event} ${Math.round(atS)}`, { ...stall, atS });
    }
  }
  return {
    thresholdMs: Math.max(...watched.map((part) => part.report.redisStalls!.thresholdMs)),
    events: [...events.values()].sort((a, b) => a.atS - b.atS || b.ms - a.ms),
  };
}

// ---------------------------------------------------------------------------------------------
// The merge
// ---------------------------------------------------------------------------------------------

/**
 * The report of the whole run from its shards' reports (module comment). `verdict` is I1–I5 and
 * the reconciliation checked once on the stores after the run (shardRun.ts judgeAttached); without
 * it the merged run's invariants say they were not checked.
 */
export function mergeReports(reports: readonly RunReport[], verdict?: InvariantVerdict): RunReport {
  const parts = shardPartsOf(reports);
  const first = parts[0]!.report;
  const length = mergedLength(parts);
  const { timeline, perSecond } = mergeSeconds(parts, length);
  const histograms = mergeHistograms(parts, length, perSecond);
  const latency = latencyOf(parts, histograms);
  const totals = totalsOf(parts);
  const sellOuts = parts.map((part) => part.report.sellOutS).filter((s): s is number => s !== null);
  const durationS =
    Math.round(Math.max(...parts.map((part) => part.shiftS + part.report.durationS)) * 10) / 10;
  const cpuFrom = parts.find((part) => part.report.cpuSeries !== undefined);
  const cpuSeries = cpuFrom?.report.cpuSeries?.map((point) => ({ ...point, t: point.t + cpuFrom.shiftS }));
  const generators = parts.flatMap((part) => part.report.generators ?? []);
  const acknowledged = acknowledgedOf(parts);
  const failover = firstOf(parts, (report) => report.failover);
  const redisNodes = firstOf(parts, (report) => report.redisNodes);
  const redisStalls = redisStallsOf(parts);
  // shard 1's options but its own slice ("shard": "1/2", when the runner writes it)
  const options = Object.fromEntries(Object.entries(first.options).filter(([key]) => key !== 'shard'));
  const sellOutS = sellOuts.length > 0 ? Math.min(...sellOuts) : null;
  // on shard 1's own clock, like its options: moved onto the merged run's
  const openingOffset = openingOffsetOf(first.options);
  const openingS = openingOffset === null ? null : openingOffset + parts[0]!.shiftS;
  const startedAt = parts
    .map((part) => part.report.startedAt)
    .reduce((earliest, at) => (Date.parse(at) < Date.parse(earliest) ? at : earliest));
  return {
    version: 1,
    target: first.target,
    profile: first.profile,
    startedAt,
    durationS,
    options: { ...options, shards: parts.length },
    totals,
    latency,
    answers: addRecords(parts.map((part) => part.report.answers)),
    timeline,
    seats: seatsOf(parts),
    sellOutS,
    dashboards: {
      subscribers: sumOver(parts, (report) => report.dashboards.subscribers),
      messages: sumOver(parts, (report) => report.dashboards.messages),
      staleness: summaryOf(
        decodeMerged(histograms.staleness),
        parts.map((part) => part.report.dashboards.staleness),
      ),
    },
    writer: {
      lagP99Ms: maxOrNull(parts.map((part) => part.report.writer.lagP99Ms)),
      lagMaxEvents: maxOrNull(parts.map((part) => part.report.writer.lagMaxEvents)),
    },
    measured: measuredOf(parts, {
      completed: timeline.map((point) => point.completed),
      logins: histograms.stepSeconds.login,
      requests: totals.requests,
      finished: totals.candidatesFinished,
      p99Ms: latency.all.p99Ms,
    }),
    invariants: invariantsOf(parts, verdict),
    ...(parts.some((part) => part.report.opening) ? { opening: openingOf(timeline, latency.all.maxMs) } : {}),
    ...(acknowledged ? { acknowledged } : {}),
    ...(failover ? { failover } : {}),
    ...(redisNodes ? { redisNodes } : {}),
    ...(redisStalls ? { redisStalls } : {}),
    mergedFrom: parts.map((part) => part.shard),
    histograms,
    ...(generators.length > 0 ? { generators } : {}),
    ...(cpuSeries ? { cpuSeries } : {}),
    ...(openingS !== null
      ? { phases: phasesOf({ openingS, sellOutS, durationS, histograms, cpuSeries: cpuSeries ?? null }) }
      : {}),
  };
}
