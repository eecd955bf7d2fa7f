/**
 * Worker for kind 'roster' (gateway/workers/pool.ts): parses and checks one chunk of a roster or
 * CET4 score CSV and turns its good rows into COPY text for the staging tables of
 * scripts/roster-import/loader.ts, with each ID number replaced by its HMAC (lookups), its masked
 * form (display) and its AES-GCM ciphertext (recovery). CPU-bound and stateless: keys arrive with
 * every task, so the pool stays shareable with other kinds of work.
 *
 * It must never return, log or throw an ID number or a name outside the COPY payload: rejects
 * carry a line number, a reason code and a detail without personal data.
 */
import { encryptId, idHmac, type IdKeys } from '../../engine/idCrypto.ts';
import { maskIdNumber } from '../../engine/idNumber.ts';
import { copyBoolean, copyBytea, copyRow, copyTextValue, copyTokenArray } from '../../db/copyText.ts';
import { splitCsvLine } from '../../scripts/roster-import/csvLine.ts';
import type { ChunkResult, ChunkTask, RejectedRow } from '../../scripts/roster-import/protocol.ts';
import { validateRosterFields, validateScoreFields } from '../../scripts/roster-import/validate.ts';

interface CachedKeys {
  readonly hmacHex: string;
  readonly encryptionHex: string;
  readonly keys: IdKeys;
}
let cachedKeys: CachedKeys | undefined;

function keysOf(task: ChunkTask): IdKeys {
  if (cachedKeys?.hmacHex !== task.hmacKeyHex || cachedKeys.encryptionHex !== task.encryptionKeyHex) {
    cachedKeys = {
      hmacHex: task.hmacKeyHex,
      encryptionHex: task.encryptionKeyHex,
      keys: {
        hmacKey: Buffer.from(task.hmacKeyHex, 'hex'),
        encryptionKey: Buffer.from(task.encryptionKeyHex, 'hex'),
      },
    };
  }
  return cachedKeys.keys;
}

/** One COPY line per good row; the column order is the staging table's (loader.ts). */
function encodeRow(
  task: ChunkTask,
  keys: IdKeys,
  line: number,
  fields: string[],
  today: Date,
): string | RejectedRow {
  if (task.kind === 'roster') {
    const row = validateRosterFields(fields, today);
    if ('ok' in row) return { line, reason: row.reason, detail: row.detail };
    return copyRow([
      String(line),
      row.candidateId,
      row.idType,
      copyBytea(idHmac(keys, row.idNumber)),
      copyTextValue(maskIdNumber(row.idNumber)),
      copyBytea(encryptId(keys, row.idNumber)),
      copyTextValue(row.name),
      copyTextValue(row.nameNormalised),
      row.provinceCode,
      row.schoolId,
      row.campusId,
      row.grade,
      copyTokenArray(row.eligibleSubjects),
      copyBoolean(row.cet6Barred),
    ]);
  }
  const row = validateScoreFields(fields, today);
  if ('ok' in row) return { line, reason: row.reason, detail: row.detail };
  return copyRow([
    String(line),
    row.ticketNumber,
    copyBytea(idHmac(keys, row.idNumber)),
    copyTextValue(row.name),
    copyTextValue(row.nameNormalised),
    String(row.score),
    String(row.year),
  ]);
}

export default function processChunk(task: ChunkTask): ChunkResult {
  const keys = keysOf(task);
  const today = new Date(task.todayMs);
  const data = Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength);
  const text = data.toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop(); // the chunk's last line ends with "\n"
  const tooLong = new Set(task.tooLongLines);

  const rejects: RejectedRow[] = [];
  const copyLines: string[] = [];
  let rows = 0;
  for (let index = 0; index < lines.length; index++) {
    const line = task.firstLine + index;
    let content = lines[index]!;
    if (content.endsWith('\r')) content = content.slice(0, -1);
    if (tooLong.has(line)) {
      rows++;
      rejects.push({ line, reason: 'LINE_TOO_LONG', detail: 'the line was skipped unread' });
      continue;
    }
    if (content.trim() === '') continue; // blank lines are not rows
    rows++;
    if (content.includes('\ufffd')) {
      rejects.push({ line, reason: 'BAD_ENCODING', detail: 'invalid UTF-8 byte sequence' });
      continue;
    }
    const split = splitCsvLine(content);
    if (!split.ok) {
      rejects.push({ line, reason: 'BAD_QUOTING', detail: split.detail });
      continue;
    }
    if (split.fields.length !== task.columnCount) {
      rejects.push({
        line,
        reason: 'COLUMN_COUNT',
        detail: `expected ${task.columnCount} columns, found ${split.fields.length}`,
      });
      continue;
    }
    const fields = task.columnIndexes.map((column) => split.fields[column] ?? '');
    const encoded = encodeRow(task, keys, line, fields, today);
    if (typeof encoded === 'string') copyLines.push(encoded);
    else rejects.push(encoded);
  }
  return { rows, goodRows: copyLines.length, copyText: copyLines.join(''), rejects };
}
