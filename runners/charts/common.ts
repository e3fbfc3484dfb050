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
type VlSpec = Record<string, unknown>;

export interface Figure {
  /** File stem under figures/ (e.g. "accuracy-vs-state"). */
  name: string;
  title: string;
  /** One paragraph: what is plotted and how points were selected. */
  caption: string;
  spec: VlSpec;
  /** The plotted rows (written as figures/<name>.csv and shown in the report). */
  rows: Record<string, unknown>[];
  /**
   * A detail figure (one mixer's training curves) rather than a headline one: `plot --png headline` writes no PNG of
   * it. Its PNGs were the largest part of the campaign folders' figure bytes (3.6 of about 9 MB), and device calls
   * carry the tracked tree.
   */
  detail?: boolean;
}

export const FONT_FAMILY = 'DejaVu Sans';
// one copy in git: the fonts the committed reports under results/ load (results/vendor/DejaVu-README.md says where
// they come from) are the ones every figure is drawn with — every tracked byte travels with each device call
const FONT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'results', 'vendor');
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
  return mixerScale(all, present, PALETTE);
}

/** A scale over the mixers of `all` that are `present`, each keeping the value of its place in `all` (colour, marker). */
function mixerScale<T>(all: string[], present: string[], values: readonly T[]): { domain: string[]; range: T[] } {
  const domain = all.filter((m) => present.includes(m));
  return { domain, range: domain.map((m) => values[all.indexOf(m) % values.length]!) };
}

/** A marker per mixer (beside its colour), in the mixers' order: overlapping series stay told apart, in print too. */
const MIXER_SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'triangle-down', 'cross', 'triangle-right', 'triangle-left'];

/**
 * The shape channel of a figure's points: one marker per mixer, same domain as colorScale, so vega-lite draws one
 * legend (coloured markers) for both.
 */
export function mixerShape(all: string[], present: string[] = all): Record<string, unknown> {
  return { field: 'mixer', type: 'nominal', title: 'mixer', scale: mixerScale(all, present, MIXER_SHAPES) };
}

/** A dash per mixer for lines, in the mixers' order (solid first): lines that coincide stay told apart. */
const MIXER_DASHES: number[][] = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4], [1, 3], [10, 4], [3, 2, 1, 2]];

/**
 * The strokeDash channel of a figure's lines: one dash pattern per mixer, same field, title and domain as colorScale
 * and mixerShape, so vega-lite merges the three into the one legend. (`legend: null` here removed the merged legend
 * altogether: zoology-fig2's accuracy-vs-dmodel figure lost its mixers' names.)
 */
export function mixerDash(all: string[], present: string[] = all): Record<string, unknown> {
  return { field: 'mixer', type: 'nominal', title: 'mixer', scale: mixerScale(all, present, MIXER_DASHES) };
}

/**
 * Width per character that vega reserves for a subtitle at 11 px: without a canvas it estimates text as 0.8 em per
 * character (the glyphs themselves take ~0.56 em), and that estimate is what sizes the SVG/PNG canvas.
 */
const SUBTITLE_CHAR_PX = 0.8 * 11;

/** Rough drawn width of a spec's plots (px): facet columns × (panel + axes), or the sum of hconcat parts. */
function plotsWidth(spec: VlSpec): number {
  const inner = spec.spec as VlSpec | undefined;
  if (inner && typeof inner.width === 'number') {
    const panels = typeof spec.columns === 'number' ? spec.columns : 1;
    return panels * (inner.width + 70);
  }
  if (Array.isArray(spec.hconcat)) return (spec.hconcat as VlSpec[]).reduce((w, part) => w + plotsWidth(part) + 20, 0);
  return (typeof spec.width === 'number' ? spec.width : 300) + 70;
}

/** Words of `text` in lines of at most `maxChars` characters (a longer word stays whole on its own line). */
export function wrapText(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > maxChars) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * The subtitle as lines no wider than the plots and legend: one long line would set the canvas width, leaving a
 * narrow chart in a wide, mostly empty PNG and a clipped subtitle in the report.
 */
