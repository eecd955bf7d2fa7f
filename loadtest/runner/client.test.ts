import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SurgeClient } from './client.ts';
import { RunRecorder } from './recorder.ts';

let server: ReturnType<typeof createServer>;
let base: string;
let served = 0;

beforeAll(async () => {
  server = createServer((_request, response) => {
    served++;
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('SurgeClient.halt', () => {
  it('stops every later request at once, unrecorded, so a given-up run can check settled stores', async () => {
    const recorder = new RunRecorder(performance.now());
    const client = new SurgeClient(base, recorder, { connections: 2 });
    expect((await client.call('probe', 'GET', '/')).status).toBe(200);
    expect(served).toBe(1);
    expect(client.halted).toBe(false);
    client.halt();
    expect(client.halted).toBe(true);
    const answer = await client.call('probe', 'GET', '/');
    expect(answer).toEqual({ status: 0, body: undefined, code: 'halted' });
    expect(served).toBe(1); // never sent
    expect(recorder.requests).toBe(1);
    expect(recorder.inFlight).toBe(0);
    await client.close();
  });
});
