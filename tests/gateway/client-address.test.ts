/**
 * Per-address limits behind a proxy (issue 16 item 10): with TRUSTED_PROXIES naming the proxy
 * (here the test's own 127.0.0.1), each client behind it gets its own counter, taken from the
 * right-most X-Forwarded-For hop that is not a trusted proxy; IPv6 clients are counted per /64 and
 * an IPv4-mapped IPv6 address as its IPv4 address. Without TRUSTED_PROXIES the header is ignored:
 * a spoofed X-Forwarded-For does not escape the limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outcome } from '../support/answers.ts';
import { newPhone, startTestGateway, type HttpAnswer, type TestGateway } from '../support/gateway.ts';
import { sleep } from '../support/wait.ts';

const SMS_LIMIT = 2;
const LIMITED_ENV = { THREADS: '1', RATE_SMS_PER_IP_PER_MINUTE: String(SMS_LIMIT) };

let behindProxy: TestGateway;
let direct: TestGateway;

beforeAll(async () => {
  behindProxy = await startTestGateway({ ...LIMITED_ENV, TRUSTED_PROXIES: '127.0.0.1, ::1' });
  direct = await startTestGateway(LIMITED_ENV);
}, 240_000);

afterAll(async () => {
  await behindProxy?.close();
  await direct?.close();
});

/** The test's counters are per minute: start each far enough from the window's end. */
async function awayFromMinuteBoundary(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 45_000) await sleep(60_000 - intoMinute + 100);
}

const sms = (gw: TestGateway, forwardedFor: string): Promise<HttpAnswer> =>
  gw.http.post('/api/v1/sms-codes', { phone: newPhone() }, { headers: { 'x-forwarded-for': forwardedFor } });

async function outcomes(gw: TestGateway, forwardedFor: readonly string[]): Promise<string[]> {
  const answers: string[] = [];
  for (const hop of forwardedFor) {
    const answer = await sms(gw, hop);
    answers.push(answer.status === 429 ? `429 ${answer.body.error.details.rule}` : outcome(answer));
  }
  return answers;
}

describe('TRUSTED_PROXIES=127.0.0.1: the client behind the proxy is counted', () => {
  it('different X-Forwarded-For addresses get separate counters; the same one is limited', async () => {
    await awayFromMinuteBoundary();
    expect(await outcomes(behindProxy, ['203.0.113.1', '203.0.113.1', '203.0.113.1'])).toEqual([
      '200',
      '200',
      '429 sms',
    ]);
    expect(await outcomes(behindProxy, ['203.0.113.2', '203.0.113.2'])).toEqual(['200', '200']);
    // what a client writes itself stands left of what the proxy appended: it changes nothing
    expect(await outcomes(behindProxy, ['198.51.100.77, 203.0.113.1', '1.1.1.1,203.0.113.2'])).toEqual([
      '429 sms',
      '429 sms',
    ]);
  });

  it('IPv6 clients are counted per /64; an IPv4-mapped address is its IPv4 address', async () => {
    await awayFromMinuteBoundary();
    expect(
      await outcomes(behindProxy, ['2001:db8:1:2::1', '2001:db8:1:2:ffff::9', '2001:db8:1:2::abcd']),
    ).toEqual(['200', '200', '429 sms']);
    expect(await outcomes(behindProxy, ['2001:db8:1:3::1'])).toEqual(['200']);
    expect(await outcomes(behindProxy, ['::ffff:203.0.113.9', '203.0.113.9', '203.0.113.9'])).toEqual([
      '200',
      '200',
      '429 sms',
    ]);
  });
});

describe('without TRUSTED_PROXIES', () => {
  it('X-Forwarded-For is ignored: a spoofed address does not escape the limit', async () => {
    await awayFromMinuteBoundary();
    expect(await outcomes(direct, ['203.0.113.1', '203.0.113.2', '203.0.113.3', '2001:db8:9::1'])).toEqual([
      '200',
      '200',
      '429 sms',
      '429 sms',
    ]);
  });
});
