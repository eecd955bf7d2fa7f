/**
 * Administration routes (API.md "Administration"): operators and school staff, all behind
 * `Authorization: Bearer <ADMIN_TOKEN>` (auth 'admin': a candidate session is never enough).
 * Bulk PUTs take JSON arrays and answer `200 {upserted, rejected: [{index, code, message}]}`: each
 * row is validated on its own, a bad row is reported and the good ones land, and sending the same
 * body again changes nothing. Instants in bodies are ISO-8601 strings with an offset, or epoch ms.
 * The work lives in gateway/admin/; this module only declares the routes.
 *
 * The admin clock exists only in TEST_MODE: otherwise the route is not mounted at all, so it
 * answers 404 NOT_FOUND like any unknown path (whatever the token).
 */
import { ok, route, type RouteDef } from '../http/route.ts';
import { strictObject, Type } from '../http/schemas.ts';
import type { Services } from '../services.ts';
import { CalendarRow, CampusRow, FeesBody, putCalendar, putCampuses, putFees } from '../admin/reference.ts';
import { DecisionBody, decide, listReviews, ReviewListQuery } from '../admin/reviews.ts';
import { putCet4Scores, putRoster, RosterRow, ScoreRow } from '../../roster/admin.ts';
import { putQueue, QueueRow } from '../admin/queue.ts';
import { bulkBody } from '../admin/rows.ts';
import { statsCollector } from '../admin/stats.ts';
import { isoChina } from './common.ts';

const TEN_YEARS_MS = 10 * 366 * 24 * 3_600_000;

const ClockBody = Type.Union(
  [
    strictObject({ nowMs: Type.Integer({ minimum: 0, maximum: 8_640_000_000_000 }) }),
    strictObject({ advanceMs: Type.Integer({ minimum: -TEN_YEARS_MS, maximum: TEN_YEARS_MS }) }),
  ],
  { description: 'Either {nowMs} (set the clock; it keeps running from there) or {advanceMs} (move it)' },
);

/** Bulk uploads are larger than candidate requests (the global limit stays small, API.md). */
const BULK_BODY_BYTES = 8 * 1024 * 1024;

const BULK_ANSWER = '{upserted, rejected: [{index, code, message}]}';
const BULK_REFUSALS = 'VALIDATION_FAILED (the body is not an array)';

