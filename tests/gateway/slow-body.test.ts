/**
 * Slow request bodies (issue 16 item 6): a client that sends a POST's headers and then its body a
 * few bytes at a time must not hold an admission slot while it dawdles. With MAX_IN_FLIGHT=4 on
 * one app thread (static limit), four such clients used to take every slot a standard request may
 * use, and ordinary requests were answered 503 OVERLOADED until the slow ones went away. Now the
 * body is read before the slot is taken, within a deadline: the ordinary requests get their
 * normal answers, a slow body that ends is served, one that does not is refused when its time is
 * up (400, connection closed), and every slot is back afterwards.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outcome } from '../support/answers.ts';
import { newPhone, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { sleep, waitFor } from '../support/wait.ts';

const MAX_IN_FLIGHT = 4;
const DECLARED = 100;
/** gateway/http/body.ts: BODY_DEADLINE_MS (10 s) plus the declared bytes at 64 KiB/s, with room for a busy machine. */
const DEADLINE_WITH_MARGIN_MS = 20_000;

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({
    THREADS: '1',
    MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
    ADMISSION_ADAPTIVE: '0',
    RATE_SMS_PER_IP_PER_MINUTE: '1000',
    RATE_LOGIN_PER_IP_PER_MINUTE: '1000',
  });
}, 120_000);

afterAll(async () => {
  await gw?.close();
});

interface SlowClient {
  readonly socket: Socket;
  readonly phone: string;
  /** Bytes of the body sent so far. */
  sent: number;
  received: string;
  closed: boolean;
}

/** Headers of a POST /api/v1/sms-codes declaring DECLARED bytes, then the body's first bytes only. */
async function slowClient(): Promise<SlowClient> {
  const url = new URL(gw.base);
  const socket = connect(Number(url.port), url.hostname);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const phone = newPhone();
  const client: SlowClient = { socket, phone, sent: 0, received: '', closed: false };
  socket.on('data', (chunk: Buffer) => (client.received += chunk.toString('latin1')));
  socket.on('close', () => (client.closed = true));
  const start = `{"phone":"${phone}"`;
  socket.write(
    `POST /api/v1/sms-codes HTTP/1.1\r\nHost: ${url.host}\r\ncontent-type: application/json\r\n` +
      `content-length: ${DECLARED}\r\n\r\n${start}`,
  );
  client.sent = start.length;
  return client;
}

/** One more byte of JSON whitespace, keeping the last for the closing brace. */
function dawdle(client: SlowClient): void {
  if (client.closed || client.sent >= DECLARED - 1) return;
  client.socket.write(' ');
  client.sent++;
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ').pop());
}

describe('slow request bodies (issue 16 item 6)', () => {
  it('do not hold admission slots: ordinary requests are served, the slow ones end within a deadline', async () => {
    const clients = await Promise.all(Array.from({ length: MAX_IN_FLIGHT }, slowClient));
    const startedAt = performance.now();
    const trickle = setInterval(() => clients.forEach(dawdle), 500);
    try {
      // the gateway has read every slow client's headers and first bytes
      await sleep(500);
      const outcomes: string[] = [];
      for (let round = 0; round < 3; round++) {
        const answers = await Promise.all([
          gw.http.get('/api/v1/seats'),
          gw.http.get('/api/v1/captcha'),
          gw.http.post('/api/v1/sms-codes', { phone: newPhone() }),
        ]);
        outcomes.push(...answers.map(outcome));
        await sleep(300);
      }
      expect(outcomes).toEqual(Array.from({ length: 3 }, () => ['200', '200', '200']).flat());
      // none of the slow clients is in flight: only the /metrics request itself
      const metrics = await gw.http.get('/metrics');
      expect(metrics.status).toBe(200);
      expect(metricValue(metrics.text, 'admission_in_flight')).toBeLessThanOrEqual(1);

      // a slow body that ends is served as usual
      const finishing = clients[0]!;
      finishing.socket.write(`${' '.repeat(DECLARED - 1 - finishing.sent)}}`);
      finishing.sent = DECLARED;
      await waitFor(() => finishing.received.includes('"sent":true'), {
        timeoutMs: 10_000,
        message: 'the finished slow body answered',
      });
      expect(finishing.received).toMatch(/^HTTP\/1\.1 200 /);

      // the others, still dawdling, are refused when their time is up, and their connections closed
      const dawdlers = clients.slice(1);
      await waitFor(() => dawdlers.every((client) => client.closed), {
        timeoutMs: DEADLINE_WITH_MARGIN_MS,
        intervalMs: 100,
        message: 'the dawdling clients refused and closed',
      });
      expect(performance.now() - startedAt).toBeLessThan(DEADLINE_WITH_MARGIN_MS + 5_000);
      for (const client of dawdlers) {
        expect(client.sent).toBeLessThan(DECLARED);
        expect(client.received).toMatch(/^HTTP\/1\.1 400 /);
        expect(client.received).toContain('VALIDATION_FAILED');
      }
    } finally {
      clearInterval(trickle);
      for (const client of clients) client.socket.destroy();
    }
    // every slot back, the gateway healthy
    await waitFor(async () => metricValue((await gw.http.get('/metrics')).text, 'admission_in_flight') <= 1, {
      intervalMs: 100,
      message: 'every admission slot back',
    });
    expect((await gw.http.post('/api/v1/sms-codes', { phone: newPhone() })).status).toBe(200);
  }, 90_000);
});
