// Zoology Figure 2: test accuracy vs model dimension, one panel per MQAR (L, K) test slice, one line per mixer.
// A point = the best learning rate (on validation) for that (mixer, d_model, task setting); where a mixer has
// several variants at one width (e.g. Based f 8/16/24), the variant with the best validation accuracy.
import { bestVariantPerWidth, type FigurePoint } from '../analysis.js';
import { ACCURACY_Y, chartConfig, colorScale, round, type Figure } from './common.js';

export function accuracyVsWidth(points: FigurePoint[], mixers: string[]): Figure | undefined {
  const rows: Record<string, unknown>[] = [];
  const sliceOrder = new Map<string, [number, number, number]>();
  const best = bestVariantPerWidth(points);
  // a slice tested in several task settings (different training data) gets one panel per setting
  const settingsOfSlice = new Map<string, Set<string>>();
  for (const p of best) for (const s of p.setting.slices) settingsOfSlice.set(s.key, (settingsOfSlice.get(s.key) ?? new Set()).add(p.setting.id));
  for (const p of best) {
    for (const s of p.setting.slices) {
      if (s.seqLen === undefined || s.numKvPairs === undefined) continue;
      const acc = p.slices[s.key];
      if (!acc) continue;
      const panel = settingsOfSlice.get(s.key)!.size > 1 && p.setting.label !== s.key ? `${s.key} (in ${p.setting.label})` : s.key;
      sliceOrder.set(panel, [s.passes, s.seqLen, s.numKvPairs]);
      rows.push({
        mixer: p.label,
        slice: panel,
        dModel: p.dModel,
        variant: p.variantLabel,
        accuracy: round(acc.mean),
        lo: round(acc.min),
        hi: round(acc.max),
        seeds: acc.n,
        bestLr: p.bestLr,
        stateBytes: p.stateBytes.measured,
        setting: p.setting.label,
      });
    }
  }
  // draw only when some mixer has at least two widths on one slice
  const widths = new Map<string, Set<number>>();
  for (const r of rows) {
    const k = `${r.mixer}|${r.slice}`;
    widths.set(k, (widths.get(k) ?? new Set()).add(r.dModel as number));
  }
  if (![...widths.values()].some((s) => s.size >= 2)) return undefined;

  const slices = [...sliceOrder.entries()].sort(([, a], [, b]) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]).map(([k]) => k);
  const dValues = [...new Set(rows.map((r) => r.dModel as number))].sort((a, b) => a - b);
  const withSpread = rows.some((r) => (r.seeds as number) > 1);
  const x = { field: 'dModel', type: 'quantitative', title: 'model dimension d_model', scale: { type: 'log', base: 2, nice: false, padding: 8 }, axis: { values: dValues, format: 'd' } };
  const color = { field: 'mixer', type: 'nominal', title: 'mixer', scale: colorScale(mixers, [...new Set(rows.map((r) => r.mixer as string))]) };
  const tooltip = ['mixer', 'slice', 'dModel', 'variant', 'accuracy', 'lo', 'hi', 'bestLr', 'stateBytes'].map((f) => ({ field: f }));
  const layers: Record<string, unknown>[] = [
    { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: ACCURACY_Y('test accuracy'), color, opacity: { condition: { param: 'mixerPick', value: 1 }, value: 0.15 } } },
    {
      mark: { type: 'point', filled: true, size: 50 },
      params: [{ name: 'mixerPick', select: { type: 'point', fields: ['mixer'] }, bind: 'legend' }],
      encoding: { x, y: ACCURACY_Y('test accuracy'), color, tooltip, opacity: { condition: { param: 'mixerPick', value: 1 }, value: 0.15 } },
    },
  ];
  if (withSpread) layers.push({ mark: { type: 'rule' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } });
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'MQAR accuracy vs model dimension', subtitle: 'one panel per (L, K) test slice; best learning rate per point, chosen on validation' },
    config: chartConfig(),
    data: { values: rows },
    facet: { field: 'slice', type: 'nominal', sort: slices, title: null },
    columns: Math.min(4, slices.length),
    spec: { width: 200, height: 170, layer: layers },
  };
  return {
    name: 'accuracy-vs-dmodel',
    title: 'Accuracy vs model dimension (Zoology Fig. 2)',
    caption: `Test accuracy against d_model for every MQAR (L, K) test slice, one line per mixer. Each point is the learning rate with the best validation accuracy for that (mixer, d_model, task setting); where a mixer has several variants at one width, the best one on validation.${withSpread ? ' Bars: min–max over seeds; the point is the mean.' : ''}`,
    spec,
    rows,
  };
}
