// BASED Figure 2: test accuracy vs recurrent state size (bytes, log2 axis), one colour per mixer, every model a
// point (its best learning rate on validation), each mixer's Pareto front drawn as a line, and the information-
// theoretic floor of MQAR marked (K·log2(V/2) bits for the hardest test slice). One panel per task setting.
// Also used, with `passes`, for the JRT-prompt figure (one front per mixer and number of passes).
import { compareSettings, leftOutSummary, paretoFront, settingFloor, type FigurePoint, type LeftOutRun, type StateConvention, type TaskSetting } from '../analysis.js';
import { ACCURACY_Y, chartConfig, colorScale, LEFT_OUT_LEGEND, LEFT_OUT_LEGEND_STYLE, LEFT_OUT_SHAPE, leftOutBandLayer, levelRuleLayer, leftOutLaneY, leftOutMarkLayer, leftOutShapeOnly, log2BytesX, mixerShape, PROVISIONAL_CAPTION, PROVISIONAL_SUBTITLE, provisionalFields, provisionalLayers, round, type Figure } from './common.js';

interface StateRowsOptions {
  convention: StateConvention;
  /** Panel of a point or left-out run (default: its setting's label). */
  panelOf?: (p: { setting: TaskSetting }) => string;
  /** Series within a mixer that get their own front (default: none). */
  seriesOf?: (p: { setting: TaskSetting }) => string;
  /** Runs that are not results, drawn as × in the strip under the axis (rows of kind 'left-out'). */
  leftOut?: LeftOutRun[];
  /** Every mixer of the folder (a left-out mark's lane is its mixer's place here). */
  mixers?: string[];
  /** Accuracy of a point (default: test accuracy over all slices). */
  accuracyOf?: (p: FigurePoint) => { mean: number; min: number; max: number; n: number };
}

/**
 * Rows of kinds 'point', 'front' (per panel, mixer, series), 'floor' (per panel where the task has one),
 * 'left-out' (per panel and model whose runs were left out: one × at the model's state size) and
 * 'left-out-unplaced' (left-out runs whose state size no run of their group measured: counted, not drawn).
 */
export function stateRows(points: FigurePoint[], opts: StateRowsOptions): Record<string, unknown>[] {
  const panelOf = opts.panelOf ?? ((p: { setting: TaskSetting }) => p.setting.label);
  const seriesOf = opts.seriesOf ?? (() => '');
  const accuracyOf = opts.accuracyOf ?? ((p: FigurePoint) => p.test);
  const rows: Record<string, unknown>[] = [];
  const groups = new Map<string, FigurePoint[]>();
  const floors = new Map<string, TaskSetting>();
  for (const p of points) {
    const acc = accuracyOf(p);
    rows.push({
      kind: 'point',
      panel: panelOf(p),
      mixer: p.label,
      series: seriesOf(p),
      variant: p.variantLabel,
      dModel: p.dModel,
      stateBytes: p.stateBytes[opts.convention],
      stateBytesMeasured: p.stateBytes.measured,
      stateBytesPaper: p.stateBytes.paper,
      accuracy: round(acc.mean),
      lo: round(acc.min),
      hi: round(acc.max),
      seeds: acc.n,
      bestLr: p.bestLr,
      params: p.params,
      ...provisionalFields(p),
    });
    const g = `${panelOf(p)}\u0000${p.label}\u0000${seriesOf(p)}`;
    groups.set(g, [...(groups.get(g) ?? []), p]);
    if (!floors.has(panelOf(p))) floors.set(panelOf(p), p.setting);
  }
  for (const [g, ps] of groups) {
    const [panel, mixer, series] = g.split('\u0000') as [string, string, string];
    const front = paretoFront(ps, (p) => p.stateBytes[opts.convention], (p) => accuracyOf(p).mean);
    front.forEach((p, i) => rows.push({ kind: 'front', panel, mixer, series, order: i, stateBytes: p.stateBytes[opts.convention], accuracy: round(accuracyOf(p).mean), variant: p.variantLabel }));
  }
  rows.push(...leftOutRows(opts.leftOut ?? [], { panelOf, seriesOf, convention: opts.convention, mixers: opts.mixers ?? [] }));
  dodgeCoincident(rows, opts.mixers ?? []);
  for (const [panel, setting] of floors) {
    const plateau = mqarPlateau(setting);
    if (plateau !== undefined) rows.push({ kind: 'plateau', panel, accuracy: round(plateau), plateauLabel: `1/K plateau ${plateau.toFixed(3)}` });
    const floor = settingFloor(setting);
    if (floor) {
      rows.push({
        kind: 'floor',
        panel,
        stateBytes: round(floor.bytes, 3),
        accuracy: 1,
        // short: a label across the panel covered points; the formula is in the tooltip and the caption
        floorLabel: `floor ${Math.round(floor.bits)} bits`,
        floorDetail: `K·log2(V/2) = ${Math.round(floor.bits)} bits (K ${floor.numKvPairs}, V ${floor.vocabSize})`,
      });
    }
  }
  return rows;
}