export function adminRoutes(services: Services): RouteDef[] {
  const stats = statsCollector(services);
  const routes: RouteDef[] = [
    route({
      method: 'PUT',
      maxBodyBytes: BULK_BODY_BYTES,
      path: '/api/v1/admin/campuses',
      summary: 'Create or update campuses: capacities per subject, oral opening times (R17, R19, R20)',
      tags: ['administration'],
      auth: 'admin',
      body: bulkBody('Campus rows', CampusRow, {
        campusId: 'C1101',
        name: '第一考点',
        provinceCode: '11',
        schoolId: 'S11001',
        studentsMayTakeOralElsewhere: true,
        capacity: { CET4: 300, 'CET-SET4': 40 },
        oralOpens: { ownSchoolAt: '2026-03-02T09:00:00+08:00', provinceWideAt: null },
      }),
      responses: {
        200: `${BULK_ANSWER}; a row is rejected with VALIDATION_FAILED (bad field, unknown subject, province or school mismatch) or CAPACITY_BELOW_TAKEN`,
        400: BULK_REFUSALS,
        401: 'UNAUTHORIZED',
      },
      handler: async (ctx) => ok(await putCampuses(services, ctx.body, ctx.now)),
    }),
    route({
      method: 'PUT',
      maxBodyBytes: BULK_BODY_BYTES,
      path: '/api/v1/admin/calendar',
      summary: 'Set provinces’ online registration windows (R5, R6)',
      tags: ['administration'],
      auth: 'admin',
      body: bulkBody('Calendar rows', CalendarRow, {
        provinceCode: '11',
        registrationOpensAt: '2026-03-01T09:00:00+08:00',
        registrationClosesAt: '2026-03-10T17:00:00+08:00',
      }),
      responses: { 200: BULK_ANSWER, 400: BULK_REFUSALS, 401: 'UNAUTHORIZED' },
      handler: async (ctx) => ok(await putCalendar(services, ctx.body, ctx.now)),
    }),
    route({
      method: 'PUT',
      maxBodyBytes: BULK_BODY_BYTES,
      path: '/api/v1/admin/fees',
      summary: 'Set subject fees in yuan (subjects left out keep theirs)',
      tags: ['administration'],
      auth: 'admin',
      body: FeesBody,
      responses: {
        200: `${BULK_ANSWER} and fees (the whole table now)`,
        400: 'VALIDATION_FAILED (unknown subject, negative, more than two decimals)',
        401: 'UNAUTHORIZED',
      },
      handler: async (ctx) => ok(await putFees(services, ctx.body)),
    }),
    route({
      method: 'PUT',
      maxBodyBytes: BULK_BODY_BYTES,
      path: '/api/v1/admin/roster',
      summary: 'Create or update school records (R3, R4; R7: saved registrations keep their snapshot)',
      tags: ['administration'],
      auth: 'admin',
      body: bulkBody(
        'Roster rows, checked like the roster importer’s; the answer lists the candidateId of each row that landed',
        RosterRow,
        {
          idType: 'RESIDENT_ID',
          idNumber: '110105200001010024',
          name: '张三',
          schoolId: 'S11001',
          campusId: 'C1101',
          grade: '2023',
          eligibleSubjects: ['CET4'],
          cet6Barred: false,
        },
      ),
      responses: {
        200: `${BULK_ANSWER} (+ reason), inserted, updated, unchanged, candidates: [{index, candidateId}]; row codes INVALID_ID_NUMBER, ID_TYPE_NOT_ACCEPTED, VALIDATION_FAILED`,
        400: BULK_REFUSALS,
        401: 'UNAUTHORIZED',
      },
      handler: async (ctx) => ok(await putRoster(services, ctx.body, ctx.now)),
    }),
    route({
      method: 'PUT',
      maxBodyBytes: BULK_BODY_BYTES,
      path: '/api/v1/admin/cet4-scores',
      summary: 'Create or update CET4 written results by admission ticket (R4, R10)',
      tags: ['administration'],
      auth: 'admin',
      body: bulkBody('CET4 score rows', ScoreRow, {
        ticketNumber: '110001231100001',
        idNumber: '110105200001010024',
        name: '张三',
        score: 512,
        year: 2023,
      }),
      responses: {
        200: `${BULK_ANSWER} (+ reason), inserted, updated, unchanged; row codes INVALID_ID_NUMBER, VALIDATION_FAILED`,
        400: BULK_REFUSALS,
        401: 'UNAUTHORIZED',
      },
      handler: async (ctx) => ok(await putCet4Scores(services, ctx.body, ctx.now)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/admin/cet6-reviews',
      summary: 'CET6 review applications for staff, oldest first (R11)',
      tags: ['administration'],
      auth: 'admin',
      priority: 'background',
      query: ReviewListQuery,
      responses: {
        200: '{reviews: [{reviewId, status, ticketNumber, submittedAt, decidedAt, candidate, cet4Record, …}], total}',
        400: 'VALIDATION_FAILED',
        401: 'UNAUTHORIZED',
      },
      handler: async (ctx) =>
        ok(
          await listReviews(
            services,
            ctx.query.status,
            ctx.query.limit === undefined ? undefined : Number(ctx.query.limit),
          ),
        ),
    }),
    route({
      method: 'POST',
      path: '/api/v1/admin/cet6-reviews/:id/decision',
      summary: 'Approve or reject a pending CET6 review application (R11)',
      tags: ['administration'],
      auth: 'admin',
      body: DecisionBody,
      idempotent: true,
      responses: {
        200: '{review}',
        401: 'UNAUTHORIZED',
        404: 'REVIEW_NOT_FOUND',
        409: 'REVIEW_NOT_PENDING',
      },
      handler: async (ctx) => ok(await decide(services, ctx.params.id ?? '', ctx.body.approve, ctx.now)),
    }),
    route({
      method: 'PUT',
      path: '/api/v1/admin/queue',
      summary: 'Set provinces’ waiting rooms: mode, PREQUEUE lead time, pass length, admission cap',
      tags: ['administration', 'waiting room'],
      auth: 'admin',
      body: bulkBody('Waiting-room rows', QueueRow, {
        provinceCode: '11',
        mode: 'opening',
        preQueueMinutes: 30,
        passMinutes: 15,
        maxAdmitPerMinute: null,
      }),
      responses: {
        200: `${BULK_ANSWER} + lotteryCommitments {provinceCode: hex SHA-256}; a row is rejected with VALIDATION_FAILED or PROVINCE_NOT_FOUND`,
        400: BULK_REFUSALS,
        401: 'UNAUTHORIZED',
      },
      handler: async (ctx) => ok(await putQueue(services, ctx.body, ctx.now)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/admin/stats',
      summary: 'Seats taken per subject and province, writer lag per stream, sweeper lag, persisted counts',
      tags: ['administration'],
      auth: 'admin',
      priority: 'background',
      responses: { 200: '{clock, seats, streams, sweeper, persisted}', 401: 'UNAUTHORIZED' },
      handler: async (ctx) => ok(await stats(ctx.now)),
    }),
  ];

  const clock = services.drivenClock;
  if (clock) {
    routes.push(
      route({
        method: 'POST',
        path: '/api/v1/admin/clock',
        summary: 'TEST_MODE only: set or move the clock every gateway, the sweeper and the writer read',
        tags: ['administration'],
        auth: 'admin',
        body: ClockBody,
        idempotent: true,
        responses: {
          200: '{nowMs, now}',
          400: 'VALIDATION_FAILED',
          401: 'UNAUTHORIZED',
          404: 'NOT_FOUND (not in test mode)',
        },
        handler: async (ctx) => {
          const nowMs = await clock.set(ctx.body);
          return ok({ nowMs, now: isoChina(nowMs) });
        },
      }),
    );
  }
  return routes;
}
