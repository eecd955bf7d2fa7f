/**
 * A simulated candidate in the waiting room (API.md "Waiting room"): takes a ticket for its
 * province, then watches it until its turn — most over /ws/seats (`queue:<ticketId>`, the session
 * in `?token=`), some by polling GET /api/v1/queue/tickets/current at a pace set by their ETA — or
 * gives up (the `abandonInQueue` behaviour). What it sees goes into the QueueLog: when each ticket
 * joined and was admitted (the line's own clock, from the tickets), every ETA shown, and any moment
 * it waited without a position after the opening. The log turns that into the report's waiting-room
 * section (fairness.ts does the statistics).
 */
import { WebSocket } from 'ws';
import type { Behaviour } from '../profiles.ts';
import { QUEUE_POLLING_SHARE } from '../profiles.ts';
import {
  etaErrorPct,
  kendallTau,
  orderInversions,
  prequeueChiSquareP,
  quantile,
  type Passage,
} from '../report/fairness.ts';
import type { WaitingRoomReport } from '../report/types.ts';
import type { SurgeClient } from './client.ts';
import { summariseMs } from './recorder.ts';

/** API.md's ticket as the runner reads it. */
interface TicketBody {
  readonly ticketId: string;
  readonly state: 'PREQUEUE' | 'WAITING' | 'ADMITTED' | 'LAPSED';
  readonly position: number | null;
  readonly etaSeconds: number | null;
  readonly joinedAt: string;
  readonly admittedAt: string | null;
}

export type QueueOutcome =
  'admitted' | 'abandoned' | 'notActive' | 'lapsed' | 'joinRefused' | 'failed' | 'timeout';

/** The draw's grace: a PREQUEUE ticket may show no position this long after the opening. */
const DRAW_GRACE_MS = 3_000;
/** ETAs shown this long after the opening are P8's (the first minute is excluded). */
const FIRST_MINUTE_MS = 60_000;

interface Watched {
  readonly joinedAt: number;
  readonly prequeued: boolean;
  admittedAt: number | null;
  etas: { shownAt: number; etaSeconds: number }[];
  withoutPosition: boolean;
  abandoned: boolean;
  polled: boolean;
}

export class QueueLog {
  private readonly tickets = new Map<string, Watched>();
  private readonly etaErrors: { signed: number; late: boolean }[] = [];

  constructor(
    /** Engine time of the opening (ms). */
    readonly opensAt: number,
  ) {}

  joined(ticket: TicketBody, polled: boolean): void {
    if (this.tickets.has(ticket.ticketId)) return;
    this.tickets.set(ticket.ticketId, {
      joinedAt: Date.parse(ticket.joinedAt),
      prequeued: ticket.state === 'PREQUEUE',
      admittedAt: null,
      etas: [],
      withoutPosition: false,
      abandoned: false,
      polled,
    });
  }

  /** What a candidate saw of its ticket at engine time `now`. */
  observed(ticket: TicketBody, now: number): void {
    const watched = this.tickets.get(ticket.ticketId);
    if (!watched) return;
    if (ticket.state === 'WAITING') {
      if (ticket.position === null) watched.withoutPosition = true;
      else if (ticket.etaSeconds !== null) watched.etas.push({ shownAt: now, etaSeconds: ticket.etaSeconds });
    } else if (ticket.state === 'PREQUEUE' && now >= this.opensAt + DRAW_GRACE_MS) {
      watched.withoutPosition = true;
    } else if ((ticket.state === 'ADMITTED' || ticket.state === 'LAPSED') && ticket.admittedAt !== null) {
      if (watched.admittedAt === null) {
        watched.admittedAt = Date.parse(ticket.admittedAt);
        // the ETAs it was shown, against when it was in fact admitted; then forget them
        for (const eta of watched.etas) {
          const signed = etaErrorPct({ ...eta, admittedAt: watched.admittedAt });
          if (signed !== null) {
            this.etaErrors.push({ signed, late: eta.shownAt >= this.opensAt + FIRST_MINUTE_MS });
          }
        }
        watched.etas = [];
      }
    }
  }

