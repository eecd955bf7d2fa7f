/**
 * The pure parts of the roster import: RFC 4180 line splitting, the streaming line chunker (line
 * numbers, over-long lines), header detection, row checks, COPY text escaping, and the worker's
 * chunk processing (run in this thread: it is a plain function).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeResidentId } from '../../engine/idNumber.ts';
import processChunk from '../../roster/roster.worker.ts';
import { lineChunks, type LineChunk } from '../../roster/chunks.ts';
import { copyBytea, copyTextValue } from '../../db/copyText.ts';
import { splitCsvLine } from '../../roster/csvLine.ts';
import { ImportFileError, readCsvHeader } from '../../roster/header.ts';
import type { ChunkTask } from '../../roster/protocol.ts';
import { validateRosterFields, validateScoreFields } from '../../roster/validate.ts';

const TODAY = new Date(Date.UTC(2025, 8, 10));
const ID = makeResidentId('110105', '2004-05-06', 123);

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'roster-parsing-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('splitCsvLine (RFC 4180, one record per line)', () => {
  it('splits plain and quoted fields, with commas and doubled quotes inside quotes', () => {
    expect(splitCsvLine('a,b,,c')).toEqual({ ok: true, fields: ['a', 'b', '', 'c'] });
    expect(splitCsvLine('"a,1","say ""hi""",x,""')).toEqual({
      ok: true,
      fields: ['a,1', 'say "hi"', 'x', ''],
    });
    expect(splitCsvLine('"a",')).toEqual({ ok: true, fields: ['a', ''] });
  });

  it('refuses a quote never closed, text after a closing quote, and a quote inside a bare field', () => {
    expect(splitCsvLine('a,"b,c')).toMatchObject({ ok: false });
    expect(splitCsvLine('a,"b"c,d')).toMatchObject({ ok: false });
    expect(splitCsvLine('a,b"c,d')).toMatchObject({ ok: false });
  });
});

async function collect(parts: string[], linesPerChunk: number, maxLineBytes?: number): Promise<LineChunk[]> {
  async function* source() {
    for (const part of parts) yield Buffer.from(part);
  }
  const chunks: LineChunk[] = [];
  const options = { firstLine: 2, linesPerChunk, ...(maxLineBytes ? { maxLineBytes } : {}) };
  for await (const chunk of lineChunks(source(), options)) chunks.push(chunk);
  return chunks;
}

describe('lineChunks', () => {
  it('cuts at line ends whatever the read boundaries, numbering lines from the given first line', async () => {
    const chunks = await collect(['a\nb', 'b\nc\nd', 'd\ne'], 2);
    expect(chunks.map((c) => [c.firstLine, c.lines, c.data.toString()])).toEqual([
      [2, 2, 'a\nbb\n'],
      [4, 2, 'c\ndd\n'],
      [6, 1, 'e'],
    ]);
  });

  it('drops an over-long line but keeps its number, so the lines after it keep theirs', async () => {
    const long = 'x'.repeat(100);
    const chunks = await collect(['a\n', long.slice(0, 60), `${long.slice(60)}\nb\n`], 10, 50);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.tooLongLines).toEqual([3]);
    expect(chunks[0]!.data.toString()).toBe('a\n\nb\n');
  });
});

describe('readCsvHeader', () => {
  it('tells the roster from the score file by header, in any column order, BOM ignored', async () => {
    const roster = join(scratch, 'r.csv');
    await writeFile(
      roster,
      '\ufeffidType,candidateId,idNumber,name,provinceCode,schoolId,campusId,grade,eligibleSubjects,cet6Barred\r\n',
    );
    expect(await readCsvHeader(roster)).toMatchObject({
      kind: 'roster',
      columnIndexes: [1, 0, 2, 3, 4, 5, 6, 7, 8, 9],
    });
    const scores = join(scratch, 's.csv');
    await writeFile(scores, 'ticketNumber,idNumber,name,score,year\n1,2,3,4,5\n');
    expect(await readCsvHeader(scores)).toMatchObject({ kind: 'scores', byteLength: 38 });
  });

  it('refuses a missing file and an unknown header with ImportFileError', async () => {
    await expect(readCsvHeader(join(scratch, 'missing.csv'))).rejects.toMatchObject({
      code: 'FILE_UNREADABLE',
    });
    const other = join(scratch, 'o.csv');
    await writeFile(other, 'a,b,c\n');
    await expect(readCsvHeader(other)).rejects.toBeInstanceOf(ImportFileError);
  });
});

describe('row checks', () => {
  const roster = (overrides: Record<number, string> = {}): string[] => {
    const fields = [
      '17',
      'RESIDENT_ID',
      ID,
      ' 王小明 ',
      '11',
      '110001',
      '1100011',
      '2024',
      'CET6;CET4;CET4',
      'false',
    ];
    for (const [index, value] of Object.entries(overrides)) fields[Number(index)] = value;
    return fields;
  };

  it('accepts a good row, normalising ID number, name and subjects', () => {
    const row = validateRosterFields(roster({ 2: `${ID.slice(0, 17)} ${ID[17]!.toLowerCase()}` }), TODAY);
    expect(row).toMatchObject({
      idNumber: ID,
      name: '王小明',
      nameNormalised: '王小明',
      eligibleSubjects: ['CET4', 'CET6'],
      cet6Barred: false,
    });
  });

  it.each([
    [{ 0: 'abc' }, 'BAD_CANDIDATE_ID'],
    [{ 1: 'PASSPORT', 2: 'E1' }, 'BAD_DOCUMENT_NUMBER'],
    [{ 2: ID.slice(0, 17) }, 'ID_LENGTH'],
    [{ 2: makeResidentId('110105', '2004-13-01', 1) }, 'ID_BIRTH_DATE'],
    [{ 2: makeResidentId('990105', '2004-01-01', 1) }, 'ID_REGION'],
    [{ 3: '\u3000' }, 'EMPTY_NAME'],
    [{ 3: '王\u0007小明' }, 'BAD_NAME'],
    [{ 4: '1' }, 'BAD_PROVINCE_CODE'],
    [{ 5: '' }, 'BAD_SCHOOL_ID'],
    [{ 6: 'a b' }, 'BAD_CAMPUS_ID'],
    [{ 7: '24' }, 'BAD_GRADE'],
    [{ 8: 'CET-SET4' }, 'UNKNOWN_SUBJECT'],
    [{ 9: 'yes' }, 'BAD_BOOLEAN'],
  ])('rejects %o as %s', (overrides, reason) => {
    expect(validateRosterFields(roster(overrides), TODAY)).toMatchObject({ ok: false, reason });
  });

  it('checks score rows: ticket, score range, plausible year matching the ticket', () => {
    const good = ['110001242100042', ID, '吕晓妍', '463', '2024'];
    expect(validateScoreFields(good, TODAY)).toMatchObject({ score: 463, year: 2024, idNumber: ID });
    expect(validateScoreFields(good.with(3, '710'), TODAY)).toMatchObject({ score: 710 });
    expect(validateScoreFields(good.with(3, '711'), TODAY)).toMatchObject({ reason: 'BAD_SCORE' });
    expect(validateScoreFields(good.with(3, '4.5'), TODAY)).toMatchObject({ reason: 'BAD_SCORE' });
    expect(validateScoreFields(good.with(0, '110001242200042'), TODAY)).toMatchObject({
      reason: 'TICKET_NOT_CET4',
    });
    expect(validateScoreFields(good.with(4, '2023'), TODAY)).toMatchObject({
      reason: 'TICKET_YEAR_MISMATCH',
    });
    expect(validateScoreFields(good.with(0, '110001272100042').with(4, '2027'), TODAY)).toMatchObject({
      reason: 'BAD_YEAR',
    });
  });

  it('never quotes an ID number or a name in a detail', () => {
    const shifted = validateRosterFields(roster({ 7: ID }), TODAY);
    expect(shifted).toMatchObject({ ok: false, reason: 'BAD_GRADE' });
    expect(JSON.stringify(shifted)).not.toContain(ID);
    const nameAsBoolean = validateRosterFields(roster({ 9: '王小明' }), TODAY);
    expect(JSON.stringify(nameAsBoolean)).not.toContain('王小明');
  });
});

describe('COPY text', () => {
  it('escapes backslash, tab and line ends, and writes bytea as escaped hex', () => {
    expect(copyTextValue('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    expect(copyBytea(Buffer.from([0, 255]))).toBe('\\\\x00ff');
  });
});

describe('the roster worker', () => {
  const task = (text: string, overrides: Partial<ChunkTask> = {}): ChunkTask => ({
    kind: 'roster',
    firstLine: 2,
    data: Buffer.from(text),
    tooLongLines: [],
    columnIndexes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    columnCount: 10,
    hmacKeyHex: '11'.repeat(32),
    encryptionKeyHex: '22'.repeat(32),
    todayMs: TODAY.getTime(),
    ...overrides,
  });
  const good = `1,RESIDENT_ID,${ID},王小明,11,110001,1100011,2024,CET4,false`;

  it('numbers lines from the chunk start, skips blank lines, and reports bad lines', () => {
    const result = processChunk(
      task(`${good}\n\n1,RESIDENT_ID,${ID}\n${good}\r\nbad"quote\n`, { firstLine: 10 }),
    );
    expect(result.rows).toBe(4);
    expect(result.goodRows).toBe(2);
    expect(result.rejects.map((r) => [r.line, r.reason])).toEqual([
      [12, 'COLUMN_COUNT'],
      [14, 'BAD_QUOTING'],
    ]);
    const copyLines = result.copyText.trimEnd().split('\n');
    expect(copyLines.map((line) => line.split('\t')[0])).toEqual(['10', '13']);
    expect(result.copyText).not.toContain(ID);
  });

  it('rejects invalid UTF-8 and lines dropped as too long', () => {
    const bytes = Buffer.concat([
      Buffer.from(`${good}\n`),
      Buffer.from([0xff, 0x2c, 0x0a]),
      Buffer.from('\n'),
    ]);
    const result = processChunk(task('', { data: bytes, tooLongLines: [4] }));
    expect(result.rejects.map((r) => [r.line, r.reason])).toEqual([
      [3, 'BAD_ENCODING'],
      [4, 'LINE_TOO_LONG'],
    ]);
  });
});
