/**
 * `npm run plan -- [--candidates 9000000] [--provinces all|41,37|top5] [--report path] [--json] …`:
 * the capacity plan (loadtest/plan.ts) for an opening, from the `measured` block of a load-test
 * report.json, with one Redis shard's rate from `npm run bench:shards` (reports/bench/shards.json,
 * read when present or named by --shards; loadtest/planShards.ts). Prints the plan as a table with
 * its arithmetic (or JSON) and exits 0; on bad input it prints one clear message and exits 1.
 * Reads those files, writes nothing.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  PLAN_DEFAULTS,
  planCapacity,
  type CapacityPlan,
  type PlanScenario,
  type ProvinceShare,
} from '../loadtest/plan.ts';
import { formatPlan } from '../loadtest/planFormat.ts';
import {
  DEFAULT_SHARDS_FILE,
  readShards,
  ShardsInputError,
  type ShardsBasis,
} from '../loadtest/planShards.ts';
import { readMeasured, ReportInputError } from '../loadtest/report/file.ts';
import type { MeasuredCapacity } from '../loadtest/report/types.ts';
import { PROVINCES } from '../engine/provinces.ts';

/** The report read without --report: the first that exists (`npm run loadtest`'s, then `npm run demo`'s). */
const DEFAULT_REPORTS = ['reports/loadtest/report.json', 'reports/demo/report.json'];
const DEFAULT_REPORT = DEFAULT_REPORTS.find((file) => existsSync(file)) ?? DEFAULT_REPORTS[0]!;
const NATIONAL_CANDIDATES = 9_000_000;

