// `recallbench plot results/<name>`: every figure the records support, from runs.jsonl (+ curves/*.json) alone.
// Writes figures/<name>.vl.json (the vega-lite spec, data inline), .svg, .png and .csv (the plotted rows), and
// tables/points.csv (every figure point: best learning rate per model and task setting, chosen on validation).
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { UserInputError } from '../engine/errors.js';
import type { EpochRecord } from '../engine/train.js';
import { figurePoints, orderSplit, readCurve, type FigurePoint, type StateConvention } from './analysis.js';
import { readJsonl, type RunRecord } from './results.js';
import { accuracyVsState } from './charts/accuracyVsState.js';
import { accuracyVsWidth } from './charts/accuracyVsWidth.js';
import { curveFigures } from './charts/curves.js';
import { jrtPromptFigure } from './charts/jrtPrompt.js';
import { sdOrderFigures } from './charts/sdOrder.js';
import { renderSvg, round, svgToPng, type Figure } from './charts/common.js';

export const FIGURE_FILE_SUFFIXES = ['.vl.json', '.svg', '.png', '.csv'];

function isRecord(x: unknown): x is RunRecord {
  const r = x as Partial<RunRecord> | null;
  return !!r && typeof r === 'object' && typeof r.id === 'string' && typeof r.label === 'string' && !!r.config && typeof r.config === 'object' && !!r.stateBytes;
}

/** The records of a results folder, one per run id (the first successful one; else the last failure). */
export function loadRecords(dir: string): RunRecord[] {
  const path = join(dir, 'runs.jsonl');
  if (!existsSync(path)) throw new UserInputError(`${dir}: no runs.jsonl (not a results folder, or no run has finished yet)`);
  const chosen = new Map<string, RunRecord>();
  for (const r of readJsonl<unknown>(path).filter(isRecord)) {
    const prev = chosen.get(r.id);
    if (!prev || prev.status === 'failed') chosen.set(r.id, r);
  }
  return [...chosen.values()];
}

export function loadCurves(dir: string, records: RunRecord[]): Map<string, EpochRecord[]> {
  const out = new Map<string, EpochRecord[]>();
  for (const r of records) {
    const c = readCurve(dir, r.id);
    if (c) out.set(r.id, c);
  }
  return out;
}

/** Every figure the records support, in report order. */
export function buildFigures(records: RunRecord[], points: FigurePoint[], curves: Map<string, EpochRecord[]>, convention: StateConvention): Figure[] {
  const mixers = [...new Set(points.map((p) => p.label))].sort();
  const figures: (Figure | undefined)[] = [
    accuracyVsState(points, mixers, convention),
    accuracyVsWidth(points, mixers),
    ...sdOrderFigures(points, mixers, convention),
    jrtPromptFigure(points, mixers, convention),
    ...curveFigures(records, points, curves),
  ];
  return figures.filter((f): f is Figure => !!f);
}

/** One row per figure point (the tables of the report). */
export function pointRows(points: FigurePoint[]): Record<string, unknown>[] {
  return points.map((p) => {
    const o = orderSplit(p);
    return {
      mixer: p.label,
      variant: p.variantLabel,
      d_model: p.dModel,
      n_layers: p.nLayers,
      setting: p.setting.label,
      task: p.setting.task,
      passes: p.setting.passes,
      best_lr: p.bestLr,
      learning_rates: p.learningRates.join(' '),
      seeds: p.test.n,
      validation_accuracy: round(p.validation.mean),
      test_accuracy: round(p.test.mean),
      test_min: round(p.test.min),
      test_max: round(p.test.max),
      test_std: round(p.test.std),
      small_first: o ? round(o.smallFirst.mean) : '',
      large_first: o ? round(o.largeFirst.mean) : '',
      small_minus_large: o ? round(o.difference.mean) : '',
      state_bytes_measured: p.stateBytes.measured,
      state_bytes_paper: p.stateBytes.paper,
      params: p.params,
      epochs: p.epochs,
      runs: p.runIds.length,
      failed_runs: p.failed,
    };
  });
}

export function toCsv(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
  const header = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return stringify([header, ...rows.map((r) => header.map((h) => (r[h] === undefined || r[h] === null ? '' : (r[h] as string | number | boolean))))]);
}

export interface PlotOptions {
  /** State-size convention of the x axes (default measured). */
  state?: StateConvention;
  /** Also write PNGs (default true). */
  png?: boolean;
}

export interface PlotResult {
  records: RunRecord[];
  points: FigurePoint[];
  figures: Figure[];
  /** Paths written, relative to the results folder. */
  files: string[];
}

/** Draw every supported figure of a results folder into <dir>/figures and its tables into <dir>/tables. */
export async function plotResults(dir: string, opts: PlotOptions = {}): Promise<PlotResult> {
  const convention = opts.state ?? 'measured';
  const records = loadRecords(dir);
  if (records.length === 0) throw new UserInputError(`${dir}: runs.jsonl holds no complete run record`);
  const points = figurePoints(records);
  const curves = loadCurves(dir, records);
  const figures = buildFigures(records, points, curves, convention);

  const figDir = join(dir, 'figures');
  const tableDir = join(dir, 'tables');
  mkdirSync(figDir, { recursive: true });
  mkdirSync(tableDir, { recursive: true });
  // figures/ is generated: drop figures of an earlier plot that the records no longer support
  for (const f of readdirSync(figDir)) if (FIGURE_FILE_SUFFIXES.some((s) => f.endsWith(s))) rmSync(join(figDir, f));

  const files: string[] = [];
  const write = (rel: string, content: string | Buffer) => {
    writeFileSync(join(dir, rel), content);
    files.push(rel);
  };
  for (const fig of figures) {
    write(`figures/${fig.name}.vl.json`, `${JSON.stringify(fig.spec, null, 1)}\n`);
    const svg = await renderSvg(fig.spec);
    write(`figures/${fig.name}.svg`, svg);
    if (opts.png !== false) write(`figures/${fig.name}.png`, svgToPng(svg));
    write(`figures/${fig.name}.csv`, toCsv(fig.rows));
  }
  write('tables/points.csv', toCsv(pointRows(points)));
  return { records, points, figures, files };
}
