import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateResidentId } from '../../engine/idNumber.ts';
import { isTicketInScope, parseTicket } from '../../engine/ticket.ts';
import type { Campus, RosterEntry } from '../../engine/world.ts';
import { CET6_PASS_SCORE, type SeededCandidate } from './candidates.ts';
import { CET4_SCORE_COLUMNS, csvField, ROSTER_COLUMNS } from '../../roster/csv.ts';
import { DEFAULT_NOW, generateWorld, type GeneratedWorld } from './generate.ts';
import { CANDIDATES_PER_SCHOOL, FEES, REGISTRATION_WINDOW_MS } from './world.ts';
import { CET4_SCORES_FILE, ROSTER_FILE, WORLD_FILE, writeSeedFiles } from './write.ts';

const HOUR = 3_600_000;
const run = promisify(execFile);

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'seed-test-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function filesHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of [WORLD_FILE, ROSTER_FILE, CET4_SCORES_FILE])
    hash.update(await readFile(join(dir, file)));
  return hash.digest('hex');
}

function all(generated: GeneratedWorld): SeededCandidate[] {
  return [...generated.candidates()];
}

function campusById(generated: GeneratedWorld): Map<string, Campus> {
  return new Map(generated.world.campuses.map((c) => [c.campusId, c]));
}

describe('determinism', () => {
  it('writes byte-identical files for the same options, different ones for another seed', async () => {
    const options = { seed: 7, candidates: 1_000 };
    const first = await writeSeedFiles(join(scratch, 'a'), generateWorld(options));
    await writeSeedFiles(join(scratch, 'b'), generateWorld(options));
    await writeSeedFiles(join(scratch, 'c'), generateWorld({ ...options, seed: 8 }));
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((d) => filesHash(join(scratch, d))));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(first.candidates).toBe(1_000);
  });

  it('gives the same rows when iterated again, and by random access', () => {
    const generated = generateWorld({ candidates: 500 });
    const once = [...generated.roster()];
    expect([...generated.roster()]).toEqual(once);
    expect([...generated.cet4Scores()]).toEqual([...generated.cet4Scores()]);
    expect(generated.candidate(137).entry).toEqual(once[136]);
    expect(() => generated.candidate(0)).toThrow(RangeError);
    expect(() => generated.candidate(501)).toThrow(RangeError);
  });

  it('writes the same bytes through the CLI', async () => {
    const out = join(scratch, 'cli');
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/seed.ts', '--candidates', '1000', '--seed', '7', '--out', out],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)) },
    );
    expect(stdout).toMatch(/candidates 1000/);
    expect(stdout).toMatch(/elapsed \d+\.\d+ s/);
    await writeSeedFiles(join(scratch, 'api'), generateWorld({ seed: 7, candidates: 1_000 }));
    expect(await filesHash(out)).toBe(await filesHash(join(scratch, 'api')));
  });
});

describe('CSV output', () => {
  it('follows RosterEntry / Cet4Score field order', async () => {
    const generated = generateWorld({ candidates: 300 });
    const first = generated.candidate(1).entry;
    expect(Object.keys(first)).toEqual([...ROSTER_COLUMNS]);
    const score = [...generated.cet4Scores()][0]!;
    expect(Object.keys(score).filter((k) => k !== 'kind')).toEqual([...CET4_SCORE_COLUMNS]);

    const dir = join(scratch, 'csv');
    await writeSeedFiles(dir, generated);
    const lines = (await readFile(join(dir, ROSTER_FILE), 'utf8')).split('\n');
    expect(lines[0]).toBe(ROSTER_COLUMNS.join(','));
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(302);
    const e = first;
    expect(lines[1]).toBe(
      [
        e.candidateId,
        e.idType,
        e.idNumber,
        e.name,
        e.provinceCode,
        e.schoolId,
        e.campusId,
        e.grade,
        e.eligibleSubjects.join(';'),
        String(e.cet6Barred),
      ].join(','),
    );
    const world = JSON.parse(await readFile(join(dir, WORLD_FILE), 'utf8'));
    expect(world).toEqual(generated.world);
  });

  it('quotes fields that need it', () => {
    expect(csvField('王伟')).toBe('王伟');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
  });
});

