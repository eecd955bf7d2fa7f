/**
 * The rejects report of one imported file: a CSV of `line,reason,detail` in line order (chunks are
 * written as they are applied, which is file order), streamed with back-pressure so a file of a
 * million bad rows costs no memory. The first few are also kept for the terminal. Rejects hold
 * no ID number and no name (see protocol.ts), so the report can be shared with the school.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { csvField, csvHeader } from './csv.ts';
import { REJECT_REASONS, type RejectedRow } from './protocol.ts';

export class RejectsReport {
  readonly first: RejectedRow[] = [];
  count = 0;
  private readonly stream: WriteStream;
  private failure: Error | undefined;

  private constructor(
    readonly path: string,
    private readonly keepFirst: number,
  ) {
    this.stream = createWriteStream(path);
    this.stream.on('error', (err) => {
      this.failure = err;
    });
    this.stream.write(csvHeader(['line', 'reason', 'detail']));
  }

  /** Opens (truncates) the report; fails here, before any import work, if it cannot be written. */
  static async open(path: string, keepFirst = 50): Promise<RejectsReport> {
    const report = new RejectsReport(path, keepFirst);
    try {
      await once(report.stream, 'ready');
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`the rejects report ${path} cannot be written (${reason})`);
    }
    return report;
  }

  /** Adds one chunk's rejects (any order; written sorted by line). */
  async add(rows: readonly RejectedRow[]): Promise<void> {
    if (this.failure) throw this.failure;
    if (rows.length === 0) return;
    const sorted = [...rows].sort((a, b) => a.line - b.line);
    for (const row of sorted) if (this.first.length < this.keepFirst) this.first.push(row);
    this.count += sorted.length;
    const text = sorted.map((row) => `${row.line},${row.reason},${csvField(describe(row))}\n`).join('');
    if (!this.stream.write(text)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    this.stream.end();
    if (!this.stream.closed) await once(this.stream, 'close').catch(() => undefined);
    if (this.failure) throw this.failure;
  }
}

/** "wrong number of columns: expected 10 columns, found 9". */
export function describe(row: RejectedRow): string {
  const text = REJECT_REASONS[row.reason];
  return row.detail === '' ? text : `${text}: ${row.detail}`;
}
