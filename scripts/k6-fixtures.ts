/**
 * Fixtures for the k6 scenarios (loadtest/k6/), made through the gateway's own APIs against a
 * running gateway in TEST_MODE (captcha and SMS answers returned): the ADMIN API seeds one province
 * (campuses, calendar, fees, roster, CET4 scores), the public API creates the accounts.
 *
 *   BASE_URL=http://127.0.0.1:8080 ADMIN_TOKEN=... npx tsx scripts/k6-fixtures.ts [options]
 *
 * Two modes, one province each (they need the registration window in opposite states):
 * - opening (default): N roster candidates with accounts (SMS code → account), NOT bound; the
 *   province's registration window opens `--opens-in-s` after this script ends (default: the
 *   opening profile's OPENING_AT_S, scaled like opening.ts scales it with `--duration-s` =
 *   its DURATION_S). Writes `--out` (loadtest/k6/candidates.json, the format of lib/data.ts).
 *   Start opening.ts right after.
 * - tokens (`--tokens FILE`): the window is open now; each account also logs in (captcha),
 *   accepts the agreement and is bound to its candidate (`POST /api/v1/registration`), and with
 *   `--hold CET4` holds that written seat (for oral.ts, payment.ts, expiry.ts). Writes the
 *   sessions to FILE (reserve.ts & co.; token i belongs to campus i mod K) and the campus rows to
 *   `--campuses-out` (oral.ts re-times their oral openings). `--out` only if given.
 *
 * Options: --candidates N (1000), --province NN (11), --campuses K (6: one per oral opening of
 * profiles.oralOpenings), --written-capacity (per campus, default: all its candidates),
 * --oral-capacity (per campus, default 30 % of its candidates), --hold SUBJECT, --opens-in-s S,
 * --duration-s S, --seed N (1: phones and ID numbers derive from province, seed and index, so a
 * re-run updates the same people; another seed makes new ones), --reviewers share (0.05: CET4
 * score rows and tickets for the CET6 reviewers of opening.ts), --concurrency (50), --base-url.
 * The gateway's per-IP limits (RATE_SMS_PER_IP_PER_MINUTE: 120 by default) pace the account
 * creation; 429 answers are retried after their Retry-After. Raise them for large runs.
 * Exits non-zero, writing nothing, if any candidate could not be prepared.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { makeResidentId } from '../engine/idNumber.ts';
import { makeTicket } from '../engine/ticket.ts';
import { durationOf, OPENING_AT_S, profiles } from '../loadtest/profiles.ts';
import { personName } from '../loadtest/seed/names.ts';
import { deriveSeed, Rng } from '../loadtest/seed/rng.ts';

const { values: opt } = parseArgs({
  options: {
    candidates: { type: 'string', default: '1000' },
    province: { type: 'string', default: '11' },
    campuses: { type: 'string', default: '6' },
    'written-capacity': { type: 'string' },
    'oral-capacity': { type: 'string' },
    hold: { type: 'string' },
    'opens-in-s': { type: 'string' },
    'duration-s': { type: 'string' },
    seed: { type: 'string', default: '1' },
    reviewers: { type: 'string', default: '0.05' },
    concurrency: { type: 'string', default: '50' },
    out: { type: 'string' },
    tokens: { type: 'string' },
    'campuses-out': { type: 'string' },
    'base-url': { type: 'string' },
  },
  strict: true,
});

function int(name: string, raw: string | undefined, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${name} must be an integer in ${min}..${max}, got "${raw}"`);
  }
  return value;
}

const N = int('candidates', opt.candidates, 1, 699_999);
const PROVINCE = opt.province!;
if (!/^\d{2}$/.test(PROVINCE)) throw new Error('--province must be a 2-digit province code');
const K = int('campuses', opt.campuses, 1, 99);
const SEED = int('seed', opt.seed, 0, 99);
const CONCURRENCY = int('concurrency', opt.concurrency, 1, 1000);
const REVIEWERS = Number(opt.reviewers);
const TOKENS_MODE = opt.tokens !== undefined;
const HOLD = opt.hold;
if (HOLD && !TOKENS_MODE) throw new Error('--hold needs --tokens (holding takes a bound session)');
if (TOKENS_MODE && opt['opens-in-s'] !== undefined) {
  throw new Error('--opens-in-s is for the opening mode: with --tokens the window is open now');
}
const perCampus = Math.ceil(N / K);
const WRITTEN_CAPACITY = opt['written-capacity']
  ? int('written-capacity', opt['written-capacity'], 0, 1e6)
  : perCampus;
const ORAL_CAPACITY = opt['oral-capacity']
  ? int('oral-capacity', opt['oral-capacity'], 0, 1e6)
  : Math.ceil(perCampus * 0.3);
const timeFactor = opt['duration-s'] ? Number(opt['duration-s']) / durationOf(profiles.opening) : 1;
const OPENS_IN_S = opt['opens-in-s'] !== undefined ? Number(opt['opens-in-s']) : OPENING_AT_S * timeFactor;
if (!Number.isFinite(OPENS_IN_S) || OPENS_IN_S < 0)
  throw new Error('--opens-in-s / --duration-s must be ≥ 0');
const BASE_URL = (opt['base-url'] ?? process.env.BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ADMIN_TOKEN = process.env.ADMIN_TOKEN ?? '';
if (!ADMIN_TOKEN) throw new Error('ADMIN_TOKEN must be set (the gateway’s admin token)');
const OUT = opt.out ?? (TOKENS_MODE ? undefined : 'loadtest/k6/candidates.json');
const CAMPUSES_OUT = opt['campuses-out'] ?? (TOKENS_MODE ? 'loadtest/k6/campuses.json' : undefined);
const WRITTEN = HOLD ?? 'CET4';
const DAY_MS = 86_400_000;

// ------------------------------------------------------------------------------------- HTTP

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: { code?: string; message?: string } };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One JSON call; 429/503/5xx and network errors are retried (Retry-After honoured, ≤ 8 tries). */
async function call(method: string, path: string, body?: unknown, token?: string): Promise<Answer> {
  let lastError = '';
  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      const res = await fetch(`${BASE_URL}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      let parsed: Answer['body'] = {};
      try {
        parsed = (text ? JSON.parse(text) : {}) as Answer['body'];
      } catch {
        parsed = { text }; // a non-JSON answer (e.g. a proxy's error page)
      }
      if (res.status === 429 || res.status === 503 || res.status >= 500) {
        const retryAfterS = Number(res.headers.get('retry-after') ?? '1');
        lastError = `${res.status} ${parsed.error?.code ?? ''}`;
        if (retryAfterS > 120)
          throw new Error(
            `${method} ${path}: ${lastError}, retry after ${retryAfterS} s (try another --seed)`,
          );
        await sleep(Math.max(0.2, retryAfterS) * 1000 * (1 + Math.random() * 0.2));
        continue;
      }
      return { status: res.status, body: parsed };
    } catch (error) {
      if (error instanceof Error && error.message.includes('try another --seed')) throw error;
      lastError = String(error);
      await sleep(500 * (attempt + 1));
    }
  }
  throw new Error(`${method} ${path}: gave up (${lastError})`);
}

const admin = (method: string, path: string, body: unknown): Promise<Answer> =>
  call(method, path, body, ADMIN_TOKEN);

async function adminBulk(path: string, rows: unknown[], chunk = 2000): Promise<void> {
  for (let i = 0; i < rows.length; i += chunk) {
    const a = await admin('PUT', path, rows.slice(i, i + chunk));
    const rejected = (a.body.rejected as unknown[] | undefined) ?? [];
    if (a.status !== 200 || rejected.length > 0) {
      throw new Error(`PUT ${path}: ${a.status} ${JSON.stringify(a.body.error ?? rejected.slice(0, 3))}`);
    }
  }
}

function expect(a: Answer, ok: readonly (number | string)[], what: string): void {
  if (ok.includes(a.status) || ok.includes(a.body.error?.code ?? '')) return;
  throw new Error(`${what}: ${a.status} ${a.body.error?.code ?? ''} ${a.body.error?.message ?? ''}`);
}

// --------------------------------------------------------------------------------- the people

interface Person {
  i: number;
  idType: 'RESIDENT_ID';
  idNumber: string;
  name: string;
  phone: string;
  password: string;
  campusId: string;
  schoolId: string;
  ticketNumber?: string;
}

const campusId = (k: number): string => `K6-${PROVINCE}-C${String(k + 1).padStart(2, '0')}`;
const schoolId = (k: number): string => `K6-${PROVINCE}-S${String(k + 1).padStart(2, '0')}`;
const seed2 = String(SEED).padStart(2, '0');

function person(i: number): Person {
  const rng = new Rng(deriveSeed(SEED, Number(PROVINCE), i));
  const birth = new Date(Date.UTC(2000, 0, 1) + Math.floor(i / 1000) * DAY_MS);
  const k = i % K; // token i belongs to campus i mod K (lib/data.ts)
  const p: Person = {
    i,
    idType: 'RESIDENT_ID',
    idNumber: makeResidentId(`${PROVINCE}01${seed2}`, birth, i % 1000),
    name: personName(rng, PROVINCE),
    phone: `1${3 + Math.floor(i / 100_000)}${PROVINCE}${seed2}${String(i % 100_000).padStart(5, '0')}`,
    password: `k6pass${seed2}${String(i).padStart(6, '0')}`,
    campusId: campusId(k),
    schoolId: schoolId(k),
  };
  if (rng.next() < REVIEWERS) {
    p.ticketNumber = makeTicket({
      siteCode: `${PROVINCE}${seed2}${String(Math.floor(i / 100_000)).padStart(2, '0')}`,
      year: 2024,
      half: 2,
      level: 1,
      sequence: i % 100_000,
    });
  }
  return p;
}

async function clockNow(): Promise<number> {
  const a = await admin('POST', '/api/v1/admin/clock', { advanceMs: 0 });
  if (a.status === 404) throw new Error('the gateway is not in TEST_MODE (POST /api/v1/admin/clock: 404)');
  expect(a, [200], 'admin clock');
  return Number(a.body.nowMs);
}

async function createAccount(p: Person): Promise<void> {
  const sms = await call('POST', '/api/v1/sms-codes', { phone: p.phone });
  expect(sms, [200], 'sms-codes');
  if (typeof sms.body.testCode !== 'string')
    throw new Error('sms-codes returned no testCode: TEST_MODE=1 needed');
  const account = await call('POST', '/api/v1/accounts', {
    phone: p.phone,
    smsCode: sms.body.testCode,
    password: p.password,
  });
  expect(account, [201, 'ACCOUNT_EXISTS'], 'accounts');
}

interface TokenEntry {
  token: string;
  accountId: string;
  campusId: string;
  provinceCode: string;
  phone: string;
  password: string;
  held: string[];
}

async function bindAndHold(p: Person): Promise<TokenEntry> {
  const captcha = await call('GET', '/api/v1/captcha');
  expect(captcha, [200], 'captcha');
  const session = await call('POST', '/api/v1/sessions', {
    login: p.phone,
    password: p.password,
    captchaId: captcha.body.captchaId,
    captchaAnswer: captcha.body.testAnswer,
  });
  expect(session, [200], 'sessions');
  const token = String(session.body.token);
  expect(await call('POST', '/api/v1/agreement', { accepted: true }, token), [200], 'agreement');
  const who = { idType: p.idType, idNumber: p.idNumber, name: p.name };
  let bound: Answer | undefined;
  for (let i = 0; i < 5 && (bound === undefined || bound.body.error?.code === 'BIND_ABORTED'); i++) {
    bound = await call('POST', '/api/v1/registration', { ...who, confirm: true }, token);
  }
  expect(bound!, [201, 'ACCOUNT_ALREADY_BOUND'], 'registration');
  const held: string[] = [];
  if (HOLD) {
    const w = await call('POST', '/api/v1/registration/written', { subject: HOLD }, token);
    expect(w, [201, 'ALREADY_REGISTERED'], `written ${HOLD}`);
    held.push(HOLD);
  }
  return {
    token,
    accountId: String(session.body.accountId),
    campusId: p.campusId,
    provinceCode: PROVINCE,
    phone: p.phone,
    password: p.password,
    held,
  };
}

/** Runs `work` over 0..n-1 with at most CONCURRENCY at once; collects failures. */
async function pool<T>(
  n: number,
  label: string,
  work: (i: number) => Promise<T>,
): Promise<(T | undefined)[]> {
  const results: (T | undefined)[] = new Array<T | undefined>(n);
  const failures: string[] = [];
  let next = 0;
  let done = 0;
  const started = Date.now();
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) {
      try {
        results[i] = await work(i);
      } catch (error) {
        failures.push(`#${i}: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (++done % Math.max(1, Math.floor(n / 10)) === 0) {
        console.log(`${label}: ${done}/${n} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, worker));
  if (failures.length > 0) {
    console.error(`${label}: ${failures.length} failed, e.g.\n  ${failures.slice(0, 5).join('\n  ')}`);
    process.exit(1);
  }
  return results;
}

function write(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(data, null, 1)}\n`);
  console.log(`wrote ${path}`);
}

// ------------------------------------------------------------------------------------------ run

async function main(): Promise<void> {
  const ready = await call('GET', '/readyz');
  expect(ready, [200], 'readyz');
  const start = await clockNow();
  const far = start + 30 * DAY_MS;
  const campusRows = Array.from({ length: K }, (_, k) => ({
    campusId: campusId(k),
    name: `k6 考点 ${PROVINCE}-${k + 1}`,
    provinceCode: PROVINCE,
    schoolId: schoolId(k),
    studentsMayTakeOralElsewhere: true,
    capacity: { [WRITTEN]: WRITTEN_CAPACITY, 'CET-SET4': ORAL_CAPACITY },
    // opening: oral seats open with registration (set below); tokens: oral.ts opens them
    oralOpens: { ownSchoolAt: far, provinceWideAt: null as number | null },
  }));
  await adminBulk('/api/v1/admin/campuses', campusRows);
  // opening: closed until the end of this script; tokens: open now
  await adminBulk('/api/v1/admin/calendar', [
    TOKENS_MODE
      ? { provinceCode: PROVINCE, registrationOpensAt: start - DAY_MS, registrationClosesAt: far }
      : { provinceCode: PROVINCE, registrationOpensAt: far - DAY_MS, registrationClosesAt: far },
  ]);
  const fees = await admin('PUT', '/api/v1/admin/fees', { [WRITTEN]: 30, 'CET-SET4': 50 });
  expect(fees, [200], 'fees');

  const people = Array.from({ length: N }, (_, i) => person(i));
  await adminBulk(
    '/api/v1/admin/roster',
    people.map((p) => ({
      idType: p.idType,
      idNumber: p.idNumber,
      name: p.name,
      schoolId: p.schoolId,
      campusId: p.campusId,
      grade: '2024',
      eligibleSubjects: [WRITTEN],
      cet6Barred: false,
    })),
  );
  const scores = people
    .filter((p) => p.ticketNumber)
    .map((p) => ({
      ticketNumber: p.ticketNumber!,
      idNumber: p.idNumber,
      name: p.name,
      score: 480,
      year: 2024,
    }));
  if (scores.length > 0) await adminBulk('/api/v1/admin/cet4-scores', scores);
  console.log(`province ${PROVINCE}: ${K} campuses, ${N} roster rows, ${scores.length} CET4 scores`);

  await pool(N, 'accounts', (i) => createAccount(people[i]!));
  const tokens = TOKENS_MODE ? await pool(N, 'sessions', (i) => bindAndHold(people[i]!)) : [];

  if (OUT) {
    write(
      OUT,
      people.map((p) => ({
        idType: p.idType,
        idNumber: p.idNumber,
        name: p.name,
        phone: p.phone,
        password: p.password,
        ...(p.ticketNumber ? { ticketNumber: p.ticketNumber } : {}),
        provinceCode: PROVINCE,
        accountExists: true,
      })),
    );
  }
  if (TOKENS_MODE) write(opt.tokens!, tokens);
  if (CAMPUSES_OUT) write(CAMPUSES_OUT, campusRows);

  if (!TOKENS_MODE) {
    const opensAt = (await clockNow()) + Math.round(OPENS_IN_S * 1000);
    await adminBulk('/api/v1/admin/calendar', [
      { provinceCode: PROVINCE, registrationOpensAt: opensAt, registrationClosesAt: far },
    ]);
    await adminBulk(
      '/api/v1/admin/campuses',
      campusRows.map((row) => ({ ...row, oralOpens: { ownSchoolAt: opensAt, provinceWideAt: opensAt } })),
    );
    console.log(
      `registration of province ${PROVINCE} opens in ${OPENS_IN_S} s (${new Date(opensAt).toISOString()} on the gateway's clock): start opening.ts now`,
    );
  }
}

await main();
