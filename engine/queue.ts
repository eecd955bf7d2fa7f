/**
 * The waiting room of a province (API.md "Waiting room"): typed wrappers around its Lua
 * transitions (setupRoom, joinQueue, drawQueue, tickQueue; the pass check inside the gated writes'
 * scripts and the slot's release inside createOrder) and the views the gateway shows. Every
 * transition is one script under the province's hash tag with `now` as an argument, and emits its
 * QUEUE_* event (engine/outbox.ts); nothing here decides what a concurrent caller could race.
 *
 * Ticket states: PREQUEUE (joined before the opening; no place until the draw), WAITING (a place,
 * `seq`, in line), ADMITTED (a pass until passExpiresAt), LAPSED (the pass ran out; a new join goes
 * to the back). Position = seq − admitted so far (1 = next); ETA = position ÷ the measured
 * admission rate (engine/queueControl.ts etaSeconds).
 */
import { Unpackr } from 'msgpackr';
import { EngineError, type Outcome } from './codes.ts';
import type { Engine } from './engine.ts';
import { etaSeconds } from './queueControl.ts';
import {
  commitmentOf,
  drawOrder,
  newSeed,
  newTicketId,
  provinceOfTicket,
  sealSeed,
  seedMatches,
  unsealSeed,
} from './queueDraw.ts';
import type { QueueKeys } from './keys.ts';

export const QUEUE_MODES = ['off', 'auto', 'opening'] as const;
export type QueueMode = (typeof QUEUE_MODES)[number];
export type RoomPhase = 'PRE' | 'DRAWING' | 'OPEN' | 'DONE';
export type TicketState = 'PREQUEUE' | 'WAITING' | 'ADMITTED' | 'LAPSED';

export interface RoomSettings {
  readonly provinceCode: string;
  readonly mode: QueueMode;
  readonly preQueueMinutes: number;
  readonly passMinutes: number;
  /** Operator's cap on admissions; null: adaptive only. */
  readonly maxAdmitPerMinute: number | null;
}

/** What the room hash holds (engine/lua/includes/queue.lua), plus what the view needs. */
export interface RoomState {
  readonly provinceCode: string;
  readonly mode: QueueMode;
  readonly phase: RoomPhase;
  readonly preMs: number;
  readonly passMs: number;
  readonly maxAdmitPerMinute: number | null;
  /** PREQUEUE tickets fixed at the opening (0 before it). */
  readonly n: number;
  readonly drawn: number;
  readonly late: number;
  /** Tickets admitted so far: the next seq to admit is head + 1. */
  readonly head: number;
  /** Measured admissions per second (smoothed); 0 before any. */
  readonly rate: number;
  /** The rate's trend (admissions/s gained per second). */
  readonly trend: number;
  /** The keeper's planned admissions per second (the ETA's fallback). */
  readonly plan: number;
  readonly commitment: string;
  readonly seed: string | null;
  readonly opensAt: number | null;
  /** PREQUEUE + WAITING tickets. */
  readonly waiting: number;
  /** Whether the gated writes need a pass now. */
  readonly active: boolean;
  readonly sealed: string;
  /** The keeper's target of candidates active at once (null before its first tick). */
  readonly targetActive: number | null;
  /** Admitted candidates holding a slot at the keeper's last tick (null before it). */
  readonly activeCandidates: number | null;
}

/** A ticket as stored: {accountId, state P|W|A|L, seq, joinedAt, admittedAt, passExpiresAt}. */
export interface TicketRecord {
  readonly ticketId: string;
  readonly provinceCode: string;
  readonly accountId: string;
  readonly state: 'P' | 'W' | 'A' | 'L';
  readonly seq: number;
  readonly joinedAt: number;
  readonly admittedAt: number;
  readonly passExpiresAt: number;
}

/** API.md's ticket (times in ms; the gateway writes them as ISO-8601). */
export interface TicketView {
  readonly ticketId: string;
  readonly provinceCode: string;
  readonly state: TicketState;
  /** 1 = next; 0 once admitted; null in PREQUEUE (no place before the draw) and once LAPSED. */
  readonly position: number | null;
  readonly etaSeconds: number | null;
  readonly joinedAt: number;
  readonly admittedAt: number | null;
  readonly passExpiresAt: number | null;
}