describe('a 1,000-candidate world', () => {
  const now = DEFAULT_NOW;
  const generated = generateWorld({ candidates: 1_000 });
  const candidates = all(generated);
  const campuses = campusById(generated);
  const roster: RosterEntry[] = candidates.map((c) => c.entry);

  it('has exactly the candidates asked for, numbered 1..n', () => {
    expect(generated.candidateCount).toBe(1_000);
    expect(roster.map((e) => e.candidateId)).toEqual(Array.from({ length: 1_000 }, (_, i) => String(i + 1)));
  });

  it('has all 31 provinces with real codes and names, each with a school and a calendar entry', () => {
    const { provinces, schools, calendar } = generated.world;
    expect(provinces).toHaveLength(31);
    expect(provinces.find((p) => p.code === '44')?.name).toBe('广东省');
    expect(provinces.find((p) => p.code === '65')?.name).toBe('新疆维吾尔自治区');
    for (const p of provinces) {
      expect(schools.some((s) => s.provinceCode === p.code)).toBe(true);
      expect(calendar.filter((c) => c.provinceCode === p.code)).toHaveLength(1);
    }
  });

  it('places every candidate at a campus of their school in their province', () => {
    for (const e of roster) {
      const campus = campuses.get(e.campusId);
      expect(campus?.schoolId).toBe(e.schoolId);
      expect(campus?.provinceCode).toBe(e.provinceCode);
      expect(e.campusId).toMatch(new RegExp(`^${e.schoolId}[1-3]$`));
      expect(e.schoolId).toMatch(new RegExp(`^${e.provinceCode}\\d{4}$`));
    }
  });

  it('gives valid, unique identity numbers: resident IDs in the candidate province, born 1998-2007', () => {
    const numbers = new Set<string>();
    for (const e of roster) {
      numbers.add(e.idNumber);
      if (e.idType === 'RESIDENT_ID') {
        const result = validateResidentId(e.idNumber, new Date(now));
        expect(result.ok, e.idNumber).toBe(true);
        if (!result.ok) continue;
        expect(result.regionCode).toMatch(new RegExp(`^${e.provinceCode}010[1-9]$`));
        expect(result.birthDate >= '1998-01-01' && result.birthDate <= '2007-12-31').toBe(true);
      } else if (e.idType === 'PASSPORT') {
        expect(e.idNumber).toMatch(/^E\d{8}$/);
      } else if (e.idType === 'HK_MACAO_PERMIT') {
        expect(e.idNumber).toMatch(/^[HM]\d{8}$/);
      } else {
        expect(e.idType).toBe('TAIWAN_PERMIT');
        expect(e.idNumber).toMatch(/^\d{8}$/);
      }
    }
    expect(numbers.size).toBe(roster.length);
    const others = roster.filter((e) => e.idType !== 'RESIDENT_ID').length;
    expect(others).toBeGreaterThan(5);
    expect(others).toBeLessThan(50);
  });

  it('gives plausible names and grades', () => {
    for (const e of roster) {
      expect(e.name).toMatch(/^(\p{Script=Han}{2,3}|\p{Script=Han}+\u00b7\p{Script=Han}+)$/u);
      expect(['2021', '2022', '2023', '2024', '2025']).toContain(e.grade);
    }
    expect(roster.some((e) => e.name.includes('\u00b7'))).toBe(true);
  });

  it('has CET4 capacity at every campus, oral seats in every province but not everywhere', () => {
    const { campuses: list, provinces } = generated.world;
    for (const c of list) {
      expect(c.capacity.CET4).toBeGreaterThan(0);
      for (const seats of Object.values(c.capacity)) expect(Number.isInteger(seats) && seats > 0).toBe(true);
    }
    for (const p of provinces) {
      expect(list.some((c) => c.provinceCode === p.code && c.capacity['CET-SET4'] !== undefined)).toBe(true);
    }
    expect(list.some((c) => c.capacity['CET-SET4'] === undefined)).toBe(true);
    expect(list.some((c) => !c.studentsMayTakeOralElsewhere)).toBe(true);
  });

  it('opens registration per province, some at the anchor and some hours later, for 7 days', () => {
    const { calendar } = generated.world;
    for (const entry of calendar) {
      expect(entry.registrationClosesAt - entry.registrationOpensAt).toBe(REGISTRATION_WINDOW_MS);
      expect((entry.registrationOpensAt - now) % HOUR).toBe(0);
      expect(entry.registrationOpensAt).toBeGreaterThanOrEqual(now);
    }
    expect(calendar.some((e) => e.registrationOpensAt === now)).toBe(true);
    expect(calendar.some((e) => e.registrationOpensAt > now)).toBe(true);
  });

  it('staggers oral openings: own school within 2 h of opening, province-wide 1-4 h later or never', () => {
    const opens = new Map(generated.world.calendar.map((e) => [e.provinceCode, e.registrationOpensAt]));
    for (const c of generated.world.campuses) {
      const delay = c.oralOpens.ownSchoolAt - opens.get(c.provinceCode)!;
      expect(delay % (HOUR / 2)).toBe(0);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(2 * HOUR);
      const wide = c.oralOpens.provinceWideAt;
      if (wide !== null) {
        expect(wide - c.oralOpens.ownSchoolAt).toBeGreaterThanOrEqual(HOUR);
        expect(wide - c.oralOpens.ownSchoolAt).toBeLessThanOrEqual(4 * HOUR);
      }
    }
  });

  it('charges the fixed fees', () => {
    expect(generated.world.fees).toEqual(FEES);
    expect(FEES).toMatchObject({ CET4: 30, CET6: 30, 'CET-SET4': 50, 'CET-SET6': 50 });
  });

  it('gives about 60% of candidates a CET4 history with unique, well-formed tickets from their school', () => {
    const withHistory = candidates.filter((c) => c.scores.length > 0).length;
    expect(withHistory).toBeGreaterThan(500);
    expect(withHistory).toBeLessThan(700);
    const tickets = new Set<string>();
    for (const c of candidates) {
      expect(c.scores.length).toBeLessThanOrEqual(3);
      for (const s of c.scores) {
        tickets.add(s.ticketNumber);
        const parsed = parseTicket(s.ticketNumber);
        expect(parsed).toMatchObject({ ok: true, year: s.year, level: 1, siteCode: c.entry.schoolId });
        expect(s.score).toBeGreaterThanOrEqual(300);
        expect(s.score).toBeLessThanOrEqual(650);
        if (s.kind !== 'BEFORE_2005') expect(s.year).toBeGreaterThanOrEqual(2019);
        if (s.kind !== 'BEFORE_2005') expect(s.year).toBeLessThanOrEqual(2025);
      }
    }
    expect(tickets.size).toBe(candidates.reduce((n, c) => n + c.scores.length, 0));
  });

  it('gives CET6 only to passed, unbarred candidates', () => {
    for (const c of candidates) {
      if (!c.entry.eligibleSubjects.includes('CET6')) continue;
      expect(c.entry.cet6Barred).toBe(false);
      expect(c.scores.some((s) => s.kind === 'NORMAL' && s.score >= CET6_PASS_SCORE)).toBe(true);
    }
    expect(candidates.some((c) => c.entry.eligibleSubjects.includes('CET6'))).toBe(true);
    expect(candidates.every((c) => c.entry.eligibleSubjects[0] === 'CET4')).toBe(true);
  });

  it('plants R9/R10/R14 cases', () => {
    const rosterNumbers = new Set(roster.map((e) => e.idNumber));
    const records = candidates.flatMap((c) => c.scores.map((s) => ({ c, s })));

    const before2005 = records.filter(({ s }) => !isTicketInScope(s.ticketNumber));
    expect(before2005.length).toBeGreaterThan(0);
    for (const { c, s } of before2005) {
      expect(s.year).toBeLessThan(2005);
      expect(s).toMatchObject({ kind: 'BEFORE_2005', idNumber: c.entry.idNumber, name: c.entry.name });
      expect(s.score).toBeGreaterThanOrEqual(CET6_PASS_SCORE);
    }

    // R10 approve at once: ticket + ID number match, name does not.
    const nameDiffers = records.filter(
      ({ c, s }) => s.idNumber === c.entry.idNumber && s.name !== c.entry.name,
    );
    expect(nameDiffers.length).toBeGreaterThan(0);
    expect(nameDiffers.every(({ s }) => s.kind === 'NAME_DIFFERS' && s.score >= CET6_PASS_SCORE)).toBe(true);

    // R10 pending: ticket + name match, ID number does not (and is nobody's in the roster).
    const idDiffers = records.filter(({ c, s }) => s.idNumber !== c.entry.idNumber);
    expect(idDiffers.length).toBeGreaterThan(0);
    for (const { c, s } of idDiffers) {
      expect(s).toMatchObject({ kind: 'ID_DIFFERS', name: c.entry.name });
      expect(s.score).toBeGreaterThanOrEqual(CET6_PASS_SCORE);
      expect(rosterNumbers.has(s.idNumber)).toBe(false);
      if (c.entry.idType === 'RESIDENT_ID')
        expect(validateResidentId(s.idNumber, new Date(now)).ok).toBe(true);
    }

    // R9: passed (a normal record >= 425), not barred, campus offers CET6, yet no CET6.
    const reviewOffered = candidates.filter(
      (c) =>
        c.scores.some((s) => s.kind === 'NORMAL' && s.score >= CET6_PASS_SCORE) &&
        !c.entry.cet6Barred &&
        campuses.get(c.entry.campusId)?.capacity.CET6 !== undefined &&
        !c.entry.eligibleSubjects.includes('CET6'),
    );
    expect(reviewOffered.length).toBeGreaterThan(0);
    expect(reviewOffered.every((c) => c.cet6ReviewExpected)).toBe(true);
    expect(candidates.filter((c) => c.cet6ReviewExpected)).toHaveLength(reviewOffered.length);
    expect(roster.some((e) => e.cet6Barred)).toBe(true);
  });
});

