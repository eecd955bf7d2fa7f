/**
 * The runner's HTTP client: one undici Pool of keep-alive connections to the system under test
 * (one per gateway when it is given several: the requests take them in turn, so that every
 * candidate is served by each of them, as behind a round-robin load balancer; issue 14 item 2),
 * every call timed and classified into the recorder. A call shed by admission control (503 / 429)
 * is retried after its Retry-After (spread ±50 %, with the same Idempotency-Key), as a person at an
 * opening keeps trying: until `retryBudgetMs` has passed since the first attempt (default 3
 * minutes); each attempt is an answer of its own in the report. A 403 QUEUE_PASS_REQUIRED (sent to
 * the waiting room) counts apart: neither admitted nor failed.
 */
import { Pool } from 'undici';
import type { RunRecorder } from './recorder.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
type Json = any;

export interface CallOptions {
  readonly body?: unknown;
  readonly token?: string;
  readonly idempotencyKey?: string;
  /** Error codes this step expects as a normal outcome (e.g. SOLD_OUT): counted as refusals. */
  readonly refusals?: readonly string[];
  /** Do not retry a shed answer (the bot does not wait). */
  readonly noRetry?: boolean;
  /** How long this call keeps retrying a shed answer (default: the client's). */
  readonly retryBudgetMs?: number;
}

export interface Answer {
  readonly status: number;
  readonly body: Json;
  /** The error code of a 4xx/5xx answer, 'network' when there was no answer. */
  readonly code: string | null;
}

export interface ClientOptions {
  readonly connections: number;
  /** How long a call keeps retrying a shed answer, from its first attempt (default 3 minutes). */
  readonly retryBudgetMs?: number;
  /** Upper bound of one wait before retrying a shed call (default 60 s). */
  readonly maxRetryWaitMs?: number;
  readonly timeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class SurgeClient {
  /** The first gateway's base URL. */
  readonly base: string;
  private readonly pools: Pool[];
  private nextPool = 0;
  private readonly retryBudgetMs: number;
  private readonly maxRetryWaitMs: number;
  private closed = false;
  private stopped = false;

  /** `bases`: one gateway's base URL, or several gateways of one system (the connections split over them). */
  constructor(
    bases: string | readonly string[],
    private readonly recorder: RunRecorder,
    options: ClientOptions,
  ) {
    const list = typeof bases === 'string' ? [bases] : [...bases];
    if (list.length === 0) throw new RangeError('SurgeClient needs a base URL');
    this.base = list[0]!;
    const timeout = options.timeoutMs ?? 30_000;
    this.pools = list.map(
      (base) =>
        new Pool(base, {
          connections: Math.max(1, Math.ceil(options.connections / list.length)),
          pipelining: 1,
          headersTimeout: timeout,
          bodyTimeout: timeout,
          keepAliveTimeout: 60_000,
        }),
    );
    this.retryBudgetMs = options.retryBudgetMs ?? 180_000;
    this.maxRetryWaitMs = options.maxRetryWaitMs ?? 60_000;
  }

  async call(step: string, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
    const giveUpAt = performance.now() + (options.retryBudgetMs ?? this.retryBudgetMs);
    for (let attempt = 0; ; attempt++) {
      const answer = await this.once(step, method, path, options);
      const shed = answer.status === 503 || answer.status === 429;
      if (!shed || options.noRetry || this.closed) return answer;
      const wait = this.retryWaitMs(answer, attempt);
      if (performance.now() + wait > giveUpAt) return answer;
      await sleep(wait);
    }
  }

  /** An absolute URL on another server (the payment simulator's payUrl), timed the same way. */
  async callUrl(step: string, url: string, body: unknown): Promise<Answer> {
    const started = performance.now();
    this.recorder.requestStarted();
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      const parsed = parseJson(text);
      const code = response.ok ? null : errorCode(parsed, response.status);
      this.recorder.answered(
        step,
        performance.now() - started,
        label(response.status, code),
        response.ok ? 'ok' : 'failed',
      );
      return { status: response.status, body: parsed, code };
    } catch {
      this.recorder.answered(step, performance.now() - started, 'network', 'failed');
      return { status: 0, body: undefined, code: 'network' };
    }
  }

  /**
   * How long to wait before retrying a shed call: the server's Retry-After, honoured (spread
   * ±50 % so that a crowd told the same does not come back in one second), or an exponential
   * backoff from 1 s when it gave none. Capped at `maxRetryWaitMs`.
   */
  private retryWaitMs(answer: Answer, attempt: number): number {
    const hintedS = Number(answer.body?.__retryAfterS ?? 0);
    const base = hintedS >= 1 ? hintedS * 1000 : 1000 * 2 ** Math.min(attempt, 3);
    return Math.round(Math.min(this.maxRetryWaitMs, base) * (0.5 + Math.random()));
  }

  /**
   * No request starts any more (each answers at once with status 0, code 'halted', unrecorded):
   * a run that gives up on its stragglers stops them before it checks the invariants, so that the
   * check never reads the stores while reservations are still being made.
   */
  halt(): void {
    this.stopped = true;
    this.closed = true;
  }

  /** Whether halt() was called. */
  get halted(): boolean {
    return this.stopped;
  }

  private async once(step: string, method: string, path: string, options: CallOptions): Promise<Answer> {
    if (this.stopped) return { status: 0, body: undefined, code: 'halted' };
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const started = performance.now();
    this.recorder.requestStarted();
    try {
      const pool = this.pools[this.nextPool++ % this.pools.length]!;
      const response = await pool.request({ method, path, headers, body: payload });
      const text = await response.body.text();
      const status = response.statusCode;
      const parsed = parseJson(text);
      const code = status >= 400 ? errorCode(parsed, status) : null;
      const kind =
        status < 400
          ? 'ok'
          : status === 503 || status === 429
            ? 'shed'
            : code === 'QUEUE_PASS_REQUIRED'
              ? 'queued'
              : status < 500 && code !== null && options.refusals?.includes(code)
                ? 'refused'
                : 'failed';
      // a lane's refusal names the lane (gateway/workers/pool.ts): the report tells them apart
      const lane = kind === 'shed' ? parsed?.error?.details?.lane : undefined;
      const labelled =
        typeof lane === 'string' ? `${label(status, code)} (${lane} lane)` : label(status, code);
      this.recorder.answered(step, performance.now() - started, labelled, kind);
      if (kind === 'shed' && parsed && typeof parsed === 'object') {
        const retryAfter = response.headers['retry-after'];
        (parsed as Record<string, unknown>).__retryAfterS =
          Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter) || 1;
      }
      return { status, body: parsed, code };
    } catch {
      this.recorder.answered(step, performance.now() - started, 'network', 'failed');
      return { status: 0, body: undefined, code: 'network' };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.pools.map((pool) => pool.close()));
  }
}

function parseJson(text: string): Json {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function errorCode(body: Json, status: number): string {
  const code = body?.error?.code;
  return typeof code === 'string' ? code : `HTTP_${status}`;
}

function label(status: number, code: string | null): string {
  return code === null ? String(status) : `${status} ${code}`;
}
