/**
 * The reference half of a seeded world: provinces, schools, campuses (capacities, oral opening
 * times), calendar and fees, plus the layout that places candidate slots on campuses. Every school
 * and campus is sized from the number of candidates it will hold, so capacities track demand.
 *
 * Id formats (the loader and engine may rely on them):
 *   schoolId = province code (2) + school number (4), e.g. "440012"  — also the exam-site code of
 *              the school's CET4 tickets
 *   campusId = schoolId + campus number (1, from 1), e.g. "4400121"; campus 1 is the main campus
 */
import type { WrittenSubject } from '../../engine/subjects.ts';
import type { CalendarEntry, Campus, Fees, Province, School, World } from '../../engine/world.ts';
import { campusName, schoolName } from './names.ts';
import { PROVINCES } from '../../engine/provinces.ts';
import { deriveSeed, Rng } from './rng.ts';
import { apportion } from './spread.ts';

export const CANDIDATES_PER_SCHOOL = 2_000;
export const REGISTRATION_WINDOW_MS = 7 * 24 * 3_600_000;
const HOUR_MS = 3_600_000;
const HALF_HOUR_MS = 1_800_000;
const STREAM_WORLD = 1;

export const FEES: Fees = {
  CET4: 30,
  CET6: 30,
  CJT4: 35,
  CJT6: 35,
  CGT4: 40,
  CGT6: 40,
  CRT4: 35,
  CRT6: 35,
  TFU4: 40,
  'CET-SET4': 50,
  'CET-SET6': 50,
};

/** Languages other than English, by level-4 subject and its level-6 partner (French has none). */
const OTHER_LANGUAGES: readonly {
  readonly level4: WrittenSubject;
  readonly level6: WrittenSubject | null;
}[] = [
  { level4: 'CJT4', level6: 'CJT6' },
  { level4: 'CGT4', level6: 'CGT6' },
  { level4: 'CRT4', level6: 'CRT6' },
  { level4: 'TFU4', level6: null },
];

export interface WorldOptions {
  readonly seed: number;
  readonly provinces: number;
  readonly candidates: number;
  readonly now: number;
}

/** Where a campus's candidates sit in the slot range 0..candidates-1 (slots are grouped by
 * province, then school, then campus; candidate numbers are a permutation of slots). */
export interface CampusLayout {
  readonly campus: Campus;
  readonly firstSlot: number;
  readonly candidateCount: number;
  readonly schoolFirstSlot: number;
  readonly provinceIndex: number;
  readonly provinceFirstSlot: number;
  readonly offersCet6: boolean;
  /** Level-4 subjects in other languages offered here, with their level-6 partner if offered. */
  readonly otherLanguages: readonly {
    readonly level4: WrittenSubject;
    readonly level6: WrittenSubject | null;
  }[];
}

export interface WorldLayout {
  readonly world: World;
  readonly campuses: readonly CampusLayout[];
  readonly provinceCandidateCounts: readonly number[];
}

function campusCapacity(
  rng: Rng,
  candidateCount: number,
  isProvinceFirstCampus: boolean,
): { capacity: Campus['capacity']; offersCet6: boolean; otherLanguages: CampusLayout['otherLanguages'] } {
  const capacity: Partial<Record<keyof Fees, number>> = {};
  capacity.CET4 = Math.max(10, Math.ceil(candidateCount * rng.between(1.05, 1.15)));
  // A few campuses (never a province's first) hold no CET6 sitting: R9 then offers no review there.
  const offersCet6 = isProvinceFirstCampus || !rng.chance(0.04);
  if (offersCet6) capacity.CET6 = Math.max(6, Math.ceil(candidateCount * rng.between(0.55, 0.65)));

  const otherLanguages: { level4: WrittenSubject; level6: WrittenSubject | null }[] = [];
  for (const language of OTHER_LANGUAGES) {
    if (!rng.chance(0.06)) continue;
    capacity[language.level4] = rng.int(20, 60);
    const level6 = language.level6 !== null && rng.chance(0.5) ? language.level6 : null;
    if (level6 !== null) capacity[level6] = rng.int(10, 30);
    otherLanguages.push({ level4: language.level4, level6 });
  }

  // Every province keeps at least one oral campus (its first) so R18-R20 can always be exercised.
  if (isProvinceFirstCampus || rng.chance(0.4)) {
    capacity['CET-SET4'] = Math.max(5, Math.round(candidateCount * rng.between(0.08, 0.18)));
    if (isProvinceFirstCampus || rng.chance(0.7)) {
      capacity['CET-SET6'] = Math.max(3, Math.round(candidateCount * rng.between(0.05, 0.12)));
    }
  }
  return { capacity, offersCet6, otherLanguages };
}