/** Points of one panel closer than this in log2 bytes share a place (e.g. attention and a window spanning the sequence). */
const COINCIDENT_OCTAVES = 0.05;
/** The spacing of such points on the x axis, in octaves (about 6 px on a 14-octave panel 300 px wide). */
const DODGE_OCTAVES = 0.3;

/**
 * `statePlot`, the x a row is drawn at: its stateBytes, except for points of different mixers (or series) that share a
 * place in one panel — then spread a little apart in mixer order, so that no point hides another (the tooltip and the
 * tables keep the true size). A front's vertex moves with its point; left-out marks stay at their size.
 */
function dodgeCoincident(rows: Record<string, unknown>[], mixers: string[]): void {
  const key = (r: Record<string, unknown>) => `${r.panel}\u0000${r.mixer}\u0000${r.series}\u0000${r.stateBytes}`;
  const factor = new Map<string, number>();
  const rank = (m: string) => (mixers.includes(m) ? mixers.indexOf(m) : mixers.length);
  const byPanel = new Map<string, Record<string, unknown>[]>();
  for (const r of rows) if (r.kind === 'point') byPanel.set(r.panel as string, [...(byPanel.get(r.panel as string) ?? []), r]);
  for (const points of byPanel.values()) {
    const sorted = points.slice().sort((a, b) => (a.stateBytes as number) - (b.stateBytes as number) || rank(a.mixer as string) - rank(b.mixer as string) || String(a.series).localeCompare(String(b.series)));
    let i = 0;
    while (i < sorted.length) {
      let j = i + 1;
      while (j < sorted.length && Math.log2((sorted[j]!.stateBytes as number) / (sorted[i]!.stateBytes as number)) < COINCIDENT_OCTAVES) j++;
      const group = sorted.slice(i, j);
      if (new Set(group.map((r) => `${r.mixer}\u0000${r.series}`)).size > 1) group.forEach((r, g) => factor.set(key(r), 2 ** (DODGE_OCTAVES * (g - (group.length - 1) / 2))));
      i = j;
    }
  }
  for (const r of rows) if (typeof r.stateBytes === 'number') r.statePlot = round((r.stateBytes as number) * (r.kind === 'point' || r.kind === 'front' ? (factor.get(key(r)) ?? 1) : 1), 6);
}

/**
 * MQAR's plateau for a setting's accuracy (the mean over its test slices): a model that has learned to answer
 * with *some* value of the context but not the right one gets 1/K of each slice's K queries right, so the mean of
 * 1/K over the slices. Undefined when a slice is not MQAR-like (no K).
 */
