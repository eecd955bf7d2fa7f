/**
 * The self-contained report page of a load-test run: one HTML file with inline CSS and inline SVG
 * charts (loadtest/report/svg.ts) that opens offline — no script, no external URL of any kind (a
 * Content-Security-Policy of `default-src 'none'` says so to the browser too). It renders what
 * report.json holds and computes nothing but shares and ratios; every piece of text from the report
 * is HTML-escaped, and a missing value shows as "—" or a "no data" chart, never as NaN.
 */
import { barChart, escapeHtml, formatSeconds, lineChart, type LineSeries } from './svg.ts';
import { stallsInSecond } from './redisStalls.ts';
import type {
  LatencySummary,
  PhaseFigures,
  PhaseName,
  RunReport,
  SeatSeries,
  TimelinePoint,
  WaitingRoomReport,
} from './types.ts';

export interface RenderOptions {
  /** A baseline run to compare with, side by side. */
  readonly compare?: RunReport;
}

/** The charts every page has (each says "no data" when the run recorded none). */
export const CHART_TITLES = {
  rate: 'Offered vs. achieved rate',
  latency: 'Latency percentiles over time',
  seats: 'Seats remaining per campus',
  staleness: 'Dashboard staleness p99 over time',
  writer: 'Writer lag over time',
  errorsPerSecond: 'Errors and shed per second',
  errorsByCode: 'Errors and refusals by code',
  queue: 'Waiting room: line and admission rate',
  admittedP99: 'Admitted answers: p99 per second (P7)',
  keeper: 'Queue keeper: target and active candidates, the gateways’ limit and in flight',
} as const;

/** P7: the answers the gateway served keep p99 < 200 ms in every second. */
const ADMITTED_P99_TARGET_MS = 200;

/** Campus series drawn one by one; the rest only count in the total. */
const MAX_CAMPUS_SERIES = 12;
/** P5: a dashboard sees a seat change within 500 ms (p99). */
const STALENESS_TARGET_MS = 500;

const h = escapeHtml;

/** 1,234 · 12.35 · 0.0012 (small values keep two significant digits, so 12 in a million is not "0"). */
function fmt(value: number | null | undefined, unit = ''): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  const rounded =
    abs >= 100
      ? Math.round(value)
      : abs >= 0.01 || abs === 0
        ? Math.round(value * 100) / 100
        : Number(value.toPrecision(2));
  return `${rounded.toLocaleString('en-US', { maximumFractionDigits: 20 })}${unit}`;
}

function share(part: number, whole: number): string {
  return whole > 0 && Number.isFinite(part) ? fmt((part / whole) * 100, ' %') : '—';
}

function ratio(value: number | null, baseline: number | null): string {
  if (
    value === null ||
    baseline === null ||
    !Number.isFinite(value) ||
    !Number.isFinite(baseline) ||
    baseline === 0
  )
    return '—';
  return `×${(Math.round((value / baseline) * 100) / 100).toLocaleString('en-US')}`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[], className = ''): string {
  if (rows.length === 0) return '<p class="note">no data</p>';
  return (
    `<table${className ? ` class="${className}"` : ''}><thead><tr>${head.map((c) => `<th>${h(c)}</th>`).join('')}</tr></thead><tbody>` +
    rows
      .map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${h(c)}</th>` : `<td>${h(c)}</td>`)).join('')}</tr>`)
      .join('') +
    '</tbody></table>'
  );
}

// ---------------------------------------------------------------------------------------------
// Figures derived from the report (shares and rates only)
// ---------------------------------------------------------------------------------------------

interface Headline {
  readonly requestsPerSec: number | null;
  readonly peakAnsweredPerSec: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly errorShare: number | null;
  readonly shedShare: number | null;
  readonly sellOutS: number | null;
  readonly candidatesFinished: number;
  readonly gatewayRequestsPerSec: number | null;
}

