/**
 * Inline SVG charts for the self-contained report page: a line chart (several series, a left and an
 * optional right axis, ticks, legend, hover tooltips through SVG <title>, so no script is needed)
 * and a horizontal bar chart (grouped or stacked). Pure string building: every piece of text goes
 * through `escapeHtml`, every coordinate through `coord`, so no `NaN` or `Infinity` can reach the
 * markup; a chart with nothing to draw says "no data" instead.
 */

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text for HTML/SVG content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Twelve distinguishable colours (Tableau 10 and two more); series past twelve cycle. */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
] as const;

export function colorAt(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}

/** A coordinate for the markup: one decimal, and 0 for anything non-finite (never reached). */
function coord(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value * 10) / 10) : '0';
}

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 2 });

/** Axis and tooltip numbers: 950, 1.2K, 3.4M, 0.25. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (Math.abs(value) >= 1000) return compact.format(value);
  return String(Math.round(value * 100) / 100);
}

/** Seconds as `42s` or `12:05` (minutes:seconds). */
export function formatSeconds(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (Math.abs(value) < 120) return `${Math.round(value * 10) / 10}s`;
  const whole = Math.round(value);
  const minutes = Math.floor(whole / 60);
  return `${minutes}:${String(whole - minutes * 60).padStart(2, '0')}`;
}

/** Rough rendered width of `text` at 11 px: CJK characters are about twice as wide. */
export function textWidth(text: string, fontPx = 11): number {
  let width = 0;
  for (const ch of text) width += ch.codePointAt(0)! >= 0x2e80 ? fontPx : fontPx * 0.6;
  return width;
}

export interface Scale {
  readonly min: number;
  readonly max: number;
  readonly ticks: readonly number[];
}

/** Round ticks covering [min, max]: steps of 1, 2, 2.5 or 5 × 10^k, about `count` of them. */
export function niceScale(min: number, max: number, count = 5): Scale {
  let lo = Number.isFinite(min) ? min : 0;
  let hi = Number.isFinite(max) ? max : 1;
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) hi = lo === 0 ? 1 : lo + Math.abs(lo) * 0.5;
  const raw = (hi - lo) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  return ticksFor(lo, hi, step);
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 43_200, 86_400];

/** Ticks for seconds: multiples of 1 s … 1 day, at most `count + 2` of them. */
export function timeScale(min: number, max: number, count = 6): Scale {
  const lo = Number.isFinite(min) ? min : 0;
  let hi = Number.isFinite(max) ? max : 1;
  if (hi <= lo) hi = lo + 1;
  const days = Math.ceil((hi - lo) / (count + 1) / 86_400) * 86_400;
  const step = TIME_STEPS.find((s) => (hi - lo) / s <= count + 1) ?? days;
  const scale = ticksFor(lo, hi, step);
  return { min: lo, max: hi, ticks: scale.ticks.filter((t) => t >= lo && t <= hi) };
}

function ticksFor(lo: number, hi: number, step: number): Scale {
  const first = Math.floor(lo / step) * step;
  const last = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let i = 0; first + i * step <= last + step * 1e-9 && i < 1000; i++) {
    ticks.push(Number((first + i * step).toPrecision(12)));
  }
  return { min: first, max: last, ticks };
}

// ---------------------------------------------------------------------------------------------
// Line chart
// ---------------------------------------------------------------------------------------------

export interface LineSeries {
  readonly name: string;
  /** [x, y] pairs in x order; a null y (or a non-finite one) breaks the line. */
  readonly points: readonly (readonly [number, number | null])[];
  readonly color?: string;
  readonly dashed?: boolean;
  readonly strokeWidth?: number;
  /** Which y axis the series is read against (default left). */
  readonly axis?: 'left' | 'right';
}

export interface LineChartOptions {
  readonly title: string;
  readonly series: readonly LineSeries[];
  readonly xLabel: string;
  readonly yLabel: string;
  /** Label of the right axis; the axis is drawn when a series uses it. */
  readonly rightLabel?: string;
  /** `time`: x is seconds, ticked at round minutes. */
  readonly xAxis?: 'time' | 'number';
  readonly width?: number;
  readonly plotHeight?: number;
  /** A sentence under the title. */
  readonly note?: string;
}