function mqarPlateau(setting: TaskSetting): number | undefined {
  const ks = setting.slices.map((s) => s.numKvPairs);
  if (!ks.length || ks.some((k) => k === undefined || k <= 0)) return undefined;
  return ks.reduce((sum: number, k) => sum + 1 / k!, 0) / ks.length;
}

/** One row per (panel, series, model) with left-out runs: where its × goes, how many runs, and why. */
export function leftOutRows(
  runs: LeftOutRun[],
  o: { panelOf: (p: { setting: TaskSetting }) => string; seriesOf: (p: { setting: TaskSetting }) => string; convention: StateConvention; mixers: string[] },
): Record<string, unknown>[] {
  // lanes by place among the mixers that have left-out runs here: marks of two such mixers at one x never overlap
  const laneMixers = o.mixers.filter((m) => runs.some((r) => r.label === m));
  const byModel = new Map<string, LeftOutRun[]>();
  for (const r of runs) {
    const k = `${o.panelOf(r)}\u0000${o.seriesOf(r)}\u0000${r.key}`;
    byModel.set(k, [...(byModel.get(k) ?? []), r]);
  }
  return [...byModel.values()].map((rs) => {
    const r = rs[0]!;
    const placed = r.stateBytes !== undefined && r.stateBytes[o.convention] > 0;
    return {
      kind: placed ? 'left-out' : 'left-out-unplaced',
      panel: o.panelOf(r),
      mixer: r.label,
      series: o.seriesOf(r),
      variant: r.variantLabel,
      dModel: r.dModel,
      ...(placed ? { stateBytes: r.stateBytes![o.convention], laneY: leftOutLaneY(Math.max(0, laneMixers.indexOf(r.label))) } : {}),
      runsLeftOut: rs.length,
      leftOut: leftOutSummary(rs),
      learningRates: [...new Set(rs.map((x) => x.lr))].sort((a, b) => a - b).join(' '),
      reasons: [...new Set(rs.map((x) => `${x.kind}: ${x.reason.length > 160 ? `${x.reason.slice(0, 157)}...` : x.reason}`))].slice(0, 3).join(' | '),
      pointFromOtherRuns: r.groupHasPoint ? 'yes' : 'no',
      leftOutLegend: LEFT_OUT_LEGEND,
    };
  });
}

/** "; × under the axis: N runs that are not results (...)" for a caption, or '' when the figure has none. */
export function leftOutCaption(rows: Record<string, unknown>[]): string {
  const drawn = rows.filter((r) => r.kind === 'left-out');
  const unplaced = rows.filter((r) => r.kind === 'left-out-unplaced');
  const n = (rs: Record<string, unknown>[]) => rs.reduce((s, r) => s + (r.runsLeftOut as number), 0);
  if (drawn.length + unplaced.length === 0) return '';
  return ` × in the grey "left out" strip under the axis: ${n(drawn)} run(s) that are NOT results (failed: the GPU faulted or the run crashed; invalid: numbers no working model produces, see \`recallbench verify\`; diverged before any evaluation), at their model's x position and never as an accuracy; they took no part in choosing the best learning rate. Hover a × for the reasons; tables/excluded.csv lists every run.${unplaced.length ? ` ${n(unplaced)} more left-out run(s) are not drawn: no run of their model measured its state size.` : ''}`;
}

/** Shapes of the series (passes), in order; the × is kept for left-out runs. */
const SERIES_SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'triangle-down', 'triangle-right'];