/** The room's counters as the scripts hand them back (roomView in queue.lua). */
export interface RoomCounters {
  readonly mode: QueueMode;
  readonly phase: RoomPhase;
  readonly n: number;
  readonly drawn: number;
  readonly late: number;
  readonly head: number;
  readonly rate: number;
  /** The rate's trend (admissions/s gained per second, Holt's linear method). */
  readonly trend: number;
  readonly plan: number;
  readonly passMs: number;
}

export interface TickParams {
  /** Candidates that may be active at once (engine/queueControl.ts nextTargetActive). */
  readonly targetActive: number;
  /** Token-bucket cap on admissions (the keeper's pace under the operator's maxAdmitPerMinute ÷ 60); 0: none. */
  readonly ratePerSec: number;
  readonly burst: number;
  readonly maxBatch: number;
  readonly drainGraceMs: number;
  /** `auto` rooms: whether admission is saturated; null: unknown (leave as is). */
  readonly saturated: boolean | null;
  readonly rateTauMs: number;
  /** The smoothing of the rate's trend. */
  readonly trendTauMs: number;
  readonly plan: number;
}

export interface TickResult {
  readonly live: boolean;
  readonly admitted: number;
  readonly lapsed: number;
  readonly head: number;
  readonly waiting: number;
  /** Slots taken (candidates active). */
  readonly active: number;
  readonly rate: number;
  readonly phase: RoomPhase;
}

export interface DrawView {
  readonly lotterySeed: string;
  /** [ticketId, position] in drawn order. */
  readonly tickets: readonly (readonly [string, number])[];
}

const STATES: Record<string, TicketRecord['state']> = { P: 'P', W: 'W', A: 'A', L: 'L' };
const unpackr = new Unpackr({ int64AsType: 'number', useRecords: false });
/** Chunks of the draw handed to one script call (Lua's unpack takes a few thousand values). */
const DRAW_CHUNK = 2_000;

export function decodeTicket(ticketId: string, stored: Buffer): TicketRecord {
  const value = unpackr.unpack(stored) as unknown;
  if (!Array.isArray(value) || value.length < 6) throw new EngineError(`unreadable ticket ${ticketId}`);
  const [accountId, state, seq, joinedAt, admittedAt, passExpiresAt] = value as unknown[];
  const provinceCode = provinceOfTicket(ticketId);
  if (provinceCode === null || typeof state !== 'string' || !STATES[state]) {
    throw new EngineError(`unreadable ticket ${ticketId}`);
  }
  return {
    ticketId,
    provinceCode,
    accountId: String(accountId),
    state: STATES[state],
    seq: Number(seq),
    joinedAt: Number(joinedAt),
    admittedAt: Number(admittedAt),
    passExpiresAt: Number(passExpiresAt),
  };
}

/** A ticket as a script answers it (cjson of the MessagePack array). */
function ticketFromAnswer(ticketId: string, raw: unknown): TicketRecord {
  if (!Array.isArray(raw)) throw new EngineError(`unreadable ticket ${ticketId}`);
  const [accountId, state, seq, joinedAt, admittedAt, passExpiresAt] = raw as unknown[];
  return {
    ticketId,
    provinceCode: provinceOfTicket(ticketId) ?? '',
    accountId: String(accountId),
    state: STATES[String(state)] ?? 'L',
    seq: Number(seq),
    joinedAt: Number(joinedAt),
    admittedAt: Number(admittedAt),
    passExpiresAt: Number(passExpiresAt),
  };
}