function headline(report: RunReport): Headline {
  const requests = report.totals.requests;
  const peak = report.timeline.reduce<number | null>((max, p) => Math.max(max ?? 0, p.completed), null);
  const latency = report.latency.all;
  return {
    requestsPerSec: report.durationS > 0 ? requests / report.durationS : null,
    peakAnsweredPerSec: peak,
    p50Ms: latency.count > 0 ? latency.p50Ms : null,
    p99Ms: latency.count > 0 ? latency.p99Ms : null,
    errorShare: requests > 0 ? report.totals.errors / requests : null,
    shedShare: requests > 0 ? report.totals.shed / requests : null,
    sellOutS: report.sellOutS,
    candidatesFinished: report.totals.candidatesFinished,
    gatewayRequestsPerSec: report.measured.gatewayRequestsPerSec,
  };
}

type AnswerClass = 'ok' | 'shed' | 'refusal' | 'failure';

/** 2xx ok; 429/503 shed by admission control; other 4xx domain refusals; 5xx and the rest failures. */
export function answerClass(label: string): AnswerClass {
  const status = /^(\d{3})\b/.exec(label)?.[1];
  if (status === undefined) return 'failure';
  if (status.startsWith('2')) return 'ok';
  if (status === '429' || status === '503') return 'shed';
  if (status.startsWith('4')) return 'refusal';
  return 'failure';
}

// ---------------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------------

function verdictBox(report: RunReport): string {
  const v = report.invariants;
  const checked = Object.entries(v.checked)
    .map(([what, count]) => `${what}: ${fmt(count)}`)
    .join(' · ');
  const violations =
    v.violations.length > 0
      ? `<ol class="violations">${v.violations.map((line) => `<li>${h(line)}</li>`).join('')}</ol>`
      : '';
  const status = v.ok ? 'PASS' : 'FAIL';
  const summary = v.ok
    ? 'every invariant holds'
    : `${v.violations.length} violation${v.violations.length === 1 ? '' : 's'}`;
  return (
    `<section class="verdict ${v.ok ? 'pass' : 'fail'}" data-verdict="${status}">` +
    `<div class="verdict-word">${status}</div><div><p class="verdict-summary">Invariants: ${h(summary)}</p>` +
    `${violations}<p class="note">checked: ${h(checked || 'nothing recorded')}</p></div></section>`
  );
}

function latencyRow(name: string, l: LatencySummary): string[] {
  const none = l.count === 0;
  return [
    name,
    fmt(l.count),
    none ? '—' : fmt(l.p50Ms),
    none ? '—' : fmt(l.p90Ms),
    none ? '—' : fmt(l.p99Ms),
    none ? '—' : fmt(l.maxMs),
  ];
}

function headlineTable(report: RunReport): string {
  const t = report.totals;
  const l = report.latency.all;
  const hl = headline(report);
  const noLatency = l.count === 0;
  const rows: string[][] = [
    [
      'candidates offered / started / finished',
      `${fmt(t.candidatesOffered)} / ${fmt(t.candidatesStarted)} / ${fmt(t.candidatesFinished)}`,
    ],
    ['duration', `${fmt(report.durationS)} s`],
    [
      'requests',
      `${fmt(t.requests)} (${fmt(hl.requestsPerSec)}/s on average, peak ${fmt(hl.peakAnsweredPerSec)}/s)`,
    ],
    [
      'latency p50 / p99',
      noLatency ? '—' : `${fmt(l.p50Ms)} ms / ${fmt(l.p99Ms)} ms (max ${fmt(l.maxMs)} ms)`,
    ],
    [
      'sell-out',
      report.sellOutS === null
        ? 'never (seats left at the end)'
        : `${fmt(report.sellOutS)} s after the opening`,
    ],
    ['shed (429/503)', `${fmt(t.shed)} (${share(t.shed, t.requests)} of requests)`],
    ['errors', `${fmt(t.errors)} (${share(t.errors, t.requests)} of requests)`],
    [
      'dashboards',
      `${fmt(report.dashboards.subscribers)} subscribers, ${fmt(report.dashboards.messages)} messages, staleness p99 ` +
        (report.dashboards.staleness.count > 0 ? `${fmt(report.dashboards.staleness.p99Ms)} ms` : '—'),
    ],
    [
      'writer lag',
      `p99 ${fmt(report.writer.lagP99Ms, ' ms')}, max ${fmt(report.writer.lagMaxEvents)} events behind`,
    ],
  ];
  return `<table class="headline"><tbody>${rows.map(([k, v]) => `<tr><th>${h(k!)}</th><td>${h(v!)}</td></tr>`).join('')}</tbody></table>`;
}

