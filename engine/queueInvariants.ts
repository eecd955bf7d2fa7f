/**
 * The waiting room's invariants (P8), checked with I1–I4 by engine/invariants.ts after every load,
 * property and fault test: read-only, over what Redis holds and what the outbox recorded.
 * - one live ticket per account and province (a lapsed one may stay as history);
 * - no place in line shared: every drawn or late ticket has its own seq, the lists agree with it;
 * - admission followed the line: every ticket before the head is admitted (or lapsed), none after;
 * - no ticket admitted twice, and the admitted batches follow each other without a gap (events);
 * - every active slot belongs to an admitted ticket.
 * The room must be at rest while it is checked (the line drained, or no keeper ticking): its keys
 * are read one after another. A line that moved meanwhile (a run that timed out with people still
 * in line) is reported as that, once, instead of the mismatches its moving parts would show.
 */
import type { Engine } from './engine.ts';
import { decodeEvent } from './events.ts';
import { luaList } from './outbox.ts';
import { decodeTicket, type TicketRecord } from './queue.ts';

export interface QueueViolation {
  readonly invariant: 'QUEUE';
  readonly message: string;
}

export interface QueueReport {
  readonly tickets: number;
  readonly admitted: number;
}

async function allTickets(engine: Engine, key: string): Promise<Map<string, TicketRecord>> {
  const tickets = new Map<string, TicketRecord>();
  let cursor = '0';
  do {
    const [next, flat] = await engine.redis.hscanBuffer(key, cursor, 'COUNT', 5000);
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const id = flat[i]!.toString();
      tickets.set(id, decodeTicket(id, flat[i + 1]!));
    }
    cursor = next.toString();
  } while (cursor !== '0');
  return tickets;
}

export async function checkQueueInvariants(
  engine: Engine,
  provinceCode: string,
  violations: { invariant: string; message: string }[],
  options: { checkEvents?: boolean } = {},
): Promise<QueueReport> {
  const q = engine.keys.province(provinceCode).queue;
  const room = await engine.redis.hgetall(q.room);
  if (!room.commit) return { tickets: 0, admitted: 0 };
  const found: string[] = [];
  const say = (message: string) => found.push(message);
  const n = Number(room.n ?? 0);
  const head = Number(room.head ?? 0);
  const phase = room.phase ?? 'PRE';
  const [tickets, accounts, prequeue, drawn, late, slots] = await Promise.all([
    allTickets(engine, q.tickets),
    engine.redis.hgetall(q.accounts),
    engine.redis.lrange(q.prequeue, 0, -1),
    engine.redis.lrange(q.drawn, 0, -1),
    engine.redis.lrange(q.late, 0, -1),
    engine.redis.zrange(q.slots, 0, -1),
  ]);

  // one live ticket per account: the account map names it, and no other live ticket is the account's
  for (const [accountId, ticketId] of Object.entries(accounts)) {
    const ticket = tickets.get(ticketId);
    if (!ticket) say(`account ${accountId} names missing ticket ${ticketId}`);
    else if (ticket.accountId !== accountId)
      say(`ticket ${ticketId} belongs to ${ticket.accountId}, not ${accountId}`);
  }
  for (const ticket of tickets.values()) {
    if (ticket.state === 'L') continue;
    if (accounts[ticket.accountId] !== ticket.ticketId) {
      say(
        `account ${ticket.accountId} has live ticket ${ticket.ticketId} besides ${accounts[ticket.accountId]}`,
      );
    }
  }

  // no place shared: the lists hold each ticket once, at the place its seq says
  const placed = new Map<string, number>();
  const place = (ticketId: string, seq: number, list: string) => {
    if (placed.has(ticketId)) say(`ticket ${ticketId} is in line twice (${list})`);
    placed.set(ticketId, seq);
    const ticket = tickets.get(ticketId);
    if (!ticket) say(`${list} names missing ticket ${ticketId}`);
    else if (ticket.seq !== seq) say(`ticket ${ticketId} has seq ${ticket.seq}, ${list} puts it at ${seq}`);
  };
  drawn.forEach((id, i) => place(id, i + 1, 'the draw'));
  late.forEach((id, i) => place(id, n + i + 1, 'the late list'));
  if (phase !== 'PRE' && prequeue.length !== n) say(`PREQUEUE holds ${prequeue.length}, closed at ${n}`);
  if (drawn.length > n) say(`${drawn.length} drawn of ${n}`);
  for (const id of prequeue) {
    const ticket = tickets.get(id);
    if (ticket && ticket.state === 'P' && phase === 'OPEN') say(`ticket ${id} still PREQUEUE after the draw`);
  }
  const seqs = new Set<number>();
  for (const ticket of tickets.values()) {
    if (ticket.seq === 0) continue;
    if (seqs.has(ticket.seq)) say(`seq ${ticket.seq} shared`);
    seqs.add(ticket.seq);
    if (!placed.has(ticket.ticketId))
      say(`ticket ${ticket.ticketId} has seq ${ticket.seq} but is in no list`);
  }

  // admission followed the line
  let admitted = 0;
  for (const ticket of tickets.values()) {
    const isAdmitted = ticket.state === 'A' || ticket.state === 'L';
    if (isAdmitted) admitted++;
    if (ticket.seq === 0) {
      if (isAdmitted) say(`ticket ${ticket.ticketId} admitted without a place`);
      continue;
    }
    if (ticket.seq <= head && !isAdmitted)
      say(`ticket ${ticket.ticketId} (seq ${ticket.seq} ≤ head ${head}) not admitted`);
    if (ticket.seq > head && isAdmitted)
      say(`ticket ${ticket.ticketId} (seq ${ticket.seq} > head ${head}) admitted out of turn`);
  }
  for (const id of slots) {
    if (tickets.get(id)?.state !== 'A') say(`slot held by ticket ${id}, which is not admitted`);
  }

  if (options.checkEvents !== false) {
    const stream = engine.keys.province(provinceCode).stream;
    const seen = new Set<string>();
    let nextSeq = 1;
    let cursor = '-';
    for (;;) {
      const page = await engine.redis.xrange(stream, cursor, '+', 'COUNT', 5000);
      for (const [id, fields] of page) {
        const event = decodeEvent(stream, id, fields);
        if (event.type !== 'QUEUE_ADMITTED') continue;
        const batch = luaList(event.data.tickets);
        if (event.data.firstSeq !== nextSeq)
          say(`admitted batch starts at ${event.data.firstSeq}, expected ${nextSeq}`);
        nextSeq = Number(event.data.firstSeq) + batch.length;
        for (const ticketId of batch) {
          if (seen.has(ticketId)) say(`ticket ${ticketId} admitted twice`);
          seen.add(ticketId);
        }
      }
      if (page.length < 5000) break;
      cursor = `(${page[page.length - 1]![0]}`;
    }
    if (nextSeq - 1 !== head) say(`the events admitted ${nextSeq - 1}, the room says ${head}`);
  }
  const headAfter = Number((await engine.redis.hget(q.room, 'head')) ?? 0);
  const report = (message: string) =>
    violations.push({ invariant: 'QUEUE', message: `${provinceCode} ${message}` });
  if (headAfter !== head) {
    report(
      `the line moved while it was checked (head ${head} → ${headAfter}): its checks need the room at rest`,
    );
  } else {
    found.forEach(report);
  }
  return { tickets: tickets.size, admitted };
}
