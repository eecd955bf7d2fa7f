/**
 * `npm run loadtest -- --profile opening --candidates 2000 --duration 30 --dashboards 50`
 *
 * The load-test harness's main entry (issue 6): starts private Redis (AOF always) and PostgreSQL
 * unless REDIS_URL / DATABASE_URL are given (then a fresh database is made on that server for the
 * run and dropped after), starts the system under test in its own process (scripts/start.ts in
 * TEST_MODE), runs a surge (loadtest/runner/run.ts) with a live progress line, checks I1–I5, and
 * writes <out>/report.json and a self-contained <out>/report.html. Exits 1 on any violation.
 *
 * Options: --profile opening|oralOpenings|payment|expiry (opening), --candidates N (2000),
 * --duration S (30), --dashboards N (20), --dashboard-scope province|campus (what each dashboard
 * watches; campus: one each, round robin), --connections N (256), --seed N (42),
 * --preseeded-sessions (candidates logged in before the opening: no KDF in the surge),
 * --oral-share F (0.4), --threads N / --pool-threads N (gateway app / worker-pool threads,
 * default: cores), --out DIR (reports/loadtest), --straggle-timeout S (how long candidates still
 * walking after the profile may take; default max(120, duration); past it the run fails),
 * --plant-oversell (test-only fault: the checker must then fail).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createPool, quoteIdent } from '../db/pool.ts';
import { profiles, type ProfileName } from '../loadtest/profiles.ts';
import { renderReportHtml } from '../loadtest/report/html.ts';
import { runSurge } from '../loadtest/runner/run.ts';
import { spawnSystem } from '../loadtest/runner/system.ts';
import type { RunReport } from '../loadtest/report/types.ts';
import { startStack, type Stack } from '../devstack/index.ts';

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'opening' },
    candidates: { type: 'string', default: '2000' },
    duration: { type: 'string', default: '30' },
    dashboards: { type: 'string', default: '20' },
    'dashboard-scope': { type: 'string', default: 'province' },
    connections: { type: 'string', default: '256' },
    seed: { type: 'string', default: '42' },
    'preseeded-sessions': { type: 'boolean', default: false },
    'oral-share': { type: 'string', default: '0.4' },
    threads: { type: 'string' },
    'pool-threads': { type: 'string' },
    out: { type: 'string', default: 'reports/loadtest' },
    'plant-oversell': { type: 'boolean', default: false },
    'straggle-timeout': { type: 'string' },
  },
  strict: true,
});

function numberArg(name: string, raw: string | undefined, min: number): number {
  const value = Number(String(raw).replaceAll('_', ''));
  if (!Number.isFinite(value) || value < min)
    throw new RangeError(`--${name} must be a number ≥ ${min}, got "${raw}"`);
  return value;
}

export interface LoadtestRun {
  readonly report: RunReport;
  readonly jsonPath: string;
  readonly htmlPath: string;
}

async function main(): Promise<number> {
  const profile = values.profile as ProfileName;
  if (!(profile in profiles))
    throw new RangeError(`--profile must be one of ${Object.keys(profiles).join(', ')}`);
  const candidates = numberArg('candidates', values.candidates, 1);
  const durationS = numberArg('duration', values.duration, 1);
  const threads = values.threads ? numberArg('threads', values.threads, 1) : availableParallelism();
  const poolThreads = values['pool-threads']
    ? numberArg('pool-threads', values['pool-threads'], 1)
    : availableParallelism();
  const say = (line: string): void => void process.stderr.write(`${line}\n`);

  let stack: Stack | undefined;
  let dropDatabase: (() => Promise<void>) | undefined;
  let redisUrl = process.env.REDIS_URL ?? '';
  let databaseUrl = process.env.DATABASE_URL ?? '';
  if (!redisUrl || !databaseUrl) {
    say('starting private Redis (AOF always) and PostgreSQL…');
    stack = await startStack({ redis: !redisUrl, postgres: !databaseUrl, quiet: true });
    redisUrl ||= stack.redisUrl;
    databaseUrl ||= stack.databaseUrl;
  } else {
    // a database of its own on the given server, dropped after the run
    const name = `loadtest_${randomBytes(4).toString('hex')}`;
    const server = createPool(databaseUrl, { max: 1 });
    await server.query(`CREATE DATABASE ${quoteIdent(name)}`);
    await server.end();
    const serverUrl = databaseUrl;
    const url = new URL(databaseUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = async () => {
      const again = createPool(serverUrl, { max: 1 });
      await again.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      await again.end();
    };
  }
  const namespace = `lt${randomBytes(3).toString('hex')}`;
  const adminToken = randomBytes(18).toString('base64url');
  try {
    const system = await spawnSystem({
      TEST_MODE: '1',
      REDIS_URL: redisUrl,
      DATABASE_URL: databaseUrl,
      KEY_NAMESPACE: namespace,
      ADMIN_TOKEN: adminToken,
      THREADS: String(threads),
      POOL_THREADS: String(poolThreads),
      PAYMENT_SIMULATOR_PORT: '0',
      // every simulated candidate comes from 127.0.0.1: per-IP limits would throttle the whole
      // province as one client; per-account limits stay as configured (bots meet them)
      RATE_LOGIN_PER_IP_PER_MINUTE: '100000000',
      RATE_SMS_PER_IP_PER_MINUTE: '100000000',
      RATE_REGISTER_PER_IP_PER_MINUTE: '100000000',
    });
    say(`system under test ready at ${system.base} (${system.threads} app threads)`);
    let report: RunReport;
    try {
      report = await runSurge({
        base: system.base,
        redisUrl,
        databaseUrl,
        namespace,
        adminToken,
        profile,
        candidates,
        durationS,
        dashboards: numberArg('dashboards', values.dashboards, 0),
        dashboardScope: values['dashboard-scope'] === 'campus' ? 'campus' : 'province',
        connections: numberArg('connections', values.connections, 1),
        seed: numberArg('seed', values.seed, 0),
        preseededSessions: values['preseeded-sessions'] ?? false,
        oralShare: numberArg('oral-share', values['oral-share'], 0),
        gatewayThreads: system.threads || threads,
        poolThreads,
        plantOversell: values['plant-oversell'] ?? false,
        // candidates still walking after the profile: by default as long again as the profile
        straggleTimeoutS: values['straggle-timeout']
          ? numberArg('straggle-timeout', values['straggle-timeout'], 0)
          : Math.max(120, durationS),
        progress: say,
      });
    } finally {
      await system.stop();
    }
    const out = values.out ?? 'reports/loadtest';
    mkdirSync(out, { recursive: true });
    const jsonPath = path.join(out, 'report.json');
    const htmlPath = path.join(out, 'report.html');
    writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(htmlPath, renderReportHtml(report));
    console.log(headline(report, jsonPath, htmlPath));
    return report.invariants.ok ? 0 : 1;
  } finally {
    await dropDatabase?.();
    await stack?.stop();
  }
}

export function headline(report: RunReport, jsonPath: string, htmlPath: string): string {
  const t = report.totals;
  const l = report.latency.all;
  const lines = [
    '',
    `surge ${report.profile}: ${t.candidatesFinished}/${t.candidatesOffered} candidates in ${report.durationS} s, ${t.requests} requests`,
    `  latency p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms; peak answered ${report.measured.gatewayRequestsPerSec}/s; errors ${t.errors}, shed ${t.shed}`,
    `  outcomes ${JSON.stringify(t.outcomes)}`,
    `  oral seats sold out ${report.sellOutS === null ? 'never' : `${report.sellOutS} s after the opening`}`,
    `  dashboards ${report.dashboards.subscribers}: ${report.dashboards.messages} updates, staleness p99 ${report.dashboards.staleness.p99Ms} ms`,
    `  writer lag p99 ${report.writer.lagP99Ms ?? '-'} ms, at most ${report.writer.lagMaxEvents ?? '-'} events behind`,
    `  invariants I1–I5: ${report.invariants.ok ? 'PASS' : 'FAIL'} ${JSON.stringify(report.invariants.checked)}`,
    ...report.invariants.violations.slice(0, 20).map((v) => `    ✗ ${v}`),
    `  → ${jsonPath}`,
    `  → ${htmlPath}`,
  ];
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : error);
      process.exit(2);
    },
  );
}
