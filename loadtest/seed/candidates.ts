/**
 * One candidate of a seeded world, made from (seed, candidate number) alone: the roster row and the
 * CET4 score records of the same person. Nothing here remembers other candidates, which is what
 * lets a million of them stream through in bounded memory and be regenerated at will.
 *
 * Uniqueness without memory: resident ID numbers come from a per-province permutation of
 * (region, birth date, sequence) indexed by the candidate's slot in the province; other documents
 * from a permutation of the candidate number; tickets from the slot within the school.
 *
 * Planted cases (per score record, each ~2%): a ticket before 2005 (R14), a record whose name
 * differs from the roster (ID matches: R10 approve), a record whose ID number differs (name
 * matches: R10 pending). Planted records always pass (>= 425), so that only the rule under test
 * decides. Independently ~8% of passers have no CET6 yet (school records lag: R9 offers the review).
 */
import { makeResidentId } from '../../engine/idNumber.ts';
import { WRITTEN_SUBJECTS, type WrittenSubject } from '../../engine/subjects.ts';
import { makeTicket, TICKET_LEVEL_CET4_WRITTEN, type TicketHalf } from '../../engine/ticket.ts';
import type { Cet4Score, IdType, RosterEntry } from '../../engine/world.ts';
import { personName, variantName } from './names.ts';
import { deriveSeed, Rng, WeightedTable } from './rng.ts';
import { AffinePermutation } from './spread.ts';
import { campusOfSlot, type CampusLayout, type WorldLayout } from './world.ts';

export const CET6_PASS_SCORE = 425;

/** Why a score record exists; not in the CSV (tests and fixtures use it to find planted cases). */
export type ScoreRecordKind = 'NORMAL' | 'BEFORE_2005' | 'NAME_DIFFERS' | 'ID_DIFFERS';

export interface SeededScore extends Cet4Score {
  readonly kind: ScoreRecordKind;
}

export interface SeededCandidate {
  readonly entry: RosterEntry;
  readonly scores: readonly SeededScore[];
  /** Passed CET4 (a NORMAL record >= 425) but CET6 is missing from eligibleSubjects although the
   * campus offers it and the candidate is not barred: R9 offers the review. */
  readonly cet6ReviewExpected: boolean;
}

const STREAM_CANDIDATE = 2;
const STREAM_SLOTS = 3;
const STREAM_IDENTITY = 4;
const STREAM_DOCUMENTS = 5;

const BIRTH_FIRST_DAY_MS = Date.UTC(1998, 0, 1);
const BIRTH_DAYS = (Date.UTC(2008, 0, 1) - BIRTH_FIRST_DAY_MS) / 86_400_000; // 1998-01-01..2007-12-31
const REGION_VARIANTS = 9; // region codes PP010x, x = 1..9
const SEQUENCES = 999; // 001..999
const IDENTITY_SPACE = REGION_VARIANTS * BIRTH_DAYS * SEQUENCES;
const DOCUMENT_SPACE = 100_000_000;
const RECORDS_PER_CANDIDATE_MAX = 3;
const TICKET_SEQUENCE_STRIDE = 5;
const FIRST_SCORE_YEAR = 2019;
const FIRST_GRADE = 2021;

const OTHER_DOCUMENTS = new WeightedTable<IdType>([
  ['PASSPORT', 40],
  ['HK_MACAO_PERMIT', 35],
  ['TAIWAN_PERMIT', 25],
]);

/** A sitting as one number: year * 2 + (half - 1); June (half 1) is on the 15th, December too. */
function sittingOf(year: number, half: TicketHalf): number {
  return year * 2 + half - 1;
}
function sittingDateMs(sitting: number): number {
  return Date.UTC(Math.floor(sitting / 2), sitting % 2 === 0 ? 5 : 11, 15);
}
/** The last sitting held before `now`. */
export function lastSittingBefore(now: number): number {
  let sitting = sittingOf(new Date(now).getUTCFullYear(), 2);
  while (sittingDateMs(sitting) >= now) sitting--;
  return sitting;
}

