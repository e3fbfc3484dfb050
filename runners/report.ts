// `recallbench report results/<name>`: results/<name>/index.html, one self-contained page with every figure (the
// same vega-lite specs as figures/*.vl.json, inlined and drawn in the browser by vega + vega-lite copied from
// node_modules into vendor/: no CDN, works from file://), the tables (HTML, with CSV links), and the commands and
// versions that produced the records. It runs `plot` first, so the SVG/PNG files next to it match the page.
// Runs that are not results (failed, invalid by `recallbench verify`'s checks, diverged before any evaluation) get
// their own section with the reasons, and every run's provenance (commit, fast-path levers, driver) is listed.
import { copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJsonl, type RunRecord } from './results.js';
import { leftOutSummary, modelKey, provenanceCells, type AnalysedRun, type FigurePoint } from './analysis.js';
import { canonicalJson, runId, type RunConfig } from './config.js';
import { excludedRows, plotResults, pointRows, type PlotOptions, type PlotResult } from './plot.js';
import { round } from './charts/common.js';
import { savingsText, searchSavings } from './search.js';
import { counted } from './summary.js';
import { FONT_FAMILY, FONT_FILES } from './charts/common.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const VENDOR_FILES: [string, string][] = [
  [join(ROOT, 'node_modules', 'vega', 'build', 'vega.min.js'), 'vega.min.js'],
  [join(ROOT, 'node_modules', 'vega-lite', 'build', 'vega-lite.min.js'), 'vega-lite.min.js'],
  ...FONT_FILES.map((f): [string, string] => [f, f.split('/').pop()!]),
];

export interface SweepCommand {
  command: string;
  startedAt?: string;
  backend?: string;
  device?: string;
  versions?: Record<string, string>;
}