export function fitTitle(spec: VlSpec): VlSpec {
  const title = spec.title as { text?: string; subtitle?: string | string[] } | undefined;
  if (!title || typeof title.subtitle !== 'string') return spec;
  const maxChars = Math.max(40, Math.floor((plotsWidth(spec) + 160) / SUBTITLE_CHAR_PX));
  return { ...spec, title: { ...title, subtitle: wrapText(title.subtitle, maxChars) } };
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

export const ACCURACY_Y = (title = 'test accuracy (best lr on validation)', withLeftOutStrip = false) => ({
  field: 'accuracy',
  type: 'quantitative',
  title,
  ...(withLeftOutStrip ? leftOutAxis() : { scale: { domain: [0, 1] } }),
});

// Runs that are not results (failed, invalid, diverged before any evaluation: runners/analysis.ts) are drawn as ×
// in a grey strip BELOW the accuracy axis, labelled "left out" on that axis: at their x position, so the reader
// sees which model is missing, and never at an accuracy (least of all 0, which is what a faulted GPU reads back).

/** The y values of the strip: it spans [LEFT_OUT_STRIP[0], LEFT_OUT_STRIP[1]], marks sit in three lanes. */
const LEFT_OUT_STRIP: [number, number] = [-0.2, -0.04];
const LEFT_OUT_LANES = [-0.085, -0.12, -0.155];
/** The legend entry of the marks. */
export const LEFT_OUT_LEGEND = 'failed / invalid / diverged: not results';
/** An ×, as a filled outline (vega's "cross" is a +; a stroked path would vanish from legends that fill symbols). */
export const LEFT_OUT_SHAPE = 'M-1,-0.75L-0.75,-1L0,-0.25L0.75,-1L1,-0.75L0.25,0L1,0.75L0.75,1L0,0.25L-0.75,1L-1,0.75L-0.25,0Z';

/** y of a left-out mark: one lane per mixer (by its place in the figure's mixers), so marks of two mixers at one x stay apart. */
export function leftOutLaneY(mixerIndex: number): number {
  return LEFT_OUT_LANES[((mixerIndex % LEFT_OUT_LANES.length) + LEFT_OUT_LANES.length) % LEFT_OUT_LANES.length]!;
}

/** Scale and axis of an accuracy y that has the left-out strip under 0: ticks 0…1, and "left out" on the strip. */
function leftOutAxis(): Record<string, unknown> {
  const mid = (LEFT_OUT_STRIP[0] + LEFT_OUT_STRIP[1]) / 2;
  return {
    scale: { domain: [LEFT_OUT_STRIP[0], 1], nice: false },
    axis: {
      values: [mid, 0, 0.2, 0.4, 0.6, 0.8, 1],
      labelOverlap: false, // (the default thins labels out, dropping 0 next to "left out")
      labelExpr: `datum.value < 0 ? 'left out' : format(datum.value, '.1f')`,
      gridColor: { condition: { test: 'datum.value < 0', value: 'transparent' }, value: '#e8e8e8' },
      labelColor: { condition: { test: 'datum.value < 0', value: '#b00' }, value: '#333' },
    },
  };
}

/**
 * A dotted reference level across each panel — MQAR's 1/K plateau, set disjointness's guessing level — from rows
 * of `kind` holding `accuracy` and a short label in `labelField` (drawn at the right edge, above the rule).
 */
export function levelRuleLayer(kind: string, labelField: string): Record<string, unknown> {
  return {
    transform: [{ filter: `datum.kind === '${kind}'` }],
    layer: [
      { mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { y: { field: 'accuracy', type: 'quantitative' } } },
      { mark: { type: 'text', align: 'right', baseline: 'bottom', dy: -2, fontSize: 9, color: '#777' }, encoding: { x: { value: 'width' }, y: { field: 'accuracy', type: 'quantitative' }, text: { field: labelField } } },
    ],
  };
}

/** The grey band of the strip (a layer over the figure's rows: one band per panel, drawn under everything). */
export function leftOutBandLayer(title: string): Record<string, unknown> {
  return {
    transform: [{ aggregate: [{ op: 'count', as: 'n' }] }],
    mark: { type: 'rect', color: '#f1f1f1' },
    encoding: { y: { datum: LEFT_OUT_STRIP[0], type: 'quantitative', title, ...leftOutAxis() }, y2: { datum: LEFT_OUT_STRIP[1] } },
  };
}

/**
 * The × marks of rows of kind 'left-out' (fields: the x field, laneY, mixer, leftOutLegend and the tooltip's),
 * in the mixer's colour; the shape channel gives them their legend entry.
 */
export function leftOutMarkLayer(x: Record<string, unknown>, y: Record<string, unknown>, color: Record<string, unknown>, shape: Record<string, unknown>, tooltipFields: string[]): Record<string, unknown> {
  return {
    transform: [{ filter: "datum.kind === 'left-out'" }],
    mark: { type: 'point', filled: true, size: 80 },
    // the figure's accuracy y (scale and axis), on the lane: layers with differing axis settings get them merged
    encoding: { x, y: { ...y, field: 'laneY' }, color, shape, tooltip: tooltipFields.map((f) => ({ field: f })) },
  };
}

/** Legend of a shape channel holding the ×: labels uncut. */
export const LEFT_OUT_LEGEND_STYLE = { labelLimit: 400 };

/** A shape channel for figures without their own shapes: one legend entry, the ×. */
export function leftOutShapeOnly(): Record<string, unknown> {
  return { field: 'leftOutLegend', type: 'nominal', title: null, scale: { domain: [LEFT_OUT_LEGEND], range: [LEFT_OUT_SHAPE] }, legend: LEFT_OUT_LEGEND_STYLE };
}

/** Rounded for tables and tooltips (keeps files small and diffs readable). */
export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function compileSpec(spec: VlSpec): vega.Spec {
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

/** A figure point whose group is incomplete (FigurePoint.lrsMissing, seedsMissing): its subtitle note and caption sentence. */
export const PROVISIONAL_SUBTITLE = '; hollow: provisional (a learning rate or seed of the grid has no result yet)';
export const PROVISIONAL_CAPTION =
  " Hollow markers: provisional points — some learning rate or seed of the mixer's grid (every lr and seed any of its runs here was trained at) has no result for that model yet (not run, still in flight, or left out), so a finished search could still move the point.";

/** The row fields of a point that say whether it is provisional (hollow) and which lrs and seeds it lacks (the tooltip). */
export function provisionalFields(p: { lrsMissing: number[]; seedsMissing: number[] }): { provisional: boolean; lrsMissing: string; seedsMissing: string } {
  return {
    provisional: p.lrsMissing.length > 0 || p.seedsMissing.length > 0,
    lrsMissing: p.lrsMissing.length ? p.lrsMissing.map((lr) => lr.toPrecision(2)).join(' ') : 'none',
    seedsMissing: p.seedsMissing.length ? p.seedsMissing.join(' ') : 'none',
  };
}

/**
 * A point layer's encoding made hollow-aware, and the layer that outlines its provisional points: the filled layer
 * draws them with fill opacity 0, the returned layer draws their outline (mark `filled: false`) — [] when none is.
 */
export function provisionalLayers(rows: Record<string, unknown>[], pointFilter: string, encoding: Record<string, unknown>, size: number): { fill: Record<string, unknown>; outline: Record<string, unknown>[] } {
  if (!rows.some((r) => r.provisional === true)) return { fill: {}, outline: [] };
  return {
    fill: { fillOpacity: { condition: { test: 'datum.provisional', value: 0 }, value: 1 } },
    outline: [{ transform: [{ filter: `${pointFilter} && datum.provisional` }], mark: { type: 'point', filled: false, size, strokeWidth: 1.5 }, encoding }],
  };
}