/** Enrolment year "2021".."2025": older birth years in earlier grades (two birth years a grade),
 * a quarter of candidates a year off. */
function gradeOf(birthYear: number, rng: Rng): string {
  const jitter = rng.chance(0.25) ? rng.pick([-1, 1]) : 0;
  const grade = FIRST_GRADE + Math.floor((birthYear - 1998) / 2) + jitter;
  return String(Math.min(FIRST_GRADE + 4, Math.max(FIRST_GRADE, grade)));
}

function padded(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

export class CandidateFactory {
  private readonly candidateCount: number;
  private readonly slots: AffinePermutation;
  private readonly documents: AffinePermutation;
  private readonly identities: AffinePermutation[];
  private readonly lastSitting: number;

  constructor(
    private readonly layout: WorldLayout,
    private readonly seed: number,
    now: number,
  ) {
    this.candidateCount = layout.provinceCandidateCounts.reduce((a, b) => a + b, 0);
    this.slots = new AffinePermutation(this.candidateCount, deriveSeed(seed, STREAM_SLOTS));
    this.documents = new AffinePermutation(DOCUMENT_SPACE, deriveSeed(seed, STREAM_DOCUMENTS));
    this.identities = layout.provinceCandidateCounts.map(
      (_, p) => new AffinePermutation(IDENTITY_SPACE, deriveSeed(seed, STREAM_IDENTITY, p)),
    );
    this.lastSitting = lastSittingBefore(now);
  }

  get count(): number {
    return this.candidateCount;
  }

  /** Candidate number 1..count; its candidateId is the number in decimal. */
  candidate(candidateNumber: number): SeededCandidate {
    if (!Number.isInteger(candidateNumber) || candidateNumber < 1 || candidateNumber > this.candidateCount) {
      throw new RangeError(`candidate number must be 1..${this.candidateCount}`);
    }
    const index = candidateNumber - 1;
    const slot = this.slots.apply(index);
    const place = campusOfSlot(this.layout, slot);
    const campus = place.campus;
    const rng = new Rng(deriveSeed(this.seed, STREAM_CANDIDATE, index));

    const identityKey = this.identities[place.provinceIndex]!.apply(slot - place.provinceFirstSlot);
    const sequence = (identityKey % SEQUENCES) + 1;
    const dayIndex = Math.floor(identityKey / SEQUENCES) % BIRTH_DAYS;
    const regionVariant = Math.floor(identityKey / (SEQUENCES * BIRTH_DAYS)) + 1;
    const birth = new Date(BIRTH_FIRST_DAY_MS + dayIndex * 86_400_000);
    const birthYear = birth.getUTCFullYear();

    const idType: IdType = rng.chance(0.02) ? OTHER_DOCUMENTS.draw(rng) : 'RESIDENT_ID';
    const idNumber =
      idType === 'RESIDENT_ID'
        ? makeResidentId(`${campus.provinceCode}010${regionVariant}`, birth, sequence)
        : this.documentNumber(idType, index, rng);
    const name = personName(rng, campus.provinceCode);
    const grade = gradeOf(birthYear, rng);
    const cet6Barred = rng.chance(0.01);

    const scores = this.scoreHistory(rng, place, slot, Number(grade), {
      idType,
      idNumber,
      name,
      regionVariant,
      birth,
      sequence,
    });

    const eligible = new Set<WrittenSubject>(['CET4']);
    if (place.otherLanguages.length > 0 && rng.chance(0.08)) {
      const language = rng.pick(place.otherLanguages);
      eligible.add(language.level4);
      if (language.level6 !== null && rng.chance(0.3)) eligible.add(language.level6);
    }
    const passed = scores.some((s) => s.kind === 'NORMAL' && s.score >= CET6_PASS_SCORE);
    const recordsLag = rng.chance(0.08);
    const cet6Open = passed && !cet6Barred && place.offersCet6;
    if (cet6Open && !recordsLag) eligible.add('CET6');

    return {
      entry: {
        candidateId: String(candidateNumber),
        idType,
        idNumber,
        name,
        provinceCode: campus.provinceCode,
        schoolId: campus.schoolId,
        campusId: campus.campusId,
        grade,
        eligibleSubjects: WRITTEN_SUBJECTS.filter((s) => eligible.has(s)),
        cet6Barred,
      },
      scores,
      cet6ReviewExpected: cet6Open && recordsLag,
    };
  }

  /** Passport E + 8 digits, HK/Macao permit H|M + 8 digits, Taiwan permit 8 digits: unique per
   * candidate number. */
  private documentNumber(idType: IdType, index: number, rng: Rng): string {
    const digits = padded(this.documents.apply(index), 8);
    if (idType === 'PASSPORT') return `E${digits}`;
    if (idType === 'HK_MACAO_PERMIT') return `${rng.chance(0.8) ? 'H' : 'M'}${digits}`;
    return digits;
  }

  /** The number an older document carried: never one the roster uses (other region; older formats). */
  private olderDocumentNumber(
    person: { idType: IdType; idNumber: string; regionVariant: number; birth: Date; sequence: number },
    provinceCode: string,
    rng: Rng,
  ): string {
    switch (person.idType) {
      case 'RESIDENT_ID':
        return makeResidentId(`${provinceCode}020${person.regionVariant}`, person.birth, person.sequence);
      case 'PASSPORT':
        return `G${person.idNumber.slice(1)}`;
      default: // permits: the older, two digits longer card number
        return `${person.idNumber}${padded(rng.int(0, 99), 2)}`;
    }
  }

  private scoreHistory(
    rng: Rng,
    place: CampusLayout,
    slot: number,
    gradeYear: number,
    person: {
      idType: IdType;
      idNumber: string;
      name: string;
      regionVariant: number;
      birth: Date;
      sequence: number;
    },
  ): SeededScore[] {
    // Students sit CET4 from the December after they enrol.
    const firstSitting = Math.max(sittingOf(FIRST_SCORE_YEAR, 1), sittingOf(gradeYear, 2));
    if (firstSitting > this.lastSitting || !rng.chance(0.75)) return [];

    const scores: SeededScore[] = [];
    const ticketBase = (slot - place.schoolFirstSlot) * TICKET_SEQUENCE_STRIDE + 1;
    let sitting = rng.int(firstSitting, Math.min(firstSitting + 3, this.lastSitting));
    let score = rng.normal(440, 65);
    for (let attempt = 0; attempt < RECORDS_PER_CANDIDATE_MAX && sitting <= this.lastSitting; attempt++) {
      const roll = rng.next();
      const kind: ScoreRecordKind =
        roll < 0.02 ? 'BEFORE_2005' : roll < 0.04 ? 'NAME_DIFFERS' : roll < 0.06 ? 'ID_DIFFERS' : 'NORMAL';
      let recordScore = Math.round(Math.min(650, Math.max(300, score)));
      if (kind !== 'NORMAL' && recordScore < CET6_PASS_SCORE) recordScore = rng.int(CET6_PASS_SCORE, 560);
      const year = kind === 'BEFORE_2005' ? rng.int(1999, 2004) : Math.floor(sitting / 2);
      const half: TicketHalf = kind === 'BEFORE_2005' ? (rng.chance(0.5) ? 1 : 2) : sitting % 2 === 0 ? 1 : 2;
      scores.push({
        ticketNumber: makeTicket({
          siteCode: place.campus.schoolId,
          year,
          half,
          level: TICKET_LEVEL_CET4_WRITTEN,
          sequence: ticketBase + attempt,
        }),
        idNumber:
          kind === 'ID_DIFFERS'
            ? this.olderDocumentNumber(person, place.campus.provinceCode, rng)
            : person.idNumber,
        name: kind === 'NAME_DIFFERS' ? variantName(rng, person.name) : person.name,
        score: recordScore,
        year,
        kind,
      });
      const stop = recordScore >= CET6_PASS_SCORE ? rng.chance(0.85) : rng.chance(0.3);
      if (stop) break;
      sitting += rng.int(1, 2);
      score += rng.normal(20, 30);
    }
    return scores;
  }
}
