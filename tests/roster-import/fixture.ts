/**
 * A small seeded world written to a temp dir (loadtest/seed), with bad rows planted at known lines
 * of roster.csv and cet4_scores.csv, and what the import must report and keep. Planting replaces
 * a line (never inserts one), so every other line keeps its number.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeResidentId } from '../../engine/idNumber.ts';
import { csvField } from '../../roster/csv.ts';
import { DEFAULT_NOW, generateWorld, type GeneratedWorld } from '../../loadtest/seed/generate.ts';
import { CET4_SCORES_FILE, ROSTER_FILE, writeSeedFiles } from '../../loadtest/seed/write.ts';
import type { RejectReason } from '../../roster/protocol.ts';

export const NOW = DEFAULT_NOW;
/** Small enough to be quick, several chunks long with LINES_PER_CHUNK. */
export const CANDIDATES = 400;
export const LINES_PER_CHUNK = 50;

export interface ExpectedReject {
  readonly line: number;
  readonly reason: RejectReason;
}

export interface Fixture {
  readonly dir: string;
  readonly generated: GeneratedWorld;
  readonly rosterPath: string;
  readonly scoresPath: string;
  readonly worldPath: string;
  /** Sorted by line. */
  readonly rosterRejects: ExpectedReject[];
  readonly scoresRejects: ExpectedReject[];
  /** Data rows (blank lines excepted). */
  readonly rosterRows: number;
  readonly scoresRows: number;
  /** candidateId → the roster fields as the seed wrote them, for every row that must be imported. */
  readonly keptRoster: Map<string, string[]>;
  readonly keptTickets: Set<string>;
  /** Every ID number written in clear anywhere in the two files. */
  readonly clearIdNumbers: Set<string>;
  /** Lines given a special but valid form. */
  readonly fullWidthLine: number;
  readonly quotedLine: number;
  readonly crlfLine: number;
  readonly blankLine: number;
}

const FULL_WIDTH_OFFSET = 0xff10 - 0x30;
const toFullWidth = (digits: string): string =>
  digits.replace(/[0-9]/g, (d) => String.fromCharCode(d.charCodeAt(0) + FULL_WIDTH_OFFSET));

function splitSimple(line: string): string[] {
  if (line.includes('"')) throw new Error('fixture rows are expected to be unquoted');
  return line.split(',');
}

