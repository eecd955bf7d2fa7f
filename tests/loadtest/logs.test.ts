/**
 * REL6 "no ID number or password in logs", over the whole system: the system runs in its own
 * process at LOG_LEVEL=debug with its stdout and stderr captured, a small surge walks the full flow
 * (logins with the password, eligibility queries with ID numbers and names, bindings, seats,
 * payments), and a few hostile calls carry personal data where it does not belong (a wrong
 * password, an unauthenticated eligibility query, a forged payment notification). Then no ID
 * number, name, phone number or password of any candidate may appear anywhere in the logs; and the
 * same scan must catch them in a log line planted with them, so it cannot pass by finding nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSurge } from '../../loadtest/runner/run.ts';
import { phoneOf, SURGE_PASSWORD } from '../../loadtest/runner/world.ts';
import { generateWorld } from '../../loadtest/seed/generate.ts';
import { startSurgeTarget, type SurgeTarget } from '../support/surge.ts';
import { waitFor } from '../support/wait.ts';

const CANDIDATES = 200;
const SEED = 11;
const WRONG_PASSWORD = 'not-the-password-7731';

let target: SurgeTarget;
let logs = '';

type World = ReturnType<typeof generateWorld>;

/** What of the candidates' personal data and the passwords `text` contains. */
function leaksIn(text: string, world: World): string[] {
  const leaks: string[] = [];
  for (const needle of [SURGE_PASSWORD, WRONG_PASSWORD]) if (text.includes(needle)) leaks.push('a password');
  for (let n = 1; n <= CANDIDATES; n++) {
    const { idNumber, name } = world.candidate(n).entry;
    if (text.includes(idNumber)) leaks.push(`candidate ${n}'s ID number`);
    if (text.includes(name)) leaks.push(`candidate ${n}'s name`);
    if (text.includes(phoneOf(n - 1))) leaks.push(`candidate ${n}'s phone`);
  }
  return leaks;
}

const REFUSED = 'payment notification refused';
const count = (text: string, needle: string): number => text.split(needle).length - 1;

beforeAll(async () => {
  target = await startSurgeTarget({ LOG_LEVEL: 'debug' }, { output: (text) => void (logs += text) });
}, 120_000);

afterAll(async () => {
  await target?.stop();
});

describe('REL6: personal data stays out of the logs', () => {
  it('a surge and hostile calls leave no ID number, name, phone or password in any log line', async () => {
    const report = await runSurge({
      ...target.options,
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
    // (at least once each: a query shed under load is retried, and counted again)
    expect(report.latency.byStep.eligibility?.count).toBeGreaterThanOrEqual(CANDIDATES);

    const world = generateWorld({ candidates: CANDIDATES, provinces: 1, seed: SEED });
    const first = world.candidate(1).entry;
    // a wrong password for a real account
    const captcha = (await (await fetch(`${target.system.base}/api/v1/captcha`)).json()) as {
      captchaId: string;
      testAnswer: string;
    };
    const wrong = await fetch(`${target.system.base}/api/v1/sessions`, {
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
    // an eligibility query without a session
    const anonymous = await fetch(`${target.system.base}/api/v1/eligibility/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ idType: first.idType, idNumber: first.idNumber, name: first.name }),
    });
    expect(anonymous.status).toBe(401);
    // last, a forged payment notification carrying an ID number and a name: the line it logs is
    // written after every earlier one, so once it is here, all of theirs are
    const refusedBefore = count(logs, REFUSED);
    const forged = await fetch(`${target.system.base}/api/v1/payments/notify/alipay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ orderId: 'x', idNumber: first.idNumber, name: first.name, sign: 'forged' }),
    });
    expect(forged.status).toBeGreaterThanOrEqual(400);
    await waitFor(() => count(logs, REFUSED) > refusedBefore, { message: 'the log line of the forged call' });

    // the capture works: the system's own lines are there
    expect(logs).toContain('system started');
    expect(leaksIn(logs, world)).toEqual([]);

    // and the scan finds personal data where it is: the refusal's own line, with the first
    // candidate's data and the wrong password planted in it, added to what was captured
    const line = logs.split('\n').find((text) => text.includes(REFUSED))!;
    const planted = JSON.stringify({
      ...(JSON.parse(line) as Record<string, unknown>),
      detail: { idNumber: first.idNumber, name: first.name, phone: phoneOf(0), password: WRONG_PASSWORD },
    });
    expect(leaksIn(`${logs}${planted}\n`, world)).toEqual(
      expect.arrayContaining([
        'a password',
        "candidate 1's ID number",
        "candidate 1's name",
        "candidate 1's phone",
      ]),
    );
  }, 240_000);
});