/** The layered, faceted spec over stateRows (shared by the state and the JRT-prompt figures). */
export function stateSpec(
  rows: Record<string, unknown>[],
  mixers: string[],
  o: { title: string; subtitle: string; convention: StateConvention; yTitle?: string; seriesTitle?: string; panels: string[] },
): Record<string, unknown> {
  const xs = rows.map((r) => (r.statePlot ?? r.stateBytes) as number).filter((v) => v > 0);
  // drawn at statePlot (coincident points of several mixers spread apart: dodgeCoincident); tooltips say stateBytes
  const x = log2BytesX('statePlot', `state (bytes, ${o.convention}; log2 axis)`, xs);
  // the mixers drawn here, in `mixers`' order of colours and markers
  const present = [...new Set(rows.map((r) => r.mixer as string))];
  const color = { field: 'mixer', type: 'nominal', title: 'mixer', scale: colorScale(mixers, present) };
  const withSeries = rows.some((r) => r.kind === 'point' && r.series !== '');
  const withLeftOut = rows.some((r) => r.kind === 'left-out');
  const y = ACCURACY_Y(o.yTitle, withLeftOut);
  const series = withSeries ? { field: 'series', type: 'nominal', title: o.seriesTitle ?? 'series' } : undefined;
  // one shape legend: the series' shapes, then the × of left-out runs (a second shape field would share the scale)
  const seriesValues = [...new Set(rows.filter((r) => r.kind === 'point' || r.kind === 'left-out').map((r) => r.series as string))].sort();
  const shape = withSeries
    ? { field: 'shapeKey', type: 'nominal', title: o.seriesTitle ?? 'series', scale: { domain: [...seriesValues, ...(withLeftOut ? [LEFT_OUT_LEGEND] : [])], range: [...seriesValues.map((_, i) => SERIES_SHAPES[i % SERIES_SHAPES.length]!), ...(withLeftOut ? [LEFT_OUT_SHAPE] : [])] }, legend: LEFT_OUT_LEGEND_STYLE }
    : undefined;
  const pick = { condition: { param: 'mixerPick', value: 1 }, value: 0.15 };
  const tooltip = ['mixer', 'series', 'variant', 'stateBytes', 'stateBytesMeasured', 'stateBytesPaper', 'accuracy', 'lo', 'hi', 'bestLr', 'lrsMissing', 'seedsMissing', 'params']
    .filter((f) => f !== 'series' || withSeries)
    .map((f) => ({ field: f }));
  const pointEncoding = { x, y, color, ...(shape ? { shape } : withLeftOut ? {} : { shape: mixerShape(mixers, present) }), tooltip, opacity: pick };
  const hollow = provisionalLayers(rows, "datum.kind === 'point'", pointEncoding, 45);
  const layers: Record<string, unknown>[] = [
    ...(withLeftOut ? [leftOutBandLayer(o.yTitle ?? 'test accuracy (best lr on validation)')] : []),
    {
      transform: [{ filter: "datum.kind === 'floor'" }],
      layer: [
        { mark: { type: 'rule', color: '#666', strokeDash: [5, 3] }, encoding: { x: { field: 'stateBytes', type: 'quantitative' } } },
        {
          mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 4, fontSize: 10, color: '#444', angle: 0 },
          encoding: { x: { field: 'stateBytes', type: 'quantitative' }, y: { value: 0 }, text: { field: 'floorLabel' }, tooltip: [{ field: 'floorDetail', title: 'information-theoretic floor' }] },
        },
      ],
    },
    levelRuleLayer('plateau', 'plateauLabel'),
    {
      transform: [{ filter: "datum.kind === 'front'" }],
      mark: { type: 'line', strokeWidth: 1.8, interpolate: 'step-after' },
      encoding: { x, y, color, order: { field: 'order', type: 'quantitative' }, ...(series ? { strokeDash: series } : {}), opacity: pick },
    },
    {
      transform: [{ filter: "datum.kind === 'point'" }],
      mark: { type: 'point', filled: true, size: 45 },
      params: [{ name: 'mixerPick', select: { type: 'point', fields: ['mixer'] }, bind: 'legend' }],
      // series (JRT prompting's p) take the shape channel, else a marker per mixer unless the left-out × holds it;
      // a provisional point hollow (its outline drawn by the layer after this one)
      encoding: { ...pointEncoding, ...hollow.fill },
    },
    ...hollow.outline,
  ];
  if (withLeftOut) {
    layers.push(leftOutMarkLayer(x, y, color, shape ?? leftOutShapeOnly(), ['mixer', ...(withSeries ? ['series'] : []), 'variant', 'stateBytes', 'leftOut', 'learningRates', 'pointFromOtherRuns', 'reasons']));
  }
  if (rows.some((r) => r.kind === 'point' && (r.seeds as number) > 1)) {
    layers.push({
      transform: [{ filter: "datum.kind === 'point'" }],
      mark: { type: 'rule' },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color, opacity: pick },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: o.title, subtitle: `${o.subtitle}${hollow.outline.length ? PROVISIONAL_SUBTITLE : ''}` },
    config: chartConfig(),
    data: { values: rows },
    ...(withSeries ? { transform: [{ calculate: `datum.kind === 'left-out' ? ${JSON.stringify(LEFT_OUT_LEGEND)} : datum.series`, as: 'shapeKey' }] } : {}),
    facet: { field: 'panel', type: 'nominal', sort: o.panels, title: null },
    columns: Math.min(3, o.panels.length),
    spec: { width: 300, height: 220, layer: layers },
  };
}