export function countersFromAnswer(raw: unknown): RoomCounters {
  const r = (raw ?? {}) as Record<string, unknown>;
  return {
    mode: (r.mode as QueueMode) ?? 'off',
    phase: (r.phase as RoomPhase) ?? 'PRE',
    n: Number(r.n ?? 0),
    drawn: Number(r.drawn ?? 0),
    late: Number(r.late ?? 0),
    head: Number(r.head ?? 0),
    rate: Number(r.rate ?? 0),
    trend: Number(r.trend ?? 0),
    plan: Number(r.plan ?? 0),
    passMs: Number(r.passMs ?? 0),
  };
}

/** API.md's ticket from the stored one and the room's counters at `now`. */
export function ticketView(ticket: TicketRecord, room: RoomCounters, now: number): TicketView {
  let state: TicketState;
  let position: number | null = null;
  let eta: number | null = null;
  if (ticket.state === 'P') state = 'PREQUEUE';
  else if (ticket.state === 'W') {
    state = 'WAITING';
    position = Math.max(1, ticket.seq - room.head);
    eta = etaSeconds(position, room.rate, room.plan, room.trend);
  } else if (ticket.state === 'A' && ticket.passExpiresAt > now) {
    state = 'ADMITTED';
    position = 0;
    eta = 0;
  } else state = 'LAPSED';
  const admitted = ticket.state === 'A' || ticket.state === 'L';
  return {
    ticketId: ticket.ticketId,
    provinceCode: ticket.provinceCode,
    state,
    position,
    etaSeconds: eta,
    joinedAt: ticket.joinedAt,
    admittedAt: admitted ? ticket.admittedAt : null,
    passExpiresAt: admitted ? ticket.passExpiresAt : null,
  };
}

/** Mirrors roomActive in queue.lua (what the gated scripts decide), for views. */
export function roomIsActive(
  room: Pick<RoomState, 'mode' | 'phase' | 'preMs'> & { readonly auto: boolean },
  opensAt: number | null,
  now: number,
): boolean {
  if (room.mode === 'opening')
    return opensAt !== null && room.phase !== 'DONE' && now >= opensAt - room.preMs;
  if (room.mode === 'auto') return room.auto;
  return false;
}

/**
 * A room's state from its hash, the province's calendar and its PREQUEUE (three reads, no script):
 * what the admin stats, GET /api/v1/queue/{provinceCode} and the load runner's sampler show; `now`
 * (engine time) decides only `active`.
 */
export async function readRoom(engine: Engine, provinceCode: string, now: number): Promise<RoomState | null> {
  const keys = engine.keys.province(provinceCode).queue;
  const calendar = engine.keys.province(provinceCode).calendar;
  const [fields, opens, prequeued] = await Promise.all([
    engine.redis.hgetall(keys.room),
    engine.redis.hget(calendar, 'o'),
    engine.redis.llen(keys.prequeue),
  ]);
  if (!fields.commit) return null;
  const mode = (QUEUE_MODES as readonly string[]).includes(fields.mode ?? '')
    ? (fields.mode as QueueMode)
    : 'off';
  const phase = (fields.phase ?? 'PRE') as RoomPhase;
  const n = Number(fields.n ?? 0);
  const late = Number(fields.late ?? 0);
  const head = Number(fields.head ?? 0);
  const opensAt = opens === null ? null : Number(opens);
  const preMs = Number(fields.preMs ?? 0);
  return {
    provinceCode,
    mode,
    phase,
    preMs,
    passMs: Number(fields.passMs ?? 0),
    maxAdmitPerMinute: fields.cap ? Number(fields.cap) : null,
    n,
    drawn: Number(fields.drawn ?? 0),
    late,
    head,
    rate: Number(fields.rate ?? 0),
    trend: Number(fields.trend ?? 0),
    plan: Number(fields.plan ?? 0),
    commitment: fields.commit,
    seed: fields.seed ?? null,
    opensAt,
    waiting: (phase === 'PRE' ? prequeued : n) + late - head,
    active: roomIsActive({ mode, phase, preMs, auto: fields.auto === '1' }, opensAt, now),
    sealed: fields.sealed ?? '',
    targetActive: fields.target === undefined ? null : Number(fields.target),
    activeCandidates: fields.lastActive === undefined ? null : Number(fields.lastActive),
  };
}

