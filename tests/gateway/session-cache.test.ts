/**
 * The session cache across a gateway's two app threads, over HTTP (issue 13, P2): a session found
 * live is answered from each thread's memory (a Redis marker set behind its back is not seen), and
 * a logout is refused at once on the connection (so the thread) that made it and, within pub/sub
 * delivery, on every other connection, whichever thread it reaches. SESSION_CACHE_MS is set to
 * 10 minutes, so that only the revocation message can make a thread forget in time.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../db/pool.ts';
import { AuthKeys } from '../../gateway/auth/keys.ts';
import { Sessions } from '../../gateway/auth/sessions.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { waitFor } from '../support/wait.ts';
import { HOUR_MS, insertReadyAccounts } from '../support/world.ts';

/** Fresh connections per round: SO_REUSEPORT spreads them over both threads. */
const CONNECTIONS = 24;

let gw: TestGateway;
let db: Pool;
let sessions: Sessions;

beforeAll(async () => {
  gw = await startTestGateway({ THREADS: '2', SESSION_CACHE_MS: '600000' });
  db = createPool(gw.databaseUrl, { max: 2, applicationName: 'tests:session-cache' });
  sessions = new Sessions({ db, redis: gw.redis, keys: new AuthKeys(gw.namespace), lifetimeMs: 4 * HOUR_MS });
}, 120_000);

afterAll(async () => {
  await db?.end();
  await gw?.close();
});

/** The status of one request; `agent` false opens a connection of its own. */
function statusOf(agent: http.Agent | false, method: string, path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${gw.base}${path}`,
      { method, agent, headers: { authorization: `Bearer ${token}` } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end();
  });
}

/** The statuses of GET /api/v1/registration on CONNECTIONS fresh connections at once. */
const everywhere = (token: string): Promise<number[]> =>
  Promise.all(
    Array.from({ length: CONNECTIONS }, () => statusOf(false, 'GET', '/api/v1/registration', token)),
  );

describe('logout across app threads with the session cache (issue 13, P2)', () => {
  it('is refused at once on the thread that answered it, and within pub/sub delivery on the others', async () => {
    const [accountId] = await insertReadyAccounts(db, 1, '197');
    const { token } = await sessions.create(accountId!);
    // one keep-alive connection: every request on it reaches the same thread
    const same = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // an account with no binding: a live session reads 404 NO_REGISTRATION, a dead one 401
      expect(await statusOf(same, 'GET', '/api/v1/registration', token)).toBe(404);
      expect(new Set(await everywhere(token))).toEqual(new Set([404]));
      // every thread now answers from memory: a marker set in Redis behind their backs is not seen
      const key = sessions.cacheKeyOf(token)!;
      const entry = await gw.redis.get(key);
      await gw.redis.set(key, 'revoked', 'KEEPTTL');
      expect(new Set(await everywhere(token))).toEqual(new Set([404]));
      expect(await statusOf(same, 'GET', '/api/v1/registration', token)).toBe(404);
      await gw.redis.set(key, entry!, 'KEEPTTL');

      expect(await statusOf(same, 'DELETE', '/api/v1/sessions/current', token)).toBe(204);
      expect(await statusOf(same, 'GET', '/api/v1/registration', token)).toBe(401);
      await waitFor(async () => (await everywhere(token)).every((status) => status === 401), {
        timeoutMs: 3_000,
        intervalMs: 50,
        message: 'every thread to refuse the logged-out session',
      });
    } finally {
      same.destroy();
    }
  });
});
