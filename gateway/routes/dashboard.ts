/**
 * The seat dashboard (API.md "Live seat dashboards"): `GET /dashboard` (a static page, vanilla JS, no
 * CDN, no build step), its script and stylesheet, and `GET /api/v1/seats` (extension): the current
 * remaining/capacity/colour of every campus × subject, per province, from which the page draws its
 * tables before the WebSocket (`/ws/seats`, gateway/ws/seats.ts) keeps them live.
 * Read-only and public: seat counts are not personal data. The files are read once, at start-up.
 */
import { readFileSync } from 'node:fs';
import type { Engine } from '../../engine/engine.ts';
import { MAINLAND_PROVINCE_CODES } from '../../engine/idNumber.ts';
import { ALL_SUBJECTS, type SeatColor, type Subject } from '../../engine/subjects.ts';
import type { SeatCount } from '../../engine/views.ts';
import { ok, route, type Reply, type RouteDef } from '../http/route.ts';
import { Type, strictObject } from '../http/schemas.ts';

export interface DashboardDeps {
  readonly engine: Engine;
  /** Provinces to look at when no `province` is asked for (default: the mainland provinces). */
  readonly provinces?: () => readonly string[];
  /**
   * How long one read of a province serves further requests (default 1000 ms): the route is public
   * and every dashboard calls it, so many calls at once cost one Redis read. The live state comes
   * from the WebSocket anyway.
   */
  readonly cacheMs?: number;
}

export interface SeatView {
  readonly subject: Subject;
  readonly remaining: number;
  readonly capacity: number;
  readonly color: SeatColor;
}

export interface CampusSeatsView {
  readonly campusId: string;
  readonly name: string;
  readonly seats: SeatView[];
}

export interface ProvinceSeatsView {
  readonly provinceCode: string;
  readonly campuses: CampusSeatsView[];
}

const SUBJECT_ORDER = new Map<string, number>(ALL_SUBJECTS.map((subject, index) => [subject, index]));

/** One province's campuses with their seats (campuses by id, subjects in the canonical order). */
export async function provinceSeats(engine: Engine, provinceCode: string): Promise<ProvinceSeatsView> {
  const [campuses, counts] = await Promise.all([
    engine.campuses(provinceCode),
    engine.seatCounts(provinceCode),
  ]);
  const byCampus = new Map<string, SeatCount[]>();
  for (const count of counts) {
    const list = byCampus.get(count.campusId) ?? [];
    list.push(count);
    byCampus.set(count.campusId, list);
  }
  const ids = new Set([...campuses.keys(), ...byCampus.keys()]);
  const views: CampusSeatsView[] = [...ids].sort().map((campusId) => ({
    campusId,
    name: campuses.get(campusId)?.name ?? campusId,
    seats: (byCampus.get(campusId) ?? [])
      .sort((a, b) => (SUBJECT_ORDER.get(a.subject) ?? 99) - (SUBJECT_ORDER.get(b.subject) ?? 99))
      .map(({ subject, remaining, capacity, color }) => ({ subject, remaining, capacity, color })),
  }));
  return { provinceCode, campuses: views };
}

const STATIC_DIR = new URL('../static/', import.meta.url);

const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

function staticFile(name: string, contentType: string): Reply {
  return {
    status: 200,
    text: readFileSync(new URL(name, STATIC_DIR), 'utf8'),
    contentType,
    headers: PAGE_HEADERS,
  };
}

const SeatsQuery = strictObject({
  province: Type.Optional(Type.String({ pattern: '^[0-9]{2}$', description: 'two-digit province code' })),
});

export function dashboardRoutes(deps: DashboardDeps): RouteDef[] {
  const page = staticFile('dashboard.html', 'text/html; charset=utf-8');
  const script = staticFile('dashboard.js', 'text/javascript; charset=utf-8');
  const styles = staticFile('dashboard.css', 'text/css; charset=utf-8');
  const provinces = deps.provinces ?? (() => MAINLAND_PROVINCE_CODES);
  const cacheMs = deps.cacheMs ?? 1_000;
  const cache = new Map<string, { readAt: number; view: Promise<ProvinceSeatsView> }>();
  const seatsOf = (code: string): Promise<ProvinceSeatsView> => {
    const now = performance.now();
    const hit = cache.get(code);
    if (hit && now - hit.readAt < cacheMs) return hit.view;
    const view = provinceSeats(deps.engine, code);
    cache.set(code, { readAt: now, view });
    view.catch(() => {
      if (cache.get(code)?.view === view) cache.delete(code);
    });
    return view;
  };

  return [
    route({
      method: 'GET',
      path: '/dashboard',
      summary: 'Live seat dashboard (HTML page; data from /api/v1/seats and /ws/seats)',
      tags: ['dashboard'],
      auth: 'none',
      priority: 'background',
      responses: { 200: 'the page' },
      handler: async () => page,
    }),
    route({
      method: 'GET',
      path: '/dashboard/dashboard.js',
      summary: "The dashboard page's script",
      tags: ['dashboard'],
      auth: 'none',
      priority: 'background',
      responses: { 200: 'JavaScript' },
      handler: async () => script,
    }),
    route({
      method: 'GET',
      path: '/dashboard/dashboard.css',
      summary: "The dashboard page's stylesheet",
      tags: ['dashboard'],
      auth: 'none',
      priority: 'background',
      responses: { 200: 'CSS' },
      handler: async () => styles,
    }),
    route({
      method: 'GET',
      path: '/api/v1/seats',
      summary:
        'Remaining seats per province → campus → subject with the R21 colour (extension); ' +
        'without `province`, every province that has campuses',
      tags: ['dashboard'],
      auth: 'none',
      priority: 'background',
      query: SeatsQuery,
      responses: {
        200: '[{provinceCode, campuses: [{campusId, name, seats: [{subject, remaining, capacity, color}]}]}]',
        400: 'VALIDATION_FAILED',
      },
      handler: async (ctx) => {
        if (ctx.query.province !== undefined) return ok([await seatsOf(ctx.query.province)]);
        const codes = [...new Set(provinces())].sort();
        const all = await Promise.all(codes.map(seatsOf));
        return ok(all.filter((province) => province.campuses.length > 0));
      },
    }),
  ];
}