  abandoned(ticketId: string): void {
    const watched = this.tickets.get(ticketId);
    if (watched) watched.abandoned = true;
  }

  /** The report's section; `draw` is GET /api/v1/queue/{p}/draw's answer (or null). */
  report(args: {
    readonly mode: string;
    readonly provinceCode: string;
    readonly series: WaitingRoomReport['series'];
    readonly keeper?: WaitingRoomReport['keeper'];
    readonly draw: { lotterySeed: string; tickets: [string, number][] } | null;
    readonly drawVerified: boolean;
    readonly lotteryCommitment: string | null;
  }): WaitingRoomReport {
    const all = [...this.tickets.entries()];
    const passages: Passage[] = [];
    const waits: number[] = [];
    for (const [, t] of all) {
      if (t.admittedAt === null) continue;
      waits.push(t.admittedAt - (t.prequeued ? Math.max(t.joinedAt, this.opensAt) : t.joinedAt));
      if (!t.prequeued) passages.push({ arrivedAt: t.joinedAt, admittedAt: t.admittedAt });
    }
    const position = new Map((args.draw?.tickets ?? []).map(([id, place]) => [id, place]));
    const prequeued = all
      .filter(([id, t]) => t.prequeued && position.has(id))
      .sort(([, a], [, b]) => a.joinedAt - b.joinedAt)
      .map(([id], joinRank) => ({ joinRank, position: position.get(id)! }));
    const late = this.etaErrors.filter((e) => e.late);
    const window = late.length >= 20 ? 'afterFirstMinute' : 'all';
    const chosen = window === 'afterFirstMinute' ? late : this.etaErrors;
    const errors = chosen.map((e) => Math.abs(e.signed));
    return {
      mode: args.mode,
      provinceCode: args.provinceCode,
      series: args.series,
      ...(args.keeper === undefined ? {} : { keeper: args.keeper }),
      tickets: {
        total: all.length,
        prequeued: all.filter(([, t]) => t.prequeued).length,
        joinedAfterOpening: all.filter(([, t]) => !t.prequeued).length,
        admitted: all.filter(([, t]) => t.admittedAt !== null).length,
        abandoned: all.filter(([, t]) => t.abandoned).length,
        watched: all.filter(([, t]) => !t.polled).length,
        polled: all.filter(([, t]) => t.polled).length,
      },
      waitS: summariseMs(waits.map((ms) => ms / 1000)),
      etaErrorPct: {
        samples: errors.length,
        p50: roundOrNull(quantile(errors, 0.5)),
        p90: roundOrNull(quantile(errors, 0.9)),
        biasP50: roundOrNull(
          quantile(
            chosen.map((e) => e.signed),
            0.5,
          ),
        ),
        window,
      },
      order: {
        passages: passages.length,
        inversions: orderInversions(passages, 1),
        kendallTau: roundOrNull(kendallTau(passages, 1), 4),
      },
      prequeue: {
        tickets: prequeued.length,
        chiSquareP: roundOrNull(prequeueChiSquareP(prequeued), 4),
        drawVerified: args.drawVerified,
      },
      waitedWithoutPosition: all.filter(([, t]) => t.withoutPosition && !t.abandoned).length,
      lotteryCommitment: args.lotteryCommitment,
      lotterySeed: args.draw?.lotterySeed ?? null,
    };
  }
}

