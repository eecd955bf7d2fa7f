/**
 * The dashboard's HTTP side through the real route pipeline: the page and its files (no CDN, a
 * strict CSP) and GET /api/v1/seats (per province, or every province that has campuses).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { T0, bindOrThrow, campus, loadFixture, openWindow } from '../support/engine.ts';
import { startSeatServer, type SeatServer } from './harness.ts';

let s: SeatServer;

beforeAll(async () => {
  s = await startSeatServer();
  await loadFixture(s.t.engine, {
    calendar: [openWindow('11'), openWindow('12')],
    campuses: [
      campus({ campusId: 'A2', name: '第二考点', capacity: { CET4: 3, 'CET-SET4': 2, CET6: 5 } }),
      campus({ campusId: 'A1', name: '第一考点', capacity: { CET4: 4 } }),
      campus({ campusId: 'T1', provinceCode: '12', capacity: { CET4: 1 } }),
    ],
  });
  const ref = await bindOrThrow(s.t.engine, { candidateId: 'x1', campusId: 'A2' });
  const outcome = await s.t.engine.reserveWritten({
    ...ref,
    subject: 'CET4',
    eligible: true,
    fee: 30,
    now: T0,
  });
  expect(outcome.ok).toBe(true);
});

afterAll(async () => {
  await s.close();
});

describe('GET /api/v1/seats', () => {
  it('lists one province: campuses by id, subjects in the canonical order, with the colour', async () => {
    const response = await fetch(`${s.baseUrl}/api/v1/seats?province=11`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual([
      {
        provinceCode: '11',
        campuses: [
          {
            campusId: 'A1',
            name: '第一考点',
            seats: [{ subject: 'CET4', remaining: 4, capacity: 4, color: 'GREEN' }],
          },
          {
            campusId: 'A2',
            name: '第二考点',
            seats: [
              { subject: 'CET4', remaining: 2, capacity: 3, color: 'GREEN' },
              { subject: 'CET6', remaining: 5, capacity: 5, color: 'GREEN' },
              { subject: 'CET-SET4', remaining: 2, capacity: 2, color: 'GREEN' },
            ],
          },
        ],
      },
    ]);
  });

  it('without a province, lists every province that has campuses', async () => {
    const body = (await (await fetch(`${s.baseUrl}/api/v1/seats`)).json()) as { provinceCode: string }[];
    expect(body.map((p) => p.provinceCode)).toEqual(['11', '12']);
  });

  it('refuses a bad province code and unknown parameters', async () => {
    for (const query of ['province=1', 'province=abc', 'other=1']) {
      const response = await fetch(`${s.baseUrl}/api/v1/seats?${query}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('GET /dashboard', () => {
  it('serves the page and its own script and stylesheet, nothing from elsewhere', async () => {
    const page = await fetch(`${s.baseUrl}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('src="/dashboard/dashboard.js"');
    expect(html).toContain('href="/dashboard/dashboard.css"');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);

    const script = await fetch(`${s.baseUrl}/dashboard/dashboard.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toContain("'/ws/seats'");
    const styles = await fetch(`${s.baseUrl}/dashboard/dashboard.css`);
    expect(styles.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });
});