function compareTable(report: RunReport, baseline: RunReport): string {
  const a = headline(report);
  const b = headline(baseline);
  const row = (name: string, better: string, x: number | null, y: number | null, unit = ''): string[] => [
    name,
    fmt(x, unit),
    fmt(y, unit),
    ratio(x, y),
    better,
  ];
  const pctOf = (x: number | null): number | null => (x === null ? null : x * 100);
  const rows = [
    row('requests/s (average)', 'higher', a.requestsPerSec, b.requestsPerSec),
    row('peak answered/s', 'higher', a.peakAnsweredPerSec, b.peakAnsweredPerSec),
    row('measured gateway requests/s', 'higher', a.gatewayRequestsPerSec, b.gatewayRequestsPerSec),
    row('latency p50', 'lower', a.p50Ms, b.p50Ms, ' ms'),
    row('latency p99', 'lower', a.p99Ms, b.p99Ms, ' ms'),
    row('errors', 'lower', pctOf(a.errorShare), pctOf(b.errorShare), ' %'),
    row('shed', 'lower', pctOf(a.shedShare), pctOf(b.shedShare), ' %'),
    row('sell-out', 'lower', a.sellOutS, b.sellOutS, ' s'),
    row('candidates finished', 'higher', a.candidatesFinished, b.candidatesFinished),
  ];
  return (
    `<section><h2>Compared with the baseline</h2><p class="note">this run: ${h(report.target)} · ${h(report.profile)} · ${h(report.startedAt)}; ` +
    `baseline: ${h(baseline.target)} · ${h(baseline.profile)} · ${h(baseline.startedAt)}. Ratio = this ÷ baseline.</p>` +
    table(
      ['', `this run (${report.target})`, `baseline (${baseline.target})`, 'ratio', 'better'],
      rows,
      'compare',
    ) +
    '</section>'
  );
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

function timeSeries(
  timeline: readonly TimelinePoint[],
  pick: (p: TimelinePoint) => number | null,
): [number, number | null][] {
  return timeline.map((p) => [p.t, pick(p)]);
}

function hasData(series: readonly LineSeries[]): boolean {
  return series.some((s) => s.points.some(([, y]) => y !== null && Number.isFinite(y)));
}

/** Sum of every series at every second, each carrying its last sample forward. */
function totalOf(series: readonly SeatSeries[]): [number, number | null][] {
  const times = [...new Set(series.flatMap((s) => s.points.map(([t]) => t)))].sort((a, b) => a - b);
  const cursors = series.map(() => ({ index: 0, last: null as number | null }));
  return times.map((t) => {
    let sum = 0;
    let known = 0;
    series.forEach((s, i) => {
      const cursor = cursors[i]!;
      while (cursor.index < s.points.length && s.points[cursor.index]![0] <= t)
        cursor.last = s.points[cursor.index++]![1];
      if (cursor.last !== null) {
        sum += cursor.last;
        known += 1;
      }
    });
    return [t, known > 0 ? sum : null];
  });
}

function seatsChart(seats: readonly SeatSeries[]): string {
  const totals = seats.filter((s) => s.campusId === '*');
  const campuses = seats.filter((s) => s.campusId !== '*');
  const shown = [...campuses].sort((a, b) => b.capacity - a.capacity).slice(0, MAX_CAMPUS_SERIES);
  const series: LineSeries[] = shown.map((s) => ({ name: `${s.campusId} ${s.subject}`, points: s.points }));
  const totalAxis = shown.length > 0 ? 'right' : 'left';
  if (totals.length > 0) {
    for (const s of totals) {
      series.push({
        name: `all campuses · ${s.subject}`,
        points: s.points,
        color: '#222',
        strokeWidth: 2.4,
        dashed: true,
        axis: totalAxis,
      });
    }
  } else if (campuses.length > 1) {
    series.push({
      name: 'all campuses (total)',
      points: totalOf(campuses),
      color: '#222',
      strokeWidth: 2.4,
      dashed: true,
      axis: totalAxis,
    });
  }
  const note =
    campuses.length > shown.length
      ? `The ${shown.length} largest of ${campuses.length} campus series by capacity; the total counts them all.`
      : undefined;
  return lineChart({
    title: CHART_TITLES.seats,
    series,
    xAxis: 'time',
    xLabel: 'time since start',
    yLabel: 'seats remaining',
    rightLabel: 'seats remaining (total)',
    note,
  });
}

function charts(report: RunReport): string {
  const tl = report.timeline;
  const staleness: LineSeries[] = [
    { name: 'staleness p99 (ms)', points: timeSeries(tl, (p) => p.stalenessP99Ms) },
  ];
  if (hasData(staleness)) {
    staleness.push({
      name: `P5 target ${STALENESS_TARGET_MS} ms`,
      points: tl.map((p) => [p.t, STALENESS_TARGET_MS]),
      color: '#999',
      dashed: true,
    });
  }
  const answers = Object.entries(report.answers)
    .filter(([label, count]) => answerClass(label) !== 'ok' && count > 0)
    .sort((x, y) => y[1] - x[1]);
  const classes: readonly [AnswerClass, string, string][] = [
    ['failure', 'failures (5xx, network, timeout)', '#d62728'],
    ['refusal', 'refusals (other 4xx)', '#f28e2b'],
    ['shed', 'shed (429/503)', '#7f7f7f'],
  ];
  return [
    lineChart({
      title: CHART_TITLES.rate,
      series: [
        {
          name: 'offered candidates/s',
          points: timeSeries(tl, (p) => p.offered),
          dashed: true,
          color: '#7f7f7f',
        },
        { name: 'started candidates/s', points: timeSeries(tl, (p) => p.started), color: '#4e79a7' },
        {
          name: 'answered requests/s',
          points: timeSeries(tl, (p) => p.completed),
          color: '#59a14f',
          axis: 'right',
        },
      ],
      xAxis: 'time',
      xLabel: 'time since start',
      yLabel: 'candidates/s',
      rightLabel: 'requests/s',
    }),
    lineChart({
      title: CHART_TITLES.latency,
      series: [
        { name: 'p50', points: timeSeries(tl, (p) => p.p50Ms), color: '#59a14f' },
        { name: 'p90', points: timeSeries(tl, (p) => p.p90Ms), color: '#edc948' },
        { name: 'p99', points: timeSeries(tl, (p) => p.p99Ms), color: '#e15759' },
      ],
      xAxis: 'time',
      xLabel: 'time since start',
      yLabel: 'ms',
      note: 'Latency of the requests answered in each second; gaps are seconds with no answers.',
    }),
    seatsChart(report.seats),
    lineChart({
      title: CHART_TITLES.staleness,
      series: staleness,
      xAxis: 'time',
      xLabel: 'time since start',
      yLabel: 'ms',
    }),
    lineChart({
      title: CHART_TITLES.writer,
      series: [
        {
          name: 'events not yet in PostgreSQL',
          points: timeSeries(tl, (p) => p.writerLagEvents),
          color: '#4e79a7',
        },
        {
          name: 'oldest event’s age (ms)',
          points: timeSeries(tl, (p) => p.writerLagMs),
          color: '#e15759',
          axis: 'right',
        },
      ],
      xAxis: 'time',
      xLabel: 'time since start',
      yLabel: 'events',
      rightLabel: 'ms',
    }),
    lineChart({
      title: CHART_TITLES.errorsPerSecond,
      series: [
        { name: 'errors/s', points: timeSeries(tl, (p) => p.errors), color: '#d62728' },
        { name: 'shed/s', points: timeSeries(tl, (p) => p.shed), color: '#7f7f7f' },
        {
          name: 'in flight',
          points: timeSeries(tl, (p) => p.inFlight),
          color: '#b07aa1',
          dashed: true,
          axis: 'right',
        },
      ],
      xAxis: 'time',
      xLabel: 'time since start',
      yLabel: 'answers/s',
      rightLabel: 'requests in flight',
    }),
    barChart({
      title: CHART_TITLES.errorsByCode,
      categories: answers.map(([label]) => label),
      series: classes.map(([cls, name, color]) => ({
        name,
        color,
        values: answers.map(([label, count]) => (answerClass(label) === cls ? count : 0)),
      })),
      mode: 'stacked',
      valueLabel: 'answers',
      note: 'Every answer that was not a 2xx, from the run’s answers by status and code.',
    }),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

const CSS = `
:root{color-scheme:light;--fg:#1d2330;--muted:#5b6474;--line:#d9dde5}
*{box-sizing:border-box}
body{margin:0 auto;max-width:980px;padding:24px;font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;color:var(--fg);background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.note{color:var(--muted);font-size:12.5px;margin:4px 0}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:right;vertical-align:top}
th:first-child,thead th{text-align:left;background:#f5f6f8;font-weight:600}
table.headline td{text-align:left}
.verdict{display:flex;gap:20px;align-items:flex-start;border:3px solid;border-radius:8px;padding:14px 18px;margin:16px 0}
.verdict.pass{border-color:#2e7d32;background:#edf7ee}.verdict.fail{border-color:#c62828;background:#fdecea}
.verdict-word{font-size:44px;font-weight:800;letter-spacing:2px;line-height:1}
.pass .verdict-word{color:#2e7d32}.fail .verdict-word{color:#c62828}
.verdict-summary{font-size:16px;font-weight:600;margin:2px 0 6px}
.violations{margin:0 0 6px;padding-left:20px;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
figure.chart{margin:18px 0 8px}figcaption{font-weight:600;font-size:15px}
svg{max-width:100%;height:auto;font-size:11px;fill:var(--fg)}
svg .frame{fill:none;stroke:#b9bfca}svg .grid{stroke:#eceef2}svg .axis{stroke:#888}
svg .axis-label{fill:var(--muted)}svg .no-data{font-size:16px;fill:var(--muted)}
svg .hover rect{fill:transparent}svg .hover rect:hover{fill:rgba(29,35,48,.07)}
`;

/**
 * The waiting room (P7, P8): the opening's figures with their targets, the line and the admission
 * rate over time, the admitted answers' p99 per second, waits, ETA accuracy, order and the draw.
 */
function waitingRoomSection(report: RunReport): string {
  const room: WaitingRoomReport | undefined = report.waitingRoom;
  const o = report.opening;
  if (!room || !o) return '';
  const mark = (ok: boolean) => (ok ? '✓' : '✗');
  const p99 = o.admittedP99MaxPerSecondMs;
  const figures = [
    ['admitted p99, worst second', `${fmt(p99, ' ms')}`, '< 200 ms', mark(p99 !== null && p99 < 200)],
    ['slowest answer', fmt(o.maxAnswerMs, ' ms'), '≤ 2,000 ms', mark(o.maxAnswerMs <= 2000)],
    ['waited without a position', fmt(o.waitedWithoutPosition), '0', mark(o.waitedWithoutPosition === 0)],
    ['order inversions after the opening', fmt(o.orderInversions), '0', mark(o.orderInversions === 0)],
    [
      `ETA error p90 (${room.etaErrorPct.window === 'afterFirstMinute' ? 'after the first minute' : 'all ETAs: the line lasted under a minute'})`,
      fmt(o.etaErrorP90Pct, ' %'),
      '≤ 20 %',
      mark(o.etaErrorP90Pct !== null && o.etaErrorP90Pct <= 20),
    ],
    [
      'PREQUEUE draw: χ² p (join order vs. place)',
      fmt(o.prequeueChiSquareP),
      '> 0.001 (uniform)',
      mark(o.prequeueChiSquareP === null || o.prequeueChiSquareP > 0.001),
    ],
  ];
  const t = room.tickets;
  const facts = [
    [
      'tickets',
      `${fmt(t.total)} (${fmt(t.prequeued)} before the opening, ${fmt(t.joinedAfterOpening)} after)`,
    ],
    ['admitted', fmt(t.admitted)],
    ['left the line', fmt(t.abandoned)],
    ['watched live / polled', `${fmt(t.watched)} / ${fmt(t.polled)}`],
    [
      'wait (s): p50 · p90 · p99 · max',
      `${fmt(room.waitS.p50Ms)} · ${fmt(room.waitS.p90Ms)} · ${fmt(room.waitS.p99Ms)} · ${fmt(room.waitS.maxMs)}`,
    ],
    ['ETAs compared', `${fmt(room.etaErrorPct.samples)} (error p50 ${fmt(room.etaErrorPct.p50, ' %')})`],
    ['order: passages, Kendall tau', `${fmt(room.order.passages)}, ${fmt(room.order.kendallTau)}`],
    ['draw', room.prequeue.drawVerified ? 'recomputed from the revealed seed: matches' : 'not verified'],
    ['lottery commitment', room.lotteryCommitment ?? '–'],
    ['lottery seed', room.lotterySeed ?? '–'],
  ];
  const line: LineSeries[] = [
    { name: 'waiting', points: room.series.map(([t0, waiting]) => [t0, waiting]) },
    {
      name: 'admitted per minute',
      points: room.series.map(([t0, , rate]) => [t0, rate]),
      axis: 'right',
      dashed: true,
    },
  ];
  const perSecond: LineSeries[] = [
    { name: 'admitted p99 (ms)', points: timeSeries(report.timeline, (p) => p.admittedP99Ms ?? null) },
    {
      name: `P7 target ${ADMITTED_P99_TARGET_MS} ms`,
      points: report.timeline.map((p) => [p.t, ADMITTED_P99_TARGET_MS]),
      color: '#999',
      dashed: true,
    },
    // what held every Redis answer in that second (a run written before the watch has none)
    ...(report.redisStalls
      ? [
          {
            name: `Redis stall (ms, ≥ ${report.redisStalls.thresholdMs})`,
            points: report.timeline.map((p): [number, number] => [
              p.t,
              Math.max(0, ...stallsInSecond(report.redisStalls, p.t).map((s) => s.ms)),
            ]),
            dashed: true,
          },
        ]
      : []),
  ];
  const keeper = room.keeper ?? [];
  // a report written before the keeper was sampled has no such chart
  const keeperLines: LineSeries[] = [
    { name: 'target active', points: keeper.map((k) => [k.t, k.targetActive]) },
    { name: 'active', points: keeper.map((k) => [k.t, k.activeCandidates]) },
    { name: 'gateways’ limit', points: keeper.map((k) => [k.t, k.limit]), axis: 'right', dashed: true },
    { name: 'in flight', points: keeper.map((k) => [k.t, k.inFlight]), axis: 'right', dashed: true },
  ];
  const keeperChart =
    room.keeper === undefined
      ? ''
      : lineChart({
          title: CHART_TITLES.keeper,
          series: keeperLines,
          xAxis: 'time',
          xLabel: 'time since start',
          yLabel: 'candidates',
          rightLabel: 'requests',
        });
  return `<section><h2>Waiting room (${h(room.mode)}, province ${h(room.provinceCode)})</h2>
${table(['figure', 'this run', 'target', ''], figures)}
${lineChart({ title: CHART_TITLES.queue, series: line, xAxis: 'time', xLabel: 'time since start', yLabel: 'candidates in line', rightLabel: 'admitted per minute' })}
${lineChart({ title: CHART_TITLES.admittedP99, series: perSecond, xAxis: 'time', xLabel: 'time since start', yLabel: 'ms' })}
${keeperChart}
${table(['', ''], facts)}
</section>`;
}

/** The acknowledged writes read back, the failover (demo:cluster) and each Redis node's commands/s. */
function durabilitySection(report: RunReport): string {
  const { acknowledged: ack, failover, redisNodes } = report;
  if (!ack && !failover && !redisNodes) return '';
  const parts: string[] = [];
  if (failover) {
    parts.push(
      table(
        ['failover', ''],
        [
          [
            'master killed (kill -9)',
            `${failover.killedNode} at ${fmt(failover.killedAtMs / 1000, ' s')} into the run`,
          ],
          [
            'replica promoted',
            failover.promotedNode === null
              ? 'not within 60 s'
              : `${failover.promotedNode} after ${fmt(failover.promotedAfterMs, ' ms')}`,
          ],
          ['killed node back as a replica, linked', fmt(failover.recoveredAfterMs, ' ms after the kill')],
          ['REDIS_WAIT_REPLICAS', fmt(failover.waitReplicas)],
          ['acknowledged operations lost', fmt(failover.acknowledgedLost)],
        ],
      ),
    );
  }
  if (ack) {
    const byKind = Object.entries(ack.lostByKind)
      .map(([kind, n]) => `${kind} ${fmt(n)}`)
      .join(', ');
    parts.push(
      table(
        ['acknowledged writes read back', ''],
        [
          ['read back', fmt(ack.checked)],
          ['lost', `${fmt(ack.lost)} (${byKind})`],
          ...ack.examples.map((example) => ['example', example]),
        ],
      ),
    );
  }
  if (redisNodes) {
    parts.push(
      table(
        ['Redis node', 'role at the end', 'commands/s'],
        redisNodes.map((node) => [node.node, node.role, fmt(node.commandsPerSec)]),
      ),
    );
  }
  return `<section><h2>Durability${failover ? ' and failover' : ''}</h2>${parts.join('\n')}</section>`;
}

/** How a phase (phases.ts) is called on the page. */
const PHASE_TITLES: Readonly<Record<PhaseName, string>> = {
  preOpening: 'pre-opening logins',
  openingMinute: 'the opening minute',
  sellOut: 'until sell-out',
  paymentTail: 'payment tail and expiry',
};

/** P3: a load generator holds at most this much heap per candidate. */
const HEAP_PER_CANDIDATE_TARGET_BYTES = 500;

/**
 * The CPU columns of the phases table: `server` (the system under test) first, the trees by name,
 * then the load generator and the rest of the box.
 */
function cpuColumns(phases: readonly PhaseFigures[]): string[] {
  const keys = new Set(phases.flatMap((phase) => Object.keys(phase.cpuPerReservationUs ?? {})));
  const last = ['generator', 'other'];
  const rank = (key: string): number =>
    key === 'server' ? 0 : last.includes(key) ? 2 + last.indexOf(key) : 1;
  return [...keys].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Each phase's work, latency and CPU per reservation (issue 15 item 3). */
function phasesSection(report: RunReport): string {
  const phases = report.phases;
  if (!phases || phases.length === 0) return '';
  const columns = cpuColumns(phases);
  const rows = phases.map((phase) => {
    const none = phase.latency.count === 0;
    return [
      PHASE_TITLES[phase.name] ?? phase.name,
      `${fmt(phase.fromS)}–${fmt(phase.toS)}`,
      fmt(phase.requests),
      fmt(phase.reservations),
      none ? '—' : fmt(phase.latency.p50Ms),
      none ? '—' : fmt(phase.latency.p99Ms),
      ...columns.map((key) => fmt(phase.cpuPerReservationUs?.[key])),
    ];
  });
  const note =
    columns.length > 0
      ? 'CPU µs per reservation by process tree, from the run’s cumulative CPU series; server is every tree but the load generator’s and other (the rest of the box). — : no seat taken in the phase, or no CPU sample around it.'
      : 'No CPU series in this run: no CPU per reservation.';
  return (
    `<section><h2>Phases</h2><p class="note">A second counts in the phase that holds its start; ` +
    `reservations are seats taken (written and oral holds answered 2xx).</p>` +
    table(
      [
        'phase',
        'from–to s',
        'requests',
        'reservations',
        'p50 ms',
        'p99 ms',
        ...columns.map((key) => `${key} CPU µs/reservation`),
      ],
      rows,
    ) +
    `<p class="note">${h(note)}</p></section>`
  );
}

/** What each load generator held (P3) and how far behind the arrival curve it fell. */
function generatorsSection(report: RunReport): string {
  const generators = report.generators;
  if (!generators || generators.length === 0) return '';
  const rows = generators.map((g) => [
    g.shard === null ? 'whole run' : `shard ${g.shard}`,
    fmt(g.candidates),
    fmt(g.heapBytesPerCandidate),
    fmt(g.heapPeakBytes / 1e6, ' MB'),
    `${fmt(g.walkingPeak)} / ${fmt(g.maxWalking)}`,
    fmt(g.backlogPeak),
    g.startDelay.count > 0 ? fmt(g.startDelay.p99Ms) : '—',
    g.method,
  ]);
  return (
    `<section><h2>Load generators</h2><p class="note">Heap per candidate is (peak − baseline) ÷ candidates; ` +
    `P3 allows ${fmt(HEAP_PER_CANDIDATE_TARGET_BYTES)} bytes. Start delay: how long a candidate due by the arrival curve waited for its generator.</p>` +
    table(
      [
        'generator',
        'candidates',
        'heap bytes/candidate',
        'peak heap',
        'walking peak / cap',
        'backlog peak',
        'start delay p99 ms',
        'measured by',
      ],
      rows,
    ) +
    '</section>'
  );
}

/** One line saying which shards a merged report adds up, or which shard this report is. */
function shardsLine(report: RunReport): string {
  const shards = report.mergedFrom;
  if (shards && shards.length > 0) {
    const slices = shards.map((s) => `${s.index}/${s.count}: ${fmt(s.candidates)} candidates`).join(', ');
    const first = shards[0]!;
    return `<p class="note shards">merged from ${shards.length} shards (${h(slices)}) of a run of ${fmt(first.totalCandidates)} candidates, seed ${h(String(first.seed))}</p>`;
  }
  const shard = report.shard;
  if (!shard) return '';
  return (
    `<p class="note shards">shard ${shard.index}/${shard.count} of a sharded run: ${fmt(shard.candidates)} of ${fmt(shard.totalCandidates)} candidates, seed ${h(String(shard.seed))}; ` +
    'the whole run’s report is every shard’s merged (npm run report -- merge)</p>'
  );
}

/** The whole page for one run (and an optional baseline to compare with). */
export function renderReportHtml(report: RunReport, options: RenderOptions = {}): string {
  const title = `Load test ${report.profile} (${report.target}), ${report.startedAt}`;
  const { all, admitted, shed } = report.latency;
  const latencyRows = [
    latencyRow('all', all),
    ...(admitted ? [latencyRow('admitted (not shed)', admitted)] : []),
    ...(shed ? [latencyRow('shed (503/429)', shed)] : []),
    ...Object.entries(report.latency.byStep).map(([step, l]) => latencyRow(step, l)),
  ];
  const outcomeTotal = Object.values(report.totals.outcomes).reduce((s, n) => s + n, 0);
  const answerTotal = Object.values(report.answers).reduce((s, n) => s + n, 0);
  const measured = (Object.entries(report.measured) as [string, number][]).map(([k, v]) => [k, fmt(v)]);
  const runOptions = Object.entries(report.options).map(([k, v]) => [k, String(v)]);
  return `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${h(title)}</h1>
<p class="note">profile ${h(report.profile)} · target ${h(report.target)} · started ${h(report.startedAt)} · ${h(formatSeconds(report.durationS))} · report version ${h(String(report.version))}</p>
${shardsLine(report)}</header>
${verdictBox(report)}
<section><h2>Headline</h2>${headlineTable(report)}</section>
${options.compare ? compareTable(report, options.compare) : ''}
<section><h2>Over time</h2>
${charts(report)}
</section>
${phasesSection(report)}
${waitingRoomSection(report)}
${durabilitySection(report)}
${generatorsSection(report)}
<section><h2>Latency by step</h2>${table(['step', 'count', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'], latencyRows)}</section>
<section><h2>Outcomes</h2>${table(
    ['outcome', 'candidates', 'share'],
    Object.entries(report.totals.outcomes).map(([k, n]) => [k, fmt(n), share(n, outcomeTotal)]),
  )}</section>
<section><h2>Answers</h2>${table(
    ['status / code', 'answers', 'share', 'class'],
    Object.entries(report.answers).map(([k, n]) => [k, fmt(n), share(n, answerTotal), answerClass(k)]),
  )}</section>
<section><h2>Measured capacity</h2><p class="note">What the capacity plan multiplies: <code>npm run plan -- --report &lt;this run’s report.json&gt;</code>.</p>${table(['measure', 'value'], measured)}</section>
<section><h2>Run options</h2>${table(['option', 'value'], runOptions)}</section>
<footer><p class="note">Generated from report.json; this page needs no network and no script.</p></footer>
</body>
</html>
`;
}