export class WaitingRoom {
  constructor(
    private readonly engine: Engine,
    /** Seals the draw's seed until the opening (engine/queueDraw.ts sealKeyFrom). */
    private readonly sealKey: Buffer,
  ) {}

  private keys(provinceCode: string): QueueKeys {
    return this.engine.keys.province(provinceCode).queue;
  }

  /** Set up or change a room; the seed and its commitment are made the first time only. */
  async setup(settings: RoomSettings, now: number): Promise<{ commitment: string; created: boolean }> {
    const province = this.engine.keys.province(settings.provinceCode);
    const seed = newSeed();
    const answer = await this.engine.run(
      'setupRoom',
      [province.queue.room, province.stream],
      [
        settings.mode,
        Math.round(settings.preQueueMinutes * 60_000),
        Math.round(settings.passMinutes * 60_000),
        settings.maxAdmitPerMinute ?? '',
        commitmentOf(seed),
        sealSeed(seed, this.sealKey),
        now,
      ],
    );
    if (!answer.ok) throw new EngineError(`setupRoom refused ${answer.code}`);
    await this.engine.redis.sadd(this.engine.keys.queueRooms, settings.provinceCode);
    return { commitment: String(answer.commitment), created: answer.created === true };
  }

  /** Provinces with a room (the keeper's work list). */
  async provinces(): Promise<string[]> {
    return (await this.engine.redis.smembers(this.engine.keys.queueRooms)).sort();
  }

  async room(provinceCode: string, now: number): Promise<RoomState | null> {
    return readRoom(this.engine, provinceCode, now);
  }

  /** Join (or find again) the account's place in the province's line. */
  async join(
    accountId: string,
    provinceCode: string,
    now: number,
  ): Promise<Outcome<{ created: boolean; ticket: TicketView; record: TicketRecord }, 'QUEUE_NOT_ACTIVE'>> {
    const province = this.engine.keys.province(provinceCode);
    const q = province.queue;
    const answer = await this.engine.run(
      'joinQueue',
      [q.room, province.calendar, q.tickets, q.accounts, q.prequeue, q.late, province.stream],
      [accountId, newTicketId(provinceCode), now],
    );
    if (!answer.ok) return this.engine.refusal(answer, ['QUEUE_NOT_ACTIVE'] as const);
    const ticketId = String(answer.ticketId);
    const record = ticketFromAnswer(ticketId, answer.ticket);
    return {
      ok: true,
      created: answer.created === true,
      record,
      ticket: ticketView(record, countersFromAnswer(answer.room), now),
    };
  }

  /** The account's current ticket in a province, or null. */
  async ticketOf(accountId: string, provinceCode: string): Promise<TicketRecord | null> {
    const keys = this.keys(provinceCode);
    const ticketId = await this.engine.redis.hget(keys.accounts, accountId);
    return ticketId === null ? null : this.ticket(ticketId);
  }

  async ticket(ticketId: string): Promise<TicketRecord | null> {
    const provinceCode = provinceOfTicket(ticketId);
    if (provinceCode === null) return null;
    const stored = await this.engine.redis.hgetBuffer(this.keys(provinceCode).tickets, ticketId);
    return stored === null ? null : decodeTicket(ticketId, stored);
  }

  async counters(provinceCode: string): Promise<RoomCounters> {
    const [mode, phase, n, drawn, late, head, rate, trend, plan, passMs] = await this.engine.redis.hmget(
      this.keys(provinceCode).room,
      'mode',
      'phase',
      'n',
      'drawn',
      'late',
      'head',
      'rate',
      'trend',
      'plan',
      'passMs',
    );
    return countersFromAnswer({ mode, phase, n, drawn, late, head, rate, trend, plan, passMs });
  }

  /** The published draw, once done: the seed and every PREQUEUE ticket with its place. */
  async draw(provinceCode: string, now: number): Promise<DrawView | null> {
    const room = await this.room(provinceCode, now);
    if (!room?.seed || room.drawn < room.n) return null;
    const ids = await readList(this.engine, this.keys(provinceCode).drawn, room.n);
    return { lotterySeed: room.seed, tickets: ids.map((id, i) => [id, i + 1] as const) };
  }

