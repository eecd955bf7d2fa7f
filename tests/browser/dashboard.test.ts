/**
 * The dashboard as a person sees it: headless Chromium (Debian package `chromium`, driven by
 * playwright-core) opens /dashboard on the whole running system (startTestGateway: gateway threads,
 * Redis, PostgreSQL, writer, sweeper) and watches a campus go GREEN → YELLOW → RED as its seats are
 * reserved through the API (POST /api/v1/registration/written, by candidates signed up and bound
 * through HTTP), survives a dropped connection, and saves a screenshot to
 * test-artifacts/dashboard.png.
 *
 * The campus is the test world's "small" one (tests/support/world.ts): 3 CET4 seats, so the cell
 * reads 3/3 GREEN, 2/3 GREEN (more than half left), 1/3 YELLOW, then RED "无" (R21).
 * The dropped connection: the page's WebSocket goes through a Playwright route to the gateway, and
 * the test closes the page's side of it, as a server or a proxy dropping it would.
 * The waiting room: an operator turns one on for '31' (opening in 10 minutes, so tickets taken now
 * wait in PREQUEUE); the page shows that province's line and admission rate, and follows the line
 * as it grows; provinces without a room show none.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, HAS_CHROMIUM, launchChromium, NO_CHROMIUM } from '../support/browser.ts';
import { signUp, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { registerCandidate, seedTestWorld, type TestWorld } from '../support/world.ts';

const SCREENSHOT = `${ARTIFACTS}dashboard.png`;
const SMALL = 'C11C';
const MAIN = 'C11A';

let gw: TestGateway;
let world: TestWorld;
let browser: Browser;
let page: Page;
const pageProblems: string[] = [];
/** The page's WebSocket connections, as routed through Playwright (the last one is live). */
const sockets: WebSocketRoute[] = [];

beforeAll(async () => {
  if (!HAS_CHROMIUM) throw new Error(NO_CHROMIUM);
  gw = await startTestGateway();
  world = await seedTestWorld(gw);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') pageProblems.push(message.text());
  });
  page.on('pageerror', (error) => pageProblems.push(error.message));
  await page.routeWebSocket(/\/ws\/seats$/, (socket) => {
    socket.connectToServer();
    sockets.push(socket);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await world?.close();
  await gw?.close();
});

/** A candidate of `campus`, signed up and bound through HTTP; `reserve` holds CET4 through HTTP. */
async function candidateOf(campus: 'small' | 'main') {
  const { user } = await registerCandidate(gw, world, { campus, eligibleSubjects: ['CET4'] });
  return {
    reserve: () => gw.http.post('/api/v1/registration/written', { subject: 'CET4' }, { token: user.token }),
  };
}

async function reserveOrThrow(candidate: Awaited<ReturnType<typeof candidateOf>>): Promise<void> {
  const answer = await candidate.reserve();
  if (answer.status !== 201) throw new Error(`reserve: ${answer.status} ${answer.text}`);
}

const cell = (campusId: string, subject: string) =>
  `td[data-campus="${campusId}"][data-subject="${subject}"]`;

async function expectColor(campusId: string, subject: string, color: string, text: string): Promise<void> {
  await page.waitForSelector(`${cell(campusId, subject)}[data-color="${color}"]`, { timeout: 5_000 });
  const td = page.locator(cell(campusId, subject));
  await expect.poll(() => td.textContent(), { timeout: 5_000 }).toContain(text);
  expect(await td.getAttribute('class')).toContain(color);
}

