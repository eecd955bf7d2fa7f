/**
 * The capacity plan as a plain-text table (what `npm run plan` prints): every tier with its
 * arithmetic, the per-province checks, the assumptions and the warnings. Pure string building.
 */
import type { CapacityPlan } from './plan.ts';
import { num, pct } from './planNumbers.ts';

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - text.length));
}

/** The plan as a plain-text table, then each line's arithmetic, province checks, assumptions. */
export function formatPlan(plan: CapacityPlan): string {
  const s = plan.scenario;
  const out: string[] = [];
  out.push(
    `Capacity plan: ${num(s.candidates)} candidates` +
      (s.provinces.length > 0 ? ` in ${s.provinces.length} province(s)` : '') +
      `, peak ${num(plan.arrivals.peakCandidatesPerSec)} candidates/s`,
    `target p99 ${num(s.targetP99Ms)} ms (measured ${num(plan.measured.p99Ms)} ms), headroom ${pct(s.headroom)}, ` +
      `spares N+${s.redundancy}`,
    '',
  );
  const tiers = [
    ['gateway', plan.gateway],
    ['Redis', plan.redis],
    ['writers', plan.writers],
    ['login', plan.login],
  ] as const;
  const rows = [
    ['tier', 'needed', 'spare', 'units', 'cores', 'unit'],
    ...tiers.map(([name, t]) => [
      name,
      String(t.needed),
      String(t.spare),
      String(t.units),
      String(t.cores),
      t.unitName,
    ]),
    ['total', '', '', '', String(plan.totalCores), 'cores (PostgreSQL not included)'],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows)
    out.push(
      row
        .map((cell, i) => pad(cell, widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  for (const [name, t] of tiers) {
    out.push('', `${name}:`);
    for (const line of t.arithmetic) out.push(`  ${line}`);
  }
  if (plan.provinces.length > 0) {
    out.push('', 'one province = one hash tag = one shard:');
    for (const check of plan.provinces) out.push(`  ${check.verdict}`);
  }
  out.push('', 'assumptions:');
  for (const a of plan.assumptions) out.push(`  - ${a}`);
  if (plan.warnings.length > 0) {
    out.push('', 'WARNINGS:');
    for (const w of plan.warnings) out.push(`  ! ${w}`);
  }
  return `${out.join('\n')}\n`;
}
