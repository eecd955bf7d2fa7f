/**
 * Typed views of what the scripts store and answer (the compact JSON of engine/lua/includes/*.lua),
 * and the decoders that turn one into the other. Pure; no Redis here.
 */
import { Unpackr } from 'msgpackr';
import { EngineError } from './codes.ts';
import { isSubject, seatColor, type SeatColor, type Subject } from './subjects.ts';
import type { IdType } from './world.ts';

export type ItemStatus = 'HELD' | 'PAID' | 'EXPIRED' | 'CANCELLED';
const STATUS: Record<string, ItemStatus> = { H: 'HELD', P: 'PAID', X: 'EXPIRED', C: 'CANCELLED' };

export interface ItemView {
  readonly subject: Subject;
  readonly kind: 'WRITTEN' | 'ORAL';
  readonly campusId: string;
  readonly status: ItemStatus;
  readonly heldAt: number;
  readonly payBy: number;
  readonly holdId: number;
  readonly fee: number;
  /** Oral items: the written subject they depend on (R18). */
  readonly requiresWritten: Subject | null;
  /** When it was paid, cancelled or expired; null while held. */
  readonly settledAt: number | null;
}

/** R7: what is frozen at save time. The ID number is stored masked only. */
export interface Snapshot {
  readonly name: string;
  readonly idType: IdType;
  readonly idMasked: string;
  readonly schoolId: string;
  readonly grade: string;
  readonly eligibleSubjects: readonly string[];
}

export interface RegistrationView {
  readonly candidateId: string;
  readonly accountId: string;
  readonly provinceCode: string;
  readonly campusId: string;
  readonly savedAt: number;
  /** R8: when it will be deleted if it still holds no subject; null while it holds one. */
  readonly deleteAt: number | null;
  readonly snapshot: Snapshot;
  readonly written: readonly ItemView[];
  readonly oral: readonly ItemView[];
  /** Sum of the fees of held (unpaid) subjects. */
  readonly amountDue: number;
}

type Json = Record<string, unknown>;

function fail(what: string, value: unknown): never {
  throw new EngineError(`unreadable ${what}: ${JSON.stringify(value)?.slice(0, 200)}`);
}

/** Lua's cjson encodes an empty table as {}: read both {} and [] as an empty list. */
export function asList(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value !== null && typeof value === 'object' && Object.keys(value).length === 0) return [];
  return fail('list', value);
}

function str(value: unknown, what: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return fail(what, value);
}

function num(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  return fail(what, value);
}

export function decodeItem(subject: string, raw: unknown): ItemView {
  if (!isSubject(subject) || !Array.isArray(raw) || raw.length < 9) return fail('item', raw);
  const [kind, campusId, status, heldAt, payBy, holdId, fee, requires, settledAt] = raw as unknown[];
  const itemStatus = STATUS[str(status, 'item status')];
  if (!itemStatus) return fail('item status', status);
  return {
    subject,
    kind: kind === 'O' ? 'ORAL' : 'WRITTEN',
    campusId: str(campusId, 'campus'),
    status: itemStatus,
    heldAt: num(heldAt, 'heldAt'),
    payBy: num(payBy, 'payBy'),
    holdId: num(holdId, 'holdId'),
    fee: num(fee, 'fee'),
    requiresWritten: typeof requires === 'string' && isSubject(requires) ? requires : null,
    settledAt: num(settledAt, 'settledAt') === 0 ? null : (settledAt as number),
  };
}

const ID_TYPE_CODES: Record<IdType, string> = {
  RESIDENT_ID: 'R',
  PASSPORT: 'P',
  HK_MACAO_PERMIT: 'H',
  TAIWAN_PERMIT: 'T',
  MILITARY_OFFICER: 'M',
};
const ID_TYPES_BY_CODE = Object.fromEntries(Object.entries(ID_TYPE_CODES).map(([k, v]) => [v, k])) as Record<
  string,
  IdType
>;

/** The compact form stored in Redis (P4: bytes per candidate count). */
export function encodeSnapshot(snapshot: Snapshot): string {
  return JSON.stringify({
    n: snapshot.name,
    t: ID_TYPE_CODES[snapshot.idType],
    m: snapshot.idMasked,
    s: snapshot.schoolId,
    g: snapshot.grade,
    e: snapshot.eligibleSubjects.join(','),
  });
}

export function decodeSnapshot(raw: unknown): Snapshot {
  if (raw === null || typeof raw !== 'object') return fail('snapshot', raw);
  const s = raw as Json;
  const eligible = str(s.e ?? '', 'eligible subjects');
  return {
    name: str(s.n, 'name'),
    idType: ID_TYPES_BY_CODE[str(s.t, 'id type')] ?? fail('id type', s.t),
    idMasked: str(s.m, 'masked id'),
    schoolId: str(s.s, 'school'),
    grade: str(s.g, 'grade'),
    eligibleSubjects: eligible === '' ? [] : eligible.split(','),
  };
}

/** A registration as stored (MessagePack, see engine/lua/includes/record.lua). */
const unpackr = new Unpackr({ int64AsType: 'number', mapsAsObjects: true, useRecords: false });
export function unpackRecord(candidateId: string, stored: Buffer): Json {
  const record = unpackr.unpack(stored) as Json;
  if (record === null || typeof record !== 'object') return fail('stored registration', record);
  return { ...record, c: candidateId };
}

