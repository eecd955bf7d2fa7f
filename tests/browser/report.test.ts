/**
 * The report page as a person sees it: a synthetic opening (10 minutes, 20 campuses with Chinese
 * names, a violation planted, a baseline to compare with) rendered by loadtest/report/html.ts, opened
 * from disk in headless Chromium (Debian package `chromium`, driven by playwright-core) with the
 * network cut off. Checks it loads nothing but itself, logs no error, draws every chart at a real
 * size, and saves test-artifacts/report.html and a full-page screenshot test-artifacts/report.png.
 * Skipped, saying why, when Chromium is not installed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_TITLES, renderReportHtml } from '../../loadtest/report/html.ts';
import type { RunReport, SeatSeries, TimelinePoint } from '../../loadtest/report/types.ts';
import { ARTIFACTS, HAS_CHROMIUM, launchChromium, NO_CHROMIUM } from '../support/browser.ts';

if (!HAS_CHROMIUM) console.warn(`tests/browser/report.test.ts skipped: ${NO_CHROMIUM}`);

const CAMPUSES = [
  '北京大学',
  '清华大学',
  '中国人民大学',
  '北京师范大学',
  '北京航空航天大学',
  '北京理工大学',
  '中国农业大学',
  '北京交通大学',
  '北京科技大学',
  '北京邮电大学',
];

/** An opening: trickle, spike at t = 120 s, decay; seats of 20 oral campuses selling out. */
function openingRun(target: 'engine' | 'baseline', speed: number): RunReport {
  const timeline: TimelinePoint[] = [];
  let inFlight = 0;
  for (let t = 0; t < 600; t++) {
    const offered = t < 120 ? 15 : Math.round(1500 * Math.exp(-(t - 120) / 90) + 10);
    const capacity = 1400 * speed;
    const started = Math.min(offered, capacity / 8);
    const completed = Math.round(started * 8 * (0.97 + 0.03 * Math.sin(t / 5)));
    const hot = t >= 120 && t < 160;
    inFlight = Math.max(0, Math.round(inFlight * 0.5 + (offered - started) * 8));
    timeline.push({
      t,
      offered,
      started: Math.round(started),
      completed,
      errors: hot && t % 7 === 0 ? 2 : 0,
      shed: hot ? Math.round((offered - started) * 2) : 0,
      p50Ms: t === 300 ? null : (hot ? 9 : 4) / speed + (t % 5) * 0.3,
      p90Ms: t === 300 ? null : (hot ? 22 : 8) / speed + (t % 7) * 0.5,
      p99Ms: t === 300 ? null : (hot ? 48 : 15) / speed + ((t * 13) % 11),
      inFlight,
      stalenessP99Ms: t < 118 ? null : (hot ? 260 : 90) + ((t * 17) % 60),
      writerLagEvents: t % 30 === 29 ? null : Math.round((hot ? 4000 : 150) * (1 + Math.sin(t / 3) * 0.2)),
      writerLagMs: t % 30 === 29 ? null : Math.round((hot ? 700 : 40) * (1 + Math.sin(t / 3) * 0.2)),
      queued: hot ? 40 : 0,
      admittedP99Ms: t === 300 ? null : (hot ? 60 : 15) / speed + ((t * 13) % 11),
    });
  }
  const seats: SeatSeries[] = Array.from({ length: 20 }, (_, i) => {
    const capacity = 200 + ((i * 37) % 9) * 60;
    const campusId = `${CAMPUSES[i % CAMPUSES.length]}${i >= CAMPUSES.length ? '（东校区）' : ''}考点`;
    const rate = (6 + (i % 5) * 2) * speed;
    return {
      campusId: i === 3 ? `${campusId}<script>` : campusId,
      subject: 'CET-SET4',
      capacity,
      points: Array.from(
        { length: 600 },
        (_, t) => [t, Math.max(0, Math.round(capacity - Math.max(0, t - 120) * rate))] as const,
      ),
    };
  });
  return {
    version: 1,
    target,
    profile: 'opening',
    startedAt: '2025-03-01T09:00:00.000Z',
    durationS: 600,
    options: { candidates: 160_000, provinces: 1, dashboards: 1000, seed: 7 },
    totals: {
      candidatesOffered: 160_000,
      candidatesStarted: 158_000,
      candidatesFinished: 156_500,
      requests: 1_250_000 * speed,
      errors: 12,
      shed: 9_400,
      outcomes: { paid: 98_000, soldOut: 51_000, abandoned: 7_500 },
    },
    latency: {
      all: { count: 1_250_000, p50Ms: 5 / speed, p90Ms: 14 / speed, p99Ms: 44 / speed, maxMs: 310 / speed },
      byStep: {
        login: { count: 156_500, p50Ms: 11, p90Ms: 19, p99Ms: 46, maxMs: 300 },
        eligibility: { count: 156_500, p50Ms: 3, p90Ms: 7, p99Ms: 18, maxMs: 90 },
        written: { count: 156_500, p50Ms: 4, p90Ms: 9, p99Ms: 31, maxMs: 150 },
        oral: { count: 140_000, p50Ms: 5, p90Ms: 12, p99Ms: 40, maxMs: 180 },
        pay: { count: 98_000, p50Ms: 4, p90Ms: 8, p99Ms: 25, maxMs: 110 },
      },
    },
    answers: {
      '200': 700_000,
      '201': 520_000,
      '409 SOLD_OUT': 51_000,
      '409 SAME_LEVEL': 300,
      '503 OVERLOADED': 8_000,
      '429 RATE_LIMITED': 1_400,
      '500 INTERNAL': 2,
      network: 10,
    },
    timeline,
    seats,
    sellOutS: 214,
    dashboards: {
      subscribers: 1000,
      messages: 380_000,
      staleness: { count: 380_000, p50Ms: 60, p90Ms: 140, p99Ms: 290, maxMs: 700 },
    },
    writer: { lagP99Ms: 720, lagMaxEvents: 4_900 },
    measured: {
      gatewayRequestsPerSec: 11_500 * speed,
      gatewayCores: 2,
      redisOpsPerSec: 95_000,
      writerEventsPerSec: 52_000,
      loginsPerSecPerCore: 42,
      requestsPerCandidate: 8,
      redisOpsPerCandidate: 6.5,
      eventsPerCandidate: 4.2,
      p99Ms: 44 / speed,
    },
    invariants: {
      ok: false,
      violations: ['I1 oversold: 北京大学考点 CET-SET4 live 501 > capacity 500 (planted by the test)'],
      checked: { I1: 20, I2: 156_500, I3: 156_500, I4: 7_500, reconcile: 1 },
    },
    // the opening behind a waiting room: the line fills before t = 120 s and drains after it
    waitingRoom: {
      mode: 'opening',
      provinceCode: '11',
      series: Array.from({ length: 600 }, (_, t) => {
        const waiting = t < 120 ? t * 900 : Math.max(0, 108_000 - (t - 120) * 260 * speed);
        return [t, Math.round(waiting), t < 120 ? 0 : Math.round(15_600 * speed)] as const;
      }),
      // the keeper's loop: its target grows after the opening, the slots follow
      keeper: Array.from({ length: 600 }, (_, t) => ({
        t,
        targetActive: t < 120 ? 100 : Math.min(2_000, 100 + (t - 120) * 20),
        activeCandidates: t < 120 ? 0 : Math.min(1_950, 90 + (t - 120) * 19),
        health: 'up',
        limit: 256,
        inFlight: t < 120 ? 5 : 120,
      })),
      tickets: {
        total: 158_000,
        prequeued: 108_000,
        joinedAfterOpening: 50_000,
        admitted: 156_500,
        abandoned: 1_500,
        watched: 126_000,
        polled: 32_000,
      },
      waitS: { count: 156_500, p50Ms: 190, p90Ms: 370, p99Ms: 410, maxMs: 430 },
      etaErrorPct: { samples: 9_000_000, p50: 5.2, p90: 12.8, window: 'afterFirstMinute' },
      order: { passages: 50_000, inversions: 0, kendallTau: 1 },
      prequeue: { tickets: 108_000, chiSquareP: 0.37, drawVerified: true },
      waitedWithoutPosition: 0,
      lotteryCommitment: '9f'.repeat(32),
      lotterySeed: '3a'.repeat(32),
    },
    opening: {
      admittedP99MaxPerSecondMs: 71 / speed,
      maxAnswerMs: 310 / speed,
      waitedWithoutPosition: 0,
      orderInversions: 0,
      etaErrorP90Pct: 12.8,
      prequeueChiSquareP: 0.37,
    },
  };
}

