/**
 * The waiting room (API.md "Waiting room"): a province's room as anyone may see it (mode, whether
 * it gates, how many wait, the admission rate, the draw's commitment and, after the opening, its
 * seed and the drawn list), and a candidate's own ticket: take one (the same account again gets the
 * same ticket while it holds a place) and read it. Positions and ETAs are also pushed over
 * /ws/seats (`queue:<ticketId>`, gateway/ws/queueWatch.ts). The transitions are the engine's
 * (engine/queue.ts); these routes only read, join and shape answers.
 */
import { isProvinceCode } from '../../engine/provinces.ts';
import { ticketView } from '../../engine/queue.ts';
import { ApiError } from '../errors.ts';
import { created, ok, route, type RouteDef } from '../http/route.ts';
import { strictObject, Type } from '../http/schemas.ts';
import type { Services } from '../services.ts';
import { isoChina, ticketBody } from './common.ts';

const ProvinceCode = Type.String({ pattern: '^[0-9]{2}$', maxLength: 2 });
const JoinBody = strictObject({ provinceCode: ProvinceCode });
const CurrentQuery = strictObject({ provinceCode: ProvinceCode });

function requireProvince(provinceCode: string): string {
  if (!isProvinceCode(provinceCode)) throw new ApiError('PROVINCE_NOT_FOUND');
  return provinceCode;
}

export function queueRoutes(services: Services): RouteDef[] {
  const { queue } = services;
  return [
    route({
      method: 'GET',
      path: '/api/v1/queue/:provinceCode',
      summary: "A province's waiting room: mode, whether it gates, who waits, the admission rate, the draw",
      tags: ['waiting room'],
      auth: 'none',
      priority: 'background',
      responses: {
        200: '{provinceCode, mode, active, opensAt, waiting, admittedPerMinute, lotteryCommitment, lotterySeed}',
        404: 'PROVINCE_NOT_FOUND',
      },
      handler: async (ctx) => {
        const provinceCode = requireProvince(ctx.params.provinceCode ?? '');
        const room = await queue.room(provinceCode, ctx.now);
        const opensAt = room?.opensAt ?? null;
        return ok({
          provinceCode,
          mode: room?.mode ?? 'off',
          active: room?.active ?? false,
          opensAt: opensAt === null ? null : isoChina(opensAt),
          waiting: room?.waiting ?? 0,
          admittedPerMinute: Math.round((room?.rate ?? 0) * 60),
          lotteryCommitment: room?.commitment ?? null,
          lotterySeed: room?.seed ?? null,
        });
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/queue/:provinceCode/draw',
      summary: "The opening's draw, to recompute: the revealed seed and every PREQUEUE ticket's place",
      tags: ['waiting room'],
      auth: 'none',
      priority: 'background',
      responses: {
        200: '{lotterySeed, tickets: [[ticketId, position], …]} (order = HMAC-SHA256(seed, ticketId) ascending)',
        404: 'PROVINCE_NOT_FOUND',
        409: 'DRAW_NOT_DONE',
      },
      handler: async (ctx) => {
        const provinceCode = requireProvince(ctx.params.provinceCode ?? '');
        const draw = await queue.draw(provinceCode, ctx.now);
        if (!draw) throw new ApiError('DRAW_NOT_DONE');
        return ok(draw);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/queue/tickets',
      summary: 'Take a place in a province’s line (the same account again: the same ticket)',
      tags: ['waiting room'],
      auth: 'session',
      body: JoinBody,
      idempotent: true,
      rateLimits: ['writes'],
      responses: {
        200: '{ticket} (the account already holds a place)',
        201: '{ticket} (PREQUEUE before the opening, WAITING after it)',
        400: 'VALIDATION_FAILED',
        404: 'PROVINCE_NOT_FOUND',
        409: 'QUEUE_NOT_ACTIVE',
      },
      handler: async (ctx) => {
        const provinceCode = requireProvince(ctx.body.provinceCode);
        const joined = await queue.join(ctx.accountId!, provinceCode, ctx.now);
        if (!joined.ok) throw new ApiError(joined.code);
        const body = { ticket: ticketBody(joined.ticket) };
        return joined.created ? created(body) : ok(body);
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/queue/tickets/current',
      summary: "The session account's ticket in a province, with its position and ETA",
      tags: ['waiting room'],
      auth: 'session',
      query: CurrentQuery,
      responses: { 200: '{ticket}', 400: 'VALIDATION_FAILED', 404: 'NO_TICKET, PROVINCE_NOT_FOUND' },
      handler: async (ctx) => {
        const provinceCode = requireProvince(ctx.query.provinceCode);
        const [ticket, counters] = await Promise.all([
          queue.ticketOf(ctx.accountId!, provinceCode),
          queue.counters(provinceCode),
        ]);
        if (!ticket) throw new ApiError('NO_TICKET');
        return ok({ ticket: ticketBody(ticketView(ticket, counters, ctx.now)) });
      },
    }),
  ];
}
