// In-context language learning (RegBench, Akyürek et al. 2024; the `icll` preset): how valid the greedy next token
// is — and how far the next-token distribution is from the uniform distribution over the allowed tokens (total
// variation) — as a function of the number of complete strings of the language seen in context. One panel per
// model width (and task setting), one line per mixer. A line = the mixer's point at that width: its best learning
// rate on validation (runners/analysis.ts), the test split of the best epoch, mean over its seeds. Drawn when the
// records hold regbench's metrics (RunRecord.testValidity).
import type { AnalysedRun, FigurePoint } from '../analysis.js';
import type { RunRecord } from '../results.js';
import { chartConfig, colorScale, round, type Figure } from './common.js';

/** Buckets with fewer scored test positions than this (over the point's seeds) are not drawn: too noisy. */
export const MIN_POSITIONS = 20;

type Metric = 'validity' | 'tv';

/** Rows of one metric: one per (point, strings seen), plus the delimiter floor per panel (validity only). */
function icllRows(points: FigurePoint[], records: Map<string, RunRecord>, metric: Metric): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const multiSetting = new Set(points.map((p) => p.setting.id)).size > 1;
  const floors = new Map<string, number[]>();
  for (const p of points) {
    const runs = p.bestRuns.map((r) => records.get(r.id)?.testValidity).filter((v): v is NonNullable<RunRecord['testValidity']> => !!v);
    if (runs.length === 0) continue;
    const panel = `d_model ${p.dModel}${multiSetting ? ` — ${p.setting.label}` : ''}`;
    const buckets = Math.max(...runs.map((v) => v.byStrings.positions.length));
    for (let k = 0; k < buckets; k++) {
      let positions = 0;
      const values: number[] = [];
      for (const v of runs) {
        const x = v.byStrings[metric][k];
        const n = v.byStrings.positions[k] ?? 0;
        if (typeof x === 'number' && n > 0) {
          values.push(x);
          positions += n;
        }
      }
      if (values.length === 0 || positions < MIN_POSITIONS) continue;
      rows.push({
        kind: 'point',
        panel,
        dModel: p.dModel,
        mixer: p.label,
        variant: p.variantLabel,
        strings: k,
        value: round(values.reduce((s, x) => s + x, 0) / values.length),
        positions,
        seeds: values.length,
        bestLr: p.bestLr,
      });
    }
    const floor = runs.map((v) => v.delimiterValidity).filter((x): x is number => typeof x === 'number');
    if (metric === 'validity' && floor.length) floors.set(panel, [...(floors.get(panel) ?? []), ...floor]);
  }
  for (const [panel, xs] of floors) {
    const level = xs.reduce((s, x) => s + x, 0) / xs.length;
    rows.push({ kind: 'floor', panel, value: round(level), floorLabel: `always the delimiter ${level.toFixed(2)}` });
  }
  return rows;
}

function icllFigure(points: FigurePoint[], records: Map<string, RunRecord>, mixers: string[], metric: Metric): Figure | undefined {
  const rows = icllRows(points, records, metric);
  if (!rows.some((r) => r.kind === 'point')) return undefined;
  const panels = [...new Map(rows.filter((r) => r.kind === 'point').map((r) => [r.panel as string, r.dModel as number])).entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).map(([p]) => p);
  const present = [...new Set(rows.filter((r) => r.kind === 'point').map((r) => r.mixer as string))];
  const color = { field: 'mixer', type: 'nominal', title: 'mixer', scale: colorScale(mixers, present) };
  const yTitle = metric === 'validity' ? 'validity of the greedy token (test)' : 'total variation to uniform over allowed (test)';
  const y = { field: 'value', type: 'quantitative', title: yTitle, scale: { domain: [0, 1] } };
  const x = { field: 'strings', type: 'quantitative', title: 'complete strings seen in context' };
  const tooltip = ['mixer', 'variant', 'strings', 'value', 'positions', 'seeds', 'bestLr'].map((f) => ({ field: f }));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: metric === 'validity' ? 'In-context language learning: validity vs strings seen' : 'In-context language learning: total variation vs strings seen',
      subtitle: `RegBench test languages (never seen in training); one line per mixer, best learning rate on validation; buckets with fewer than ${MIN_POSITIONS} positions left out${metric === 'validity' ? '; dotted: a model that always predicts the delimiter' : ''}`,
    },
    config: chartConfig(),
    data: { values: rows },
    facet: { field: 'panel', type: 'nominal', sort: panels, title: null },
    columns: Math.min(3, panels.length),
    spec: {
      width: 260,
      height: 200,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'floor'" }],
          layer: [
            { mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { y: { field: 'value', type: 'quantitative' } } },
            { mark: { type: 'text', align: 'right', baseline: 'bottom', dy: -2, fontSize: 9, color: '#777' }, encoding: { x: { value: 'width' }, y: { field: 'value', type: 'quantitative' }, text: { field: 'floorLabel' } } },
          ],
        },
        { transform: [{ filter: "datum.kind === 'point'" }], mark: { type: 'line', point: { size: 16 } }, encoding: { x, y, color, tooltip } },
      ],
    },
  };
  const what = metric === 'validity' ? 'validity (the greedy next token is one the language allows: a symbol with an edge from the current DFA state, or the delimiter where the string may end)' : 'total-variation distance between the model\'s next-token distribution and the uniform distribution over the allowed tokens (0 = exactly the language\'s next-token law)';
  return {
    name: metric === 'validity' ? 'icll-validity' : 'icll-tv',
    title: metric === 'validity' ? 'In-context language learning: validity vs number of strings seen (RegBench)' : 'In-context language learning: total variation vs number of strings seen (RegBench)',
    caption: `Mean ${what} over the test positions that follow k complete strings of the example's language, against k; the test languages are never seen in training. One panel per model width, one line per mixer at its best learning rate on validation (mean over seeds); buckets with fewer than ${MIN_POSITIONS} test positions are left out.${metric === 'validity' ? ' Dotted: the validity of always predicting the delimiter (valid wherever a string may end), which needs no knowledge of the language.' : ''}`,
    spec,
    rows,
  };
}

/** Validity and total variation vs strings seen, for the points whose runs hold regbench metrics. */
export function icllFigures(points: FigurePoint[], runs: AnalysedRun[], mixers: string[]): Figure[] {
  const records = new Map(runs.map((a) => [a.record.id, a.record]));
  const withMetrics = points.filter((p) => p.bestRuns.some((r) => records.get(r.id)?.testValidity));
  if (withMetrics.length === 0) return [];
  return (['validity', 'tv'] as const).map((m) => icllFigure(withMetrics, records, mixers, m)).filter((f): f is Figure => !!f);
}