describe('/dashboard in headless Chromium, seats reserved through the API', () => {
  it('shows a campus go GREEN → YELLOW → RED as its seats are reserved', async () => {
    const racers = await Promise.all([1, 2, 3, 4].map(() => candidateOf('small')));

    const response = await page.goto(`${gw.base}/dashboard`);
    expect(response?.status()).toBe(200);
    await page.waitForSelector('#connection[data-state="open"]', { timeout: 5_000 });
    const provinces = await page
      .locator('section.province')
      .evaluateAll((sections) => sections.map((section) => section.getAttribute('data-province')));
    expect(provinces).toEqual(['11', '31', '44']);
    expect(await page.locator('section[data-province="11"] h2').textContent()).toContain('北京');
    expect(await page.locator(`tr[data-campus="${SMALL}"] th`).textContent()).toContain(SMALL);
    await expectColor(SMALL, 'CET4', 'GREEN', '3 / 3');
    await expectColor(MAIN, 'CET4', 'GREEN', '500 / 500');

    await reserveOrThrow(racers[0]!);
    await expectColor(SMALL, 'CET4', 'GREEN', '2 / 3');
    await page.waitForSelector('#staleness[data-stale="false"]', { timeout: 5_000 });

    await reserveOrThrow(racers[1]!);
    await expectColor(SMALL, 'CET4', 'YELLOW', '1 / 3');

    await reserveOrThrow(racers[2]!);
    await expectColor(SMALL, 'CET4', 'RED', '无');
    expect(await page.locator(cell(SMALL, 'CET4')).getAttribute('data-remaining')).toBe('0');
    // what the page shows is what the API answers: no seat left there
    const refused = await racers[3]!.reserve();
    expect([refused.status, refused.body.error?.code]).toEqual([409, 'SOLD_OUT']);
    // the other cells did not move
    await expectColor(SMALL, 'CJT4', 'GREEN', '5 / 5');
    await expectColor(MAIN, 'CET4', 'GREEN', '500 / 500');

    // the update highlight gone before the picture
    await page.waitForSelector('td.seat.flash', { state: 'detached', timeout: 5_000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(pageProblems).toEqual([]);
  });

  it('reconnects after the connection is dropped and catches up', async () => {
    const candidate = await candidateOf('main');
    const connections = sockets.length;
    expect(connections).toBeGreaterThan(0);
    await sockets[connections - 1]!.close({ code: 1001, reason: 'dropped by the test' });
    await page.waitForSelector('#connection[data-state="closed"]', { timeout: 5_000 });
    await reserveOrThrow(candidate); // while the page is disconnected
    await page.waitForSelector('#connection[data-state="open"]', { timeout: 10_000 });
    expect(sockets.length).toBeGreaterThan(connections);
    // the state sent on (re)subscribe carries the change made while it was away
    await expectColor(MAIN, 'CET4', 'GREEN', '499 / 500');
    await expectColor(SMALL, 'CET4', 'RED', '无');
  });

  it("shows a province's waiting room: its line and admission rate, followed as the line grows", async () => {
    const opensAt = world.now + 10 * 60_000;
    await gw.engine.setCalendar(
      { provinceCode: '31', registrationOpensAt: opensAt, registrationClosesAt: opensAt + 10 * 86_400_000 },
      world.now,
    );
    const set = await gw.http.admin('PUT', '/api/v1/admin/queue', [
      { provinceCode: '31', mode: 'opening', preQueueMinutes: 30, passMinutes: 15, maxAdmitPerMinute: null },
    ]);
    expect(set.status).toBe(200);
    const join = async () => {
      const user = await signUp(gw.http);
      const joined = await gw.http.post(
        '/api/v1/queue/tickets',
        { provinceCode: '31' },
        { token: user.token },
      );
      expect([joined.status, joined.body.ticket?.state]).toEqual([201, 'PREQUEUE']);
    };
    await join();
    await page.reload();
    const line = page.locator('p.room[data-province="31"]');
    await page.waitForSelector('p.room[data-province="31"][data-waiting="1"]', { timeout: 10_000 });
    expect(await line.getAttribute('data-active')).toBe('true');
    expect(await line.textContent()).toContain('排队 1 人');
    expect(await line.textContent()).toContain('0 admitted/min');
    // no room in '11': no line there
    expect(await page.locator('p.room[data-province="11"]').isHidden()).toBe(true);

    await join();
    await page.waitForSelector('p.room[data-province="31"][data-waiting="2"]', { timeout: 10_000 });
    expect(pageProblems).toEqual([]);
  });
});
