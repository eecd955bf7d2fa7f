import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Histogram } from 'hdr-histogram-js';
import { afterAll, describe, expect, it } from 'vitest';
import { candidateSeed, shardOf, xorshift } from '../shard.ts';
import { ReportInputError, readReport, reportFromArgs, type StoreJudge } from './file.ts';
import { encodeHistogram, newHistogram, summarise } from './hdr.ts';
import { renderReportHtml } from './html.ts';
import { mergeReports } from './merge.ts';
import { phasesOf } from './phases.ts';
import type { CpuPoint, RunReport, SeatSeries, ShardInfo, TimelinePoint } from './types.ts';

// ---------------------------------------------------------------------------------------------
// A synthetic run: deterministic answers of N candidates, reported whole or by shard
// ---------------------------------------------------------------------------------------------

type Kind = 'ok' | 'refused' | 'shed' | 'queued' | 'failed';

interface Sample {
  readonly k: number;
  readonly step: string;
  /** Second of the whole run the answer came in. */
  readonly t: number;
  readonly latencyMs: number;
  readonly kind: Kind;
  readonly label: string;
}

const SEED = 20_250_301;
const CANDIDATES = 5_000;
const STEPS = ['login', 'register', 'written', 'pay'] as const;
const ZERO_AT_MS = Date.UTC(2025, 2, 1, 9, 0, 0);
const OPENING_S = 10;
/** Redis commands the whole run caused (each shard reads the one server's counter: all of them). */
const REDIS_COMMANDS = 61_000;

/** Second a candidate arrives: from t = 2, over 40 seconds. */
const arrivalOf = (k: number): number => 2 + Math.floor((k * 40) / CANDIDATES);

function kindOf(draw: number): [Kind, string] {
  if (draw < 0.85) return ['ok', '200'];
  if (draw < 0.9) return ['refused', '409 SOLD_OUT'];
  if (draw < 0.95) return ['shed', '503 OVERLOADED'];
  if (draw < 0.97) return ['queued', '403 QUEUE_PASS_REQUIRED'];
  return ['failed', '500 INTERNAL'];
}

/** 4 answers per candidate, 20,000 in all, spread over ~50 seconds with a long latency tail. */
const SAMPLES: readonly Sample[] = Array.from({ length: CANDIDATES }, (_, k) => {
  const random = xorshift(candidateSeed(SEED, k));
  return STEPS.map((step, i) => {
    const [kind, label] = kindOf(random());
    const latencyMs = 0.4 + 900 * random() ** 5;
    return { k, step, t: arrivalOf(k) + 2 * i + Math.floor(random() * 3), latencyMs, kind, label };
  });
}).flat();

function record(histogram: Histogram, latencyMs: number): void {
  histogram.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
}