function roundOrNull(value: number | null, digits = 1): number | null {
  if (value === null) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface QueueContext {
  readonly client: SurgeClient;
  readonly log: QueueLog;
  /** ws://…/ws/seats */
  readonly wsUrl: string;
  /** Engine time now (ms). */
  readonly engineNow: () => number;
  readonly random: () => number;
  /** Longest a candidate waits for its turn before the run gives up on it. */
  readonly maxWaitMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes (or finds again) the candidate's ticket and waits for its turn. `notActive`: the room is
 * not open (too early, or the line has drained): the candidate goes on without a pass.
 */
export async function waitForPass(
  ctx: QueueContext,
  token: string,
  provinceCode: string,
  behaviour: Behaviour,
  idempotencyKey: string,
): Promise<QueueOutcome> {
  const joined = await ctx.client.call('queueJoin', 'POST', '/api/v1/queue/tickets', {
    token,
    body: { provinceCode },
    idempotencyKey,
    refusals: ['QUEUE_NOT_ACTIVE'],
  });
  if (joined.code === 'QUEUE_NOT_ACTIVE') return 'notActive';
  if (joined.status !== 200 && joined.status !== 201) return 'joinRefused';
  const ticket = joined.body.ticket as TicketBody;
  const polled = ctx.random() < QUEUE_POLLING_SHARE;
  ctx.log.joined(ticket, polled);
  ctx.log.observed(ticket, ctx.engineNow());
  if (ticket.state === 'ADMITTED') return 'admitted';
  const giveUpAfterMs = behaviour === 'abandonInQueue' ? 1_000 + ctx.random() * 9_000 : ctx.maxWaitMs;
  const started = performance.now();
  let outcome = polled
    ? await poll(ctx, token, provinceCode, giveUpAfterMs)
    : await watch(ctx, token, ticket.ticketId, giveUpAfterMs);
  // a socket that could not be kept: the page falls back to polling for the time left
  if (outcome === 'failed' && !polled) {
    outcome = await poll(
      ctx,
      token,
      provinceCode,
      Math.max(0, giveUpAfterMs - (performance.now() - started)),
    );
  }
  if (outcome === 'timeout' && behaviour === 'abandonInQueue') {
    ctx.log.abandoned(ticket.ticketId);
    return 'abandoned';
  }
  return outcome;
}

/** Polls the ticket, sooner when its turn is near (a browser tab refreshing itself). */
async function poll(
  ctx: QueueContext,
  token: string,
  provinceCode: string,
  giveUpAfterMs: number,
): Promise<QueueOutcome> {
  const until = performance.now() + giveUpAfterMs;
  for (;;) {
    const current = await ctx.client.call(
      'queuePoll',
      'GET',
      `/api/v1/queue/tickets/current?provinceCode=${provinceCode}`,
      { token },
    );
    if (current.status !== 200) {
      // shed past the client's retries: keep the page open and look again a little later
      if (current.status !== 503 && current.status !== 429) return 'failed';
      if (performance.now() + 2_000 > until) return 'timeout';
      await sleep(2_000);
      continue;
    }
    const ticket = current.body.ticket as TicketBody;
    ctx.log.observed(ticket, ctx.engineNow());
    if (ticket.state === 'ADMITTED') return 'admitted';
    if (ticket.state === 'LAPSED') return 'lapsed';
    const waitMs = Math.min(5_000, Math.max(1_000, ((ticket.etaSeconds ?? 2) * 1000) / 2));
    if (performance.now() + waitMs > until) {
      await sleep(Math.max(0, until - performance.now()));
      return 'timeout';
    }
    await sleep(waitMs * (0.8 + ctx.random() * 0.4));
  }
}

/** Watches the ticket over /ws/seats until it is admitted (or the candidate gives up). */
function watch(
  ctx: QueueContext,
  token: string,
  ticketId: string,
  giveUpAfterMs: number,
): Promise<QueueOutcome> {
  return new Promise<QueueOutcome>((resolve) => {
    const ws = new WebSocket(`${ctx.wsUrl}?token=${encodeURIComponent(token)}`);
    let done = false;
    const finish = (outcome: QueueOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.removeAllListeners('close');
      ws.close();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish('timeout'), giveUpAfterMs);
    ws.on('open', () => ws.send(JSON.stringify({ subscribe: [`queue:${ticketId}`] })));
    ws.on('message', (data) => {
      let message: { type?: string; ticket?: TicketBody };
      try {
        message = JSON.parse((data as Buffer).toString('utf8')) as typeof message; // ws: a Buffer (nodebuffer)
      } catch {
        return;
      }
      if (message.type === 'error') finish('failed');
      if (message.type !== 'queue' || !message.ticket) return;
      ctx.log.observed(message.ticket, ctx.engineNow());
      if (message.ticket.state === 'ADMITTED') finish('admitted');
      else if (message.ticket.state === 'LAPSED') finish('lapsed');
    });
    ws.on('error', () => finish('failed'));
    ws.on('close', () => finish('failed'));
  });
}
