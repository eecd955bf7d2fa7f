/**
 * The two files the roster import reads, as CSV (RFC 4180: comma separated, CRLF-free "\n" line
 * ends, a field quoted when it holds a comma, quote, CR or LF, quotes doubled): the roster and the
 * CET4 score history. Columns follow the field order of RosterEntry / Cet4Score; eligibleSubjects
 * are joined with ';'. The seed generator (loadtest/seed) writes its files with these functions.
 */
import type { Cet4Score, RosterEntry } from '../engine/world.ts';

export const ROSTER_COLUMNS = [
  'candidateId',
  'idType',
  'idNumber',
  'name',
  'provinceCode',
  'schoolId',
  'campusId',
  'grade',
  'eligibleSubjects',
  'cet6Barred',
] as const satisfies readonly (keyof RosterEntry)[];

export const CET4_SCORE_COLUMNS = [
  'ticketNumber',
  'idNumber',
  'name',
  'score',
  'year',
] as const satisfies readonly (keyof Cet4Score)[];

const NEEDS_QUOTES = /[",\r\n]/;

export function csvField(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function csvHeader(columns: readonly string[]): string {
  return `${columns.map(csvField).join(',')}\n`;
}

export function rosterCsvLine(entry: RosterEntry): string {
  return (
    [
      entry.candidateId,
      entry.idType,
      entry.idNumber,
      entry.name,
      entry.provinceCode,
      entry.schoolId,
      entry.campusId,
      entry.grade,
      entry.eligibleSubjects.join(';'),
      String(entry.cet6Barred),
    ]
      .map(csvField)
      .join(',') + '\n'
  );
}

export function cet4ScoreCsvLine(score: Cet4Score): string {
  return (
    [score.ticketNumber, score.idNumber, score.name, String(score.score), String(score.year)]
      .map(csvField)
      .join(',') + '\n'
  );
}
