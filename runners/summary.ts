// What a sweep prints: short names for its runs ("based d64 f8 lr0.01") and, at the end, the table of its models
// sorted by recurrent state size — the recall-vs-memory front as text. The numbers are the figures' own
// (runners/analysis.ts: best learning rate per model chosen on validation, test accuracy at it), so the table, the
// PNG and the report always agree. No drawing modules here: this runs in the GPU-host bundle too.
import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, runId, type RunConfig } from './config.js';
import { analyseRuns, type FigurePoint } from './analysis.js';
import { readRecords, type RunRecord } from './results.js';
import { trainingSteps } from './scale.js';
import { formatSeconds } from './progress.js';

/** Short names for parameters in run names (as the figures' legends write them). */
const SHORT: Record<string, string> = { featureDim: 'f', stateDim: 'N', windowSize: 'w', numHeads: 'H', kernelSize: 'k' };

/**
 * The mixer parameters that vary within each run's label over a grid, one short part each (f8, w64, k=…): what tells
 * runs of one label, d_model and lr apart (runNamer; bench/campaign_new_records.ts).
 */
export function paramNamer(configs: RunConfig[]): (config: RunConfig) => string[] {
  const values = new Map<string, Map<string, Set<string>>>();
  const note = (label: string, key: string, v: unknown) => {
    const byKey = values.get(label) ?? new Map<string, Set<string>>();
    values.set(label, byKey);
    const set = byKey.get(key) ?? new Set<string>();
    set.add(JSON.stringify(v));
    byKey.set(key, set);
  };
  for (const c of configs) {
    c.model.layers.forEach((l, i) => {
      for (const [k, v] of Object.entries(l.params ?? {})) note(c.label, `${i}.${k}`, v);
    });
  }
  return (c) => {
    const parts: string[] = [];
    c.model.layers.forEach((l, i) => {
      for (const [k, v] of Object.entries(l.params ?? {})) {
        if ((values.get(c.label)?.get(`${i}.${k}`)?.size ?? 0) > 1) parts.push(`${SHORT[k] ?? `${k}=`}${String(v)}`);
      }
    });
    return parts;
  };
}

/**
 * A function naming each run of a grid by what tells it apart from the others of its label: d_model, the mixer
 * parameters that vary within the label (f, w, ...), and the learning rate and seed where the grid has several.
 */
export function runNamer(configs: RunConfig[]): (config: RunConfig) => string {
  const paramsOf = paramNamer(configs);
  const lrs = new Set(configs.map((c) => c.train.lr));
  const seeds = new Set(configs.map((c) => c.seed));
  return (c) => {
    const parts = [c.label, `d${c.model.dModel}`, ...paramsOf(c)];
    if (lrs.size > 1 || configs.length === 1) parts.push(`lr${c.train.lr}`);
    // a seed other than 0 is said even alone: a seed-1 stretch of a two-seed grid (sweep --only-seeds 1) logs runs
    // whose names would otherwise equal seed 0's
    if (seeds.size > 1 || c.seed !== 0) parts.push(`seed${c.seed}`);
    return parts.join(' ');
  };
}

