// `recallbench plot results/<name>`: every figure the records support, from runs.jsonl (+ curves/*.json) alone.
// Writes figures/<name>.vl.json (the vega-lite spec, data inline), .svg, .png (PlotOptions.png) and .csv (the plotted rows),
// tables/points.csv (every figure point: best learning rate per model and task setting, chosen on validation) and
// tables/excluded.csv (every run that is not a result — failed, invalid by `recallbench verify`'s checks, or
// diverged before any evaluation — with its reason; the figures mark these runs and never draw them as accuracies).
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { UserInputError } from '../engine/errors.js';
import type { EpochRecord } from '../engine/train.js';
import { analyseRuns, orderSplit, provenanceCells, readCurve, type AnalysedRun, type FigurePoint, type LeftOutRun, type StateConvention } from './analysis.js';
import { invalidRuns } from './verify.js';
import { dedupeRecords, readRecords, type RunRecord } from './results.js';
import { accuracyVsState } from './charts/accuracyVsState.js';
import { accuracyVsWidth } from './charts/accuracyVsWidth.js';
import { curveFigures } from './charts/curves.js';
import { icllFigures } from './charts/icll.js';
import { jrtPromptFigure } from './charts/jrtPrompt.js';
import { sdOrderFigures } from './charts/sdOrder.js';
import { fitTitle, renderSvg, round, svgToPng, type Figure } from './charts/common.js';

const FIGURE_FILE_SUFFIXES = ['.vl.json', '.svg', '.png', '.csv'];

/**
 * A spec as figures/<name>.vl.json holds it: indented, but its inline data rows one per line — indenting every key of
 * every row (a curve figure holds a row per run and epoch) made the rows about 60 % of a campaign folder's bytes,
 * and the device calls carry the tracked tree. The same JSON either way (JSON.parse gives the same object).
 */
export function specJson(spec: unknown): string {
  const data = (spec as { data?: { values?: unknown } }).data;
  if (!data || !Array.isArray(data.values) || data.values.length === 0) return `${JSON.stringify(spec, null, 1)}\n`;
  // the outline holds no row, so the placeholder can only meet the spec's own strings, none of which is this
  const placeholder = 'recallbench:data-rows';
  const outline = JSON.stringify({ ...(spec as object), data: { ...data, values: placeholder } }, null, 1);
  const rows = data.values.map((row) => `   ${JSON.stringify(row) ?? 'null'}`).join(',\n');
  return `${outline.replace(JSON.stringify(placeholder), () => `[\n${rows}\n  ]`)}\n`;
}

/** The records of a results folder, one per run id (results.ts's one reader: the first success, else the last failure). */
export function loadRecords(dir: string): RunRecord[] {
  if (!existsSync(join(dir, 'runs.jsonl'))) throw new UserInputError(`${dir}: no runs.jsonl (not a results folder, or no run has finished yet)`);
  return readRecords(dir);
}

/** Each record's training curve, read from the folder that holds the record (sources: folder → its records). */
function loadCurves(sources: RecordSource[]): Map<string, EpochRecord[]> {
  const out = new Map<string, EpochRecord[]>();
  for (const { dir, records } of sources)
    for (const r of records) {
      const c = readCurve(dir, r.id);
      if (c) out.set(r.id, c);
    }
  return out;
}

/** A results folder and the records drawn from it. */
export interface RecordSource {
  dir: string;
  records: RunRecord[];
}

/**
 * The folder's records, then those of each `beside` folder: the user's own runs drawn on a paper's figure beside its
 * committed ones (report --beside). A run several folders hold is drawn once, by readRecords' rule across them all
 * (the first success, else the last failure), from the folder that holds that record.
 */
export function loadSources(dir: string, beside: readonly string[] = []): RecordSource[] {
  const folders = [dir, ...beside].map((d) => ({ dir: d, records: loadRecords(d) }));
  // each folder's read makes its own record objects: a chosen object belongs to the folder that read it
  const chosen = new Set(dedupeRecords(folders.flatMap((f) => f.records)));
  return folders.map((f) => ({ dir: f.dir, records: f.records.filter((r) => chosen.has(r)) }));
}

/** The runs whose stored numbers break the invariants: verify.ts's check (id → violations). */
export { invalidRuns } from './verify.js';