export function buildWorld(options: WorldOptions): WorldLayout {
  const rng = new Rng(deriveSeed(options.seed, STREAM_WORLD));
  const provinceSeeds = PROVINCES.slice(0, options.provinces);
  const provinceCandidateCounts = apportion(
    options.candidates,
    provinceSeeds.map((p) => p.weight),
    1,
  );

  const provinces: Province[] = provinceSeeds.map((p) => ({ code: p.code, name: p.name }));
  // Some provinces open at the anchor, the others whole hours later.
  const calendar: CalendarEntry[] = provinceSeeds.map((p) => {
    const opensAt = options.now + (rng.chance(0.35) ? 0 : rng.int(1, 6)) * HOUR_MS;
    return {
      provinceCode: p.code,
      registrationOpensAt: opensAt,
      registrationClosesAt: opensAt + REGISTRATION_WINDOW_MS,
    };
  });

  const schools: School[] = [];
  const campuses: CampusLayout[] = [];
  let slot = 0;
  provinceSeeds.forEach((province, provinceIndex) => {
    const provinceFirstSlot = slot;
    const provinceCount = provinceCandidateCounts[provinceIndex]!;
    const schoolCount = Math.max(1, Math.round(provinceCount / CANDIDATES_PER_SCHOOL));
    if (schoolCount > 9_999) throw new RangeError('more than 9999 schools in one province');
    const schoolSizes = apportion(
      provinceCount,
      Array.from({ length: schoolCount }, () => rng.between(0.5, 1.5)),
    );
    // Ticket sequences are 5 digits: (slot in school) * 5 + attempt must fit (candidates.ts).
    if (schoolSizes.some((size) => size > 19_999)) throw new RangeError('a school outgrew ticket sequences');
    const opensAt = calendar[provinceIndex]!.registrationOpensAt;

    schoolSizes.forEach((schoolSize, k) => {
      const schoolId = province.code + String(k + 1).padStart(4, '0');
      const name = schoolName(province.shortName, k);
      schools.push({ schoolId, name, provinceCode: province.code });
      const roll = rng.next();
      const campusCount = roll < 0.5 ? 1 : roll < 0.8 ? 2 : 3;
      const campusSizes = apportion(
        schoolSize,
        Array.from({ length: campusCount }, (_, c) => (c === 0 ? rng.between(1, 2) : rng.between(0.3, 1))),
      );
      const schoolFirstSlot = slot;
      campusSizes.forEach((candidateCount, c) => {
        const isProvinceFirstCampus = k === 0 && c === 0;
        const { capacity, offersCet6, otherLanguages } = campusCapacity(
          rng,
          candidateCount,
          isProvinceFirstCampus,
        );
        const ownSchoolAt = opensAt + rng.int(0, 4) * HALF_HOUR_MS;
        const provinceWideAt = rng.chance(0.1) ? null : ownSchoolAt + rng.int(2, 8) * HALF_HOUR_MS;
        campuses.push({
          campus: {
            campusId: `${schoolId}${c + 1}`,
            name: campusName(name, c),
            provinceCode: province.code,
            schoolId,
            studentsMayTakeOralElsewhere: rng.chance(0.7),
            capacity,
            oralOpens: { ownSchoolAt, provinceWideAt },
          },
          firstSlot: slot,
          candidateCount,
          schoolFirstSlot,
          provinceIndex,
          provinceFirstSlot,
          offersCet6,
          otherLanguages,
        });
        slot += candidateCount;
      });
    });
  });

  return {
    world: { provinces, schools, campuses: campuses.map((c) => c.campus), calendar, fees: FEES },
    campuses,
    provinceCandidateCounts,
  };
}

/** The campus holding a slot: binary search over the campuses' first slots. */
export function campusOfSlot(layout: WorldLayout, slot: number): CampusLayout {
  const list = layout.campuses;
  let lo = 0;
  let hi = list.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (list[mid]!.firstSlot <= slot) lo = mid;
    else hi = mid - 1;
  }
  // Zero-sized campuses share a firstSlot with the next one; the search lands on the last of them,
  // which is the one that actually holds the slot.
  return list[lo]!;
}
