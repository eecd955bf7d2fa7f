/**
 * Worker for kind 'roster' (gateway/workers/pool.ts): checks roster or CET4 score rows and turns
 * the good ones into staging-table columns (stage.ts), with each ID number replaced by its HMAC
 * (lookups), its masked form (display) and its AES-GCM ciphertext (recovery). Two inputs, one
 * path: a chunk of a CSV file (the importer, run.ts), answered as COPY text, or rows already split
 * into fields (the admin API, admin.ts), answered row by row because the API fills in candidate id
 * and province after its own lookups. CPU-bound and stateless: keys arrive with every task, so the
 * pool stays shareable with other kinds of work.
 *
 * It must never return, log or throw an ID number or a name outside the staging columns: rejects
 * carry a line number, a reason code and a detail without personal data.
 */
import type { IdKeys } from '../engine/idCrypto.ts';
import { copyRow } from '../db/copyText.ts';
import { splitCsvLine } from './csvLine.ts';
import type {
  ChunkResult,
  ChunkTask,
  EncodedRow,
  ImportKind,
  RejectedRow,
  RowsResult,
  RowsTask,
} from './protocol.ts';
import { stageRosterRow, stageScoreRow } from './stage.ts';
import { validateRosterFields, validateScoreFields, type RosterRow, type ScoreRow } from './validate.ts';

interface CachedKeys {
  readonly hmacHex: string;
  readonly encryptionHex: string;
  readonly keys: IdKeys;
}
let cachedKeys: CachedKeys | undefined;

function keysOf(task: ChunkTask | RowsTask): IdKeys {
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

/** A good row: its staging columns and the checked row they came from. */
type Staged =
  | { readonly kind: 'roster'; readonly columns: string[]; readonly row: RosterRow; readonly idHmac: Buffer }
  | { readonly kind: 'scores'; readonly columns: string[]; readonly row: ScoreRow };

/** A row's staging columns, or why the row is bad. */
function encodeRow(
  kind: ImportKind,
  keys: IdKeys,
  line: number,
  fields: readonly string[],
  today: Date,
): Staged | RejectedRow {
  if (kind === 'roster') {
    const row = validateRosterFields(fields, today);
    if ('ok' in row) return { line, reason: row.reason, detail: row.detail };
    const staged = stageRosterRow(keys, line, row);
    return { kind, columns: staged.columns, row, idHmac: staged.idHmac };
  }
  const row = validateScoreFields(fields, today);
  if ('ok' in row) return { line, reason: row.reason, detail: row.detail };
  return { kind, columns: stageScoreRow(keys, line, row), row };
}

function processChunk(task: ChunkTask): ChunkResult {
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
    const encoded = encodeRow(task.kind, keys, line, fields, today);
    if ('columns' in encoded) copyLines.push(copyRow(encoded.columns));
    else rejects.push(encoded);
  }
  return { rows, goodRows: copyLines.length, copyText: copyLines.join(''), rejects };
}

function processRows(task: RowsTask): RowsResult {
  const keys = keysOf(task);
  const today = new Date(task.todayMs);
  const encoded: EncodedRow[] = [];
  const rejects: RejectedRow[] = [];
  task.rows.forEach((fields, index) => {
    const line = task.lines[index]!;
    const staged = encodeRow(task.kind, keys, line, fields, today);
    if (!('columns' in staged)) rejects.push(staged);
    else if (staged.kind === 'scores')
      encoded.push({ line, columns: staged.columns, ticketNumber: staged.row.ticketNumber });
    else {
      const { idType, schoolId } = staged.row;
      encoded.push({
        line,
        columns: staged.columns,
        roster: { idType, idHmacHex: staged.idHmac.toString('hex'), schoolId },
      });
    }
  });
  return { encoded, rejects };
}

export default function processRoster(task: ChunkTask): ChunkResult;
export default function processRoster(task: RowsTask): RowsResult;
export default function processRoster(task: ChunkTask | RowsTask): ChunkResult | RowsResult {
  return 'data' in task ? processChunk(task) : processRows(task);
}
