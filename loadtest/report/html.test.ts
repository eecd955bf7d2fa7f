import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderFromArgs } from './file.ts';
import { CHART_TITLES, answerClass, renderReportHtml } from './html.ts';
import { barChart, escapeHtml, lineChart, niceScale, timeScale } from './svg.ts';
import type { RunReport, SeatSeries, TimelinePoint } from './types.ts';

const EVIL_CAMPUS = '北京<script>alert("x")</script>考点';

/** ~60 seconds of an opening, with the gaps a real run has (no answers, missed samples). */
function syntheticReport(overrides: Partial<RunReport> = {}): RunReport {
  const timeline: TimelinePoint[] = [];
  for (let t = 0; t < 60; t++) {
    const offered = t < 10 ? 20 : Math.round(2000 * Math.exp(-(t - 10) / 15));
    const quiet = t === 30 || t === 31; // seconds with no answers: null latencies
    timeline.push({
      t,
      offered,
      started: offered - (t === 12 ? 150 : 0),
      completed: quiet ? 0 : offered * 8,
      errors: t === 12 ? 3 : 0,
      shed: t >= 11 && t <= 14 ? 120 : 0,
      p50Ms: quiet ? null : 4 + (t % 7),
      p90Ms: quiet ? null : 9 + (t % 11),
      p99Ms: quiet ? null : 20 + ((t * 7) % 40),
      inFlight: offered,
      stalenessP99Ms: t % 5 === 0 ? null : 80 + t,
      writerLagEvents: t === 40 ? null : Math.round(500 * Math.exp(-((t - 12) ** 2) / 50)),
      writerLagMs: t === 40 ? null : Math.round(900 * Math.exp(-((t - 12) ** 2) / 50)),
      queued: t >= 10 && t < 14 ? 30 : 0,
      admittedP99Ms: quiet ? null : 18 + ((t * 7) % 40),
    });
  }
  const seatSeries = (campusId: string, capacity: number, drainPerS: number): SeatSeries => ({
    campusId,
    subject: 'CET-SET4',
    capacity,
    points: Array.from(
      { length: 60 },
      (_, t) => [t, Math.max(0, capacity - Math.max(0, t - 10) * drainPerS)] as const,
    ).filter(
      ([t]) => t !== 25, // a missed sample
    ),
  });
  return {
    version: 1,
    target: 'engine',
    profile: 'opening',
    startedAt: '2025-03-01T09:00:00.000Z',
    durationS: 60,
    options: { candidates: 30_000, provinces: 1, dashboards: true },
    totals: {
      candidatesOffered: 30_000,
      candidatesStarted: 29_850,
      candidatesFinished: 29_000,
      requests: 232_000,
      errors: 3,
      shed: 480,
      outcomes: { paid: 20_000, soldOut: 8_000, abandoned: 1_000 },
    },
    latency: {
      all: { count: 232_000, p50Ms: 6, p90Ms: 14, p99Ms: 41, maxMs: 230 },
      byStep: {
        login: { count: 29_000, p50Ms: 12, p90Ms: 20, p99Ms: 48, maxMs: 230 },
        written: { count: 29_000, p50Ms: 4, p90Ms: 9, p99Ms: 30, maxMs: 120 },
        oral: { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 },
      },
    },
    answers: {
      '200': 150_000,
      '201': 81_000,
      '409 SOLD_OUT': 517,
      '503 OVERLOADED': 400,
      '429 RATE_LIMITED': 80,
      network: 3,
    },
    timeline,
    seats: [
      seatSeries('北京大学考点', 900, 30),
      seatSeries(EVIL_CAMPUS, 600, 25),
      seatSeries('清华大学考点', 300, 12),
    ],
    sellOutS: 38,
    dashboards: {
      subscribers: 1000,
      messages: 45_000,
      staleness: { count: 45_000, p50Ms: 40, p90Ms: 90, p99Ms: 140, maxMs: 480 },
    },
    writer: { lagP99Ms: 850, lagMaxEvents: 500 },
    measured: {
      gatewayRequestsPerSec: 16_000,
      gatewayCores: 2,
      redisOpsPerSec: 90_000,
      writerEventsPerSec: 50_000,
      loginsPerSecPerCore: 45,
      requestsPerCandidate: 8,
      redisOpsPerCandidate: 6,
      eventsPerCandidate: 4,
      p99Ms: 41,
    },
    invariants: { ok: true, violations: [], checked: { I1: 3, I2: 29_000, I3: 29_000 } },
    waitingRoom: {
      mode: 'opening',
      provinceCode: '11',
      series: Array.from(
        { length: 60 },
        (_, t) => [t, Math.max(0, 20_000 - t * 300), t < 10 ? 0 : 18_000] as const,
      ),
      keeper: Array.from({ length: 60 }, (_, t) => ({
        t,
        targetActive: 100 + 10 * t,
        activeCandidates: 90 + 10 * t,
        health: 'up',
        limit: 256,
        inFlight: 40,
      })),
      tickets: {
        total: 29_500,
        prequeued: 18_000,
        joinedAfterOpening: 11_500,
        admitted: 29_000,
        abandoned: 500,
        watched: 23_600,
        polled: 5_900,
      },
      waitS: { count: 29_000, p50Ms: 31, p90Ms: 52, p99Ms: 58, maxMs: 61 },
      etaErrorPct: { samples: 400_000, p50: 6.1, p90: 14.2, window: 'afterFirstMinute' },
      order: { passages: 11_500, inversions: 0, kendallTau: 1 },
      prequeue: { tickets: 18_000, chiSquareP: 0.41, drawVerified: true },
      waitedWithoutPosition: 0,
      lotteryCommitment: 'ab'.repeat(32),
      lotterySeed: 'cd'.repeat(32),
    },
    opening: {
      admittedP99MaxPerSecondMs: 57,
      maxAnswerMs: 230,
      waitedWithoutPosition: 0,
      orderInversions: 0,
      etaErrorP90Pct: 14.2,
      prequeueChiSquareP: 0.41,
    },
    ...overrides,
  };
}

