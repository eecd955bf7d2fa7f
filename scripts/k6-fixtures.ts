/**
 * Fixtures for the k6 scenarios (loadtest/k6/), made through the gateway's own APIs against a
 * running gateway in TEST_MODE (captcha and SMS answers returned; loadtest/fixtures/k6.ts): the
 * ADMIN API seeds one province (campuses, calendar, fees, roster, CET4 scores), the public API
 * creates the accounts.
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
 * score rows and tickets for the CET6 reviewers of opening.ts), --concurrency (50), --base-url,
 * --profile openingDay|opening (the arrival curve whose opening moment to use, as opening.ts's
 * PROFILE; openingDay), --waiting-room opening|off (opening: the province's waiting room, its
 * PREQUEUE open from now; as opening.ts's WAITING_ROOM).
 * The gateway's per-IP limits (RATE_SMS_PER_IP_PER_MINUTE: 120 by default) pace the account
 * creation; 429 answers are retried after their Retry-After. Raise them for large runs.
 * Exits non-zero, writing nothing, if any candidate could not be prepared.
 */
import { parseArgs } from 'node:util';
import { k6FixturesConfig } from '../config/index.ts';
import { FixtureFailures, prepareK6Fixtures } from '../loadtest/fixtures/k6.ts';
import { durationOf, OPENS_AT_S, profiles, type ProfileName } from '../loadtest/profiles.ts';

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
    profile: { type: 'string', default: 'openingDay' },
    'waiting-room': { type: 'string', default: 'opening' },
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
const PROVINCE = opt.province;
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
const PROFILE = opt.profile as ProfileName;
if (PROFILE !== 'opening' && PROFILE !== 'openingDay')
  throw new Error('--profile must be opening or openingDay');
const room = opt['waiting-room'];
if (room !== 'opening' && room !== 'off') throw new Error('--waiting-room must be opening or off');
const WAITING_ROOM: 'opening' | 'off' = room;
const timeFactor = opt['duration-s'] ? Number(opt['duration-s']) / durationOf(profiles[PROFILE]) : 1;
const OPENS_IN_S =
  opt['opens-in-s'] !== undefined ? Number(opt['opens-in-s']) : OPENS_AT_S[PROFILE] * timeFactor;
if (!Number.isFinite(OPENS_IN_S) || OPENS_IN_S < 0)
  throw new Error('--opens-in-s / --duration-s must be ≥ 0');
// ADMIN_TOKEN must be set (the gateway's admin token); BASE_URL unless --base-url
const settings = k6FixturesConfig();
const BASE_URL = (opt['base-url'] ?? settings.baseUrl).replace(/\/+$/, '');
const ADMIN_TOKEN = settings.adminToken;
const OUT = opt.out ?? (TOKENS_MODE ? undefined : 'loadtest/k6/candidates.json');
const CAMPUSES_OUT = opt['campuses-out'] ?? (TOKENS_MODE ? 'loadtest/k6/campuses.json' : undefined);

async function main(): Promise<void> {
  try {
    await prepareK6Fixtures({
      baseUrl: BASE_URL,
      adminToken: ADMIN_TOKEN,
      province: PROVINCE,
      candidates: N,
      campuses: K,
      seed: SEED,
      reviewers: REVIEWERS,
      concurrency: CONCURRENCY,
      writtenCapacity: WRITTEN_CAPACITY,
      oralCapacity: ORAL_CAPACITY,
      opensInS: OPENS_IN_S,
      waitingRoom: TOKENS_MODE ? 'off' : WAITING_ROOM,
      ...(HOLD === undefined ? {} : { hold: HOLD }),
      ...(opt.tokens === undefined ? {} : { tokensOut: opt.tokens }),
      ...(OUT === undefined ? {} : { out: OUT }),
      ...(CAMPUSES_OUT === undefined ? {} : { campusesOut: CAMPUSES_OUT }),
    });
  } catch (error) {
    if (!(error instanceof FixtureFailures)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}

await main();
