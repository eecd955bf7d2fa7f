/**
 * WebSocket caps (issue 16 item 17): an app thread keeps at most WS_MAX_PER_ADDRESS sockets per
 * client address and WS_MAX_CONNECTIONS in all; past them the upgrade answers 429 RATE_LIMITED
 * (rule wsPerAddress) or 503 OVERLOADED, with Retry-After, and a closed socket frees its place.
 * Client addresses come from X-Forwarded-For through a trusted proxy (127.0.0.1 here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { waitFor } from '../support/wait.ts';

let gw: TestGateway;
const open: WebSocket[] = [];

beforeAll(async () => {
  gw = await startTestGateway({
    THREADS: '1',
    TRUSTED_PROXIES: '127.0.0.1, ::1',
    WS_MAX_PER_ADDRESS: '3',
    WS_MAX_CONNECTIONS: '5',
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
