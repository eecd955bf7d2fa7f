/**
 * Reads a CSV's header line and decides what the file is: the roster (ROSTER_COLUMNS) or the CET4
 * score history (CET4_SCORE_COLUMNS), the column sets of csv.ts (the seed writes them too).
 * Columns may come in any order; names are compared case-insensitively, a UTF-8 BOM is ignored.
 * Throws ImportFileError when the file cannot be read or its header is neither.
 */
import { open } from 'node:fs/promises';
import { CET4_SCORE_COLUMNS, ROSTER_COLUMNS } from './csv.ts';
import { splitCsvLine } from './csvLine.ts';
import type { ImportKind } from './protocol.ts';

/** A file that cannot be imported at all (unreadable, not a roster or score file). */
export class ImportFileError extends Error {
  override readonly name = 'ImportFileError';
  constructor(
    readonly code: 'FILE_UNREADABLE' | 'UNKNOWN_HEADER',
    message: string,
  ) {
    super(message);
  }
}

export interface CsvHeader {
  readonly kind: ImportKind;
  /** For each expected column, in ROSTER_COLUMNS / CET4_SCORE_COLUMNS order, its index in the file. */
  readonly columnIndexes: number[];
  readonly columnCount: number;
  /** Bytes of the header line, its line end included: where the data starts. */
  readonly byteLength: number;
  /** Size of the whole file in bytes. */
  readonly fileBytes: number;
}

const MAX_HEADER_BYTES = 64 * 1024;
const BOM = '\ufeff';

const EXPECTED: readonly { kind: ImportKind; columns: readonly string[] }[] = [
  { kind: 'roster', columns: ROSTER_COLUMNS },
  { kind: 'scores', columns: CET4_SCORE_COLUMNS },
];

export async function readCsvHeader(path: string): Promise<CsvHeader> {
  let bytes: Buffer;
  let fileBytes: number;
  try {
    const handle = await open(path, 'r');
    try {
      fileBytes = (await handle.stat()).size;
      bytes = Buffer.alloc(Math.min(MAX_HEADER_BYTES, fileBytes));
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
      bytes = bytes.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ImportFileError('FILE_UNREADABLE', `${path}: cannot be read (${reason})`);
  }
  const newline = bytes.indexOf(10);
  if (newline < 0 && bytes.length === MAX_HEADER_BYTES) {
    throw new ImportFileError(
      'UNKNOWN_HEADER',
      `${path}: no header line in its first ${MAX_HEADER_BYTES} bytes`,
    );
  }
  const byteLength = newline < 0 ? bytes.length : newline + 1;
  let line = bytes.toString('utf8', 0, newline < 0 ? bytes.length : newline);
  if (line.endsWith('\r')) line = line.slice(0, -1);
  if (line.startsWith(BOM)) line = line.slice(BOM.length);
  const split = splitCsvLine(line);
  const names = split.ok ? split.fields.map((name) => name.trim().toLowerCase()) : [];
  for (const { kind, columns } of EXPECTED) {
    if (names.length !== columns.length) continue;
    const columnIndexes = columns.map((column) => names.indexOf(column.toLowerCase()));
    if (columnIndexes.every((index) => index >= 0)) {
      return { kind, columnIndexes, columnCount: names.length, byteLength, fileBytes };
    }
  }
  throw new ImportFileError(
    'UNKNOWN_HEADER',
    `${path}: the header is neither a roster (${ROSTER_COLUMNS.join(',')}) ` +
      `nor a CET4 score file (${CET4_SCORE_COLUMNS.join(',')})`,
  );
}