/** A run that recorded nothing: every chart must say "no data". */
function emptyReport(): RunReport {
  const none = { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 };
  return syntheticReport({
    durationS: 0,
    totals: {
      candidatesOffered: 0,
      candidatesStarted: 0,
      candidatesFinished: 0,
      requests: 0,
      errors: 0,
      shed: 0,
      outcomes: {},
    },
    latency: { all: none, byStep: {} },
    answers: {},
    timeline: [],
    seats: [],
    sellOutS: null,
    dashboards: { subscribers: 0, messages: 0, staleness: none },
    writer: { lagP99Ms: null, lagMaxEvents: null },
    waitingRoom: { ...syntheticReport().waitingRoom!, series: [], keeper: [] },
  });
}

const FORBIDDEN = /NaN|undefined|Infinity/;

describe('renderReportHtml', () => {
  const html = renderReportHtml(syntheticReport());

  it('is one complete HTML document in UTF-8', () => {
    expect(html.startsWith('<!doctype html>\n<html lang="zh-CN">')).toBe(true);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    for (const tag of ['html', 'head', 'body', 'svg', 'figure', 'table', 'section']) {
      const opened = html.match(new RegExp(`<${tag}[\\s>]`, 'g'))?.length;
      expect(opened, tag).toBe(html.split(`</${tag}>`).length - 1);
    }
  });

  it('shows the failover, the acknowledged writes read back and each Redis node (demo:cluster), and nothing of them otherwise', () => {
    expect(html).not.toContain('<h2>Durability');
    const page = renderReportHtml(
      syntheticReport({
        failover: {
          killedAtMs: 60_125,
          promotedAfterMs: 3_210,
          recoveredAfterMs: 5_400,
          acknowledgedLost: 0,
          waitReplicas: 1,
          killedNode: '127.0.0.1:7001',
          promotedNode: '127.0.0.1:7004',
        },
        acknowledged: {
          checked: 9_000,
          lost: 0,
          lostByKind: { registration: 0, written: 0, oral: 0, payment: 0 },
          examples: [],
        },
        redisNodes: [
          { node: '127.0.0.1:7001', role: 'gone', commandsPerSec: 0 },
          { node: '127.0.0.1:7004', role: 'master', commandsPerSec: 4_100 },
        ],
      }),
    );
    expect(page).toContain('<h2>Durability and failover</h2>');
    expect(page).toContain('127.0.0.1:7001 at 60.13 s into the run');
    expect(page).toContain('127.0.0.1:7004 after 3,210 ms');
    expect(page).toMatch(/acknowledged operations lost<\/th><td>0</);
    expect(page).toMatch(/read back<\/th><td>9,000</);
    expect(page).toMatch(/127.0.0.1:7001<\/th><td>gone/);
  });

  it('loads nothing from outside: no URL, no external script or stylesheet, no script at all', () => {
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/<script\b/i);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html).toContain("default-src 'none'");
  });

  it('has every chart, titled', () => {
    for (const title of Object.values(CHART_TITLES))
      expect(html).toContain(`<figcaption>${title}</figcaption>`);
    expect(html.match(/<svg /g)).toHaveLength(Object.keys(CHART_TITLES).length);
  });

  it('lists latency by step, with the admitted and shed answers apart when the run has them', () => {
    expect(html).toContain('<tr><th>written</th><td>29,000</td><td>4</td>');
    expect(html).not.toContain('admitted (not shed)');
    const page = renderReportHtml(
      syntheticReport({
        latency: {
          ...syntheticReport().latency,
          admitted: { count: 231_520, p50Ms: 6, p90Ms: 13, p99Ms: 39, maxMs: 230 },
          shed: { count: 480, p50Ms: 1, p90Ms: 1, p99Ms: 2, maxMs: 3 },
        },
      }),
    );
    expect(page).toContain(
      '<tr><th>admitted (not shed)</th><td>231,520</td><td>6</td><td>13</td><td>39</td>',
    );
    expect(page).toContain('<tr><th>shed (503/429)</th><td>480</td>');
  });

  it('shows the waiting room: the opening’s figures against their targets, the line, the draw', () => {
    expect(html).toContain('Waiting room (opening, province 11)');
    expect(html).toMatch(/admitted p99, worst second<\/th><td>57 ms<\/td><td>&lt; 200 ms<\/td><td>✓/);
    expect(html).toMatch(/ETA error p90 \(after the first minute\)<\/th><td>14.2 %/);
    expect(html).toContain('recomputed from the revealed seed: matches');
    expect(html).toContain('cd'.repeat(32));
    const failing = renderReportHtml(
      syntheticReport({
        opening: {
          admittedP99MaxPerSecondMs: 640,
          maxAnswerMs: 2600,
          waitedWithoutPosition: 3,
          orderInversions: 7,
          etaErrorP90Pct: 80,
          prequeueChiSquareP: 1e-9,
        },
      }),
    );
    expect(failing.match(/<td>✗<\/td>/g)).toHaveLength(6);
    // a run without a waiting room has no such section
    const plain = renderReportHtml(syntheticReport({ waitingRoom: undefined, opening: undefined }));
    expect(plain).not.toContain('Waiting room (');
    // a report written before the keeper was sampled has the section without its chart
    const older = renderReportHtml(
      syntheticReport({ waitingRoom: { ...syntheticReport().waitingRoom!, keeper: undefined } }),
    );
    expect(older).toContain('Waiting room (');
    expect(older).not.toContain(CHART_TITLES.keeper);
  });

  it('has the headline figures', () => {
    expect(html).toContain('30,000 / 29,850 / 29,000');
    expect(html).toContain('6 ms / 41 ms');
    expect(html).toContain('38 s after the opening');
    expect(html).toContain('480 (0.21 % of requests)');
  });

  it('never prints NaN, undefined or Infinity, even with nulls in the timeline', () => {
    expect(html).not.toMatch(FORBIDDEN);
  });

  it('breaks a line at a null instead of drawing through it', () => {
    const latency = html.slice(html.indexOf(CHART_TITLES.latency), html.indexOf(CHART_TITLES.seats));
    // p50, p90 and p99 each break at t = 30–31: two runs each.
    expect(latency.match(/<path /g)).toHaveLength(6);
  });

  it('escapes campus names, and keeps Chinese as it is', () => {
    expect(html).toContain('北京&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;考点');
    expect(html).not.toContain(EVIL_CAMPUS);
    expect(html).toContain('清华大学考点');
  });

  it('draws the campuses and a total line', () => {
    const seats = html.slice(html.indexOf(CHART_TITLES.seats), html.indexOf(CHART_TITLES.staleness));
    expect(seats).toContain('all campuses (total)');
    expect(seats.match(/class="legend-item"/g)).toHaveLength(4);
  });

  it('shows the 12 largest of many campuses, and the runner’s own totals when it gives them', () => {
    const many: SeatSeries[] = Array.from({ length: 20 }, (_, i) => ({
      campusId: `C${String(i).padStart(2, '0')}`,
      subject: 'CET-SET4',
      capacity: 100 + i,
      points: [
        [0, 100 + i],
        [10, 0],
      ],
    }));
    const total: SeatSeries = {
      campusId: '*',
      subject: 'CET-SET4',
      capacity: 2190,
      points: [
        [0, 2190],
        [10, 0],
      ],
    };
    const page = renderReportHtml(syntheticReport({ seats: [...many, total] }));
    const seats = page.slice(page.indexOf(CHART_TITLES.seats), page.indexOf(CHART_TITLES.staleness));
    expect(seats.match(/class="legend-item"/g)).toHaveLength(13);
    expect(seats).toContain('C19 CET-SET4');
    expect(seats).not.toContain('C07 CET-SET4');
    expect(seats).toContain('all campuses · CET-SET4');
    expect(seats).toContain('The 12 largest of 20 campus series');
  });

  it('says PASS when the invariants hold', () => {
    expect(html).toContain('data-verdict="PASS"');
    expect(html).toContain('every invariant holds');
  });

  it('says FAIL in the verdict box and lists each violation', () => {
    const violation = 'I1 oversold: campus 北京大学考点 CET-SET4 live 901 > capacity 900';
    const page = renderReportHtml(
      syntheticReport({
        invariants: { ok: false, violations: [violation, 'I2 <double> binding'], checked: { I1: 3 } },
      }),
    );
    const box = page.slice(
      page.indexOf('<section class="verdict'),
      page.indexOf('</section>', page.indexOf('<section class="verdict')),
    );
    expect(box).toContain('data-verdict="FAIL"');
    expect(box).toContain('>FAIL<');
    expect(box).toContain('2 violations');
    expect(box).toContain(`<li>${escapeHtml(violation)}</li>`);
    expect(box).toContain('<li>I2 &lt;double&gt; binding</li>');
    expect(page).not.toContain('data-verdict="PASS"');
  });

  it('counts non-2xx answers by class in the errors chart', () => {
    expect(answerClass('201')).toBe('ok');
    expect(answerClass('503 OVERLOADED')).toBe('shed');
    expect(answerClass('429 RATE_LIMITED')).toBe('shed');
    expect(answerClass('409 SOLD_OUT')).toBe('refusal');
    expect(answerClass('500 INTERNAL')).toBe('failure');
    expect(answerClass('network')).toBe('failure');
    const start = html.indexOf(CHART_TITLES.errorsByCode);
    const chart = html.slice(start, html.indexOf('</figure>', start));
    expect(chart).toContain('409 SOLD_OUT · refusals (other 4xx): 517');
    expect(chart).toContain('network · failures (5xx, network, timeout): 3');
    expect(chart).not.toContain('>201<');
  });

  it('renders a run with no data at all: "no data" in every chart, no NaN', () => {
    const page = renderReportHtml(emptyReport());
    expect(page).not.toMatch(FORBIDDEN);
    expect(page.match(/class="no-data"/g)).toHaveLength(Object.keys(CHART_TITLES).length);
    expect(page).toContain('never (seats left at the end)');
  });

  it('shows the phases: work, latency and CPU per reservation by process tree, server first', () => {
    expect(html).not.toContain('<h2>Phases</h2>');
    const latency = { count: 1_000, p50Ms: 5, p90Ms: 9, p99Ms: 40, maxMs: 90 };
    const page = renderReportHtml(
      syntheticReport({
        phases: [
          {
            name: 'preOpening',
            fromS: 0,
            toS: 10.3,
            requests: 2_000,
            reservations: 0,
            latency,
            cpuSeconds: { gateway: 1, generator: 0.5 },
            cpuPerReservationUs: null,
          },
          {
            name: 'openingMinute',
            fromS: 10.3,
            toS: 70.3,
            requests: 150_000,
            reservations: 12_000,
            latency: { ...latency, p99Ms: 120 },
            cpuSeconds: { gateway: 30, 'redis <7001>': 6, generator: 9, other: 1 },
            cpuPerReservationUs: {
              server: 3_000,
              gateway: 2_500,
              'redis <7001>': 500,
              generator: 750,
              other: 83,
            },
          },
        ],
      }),
    );
    const section = page.slice(
      page.indexOf('<h2>Phases</h2>'),
      page.indexOf('</section>', page.indexOf('<h2>Phases</h2>')),
    );
    expect(section).toMatch(
      /<th>server CPU µs\/reservation<\/th><th>gateway CPU µs\/reservation<\/th><th>redis &lt;7001&gt; CPU µs\/reservation<\/th><th>generator CPU µs\/reservation<\/th><th>other CPU µs\/reservation<\/th>/,
    );
    expect(section).toContain(
      '<tr><th>the opening minute</th><td>10.3–70.3</td><td>150,000</td><td>12,000</td><td>5</td><td>120</td><td>3,000</td><td>2,500</td><td>500</td><td>750</td><td>83</td></tr>',
    );
    expect(section).toContain(
      '<tr><th>pre-opening logins</th><td>0–10.3</td><td>2,000</td><td>0</td><td>5</td><td>40</td><td>—</td>',
    );
    expect(page).not.toMatch(FORBIDDEN);
  });

  it('shows each load generator’s footprint, and which shards a merged report adds up', () => {
    expect(html).not.toContain('<h2>Load generators</h2>');
    expect(html).not.toContain('class="note shards"');
    const startDelay = { count: 1_500, p50Ms: 0.2, p90Ms: 1, p99Ms: 14, maxMs: 60 };
    const generator = {
      candidates: 15_000,
      heapBaselineBytes: 50_000_000,
      heapPeakBytes: 56_000_000,
      heapBytesPerCandidate: 400,
      maxWalking: 4_000,
      walkingPeak: 3_100,
      backlogPeak: 250,
      startDelay,
      method: 'heap after gc',
    };
    const shardInfo = { count: 2, candidates: 15_000, totalCandidates: 30_000, seed: 42, zeroAtMs: 1 };
    const page = renderReportHtml(
      syntheticReport({
        generators: [
          { ...generator, shard: 1 },
          { ...generator, shard: 2 },
        ],
        mergedFrom: [
          { ...shardInfo, index: 1 },
          { ...shardInfo, index: 2 },
        ],
      }),
    );
    expect(page).toContain(
      '<p class="note shards">merged from 2 shards (1/2: 15,000 candidates, 2/2: 15,000 candidates) of a run of 30,000 candidates, seed 42</p>',
    );
    expect(page).toContain(
      '<tr><th>shard 2</th><td>15,000</td><td>400</td><td>56 MB</td><td>3,100 / 4,000</td><td>250</td><td>14</td><td>heap after gc</td></tr>',
    );
    const oneShard = renderReportHtml(syntheticReport({ shard: { ...shardInfo, index: 2 } }));
    expect(oneShard).toContain('shard 2/2 of a sharded run: 15,000 of 30,000 candidates, seed 42');
  });

  it('compares with a baseline side by side, with ratios', () => {
    const baseline = syntheticReport({
      target: 'baseline',
      totals: { ...syntheticReport().totals, requests: 116_000 },
      latency: { all: { count: 116_000, p50Ms: 30, p90Ms: 120, p99Ms: 410, maxMs: 2000 }, byStep: {} },
      sellOutS: null,
    });
    const page = renderReportHtml(syntheticReport(), { compare: baseline });
    const compare = page.slice(page.indexOf('Compared with the baseline'));
    expect(compare).toMatch(/<th>requests\/s \(average\)<\/th><td>3,867<\/td><td>1,933<\/td><td>×2<\/td>/);
    expect(compare).toMatch(/<th>latency p99<\/th><td>41 ms<\/td><td>410 ms<\/td><td>×0.1<\/td>/);
    expect(compare).toMatch(/<th>sell-out<\/th><td>38 s<\/td><td>—<\/td><td>—<\/td>/);
    expect(page).not.toMatch(FORBIDDEN);
    expect(renderReportHtml(syntheticReport())).not.toContain('Compared with the baseline');
  });
});

