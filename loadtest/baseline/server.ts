/**
 * The deliberately conventional baseline (issue 6, item 7): the reservation rules of the engine
 * written the textbook way, so the load runner can measure the engine against it side by side.
 * Node's built-in `http`, one PostgreSQL transaction per request with `SELECT … FOR UPDATE` on the
 * capacity row, the session looked up in PostgreSQL on every request, JSON validated by hand.
 * No Redis, no caches, no batching. It must stay honest: correct under concurrency (the partial
 * UNIQUE indexes of schema.sql back the row lock), a pool of sensible size, keep-alive honoured.
 *
 * Served: the written and oral holds, their cancellation and the saved registration (API.md
 * "Subjects"; R15–R20, R22), with API.md's paths, statuses and error codes. Not served: binding,
 * login, eligibility, CET6 review, oral campus list, payment and expiry (R1–R14, R21, R23, R8/R22
 * sweeps); seed.ts creates accounts, sessions and bindings directly. This module owns the HTTP
 * side (body limit, hand validation, per-request session lookup, routing); rules.ts the rules.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { createPool, isUniqueViolation, query, withTransaction, type Pool } from '../../db/pool.ts';
import { isOralSubject, isWrittenSubject } from '../../engine/subjects.ts';
import { API_CODES } from '../../gateway/errors.ts';
import { cancel, itemBody, Refusal, registration, reserveOral, reserveWritten } from './rules.ts';
import { migrateBaseline } from './seed.ts';

export { migrateBaseline } from './seed.ts';

const BODY_LIMIT_BYTES = 16 * 1024;
const log = pino({ name: 'baseline' });

export interface BaselineServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

export interface BaselineOptions {
  readonly databaseUrl: string;
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** PostgreSQL connections; default 20. */
  readonly poolSize?: number;
  readonly now?: () => number;
}

// ------------------------------------------------------------------ request plumbing

/** The whole body, or null past the limit (read to the end anyway, so keep-alive survives). */
async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = Number(req.headers['content-length'] ?? 0) > BODY_LIMIT_BYTES;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT_BYTES) over = true;
    if (!over) chunks.push(chunk);
  }
  return over ? null : Buffer.concat(chunks);
}

type Check = (value: unknown) => boolean;

/** A JSON object with exactly the `fields` named (all required), each passing its check. */
function parseJson(raw: Buffer, fields: Record<string, Check>): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new Refusal('VALIDATION_FAILED', { errors: [{ field: '', problem: 'not JSON' }] });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Refusal('VALIDATION_FAILED', { errors: [{ field: '', problem: 'not an object' }] });
  }
  const body = value as Record<string, unknown>;
  const errors: { field: string; problem: string }[] = [];
  for (const key of Object.keys(body))
    if (!Object.hasOwn(fields, key)) errors.push({ field: `/${key}`, problem: 'unknown field' });
  for (const [key, check] of Object.entries(fields)) {
    if (!Object.hasOwn(body, key)) errors.push({ field: `/${key}`, problem: 'required' });
    else if (!check(body[key])) errors.push({ field: `/${key}`, problem: 'invalid value' });
  }
  if (errors.length > 0) throw new Refusal('VALIDATION_FAILED', { errors });
  return body;
}

const campusIdCheck: Check = (v) => typeof v === 'string' && v.length >= 1 && v.length <= 64;

/** The account of a live session (every request looks it up), else 401 as the gateway answers. */
async function authenticate(pool: Pool, header: string | undefined, now: number): Promise<string> {
  const token = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? '')?.[1];
  if (token === undefined) throw new Refusal('UNAUTHORIZED');
  const rows = await query<{ account_id: string }>(
    pool,
    'SELECT account_id FROM baseline.sessions WHERE token = $1 AND expires_at > $2',
    [token, new Date(now)],
  );
  if (rows[0] === undefined) throw new Refusal('UNAUTHORIZED');
  return rows[0].account_id;
}

// ------------------------------------------------------------------ routing

/** A unique index that fired under a race the pre-checks could not see. */
async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isUniqueViolation(err, 'items_one_live_subject')) throw new Refusal('ALREADY_REGISTERED');
    if (isUniqueViolation(err, 'items_one_written_per_level')) throw new Refusal('SAME_LEVEL_TAKEN');
    throw err;
  }
}

async function route(req: IncomingMessage, pool: Pool, now: number): Promise<[number, unknown]> {
  const path = (req.url ?? '/').split('?')[0]!;
  const method = req.method ?? 'GET';
  const raw = await readBody(req);
  if (method === 'GET' && path === '/healthz') return [200, { ok: true }];
  const cancelPath = /^\/api\/v1\/registration\/(written|oral)\/([^/]+)$/.exec(path);
  const known =
    (method === 'POST' &&
      (path === '/api/v1/registration/written' || path === '/api/v1/registration/oral')) ||
    (method === 'GET' && path === '/api/v1/registration') ||
    (method === 'DELETE' && cancelPath !== null);
  if (!known) throw new Refusal('NOT_FOUND');
  if (raw === null) throw new Refusal('PAYLOAD_TOO_LARGE');
  const accountId = await authenticate(pool, req.headers.authorization, now);

  if (path === '/api/v1/registration/written') {
    const { subject } = parseJson(raw, { subject: isWrittenSubject });
    const item = await guarded(() =>
      withTransaction(pool, (tx) => reserveWritten(tx, accountId, subject as string, now)),
    );
    return [201, { item: itemBody(item) }];
  }
  if (path === '/api/v1/registration/oral') {
    const { subject, campusId } = parseJson(raw, { subject: isOralSubject, campusId: campusIdCheck });
    const item = await guarded(() =>
      withTransaction(pool, (tx) => reserveOral(tx, accountId, subject as string, campusId as string, now)),
    );
    return [201, { item: itemBody(item) }];
  }
  if (cancelPath !== null) {
    const kind = cancelPath[1];
    const subject = cancelPath[2]!; // subjects need no percent-decoding; an encoded one is refused
    if (!(kind === 'written' ? isWrittenSubject(subject) : isOralSubject(subject))) {
      throw new Refusal('VALIDATION_FAILED', {
        errors: [{ field: 'subject', problem: 'unknown subject for this route' }],
      });
    }
    const cancelled = await withTransaction(pool, (tx) => cancel(tx, accountId, subject, now));
    return [200, { cancelled }];
  }
  return [200, { registration: await registration(pool, accountId) }];
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

export async function startBaseline(opts: BaselineOptions): Promise<BaselineServer> {
  const now = opts.now ?? Date.now;
  const pool = createPool(opts.databaseUrl, {
    max: opts.poolSize ?? 20,
    applicationName: 'loadtest:baseline',
  });
  await migrateBaseline(pool);
  const server = createServer((req, res) => {
    route(req, pool, now()).then(
      ([status, body]) => send(res, status, body),
      (err: unknown) => {
        const refusal = err instanceof Refusal ? err : new Refusal('INTERNAL_ERROR');
        if (!(err instanceof Refusal))
          log.error({ message: err instanceof Error ? err.message : String(err) }, 'request failed');
        const { code, message, details } = refusal;
        send(res, API_CODES[code].status, { error: { code, message, ...(details ? { details } : {}) } });
      },
    );
  });
  server.keepAliveTimeout = 30_000; // a load balancer's usual idle timeout, not Node's 5 s
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, backlog: 2048 }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await pool.end();
    },
  };
}
