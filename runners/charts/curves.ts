// Training curves: validation accuracy per epoch of every run, one figure per mixer label, one panel per
// (task setting, model variant), one line per learning rate (and seed), and beside it the same runs' training and
// validation losses (`curves-<mixer>-loss`). From curves/<id>.json.
// Runs that are not results (failed, invalid, diverged before any evaluation: runners/analysis.ts) are not drawn
// as lines — an invalid run's curve holds exactly the impossible numbers (e.g. accuracy 0 at loss 0) that must not
// be read as a result — but named in red in their panel ("N left out: ..."). A run that diverged after some
// epochs is drawn dashed, up to its last finite epoch. A run that successive halving stopped at a rung is drawn
// dotted up to its rung epoch, with a square where it stopped: a result for those epochs, never an accuracy of 0.
import type { EpochRecord } from '../../engine/train.js';
import { leftOutSummary, type AnalysedRun, type LeftOutKind } from '../analysis.js';
import { chartConfig, round, type Figure } from './common.js';

/** Learning rates in the legend as 3.2e-2 (two digits), not 0.03162277660168379 (the data keep the exact value). */
const LR_LEGEND = { labelExpr: "format(datum.value, '.1~e')" };

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'mixer';
}

export function curveFigures(runs: AnalysedRun[], curves: Map<string, EpochRecord[]>): Figure[] {
  const byLabel = new Map<string, Record<string, unknown>[]>();
  const panelOrder = new Map<string, string[]>();
  const settingsOfLabel = new Map<string, Set<string>>();
  for (const a of runs) settingsOfLabel.set(a.record.label, (settingsOfLabel.get(a.record.label) ?? new Set()).add(a.setting.label));
  const leftOutByPanel = new Map<string, { label: string; panel: string; runs: { kind: LeftOutKind; id: string; lr: number; seed: number }[] }>();
  for (const a of runs) {
    const r = a.record;
    // the model first (headers are cut at ~220 px); the setting only where the label has several
    const panel = settingsOfLabel.get(r.label)!.size > 1 ? `${a.variantLabel} · ${a.setting.label}` : a.variantLabel;
    const curve = curves.get(r.id);
    const drawn = !a.leftOut && curve && curve.length > 0;
    if (!drawn && !a.leftOut) continue;
    const order = panelOrder.get(r.label) ?? [];
    if (!order.includes(panel)) order.push(panel);
    panelOrder.set(r.label, order);
    if (a.leftOut) {
      const k = `${r.label}\u0000${panel}`;
      const entry = leftOutByPanel.get(k) ?? { label: r.label, panel, runs: [] };
      entry.runs.push({ kind: a.leftOut.kind, id: r.id, lr: r.config.train.lr, seed: r.seed });
      leftOutByPanel.set(k, entry);
      continue;
    }
    const rows = byLabel.get(r.label) ?? [];
    for (const e of curve!) {
      rows.push({
        kind: 'curve',
        run: r.id,
        panel,
        lr: r.config.train.lr,
        seed: r.seed,
        status: r.status,
        epoch: e.epoch,
        validationAccuracy: round(e.validation?.accuracy ?? NaN),
        testAccuracy: round(e.test?.accuracy ?? NaN),
        trainLoss: round(e.trainLoss, 5),
        validationLoss: round(e.validation?.loss ?? NaN, 5),
        best: a.atBestLr,
        diverged: r.status === 'diverged',
        stopped: a.stopped !== undefined,
        stopEnd: a.stopped !== undefined && e.epoch === curve![curve!.length - 1]!.epoch,
        ...(a.stopped ? { stoppedAt: `rung ${a.stopped.rung} (epoch ${a.stopped.epoch})` } : {}),
      });
    }
    byLabel.set(r.label, rows);
  }
  for (const { label, panel, runs: lo } of leftOutByPanel.values()) {
    const rows = byLabel.get(label) ?? [];
    rows.push({
      kind: 'left-out',
      panel,
      runsLeftOut: lo.length,
      note: `${lo.length} run${lo.length > 1 ? 's' : ''} left out: ${leftOutSummary(lo)}`,
      runs: lo.map((x) => `${x.id} (lr ${x.lr}, seed ${x.seed}, ${x.kind})`).join(', '),
    });
    byLabel.set(label, rows);
  }
  const figures: Figure[] = [];
  const used = new Set<string>();
  for (const [label, rows] of [...byLabel.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const panels = panelOrder.get(label)!;
    let name = `curves-${slug(label)}`;
    while (used.has(name)) name += '-x';
    used.add(name);
    const curveRows = rows.filter((r) => r.kind === 'curve');
    const notes = rows.filter((r) => r.kind === 'left-out');
    const anyDiverged = curveRows.some((r) => r.diverged);
    const lrs = [...new Set(curveRows.map((r) => r.lr as number))].sort((a, b) => a - b);
    const lrColor = { field: 'lr', type: 'ordinal', title: 'learning rate', sort: lrs, scale: { scheme: 'viridis' }, legend: LR_LEGEND };
    const x = { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } };
    const y = { field: 'validationAccuracy', type: 'quantitative', title: 'validation accuracy', scale: { domain: [0, 1] } };
    const layers: Record<string, unknown>[] = [
      {
        transform: [{ filter: "datum.kind === 'curve'" }],
        mark: { type: 'line', point: false },
        encoding: {
          x,
          y,
          color: lrColor,
          detail: { field: 'run', type: 'nominal' },
          strokeWidth: { condition: { test: 'datum.best', value: 2.5 }, value: 1 },
          strokeDash: { condition: [{ test: 'datum.diverged', value: [4, 3] }, { test: 'datum.stopped', value: [1, 2] }], value: [1, 0] },
          tooltip: ['run', 'lr', 'seed', 'status', 'epoch', 'validationAccuracy', 'testAccuracy', 'trainLoss'].map((f) => ({ field: f })),
        },
      },
    ];
    const anyStopped = curveRows.some((r) => r.stopped);
    if (anyStopped) {
      layers.push({
        transform: [{ filter: "datum.kind === 'curve' && datum.stopEnd" }],
        mark: { type: 'point', shape: 'square', filled: true, size: 30 },
        encoding: {
          x,
          y,
          color: lrColor,
          tooltip: ['run', 'lr', 'seed', 'stoppedAt', 'epoch', 'validationAccuracy'].map((f) => ({ field: f })),
        },
      });
    }
    if (notes.length) {
      layers.push({
        transform: [{ filter: "datum.kind === 'left-out'" }],
        mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 4, fontSize: 10, color: '#b00' },
        encoding: { x: { value: 0 }, y: { value: 0 }, text: { field: 'note' }, tooltip: [{ field: 'note' }, { field: 'runs' }] },
      });
    }
    const leftOutRuns = notes.reduce((n, r) => n + (r.runsLeftOut as number), 0);
    const spec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: {
        text: `Training curves: ${label}`,
        subtitle: `validation accuracy after each epoch; one line per learning rate and seed; thick: the best learning rate${anyDiverged ? '; dashed: diverged after its last epoch' : ''}${anyStopped ? '; dotted, ending in a square: stopped at a rung by successive halving' : ''}${leftOutRuns ? '; red: runs left out (not results, not drawn)' : ''}`,
      },
      config: chartConfig(),
      data: { values: rows },
      facet: { field: 'panel', type: 'nominal', sort: panels, title: null, header: { labelFontSize: 10, labelLimit: 220 } },
      columns: Math.min(5, panels.length),
      spec: { width: 170, height: 120, layer: layers },
    };
    // the losses beside the accuracies: training loss (mean over the epoch's steps) and validation loss per epoch
    const lossLayers: Record<string, unknown>[] = [
      {
        transform: [{ filter: "datum.kind === 'curve'" }, { fold: ['trainLoss', 'validationLoss'], as: ['split', 'loss'] }, { filter: 'isValid(datum.loss) && isFinite(datum.loss)' }],
        mark: { type: 'line', point: false },
        encoding: {
          x,
          y: { field: 'loss', type: 'quantitative', title: 'loss (nats per supervised token)' },
          color: lrColor,
          detail: { field: 'run', type: 'nominal' },
          strokeDash: { field: 'split', type: 'nominal', title: 'loss', scale: { domain: ['trainLoss', 'validationLoss'], range: [[1, 0], [4, 2]] } },
          strokeWidth: { condition: { test: 'datum.best', value: 2.5 }, value: 1 },
          tooltip: ['run', 'lr', 'seed', 'status', 'epoch', 'split', 'loss'].map((f) => ({ field: f })),
        },
      },
    ];
    const lossFigure: Figure = {
      name: `${name}-loss`,
      title: `Loss curves: ${label}`,
      caption: `Training loss (solid: the mean over each epoch's steps) and validation loss (dashed) after every epoch of the same ${label} runs and panels as the accuracy curves beside it, coloured by learning rate; thick: the learning rate the figures use. A run on MQAR's plateau sits near ln K per query while its accuracy stays near 1/K; leaving the plateau shows in both.`,
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: { text: `Loss curves: ${label}`, subtitle: 'training loss (solid) and validation loss (dashed) after each epoch; thick: the best learning rate' },
        config: chartConfig(),
        data: { values: curveRows },
        facet: { field: 'panel', type: 'nominal', sort: panels.filter((pn) => curveRows.some((r) => r.panel === pn)), title: null, header: { labelFontSize: 10, labelLimit: 220 } },
        columns: Math.min(5, panels.length),
        resolve: { scale: { y: 'independent' } },
        spec: { width: 170, height: 120, layer: lossLayers },
      },
      rows: curveRows,
      detail: true,
    };
    figures.push({
      name,
      title: `Training curves: ${label}`,
      caption: `Validation accuracy after every epoch of every ${label} run (${new Set(curveRows.map((r) => r.run)).size} runs drawn), one panel per (task setting, model variant), coloured by learning rate; the thick line is the learning rate the figures use. Tooltips give the training loss and test accuracy.${anyDiverged ? ' Dashed: a run that diverged (a NaN/Inf loss) after its last drawn epoch; it counts for the epochs drawn.' : ''}${anyStopped ? ' Dotted, ending in a square: a run that successive halving stopped at a rung (its group kept better learning rates); it is not a candidate for the point.' : ''}${leftOutRuns ? ` Red notes: ${leftOutRuns} run(s) left out (${leftOutSummary([...leftOutByPanel.values()].filter((e) => e.label === label).flatMap((e) => e.runs))}): failed, invalid (impossible numbers, see \`recallbench verify\`) or diverged before any evaluation — not results, so their curves are not drawn; tables/excluded.csv gives the reasons.` : ''}`,
      spec,
      rows,
      detail: true,
    });
    if (curveRows.length) figures.push(lossFigure);
  }
  return figures;
}