describe('svg helpers', () => {
  it('escapes the five HTML specials', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('picks round ticks covering the data', () => {
    expect(niceScale(0, 97).ticks).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceScale(0, 0).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceScale(0, 0.013).max).toBeGreaterThanOrEqual(0.013);
    expect(timeScale(0, 1800).ticks).toEqual([0, 300, 600, 900, 1200, 1500, 1800]);
    expect(timeScale(0, 59).ticks).toEqual([0, 10, 20, 30, 40, 50]);
  });

  it('says "no data" for series without a finite value, and for empty bars', () => {
    const line = lineChart({
      title: 'T',
      series: [
        {
          name: 's',
          points: [
            [0, null],
            [1, Number.NaN],
          ],
        },
      ],
      xLabel: 'x',
      yLabel: 'y',
    });
    expect(line).toContain('no data');
    expect(line).not.toMatch(FORBIDDEN);
    const bars = barChart({
      title: 'B',
      categories: ['a'],
      series: [{ name: 's', values: [0] }],
      mode: 'grouped',
      valueLabel: 'n',
    });
    expect(bars).toContain('no data');
  });

  it('thins long series to a few points per pixel column', () => {
    const points = Array.from({ length: 100_000 }, (_, i) => [i, Math.sin(i / 50)] as const);
    const svg = lineChart({
      title: 'T',
      series: [{ name: 's', points }],
      xLabel: 'x',
      yLabel: 'y',
      width: 500,
    });
    const path = /<path d="([^"]+)"/.exec(svg)![1]!;
    expect(path.split(/[ML]/).length).toBeLessThan(3 * 500);
    expect(svg.length).toBeLessThan(200_000);
  });

  it('draws grouped bars one per series, with values', () => {
    const svg = barChart({
      title: 'B',
      categories: ['x', 'y'],
      series: [
        { name: 'a', values: [3, 1] },
        { name: 'b', values: [2, 0] },
      ],
      mode: 'grouped',
      valueLabel: 'n',
    });
    expect(svg.match(/<rect [^>]*fill="#/g)).toHaveLength(3 + 2); // 3 bars + 2 legend swatches
  });
});

describe('scripts/report.ts', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'report-html-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renders report.html beside the JSON, with a baseline when asked', () => {
    const json = path.join(dir, 'report.json');
    const base = path.join(dir, 'baseline.json');
    writeFileSync(json, JSON.stringify(syntheticReport()));
    writeFileSync(base, JSON.stringify(syntheticReport({ target: 'baseline' })));
    expect(renderFromArgs([json])).toBe(path.join(dir, 'report.html'));
    expect(readFileSync(path.join(dir, 'report.html'), 'utf8')).toContain(CHART_TITLES.rate);
    const out = path.join(dir, 'compared.html');
    expect(renderFromArgs([json, '--compare', base, '--out', out])).toBe(out);
    expect(readFileSync(out, 'utf8')).toContain('Compared with the baseline');
  });

  it('refuses a missing file or a file that is not a report, clearly', () => {
    expect(() => renderFromArgs([path.join(dir, 'nope.json')])).toThrow(/no report at .*npm run loadtest/);
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"version":1}');
    expect(() => renderFromArgs([bad])).toThrow(/lacks totals/);
    expect(() => renderFromArgs([])).toThrow(/exactly one report.json/);
  });
});
