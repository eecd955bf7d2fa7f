/**
 * Written-exam admission-ticket numbers (准考证号), the key of a CET6 review application (R10, R14).
 * Our 15-digit format:
 *
 *   digits 1-6   exam site: province code (2, GB/T 2260) + site number (4)
 *   digits 7-8   year, two digits: 00-49 -> 2000-2049, 50-99 -> 1950-1999
 *   digit  9     half: 1 = June sitting, 2 = December sitting
 *   digit  10    level: 1 = CET4 written, 2 = CET6 written
 *   digits 11-15 sequence within the site and sitting
 *
 * Pure functions. Parsing says nothing about whether a score exists for the ticket.
 */
import { isMainlandProvinceCode } from './idNumber.ts';

/** R14: tickets from earlier years are handled offline by staff. */
export const FIRST_IN_SCOPE_TICKET_YEAR = 2005;

export const TICKET_LEVEL_CET4_WRITTEN = 1;
export const TICKET_LEVEL_CET6_WRITTEN = 2;
export type TicketLevel = typeof TICKET_LEVEL_CET4_WRITTEN | typeof TICKET_LEVEL_CET6_WRITTEN;
export type TicketHalf = 1 | 2; // 1 = June, 2 = December

export interface TicketParts {
  readonly siteCode: string; // 6 digits, starting with a mainland province code
  readonly year: number; // 1950..2049
  readonly half: TicketHalf;
  readonly level: TicketLevel;
  readonly sequence: number; // 0..99999
}

export type ParsedTicket =
  ({ readonly ok: true } & TicketParts) | { readonly ok: false; readonly reason: 'FORMAT' };

const TICKET_SHAPE = /^\d{15}$/;

/** The four-digit year of a two-digit ticket year (00-49 -> 20xx, 50-99 -> 19xx). */
export function ticketYear(twoDigits: number): number {
  return twoDigits < 50 ? 2000 + twoDigits : 1900 + twoDigits;
}

export function parseTicket(ticket: string): ParsedTicket {
  if (!TICKET_SHAPE.test(ticket)) return { ok: false, reason: 'FORMAT' };
  const siteCode = ticket.slice(0, 6);
  const half = Number(ticket[8]);
  const level = Number(ticket[9]);
  if (!isMainlandProvinceCode(siteCode.slice(0, 2))) return { ok: false, reason: 'FORMAT' };
  if (half !== 1 && half !== 2) return { ok: false, reason: 'FORMAT' };
  if (level !== TICKET_LEVEL_CET4_WRITTEN && level !== TICKET_LEVEL_CET6_WRITTEN) {
    return { ok: false, reason: 'FORMAT' };
  }
  return {
    ok: true,
    siteCode,
    year: ticketYear(Number(ticket.slice(6, 8))),
    half,
    level,
    sequence: Number(ticket.slice(10)),
  };
}

export function makeTicket(parts: TicketParts): string {
  const { siteCode, year, half, level, sequence } = parts;
  if (!/^\d{6}$/.test(siteCode) || !isMainlandProvinceCode(siteCode.slice(0, 2))) {
    throw new RangeError('siteCode must be 6 digits starting with a mainland province code');
  }
  if (!Number.isInteger(year) || year < 1950 || year > 2049) throw new RangeError('year must be 1950..2049');
  if (half !== 1 && half !== 2) throw new RangeError('half must be 1 (June) or 2 (December)');
  if (level !== TICKET_LEVEL_CET4_WRITTEN && level !== TICKET_LEVEL_CET6_WRITTEN) {
    throw new RangeError('level must be 1 (CET4 written) or 2 (CET6 written)');
  }
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > 99_999) {
    throw new RangeError('sequence must be 0..99999');
  }
  const yy = String(year % 100).padStart(2, '0');
  return `${siteCode}${yy}${half}${level}${String(sequence).padStart(5, '0')}`;
}

/** R14: a well-formed ticket from 2005 or later. */
export function isTicketInScope(ticket: string): boolean {
  const parsed = parseTicket(ticket);
  return parsed.ok && parsed.year >= FIRST_IN_SCOPE_TICKET_YEAR;
}
