// BASED Figure 2: test accuracy vs recurrent state size (bytes, log2 axis), one colour per mixer, every model a
// point (its best learning rate on validation), each mixer's Pareto front drawn as a line, and the information-
// theoretic floor of MQAR marked (K·log2(V/2) bits for the hardest test slice). One panel per task setting.
// Also used, with `passes`, for the JRT-prompt figure (one front per mixer and number of passes).
import { compareSettings, paretoFront, settingFloor, type FigurePoint, type StateConvention, type TaskSetting } from '../analysis.js';
import { ACCURACY_Y, chartConfig, colorScale, log2BytesX, round, type Figure } from './common.js';

export interface StateRowsOptions {
  convention: StateConvention;
  /** Panel of a point (default: its setting's label). */
  panelOf?: (p: FigurePoint) => string;
  /** Series within a mixer that get their own front (default: none). */
  seriesOf?: (p: FigurePoint) => string;
  /** Accuracy of a point (default: test accuracy over all slices). */
  accuracyOf?: (p: FigurePoint) => { mean: number; min: number; max: number; n: number };
}

/** Rows of kinds 'point', 'front' (per panel, mixer, series) and 'floor' (per panel where the task has one). */
export function stateRows(points: FigurePoint[], opts: StateRowsOptions): Record<string, unknown>[] {
  const panelOf = opts.panelOf ?? ((p: FigurePoint) => p.setting.label);
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
  for (const [panel, setting] of floors) {
    const floor = settingFloor(setting);
    if (floor) {
      rows.push({
        kind: 'floor',
        panel,
        stateBytes: round(floor.bytes, 3),
        accuracy: 1,
        floorLabel: `floor: K·log2(V/2) = ${Math.round(floor.bits)} bits (K ${floor.numKvPairs}, V ${floor.vocabSize})`,
      });
    }
  }
  return rows;
}

/** The layered, faceted spec over stateRows (shared by the state and the JRT-prompt figures). */
export function stateSpec(
  rows: Record<string, unknown>[],
  mixers: string[],
  o: { title: string; subtitle: string; convention: StateConvention; yTitle?: string; seriesTitle?: string; panels: string[] },
): Record<string, unknown> {
  const xs = rows.map((r) => r.stateBytes as number).filter((v) => v > 0);
  const x = log2BytesX('stateBytes', `state (bytes, ${o.convention}; log2 axis)`, xs);
  const y = ACCURACY_Y(o.yTitle);
  const color = { field: 'mixer', type: 'nominal', title: 'mixer', scale: colorScale(mixers, [...new Set(rows.map((r) => r.mixer as string))]) };
  const withSeries = rows.some((r) => r.kind === 'point' && r.series !== '');
  const series = withSeries ? { field: 'series', type: 'nominal', title: o.seriesTitle ?? 'series' } : undefined;
  const pick = { condition: { param: 'mixerPick', value: 1 }, value: 0.15 };
  const tooltip = ['mixer', 'series', 'variant', 'stateBytes', 'stateBytesMeasured', 'stateBytesPaper', 'accuracy', 'lo', 'hi', 'bestLr', 'params']
    .filter((f) => f !== 'series' || withSeries)
    .map((f) => ({ field: f }));
  const layers: Record<string, unknown>[] = [
    {
      transform: [{ filter: "datum.kind === 'floor'" }],
      layer: [
        { mark: { type: 'rule', color: '#666', strokeDash: [5, 3] }, encoding: { x: { field: 'stateBytes', type: 'quantitative' } } },
        {
          mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 4, fontSize: 10, color: '#444', angle: 0 },
          encoding: { x: { field: 'stateBytes', type: 'quantitative' }, y: { value: 0 }, text: { field: 'floorLabel' } },
        },
      ],
    },
    {
      transform: [{ filter: "datum.kind === 'front'" }],
      mark: { type: 'line', strokeWidth: 1.8, interpolate: 'step-after' },
      encoding: { x, y, color, order: { field: 'order', type: 'quantitative' }, ...(series ? { strokeDash: series } : {}), opacity: pick },
    },
    {
      transform: [{ filter: "datum.kind === 'point'" }],
      mark: { type: 'point', filled: true, size: 45 },
      params: [{ name: 'mixerPick', select: { type: 'point', fields: ['mixer'] }, bind: 'legend' }],
      encoding: { x, y, color, ...(series ? { shape: series } : {}), tooltip, opacity: pick },
    },
  ];
  if (rows.some((r) => r.kind === 'point' && (r.seeds as number) > 1)) {
    layers.push({
      transform: [{ filter: "datum.kind === 'point'" }],
      mark: { type: 'rule' },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color, opacity: pick },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: o.title, subtitle: o.subtitle },
    config: chartConfig(),
    data: { values: rows },
    facet: { field: 'panel', type: 'nominal', sort: o.panels, title: null },
    columns: Math.min(3, o.panels.length),
    spec: { width: 300, height: 220, layer: layers },
  };
}

export function accuracyVsState(points: FigurePoint[], mixers: string[], convention: StateConvention): Figure | undefined {
  const selected = points.filter((p) => p.setting.passes === 1);
  if (selected.length === 0) return undefined;
  const rows = stateRows(selected, { convention });
  const panels = [...new Map(selected.map((p) => [p.setting.label, p.setting])).values()].sort(compareSettings).map((s) => s.label);
  const spec = stateSpec(rows, mixers, {
    title: 'Accuracy vs recurrent state size',
    subtitle: `every model at its best learning rate (validation); lines: each mixer's Pareto front; dashed: information-theoretic floor (MQAR)`,
    convention,
    panels,
  });
  return {
    name: 'accuracy-vs-state',
    title: 'Accuracy vs recurrent state size (BASED Fig. 2)',
    caption: `Test accuracy (mean over the test slices of the setting) against recurrent state size in bytes (fp32, ${convention} convention${convention === 'measured' ? ': counted from the tensors the step view holds' : ': the papers\' formulas'}), log2 axis. Every (mixer, size, variant) is one point at its best learning rate, chosen on validation; lines join each mixer's Pareto front (no smaller state reaches higher accuracy). Dashed rule: the information-theoretic floor of MQAR — answering K queries whose values come from V/2 tokens needs at least K·log2(V/2) bits of state (hardest test slice).`,
    spec,
    rows: rows.filter((r) => r.kind === 'point'),
  };
}
