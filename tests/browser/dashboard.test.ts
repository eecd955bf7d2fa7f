/**
 * The dashboard as a person sees it: headless Chromium (Debian package `chromium`, driven by
 * playwright-core) opens /dashboard on a real uWS app with real Redis and watches a campus with
 * 4 CET4 seats go GREEN → YELLOW → RED as seats are reserved, survives a dropped connection, and
 * saves a screenshot to test-artifacts/dashboard.png.
 *
 * Seats are reserved through the engine (`engine.reserveWritten`), the same call the HTTP route
 * POST /api/v1/registration/written makes: that route is not mounted in this test's app, which
 * only carries the dashboard (tests/ws/harness.ts). Each reservation PUBLISHes on the seat channel
 * exactly as it would behind the API.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CandidateRef } from '../../engine/engine.ts';
import { T0, bindOrThrow, campus, loadFixture, openWindow } from '../support/engine.ts';
import { sleep, startSeatServer, type SeatServer } from '../ws/harness.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const SCREENSHOT = `${ARTIFACTS}dashboard.png`;

let s: SeatServer;
let browser: Browser;
let page: Page;
const pageProblems: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `headless Chromium is missing at ${CHROMIUM}: the browser tests need the Debian package ` +
        '"chromium" (run: apt-get update && apt-get install -y chromium), or set CHROMIUM_PATH',
    );
  }
  s = await startSeatServer();
  await loadFixture(s.t.engine, {
    calendar: [openWindow('11'), openWindow('12')],
    campuses: [
      campus({ campusId: '1100101', name: '北京第一考点', capacity: { CET4: 4, CET6: 10, 'CET-SET4': 2 } }),
      campus({ campusId: '1100201', name: '北京第二考点', capacity: { CET4: 30, CET6: 12 } }),
      campus({ campusId: '1200101', name: '天津考点', provinceCode: '12', capacity: { CET4: 8 } }),
    ],
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') pageProblems.push(message.text());
  });
  page.on('pageerror', (error) => pageProblems.push(error.message));
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

async function reserve(ref: CandidateRef): Promise<void> {
  const outcome = await s.t.engine.reserveWritten({
    ...ref,
    subject: 'CET4',
    eligible: true,
    fee: 30,
    now: T0,
  });
  if (!outcome.ok) throw new Error(`reserve ${ref.candidateId}: ${outcome.code}`);
}

const cell = (campusId: string, subject: string) =>
  `td[data-campus="${campusId}"][data-subject="${subject}"]`;

async function expectColor(campusId: string, subject: string, color: string, text: string): Promise<void> {
  await page.waitForSelector(`${cell(campusId, subject)}[data-color="${color}"]`, { timeout: 5_000 });
  const td = page.locator(cell(campusId, subject));
  expect(await td.getAttribute('class')).toContain(color);
  expect(await td.textContent()).toContain(text);
}

describe('/dashboard in headless Chromium', () => {
  it('shows a campus go GREEN → YELLOW → RED as its seats are reserved', async () => {
    const refs = await Promise.all(
      [1, 2, 3, 4].map((n) => bindOrThrow(s.t.engine, { candidateId: `b${n}`, campusId: '1100101' })),
    );

    const response = await page.goto(`${s.baseUrl}/dashboard`);
    expect(response?.status()).toBe(200);
    await page.waitForSelector('#connection[data-state="open"]', { timeout: 5_000 });
    expect(await page.locator('section.province').count()).toBe(2);
    expect(await page.locator('section[data-province="11"] h2').textContent()).toContain('北京');
    expect(await page.locator('tr[data-campus="1100101"] th').textContent()).toContain('北京第一考点');
    await expectColor('1100101', 'CET4', 'GREEN', '4 / 4');
    await expectColor('1200101', 'CET4', 'GREEN', '8 / 8');

    await reserve(refs[0]!);
    await reserve(refs[1]!);
    await expectColor('1100101', 'CET4', 'YELLOW', '2 / 4');
    await page.waitForSelector('#staleness[data-stale="false"]', { timeout: 5_000 });

    await reserve(refs[2]!);
    await reserve(refs[3]!);
    await expectColor('1100101', 'CET4', 'RED', '无');
    expect(await page.locator(cell('1100101', 'CET4')).getAttribute('data-remaining')).toBe('0');
    // the other cells did not move
    await expectColor('1100101', 'CET6', 'GREEN', '10 / 10');
    await expectColor('1100201', 'CET4', 'GREEN', '30 / 30');

    await sleep(900); // let the update highlight fade before the picture
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(pageProblems).toEqual([]);
  });

  it('reconnects after the server drops the connection and catches up', async () => {
    s.sockets.closeAll();
    await page.waitForSelector('#connection[data-state="closed"]', { timeout: 5_000 });
    const ref = await bindOrThrow(s.t.engine, { candidateId: 'r1', campusId: '1100201' });
    await reserve(ref); // while the page is disconnected
    await page.waitForSelector('#connection[data-state="open"]', { timeout: 10_000 });
    // the state sent on (re)subscribe carries the change made while it was away
    await expectColor('1100201', 'CET4', 'GREEN', '29 / 30');
    await expectColor('1100101', 'CET4', 'RED', '无');
  });
});
