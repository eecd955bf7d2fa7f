/**
 * REL6 "no ID number or password in logs", over the whole system: the system runs in its own
 * process at LOG_LEVEL=debug with its stdout and stderr captured, a small surge walks the full flow
 * (logins with the password, eligibility queries with ID numbers and names, bindings, seats,
 * payments), and a few hostile calls carry personal data where it does not belong (a wrong
 * password, a forged payment notification, an unauthenticated eligibility query). Then no ID
 * number, name, phone number or password of any candidate may appear anywhere in the logs.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSurge } from '../../loadtest/runner/run.ts';
import { spawnSystem, type SpawnedSystem } from '../../loadtest/runner/system.ts';
import { phoneOf, SURGE_PASSWORD } from '../../loadtest/runner/world.ts';
import { generateWorld } from '../../scripts/seed/generate.ts';
import { redisUrl } from '../support/env.ts';
import { freshDatabase, type FreshDatabase } from '../support/pg.ts';

const CANDIDATES = 200;
const SEED = 11;
const WRONG_PASSWORD = 'not-the-password-7731';

let system: SpawnedSystem;
let database: FreshDatabase;
let logs = '';
const namespace = `lg${randomBytes(3).toString('hex')}`;
const adminToken = randomBytes(18).toString('base64url');

beforeAll(async () => {
  database = await freshDatabase();
  system = await spawnSystem(
    {
      TEST_MODE: '1',
      LOG_LEVEL: 'debug',
      REDIS_URL: redisUrl(),
      DATABASE_URL: database.url,
      KEY_NAMESPACE: namespace,
      ADMIN_TOKEN: adminToken,
      THREADS: '2',
      POOL_THREADS: '2',
      PAYMENT_SIMULATOR_PORT: '0',
      RATE_LOGIN_PER_IP_PER_MINUTE: '100000000',
      RATE_SMS_PER_IP_PER_MINUTE: '100000000',
      RATE_REGISTER_PER_IP_PER_MINUTE: '100000000',
    },
    { output: (text) => void (logs += text) },
  );
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await database?.drop();
});

describe('REL6: personal data stays out of the logs', () => {
  it('a surge and hostile calls leave no ID number, name, phone or password in any log line', async () => {
    const report = await runSurge({
      base: system.base,
      redisUrl: redisUrl(),
      databaseUrl: database.url,
      namespace,
      adminToken,
      profile: 'opening',
      candidates: CANDIDATES,
      durationS: 6,
      dashboards: 0,
      connections: 64,
      seed: SEED,
      preseededSessions: false,
      oralShare: 0.4,
      gatewayThreads: 2,
      poolThreads: 2,
    });
    expect(report.invariants.ok).toBe(true);
    expect(report.latency.byStep.login?.count).toBeGreaterThanOrEqual(CANDIDATES);
    expect(report.latency.byStep.eligibility?.count).toBe(CANDIDATES);

    const world = generateWorld({ candidates: CANDIDATES, provinces: 1, seed: SEED });
    const first = world.candidate(1).entry;
    // a wrong password for a real account
    const captcha = (await (await fetch(`${system.base}/api/v1/captcha`)).json()) as {
      captchaId: string;
      testAnswer: string;
    };
    const wrong = await fetch(`${system.base}/api/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        login: phoneOf(0),
        password: WRONG_PASSWORD,
        captchaId: captcha.captchaId,
        captchaAnswer: captcha.testAnswer,
      }),
    });
    expect(wrong.status).toBe(401);
    // a forged payment notification carrying an ID number and a name
    const forged = await fetch(`${system.base}/api/v1/payments/notify/alipay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ orderId: 'x', idNumber: first.idNumber, name: first.name, sign: 'forged' }),
    });
    expect(forged.status).toBeGreaterThanOrEqual(400);
    // an eligibility query without a session
    const anonymous = await fetch(`${system.base}/api/v1/eligibility/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ idType: first.idType, idNumber: first.idNumber, name: first.name }),
    });
    expect(anonymous.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the last log lines

    // the capture works: the system's own lines are there
    expect(logs).toContain('system started');
    expect(logs).toContain('payment notification refused');
    const leaks: string[] = [];
    for (const needle of [SURGE_PASSWORD, WRONG_PASSWORD])
      if (logs.includes(needle)) leaks.push('a password');
    for (let n = 1; n <= CANDIDATES; n++) {
      const { idNumber, name } = world.candidate(n).entry;
      if (logs.includes(idNumber)) leaks.push(`candidate ${n}'s ID number`);
      if (logs.includes(name)) leaks.push(`candidate ${n}'s name`);
      if (logs.includes(phoneOf(n - 1))) leaks.push(`candidate ${n}'s phone`);
    }
    expect(leaks).toEqual([]);
  }, 240_000);
});