describe('scale and options', () => {
  it('handles 50k candidates quickly with the real provincial skew and sized capacities', () => {
    const started = performance.now();
    const generated = generateWorld({ candidates: 50_000, seed: 3 });
    const perProvince = new Map<string, number>();
    const idNumbers = new Set<string>();
    const tickets = new Set<string>();
    let count = 0;
    let scoreCount = 0;
    for (const c of generated.candidates()) {
      count++;
      perProvince.set(c.entry.provinceCode, (perProvince.get(c.entry.provinceCode) ?? 0) + 1);
      idNumbers.add(c.entry.idNumber);
      for (const s of c.scores) {
        tickets.add(s.ticketNumber);
        scoreCount++;
      }
    }
    expect(count).toBe(50_000);
    expect(idNumbers.size).toBe(50_000);
    expect(tickets.size).toBe(scoreCount);
    for (const big of ['37', '41', '44', '32']) {
      expect(perProvince.get(big)!).toBeGreaterThan(3 * perProvince.get('11')!);
    }
    expect(perProvince.get('54')!).toBeLessThan(perProvince.get('11')!);

    const { schools, campuses } = generated.world;
    expect(schools.length).toBeGreaterThanOrEqual(31);
    expect(schools.length).toBeLessThanOrEqual(Math.ceil(50_000 / CANDIDATES_PER_SCHOOL) + 31);
    const total = (subject: keyof Campus['capacity']) =>
      campuses.reduce((sum, c) => sum + (c.capacity[subject] ?? 0), 0);
    expect(total('CET4') / 50_000).toBeGreaterThan(1.05);
    expect(total('CET4') / 50_000).toBeLessThan(1.2);
    expect(total('CET6') / 50_000).toBeGreaterThan(0.5);
    expect(total('CET6') / 50_000).toBeLessThan(0.7);
    expect(total('CET-SET4') / 50_000).toBeGreaterThan(0.03);
    expect(total('CET-SET4') / 50_000).toBeLessThan(0.15);
    const withJapanese = campuses.filter((c) => c.capacity.CJT4 !== undefined).length;
    expect(withJapanese).toBeGreaterThan(0);
    expect(withJapanese).toBeLessThan(campuses.length / 4);
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('limits the world to the first n provinces by code', () => {
    const generated = generateWorld({ candidates: 2_000, provinces: 4 });
    expect(generated.world.provinces.map((p) => p.code)).toEqual(['11', '12', '13', '14']);
    const provinces = new Set([...generated.roster()].map((e) => e.provinceCode));
    expect([...provinces].sort()).toEqual(['11', '12', '13', '14']);
  });

  it('spreads candidate numbers over provinces instead of grouping them', () => {
    const generated = generateWorld({ candidates: 10_000 });
    const firstHundred = new Set([...generated.roster()].slice(0, 100).map((e) => e.provinceCode));
    expect(firstHundred.size).toBeGreaterThan(15);
  });

  it('handles fewer candidates than provinces and zero candidates', () => {
    expect([...generateWorld({ candidates: 5 }).roster()]).toHaveLength(5);
    const empty = generateWorld({ candidates: 0 });
    expect([...empty.roster()]).toHaveLength(0);
    expect(empty.world.campuses.length).toBeGreaterThanOrEqual(31);
  });

  it('refuses impossible options', () => {
    expect(() => generateWorld({ candidates: -1 })).toThrow(RangeError);
    expect(() => generateWorld({ candidates: 1.5 })).toThrow(RangeError);
    expect(() => generateWorld({ candidates: 10, provinces: 0 })).toThrow(RangeError);
    expect(() => generateWorld({ candidates: 10, provinces: 32 })).toThrow(RangeError);
    expect(() => generateWorld({ candidates: 10, seed: -1 })).toThrow(RangeError);
  });
});