/** `text` cut with an ellipsis to fit `width` pixels (by `textWidth`). */
function truncate(text: string, width: number): string {
  if (textWidth(text) <= width) return text;
  let out = '';
  for (const ch of text) {
    if (textWidth(`${out}${ch}…`) > width) break;
    out += ch;
  }
  return `${out}…`;
}

const LEGEND_ROW = 18;

interface Layout {
  readonly legend: string;
  readonly height: number;
}

function legend(
  items: readonly { name: string; color: string; dashed?: boolean; kind: 'line' | 'box' }[],
  x0: number,
  width: number,
): Layout {
  const parts: string[] = [];
  let x = x0;
  let row = 0;
  for (const item of items) {
    const itemWidth = 22 + textWidth(item.name) + 16;
    if (x + itemWidth > x0 + width && x > x0) {
      row += 1;
      x = x0;
    }
    const y = 12 + row * LEGEND_ROW;
    const mark =
      item.kind === 'line'
        ? `<line x1="${coord(x)}" y1="${y}" x2="${coord(x + 16)}" y2="${y}" stroke="${item.color}" stroke-width="2.5"${item.dashed ? ' stroke-dasharray="5 3"' : ''}/>`
        : `<rect x="${coord(x + 3)}" y="${y - 5}" width="10" height="10" fill="${item.color}"/>`;
    parts.push(
      `<g class="legend-item">${mark}<text x="${coord(x + 22)}" y="${y + 4}">${escapeHtml(item.name)}</text></g>`,
    );
    x += itemWidth;
  }
  return { legend: parts.join(''), height: items.length === 0 ? 0 : (row + 1) * LEGEND_ROW + 6 };
}

function finitePoints(series: LineSeries): (readonly [number, number])[] {
  const out: (readonly [number, number])[] = [];
  for (const [x, y] of series.points)
    if (Number.isFinite(x) && y !== null && Number.isFinite(y)) out.push([x, y]);
  return out;
}

/**
 * Runs of drawable points (a null or non-finite y ends a run), thinned to at most two points
 * (the lowest and the highest, in x order) per pixel column, so long runs stay small.
 */
function runs(series: LineSeries, toPx: (x: number) => number): (readonly [number, number])[][] {
  const out: (readonly [number, number])[][] = [];
  let run: (readonly [number, number])[] = [];
  let column = Number.NaN;
  let low: readonly [number, number] | null = null;
  let high: readonly [number, number] | null = null;
  const flush = (): void => {
    if (low && high) run.push(...(low === high ? [low] : low[0] <= high[0] ? [low, high] : [high, low]));
    low = high = null;
  };
  for (const [x, y] of series.points) {
    if (!Number.isFinite(x)) continue;
    if (y === null || !Number.isFinite(y)) {
      flush();
      if (run.length > 0) out.push(run);
      run = [];
      column = Number.NaN;
      continue;
    }
    const px = Math.floor(toPx(x));
    if (px !== column) {
      flush();
      column = px;
    }
    const point = [x, y] as const;
    if (!low || y < low[1]) low = point;
    if (!high || y > high[1]) high = point;
  }
  flush();
  if (run.length > 0) out.push(run);
  return out;
}

function noData(x: number, y: number, width: number, height: number): string {
  return (
    `<rect x="${coord(x)}" y="${coord(y)}" width="${coord(width)}" height="${coord(height)}" class="frame"/>` +
    `<text x="${coord(x + width / 2)}" y="${coord(y + height / 2)}" text-anchor="middle" class="no-data">no data</text>`
  );
}