function escapeHtml(s: unknown): string {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON that is safe inside <script> (no "</script>", no U+2028/2029 surprises). */
function scriptJson(x: unknown): string {
  return JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/**
 * The figures' specs with each distinct top-level `data.values` stored once: a spec whose rows equal an earlier
 * spec's carries `data: { dataset: i }` instead (the page puts DATASETS[i] back before drawing). A mixer's accuracy
 * and loss curves share every row, so the report of a campaign grid inlined each epoch of each run twice: at 96 runs,
 * 0.8 of zoology-fig2's 0.9 MB index.html, growing by about 13 KB a run (the device calls carry the tracked tree).
 */
export function sharedDatasets(specs: unknown[]): { datasets: unknown[][]; specs: unknown[] } {
  const datasets: unknown[][] = [];
  const indexOf = new Map<string, number>();
  const out = specs.map((spec) => {
    const data = (spec as { data?: { values?: unknown } }).data;
    if (!data || !Array.isArray(data.values) || Object.keys(data).length !== 1) return spec;
    const key = JSON.stringify(data.values);
    let index = indexOf.get(key);
    if (index === undefined) {
      index = datasets.length;
      indexOf.set(key, index);
      datasets.push(data.values);
    }
    return { ...(spec as object), data: { dataset: index } };
  });
  return { datasets, specs: out };
}

function table(rows: Record<string, unknown>[], cls = 'data'): string {
  if (rows.length === 0) return '<p><em>no rows</em></p>';
  const header = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const head = header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${header.map((h) => `<td>${escapeHtml(r[h] ?? '')}</td>`).join('')}</tr>`).join('\n');
  return `<table class="${cls}"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** How the records were made: one row per (preset, backend, device, versions, code), with run counts and dates. */
export function provenanceRows(records: RunRecord[]): Record<string, unknown>[] {
  const groups = new Map<string, { rec: RunRecord; n: number; first: string; last: string; statuses: Map<string, number> }>();
  for (const r of records) {
    const key = JSON.stringify([r.preset ?? '', r.backend, r.device, r.versions ?? {}, provenanceCells(r)]);
    const g = groups.get(key) ?? { rec: r, n: 0, first: r.finishedAt, last: r.finishedAt, statuses: new Map() };
    g.n++;
    if (r.finishedAt < g.first) g.first = r.finishedAt;
    if (r.finishedAt > g.last) g.last = r.finishedAt;
    g.statuses.set(r.status, (g.statuses.get(r.status) ?? 0) + 1);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => ({
    preset: g.rec.preset ?? '(none)',
    runs: g.n,
    statuses: [...g.statuses].map(([s, n]) => `${s} ${n}`).join(', '),
    backend: g.rec.backend,
    device: g.rec.device,
    versions: Object.entries(g.rec.versions ?? {}).map(([k, v]) => `${k} ${v}`).join(', '),
    ...provenanceCells(g.rec),
    finished: g.first === g.last ? g.first : `${g.first} … ${g.last}`,
  }));
}

/**
 * Coverage and cost per preset: how many runs are stored and what became of them (results, stopped at a rung,
 * left out and why), how many models have a figure point, the epochs trained and the wall time spent (the sum of
 * the runs' own wall times: device time when runs shared nothing, more than the device time when they shared a GPU).
 */
export function coverageRows(runs: AnalysedRun[], points: FigurePoint[]): Record<string, unknown>[] {
  const byPreset = new Map<string, AnalysedRun[]>();
  for (const a of runs) byPreset.set(a.record.preset ?? '(none)', [...(byPreset.get(a.record.preset ?? '(none)') ?? []), a]);
  return [...byPreset].map(([preset, rs]) => {
    const count = (f: (a: AnalysedRun) => boolean) => rs.filter(f).length;
    const models = new Set(rs.map((a) => a.key));
    const withPoint = new Set(points.map((p) => p.key));
    const seconds = rs.reduce((n, a) => n + (Number.isFinite(a.record.wallSeconds) ? a.record.wallSeconds : 0), 0);
    return {
      preset,
      'runs stored': rs.length,
      results: count((a) => !a.leftOut && !a.stopped),
      'stopped at a rung': count((a) => a.stopped !== undefined),
      failed: count((a) => a.leftOut?.kind === 'failed'),
      invalid: count((a) => a.leftOut?.kind === 'invalid'),
      'diverged (no epoch)': count((a) => a.leftOut?.kind === 'diverged'),
      'models with a point': `${[...models].filter((k) => withPoint.has(k)).length} of ${models.size}`,
      'epochs trained': rs.reduce((n, a) => n + (a.record.epochs ?? 0), 0),
      'run-hours (sum of wall times)': (seconds / 3600).toFixed(2),
    };
  });
}

/**
 * The grid a preset tag stands for (`name`, or `name@scale=s` for a scaled sweep) as the preset file expands today,
 * or undefined for a tag that names no preset of runners/presets (a flag-built sweep, a preset file elsewhere).
 */
export async function plannedGrid(tag: string): Promise<RunConfig[] | undefined> {
  const { name, scale } = parsePresetTag(tag);
  // the sweep module loads the model code: only when a report has a preset to expand
  const { expandPreset, listPresetNames, loadPreset } = await import('./sweep.js');
  if (!listPresetNames().includes(name)) return undefined;
  const { scalePreset } = await import('./scale.js');
  const preset = loadPreset(name);
  return expandPreset(scale !== undefined ? scalePreset(preset, Number(scale)) : preset);
}

/**
 * Coverage of each preset's planned grid per mixer (a campaign in progress): runs planned and stored, models
 * (figure points) planned and drawn, those of them with a planned seed still to come (no stored run of that seed but
 * failed ones: a campaign that runs one seed of every point first), and the task settings where every planned model
 * of the mixer has its point at every planned seed — a complete panel. Stored runs are matched to the grid by run id;
 * those outside today's grid (a mixer added with sweep --add-arch, or a grid that has since changed) are counted per
 * mixer in rows of their own.
 */
export function plannedCoverageRows(runs: AnalysedRun[], points: FigurePoint[], planned: ReadonlyMap<string, RunConfig[]>): Record<string, unknown>[] {
  const withPoint = new Set(points.map((p) => p.key));
  const settingName = new Map(runs.map((a) => [a.setting.id, a.setting.label]));
  const rows: Record<string, unknown>[] = [];
  for (const [tag, configs] of planned) {
    // by the hash of the stored config (a record's id is that hash; computing it also holds for hand-made records)
    const mineStored = runs.filter((a) => (a.record.preset ?? '(none)') === tag);
    const stored = new Set(mineStored.map((a) => runId(a.record.config)));
    // (model, seed) pairs with a stored run that is not failed
    const seeded = new Set(mineStored.filter((a) => a.record.status !== 'failed').map((a) => `${a.key}|${a.record.seed}`));
    const labels = [...new Set(configs.map((c) => c.label))];
    const row = (mixer: string, mine: RunConfig[]) => {
      const keyed = mine.map((c) => ({ c, key: modelKey(c.label, c) }));
      const models = new Map(keyed.map(({ c, key }) => [key, canonicalJson(c.data)]));
      const seedToCome = new Set(keyed.filter(({ c, key }) => !seeded.has(`${key}|${c.seed}`)).map(({ key }) => key));
      const settings = [...new Set(models.values())];
      const complete = settings.filter((id) => [...models].every(([key, s]) => s !== id || (withPoint.has(key) && !seedToCome.has(key))));
      const names = complete.map((id) => settingName.get(id) ?? '?');
      return {
        preset: tag,
        mixer,
        'runs planned': mine.length,
        'runs stored': mine.filter((c) => stored.has(runId(c))).length,
        'models planned': models.size,
        'models with a point': [...models.keys()].filter((k) => withPoint.has(k)).length,
        'of them with a seed to come': [...models.keys()].filter((k) => withPoint.has(k) && seedToCome.has(k)).length,
        'settings complete': `${complete.length} of ${settings.length}${names.length ? ` (${names.join(', ')})` : ''}`,
      };
    };
    for (const label of labels) rows.push(row(label, configs.filter((c) => c.label === label)));
    if (labels.length > 1) rows.push(row('(all)', configs));
    // runs stored under the tag that its grid does not plan — a mixer added to the preset (sweep --add-arch) — each
    // mixer one row, outside the '(all)' count
    const plannedIds = new Set(configs.map((c) => runId(c)));
    const extra = runs.filter((a) => (a.record.preset ?? '(none)') === tag && !plannedIds.has(runId(a.record.config)));
    for (const mixer of [...new Set(extra.map((a) => a.record.label))]) {
      const mine = extra.filter((a) => a.record.label === mixer);
      const models = new Set(mine.map((a) => a.key));
      rows.push({
        preset: tag,
        mixer: `${mixer} (not in the grid)`,
        'runs planned': '—',
        'runs stored': mine.length,
        'models planned': '—',
        'models with a point': [...models].filter((k) => withPoint.has(k)).length,
        'of them with a seed to come': '—',
        'settings complete': '—',
      });
    }
  }
  return rows;
}

/** What the figures make of a run: its point, another lr of its model, or left out (and why, in short). */
function useOf(a: AnalysedRun): string {
  if (a.leftOut) return `left out (${a.leftOut.kind})`;
  if (a.stopped) return `stopped at rung ${a.stopped.rung} (epoch ${a.stopped.epoch}) by successive halving: not a candidate`;
  const diverged = a.record.status === 'diverged' ? `; diverged at step ${a.record.divergedAtStep ?? '?'}, counts for its ${a.record.epochs} finite epoch(s)` : '';
  return `${a.atBestLr ? 'point (best lr)' : 'not the best lr'}${diverged}`;
}

/** Every run with its status, what the figures make of it and its provenance (the report's run table). */
function runRows(runs: AnalysedRun[]): Record<string, unknown>[] {
  return runs.map((a) => {
    const r = a.record;
    const result = !a.leftOut;
    return {
      id: r.id,
      mixer: r.label,
      variant: a.variantLabel,
      setting: a.setting.label,
      lr: r.config.train.lr,
      seed: r.seed,
      status: r.status,
      in_figures: useOf(a),
      // a left-out run's accuracies are not measurements (placeholders or impossible numbers): not shown as such
      validation_accuracy: result ? round(r.validationAccuracy) : '—',
      test_accuracy: result ? round(r.testAccuracy) : '—',
      epochs: r.epochs,
      ...provenanceCells(r),
      backend: r.backend,
      finished: r.finishedAt,
    };
  });
}

/** Runs that diverged after some finite epochs: results for those epochs (their best one), listed for the reader. */
function divergedCountedRows(runs: AnalysedRun[]): Record<string, unknown>[] {
  return runs
    .filter((a) => !a.leftOut && a.record.status === 'diverged')
    .map((a) => ({
      id: a.record.id,
      mixer: a.record.label,
      variant: a.variantLabel,
      setting: a.setting.label,
      lr: a.record.config.train.lr,
      seed: a.record.seed,
      diverged_at_step: a.record.divergedAtStep ?? '?',
      finite_epochs: a.record.epochs,
      best_epoch: a.record.bestEpoch,
      validation_accuracy: round(a.record.validationAccuracy),
      test_accuracy: round(a.record.testAccuracy),
      in_figures: useOf(a),
      ...provenanceCells(a.record),
    }));
}

/** Per preset tag with a halving search: runs, stopped runs, epochs trained vs what a full grid would have trained. */
function searchRows(records: RunRecord[]): Record<string, unknown>[] {
  const halvingPresets = new Set(records.filter((r) => r.search?.kind === 'halving').map((r) => r.preset ?? '(none)'));
  return searchSavings(records)
    .filter((s) => halvingPresets.has(s.preset))
    .map((s) => ({ preset: s.preset, runs: s.runs, stopped_at_rungs: s.stopped, epochs_trained: s.epochsTrained, full_grid_epochs: s.fullGridEpochs, summary: savingsText(s) }));
}

/** A record's preset tag: "name", or "name@scale=s" for a sweep at --scale s (src/cli.ts writes it); s as written. */
function parsePresetTag(tag: string): { name: string; scale?: string } {
  const m = /^(.*)@scale=([0-9.eE+-]+)$/.exec(tag);
  return m ? { name: m[1]!, scale: m[2]! } : { name: tag };
}

/** The sweep command of a record's preset tag ("name" or "name@scale=s"), for folders without commands.jsonl. */
export function commandFromPresetTag(tag: string): string {
  const { name, scale } = parsePresetTag(tag);
  return `recallbench sweep ${name}${scale !== undefined ? ` --scale ${scale}` : ''}`;
}

function sweepCommands(dir: string, records: RunRecord[]): { commands: SweepCommand[]; reconstructed: boolean } {
  const logged = readJsonl<SweepCommand>(join(dir, 'commands.jsonl')).filter((c) => typeof c?.command === 'string');
  if (logged.length > 0) return { commands: logged, reconstructed: false };
  const tags = [...new Set(records.map((r) => r.preset).filter((p): p is string => !!p))];
  return { commands: tags.map((t) => ({ command: commandFromPresetTag(t) })), reconstructed: true };
}

export interface ReportOptions extends PlotOptions {
  /** The command line that made this report (shown on the page). */
  reportCommand?: string;
}

/**
 * Where the page finds vega and the fonts, relative to it: a `vendor/` folder of the parent or grandparent that
 * already holds these exact files (results/vendor/ for results/<preset>/ and results/campaign/<preset>/: one copy
 * in git instead of 2.2 MB per folder — the device calls carry the whole tracked tree within 64 MiB), else the
 * folder's own `vendor/`, written here.
 */
function vendorFor(dir: string): string {
  const same = (folder: string) => VENDOR_FILES.every(([from, to]) => existsSync(join(folder, to)) && statSync(join(folder, to)).size === statSync(from).size);
  for (const up of [join(dir, '..'), join(dir, '..', '..')]) if (same(join(up, 'vendor'))) return relative(dir, join(up, 'vendor'));
  const own = join(dir, 'vendor');
  mkdirSync(own, { recursive: true });
  for (const [from, to] of VENDOR_FILES) copyFileSync(from, join(own, to));
  return 'vendor';
}

export async function writeReport(dir: string, opts: ReportOptions = {}): Promise<PlotResult & { path: string }> {
  const result = await plotResults(dir, opts);
  const vendor = vendorFor(dir);
  const path = join(dir, 'index.html');
  const planned = new Map<string, RunConfig[]>();
  for (const tag of new Set(result.records.map((r) => r.preset).filter((p): p is string => !!p))) {
    try {
      const grid = await plannedGrid(tag);
      if (grid) planned.set(tag, grid);
    } catch {
      // a preset file that no longer loads or expands: the page goes without its planned coverage, not without a page
    }
  }
  writeFileSync(path, reportHtml(dir, result, { ...opts, vendor, planned }));
  return { ...result, path };
}

function reportHtml(dir: string, result: PlotResult, opts: ReportOptions & { vendor: string; planned: ReadonlyMap<string, RunConfig[]> }): string {
  const vendor = opts.vendor.split('\\').join('/');
  const { records, points, figures, leftOut, runs } = result;
  const name = dir.replace(/\/+$/, '').split('/').pop() ?? dir;
  // this folder's own sweeps (a --beside folder's are listed with it, below)
  const { commands, reconstructed } = sweepCommands(dir, result.sources[0]!.records);
  const convention = opts.state ?? 'measured';
  const reportCommand = opts.reportCommand ?? `recallbench report ${dir} --state ${convention}`;
  const divergedCounted = divergedCountedRows(runs);
  const shared = sharedDatasets(figures.map((f) => f.spec));
  const search = searchRows(records);
  const has = (f: string) => existsSync(join(dir, f));
  const figureSections = figures
    .map(
      (f, i) => `<section class="figure-section" id="${escapeHtml(f.name)}">
<h2>${escapeHtml(f.title)}</h2>
<div class="figure" data-figure="${i}"></div>
<p class="caption">${escapeHtml(f.caption)}</p>
${has(`figures/${f.name}.svg`) ? `<p class="files">files: <a href="figures/${escapeHtml(f.name)}.svg">SVG</a> · ${has(`figures/${f.name}.png`) ? `<a href="figures/${escapeHtml(f.name)}.png">PNG</a> · ` : ''}<a href="figures/${escapeHtml(f.name)}.vl.json">vega-lite spec</a> · <a href="figures/${escapeHtml(f.name)}.csv">data (CSV)</a></p>` : `<p class="files">drawn on this page only (report --no-detail-files): <code>recallbench plot</code> writes its files</p>`}
</section>`,
    )
    .join('\n');
  const fontFaces = FONT_FILES.map((f) => f.split('/').pop()!)
    .map((file) => `@font-face { font-family: '${FONT_FAMILY}'; src: url('${vendor}/${file}') format('truetype'); font-weight: ${/Bold/.test(file) ? 'bold' : 'normal'}; }`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>recallbench results: ${escapeHtml(name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
${fontFaces}
body { font-family: '${FONT_FAMILY}', sans-serif; margin: 2em auto; max-width: 1500px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.caption { max-width: 75em; color: #333; } .files { font-size: 0.9em; color: #555; }
.figure { overflow-x: auto; }
/* vega sizes the SVG from text widths it measures before the page font is in use; DejaVu Sans draws wider, so let
   titles and legend labels run past the measured edge instead of being cut ("attentior") */
.figure svg { overflow: visible; margin-right: 4em; }
table.data { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0; }
table.data th, table.data td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
table.data th { background: #f3f3f3; position: sticky; top: 0; }
.tablewrap { max-height: 40em; overflow: auto; }
code, pre { background: #f6f6f6; padding: 1px 4px; }
.error { color: #b00; }
table.left-out td { white-space: normal; text-align: left; max-width: 60em; }
</style>
<script src="${vendor}/vega.min.js"></script>
<script src="${vendor}/vega-lite.min.js"></script>
</head>
<body>
<h1>recallbench results: ${escapeHtml(name)}</h1>
<p>${counted(records.length, 'run')}: ${counted(records.length - leftOut.length, 'result')}${divergedCounted.length ? ` (${divergedCounted.length} of them diverged after some epochs and count for those)` : ''}${runs.some((a) => a.stopped) ? ` (${runs.filter((a) => a.stopped).length} stopped at a rung by successive halving: <a href="#search">not candidates for the points</a>)` : ''}, <strong${leftOut.length ? ' class="error"' : ''}>${leftOut.length} not results</strong>${leftOut.length ? ` (${escapeHtml(leftOutSummary(leftOut))}: <a href="#left-out">listed with reasons</a>; marked × in the figures' "left out" strip, never drawn as accuracies)` : ''}; ${counted(points.length, 'figure point')}, ${counted(figures.length, 'figure')}.
A figure point is one (mixer, model size/variant, task setting) at the learning rate with the best <strong>validation</strong> accuracy (mean over seeds); the numbers shown are <strong>test</strong> accuracies of that learning rate. State sizes on the x axes: <strong>${escapeHtml(convention)}</strong> convention.
Everything here is computed from <a href="runs.jsonl">runs.jsonl</a>${has('curves') ? ' and curves/' : ''}${result.sources.length > 1 ? ` and those of ${result.sources.slice(1).map((src) => `<code>${escapeHtml(src.dir)}</code>`).join(', ')} (report --beside: ${result.sources.slice(1).reduce((n, src) => n + src.records.length, 0)} of the ${records.length} runs; <a href="#provenance">provenance</a>)` : ''} alone.</p>
<nav>figures: ${figures.map((f) => `<a href="#${escapeHtml(f.name)}">${escapeHtml(f.name)}</a>`).join(' · ')} · <a href="#coverage">coverage and cost</a> · <a href="#tables">tables</a> · <a href="#left-out">runs that are not results</a> · <a href="#provenance">provenance</a></nav>
<p id="render-status" class="files">rendering ${figures.length} figures…</p>
${figureSections}
<section id="coverage">
<h2>Coverage and cost</h2>
<p>Per preset: the runs stored and what became of them, how many models (mixer, size, variant, task setting) have a figure point, the epochs trained and the sum of the runs' wall times (device time when each run had a GPU to itself; runs that shared a GPU each count their whole wall time). A grid's planned size is its preset's (<code>recallbench sweep PRESET --dry-run</code>); runs not yet stored are not counted here.</p>
${table(coverageRows(runs, points))}
${opts.planned.size ? `<p>Against each preset's planned grid (<code>recallbench sweep PRESET --dry-run</code>, as the preset file expands today; a scaled sweep's grid at its scale), per mixer: a setting is complete when every planned model of the mixer there has its figure point.</p>
${table(plannedCoverageRows(runs, points, opts.planned))}` : ''}
</section>
<section id="tables">
<h2>Tables</h2>
<p>CSV: <a href="tables/points.csv">figure points</a> · <a href="tables/excluded.csv">runs left out</a>${has('runs.csv') ? ' · <a href="runs.csv">every run</a>' : ''} · <a href="runs.jsonl">raw records (JSONL)</a></p>
<h3>Figure points (best learning rate on validation, test accuracy)</h3>
<div class="tablewrap">${table(pointRows(points))}</div>
</section>
${search.length ? `<section id="search">
<h2>Learning-rate search: successive halving</h2>
<p>Every learning rate of the grid started; at each rung (an epoch) the runs of a model were ranked by best validation accuracy so far and only the best ⌈n/eta⌉ went on — with a tie margin (<code>keepWithin</code> in the records' search), also every run within it of the last of those. Stopped runs are results up to their rung (their curves are drawn dotted, ending in a square) but not candidates for a figure point: a point is the best <em>surviving</em> learning rate. Full-grid epochs count every stopped run to its last epoch — an upper bound, since it might have stopped early.</p>
${table(search)}
</section>` : ''}
<section id="left-out">
<h2>Runs that are not results</h2>
<p>A run is left out of every figure and of the choice of the best learning rate when it <strong>failed</strong> (the GPU faulted or the run crashed: its error below), is <strong>invalid</strong> (its stored numbers break what any working model satisfies — losses finite and ≥ (1 − accuracy)·ln 2, accuracies in [0, 1], record and curve agreeing; the checks of <code>recallbench verify</code>), or <strong>diverged</strong> before its first evaluation (no finite epoch). The figures mark such runs with × in a grey “left out” strip under the accuracy axis, at their model's position; they are never drawn as an accuracy.</p>
${leftOut.length ? `<div class="tablewrap">${table(excludedRows(leftOut), 'data left-out')}</div>` : '<p><em>none: every run is a result</em></p>'}
${divergedCounted.length ? `<h3>Diverged after some epochs (results for their finite epochs)</h3>
<p>These runs hit a NaN/Inf loss after at least one evaluated epoch. They count, like every run, by their best finite epoch (on validation); their curves are drawn dashed.</p>
<div class="tablewrap">${table(divergedCounted, 'data diverged')}</div>` : ''}
</section>
<section id="provenance">
<h2>Provenance</h2>
<p>${reconstructed ? 'Sweep command, reconstructed from the records\' preset field (this folder has no commands.jsonl):' : 'Sweep commands (commands.jsonl):'}</p>
<pre>${commands.map((c) => escapeHtml(`${c.command}${c.startedAt ? `    # started ${c.startedAt}` : ''}${c.backend ? ` on ${c.backend}${c.device ? ` (${c.device})` : ''}` : ''}`)).join('\n')}</pre>
${result.sources
  .slice(1)
  .filter((src) => src.records.length > 0)
  .map((src) => {
    const own = sweepCommands(src.dir, src.records);
    return `<p>Drawn beside this folder's runs (report --beside): the ${src.records.length} run(s) of <code>${escapeHtml(src.dir)}</code> that this folder does not hold, made by${own.reconstructed ? ' (reconstructed from their preset field)' : ''}:</p>
<pre>${own.commands.map((c) => escapeHtml(c.command)).join('\n')}</pre>`;
  })
  .join('\n')}
<p>Figures and this page: <code>${escapeHtml(reportCommand)}</code> (or <code>${escapeHtml(`recallbench plot ${dir} --state ${convention}`)}</code> for the figure files alone).</p>
<p>Runs by preset, backend, device, versions and code (from the records):</p>
${table(provenanceRows(records))}
<h3>Every run</h3>
<p>commit: the git commit that trained the run (+dirty: with uncommitted changes); levers: the WebGPU fast-path levers on (and which were off); driver: as the GPU adapter reports it. <em>unknown</em>: a record made before provenance was stored.</p>
<div class="tablewrap">${table(runRows(runs), 'data runs')}</div>
</section>
<script>
const DATASETS = ${scriptJson(shared.datasets)};
const FIGURES = ${scriptJson(shared.specs)};
// a figure whose data another figure shares names it by index (sharedDatasets): put the rows back before drawing
// (each figure its own copy of the rows: vega writes ids and computed fields into the row objects it is given)
for (const spec of FIGURES) if (spec.data && typeof spec.data.dataset === 'number') spec.data = { values: DATASETS[spec.data.dataset].map((row) => ({ ...row })) };
window.__recallbench = { expected: FIGURES.length, rendered: 0, errors: [] };
(async () => {
  const status = document.getElementById('render-status');
  const nodes = document.querySelectorAll('.figure');
  await Promise.all(FIGURES.map(async (spec, i) => {
    try {
      const compiled = vegaLite.compile(spec).spec;
      const view = new vega.View(vega.parse(compiled), { renderer: 'svg', container: nodes[i], hover: true });
      await view.runAsync();
      window.__recallbench.rendered++;
    } catch (e) {
      window.__recallbench.errors.push(String(e && e.message || e));
      nodes[i].innerHTML = '<p class="error">could not draw this figure: ' + String(e && e.message || e).replace(/</g, '&lt;') + '</p>';
      console.error(e);
    }
  }));
  status.textContent = window.__recallbench.rendered + ' of ' + FIGURES.length + ' figures drawn' + (window.__recallbench.errors.length ? ' (' + window.__recallbench.errors.length + ' failed)' : '') + '; click a legend entry to highlight a mixer, hover a point for its numbers.';
  window.__recallbench.done = true;
})();
</script>
</body>
</html>
`;
}
