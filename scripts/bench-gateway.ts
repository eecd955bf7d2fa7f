/**
 * `npm run bench:gateway` — the gateway benchmark (P2). Prints figures; asserts nothing.
 * Starts the whole system (private Redis with AOF always + PostgreSQL, N app threads), pre-seeds
 * N accounts with sessions and bound candidates (directly, so the KDF is not what is measured),
 * then runs autocannon in one run, same connections and duration, against
 *   1. POST /api/v1/registration/written {"subject":"CET4"} — a different session per request, so
 *      every request is a real reservation attempt (a first attempt holds a seat; a repeat by the
 *      same candidate answers 409 ALREADY_REGISTERED after the same checks), and
 *   2. GET /healthz — a trivial route of the same gateway.
 * Writes reports/bench/gateway.json {reserveRps, trivialRps, p50Ms, p99Ms, …}.
 * Options: --candidates N (50000), --connections N (200), --duration S (10).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { bind } from '../engine/binding.ts';
import { Engine, HOUR_MS } from '../engine/engine.ts';
import { createPool } from '../db/pool.ts';
import { AuthKeys } from '../gateway/auth/keys.ts';
import { Sessions } from '../gateway/auth/sessions.ts';
import { FeeTable } from '../gateway/fees.ts';
import { upsertReference } from '../db/sql/reference.ts';
import type { Campus } from '../engine/world.ts';
import { spawn } from 'node:child_process';
import { freePort, startStack } from './stack.ts';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: '50000' },
    connections: { type: 'string', default: '200' },
    duration: { type: 'string', default: '10' },
  },
});
const CANDIDATES = Number(values.candidates);
const CONNECTIONS = Number(values.connections);
const DURATION = Number(values.duration);
const NAMESPACE = 'benchgw';

async function run(url: string, opts: Partial<autocannon.Options>): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ ...opts, url, connections: CONNECTIONS, duration: DURATION }, (error, result) =>
      error ? reject(error) : resolve(result),
    );
  });
}

async function main(): Promise<void> {
  const stack = await startStack();
  try {
    // the system runs in its own process (as `npm start`), so that the load generator in this
    // process does not share a thread with the gateway's writer, sweeper and worker pool
    const port = await freePort();
    const system = spawn(
      process.execPath,
      ['--max-semi-space-size=64', '--import', 'tsx', 'scripts/start.ts'],
      {
        env: {
          ...process.env,
          REDIS_URL: stack.redisUrl,
          DATABASE_URL: stack.databaseUrl,
          PORT: String(port),
          HOST: '127.0.0.1',
          KEY_NAMESPACE: NAMESPACE,
          LOG_LEVEL: 'warn',
          MAX_IN_FLIGHT: '100000',
          RATE_RESERVE_PER_ACCOUNT_PER_MINUTE: '1000000',
          TEST_MODE: '0',
          ADMIN_TOKEN: 'bench-admin-token-0123456789',
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    const stopSystem = () =>
      new Promise<void>((resolve) => {
        if (system.exitCode !== null) return resolve();
        system.once('exit', () => resolve());
        system.kill('SIGTERM');
      });
    for (let waited = 0; ; waited += 200) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ready) break;
      if (waited > 60_000 || system.exitCode !== null) throw new Error('the system did not become ready');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const threads = Number(
      /gateway_threads (\d+)/.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1] ?? 0,
    );
    const base = `http://127.0.0.1:${port}`;
    const redis = new Redis(stack.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
    const engine = new Engine(redis, { namespace: NAMESPACE });
    const db = createPool(stack.databaseUrl, { max: 8 });
    const now = Date.now();
    // the reference data and the roster go to PostgreSQL too: the writer projects registrations
    // and items onto them (foreign keys), as in a real deployment
    const campusList: Campus[] = Array.from({ length: 50 }, (_, i) => {
      const campusId = `11${String(i + 1).padStart(4, '0')}1`;
      return {
        campusId,
        name: campusId,
        provinceCode: '11',
        schoolId: campusId.slice(0, 6),
        studentsMayTakeOralElsewhere: true,
        capacity: { CET4: Math.ceil((CANDIDATES * 1.2) / 50) },
        oralOpens: { ownSchoolAt: now, provinceWideAt: now },
      };
    });
    const campuses = campusList.map((c) => c.campusId);
    const calendar = {
      provinceCode: '11',
      registrationOpensAt: now - HOUR_MS,
      registrationClosesAt: now + 48 * HOUR_MS,
    };
    await engine.setCalendar(calendar, now);
    await upsertReference(db, {
      provinces: [{ code: '11', name: '北京市' }],
      schools: campusList.map((c) => ({ schoolId: c.schoolId, name: c.schoolId, provinceCode: '11' })),
      campuses: campusList,
      calendar: [calendar],
      fees: { CET4: 30 },
    });
    for (const campus of campusList) await engine.upsertCampus(campus, now);
    await db.query(
      `INSERT INTO roster (candidate_id, id_type, id_hmac, id_masked, name, name_normalised, province_code, school_id, campus_id, grade, eligible_subjects)
       SELECT g::text, 'RESIDENT_ID', sha256(convert_to('bench' || g, 'UTF8')), '110105********002X', '考生', '考生', '11',
              '11' || lpad(((g - 1) % 50 + 1)::text, 4, '0'), '11' || lpad(((g - 1) % 50 + 1)::text, 4, '0') || '1', '2024', '{CET4}'
       FROM generate_series(1, $1::int) g`,
      [CANDIDATES],
    );
    await new FeeTable(redis, NAMESPACE).set({ CET4: 30 });

    // accounts, sessions and bindings, directly
    process.stderr.write(`seeding ${CANDIDATES} accounts with sessions and bound candidates…\n`);
    const sessions = new Sessions({ db, redis, keys: new AuthKeys(NAMESPACE), lifetimeMs: 4 * HOUR_MS });
    const tokens: string[] = [];
    for (let start = 0; start < CANDIDATES; start += 1000) {
      const count = Math.min(1000, CANDIDATES - start);
      const { rows } = await db.query<{ account_id: string }>(
        `INSERT INTO accounts (phone, password_hash, agreement_accepted_at)
         SELECT '139' || lpad(g::text, 8, '0'), '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g', now()
         FROM generate_series($1::int, $2::int) g RETURNING account_id::text`,
        [start, start + count - 1],
      );
      const made = await Promise.all(
        rows.map(async ({ account_id: accountId }, i) => {
          const candidateId = String(start + i + 1);
          const bound = await bind(engine, {
            accountId,
            provinceCode: '11',
            candidateId,
            campusId: campuses[(start + i) % campuses.length]!,
            snapshot: {
              name: '考生',
              idType: 'RESIDENT_ID',
              idMasked: '110105********002X',
              schoolId: '110001',
              grade: '2024',
              eligibleSubjects: ['CET4'],
            },
            now,
          });
          if (!bound.ok) throw new Error(`bind: ${bound.code}`);
          return (await sessions.create(accountId)).token;
        }),
      );
      tokens.push(...made);
    }

    let next = 0;
    const body = JSON.stringify({ subject: 'CET4' });
    process.stderr.write(
      `autocannon: ${CONNECTIONS} connections × ${DURATION} s, reservations then /healthz\n`,
    );
    const reserve = await run(`${base}/api/v1/registration/written`, {
      requests: [
        {
          method: 'POST',
          path: '/api/v1/registration/written',
          body,
          setupRequest: (request) => ({
            ...request,
            headers: {
              ...request.headers,
              'content-type': 'application/json',
              authorization: `Bearer ${tokens[next++ % tokens.length]}`,
            },
          }),
        },
      ],
    });
    const trivial = await run(`${base}/healthz`, {});
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const outcomes = Object.fromEntries(
      metrics
        .split('\n')
        .filter((line) => line.startsWith('reservations_total{'))
        .map((line) => [/outcome="([^"]+)"/.exec(line)?.[1] ?? '?', Number(line.split(' ').pop())]),
    );
    const result = {
      reserveRps: Math.round(reserve.requests.average),
      trivialRps: Math.round(trivial.requests.average),
      ratio: Number((reserve.requests.average / trivial.requests.average).toFixed(3)),
      p50Ms: reserve.latency.p50,
      p99Ms: reserve.latency.p99,
      trivialP99Ms: trivial.latency.p99,
      non2xx: reserve.non2xx,
      errors: reserve.errors,
      timeouts: reserve.timeouts,
      reservationOutcomes: outcomes,
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      threads: threads || undefined,
      candidates: CANDIDATES,
      measuredAt: new Date().toISOString(),
    };
    mkdirSync('reports/bench', { recursive: true });
    writeFileSync('reports/bench/gateway.json', `${JSON.stringify(result, null, 2)}\n`);
    console.log(`
gateway benchmark (${threads || 'default'} app threads, ${CONNECTIONS} connections, ${DURATION} s each)
  POST /api/v1/registration/written   ${result.reserveRps.toLocaleString('en')} req/s   p50 ${result.p50Ms} ms   p99 ${result.p99Ms} ms   (target ≥ 20,000/s)
  GET /healthz (trivial)              ${result.trivialRps.toLocaleString('en')} req/s   p99 ${result.trivialP99Ms} ms
  reservation outcomes                ${JSON.stringify(outcomes)}   errors ${result.errors}, timeouts ${result.timeouts}
  → reports/bench/gateway.json`);
    redis.disconnect();
    await db.end();
    await stopSystem();
  } finally {
    await stack.stop();
  }
}

await main();