export function accuracyVsState(points: FigurePoint[], mixers: string[], convention: StateConvention, leftOut: LeftOutRun[] = []): Figure | undefined {
  const selected = points.filter((p) => p.setting.passes === 1);
  const selectedLeftOut = leftOut.filter((r) => r.setting.passes === 1);
  if (selected.length + selectedLeftOut.length === 0) return undefined;
  const rows = stateRows(selected, { convention, leftOut: selectedLeftOut, mixers });
  if (!rows.some((r) => r.kind === 'point' || r.kind === 'left-out')) return undefined;
  const panels = [...new Map([...selected, ...selectedLeftOut].map((p) => [p.setting.label, p.setting])).values()].sort(compareSettings).map((s) => s.label);
  const spec = stateSpec(rows, mixers, {
    title: 'Accuracy vs recurrent state size',
    subtitle: `every model at its best learning rate (validation); lines: each mixer's Pareto front${rows.some((r) => r.kind === 'floor') ? '; dashed: information-theoretic floor (MQAR)' : ''}${rows.some((r) => r.kind === 'plateau') ? '; dotted: the 1/K plateau' : ''}${rows.some((r) => r.kind === 'left-out') ? '; ×: runs that are not results (left out)' : ''}`,
    convention,
    panels,
  });
  return {
    name: 'accuracy-vs-state',
    title: 'Accuracy vs recurrent state size (BASED Fig. 2)',
    caption: `Test accuracy (mean over the test slices of the setting) against recurrent state size in bytes (fp32, ${convention} convention${convention === 'measured' ? ': counted from the tensors the step view holds' : ': the papers\' formulas'}), log2 axis. Every (mixer, size, variant) is one point at its best learning rate, chosen on validation; lines join each mixer's Pareto front (no smaller state reaches higher accuracy).${rows.some((r) => r.kind === 'floor') ? ' Dashed rule: the information-theoretic floor of MQAR — answering K queries whose values come from V/2 tokens needs at least K·log2(V/2) bits of state (hardest test slice).' : ''}${rows.some((r) => r.kind === 'plateau') ? ' Dotted rule: the 1/K plateau (the mean of 1/K over the test slices), where a model answers with some value of its context but not the right one — the level MQAR models sit at before they learn to recall.' : ''}${rows.some((r) => r.kind === 'point' && r.statePlot !== r.stateBytes) ? ' Points of several mixers at one state size (within 0.05 octave) are drawn 0.3 octave apart, so that none hides another; the tooltip and tables/points.csv give the true size.' : ''}${rows.some((r) => r.provisional === true) ? PROVISIONAL_CAPTION : ''}${leftOutCaption(rows)}`,
    spec,
    rows: rows.filter((r) => r.kind === 'point' || r.kind === 'left-out' || r.kind === 'left-out-unplaced'),
  };
}
