/**
 * Cuts a file stream into chunks of whole lines, each with the number of its first line, without
 * decoding anything (the workers decode): a chunk ends after `linesPerChunk` lines or once it holds
 * `maxChunkBytes`, always at a line end. Memory is bounded by one chunk plus one read buffer: a line
 * longer than `maxLineBytes` is not kept; its number is listed in `tooLongLines` and an empty line
 * stands in its place, so line numbers stay exact.
 *
 * Splitting on "\n" bytes is safe in UTF-8 (no multi-byte sequence contains 0x0A).
 */

export interface LineChunk {
  readonly index: number;
  readonly firstLine: number;
  /** Number of lines in `data` (the last may lack its "\n" at the end of the file). */
  readonly lines: number;
  readonly data: Buffer;
  readonly tooLongLines: number[];
}

export interface ChunkOptions {
  /** Line number of the stream's first line (2 when the header was read separately). */
  readonly firstLine: number;
  readonly linesPerChunk: number;
  readonly maxChunkBytes?: number;
  readonly maxLineBytes?: number;
}

const NEWLINE = 10;
const EMPTY_LINE = Buffer.from('\n');

export async function* lineChunks(
  source: AsyncIterable<Buffer>,
  options: ChunkOptions,
): AsyncGenerator<LineChunk> {
  const maxChunkBytes = options.maxChunkBytes ?? 8 * 1024 * 1024;
  const maxLineBytes = options.maxLineBytes ?? 1024 * 1024;
  let index = 0;
  let firstLine = options.firstLine;
  let parts: Buffer[] = []; // complete lines of the chunk being built
  let partBytes = 0;
  let lines = 0;
  let tooLongLines: number[] = [];
  let partial: Buffer[] = []; // the current line's bytes so far (no "\n" seen yet)
  let partialBytes = 0;
  let partialTooLong = false;

  const take = (): LineChunk => {
    const chunk = { index: index++, firstLine, lines, data: Buffer.concat(parts, partBytes), tooLongLines };
    firstLine += lines;
    parts = [];
    partBytes = 0;
    lines = 0;
    tooLongLines = [];
    return chunk;
  };

  const endLine = (tail: Buffer): void => {
    if (partialTooLong) {
      tooLongLines.push(firstLine + lines);
      parts.push(EMPTY_LINE);
      partBytes += EMPTY_LINE.length;
    } else {
      for (const piece of partial) parts.push(piece);
      parts.push(tail);
      partBytes += partialBytes + tail.length;
    }
    lines++;
    partial = [];
    partialBytes = 0;
    partialTooLong = false;
  };

  for await (const buffer of source) {
    let start = 0;
    for (;;) {
      const newline = buffer.indexOf(NEWLINE, start);
      if (newline < 0) break;
      const tail = buffer.subarray(start, newline + 1);
      if (partialBytes + tail.length > maxLineBytes) partialTooLong = true;
      endLine(tail);
      start = newline + 1;
      if (lines >= options.linesPerChunk || partBytes >= maxChunkBytes) yield take();
    }
    if (start < buffer.length && !partialTooLong) {
      const rest = buffer.subarray(start);
      partialBytes += rest.length;
      if (partialBytes > maxLineBytes) {
        partialTooLong = true;
        partial = [];
      } else {
        // Copy: the stream may reuse its buffer, and a slice would pin the whole read buffer.
        partial.push(Buffer.from(rest));
      }
    }
  }
  if (partialBytes > 0 || partialTooLong) endLine(Buffer.alloc(0));
  if (lines > 0) yield take();
}
