/**
 * COPY … FROM STDIN on a client the caller already holds (checked out through db/pool.ts, usually
 * inside a transaction). pg-copy-streams speaks the COPY sub-protocol on that client; this module
 * never opens connections and never imports `pg` (db/pool.ts stays the only one that does).
 * It must never log the data it sends: COPY payloads hold personal data.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { PoolClient } from './pool.ts';

/**
 * Streams `data` (COPY text or CSV, as `statement` declares) into `statement`, a
 * `COPY table (columns) FROM STDIN` command, and resolves with the number of rows the server
 * copied. A server-side error (bad value, constraint) rejects with the server's error; the caller's
 * transaction is then aborted and must be rolled back.
 */
export async function copyFrom(
  client: PoolClient,
  statement: string,
  data: string | Buffer | Iterable<string | Buffer> | AsyncIterable<string | Buffer>,
): Promise<number> {
  const sink = client.query(copyFromStdin(statement));
  const source =
    typeof data === 'string' || Buffer.isBuffer(data) ? Readable.from([data]) : Readable.from(data);
  await pipeline(source, sink);
  return sink.rowCount;
}
