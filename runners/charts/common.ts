// Shared pieces of the charts: the Figure type, the vega-lite config (one bundled font), axis helpers, and the
// headless renderer: vega-lite → vega → SVG (vega's View with renderer 'none'), SVG → PNG with resvg using only
// the bundled font, so that a fresh machine draws the same pixels.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';

/** A vega-lite spec as plain JSON (the charts build them as data; vega-lite validates them when compiling). */
export type VlSpec = Record<string, unknown>;

export interface Figure {
  /** File stem under figures/ (e.g. "accuracy-vs-state"). */
  name: string;
  title: string;
  /** One paragraph: what is plotted and how points were selected. */
  caption: string;
  spec: VlSpec;
  /** The plotted rows (written as figures/<name>.csv and shown in the report). */
  rows: Record<string, unknown>[];
}

export const FONT_FAMILY = 'DejaVu Sans';
export const FONT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'assets', 'fonts', 'dejavu');
export const FONT_FILES = [join(FONT_DIR, 'DejaVuSans.ttf'), join(FONT_DIR, 'DejaVuSans-Bold.ttf')];

/** vega-lite config shared by every chart: the bundled font everywhere, white background. */
export function chartConfig(): Record<string, unknown> {
  return {
    font: FONT_FAMILY,
    background: 'white',
    padding: 8,
    view: { stroke: '#bbb' },
    axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#e8e8e8' },
    legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260 },
    header: { labelFontSize: 12, titleFontSize: 12, labelFontWeight: 'bold' },
    title: { fontSize: 14, anchor: 'start', subtitleFontSize: 11, subtitleColor: '#555' },
  };
}

// tableau10, then the lighter half of tableau20
const PALETTE = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac', '#9ecae9', '#ffbf79', '#ff9d98', '#88d27a', '#b79a20', '#d6a5c9', '#fcbfd2', '#d8b5a5', '#79706e', '#439894'];

/**
 * Colours of the mixers drawn in one figure: each mixer keeps the colour of its place in `all` (every mixer of the
 * results folder), so a mixer has the same colour in every figure while each legend lists only what it draws.
 */
export function colorScale(all: string[], present: string[] = all): Record<string, unknown> {
  const domain = all.filter((m) => present.includes(m));
  return { domain, range: domain.map((m) => PALETTE[all.indexOf(m) % PALETTE.length]!) };
}

/** Tick values at powers of two covering [lo, hi], thinned to at most ~8 ticks. */
export function powerOfTwoTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log2(Math.max(lo, 1e-9)));
  const b = Math.ceil(Math.log2(Math.max(hi, lo, 1e-9)));
  const step = Math.max(1, Math.ceil((b - a) / 7));
  const out: number[] = [];
  let e = a;
  for (; e < b; e += step) out.push(2 ** e);
  out.push(2 ** e); // the last tick is at or beyond hi, so no point falls off the axis
  return out;
}

/** An x axis in bytes on a log2 scale, labelled 2^k. */
export function log2BytesX(field: string, title: string, values: number[]): Record<string, unknown> {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const ticks = powerOfTwoTicks(lo, hi);
  return {
    field,
    type: 'quantitative',
    title,
    scale: { type: 'log', base: 2, domain: [ticks[0], ticks[ticks.length - 1]], nice: false },
    axis: { values: ticks, labelExpr: "'2^' + round(log(datum.value) / LN2)", grid: true, labelOverlap: false, labelFlush: false, labelBound: false },
  };
}

export const ACCURACY_Y = (title = 'test accuracy (best lr on validation)') => ({
  field: 'accuracy',
  type: 'quantitative',
  title,
  scale: { domain: [0, 1] },
});

/** Rounded for tables and tooltips (keeps files small and diffs readable). */
export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function compileSpec(spec: VlSpec): vega.Spec {
  return compile(spec as unknown as TopLevelSpec).spec;
}

/** Render a vega-lite spec to SVG without a browser (vega's own text-size estimate; no canvas needed). */
export async function renderSvg(spec: VlSpec): Promise<string> {
  const view = new vega.View(vega.parse(compileSpec(spec)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

let fontsChecked = false;

/** SVG → PNG with resvg, the bundled font only (system fonts off), at `scale`× the SVG's size. */
export function svgToPng(svg: string, scale = 2): Buffer {
  if (!fontsChecked) {
    for (const f of FONT_FILES) readFileSync(f); // a missing font file is an error here, not a silent fallback
    fontsChecked = true;
  }
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY },
  });
  return resvg.render().asPng();
}
