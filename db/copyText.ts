/**
 * PostgreSQL COPY text format (https://www.postgresql.org/docs/current/sql-copy.html, "Text
 * Format"): one row per line, columns separated by a tab, \N for NULL, and backslash, tab, newline
 * and carriage return escaped. The staging tables' column lists live with the SQL (loader.ts);
 * the roster worker and the stream writer build rows in that order with these helpers. Pure
 * functions.
 */

const NEEDS_ESCAPE = /[\\\t\n\r]/;

export function copyTextValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/[\\\t\n\r]/g, (char) =>
    char === '\\' ? '\\\\' : char === '\t' ? '\\t' : char === '\n' ? '\\n' : '\\r',
  );
}

/** bytea in hex form; the backslash of "\x" is itself escaped for the text format. */
export function copyBytea(bytes: Uint8Array): string {
  return `\\\\x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}

/** A text[] of simple tokens (subject codes: letters, digits and '-', nothing to quote). */
export function copyTokenArray(tokens: readonly string[]): string {
  return `{${tokens.join(',')}}`;
}

export function copyBoolean(value: boolean): string {
  return value ? 't' : 'f';
}

export function copyRow(columns: readonly string[]): string {
  return `${columns.join('\t')}\n`;
}
