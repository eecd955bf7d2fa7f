/**
 * The acknowledged-writes check (acknowledged.ts) against a small HTTP server that answers
 * GET /api/v1/registration and GET /api/v1/payments/{id} as API.md says: what is there counts as
 * kept, anything missing, expired or refused counts as lost, and a 503 is asked again.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AcknowledgedLedger } from './acknowledged.ts';

/** token → the registration the server shows (null: 404), and orders' statuses. */
const registrations = new Map<string, unknown>();
const orders = new Map<string, string>();
/** tokens answered 503 this many more times before the real answer */
const overloaded = new Map<string, number>();
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    const token = (request.headers.authorization ?? '').replace('Bearer ', '');
    const send = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    const left = overloaded.get(token) ?? 0;
    if (left > 0) {
      overloaded.set(token, left - 1);
      return send(503, { error: { code: 'OVERLOADED' } });
    }
    if (!registrations.has(token)) return send(401, { error: { code: 'UNAUTHENTICATED' } });
    const order = /^\/api\/v1\/payments\/(.+)$/.exec(request.url ?? '');
    if (order) return send(200, { status: orders.get(decodeURIComponent(order[1]!)) ?? 'PENDING' });
    const registration = registrations.get(token);
    if (registration === null) return send(404, { error: { code: 'NO_REGISTRATION' } });
    return send(200, { registration });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it('counts what is still there as kept and every missing, expired or refused write as lost', async () => {
  registrations.set('kept', {
    written: [{ subject: 'CET4', status: 'PAID' }],
    oral: [{ subject: 'CET-SET4', campusId: 'c1', status: 'HELD' }],
  });
  orders.set('o-kept', 'PAID');
  registrations.set('expired', { written: [{ subject: 'CET6', status: 'EXPIRED' }], oral: [] });
  registrations.set('moved', {
    written: [{ subject: 'CET4', status: 'HELD' }],
    oral: [{ subject: 'CET-SET4', campusId: 'c2', status: 'HELD' }],
  });
  registrations.set('gone', null);
  orders.set('o-pending', 'PENDING');
  const ledger = new AcknowledgedLedger();
  ledger.registration('kept');
  ledger.written('kept', 'CET4');
  ledger.oral('kept', 'CET-SET4', 'c1');
  ledger.paid('kept', 'o-kept');
  ledger.written('expired', 'CET6'); // lost: no longer HELD or PAID
  ledger.written('moved', 'CET4');
  ledger.oral('moved', 'CET-SET4', 'c1'); // lost: held at another campus
  ledger.registration('gone'); // lost: 404
  ledger.written('gone', 'CET4'); // lost with it
  ledger.registration('unknown-session'); // lost: the session itself is refused (401)
  ledger.paid('moved', 'o-pending'); // lost: the order is not PAID
  expect(ledger.size).toBe(11);

  const check = await ledger.check(base, 3);
  expect(check.checked).toBe(11);
  expect(check.lostByKind).toEqual({ registration: 2, written: 2, oral: 1, payment: 1 });
  expect(check.lost).toBe(6);
  expect(check.examples).toContain('oral CET-SET4 at c1: HELD at c2');
  expect(check.examples.some((e) => e.startsWith('registration gone (GET /registration answered 401)'))).toBe(
    true,
  );
});

it('asks again a read answered 503 (shed, or a store failing over) before it counts anything', async () => {
  registrations.set('busy', { written: [{ subject: 'CET4', status: 'HELD' }], oral: [] });
  overloaded.set('busy', 2);
  const ledger = new AcknowledgedLedger();
  ledger.registration('busy');
  ledger.written('busy', 'CET4');
  const check = await ledger.check(base);
  expect(check).toMatchObject({ checked: 2, lost: 0 });
  expect(overloaded.get('busy')).toBe(0);
}, 10_000);