/** A line chart as a <figure> holding an inline <svg>. */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 920;
  const plotHeight = options.plotHeight ?? 240;
  const hasRight = options.series.some((s) => s.axis === 'right');
  // The right margin is kept without a right axis too, so the time axes of stacked charts line up.
  const margin = { left: 64, right: 64, bottom: 42 };
  const plotWidth = width - margin.left - margin.right;
  const colored = options.series.map((s, i) => ({ ...s, color: s.color ?? colorAt(i) }));
  const { legend: legendSvg, height: legendHeight } = legend(
    colored.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed, kind: 'line' as const })),
    margin.left,
    plotWidth,
  );
  const top = legendHeight + 8;
  const height = top + plotHeight + margin.bottom;
  const parts: string[] = [legendSvg];

  const drawable = colored.map((s) => ({ series: s, points: finitePoints(s) }));
  const all = drawable.flatMap((d) => d.points);
  if (all.length === 0) {
    parts.push(noData(margin.left, top, plotWidth, plotHeight));
    return figure(options, width, height, parts.join(''));
  }

  const xs = all.map((p) => p[0]);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const xScale =
    options.xAxis === 'time' ? timeScale(xMin, xMax) : niceScale(xMin, xMax === xMin ? xMin + 1 : xMax);
  const xDomain = { min: xScale.min, max: xScale.max };
  const yScaleFor = (axis: 'left' | 'right'): Scale => {
    const ys = drawable
      .filter((d) => (d.series.axis ?? 'left') === axis)
      .flatMap((d) => d.points.map((p) => p[1]));
    return niceScale(Math.min(0, ...ys), ys.length > 0 ? Math.max(...ys) : 1);
  };
  const left = yScaleFor('left');
  const right = hasRight ? yScaleFor('right') : left;
  const toX = (x: number): number =>
    margin.left + ((x - xDomain.min) / (xDomain.max - xDomain.min)) * plotWidth;
  const toY = (scale: Scale, y: number): number =>
    top + plotHeight - ((y - scale.min) / (scale.max - scale.min)) * plotHeight;

  // Grid and axes.
  parts.push(
    `<rect x="${margin.left}" y="${top}" width="${coord(plotWidth)}" height="${plotHeight}" class="frame"/>`,
  );
  for (const tick of left.ticks) {
    const y = coord(toY(left, tick));
    parts.push(
      `<line x1="${margin.left}" y1="${y}" x2="${coord(margin.left + plotWidth)}" y2="${y}" class="grid"/>`,
      `<text x="${margin.left - 6}" y="${y}" dy="0.32em" text-anchor="end">${escapeHtml(formatNumber(tick))}</text>`,
    );
  }
  if (hasRight) {
    for (const tick of right.ticks) {
      const y = coord(toY(right, tick));
      parts.push(
        `<text x="${coord(margin.left + plotWidth + 6)}" y="${y}" dy="0.32em" class="right-tick">${escapeHtml(formatNumber(tick))}</text>`,
      );
    }
  }
  const formatX = options.xAxis === 'time' ? formatSeconds : formatNumber;
  for (const tick of xScale.ticks) {
    const x = coord(toX(tick));
    parts.push(
      `<line x1="${x}" y1="${coord(top + plotHeight)}" x2="${x}" y2="${coord(top + plotHeight + 4)}" class="axis"/>`,
      `<text x="${x}" y="${coord(top + plotHeight + 16)}" text-anchor="middle">${escapeHtml(formatX(tick))}</text>`,
    );
  }
  parts.push(
    `<text x="${coord(margin.left + plotWidth / 2)}" y="${coord(height - 6)}" text-anchor="middle" class="axis-label">${escapeHtml(options.xLabel)}</text>`,
    `<text transform="translate(14 ${coord(top + plotHeight / 2)}) rotate(-90)" text-anchor="middle" class="axis-label">${escapeHtml(options.yLabel)}</text>`,
  );
  if (hasRight && options.rightLabel) {
    parts.push(
      `<text transform="translate(${coord(width - 8)} ${coord(top + plotHeight / 2)}) rotate(90)" text-anchor="middle" class="axis-label">${escapeHtml(options.rightLabel)}</text>`,
    );
  }

  // Lines.
  for (const { series } of drawable) {
    const scale = series.axis === 'right' ? right : left;
    for (const run of runs(series, toX)) {
      const first = run[0]!;
      if (run.length === 1) {
        parts.push(
          `<circle cx="${coord(toX(first[0]))}" cy="${coord(toY(scale, first[1]))}" r="2" fill="${series.color}"/>`,
        );
        continue;
      }
      const d = run
        .map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${coord(toX(x))} ${coord(toY(scale, y))}`)
        .join('');
      parts.push(
        `<path d="${d}" fill="none" stroke="${series.color}" stroke-width="${series.strokeWidth ?? 1.6}" stroke-linejoin="round"${series.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
      );
    }
  }

  parts.push(hoverColumns(colored, xs, toX, margin.left, top, plotWidth, plotHeight, formatX));
  return figure(options, width, height, parts.join(''));
}