describe.skipIf(!HAS_CHROMIUM)('report.html in headless Chromium, offline', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('loads only itself, draws every chart, and is saved as a screenshot', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = `${ARTIFACTS}report.html`;
    writeFileSync(file, renderReportHtml(openingRun('engine', 1), { compare: openingRun('baseline', 0.4) }));

    const context = await browser.newContext({ offline: true, viewport: { width: 1040, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (r) => requests.push(r.url()));

    const response = await page.goto(pathToFileURL(file).href);
    expect(response?.ok()).toBe(true);
    expect(requests).toEqual([pathToFileURL(file).href]);
    expect(problems).toEqual([]);

    expect(await page.locator('.verdict .verdict-word').textContent()).toBe('FAIL');
    expect(await page.locator('.verdict li').first().textContent()).toContain('planted by the test');
    const captions = await page.locator('figure.chart figcaption').allTextContents();
    expect(captions).toEqual(expect.arrayContaining(Object.values(CHART_TITLES)));
    const boxes = await page
      .locator('figure.chart svg')
      .evaluateAll((svgs) => svgs.map((svg) => ({ width: svg.clientWidth, height: svg.clientHeight })));
    expect(boxes).toHaveLength(Object.keys(CHART_TITLES).length);
    for (const box of boxes) {
      expect(box.width).toBeGreaterThan(600);
      expect(box.height).toBeGreaterThan(100);
    }
    expect(await page.locator('table.compare').count()).toBe(1);
    expect(await page.title()).toContain('opening');

    await page.screenshot({ path: `${ARTIFACTS}report.png`, fullPage: true });
    await context.close();
  }, 60_000);
});
