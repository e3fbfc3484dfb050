// Zoology Figure 2: test accuracy vs model dimension, one panel per MQAR (L, K) test slice, one line per mixer.
// A point = the best learning rate (on validation) for that (mixer, d_model, task setting); where a mixer has
// several variants at one width (e.g. Based f 8/16/24), the variant with the best validation accuracy.
import { bestVariantPerWidth, leftOutSummary, type FigurePoint, type LeftOutRun, type SliceInfo, type TaskSetting } from '../analysis.js';
import { leftOutCaption } from './accuracyVsState.js';
import { ACCURACY_Y, chartConfig, colorScale, LEFT_OUT_LEGEND, leftOutBandLayer, levelRuleLayer, leftOutLaneY, leftOutMarkLayer, leftOutShapeOnly, mixerDash, mixerShape, PROVISIONAL_CAPTION, PROVISIONAL_SUBTITLE, provisionalFields, provisionalLayers, round, type Figure } from './common.js';

export function accuracyVsWidth(points: FigurePoint[], mixers: string[], leftOut: LeftOutRun[] = []): Figure | undefined {
  const rows: Record<string, unknown>[] = [];
  const sliceOrder = new Map<string, [number, number, number]>();
  const best = bestVariantPerWidth(points);
  // a slice tested in several task settings (different training data) gets one panel per setting
  const settingsOfSlice = new Map<string, Set<string>>();
  for (const p of [...best, ...leftOut]) for (const s of p.setting.slices) settingsOfSlice.set(s.key, (settingsOfSlice.get(s.key) ?? new Set()).add(p.setting.id));
  const panelOf = (setting: TaskSetting, s: SliceInfo): string | undefined => {
    if (s.seqLen === undefined || s.numKvPairs === undefined) return undefined;
    const panel = settingsOfSlice.get(s.key)!.size > 1 && setting.label !== s.key ? `${s.key} (in ${setting.label})` : s.key;
    sliceOrder.set(panel, [s.passes, s.seqLen, s.numKvPairs]);
    return panel;
  };
  for (const p of best) {
    for (const s of p.setting.slices) {
      const acc = p.slices[s.key];
      if (!acc) continue;
      const panel = panelOf(p.setting, s);
      if (panel === undefined) continue;
      rows.push({
        kind: 'point',
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
        // hollow: not every lr of the label's grid has a result in this group yet
        ...provisionalFields(p),
      });
    }
  }
  // left-out runs: one × per (mixer, d_model, panel) — every variant of that width together, as the line has one
  const leftOutByWidth = new Map<string, { panel: string; runs: LeftOutRun[] }>();
  for (const r of leftOut) {
    for (const s of r.setting.slices) {
      const panel = panelOf(r.setting, s);
      if (panel === undefined) continue;
      const k = `${r.label}\u0000${r.dModel}\u0000${panel}`;
      const entry = leftOutByWidth.get(k) ?? { panel, runs: [] };
      entry.runs.push(r);
      leftOutByWidth.set(k, entry);
    }
  }
  const laneMixers = mixers.filter((m) => leftOut.some((r) => r.label === m));
  for (const { panel, runs } of leftOutByWidth.values()) {
    const r = runs[0]!;
    const drawn = rows.some((x) => x.kind === 'point' && x.mixer === r.label && x.dModel === r.dModel && x.slice === panel);
    rows.push({
      kind: 'left-out',
      mixer: r.label,
      slice: panel,
      dModel: r.dModel,
      laneY: leftOutLaneY(Math.max(0, laneMixers.indexOf(r.label))),
      runsLeftOut: runs.length,
      leftOut: leftOutSummary(runs),
      variants: [...new Set(runs.map((x) => x.variantLabel))].join(', '),
      learningRates: [...new Set(runs.map((x) => x.lr))].sort((a, b) => a - b).join(' '),
      reasons: [...new Set(runs.map((x) => `${x.kind}: ${x.reason.length > 160 ? `${x.reason.slice(0, 157)}...` : x.reason}`))].slice(0, 3).join(' | '),
      pointFromOtherRuns: drawn ? 'yes' : 'no',
      leftOutLegend: LEFT_OUT_LEGEND,
      setting: r.setting.label,
    });
  }
  // the 1/K plateau of each panel: answering with some value of the context, not the right one
  for (const [panel, [, , K]] of sliceOrder) if (K > 0) rows.push({ kind: 'plateau', slice: panel, accuracy: round(1 / K), plateauLabel: `1/K = ${round(1 / K)}` });
  // draw only when some mixer has at least two widths on one slice
  const widths = new Map<string, Set<number>>();
  // (a width whose runs were all left out counts: its × is what the reader must see)
  for (const r of rows) {
    if (r.kind === 'plateau') continue;
    const k = `${r.mixer}|${r.slice}`;
    widths.set(k, (widths.get(k) ?? new Set()).add(r.dModel as number));
  }
  if (![...widths.values()].some((s) => s.size >= 2)) return undefined;

  // overlapping lines stay visible: each mixer's points sit a little left or right of their width (×2^±0.04 at
  // most on the log axis; tooltips and ticks give the true d_model)
  const drawnMixers = mixers.filter((m) => rows.some((r) => r.mixer === m));
  const nudge = (m: string) => (drawnMixers.length > 1 ? 2 ** (0.08 * (drawnMixers.indexOf(m) / (drawnMixers.length - 1) - 0.5)) : 1);
  for (const r of rows) if (r.kind !== 'plateau') r.dPlot = round((r.dModel as number) * nudge(r.mixer as string), 5);
  const slices = [...sliceOrder.entries()].sort(([, a], [, b]) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]).map(([k]) => k);
  const dValues = [...new Set(rows.filter((r) => r.kind !== 'plateau').map((r) => r.dModel as number))].sort((a, b) => a - b);
  const withSpread = rows.some((r) => (r.seeds as number) > 1);
  const withLeftOut = rows.some((r) => r.kind === 'left-out');
  const y = ACCURACY_Y('test accuracy', withLeftOut);
  const onlyPoints = { filter: "datum.kind === 'point'" };
  const x = { field: 'dPlot', type: 'quantitative', title: 'model dimension d_model', scale: { type: 'log', base: 2, nice: false, padding: 8 }, axis: { values: dValues, format: 'd' } };

  // the mixers drawn here, in `mixers`' order of colours and markers
  const present = [...new Set(rows.map((r) => r.mixer as string))];
  const color = { field: 'mixer', type: 'nominal', title: 'mixer', scale: colorScale(mixers, present) };
  const tooltip = ['mixer', 'slice', 'dModel', 'variant', 'accuracy', 'lo', 'hi', 'bestLr', 'lrsMissing', 'seedsMissing', 'stateBytes'].map((f) => ({ field: f }));
  const pointEncoding = { x, y, color, ...(withLeftOut ? {} : { shape: mixerShape(mixers, present) }), tooltip, opacity: { condition: { param: 'mixerPick', value: 1 }, value: 0.15 } };
  const hollow = provisionalLayers(rows, "datum.kind === 'point'", pointEncoding, 50);
  const withProvisional = hollow.outline.length > 0;
  const layers: Record<string, unknown>[] = [
    ...(withLeftOut ? [leftOutBandLayer('test accuracy')] : []),
    levelRuleLayer('plateau', 'plateauLabel'),
    // a dash per mixer: lines at the same accuracy (every mixer that solves a panel) would hide one another
    { transform: [onlyPoints], mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, color, strokeDash: mixerDash(mixers, present), opacity: { condition: { param: 'mixerPick', value: 1 }, value: 0.15 } } },
    {
      transform: [onlyPoints],
      mark: { type: 'point', filled: true, size: 50 },
      params: [{ name: 'mixerPick', select: { type: 'point', fields: ['mixer'] }, bind: 'legend' }],
      // a marker per mixer (one legend with the colours) — unless the × of left-out runs holds the shape channel;
      // a provisional point hollow (its outline drawn by the layer after this one)
      encoding: { ...pointEncoding, ...hollow.fill },
    },
    ...hollow.outline,
  ];
  if (withSpread) layers.push({ transform: [onlyPoints], mark: { type: 'rule' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } });
  if (withLeftOut) layers.push(leftOutMarkLayer(x, y, color, leftOutShapeOnly(), ['mixer', 'slice', 'dModel', 'variants', 'leftOut', 'learningRates', 'pointFromOtherRuns', 'reasons']));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'MQAR accuracy vs model dimension', subtitle: `one panel per (L, K) test slice; best learning rate per point, chosen on validation; dotted: the 1/K plateau${withProvisional ? PROVISIONAL_SUBTITLE : ''}${withLeftOut ? '; ×: runs that are not results (left out)' : ''}` },
    config: chartConfig(),
    data: { values: rows },
    facet: { field: 'slice', type: 'nominal', sort: slices, title: null },
    columns: Math.min(4, slices.length),
    spec: { width: 200, height: 170, layer: layers },
  };
  return {
    name: 'accuracy-vs-dmodel',
    title: 'Accuracy vs model dimension (Zoology Fig. 2)',
    caption: `Test accuracy against d_model for every MQAR (L, K) test slice, one line per mixer. Each point is the learning rate with the best validation accuracy for that (mixer, d_model, task setting); where a mixer has several variants at one width, the best one on validation. Dotted rule: the 1/K plateau, where a model answers with some value of its context but not the right one (MQAR models sit there before they learn to recall).${withSpread ? ' Bars: min–max over seeds; the point is the mean.' : ''}${withProvisional ? PROVISIONAL_CAPTION : ''}${leftOutCaption(rows)}`,
    spec,
    rows,
  };
}