const USAGE = `usage: tsx scripts/plan.ts [options]
  --report <path>               report.json whose "measured" block is multiplied (default: ${DEFAULT_REPORTS.join(', else ')})
  --shards <path|none>          one Redis shard's rate: the 1-master per-shard figure of \`npm run bench:shards\`
                                (default ${DEFAULT_SHARDS_FILE} when present; none: the report's rate)
  --candidates <n>              candidates of the opening (default ${NATIONAL_CANDIDATES}, a national sitting)
  --provinces <list>            all (default) | codes, e.g. 41 or 41,37 | topN (the N largest)
  --peak-window-s <s>           flat peak window instead of the opening surge profile
  --peak-share <0..1>           share of candidates arriving in that window (default: the profile's share)
  --target-p99-ms <ms>          default ${PLAN_DEFAULTS.targetP99Ms}
  --headroom <0..1>             load units to this share of their measured rate (default ${PLAN_DEFAULTS.headroom})
  --login-share-in-peak <0..1>  share of logins inside the peak (default ${PLAN_DEFAULTS.loginShareInPeak})
  --redundancy <n>              spare units per tier (default ${PLAN_DEFAULTS.redundancy}: N+1)
  --target-lag-s <s>            writer lag target (default ${PLAN_DEFAULTS.targetLagS})
  --bytes-per-candidate <B>     Redis bytes per candidate (P4 measured 305) to size shards by memory
  --max-memory-per-shard <B>    usable memory per shard, e.g. 8GiB (default 8GiB)
  --gateway-rps <n>             override the report's unit rates with a saturating measurement:
  --redis-ops <n>                 requests/s of one gateway process, engine ops/s of one Redis shard,
  --writer-eps <n>                events/s of one writer, logins/s of one KDF core (a report of a run
  --logins-per-core <n>           that did not saturate a unit gives only a lower bound of its rate)
  --json                        print the plan as JSON
`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** A number from the command line: `9000000`, `9e6`, `9_000_000`, `9,000,000`, `8GiB`. */
function parseNumber(option: string, text: string | undefined, allowUnits = false): number | undefined {
  if (text === undefined) return undefined;
  const match = /^\s*([-+]?[\d_,]*\.?\d+(?:e[-+]?\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = UNITS[(match?.[2] ?? '').toLowerCase()];
  const value =
    match && unit !== undefined && (allowUnits || match[2] === '')
      ? Number(match[1]!.replace(/[_,]/g, '')) * unit
      : NaN;
  if (!Number.isFinite(value)) throw new UsageError(`--${option}: "${text}" is not a number`);
  return value;
}

/** `all`, a comma list of GB/T 2260 codes, or `topN` (the N largest provinces by candidates). */
function parseProvinces(text: string | undefined): ProvinceShare[] {
  const all = PROVINCES.map((p) => ({ code: p.code, name: p.name, weight: p.weight }));
  if (text === undefined || text === 'all') return all;
  const top = /^top(\d+)$/.exec(text);
  if (top) {
    const count = Number(top[1]);
    if (count < 1 || count > all.length)
      throw new UsageError(`--provinces: top${count} must be top1 … top${all.length}`);
    return [...all].sort((a, b) => b.weight - a.weight).slice(0, count);
  }
  return text.split(',').map((code) => {
    const province = all.find((p) => p.code === code.trim());
    if (!province) {
      throw new UsageError(
        `--provinces: unknown province "${code}"; use all, top1 … top${all.length}, or codes: ${all.map((p) => p.code).join(',')}`,
      );
    }
    return province;
  });
}

/**
 * The bench:shards figures to use: the named file, or the default one when it exists and no
 * --redis-ops overrides the rate; none with `--shards none`.
 */
function shardsFromArgs(option: string | undefined, redisOpsGiven: boolean): ShardsBasis | undefined {
  if (option === 'none') return undefined;
  if (option !== undefined && redisOpsGiven) {
    throw new UsageError("--shards and --redis-ops both set one shard's rate: pass one of them");
  }
  if (option === undefined && (redisOpsGiven || !existsSync(DEFAULT_SHARDS_FILE))) return undefined;
  const file = option ?? DEFAULT_SHARDS_FILE;
  try {
    return readShards(file);
  } catch (error) {
    if (error instanceof ShardsInputError) {
      throw new UsageError(
        option === undefined
          ? `${error.message} (or pass --shards none to use the report's rate)`
          : error.message,
      );
    }
    throw error;
  }
}

function planFromArgs(argv: readonly string[]): { plan: CapacityPlan; json: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        report: { type: 'string' },
        shards: { type: 'string' },
        candidates: { type: 'string' },
        provinces: { type: 'string' },
        'peak-window-s': { type: 'string' },
        'peak-share': { type: 'string' },
        'target-p99-ms': { type: 'string' },
        headroom: { type: 'string' },
        'login-share-in-peak': { type: 'string' },
        redundancy: { type: 'string' },
        'target-lag-s': { type: 'string' },
        'bytes-per-candidate': { type: 'string' },
        'max-memory-per-shard': { type: 'string' },
        'gateway-rps': { type: 'string' },
        'redis-ops': { type: 'string' },
        'writer-eps': { type: 'string' },
        'logins-per-core': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) throw new UsageError(''); // empty message: print the usage, exit 0
  const shards = shardsFromArgs(values.shards, values['redis-ops'] !== undefined);
  let reported: MeasuredCapacity;
  try {
    reported = readMeasured(values.report ?? DEFAULT_REPORT);
  } catch (error) {
    if (error instanceof ReportInputError) throw new UsageError(error.message);
    throw error;
  }
  const override = (option: string, value: number): number =>
    parseNumber(option, values[option as 'redis-ops']) ?? value;
  const measured: MeasuredCapacity = {
    ...reported,
    gatewayRequestsPerSec: override('gateway-rps', reported.gatewayRequestsPerSec),
    redisOpsPerSec: shards?.perShardOpsPerSec ?? override('redis-ops', reported.redisOpsPerSec),
    writerEventsPerSec: override('writer-eps', reported.writerEventsPerSec),
    loginsPerSecPerCore: override('logins-per-core', reported.loginsPerSecPerCore),
  };
  const scenario: PlanScenario = {
    candidates: parseNumber('candidates', values.candidates) ?? NATIONAL_CANDIDATES,
    provinces: parseProvinces(values.provinces),
    peakWindowS: parseNumber('peak-window-s', values['peak-window-s']),
    peakShare: parseNumber('peak-share', values['peak-share']),
    targetP99Ms: parseNumber('target-p99-ms', values['target-p99-ms']),
    headroom: parseNumber('headroom', values.headroom),
    loginShareInPeak: parseNumber('login-share-in-peak', values['login-share-in-peak']),
    redundancy: parseNumber('redundancy', values.redundancy),
    targetLagS: parseNumber('target-lag-s', values['target-lag-s']),
    bytesPerCandidate: parseNumber('bytes-per-candidate', values['bytes-per-candidate']),
    maxMemoryPerShardBytes: parseNumber('max-memory-per-shard', values['max-memory-per-shard'], true),
    ...(shards ? { redisRateNotes: shards.lines } : {}),
  };
  try {
    return { plan: planCapacity(measured, scenario), json: values.json };
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
}

function main(argv: readonly string[]): void {
  try {
    const { plan, json } = planFromArgs(argv);
    process.stdout.write(json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(
      error.message ? `plan: ${error.message}\n(tsx scripts/plan.ts --help lists the options)\n` : USAGE,
    );
    process.exit(error.message ? 1 : 0);
  }
}

main(process.argv.slice(2));