export function decodeRegistration(provinceCode: string, raw: unknown): RegistrationView {
  if (raw === null || typeof raw !== 'object') return fail('registration', raw);
  const rec = raw as Json;
  const items = Object.entries((rec.i ?? {}) as Json).map(([subject, item]) => decodeItem(subject, item));
  items.sort((a, b) => a.heldAt - b.heldAt || a.subject.localeCompare(b.subject));
  const emptyDeadline = num(rec.e, 'empty deadline');
  return {
    candidateId: str(rec.c, 'candidate'),
    accountId: str(rec.a, 'account'),
    provinceCode,
    campusId: str(rec.w, 'campus'),
    savedAt: num(rec.t, 'savedAt'),
    deleteAt: emptyDeadline === 0 ? null : emptyDeadline,
    snapshot: decodeSnapshot(rec.s),
    written: items.filter((item) => item.kind === 'WRITTEN'),
    oral: items.filter((item) => item.kind === 'ORAL'),
    amountDue: items.filter((item) => item.status === 'HELD').reduce((sum, item) => sum + item.fee, 0),
  };
}

export type OrderStatus = 'PENDING' | 'PAID' | 'LATE_REFUND';

export interface OrderView {
  readonly orderId: string;
  readonly candidateId: string;
  readonly accountId: string;
  readonly method: string;
  readonly status: OrderStatus;
  readonly amount: number;
  readonly items: readonly { subject: Subject; holdId: number; fee: number }[];
  readonly createdAt: number;
  readonly paidAt: number | null;
  readonly paid: readonly Subject[];
  readonly refund: readonly Subject[];
  readonly refundAmount: number;
}

export function decodeOrder(raw: unknown): OrderView {
  if (raw === null || typeof raw !== 'object') return fail('order', raw);
  const o = raw as Json;
  const status = str(o.st, 'order status');
  if (status !== 'PENDING' && status !== 'PAID' && status !== 'LATE_REFUND')
    return fail('order status', status);
  const subjects = (value: unknown) =>
    asList(value ?? []).map((s) => (isSubject(s) ? s : fail('subject', s)));
  return {
    orderId: str(o.id, 'order id'),
    candidateId: str(o.c, 'candidate'),
    accountId: str(o.a, 'account'),
    method: str(o.m, 'method'),
    status,
    amount: num(o.amt, 'amount'),
    items: asList(o.it).map((entry) => {
      if (!Array.isArray(entry) || !isSubject(entry[0])) return fail('order item', entry);
      return { subject: entry[0], holdId: num(entry[1], 'holdId'), fee: num(entry[2], 'fee') };
    }),
    createdAt: num(o.ca, 'createdAt'),
    paidAt: typeof o.pa === 'number' ? o.pa : null,
    paid: subjects(o.paid),
    refund: subjects(o.refund),
    refundAmount: typeof o.refundAmt === 'number' ? o.refundAmt : 0,
  };
}

export type ReviewStatus = 'PENDING' | 'APPROVED' | 'REJECTED';

export interface ReviewView {
  readonly reviewId: string;
  readonly status: ReviewStatus;
  readonly ticketNumber: string;
  readonly candidateId: string;
  readonly provinceCode: string;
  readonly submittedAt: number;
  readonly decidedAt: number | null;
}

export function decodeReview(raw: unknown): ReviewView {
  if (raw === null || typeof raw !== 'object') return fail('review', raw);
  const r = raw as Json;
  const status = str(r.st, 'review status');
  if (status !== 'PENDING' && status !== 'APPROVED' && status !== 'REJECTED')
    return fail('review status', status);
  const decidedAt = num(r.da, 'decidedAt');
  return {
    reviewId: str(r.id, 'review id'),
    status,
    ticketNumber: str(r.tk, 'ticket'),
    candidateId: str(r.c, 'candidate'),
    provinceCode: str(r.p, 'province'),
    submittedAt: num(r.sa, 'submittedAt'),
    decidedAt: decidedAt === 0 ? null : decidedAt,
  };
}

export interface SeatCount {
  readonly campusId: string;
  readonly subject: Subject;
  readonly capacity: number;
  readonly used: number;
  readonly remaining: number;
  readonly color: SeatColor;
}

export function seatCount(campusId: string, subject: Subject, capacity: number, used: number): SeatCount {
  const remaining = Math.max(0, capacity - used);
  return { campusId, subject, capacity, used, remaining, color: seatColor(remaining, capacity) };
}

/** What the campus hash holds per campus (R19, R20). */
export interface CampusInfo {
  readonly campusId: string;
  readonly name: string;
  readonly schoolId: string;
  readonly studentsMayTakeOralElsewhere: boolean;
  readonly ownSchoolAt: number;
  readonly provinceWideAt: number | null;
}

export function decodeCampus(campusId: string, raw: string): CampusInfo {
  const c = JSON.parse(raw) as Json;
  const wide = num(c.w, 'provinceWideAt');
  return {
    campusId,
    name: str(c.n, 'campus name'),
    schoolId: str(c.s, 'school'),
    studentsMayTakeOralElsewhere: c.x === 1,
    ownSchoolAt: num(c.o, 'ownSchoolAt'),
    provinceWideAt: wide < 0 ? null : wide,
  };
}

/** R20 (with R19): when a campus's oral seats open for a candidate of this written campus; null = never. */
export function oralOpensAtFor(target: CampusInfo, writtenCampus: CampusInfo | undefined): number | null {
  const own = writtenCampus?.campusId === target.campusId;
  if (!own && !writtenCampus?.studentsMayTakeOralElsewhere) return null;
  if (own)
    return target.provinceWideAt === null
      ? target.ownSchoolAt
      : Math.min(target.ownSchoolAt, target.provinceWideAt);
  return target.provinceWideAt;
}