export async function buildFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'roster-import-'));
  const generated = generateWorld({ candidates: CANDIDATES, provinces: 3, now: NOW });
  await writeSeedFiles(dir, generated);
  const rosterPath = join(dir, ROSTER_FILE);
  const scoresPath = join(dir, CET4_SCORES_FILE);

  // --- roster.csv ---
  const rosterLines = (await readFile(rosterPath, 'utf8')).split('\n');
  if (rosterLines.at(-1) === '') rosterLines.pop();
  const fieldsAt = (line: number): string[] => splitSimple(rosterLines[line - 1]!);
  const setLine = (line: number, text: string): void => {
    rosterLines[line - 1] = text;
  };
  const residentLines: number[] = [];
  for (let line = 2; line <= rosterLines.length; line++) {
    if (fieldsAt(line)[1] === 'RESIDENT_ID') residentLines.push(line);
  }
  const used = new Set<number>();
  /** The first resident-ID line at or after `from` not used yet. */
  const resident = (from: number): number => {
    const line = residentLines.find((candidate) => candidate >= from && !used.has(candidate));
    if (line === undefined) throw new Error(`no resident line after ${from}`);
    used.add(line);
    return line;
  };
  const clearIdNumbers = new Set(rosterLines.slice(1).map((text) => splitSimple(text)[2]!));
  const rosterRejects: ExpectedReject[] = [];
  const plant = (line: number, reason: RejectReason, fields: string[] | string): void => {
    setLine(line, typeof fields === 'string' ? fields : fields.join(','));
    rosterRejects.push({ line, reason });
  };

  const checkDigitLine = resident(5);
  {
    const fields = fieldsAt(checkDigitLine);
    const id = fields[2]!;
    const wrong = '0123456789X'.split('').find((c) => c !== id[17])!;
    fields[2] = id.slice(0, 17) + wrong;
    plant(checkDigitLine, 'ID_CHECK_DIGIT', fields);
  }
  const dateLine = resident(7);
  {
    const fields = fieldsAt(dateLine);
    const id = fields[2]!;
    fields[2] = makeResidentId(id.slice(0, 6), '20230231', Number(id.slice(14, 17)));
    clearIdNumbers.add(fields[2]);
    plant(dateLine, 'ID_BIRTH_DATE', fields);
  }
  const originalIdLine = resident(10); // kept; its number reappears below
  const sameChunkOriginal = resident(11); // kept
  const sameChunkDuplicate = resident(12);
  {
    const fields = fieldsAt(sameChunkDuplicate);
    fields[2] = fieldsAt(sameChunkOriginal)[2]!;
    plant(sameChunkDuplicate, 'DUPLICATE_ID', fields);
  }
  const unknownTypeLine = resident(14);
  plant(unknownTypeLine, 'UNKNOWN_ID_TYPE', fieldsAt(unknownTypeLine).with(1, 'DRIVER_LICENCE'));
  const militaryLine = resident(16);
  plant(militaryLine, 'ID_TYPE_NOT_ACCEPTED', fieldsAt(militaryLine).with(1, 'MILITARY_OFFICER'));
  const missingColumnLine = resident(18);
  plant(missingColumnLine, 'COLUMN_COUNT', fieldsAt(missingColumnLine).slice(0, -1));
  const badQuoteLine = resident(20);
  {
    const fields = fieldsAt(badQuoteLine);
    fields[3] = `"${fields[3]}`; // never closed
    plant(badQuoteLine, 'BAD_QUOTING', fields);
  }
  const strayQuoteLine = resident(22);
  {
    const fields = fieldsAt(strayQuoteLine);
    fields[3] = `${fields[3]}"x`;
    plant(strayQuoteLine, 'BAD_QUOTING', fields);
  }
  const unknownSubjectLine = resident(24);
  plant(unknownSubjectLine, 'UNKNOWN_SUBJECT', fieldsAt(unknownSubjectLine).with(8, 'CET4;CET8'));
  const unknownCampusLine = resident(26);
  plant(unknownCampusLine, 'UNKNOWN_CAMPUS', fieldsAt(unknownCampusLine).with(6, '9999991'));
  const crossChunkDuplicate = resident(130); // another chunk than originalIdLine
  {
    const fields = fieldsAt(crossChunkDuplicate);
    fields[2] = fieldsAt(originalIdLine)[2]!;
    plant(crossChunkDuplicate, 'DUPLICATE_ID', fields);
  }
  const candidateSourceLine = resident(30); // kept; its candidate id reappears below
  const duplicateCandidateLine = resident(200);
  {
    const fields = fieldsAt(duplicateCandidateLine);
    fields[0] = fieldsAt(candidateSourceLine)[0]!;
    plant(duplicateCandidateLine, 'DUPLICATE_CANDIDATE', fields);
  }

  // Valid but unusual forms: full-width digits, every field quoted, CRLF, a blank line.
  const fullWidthLine = resident(40);
  setLine(
    fullWidthLine,
    fieldsAt(fullWidthLine)
      .with(2, toFullWidth(fieldsAt(fullWidthLine)[2]!))
      .join(','),
  );
  const quotedLine = resident(41);
  setLine(
    quotedLine,
    fieldsAt(quotedLine)
      .map((field) => `"${field.replaceAll('"', '""')}"`)
      .join(','),
  );
  const crlfLine = resident(50);
  setLine(crlfLine, `${rosterLines[crlfLine - 1]}\r`);
  const blankLine = resident(300);
  const blankCandidate = fieldsAt(blankLine)[0]!;
  setLine(blankLine, '');

  rosterRejects.sort((a, b) => a.line - b.line);
  const rejectedLines = new Set(rosterRejects.map((r) => r.line));
  const keptRoster = new Map<string, string[]>();
  for (let line = 2; line <= rosterLines.length; line++) {
    if (rejectedLines.has(line) || line === blankLine) continue;
    const fields =
      line === quotedLine ? rosterLines[line - 1]!.split(',').map((f) => f.slice(1, -1)) : fieldsAt(line);
    if (line === crlfLine) fields[fields.length - 1] = fields.at(-1)!.replace('\r', '');
    keptRoster.set(fields[0]!, fields);
  }
  if (keptRoster.has(blankCandidate)) throw new Error('blank line candidate should be gone');
  await writeFile(rosterPath, `${rosterLines.join('\n')}\n`);

  // --- cet4_scores.csv ---
  const scoreLines = (await readFile(scoresPath, 'utf8')).split('\n');
  if (scoreLines.at(-1) === '') scoreLines.pop();
  for (const text of scoreLines.slice(1)) clearIdNumbers.add(splitSimple(text)[1]!);
  const scoresRejects: ExpectedReject[] = [];
  const plantScore = (line: number, reason: RejectReason, change: (fields: string[]) => string[]): void => {
    scoreLines[line - 1] = change(splitSimple(scoreLines[line - 1]!)).join(',');
    scoresRejects.push({ line, reason });
  };
  plantScore(3, 'BAD_SCORE', (f) => f.with(3, '711'));
  plantScore(4, 'BAD_SCORE', (f) => f.with(3, '-1'));
  plantScore(6, 'BAD_TICKET', (f) => f.with(0, `${f[0]!.slice(0, 14)}`));
  plantScore(8, 'TICKET_YEAR_MISMATCH', (f) => f.with(4, String(Number(f[4]) - 1)));
  const firstScore = splitSimple(scoreLines[2 - 1]!);
  plantScore(9, 'DUPLICATE_TICKET', (f) => f.with(0, firstScore[0]!).with(4, firstScore[4]!));
  plantScore(11, 'EMPTY_NAME', (f) => f.with(2, '\u3000 '));
  scoresRejects.sort((a, b) => a.line - b.line);
  const rejectedScoreLines = new Set(scoresRejects.map((r) => r.line));
  const keptTickets = new Set<string>();
  for (let line = 2; line <= scoreLines.length; line++) {
    if (!rejectedScoreLines.has(line)) keptTickets.add(splitSimple(scoreLines[line - 1]!)[0]!);
  }
  await writeFile(scoresPath, `${scoreLines.join('\n')}\n`);

  return {
    dir,
    generated,
    rosterPath,
    scoresPath,
    worldPath: join(dir, 'world.json'),
    rosterRejects,
    scoresRejects,
    rosterRows: rosterLines.length - 2, // header and the blank line
    scoresRows: scoreLines.length - 1,
    keptRoster,
    keptTickets,
    clearIdNumbers,
    fullWidthLine,
    quotedLine,
    crlfLine,
    blankLine,
  };
}

/** The CSV form of a reject report row (as roster/rejects.ts writes it). */
export const csvDetail = csvField;
