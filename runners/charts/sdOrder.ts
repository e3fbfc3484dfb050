// JRT Figure 2: set disjointness accuracy vs state size for small-first (|A| < |B|) and large-first slices, and
// their difference (small − large). Causal models should do better when the small set comes first, more so as
// the state shrinks; a non-causal model should barely depend on the order.
import { orderSplit, paretoFront, type FigurePoint, type LeftOutRun, type StateConvention } from '../analysis.js';
import { leftOutCaption, leftOutRows } from './accuracyVsState.js';
import { ACCURACY_Y, chartConfig, colorScale, leftOutBandLayer, levelRuleLayer, leftOutMarkLayer, leftOutShapeOnly, log2BytesX, round, type Figure } from './common.js';

const PANELS = ['small set first', 'large set first'];
/** The difference panel's axis spans at least ±this (accuracy), symmetric about 0. */
const DIFFERENCE_SPAN = 0.05;

export function sdOrderFigures(points: FigurePoint[], mixers: string[], convention: StateConvention, leftOut: LeftOutRun[] = []): Figure[] {
  const bySetting = new Map<string, FigurePoint[]>();
  for (const p of points) {
    if (p.setting.passes !== 1 || !orderSplit(p)) continue;
    bySetting.set(p.setting.id, [...(bySetting.get(p.setting.id) ?? []), p]);
  }
  const figures: Figure[] = [];
  let n = 0;
  for (const ps of bySetting.values()) {
    n++;
    const rows: Record<string, unknown>[] = [];
    for (const p of ps) {
      const o = orderSplit(p)!;
      const base = { mixer: p.label, variant: p.variantLabel, dModel: p.dModel, stateBytes: p.stateBytes[convention], bestLr: p.bestLr, seeds: p.test.n };
      rows.push({ kind: 'point', panel: PANELS[0], ...base, accuracy: round(o.smallFirst.mean), lo: round(o.smallFirst.min), hi: round(o.smallFirst.max) });
      rows.push({ kind: 'point', panel: PANELS[1], ...base, accuracy: round(o.largeFirst.mean), lo: round(o.largeFirst.min), hi: round(o.largeFirst.max) });
      rows.push({ kind: 'difference', ...base, difference: round(o.difference.mean), lo: round(o.difference.min), hi: round(o.difference.max), smallFirst: round(o.smallFirst.mean), largeFirst: round(o.largeFirst.mean) });
    }
    // the guessing level of each panel: answering with a token of the second set B, the one read last, is right
    // 1/|B| of the time (the mean over the panel's slices): what a model that recalls nothing of A can do
    const split = orderSplit(ps[0]!)!;
    const sliceInfo = new Map(ps[0]!.setting.slices.map((sl) => [sl.key, sl]));
    for (const [i, keys] of [split.smallSlices, split.largeSlices].entries()) {
      const sizes = keys.map((k) => sliceInfo.get(k)?.sizeB).filter((b): b is number => b !== undefined && b > 0);
      if (sizes.length === keys.length && sizes.length) {
        const level = sizes.reduce((sum, b) => sum + 1 / b, 0) / sizes.length;
        rows.push({ kind: 'chance', panel: PANELS[i], accuracy: round(level), chanceLabel: `guess from B ${level.toFixed(3)}` });
      }
    }
    // left-out runs of this setting: a × in both accuracy panels (the difference panel has no accuracy axis)
    const settingLeftOut = leftOut.filter((r) => r.setting.id === ps[0]!.setting.id);
    for (const panel of PANELS) rows.push(...leftOutRows(settingLeftOut, { panelOf: () => panel, seriesOf: () => '', convention, mixers }));
    const withLeftOut = rows.some((r) => r.kind === 'left-out');
    for (const [i, panel] of PANELS.entries()) {
      for (const mixer of new Set(ps.map((p) => p.label))) {
        const mine = ps.filter((p) => p.label === mixer);
        const acc = (p: FigurePoint) => (i === 0 ? orderSplit(p)!.smallFirst.mean : orderSplit(p)!.largeFirst.mean);
        paretoFront(mine, (p) => p.stateBytes[convention], acc).forEach((p, order) =>
          rows.push({ kind: 'front', panel, mixer, order, stateBytes: p.stateBytes[convention], accuracy: round(acc(p)) }),
        );
      }
    }
    const xs = rows.map((r) => r.stateBytes).filter((v): v is number => typeof v === 'number' && v > 0);
    const x = log2BytesX('stateBytes', `state (bytes, ${convention}; log2)`, xs);
    const color = { field: 'mixer', type: 'nominal', title: 'mixer', scale: colorScale(mixers, [...new Set(rows.map((r) => r.mixer as string))]) };
    const pick = { condition: { param: 'mixerPick', value: 1 }, value: 0.15 };
    const spread = ps.some((p) => p.test.n > 1);
    const tooltip = ['mixer', 'variant', 'stateBytes', 'accuracy', 'lo', 'hi', 'bestLr'].map((f) => ({ field: f }));
    const accuracyY = ACCURACY_Y('test accuracy', withLeftOut);
    const accuracyPanels = {
      transform: [{ filter: "datum.kind !== 'difference' && datum.kind !== 'left-out-unplaced'" }],
      facet: { field: 'panel', type: 'nominal', sort: PANELS, title: null },
      // room between the two panels: each x axis labels both its ends (labelFlush off), which touched
      spacing: 36,
      spec: {
        width: 260,
        height: 220,
        layer: [
          ...(withLeftOut ? [leftOutBandLayer('test accuracy')] : []),
          levelRuleLayer('chance', 'chanceLabel'),
          { transform: [{ filter: "datum.kind === 'front'" }], mark: { type: 'line', interpolate: 'step-after' }, encoding: { x, y: accuracyY, color, order: { field: 'order' }, opacity: pick } },
          {
            transform: [{ filter: "datum.kind === 'point'" }],
            mark: { type: 'point', filled: true, size: 40 },
            params: [{ name: 'mixerPick', select: { type: 'point', fields: ['mixer'] }, bind: 'legend' }],
            encoding: { x, y: accuracyY, color, tooltip, opacity: pick },
          },
          ...(spread ? [{ transform: [{ filter: "datum.kind === 'point'" }], mark: 'rule', encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color, opacity: pick } }] : []),
          ...(withLeftOut ? [leftOutMarkLayer(x, accuracyY, color, leftOutShapeOnly(), ['mixer', 'variant', 'stateBytes', 'leftOut', 'learningRates', 'pointFromOtherRuns', 'reasons'])] : []),
        ],
      },
    };
    // the difference's axis: symmetric about 0 and at least ±DIFFERENCE_SPAN, so that a gap of 0.001 is drawn as the
    // nothing it is (a nice domain fitted to one point at −0.0009 put it at the panel's floor and 0 at its ceiling)
    const extent = Math.max(DIFFERENCE_SPAN, ...rows.filter((r) => r.kind === 'difference').flatMap((r) => [r.difference, r.lo, r.hi].map((v) => Math.abs(v as number))));
    const half = Math.ceil(extent * 1.1 * 20) / 20; // a tenth to spare, in steps of 0.05
    const differenceDomain = [-half, half];
    const differencePanel = {
      transform: [{ filter: "datum.kind === 'difference'" }],
      width: 260,
      height: 220,
      title: { text: 'small first − large first', fontSize: 12 },
      layer: [
        { mark: { type: 'rule', color: '#888' }, encoding: { y: { datum: 0, type: 'quantitative', scale: { domain: differenceDomain } } } },
        { mark: { type: 'point', filled: true, size: 40 }, encoding: { x, y: { field: 'difference', type: 'quantitative', title: 'accuracy difference', scale: { domain: differenceDomain } }, color, tooltip: ['mixer', 'variant', 'stateBytes', 'smallFirst', 'largeFirst', 'difference', 'bestLr'].map((f) => ({ field: f })), opacity: pick } },
        ...(spread ? [{ mark: 'rule', encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color, opacity: pick } }] : []),
      ],
    };
    const setting = ps[0]!.setting;
    const spec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: `Set disjointness: set order vs state size${bySetting.size > 1 ? ` (${setting.label})` : ''}`, subtitle: `mean test accuracy over small-first and over large-first slices; best learning rate on validation; dotted: guessing from the second set${withLeftOut ? '; ×: runs that are not results (left out)' : ''}` },
      config: chartConfig(),
      data: { values: rows },
      hconcat: [accuracyPanels, differencePanel],
    };
    figures.push({
      name: n === 1 ? 'sd-order' : `sd-order-${n}`,
      title: `Set disjointness: small set first vs large set first (JRT Fig. 2)${bySetting.size > 1 ? ` — ${setting.label}` : ''}`,
      caption: `Mean test accuracy over the small-first slices (|A| < |B|: ${orderSplit(ps[0]!)!.smallSlices.join(', ')}) and over the large-first slices (${orderSplit(ps[0]!)!.largeSlices.join(', ')}) against state size (bytes, ${convention} convention, log2 axis), and their difference (its axis symmetric about 0, at least ±${DIFFERENCE_SPAN}). One point per (mixer, size, variant) at its best learning rate on validation; lines: Pareto fronts. Dotted rule: the guessing level — answering with a token of the second set B (the one read last) is right 1/|B| of the time (mean over the panel's slices), which a model reaches without recalling A.${spread ? ' Bars: min–max over seeds.' : ''}${leftOutCaption(rows.filter((r) => r.panel === PANELS[0]))}`,
      spec,
      rows: rows.filter((r) => r.kind !== 'front'),
    });
  }
  return figures;
}
