// Training curves: validation accuracy per epoch of every run, one figure per mixer label, one panel per
// (task setting, model variant), one line per learning rate (and seed). From curves/<id>.json.
import type { EpochRecord } from '../../engine/train.js';
import type { FigurePoint } from '../analysis.js';
import type { RunRecord } from '../results.js';
import { chartConfig, round, type Figure } from './common.js';

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'mixer';
}

export function curveFigures(records: RunRecord[], points: FigurePoint[], curves: Map<string, EpochRecord[]>): Figure[] {
  const pointOfRun = new Map<string, FigurePoint>();
  for (const p of points) for (const id of p.runIds) pointOfRun.set(id, p);
  const byLabel = new Map<string, Record<string, unknown>[]>();
  const panelOrder = new Map<string, string[]>();
  const settingsOfLabel = new Map<string, Set<string>>();
  for (const r of records) {
    const p = pointOfRun.get(r.id);
    if (p) settingsOfLabel.set(r.label, (settingsOfLabel.get(r.label) ?? new Set()).add(p.setting.label));
  }
  for (const r of records) {
    const curve = curves.get(r.id);
    const p = pointOfRun.get(r.id);
    if (!curve || curve.length === 0 || !p) continue;
    // the model first (headers are cut at ~220 px); the setting only where the label has several
    const panel = settingsOfLabel.get(r.label)!.size > 1 ? `${p.variantLabel} · ${p.setting.label}` : p.variantLabel;
    const order = panelOrder.get(r.label) ?? [];
    if (!order.includes(panel)) order.push(panel);
    panelOrder.set(r.label, order);
    const rows = byLabel.get(r.label) ?? [];
    for (const e of curve) {
      rows.push({
        run: r.id,
        panel,
        lr: r.config.train.lr,
        seed: r.seed,
        epoch: e.epoch,
        validationAccuracy: round(e.validation?.accuracy ?? NaN),
        testAccuracy: round(e.test?.accuracy ?? NaN),
        trainLoss: round(e.trainLoss, 5),
        best: p.bestRuns.some((b) => b.id === r.id),
      });
    }
    byLabel.set(r.label, rows);
  }
  const figures: Figure[] = [];
  const used = new Set<string>();
  for (const [label, rows] of [...byLabel.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const panels = panelOrder.get(label)!;
    let name = `curves-${slug(label)}`;
    while (used.has(name)) name += '-x';
    used.add(name);
    const lrs = [...new Set(rows.map((r) => r.lr as number))].sort((a, b) => a - b);
    const spec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: `Training curves: ${label}`, subtitle: 'validation accuracy after each epoch; one line per learning rate and seed; thick: the best learning rate' },
      config: chartConfig(),
      data: { values: rows },
      facet: { field: 'panel', type: 'nominal', sort: panels, title: null, header: { labelFontSize: 10, labelLimit: 220 } },
      columns: Math.min(5, panels.length),
      spec: {
        width: 170,
        height: 120,
        mark: { type: 'line', point: false },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
          y: { field: 'validationAccuracy', type: 'quantitative', title: 'validation accuracy', scale: { domain: [0, 1] } },
          color: { field: 'lr', type: 'ordinal', title: 'learning rate', sort: lrs, scale: { scheme: 'viridis' } },
          detail: { field: 'run', type: 'nominal' },
          strokeWidth: { condition: { test: 'datum.best', value: 2.5 }, value: 1 },
          tooltip: ['run', 'lr', 'seed', 'epoch', 'validationAccuracy', 'testAccuracy', 'trainLoss'].map((f) => ({ field: f })),
        },
      },
    };
    figures.push({
      name,
      title: `Training curves: ${label}`,
      caption: `Validation accuracy after every epoch of every ${label} run (${new Set(rows.map((r) => r.run)).size} runs), one panel per (task setting, model variant), coloured by learning rate; the thick line is the learning rate the figures use. Tooltips give the training loss and test accuracy.`,
      spec,
      rows,
    });
  }
  return figures;
}