/** Transparent columns whose <title> lists every series' value there: tooltips without script. */
function hoverColumns(
  series: readonly (LineSeries & { color: string })[],
  xs: readonly number[],
  toX: (x: number) => number,
  left: number,
  top: number,
  plotWidth: number,
  plotHeight: number,
  formatX: (x: number) => string,
): string {
  const distinct = [...new Set(xs)].sort((a, b) => a - b);
  const columns = Math.min(distinct.length, Math.floor(plotWidth / 3));
  const lookups = series.map((s) => new Map(s.points.map(([x, y]) => [x, y] as const)));
  const parts: string[] = ['<g class="hover">'];
  for (let c = 0; c < columns; c++) {
    const x = distinct[Math.floor(((c + 0.5) * distinct.length) / columns)]!;
    const from = c === 0 ? left : (toX(distinct[Math.floor((c * distinct.length) / columns)]!) + toX(x)) / 2;
    const nextIndex = Math.floor(((c + 1.5) * distinct.length) / columns);
    const to =
      c === columns - 1 || nextIndex >= distinct.length
        ? left + plotWidth
        : (toX(x) + toX(distinct[nextIndex]!)) / 2;
    const lines = series.map((s, i) => {
      const y = lookups[i]!.get(x);
      return `${s.name}: ${y === undefined || y === null || !Number.isFinite(y) ? '—' : formatNumber(y)}`;
    });
    parts.push(
      `<rect x="${coord(from)}" y="${top}" width="${coord(Math.max(1, to - from))}" height="${plotHeight}">` +
        `<title>${escapeHtml([formatX(x), ...lines].join('\n'))}</title></rect>`,
    );
  }
  parts.push('</g>');
  return parts.join('');
}

function figure(
  options: { title: string; note?: string },
  width: number,
  height: number,
  body: string,
): string {
  const title = escapeHtml(options.title);
  return (
    `<figure class="chart"><figcaption>${title}</figcaption>` +
    (options.note ? `<p class="note">${escapeHtml(options.note)}</p>` : '') +
    `<svg viewBox="0 0 ${width} ${coord(height)}" width="${width}" height="${coord(height)}" role="img" aria-label="${title}">` +
    `${body}</svg></figure>`
  );
}

// ---------------------------------------------------------------------------------------------
// Bar chart
// ---------------------------------------------------------------------------------------------

export interface BarSeries {
  readonly name: string;
  /** One value per category (missing or non-finite values count as 0). */
  readonly values: readonly number[];
  readonly color?: string;
}

export interface BarChartOptions {
  readonly title: string;
  readonly categories: readonly string[];
  readonly series: readonly BarSeries[];
  readonly mode: 'grouped' | 'stacked';
  readonly valueLabel: string;
  readonly width?: number;
  readonly note?: string;
}

