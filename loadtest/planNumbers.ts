/**
 * Numbers as the capacity plan shows them in its arithmetic lines (loadtest/plan.ts builds the
 * lines, loadtest/planFormat.ts the table): grouped thousands, few decimals, never `NaN`.
 */

export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs === 0) return '0';
  if (abs >= 100) return Math.round(x).toLocaleString('en-US');
  if (abs >= 1) return x.toLocaleString('en-US', { maximumFractionDigits: 2 });
  return String(Number(x.toPrecision(3)));
}

export const pct = (x: number): string => `${num(x * 100)} %`;
