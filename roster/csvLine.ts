/**
 * Splits one CSV line into fields by RFC 4180: fields separated by commas; a field may be quoted,
 * and then holds commas and doubled quotes ("" for "). A quote inside an unquoted field, text after
 * a closing quote, or a quote never closed is an error for this line alone.
 *
 * A record is one line here, on purpose: no column of the roster or the score file may hold a line
 * break, so a quoted field that runs past the end of its line is reported as BAD_QUOTING and the
 * next line is read afresh. One stray quote therefore costs one row (or two), never the rest of the
 * file, and line numbers stay exact. Pure function.
 */

export type CsvLineResult =
  { readonly ok: true; readonly fields: string[] } | { readonly ok: false; readonly detail: string };

const QUOTE = 34; // "
const COMMA = 44; // ,

export function splitCsvLine(line: string): CsvLineResult {
  if (!line.includes('"')) return { ok: true, fields: line.split(',') };
  const fields: string[] = [];
  let position = 0;
  for (;;) {
    if (line.charCodeAt(position) === QUOTE) {
      let value = '';
      let from = position + 1;
      for (;;) {
        const close = line.indexOf('"', from);
        if (close < 0) {
          return { ok: false, detail: `quoted field ${fields.length + 1} is never closed on its line` };
        }
        value += line.slice(from, close);
        if (line.charCodeAt(close + 1) === QUOTE) {
          value += '"';
          from = close + 2;
          continue;
        }
        position = close + 1;
        break;
      }
      fields.push(value);
      if (position === line.length) return { ok: true, fields };
      if (line.charCodeAt(position) !== COMMA) {
        return { ok: false, detail: `text after the closing quote of field ${fields.length}` };
      }
      position++;
    } else {
      const comma = line.indexOf(',', position);
      const end = comma < 0 ? line.length : comma;
      const value = line.slice(position, end);
      if (value.includes('"')) {
        return { ok: false, detail: `quote inside unquoted field ${fields.length + 1}` };
      }
      fields.push(value);
      if (comma < 0) return { ok: true, fields };
      position = comma + 1;
    }
  }
}
