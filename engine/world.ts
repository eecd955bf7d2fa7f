/**
 * The shape of a "world": the reference data the engine needs (provinces, schools, campuses with
 * capacities and oral opening times, calendar, fees) and the school roster / CET4 score history
 * that eligibility (PostgreSQL) reads. Produced by the seed generator (loadtest/seed, `npm run
 * seed`) or an operator's reference data, loaded into Redis by engine/loader.ts. All instants are epoch milliseconds.
 */
import type { Subject, WrittenSubject } from './subjects.ts';

export type IdType = 'RESIDENT_ID' | 'PASSPORT' | 'HK_MACAO_PERMIT' | 'TAIWAN_PERMIT' | 'MILITARY_OFFICER';

export interface Province {
  readonly code: string; // two-digit GB/T 2260 code, e.g. "11" Beijing
  readonly name: string;
}

export interface School {
  readonly schoolId: string;
  readonly name: string;
  readonly provinceCode: string;
}

export interface Campus {
  readonly campusId: string;
  readonly name: string;
  readonly provinceCode: string;
  readonly schoolId: string;
  /** R19: false fixes this campus's own students to its oral seats. */
  readonly studentsMayTakeOralElsewhere: boolean;
  /** Seats per subject (written and oral); a subject absent here is not offered at the campus. */
  readonly capacity: Partial<Record<Subject, number>>;
  /** R20: own students from ownSchoolAt; other candidates of the province from provinceWideAt (null: never). */
  readonly oralOpens: { readonly ownSchoolAt: number; readonly provinceWideAt: number | null };
}

export interface CalendarEntry {
  readonly provinceCode: string;
  readonly registrationOpensAt: number;
  readonly registrationClosesAt: number;
}

export type Fees = Partial<Record<Subject, number>>; // yuan

export interface RosterEntry {
  /** Opaque, stable engine id of the candidate (digits). */
  readonly candidateId: string;
  readonly idType: IdType;
  readonly idNumber: string;
  readonly name: string;
  readonly provinceCode: string;
  readonly schoolId: string;
  readonly campusId: string; // written campus (R15)
  readonly grade: string;
  readonly eligibleSubjects: readonly WrittenSubject[];
  readonly cet6Barred: boolean;
}

export interface Cet4Score {
  readonly ticketNumber: string; // 15 digits
  readonly idNumber: string;
  readonly name: string;
  readonly score: number;
  readonly year: number;
}

export interface World {
  readonly provinces: readonly Province[];
  readonly schools: readonly School[];
  readonly campuses: readonly Campus[];
  readonly calendar: readonly CalendarEntry[];
  readonly fees: Fees;
}