/** `n` and the noun, plural unless n is 1: "1 figure point", "2 figure points". */
export function counted(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** 2072 → "2.0 KB" (powers of 1024, as the figures' log2 axes). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '?';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

const acc = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '—');

/**
 * The end-of-sweep table: one row per model (at its best learning rate), sorted by measured state size — one
 * table per task setting, with a column per test slice where the setting has several — then the runs that are
 * not results, with why.
 */
export function frontTable(records: RunRecord[]): string {
  if (records.length === 0) return '(no runs)';
  const { points, leftOut } = analyseRuns(records);
  const settings = [...new Set(points.map((p) => p.setting.label))];
  const out: string[] = [];
  for (const setting of settings) {
    const mine = points.filter((p) => p.setting.label === setting);
    if (settings.length > 1) out.push(`${out.length ? '\n' : ''}task ${setting}`);
    out.push(settingTable(mine));
  }
  if (points.length === 0) out.push('(no run is a result yet)');
  for (const l of leftOut) out.push(`not a result: ${l.label} ${l.variantLabel} lr${l.lr} seed${l.seed}: ${l.status} — ${l.reason}`);
  return out.join('\n');
}

function settingTable(points: FigurePoint[]): string {
  const slices = points[0]!.setting.slices;
  const sliceKeys = slices.length > 1 ? slices.map((s) => s.key) : [];
  const manyLrs = points.some((p) => p.learningRates.length > 1);
  const manySeeds = points.some((p) => p.test.n > 1);
  const sorted = [...points].sort((a, b) => a.stateBytes.measured - b.stateBytes.measured || a.label.localeCompare(b.label) || a.variantLabel.localeCompare(b.variantLabel, 'en', { numeric: true }));
  const header = ['model', 'state', 'state (bytes)', 'params', manyLrs ? 'best lr' : 'lr', 'val acc', manySeeds ? 'test acc (mean of seeds)' : 'test acc', ...sliceKeys, 'epochs'];
  const body = sorted.map((p) => [
    `${p.label} ${p.variantLabel}`, formatBytes(p.stateBytes.measured), String(p.stateBytes.measured), String(p.params),
    String(p.bestLr), acc(p.validation.mean), acc(p.test.mean), ...sliceKeys.map((k) => (p.slices[k] ? acc(p.slices[k]!.mean) : '')), String(p.epochs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** What a step costs depends on: the model, the longest training sequence, the batch size (and the machine). */
function shapeKey(c: RunConfig): string {
  const seqLen = Math.max(...c.data.train.map((s) => Number(s.seqLen ?? Number(s.sizeA ?? 0) + Number(s.sizeB ?? 0))));
  return canonicalJson({ model: c.model, seqLen, batchSize: c.train.batchSize, evalBatchSize: c.train.evalBatchSize });
}

export interface TimeEstimate {
  /** Upper bound in seconds (every epoch, no early stop) of the runs that could be estimated. */
  seconds: number;
  /** Runs already stored in the results folder: nothing to train. */
  finished: number;
  estimated: number;
  unestimated: number;
  backend?: string;
  /**
   * For the runs this host has not timed: what other machines' stored runs of the same shapes say (the committed
   * campaign's GPU runs, for one) — the device with the most such shapes, its runs' upper bound and how many.
   */
  elsewhere?: { device: string; seconds: number; estimated: number };
  /** One line saying what the estimate is and what it rests on. */
  line: string;
}

/**
 * An honest estimate of a sweep's time before it runs: every run's steps × the wall time per step (training,
 * evaluation and checkpoints included) measured by a stored run of the same model shape, on this host, with this
 * backend (for `auto`: the backend this host's latest matching runs used). Measurements come from the results
 * folders given (the sweep's own and its siblings); runs whose shape was never timed here are counted, not guessed.
 */
export function estimateSweepTime(configs: RunConfig[], dirs: string[], backend: string, outDir: string): TimeEstimate {
  const host = hostname();
  const records: RunRecord[] = [];
  for (const d of new Set(dirs)) if (existsSync(join(d, 'runs.jsonl'))) records.push(...readRecords(d));
  const finishedHere = new Set(existsSync(join(outDir, 'runs.jsonl')) ? readRecords(outDir).filter((r) => r.status !== 'failed').map((r) => r.id) : []);
  const timed = timedLatestFirst(records).filter((r) => hostOf(r) === host && (backend === 'auto' || r.backend === backend));
  const usedBackend = backend === 'auto' ? timed[0]?.backend : backend;
  // one device's timings (hosts of one name may differ: the GPU machines lent here are all called 'vm', like this one)
  const usedDevice = timed.find((r) => r.backend === usedBackend)?.device;
  const perStep = stepTimes(timed.filter((r) => r.backend === usedBackend && r.device === usedDevice));
  const toEstimate = configs.filter((c) => !finishedHere.has(runId(c)));
  const finished = configs.length - toEstimate.length;
  const { seconds, estimated } = upperBound(toEstimate, perStep);
  const unestimated = toEstimate.length - estimated;
  const toTrain = toEstimate.length;
  const elsewhere = unestimated > 0 ? otherHostsEstimate(toEstimate.filter((c) => !perStep.has(shapeKey(c))), records, host) : undefined;
  const there = elsewhere
    ? `; on ${deviceName(elsewhere.device)} (other machines' runs of the same shapes under the results folders; a run that shared its GPU counts its whole wall time): at most ${formatSeconds(elsewhere.seconds)} for ${elsewhere.estimated} of the ${unestimated} run(s) not timed here`
    : '';
  let line: string;
  if (toTrain === 0) line = `estimated time: none — all ${configs.length} runs are already in ${outDir}`;
  else if (estimated === 0) line = `estimated time: unknown — no run of these model shapes has been timed on this host${backend === 'auto' ? '' : ` with ${backend}`} yet (the estimate uses measured step times only; a sweep times its runs as it goes)${there}`;
  else
    line = `estimated time: at most ${formatSeconds(seconds)} for ${estimated} of ${toTrain} runs to train, one at a time (step times measured on this host name with ${usedBackend}, ${deviceName(usedDevice ?? '')}; early stopping often ends runs sooner)${unestimated ? `; ${unestimated} run(s) of never-timed shapes not included` : ''}${finished ? `; ${finished} already finished` : ''}${there}`;
  return { seconds, finished, estimated, unestimated, ...(usedBackend ? { backend: usedBackend } : {}), ...(elsewhere ? { elsewhere } : {}), line };
}

/** The host name a record's worker ran on ("vm:3768" → "vm"). */
const hostOf = (r: RunRecord) => (r.worker ?? '').split(':')[0];

/** Stored runs whose wall time per step can be read (not failed, some steps), the latest first. */
function timedLatestFirst(records: RunRecord[]): RunRecord[] {
  return records.filter((r) => r.status !== 'failed' && r.steps > 0 && Number.isFinite(r.wallSeconds)).sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
}

/** Seconds per step by model shape, from the first (latest) of `timed` runs of each shape. */
function stepTimes(timed: RunRecord[]): Map<string, number> {
  const perStep = new Map<string, number>();
  for (const r of timed) if (!perStep.has(shapeKey(r.config))) perStep.set(shapeKey(r.config), r.wallSeconds / r.steps);
  return perStep;
}

/** Every run's steps × its shape's seconds per step, over the runs whose shape `perStep` holds. */
function upperBound(configs: RunConfig[], perStep: Map<string, number>): { seconds: number; estimated: number } {
  let seconds = 0;
  let estimated = 0;
  for (const c of configs) {
    const s = perStep.get(shapeKey(c));
    if (s === undefined) continue;
    seconds += s * trainingSteps(c);
    estimated++;
  }
  return { seconds, estimated };
}

/** A record's device without its placement note ("nvidia nvidia-h200 NVIDIA: 580.159.04 …", not "[gpu 0, pci …]"). */
function deviceName(device: string): string {
  return device.replace(/\s*\[[^\]]*\]\s*$/, '');
}

/**
 * The runs' upper bound on the device whose stored runs (from other machines) cover the most of their shapes: each
 * shape's latest such run's wall time per step × the run's steps. Undefined when no other machine ran any of them.
 */
function otherHostsEstimate(configs: RunConfig[], records: RunRecord[], host: string): { device: string; seconds: number; estimated: number } | undefined {
  const elsewhere = timedLatestFirst(records).filter((r) => hostOf(r) !== host);
  let best: { device: string; seconds: number; estimated: number } | undefined;
  // devices in the order of their latest run: a tie goes to the most recently timed
  for (const device of new Set(elsewhere.map((r) => r.device))) {
    const bound = upperBound(configs, stepTimes(elsewhere.filter((r) => r.device === device)));
    if (bound.estimated > 0 && (!best || bound.estimated > best.estimated)) best = { device, ...bound };
  }
  return best;
}

/** The results folders next to `outDir` (its parent's subfolders) and under results/: where earlier runs were timed. */
export function timingDirs(outDir: string, roots: string[]): string[] {
  const dirs = [outDir];
  for (const root of roots) {
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root)) dirs.push(join(root, name));
  }
  return dirs;
}
