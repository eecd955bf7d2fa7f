/**
 * The exam subjects (DOMAIN.md "Subjects"): written subjects with a level (R16: one per level),
 * oral subjects tied to the written subject of the same language and level (R18).
 * Pure data and pure functions; nothing here touches Redis.
 */

export const WRITTEN_SUBJECTS = [
  'CET4',
  'CET6',
  'CJT4',
  'CJT6',
  'CGT4',
  'CGT6',
  'CRT4',
  'CRT6',
  'TFU4',
] as const;
export const ORAL_SUBJECTS = ['CET-SET4', 'CET-SET6'] as const;

export type WrittenSubject = (typeof WRITTEN_SUBJECTS)[number];
export type OralSubject = (typeof ORAL_SUBJECTS)[number];
export type Subject = WrittenSubject | OralSubject;
export type Level = 4 | 6;

interface WrittenInfo {
  readonly kind: 'WRITTEN';
  readonly level: Level;
  readonly language: string;
}
interface OralInfo {
  readonly kind: 'ORAL';
  readonly level: Level;
  readonly language: string;
  /** R18 (design): the oral subject needs this written subject in the same registration. */
  readonly requiresWritten: WrittenSubject;
}

const WRITTEN_INFO: Record<WrittenSubject, WrittenInfo> = {
  CET4: { kind: 'WRITTEN', level: 4, language: 'en' },
  CET6: { kind: 'WRITTEN', level: 6, language: 'en' },
  CJT4: { kind: 'WRITTEN', level: 4, language: 'ja' },
  CJT6: { kind: 'WRITTEN', level: 6, language: 'ja' },
  CGT4: { kind: 'WRITTEN', level: 4, language: 'de' },
  CGT6: { kind: 'WRITTEN', level: 6, language: 'de' },
  CRT4: { kind: 'WRITTEN', level: 4, language: 'ru' },
  CRT6: { kind: 'WRITTEN', level: 6, language: 'ru' },
  TFU4: { kind: 'WRITTEN', level: 4, language: 'fr' },
};

const ORAL_INFO: Record<OralSubject, OralInfo> = {
  'CET-SET4': { kind: 'ORAL', level: 4, language: 'en', requiresWritten: 'CET4' },
  'CET-SET6': { kind: 'ORAL', level: 6, language: 'en', requiresWritten: 'CET6' },
};

export const ALL_SUBJECTS: readonly Subject[] = [...WRITTEN_SUBJECTS, ...ORAL_SUBJECTS];

export function isWrittenSubject(value: unknown): value is WrittenSubject {
  return typeof value === 'string' && Object.hasOwn(WRITTEN_INFO, value);
}

export function isOralSubject(value: unknown): value is OralSubject {
  return typeof value === 'string' && Object.hasOwn(ORAL_INFO, value);
}

export function isSubject(value: unknown): value is Subject {
  return isWrittenSubject(value) || isOralSubject(value);
}

export function writtenInfo(subject: WrittenSubject): WrittenInfo {
  return WRITTEN_INFO[subject];
}

export function oralInfo(subject: OralSubject): OralInfo {
  return ORAL_INFO[subject];
}

export function subjectLevel(subject: Subject): Level {
  return isWrittenSubject(subject) ? WRITTEN_INFO[subject].level : ORAL_INFO[subject].level;
}

/** R21: green = more than half left, yellow = half or less, red = none left (cannot be chosen). */
export type SeatColor = 'GREEN' | 'YELLOW' | 'RED';
export function seatColor(remaining: number, capacity: number): SeatColor {
  if (remaining <= 0) return 'RED';
  return remaining * 2 > capacity ? 'GREEN' : 'YELLOW';
}
