/**
 * Caps on what one client can hold or try (issue 16 item 17). WebSockets: an app thread keeps at most WS_MAX_PER_ADDRESS sockets per
 * client address and WS_MAX_CONNECTIONS in all; past them the upgrade answers 429 RATE_LIMITED
 * (rule wsPerAddress) or 503 OVERLOADED, with Retry-After, and a closed socket frees its place.
 * Client addresses come from X-Forwarded-For through a trusted proxy (127.0.0.1 here). Wrong admin
 * tokens: past 10 a minute from one address (per app thread), 429 RATE_LIMITED (rule
 * adminFailures) before any token is compared. Unknown session tokens: past 60 a minute from one
 * address (per app thread), a token missing from Redis is refused without a PostgreSQL query.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createHash, randomBytes } from 'node:crypto';
import { AuthKeys } from '../../engine/keys.ts';
import { ADMIN_TOKEN, HttpClient, signUp, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { sleep, waitFor } from '../support/wait.ts';

let gw: TestGateway;
const open: WebSocket[] = [];

beforeAll(async () => {
  gw = await startTestGateway({
    THREADS: '1',
    TRUSTED_PROXIES: '127.0.0.1, ::1',
    WS_MAX_PER_ADDRESS: '3',
    WS_MAX_CONNECTIONS: '5',
    // the unknown-token test reads what a session check does when Redis has lost the entry: a
    // thread's memory of live sessions (gateway/auth/sessionCache.ts) would answer before Redis
    SESSION_CACHE_MS: '0',
  });
}, 120_000);

afterAll(async () => {
  for (const socket of open) socket.terminate();
  await gw?.close();
});

type Upgrade = { opened: true; socket: WebSocket } | { opened: false; status: number; body: string };

/** Opens /ws/seats as `address`: the socket, or the status and body of the refused upgrade. */
function connect(address: string): Promise<Upgrade> {
  const url = `${gw.base.replace(/^http/, 'ws')}/ws/seats`;
  const socket = new WebSocket(url, { headers: { 'x-forwarded-for': address } });
  return new Promise((resolve, reject) => {
    socket.once('open', () => {
      open.push(socket);
      resolve({ opened: true, socket });
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ opened: false, status: response.statusCode ?? 0, body }));
    });
    socket.once('error', (error) => {
      if (!error.message.includes('Unexpected server response')) reject(error);
    });
  });
}

const outcome = (upgrade: Upgrade): string =>
  upgrade.opened ? 'open' : `${upgrade.status} ${JSON.parse(upgrade.body).error.code}`;

describe('WebSocket caps per address and in all', () => {
  it('the 4th socket of one address is 429, another address still opens; past 5 in all, 503; closing frees a place', async () => {
    const a = [];
    for (let i = 0; i < 4; i++) a.push(await connect('203.0.113.7'));
    expect(a.map(outcome)).toEqual(['open', 'open', 'open', '429 RATE_LIMITED']);
    const refused = a[3]!;
    if (refused.opened) throw new Error('opened');
    expect(JSON.parse(refused.body).error.details.rule).toBe('wsPerAddress');

    const b = [];
    for (let i = 0; i < 3; i++) b.push(await connect('198.51.100.9'));
    // 3 + 2 = 5 open: the third of this address finds the thread full
    expect(b.map(outcome)).toEqual(['open', 'open', '503 OVERLOADED']);

    const first = a[0]!;
    if (!first.opened) throw new Error('not opened');
    first.socket.close();
    await waitFor(async () => outcome(await connect('192.0.2.1')) === 'open', {
      timeoutMs: 10_000,
      message: 'a place freed by the closed socket',
    });
  });
});

describe('wrong admin tokens', () => {
  it('past 10 a minute from one address: 429 adminFailures with Retry-After, even for the right token; other addresses unaffected', async () => {
    const client = new HttpClient(gw.base);
    const as = (address: string, token: string) =>
      client.get('/api/v1/admin/stats', {
        headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': address },
      });
    // the counter's windows are whole minutes of the shared clock: start early in one
    const into = Date.now() % 60_000;
    if (into > 50_000) await sleep(60_000 - into + 100);
    // until refused: a fixed window's boundary may fall between two of them, so up to 20 are 401
    const answers = [];
    for (let i = 0; i < 21 && answers.at(-1)?.status !== 429; i++) {
      answers.push(await as('203.0.113.50', `wrong-token-${i}-0123456789`));
    }
    const last = answers.at(-1)!;
    expect(last.status).toBe(429);
    expect(last.body.error.details.rule).toBe('adminFailures');
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(answers.slice(0, -1).every((a) => a.status === 401)).toBe(true);
    expect(answers.length - 1).toBeGreaterThanOrEqual(10);
    // no guess is compared while it waits, the right one included
    expect((await as('203.0.113.50', ADMIN_TOKEN)).status).toBe(429);
    expect((await as('198.51.100.50', ADMIN_TOKEN)).status).toBe(200);
  });
});

describe('unknown session tokens', () => {
  it('past 60 a minute from one address, a token missing from Redis is not looked up in PostgreSQL for it (issue 16 item 11)', async () => {
    const user = await signUp(gw.http);
    const client = new HttpClient(gw.base);
    const as = (address: string, token: string) =>
      client.get('/api/v1/registration', {
        headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': address },
      });
    // the counter's windows are whole minutes of the shared clock: start early in one
    const into = Date.now() % 60_000;
    if (into > 50_000) await sleep(60_000 - into + 100);
    // random well-formed tokens naming a real account: each a cache miss, each a PostgreSQL query
    for (let i = 0; i < 61; i++) {
      const forged = `${user.accountId}.${randomBytes(32).toString('base64url')}`;
      expect((await as('203.0.113.80', forged)).status).toBe(401);
    }
    // the real session, its cache entry gone: from that address PostgreSQL is not asked…
    const hash = createHash('sha256').update(user.token).digest('hex');
    const cacheKey = new AuthKeys(gw.namespace).session(user.accountId, hash);
    expect(await gw.redis.del(cacheKey)).toBe(1);
    expect((await as('203.0.113.80', user.token)).status).toBe(401);
    // …from another it is, and the entry comes back, for every address
    expect((await as('198.51.100.80', user.token)).body.error.code).toBe('NO_REGISTRATION');
    expect((await as('203.0.113.80', user.token)).body.error.code).toBe('NO_REGISTRATION');
  });
});
