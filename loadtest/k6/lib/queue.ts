/**
 * The waiting room in k6 (API.md "Waiting room"), the same way the Node runner does it
 * (loadtest/runner/queue.ts): take a ticket for the province, then wait for the turn — most VUs
 * watch `queue:<ticketId>` over /ws/seats (k6/websockets, the session in `?token=`), the rest
 * (QUEUE_POLLING_SHARE of loadtest/profiles.ts) poll GET /api/v1/queue/tickets/current at a pace set
 * by their ETA — or give up (the `abandonInQueue` behaviour). Records the wait, the ETA error of
 * every ETA seen once the ticket is admitted, and tickets seen waiting without a position.
 */
import { sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { clearTimeout, setTimeout } from 'k6/timers';
import { WebSocket, type MessageEvent } from 'k6/websockets';
import { QUEUE_POLLING_SHARE, type Behaviour } from '../../profiles.ts';
import { WS_URL } from './env.ts';
import { errorCode, get, json, post } from './http.ts';

export const queueWait = new Trend('queue_wait', true);
export const queueEtaError = new Trend('queue_eta_error_pct');
export const queueAdmitted = new Counter('queue_admitted');
export const queueAbandoned = new Counter('queue_abandoned');
export const queueNoPosition = new Counter('queue_waited_without_position');

interface Ticket {
  readonly ticketId: string;
  readonly state: 'PREQUEUE' | 'WAITING' | 'ADMITTED' | 'LAPSED';
  readonly position: number | null;
  readonly etaSeconds: number | null;
  readonly admittedAt: string | null;
}

export type Turn = 'admitted' | 'notActive' | 'abandoned' | 'failed';

/** What one VU saw of its ticket: the ETAs, and whether it ever showed no position while waiting. */
class Seen {
  private readonly etas: { at: number; eta: number }[] = [];
  private withoutPosition = false;
  constructor(readonly started: number) {}

  note(ticket: Ticket): boolean {
    if (ticket.state === 'WAITING') {
      if (ticket.position === null) this.withoutPosition = true;
      else if (ticket.etaSeconds !== null) this.etas.push({ at: Date.now(), eta: ticket.etaSeconds });
    }
    if (ticket.state !== 'ADMITTED') return false;
    const admittedAt = ticket.admittedAt ? Date.parse(ticket.admittedAt) : Date.now();
    queueAdmitted.add(1);
    queueWait.add(Date.now() - this.started);
    for (const { at, eta } of this.etas) {
      const actual = (admittedAt - at) / 1000;
      if (actual >= 1) queueEtaError.add((Math.abs(eta - actual) / actual) * 100);
    }
    if (this.withoutPosition) queueNoPosition.add(1);
    return true;
  }
}

function watch(token: string, ticketId: string, seen: Seen, giveUpMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`${WS_URL}?token=${encodeURIComponent(token)}`);
    let done = false;
    const finish = (admitted: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(admitted);
    };
    const timer = setTimeout(() => finish(false), giveUpMs);
    socket.addEventListener('open', () => socket.send(JSON.stringify({ subscribe: [`queue:${ticketId}`] })));
    socket.addEventListener('message', (e) => {
      const data = (e as MessageEvent).data;
      if (typeof data !== 'string') return;
      let message: { type?: string; ticket?: Ticket } | undefined;
      try {
        message = JSON.parse(data) as typeof message;
      } catch {
        return;
      }
      if (message?.type === 'queue' && message.ticket && seen.note(message.ticket)) finish(true);
    });
    socket.addEventListener('error', () => finish(false));
    socket.addEventListener('close', () => finish(false));
  });
}

function poll(token: string, provinceCode: string, seen: Seen, giveUpMs: number): boolean {
  const until = Date.now() + giveUpMs;
  while (Date.now() < until) {
    const res = get(
      `/api/v1/queue/tickets/current?provinceCode=${provinceCode}`,
      token,
      '/api/v1/queue/tickets/current',
    );
    const ticket = json<{ ticket?: Ticket }>(res)?.ticket;
    if (ticket && seen.note(ticket)) return true;
    if (ticket?.state === 'LAPSED') return false;
    sleep(Math.min(5, Math.max(1, (ticket?.etaSeconds ?? 2) / 2)));
  }
  return false;
}

/** Takes (or finds again) the VU's ticket in `provinceCode` and waits for its turn. */
export async function waitForTurn(
  token: string,
  provinceCode: string,
  behaviour: Behaviour,
  idempotencyKey: string,
  maxWaitMs: number,
): Promise<Turn> {
  const joined = post(
    '/api/v1/queue/tickets',
    { provinceCode },
    token,
    idempotencyKey,
    '/api/v1/queue/tickets',
  );
  if (joined.status === 409 && errorCode(joined) === 'QUEUE_NOT_ACTIVE') return 'notActive';
  const ticket = json<{ ticket?: Ticket }>(joined)?.ticket;
  if ((joined.status !== 200 && joined.status !== 201) || !ticket) return 'failed';
  const seen = new Seen(Date.now());
  if (seen.note(ticket)) return 'admitted';
  const giveUpMs = behaviour === 'abandonInQueue' ? 1_000 + Math.random() * 9_000 : maxWaitMs;
  const admitted =
    Math.random() < QUEUE_POLLING_SHARE
      ? poll(token, provinceCode, seen, giveUpMs)
      : await watch(token, ticket.ticketId, seen, giveUpMs);
  if (admitted) return 'admitted';
  if (behaviour === 'abandonInQueue') {
    queueAbandoned.add(1);
    return 'abandoned';
  }
  return 'failed';
}
