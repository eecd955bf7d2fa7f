/**
 * `handleSummary` for every scenario: writes `reports/k6/<scenario>.json` (SUMMARY_DIR overrides the
 * folder, relative to the directory k6 runs in; it must exist: `mkdir -p reports/k6`) with the
 * scenario's name, its configuration and profile, the slice of the test this instance ran (`shard`,
 * `executionSegment`), the threshold verdicts and k6's whole summary object; and prints a short
 * text summary (thresholds, then the main metrics) on stdout, since a `handleSummary` replaces k6's
 * own end-of-test text. A slice's file is named after it (`opening-shard-2-of-4.json`), so that
 * instances writing to one folder never overwrite each other.
 */
import exec from 'k6/execution';
import type { SurgeProfile } from '../../profiles.ts';
import { envStr, SHARD, SHARD_OPTIONS } from './env.ts';
import { sameSegment, sliceLabel } from './segment.ts';

interface MetricSummary {
  type?: string;
  values?: Record<string, number>;
  thresholds?: Record<string, { ok?: boolean }>;
}

interface SummaryData {
  metrics?: Record<string, MetricSummary>;
  state?: { testRunDurationMs?: number };
  [key: string]: unknown;
}

function fmt(value: number | undefined, unit: string): string {
  return value === undefined ? '-' : `${Math.round(value * 100) / 100}${unit}`;
}

function line(name: string, m: MetricSummary): string {
  const v = m.values ?? {};
  if (m.type === 'trend') {
    return `${name}: p50=${fmt(v.med, 'ms')} p90=${fmt(v['p(90)'], 'ms')} p99=${fmt(v['p(99)'], 'ms')} max=${fmt(v.max, 'ms')}`;
  }
  if (m.type === 'rate') return `${name}: ${fmt((v.rate ?? 0) * 100, '%')}`;
  if (m.type === 'counter') return `${name}: ${v.count ?? 0} (${fmt(v.rate, '/s')})`;
  return `${name}: ${fmt(v.value, '')}`;
}

export interface SummaryContext {
  readonly scenario: string;
  readonly profile?: SurgeProfile;
  /** The settings this run used (env values after defaults). */
  readonly config: Record<string, unknown>;
}

/**
 * The segment and sequence k6 actually ran (the command-line flags override SHARD's options), or
 * null for either when unsegmented or when this k6 does not expose them to handleSummary.
 */
function segmentRun(): { executionSegment: string | null; executionSegmentSequence: string | null } {
  try {
    const options = exec.test.options;
    return {
      executionSegment: options.executionSegment ?? null,
      executionSegmentSequence: options.executionSegmentSequence ?? null,
    };
  } catch {
    return { executionSegment: null, executionSegmentSequence: null };
  }
}

export function summaryHandler(ctx: SummaryContext): (data: SummaryData) => Record<string, string> {
  return (data) => {
    const ran = segmentRun();
    // With both SHARD and --execution-segment, k6 runs the flag's segment: name the file after it.
    const overridden =
      SHARD !== undefined &&
      ran.executionSegment !== null &&
      !sameSegment(ran.executionSegment, SHARD_OPTIONS.executionSegment ?? '0:1');
    const shard = overridden ? undefined : SHARD;
    const label = sliceLabel(shard, ran.executionSegment);
    const metrics = data.metrics ?? {};
    const verdicts: Record<string, Record<string, boolean>> = {};
    let ok = true;
    for (const [name, m] of Object.entries(metrics)) {
      if (!m.thresholds) continue;
      verdicts[name] = {};
      for (const [expr, t] of Object.entries(m.thresholds)) {
        const passed = t.ok !== false;
        verdicts[name][expr] = passed;
        ok &&= passed;
      }
    }
    const report = {
      scenario: ctx.scenario,
      generatedAt: new Date().toISOString(),
      shard: shard ? { index: shard.index, count: shard.count } : null,
      ...ran,
      thresholdsOk: ok,
      thresholds: verdicts,
      config: ctx.config,
      profile: ctx.profile ? { name: ctx.profile.name, points: ctx.profile.points } : null,
      k6: data,
    };
    const slice = shard
      ? ` (shard ${shard.index}/${shard.count})`
      : label
        ? ` (${ran.executionSegment})`
        : '';
    const text = [
      `\n${ctx.scenario}${slice}: thresholds ${ok ? 'PASSED' : 'FAILED'}`,
      ...(overridden
        ? [`  note: k6 ran ${ran.executionSegment} (command line), not SHARD=${__ENV.SHARD}`]
        : []),
      ...Object.entries(verdicts).flatMap(([name, exprs]) =>
        Object.entries(exprs).map(([expr, passed]) => `  ${passed ? 'ok  ' : 'FAIL'} ${name} ${expr}`),
      ),
      ...Object.entries(metrics)
        .filter(([name]) => !name.includes('{'))
        .map(([name, m]) => `  ${line(name, m)}`),
      '',
    ].join('\n');
    const dir = envStr('SUMMARY_DIR', 'reports/k6').replace(/\/+$/, '');
    const file = `${dir}/${ctx.scenario}${label ? `-${label}` : ''}.json`;
    return { [file]: JSON.stringify(report, null, 2), stdout: text };
  };
}