/** Every figure the records support, in report order. Left-out runs are marked in them, never drawn as accuracies. */
function buildFigures(runs: AnalysedRun[], points: FigurePoint[], leftOut: LeftOutRun[], curves: Map<string, EpochRecord[]>, convention: StateConvention): Figure[] {
  // every mixer of the folder, results or not: a mixer keeps its colour whether or not some of its runs failed
  const mixers = [...new Set(runs.map((a) => a.record.label))].sort();
  const figures: (Figure | undefined)[] = [
    accuracyVsState(points, mixers, convention, leftOut),
    accuracyVsWidth(points, mixers, leftOut),
    ...sdOrderFigures(points, mixers, convention, leftOut),
    jrtPromptFigure(points, mixers, convention, leftOut),
    ...icllFigures(points, runs, mixers),
    ...curveFigures(runs, curves),
  ];
  // subtitles wrapped to the plots' width (charts/common.ts fitTitle): the canvas is sized to the chart
  return figures.filter((f): f is Figure => !!f).map((f) => ({ ...f, spec: fitTitle(f.spec) }));
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
      // runs of this model that took no part in the point (tables/excluded.csv says why)
      left_out_failed: p.leftOut.failed,
      left_out_invalid: p.leftOut.invalid,
      left_out_diverged: p.leftOut.diverged,
      diverged_counted: p.divergedCounted,
      // runs of this model that successive halving stopped at a rung (not candidates for the best lr)
      stopped_at_rungs: p.stopped,
      // learning rates of the label's grid with no result in this group yet: a provisional point
      lrs_missing: p.lrsMissing.join(' '),
      // seeds of the label's grid with no result in this group yet: provisional too
      seeds_missing: p.seedsMissing.join(' '),
    };
  });
}

export const EXCLUDED_COLUMNS = ['id', 'mixer', 'variant', 'd_model', 'setting', 'lr', 'seed', 'status', 'left_out_as', 'reason', 'model_has_a_point', 'commit', 'levers', 'driver'];

/** One row per run that is not a result (tables/excluded.csv and the report). */
export function excludedRows(leftOut: LeftOutRun[]): Record<string, unknown>[] {
  return leftOut.map((r) => ({
    id: r.id,
    mixer: r.label,
    variant: r.variantLabel,
    d_model: r.dModel,
    setting: r.setting.label,
    lr: r.lr,
    seed: r.seed,
    status: r.status,
    left_out_as: r.kind,
    reason: r.reason,
    model_has_a_point: r.groupHasPoint ? 'yes (from its other runs)' : 'no',
    ...provenanceCells(r.record),
  }));
}

/** CSV of rows; `header` fixes the columns (and is written even when there are no rows). */
function toCsv(rows: Record<string, unknown>[], header?: string[]): string {
  if (!header && rows.length === 0) return '';
  const columns = header ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return stringify([columns, ...rows.map((r) => columns.map((h) => (r[h] === undefined || r[h] === null ? '' : (r[h] as string | number | boolean))))]);
}

export interface PlotOptions {
  /** State-size convention of the x axes (default measured). */
  state?: StateConvention;
  /** PNGs too (default true): every figure's, none (false), or only the headline figures' ('headline': not the
   *  per-mixer training curves, Figure.detail — what the campaign folders commit). */
  png?: boolean | 'headline';
  /** The detail figures' own files (figures/<name>.vl.json, .svg, .csv; default true). false: none — the report
   *  still draws them from its inline specs. About half a campaign folder's bytes, and every tracked byte travels
   *  with each device call (docs/campaign.md "Budget"), so the campaign folders commit them in index.html only. */
  detailFiles?: boolean;
  /** Other results folders whose records are drawn too (not written to): a paper's committed runs beside yours. */
  beside?: string[];
}

export interface PlotResult {
  records: RunRecord[];
  points: FigurePoint[];
  /** Runs that are not results (failed, invalid, diverged before any evaluation), with why. */
  leftOut: LeftOutRun[];
  /** Every run with its group and, for a left-out one, its reason. */
  runs: AnalysedRun[];
  figures: Figure[];
  /** Paths written, relative to the results folder. */
  files: string[];
  /** Where the records came from: the folder first, then each `beside` folder with the records it added. */
  sources: RecordSource[];
}

/** Draw every supported figure of a results folder into <dir>/figures and its tables into <dir>/tables. */
export async function plotResults(dir: string, opts: PlotOptions = {}): Promise<PlotResult> {
  const convention = opts.state ?? 'measured';
  const sources = loadSources(dir, opts.beside);
  const records = sources.flatMap((s) => s.records);
  if (records.length === 0) throw new UserInputError(`${dir}: runs.jsonl holds no complete run record`);
  const curves = loadCurves(sources);
  const { points, leftOut, runs } = analyseRuns(records, invalidRuns(records, curves));
  const figures = buildFigures(runs, points, leftOut, curves, convention);

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
    if (fig.detail && opts.detailFiles === false) continue;
    write(`figures/${fig.name}.vl.json`, specJson(fig.spec));
    const svg = await renderSvg(fig.spec);
    write(`figures/${fig.name}.svg`, svg);
    if (opts.png === undefined || opts.png === true || (opts.png === 'headline' && !fig.detail)) write(`figures/${fig.name}.png`, svgToPng(svg));
    write(`figures/${fig.name}.csv`, toCsv(fig.rows));
  }
  write('tables/points.csv', toCsv(pointRows(points)));
  write('tables/excluded.csv', toCsv(excludedRows(leftOut), EXCLUDED_COLUMNS));
  return { records, points, leftOut, runs, figures, files, sources };
}