function count<T>(items: readonly T[], keyOf: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[keyOf(item)] = (counts[keyOf(item)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

const isAdmitted = (sample: Sample): boolean =>
  sample.kind !== 'shed' && sample.kind !== 'queued' && sample.label !== 'network';

/** The seats left, sampled once a second for a minute by every generator (the same system for all). */
function seatsOf(shiftS: number, skip: number | null): SeatSeries[] {
  const points: [number, number][] = [];
  for (let t = 0; t < 60; t++) {
    if (t === skip) continue;
    const taken = SAMPLES.filter((s) => s.step === 'written' && s.kind === 'ok' && s.t <= t + shiftS).length;
    points.push([t, Math.max(0, 4_000 - taken)]);
  }
  return [{ campusId: '*', subject: 'CET-SET4', capacity: 4_000, points }];
}

interface Slice {
  readonly shard?: ShardInfo;
  /** Whole seconds this report's t = 0 came after the run's. */
  readonly shiftS?: number;
  readonly sellOutS?: number | null;
  readonly cpuSeries?: CpuPoint[];
  readonly seatsMissing?: number | null;
}

/** A report of some candidates' samples, as a runner would write it (histograms included). */
function reportOf(candidates: ReadonlySet<number>, slice: Slice = {}): RunReport {
  const shiftS = slice.shiftS ?? 0;
  const samples = SAMPLES.filter((s) => candidates.has(s.k)).map((s) => ({ ...s, t: s.t - shiftS }));
  const seconds = Math.max(...samples.map((s) => s.t)) + 1;
  const live = {
    all: newHistogram(),
    byStep: new Map<string, Histogram>(),
    byKind: new Map<string, Histogram>(),
    startDelay: newHistogram(),
  };
  const perSecond = Array.from({ length: seconds }, () => ({
    latency: newHistogram(),
    admitted: newHistogram(),
  }));
  const stepSeconds: Record<string, number[]> = {};
  const reservationSeconds = new Array<number>(seconds).fill(0);
  for (const s of samples) {
    record(live.all, s.latencyMs);
    for (const [map, key] of [
      [live.byStep, s.step],
      [live.byKind, s.kind],
    ] as const) {
      if (!map.has(key)) map.set(key, newHistogram());
      record(map.get(key)!, s.latencyMs);
    }
    record(perSecond[s.t]!.latency, s.latencyMs);
    if (isAdmitted(s)) record(perSecond[s.t]!.admitted, s.latencyMs);
    (stepSeconds[s.step] ??= new Array<number>(seconds).fill(0))[s.t]! += 1;
    if (s.step === 'written' && s.kind === 'ok') reservationSeconds[s.t]! += 1;
  }
  for (const k of candidates) record(live.startDelay, k % 7);
  const timeline: TimelinePoint[] = perSecond.map((second, t) => {
    const now = samples.filter((s) => s.t === t);
    const arrivals = [...candidates].filter((k) => arrivalOf(k) - shiftS === t).length;
    const slow = now.filter((s) => isAdmitted(s) && s.latencyMs >= 200);
    const summary = second.latency.totalCount > 0 ? summarise(second.latency) : null;
    return {
      t,
      offered: arrivals,
      started: arrivals,
      completed: now.length,
      errors: now.filter((s) => s.kind === 'failed').length,
      shed: now.filter((s) => s.kind === 'shed').length,
      queued: now.filter((s) => s.kind === 'queued').length,
      admittedP99Ms: second.admitted.totalCount > 0 ? summarise(second.admitted).p99Ms : null,
      ...(slow.length > 0 ? { slowAdmitted: count(slow, (s) => s.step) } : {}),
      p50Ms: summary?.p50Ms ?? null,
      p90Ms: summary?.p90Ms ?? null,
      p99Ms: summary?.p99Ms ?? null,
      inFlight: now.filter((s) => s.latencyMs > 100).length,
      stalenessP99Ms: null,
      // one writer, sampled by every generator: the same value in every report of that second
      writerLagEvents: ((t + shiftS) * 37) % 101,
      writerLagMs: ((t + shiftS) * 53) % 307,
      generatorLoopDelayP99Ms: null,
      generatorLoopDelayMaxMs: null,
    };
  });
  const outcomes = count([...candidates], (k) => {
    const pay = SAMPLES[k * STEPS.length + 3]!;
    return pay.kind === 'ok' ? 'paid' : pay.kind === 'refused' ? 'soldOut' : 'abandoned';
  });
  const ofKinds = (kinds: readonly Kind[]): Histogram => {
    const sum = newHistogram();
    for (const kind of kinds) if (live.byKind.has(kind)) sum.add(live.byKind.get(kind)!);
    return sum;
  };
  const encodeEach = (map: Map<string, Histogram>): Record<string, string> =>
    Object.fromEntries(
      [...map].sort(([a], [b]) => a.localeCompare(b)).map(([key, h]) => [key, encodeHistogram(h)]),
    );
  const requests = samples.length;
  const finished = candidates.size;
  const completed = timeline.map((p) => p.completed);
  return {
    version: 1,
    target: 'engine',
    profile: 'openingDay',
    startedAt: new Date(ZERO_AT_MS + shiftS * 1000).toISOString(),
    durationS: seconds,
    options: { candidates: finished, seed: SEED, poolThreads: 2, openingS: OPENING_S - shiftS },
    totals: {
      candidatesOffered: finished,
      candidatesStarted: finished,
      candidatesFinished: finished,
      requests,
      errors: samples.filter((s) => s.kind === 'failed').length,
      shed: samples.filter((s) => s.kind === 'shed').length,
      outcomes,
    },
    latency: {
      all: summarise(live.all),
      byStep: Object.fromEntries(
        [...live.byStep].sort(([a], [b]) => a.localeCompare(b)).map(([step, h]) => [step, summarise(h)]),
      ),
      admitted: summarise(ofKinds(['ok', 'refused', 'failed'])),
      shed: summarise(ofKinds(['shed'])),
    },
    answers: count(samples, (s) => s.label),
    timeline,
    seats: seatsOf(shiftS, slice.seatsMissing ?? null),
    sellOutS: slice.sellOutS ?? null,
    dashboards: { subscribers: 10, messages: 0, staleness: summarise(newHistogram()) },
    writer: { lagP99Ms: 100 + shiftS, lagMaxEvents: 100 },
    measured: {
      gatewayRequestsPerSec: bestFiveSeconds(completed),
      gatewayCores: 2,
      redisOpsPerSec: Math.round(REDIS_COMMANDS / 50),
      writerEventsPerSec: 900,
      loginsPerSecPerCore: Math.round(bestFiveSeconds(stepSeconds.login ?? []) / 2),
      requestsPerCandidate: Math.round((requests / finished) * 100) / 100,
      redisOpsPerCandidate: Math.round((REDIS_COMMANDS / finished) * 100) / 100,
      eventsPerCandidate: 3,
      p99Ms: summarise(live.all).p99Ms,
    },
    invariants: { ok: true, violations: [], checked: { I1: 1 } },
    ...(slice.shard ? { shard: slice.shard } : {}),
    histograms: {
      all: encodeHistogram(live.all),
      byStep: encodeEach(live.byStep),
      byKind: encodeEach(live.byKind),
      staleness: encodeHistogram(newHistogram()),
      startDelay: encodeHistogram(live.startDelay),
      perSecond: perSecond.map((second) => ({
        latency: second.latency.totalCount > 0 ? encodeHistogram(second.latency) : null,
        admitted: second.admitted.totalCount > 0 ? encodeHistogram(second.admitted) : null,
      })),
      stepSeconds,
      reservationSeconds,
    },
    generators: [
      {
        shard: slice.shard?.index ?? null,
        candidates: finished,
        heapBaselineBytes: 40_000_000,
        heapPeakBytes: 40_000_000 + finished * 300,
        heapBytesPerCandidate: 300,
        maxWalking: 2_000,
        walkingPeak: 1_200,
        backlogPeak: 30,
        startDelay: summarise(live.startDelay),
        method: 'process.memoryUsage after gc',
      },
    ],
    ...(slice.cpuSeries ? { cpuSeries: slice.cpuSeries } : {}),
  };
}

/** The best average of 5 consecutive seconds (the first seconds' windows are shorter), by brute force. */
function bestFiveSeconds(counts: readonly number[]): number {
  let best = 0;
  for (let end = 0; end < counts.length; end++) {
    const window = counts.slice(Math.max(0, end - 4), end + 1);
    best = Math.max(best, window.reduce((sum, n) => sum + n, 0) / window.length);
  }
  return Math.round(best);
}

const CPU_SERIES: CpuPoint[] = Array.from({ length: 13 }, (_, i) => ({
  t: i * 5,
  cpuSeconds: { gateway: i * 4, redis: i * 1.5, generator: i * 2, other: i * 0.2 },
}));

const ALL = new Set(Array.from({ length: CANDIDATES }, (_, k) => k));
const sliceOf = (index: number, count: number): Set<number> =>
  new Set([...ALL].filter((k) => shardOf(k, count) === index));

function shardInfo(index: number, count: number, zeroAtMs = ZERO_AT_MS): ShardInfo {
  return {
    index,
    count,
    candidates: sliceOf(index, count).size,
    totalCandidates: CANDIDATES,
    seed: SEED,
    zeroAtMs,
  };
}

const whole = reportOf(ALL, { sellOutS: 50, cpuSeries: CPU_SERIES });
const shard1 = reportOf(sliceOf(1, 2), { shard: shardInfo(1, 2), sellOutS: null, cpuSeries: CPU_SERIES });
const shard2 = reportOf(sliceOf(2, 2), { shard: shardInfo(2, 2), sellOutS: 50, seatsMissing: 20 });

// ---------------------------------------------------------------------------------------------

describe('mergeReports: two shards are the unsharded run', () => {
  const merged = mergeReports([shard2, shard1]); // any order

  it('has 20,000 answers to merge', () => {
    expect(SAMPLES).toHaveLength(20_000);
    expect(shard1.totals.requests).toBeGreaterThan(9_000);
    expect(shard2.totals.requests).toBeGreaterThan(9_000);
  });

  it('adds the counts', () => {
    expect(merged.totals).toEqual(whole.totals);
    expect(merged.answers).toEqual(whole.answers);
    expect(merged.dashboards.subscribers).toBe(20);
  });

  it('has exactly the unsharded percentiles: histograms are added, never averaged', () => {
    expect(merged.latency).toEqual(whole.latency);
    expect(merged.dashboards.staleness).toEqual(whole.dashboards.staleness);
  });

  it('has the unsharded timeline, second by second', () => {
    expect(merged.timeline).toEqual(whole.timeline);
    expect(merged.histograms?.stepSeconds).toEqual(whole.histograms?.stepSeconds);
    expect(merged.histograms?.reservationSeconds).toEqual(whole.histograms?.reservationSeconds);
  });

  it('stores its histograms again, so that it can be phased again', () => {
    const phases = phasesOf({
      openingS: OPENING_S,
      sellOutS: 50,
      durationS: whole.durationS,
      histograms: whole.histograms!,
      cpuSeries: CPU_SERIES,
    });
    expect(merged.phases).toEqual(phases);
    expect(
      phasesOf({
        openingS: OPENING_S,
        sellOutS: merged.sellOutS,
        durationS: merged.durationS,
        histograms: merged.histograms!,
        cpuSeries: merged.cpuSeries!,
      }),
    ).toEqual(phases);
    expect(phases.map((p) => p.name)).toEqual(['preOpening', 'openingMinute']);
    expect(phases[1]!.cpuPerReservationUs?.server).toBeGreaterThan(0);
  });

  it('recomputes the measured capacity from the merged counts', () => {
    expect(merged.measured).toMatchObject({
      gatewayRequestsPerSec: whole.measured.gatewayRequestsPerSec,
      loginsPerSecPerCore: whole.measured.loginsPerSecPerCore,
      requestsPerCandidate: whole.measured.requestsPerCandidate,
      p99Ms: whole.measured.p99Ms,
      redisOpsPerSec: whole.measured.redisOpsPerSec,
    });
    expect(merged.measured.redisOpsPerCandidate).toBeCloseTo(whole.measured.redisOpsPerCandidate, 1);
  });

  it('takes the one system’s figures once: seats, sell-out, writer lag, CPU', () => {
    expect(merged.seats).toEqual(shard1.seats); // shard 2's series misses a sample
    expect(merged.sellOutS).toBe(50);
    expect(merged.writer).toEqual({ lagP99Ms: 100, lagMaxEvents: 100 });
    expect(merged.cpuSeries).toEqual(CPU_SERIES);
  });

  it('says what it was merged from, with the run’s options and no shard of its own', () => {
    expect(merged.shard).toBeUndefined();
    expect(merged.mergedFrom).toEqual([shard1.shard, shard2.shard]);
    expect(merged.options).toMatchObject({ seed: SEED, shards: 2 });
    expect(merged.generators?.map((g) => g.shard)).toEqual([1, 2]);
    expect(merged.startedAt).toBe(whole.startedAt);
    expect(merged.durationS).toBe(whole.durationS);
  });

  it('is not a PASS without a verdict on the stores', () => {
    expect(merged.invariants.ok).toBe(false);
    expect(merged.invariants.violations).toEqual([
      expect.stringMatching(/^I1–I5 not checked on the stores: /),
    ]);
    expect(merged.invariants.checked).toEqual({});
  });

  it('takes the verdict it is given, with every shard’s own violations', () => {
    const verdict = { ok: true, violations: [], checked: { I1: 3, I2: 5_000 } };
    expect(mergeReports([shard1, shard2], verdict).invariants).toEqual(verdict);
    const planted = { ...shard2, invariants: { ok: false, violations: ['I3 double payment'], checked: {} } };
    expect(mergeReports([shard1, planted], verdict).invariants).toEqual({
      ok: false,
      violations: ['shard 2/2: I3 double payment'],
      checked: verdict.checked,
    });
  });

  it('lays a shard that started a second later over the others by wall-clock time', () => {
    const late = reportOf(sliceOf(2, 2), {
      shard: shardInfo(2, 2, ZERO_AT_MS + 1_000),
      shiftS: 1,
      sellOutS: 50,
    });
    const shifted = mergeReports([shard1, late]);
    expect(shifted.timeline).toEqual(whole.timeline);
    expect(shifted.latency).toEqual(whole.latency);
    expect(shifted.histograms?.stepSeconds).toEqual(whole.histograms?.stepSeconds);
    expect(shifted.durationS).toBe(whole.durationS);
  });

  it('lists the one Redis’s stalls once, on the merged clock', () => {
    const stall = (atS: number, ms: number) => ({
      atS,
      node: '127.0.0.1:7000',
      event: 'aof-fsync-always',
      ms,
    });
    const late = reportOf(sliceOf(2, 2), { shard: shardInfo(2, 2, ZERO_AT_MS + 1_000), shiftS: 1 });
    const merged2 = mergeReports([
      { ...shard1, redisStalls: { thresholdMs: 20, events: [stall(12.4, 310), stall(30.4, 45)] } },
      // the same stall as shard 2 saw it, one second later on its own clock, and one of its own
      { ...late, redisStalls: { thresholdMs: 20, events: [stall(11.4, 310), stall(40.4, 25)] } },
    ]);
    expect(merged2.redisStalls).toEqual({
      thresholdMs: 20,
      events: [stall(12.4, 310), stall(30.4, 45), stall(41.4, 25)],
    });
    expect(mergeReports([shard1, shard2]).redisStalls).toBeUndefined();
  });

  it('merges three shards too', () => {
    const three = [1, 2, 3].map((index) => reportOf(sliceOf(index, 3), { shard: shardInfo(index, 3) }));
    const merged3 = mergeReports(three);
    expect(merged3.totals).toEqual(whole.totals);
    expect(merged3.latency).toEqual(whole.latency);
    expect(merged3.timeline).toEqual(whole.timeline);
  });
});

describe('mergeReports: bad inputs', () => {
  const rejects = (reports: readonly RunReport[], message: RegExp): void => {
    expect(() => mergeReports(reports)).toThrow(ReportInputError);
    expect(() => mergeReports(reports)).toThrow(message);
  };

  it('needs every shard of one run, each once', () => {
    rejects([shard1], /at least 2\), got 1/);
    rejects([shard1, shard1], /shard 1\/2 given twice \(report 1 and report 2\)/);
    const ofThree = { ...shard2, shard: { ...shard2.shard!, count: 3 } };
    rejects([shard1, ofThree], /split 2, 3 ways/);
    const both = [1, 2].map((i) => ({ ...shard1, shard: { ...shard1.shard!, index: i, count: 3 } }));
    rejects(both, /split into 3 shards but 2 reports were given \(missing: 3\/3\)/);
  });

  it('needs the shard block and the histograms', () => {
    rejects([shard1, whole], /report 2 has no "shard" block/);
    rejects([shard1, { ...shard2, histograms: undefined }], /report 2 \(shard 2\/2\) has no "histograms"/);
    const merged = mergeReports([shard1, shard2]);
    rejects([merged, shard2], /report 1 is already merged \(from 2 shards\)/);
  });

  it('refuses the shards of different runs', () => {
    rejects(
      [shard1, { ...shard2, shard: { ...shard2.shard!, seed: 7 } }],
      /seed 20250301 \(shard 1\/2\) but 7/,
    );
    rejects(
      [shard1, { ...shard2, shard: { ...shard2.shard!, totalCandidates: 9 } }],
      /total candidates 5000 \(shard 1\/2\) but 9 \(shard 2\/2\)/,
    );
    rejects([shard1, { ...shard2, profile: 'flat' }], /profile openingDay \(shard 1\/2\) but flat/);
  });

  it('refuses runs with a waiting room', () => {
    const room = { mode: 'opening' } as unknown as RunReport['waitingRoom'];
    rejects(
      [shard1, { ...shard2, waitingRoom: room }],
      /shard 2\/2 ran with a waiting room: merging runs with a waiting room is not supported: its fairness figures need every ticket/,
    );
  });

  it('names a stored histogram that is not one', () => {
    const broken = { ...shard2, histograms: { ...shard2.histograms!, all: 'not base64 at all' } };
    rejects([shard1, broken], /shard 2\/2: histograms.all is not an HDR histogram/);
  });
});

describe('a merged report on the page', () => {
  it('renders, naming its shards and showing the phases and the generators', () => {
    const page = renderReportHtml(mergeReports([shard1, shard2]));
    expect(page).toContain('merged from 2 shards');
    expect(page).toContain('<h2>Phases</h2>');
    expect(page).toContain('<h2>Load generators</h2>');
    expect(page).not.toMatch(/NaN|undefined|Infinity/);
  });
});

describe('npm run report -- merge (reportFromArgs)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'report-merge-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const a = path.join(dir, 'shard-1.json');
  const b = path.join(dir, 'shard-2.json');
  writeFileSync(a, JSON.stringify(shard1));
  writeFileSync(b, JSON.stringify(shard2));
  const runFile = path.join(dir, 'run.json');
  writeFileSync(runFile, JSON.stringify({ version: 1, shards: 2, seed: SEED, candidates: CANDIDATES }));
  const passing = { ok: true, violations: [], checked: { I1: 2, I2: 5_000 } };
  /** A judge that records what it was asked (the real one needs the stores). */
  const judgeOf =
    (asked: string[]): StoreJudge =>
    async (file) => {
      asked.push(file);
      return passing;
    };
  const failsWith = async (argv: readonly string[], message: RegExp, asked: string[] = []): Promise<void> => {
    await expect(reportFromArgs(argv, judgeOf(asked))).rejects.toThrow(ReportInputError);
    await expect(reportFromArgs(argv, judgeOf(asked))).rejects.toThrow(message);
  };

  it('writes the merged report.json and its page to --out, unjudged without --run', async () => {
    const out = path.join(dir, 'merged');
    const asked: string[] = [];
    expect(await reportFromArgs(['merge', b, a, '--out', out], judgeOf(asked))).toEqual([
      path.join(out, 'report.json'),
      path.join(out, 'report.html'),
    ]);
    expect(asked).toEqual([]);
    const merged = readReport(path.join(out, 'report.json'));
    expect(merged.totals).toEqual(whole.totals);
    expect(merged.invariants.ok).toBe(false);
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('merged from 2 shards');
    // the merged report renders again like any report
    expect(await reportFromArgs([path.join(out, 'report.json')])).toEqual([path.join(out, 'report.html')]);
  });

  it('judges the stores once with --run and takes the verdict', async () => {
    const out = path.join(dir, 'judged');
    const asked: string[] = [];
    await reportFromArgs(['merge', a, b, '--out', out, '--run', runFile], judgeOf(asked));
    expect(asked).toEqual([runFile]);
    expect(readReport(path.join(out, 'report.json')).invariants).toEqual(passing);
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('data-verdict="PASS"');
  });

  it('refuses bad input with one clear message, writing nothing and judging nothing', async () => {
    const out = path.join(dir, 'never');
    const asked: string[] = [];
    await failsWith(['merge', a, '--out', out], /at least 2\), got 1/, asked);
    await failsWith(['merge', a, b], /merge needs --out DIR/, asked);
    await failsWith(
      ['merge', a, path.join(dir, 'nope.json'), '--out', out],
      /no report at .*nope\.json/,
      asked,
    );
    await failsWith(
      ['merge', a, a, '--out', out],
      /shard 1\/2 given twice \(.*shard-1\.json and .*shard-1\.json\)/,
      asked,
    );
    await failsWith(['merge', a, b, '--out', out, '--bogus'], /Unknown option '--bogus'/, asked);
    await failsWith(
      ['merge', a, b, '--out', out, '--run', path.join(dir, 'none.json')],
      /no run file at/,
      asked,
    );
    const other = path.join(dir, 'other-run.json');
    writeFileSync(other, JSON.stringify({ version: 1, shards: 2, seed: 7, candidates: CANDIDATES }));
    await failsWith(
      ['merge', a, b, '--out', out, '--run', other],
      /other-run\.json is of another run: seed 7, the reports' 20250301/,
      asked,
    );
    expect(asked).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });

  it('never overwrites an input', async () => {
    const inPlace = path.join(dir, 'report.json');
    writeFileSync(inPlace, JSON.stringify(shard1));
    await failsWith(['merge', inPlace, b, '--out', dir], /would overwrite the input/);
    expect(readReport(inPlace).shard).toEqual(shard1.shard);
  });

  it('asks for the usage with --help (an empty message)', async () => {
    await expect(reportFromArgs(['merge', '--help'])).rejects.toThrow(new ReportInputError(''));
  });
});