/** A horizontal bar chart (categories down the left) as a <figure> holding an inline <svg>. */
export function barChart(options: BarChartOptions): string {
  const width = options.width ?? 920;
  const colored = options.series.map((s, i) => ({ ...s, color: s.color ?? colorAt(i) }));
  const valueOf = (s: BarSeries, i: number): number => {
    const v = s.values[i];
    return v !== undefined && Number.isFinite(v) && v > 0 ? v : 0;
  };
  const labelWidth = Math.min(240, Math.max(60, ...options.categories.map((c) => textWidth(c) + 12)));
  const margin = { left: Math.round(labelWidth + 8), right: 70, bottom: 40 };
  const plotWidth = width - margin.left - margin.right;
  const { legend: legendSvg, height: legendHeight } = legend(
    colored.map((s) => ({ name: s.name, color: s.color, kind: 'box' as const })),
    margin.left,
    plotWidth,
  );
  const top = legendHeight + 8;
  const grouped = options.mode === 'grouped';
  const barHeight = 14;
  const bandHeight = (grouped ? barHeight * Math.max(1, colored.length) : barHeight) + 10;
  const plotHeight = Math.max(60, bandHeight * options.categories.length);
  const height = top + plotHeight + margin.bottom;
  const totals = options.categories.map((_, i) =>
    grouped
      ? Math.max(0, ...colored.map((s) => valueOf(s, i)))
      : colored.reduce((sum, s) => sum + valueOf(s, i), 0),
  );
  const parts: string[] = [legendSvg];
  if (options.categories.length === 0 || totals.every((t) => t === 0)) {
    parts.push(noData(margin.left, top, plotWidth, plotHeight));
    return figure(options, width, height, parts.join(''));
  }
  const scale = niceScale(0, Math.max(...totals));
  const toX = (v: number): number => margin.left + (v / scale.max) * plotWidth;
  parts.push(
    `<rect x="${margin.left}" y="${top}" width="${coord(plotWidth)}" height="${coord(plotHeight)}" class="frame"/>`,
  );
  for (const tick of scale.ticks) {
    const x = coord(toX(tick));
    parts.push(
      `<line x1="${x}" y1="${top}" x2="${x}" y2="${coord(top + plotHeight)}" class="grid"/>`,
      `<text x="${x}" y="${coord(top + plotHeight + 16)}" text-anchor="middle">${escapeHtml(formatNumber(tick))}</text>`,
    );
  }
  options.categories.forEach((category, i) => {
    const bandTop = top + i * bandHeight + 5;
    const shown = truncate(category, labelWidth - 12);
    parts.push(
      `<text x="${margin.left - 6}" y="${coord(bandTop + (bandHeight - 10) / 2)}" dy="0.32em" text-anchor="end">` +
        `<title>${escapeHtml(category)}</title>${escapeHtml(shown)}</text>`,
    );
    let stackedX = 0;
    colored.forEach((s, k) => {
      const value = valueOf(s, i);
      if (value === 0) return;
      const x0 = grouped ? 0 : stackedX;
      const y = grouped ? bandTop + k * barHeight : bandTop;
      parts.push(
        `<rect x="${coord(toX(x0))}" y="${coord(y)}" width="${coord(Math.max(1, toX(x0 + value) - toX(x0)))}" height="${barHeight - 2}" fill="${s.color}">` +
          `<title>${escapeHtml(`${category} · ${s.name}: ${value.toLocaleString('en-US')}`)}</title></rect>`,
      );
      if (grouped) {
        parts.push(
          `<text x="${coord(toX(value) + 4)}" y="${coord(y + barHeight / 2 - 1)}" dy="0.32em">${escapeHtml(formatNumber(value))}</text>`,
        );
      }
      stackedX += value;
    });
    if (!grouped) {
      parts.push(
        `<text x="${coord(toX(totals[i]!) + 4)}" y="${coord(bandTop + barHeight / 2 - 1)}" dy="0.32em">${escapeHtml(formatNumber(totals[i]!))}</text>`,
      );
    }
  });
  parts.push(
    `<text x="${coord(margin.left + plotWidth / 2)}" y="${coord(height - 6)}" text-anchor="middle" class="axis-label">${escapeHtml(options.valueLabel)}</text>`,
  );
  return figure(options, width, height, parts.join(''));
}