  /**
   * The keeper's part of the draw: the closed PREQUEUE in HMAC order, applied in chunks from
   * where the draw stands (a chunk another keeper already applied is skipped by the script).
   * The seed is unsealed, checked against the published commitment, and revealed with the last
   * chunk. Returns whether the draw is complete.
   */
  async advanceDraw(provinceCode: string, now: number): Promise<boolean> {
    const room = await this.room(provinceCode, now);
    if (!room || room.phase !== 'DRAWING') return room !== null && room.phase !== 'PRE';
    const seed = unsealSeed(room.sealed, this.sealKey);
    const seedHex = seed.toString('hex');
    if (!seedMatches(seedHex, room.commitment)) {
      throw new EngineError(`waiting room ${provinceCode}: the sealed seed does not match its commitment`);
    }
    const keys = this.keys(provinceCode);
    const province = this.engine.keys.province(provinceCode);
    const prequeue = await readList(this.engine, keys.prequeue, room.n);
    if (prequeue.length !== room.n) {
      throw new EngineError(
        `waiting room ${provinceCode}: ${prequeue.length} PREQUEUE tickets, ${room.n} expected`,
      );
    }
    const order = drawOrder(seed, prequeue);
    let offset = room.drawn;
    for (;;) {
      const chunk = order.slice(offset, offset + DRAW_CHUNK);
      const last = offset + chunk.length === order.length;
      const answer = await this.engine.run(
        'drawQueue',
        [keys.room, keys.tickets, keys.drawn, province.stream, keys.channel],
        [offset, last ? seedHex : '', now, ...chunk],
      );
      if (!answer.ok) return false;
      if (answer.applied !== true) return false; // another keeper is drawing
      offset = Number(answer.drawn);
      if (answer.done === true) return true;
    }
  }

  /** One clock tick of a room (the keeper's). */
  async tick(provinceCode: string, params: TickParams, now: number): Promise<TickResult> {
    const province = this.engine.keys.province(provinceCode);
    const q = province.queue;
    const answer = await this.engine.run(
      'tickQueue',
      [
        q.room,
        province.calendar,
        q.tickets,
        q.prequeue,
        q.drawn,
        q.late,
        q.slots,
        q.passes,
        province.stream,
        q.channel,
      ],
      [
        now,
        Math.max(0, Math.floor(params.targetActive)),
        params.ratePerSec,
        params.burst,
        this.engine.queueIdleMs,
        params.maxBatch,
        params.drainGraceMs,
        params.saturated === null ? '' : params.saturated ? '1' : '0',
        params.rateTauMs,
        Math.round(params.plan * 1000) / 1000,
        params.trendTauMs,
      ],
    );
    if (!answer.ok) throw new EngineError(`tickQueue refused ${answer.code}`);
    return {
      live: answer.live === true,
      admitted: Number(answer.admitted ?? 0),
      lapsed: Number(answer.lapsed ?? 0),
      head: Number(answer.head ?? 0),
      waiting: Number(answer.waiting ?? 0),
      active: Number(answer.active ?? 0),
      rate: Number(answer.rate ?? 0),
      phase: (answer.phase as RoomPhase) ?? 'PRE',
    };
  }
}

/** The QUEUE_PASS_REQUIRED refusal's details as the gated scripts give them. */
export function passRefusalTicket(
  details: Record<string, unknown> | undefined,
  now: number,
): TicketView | null {
  const ticketId = details?.ticketId;
  if (typeof ticketId !== 'string' || details?.ticket === undefined) return null;
  return ticketView(ticketFromAnswer(ticketId, details.ticket), countersFromAnswer(details.room), now);
}

async function readList(engine: Engine, key: string, length: number): Promise<string[]> {
  const out: string[] = [];
  for (let start = 0; start < length; start += 10_000) {
    out.push(...(await engine.redis.lrange(key, start, Math.min(length, start + 10_000) - 1)));
  }
  return out;
}
