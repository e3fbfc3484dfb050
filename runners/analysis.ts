// From run records to figure points. Everything the plots and the report show is computed here, from runs.jsonl
// alone (plus curves/*.json for training curves):
//
//   group     = runs that differ only in learning rate and seed: same architecture label, model (d_model, layers
//               and their parameters), task setting (the whole data config) and training settings.
//   best lr   = the learning rate whose runs have the highest MEAN VALIDATION accuracy over seeds (zoology picks
//               it on the test set; we do not). Ties go to the smaller learning rate.
//   point     = that group at its best lr: test accuracy (and per-slice test accuracy) as mean / min / max / std
//               over the seeds, plus the state size (measured and paper conventions) and parameter count.
//
// Further summaries: the Pareto front of (state bytes ↓, accuracy ↑) per mixer; the information-theoretic floor
// of MQAR (answering K queries whose values are drawn from V/2 tokens needs a state of at least K·log2(V/2)
// bits); set-disjointness accuracy split into small-first (|A| < |B|) and large-first slices.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from './config.js';
import type { RunRecord } from './results.js';
import type { EpochRecord } from '../engine/train.js';
import { getTask } from '../tasks/index.js';

export type StateConvention = 'measured' | 'paper';

export interface Spread {
  mean: number;
  min: number;
  max: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  std: number;
  n: number;
}

/** Mean, min, max and sample std of a non-empty list. */
export function spread(values: number[]): Spread {
  if (values.length === 0) throw new Error('spread of an empty list');
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const variance = n > 1 ? values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, min: Math.min(...values), max: Math.max(...values), std: Math.sqrt(variance), n };
}

/** One test slice of a task setting, with the parameters the figures need. */
export interface SliceInfo {
  key: string;
  task: string;
  passes: number;
  vocabSize?: number;
  /** MQAR (and MQAR-like tasks) */
  seqLen?: number;
  numKvPairs?: number;
  /** set disjointness */
  sizeA?: number;
  sizeB?: number;
  order?: 'small-first' | 'large-first' | 'equal';
}

/** A task setting = one entry of a preset's data axis (the whole data config of a run). */
export interface TaskSetting {
  /** Canonical JSON of the data config: the grouping key. */
  id: string;
  /** Short human label, unique within one analysis (e.g. "L64-K4", "mqar: 7 test slices, P2"). */
  label: string;
  task: string;
  /** JRT passes (1 without repetition); the same for every test slice of the setting. */
  passes: number;
  slices: SliceInfo[];
  /** Like `id` but with passes removed: settings that differ only in passes share it (JRT-prompt figure). */
  basis: string;
  basisLabel: string;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function sliceInfoOf(task: string, segment: Record<string, unknown>): SliceInfo {
  let key: string;
  try {
    key = getTask(task).sliceKey(segment as never);
  } catch {
    key = canonicalJson(segment);
  }
  const sizeA = num(segment.sizeA);
  const sizeB = num(segment.sizeB);
  const info: SliceInfo = { key, task, passes: num(segment.passes) ?? 1 };
  const vocabSize = num(segment.vocabSize);
  if (vocabSize !== undefined) info.vocabSize = vocabSize;
  const seqLen = num(segment.seqLen);
  if (seqLen !== undefined) info.seqLen = seqLen;
  const numKvPairs = num(segment.numKvPairs);
  if (numKvPairs !== undefined) info.numKvPairs = numKvPairs;
  if (sizeA !== undefined && sizeB !== undefined) {
    info.sizeA = sizeA;
    info.sizeB = sizeB;
    info.order = sizeA < sizeB ? 'small-first' : sizeA > sizeB ? 'large-first' : 'equal';
  }
  return info;
}

function withoutPasses(segments: Record<string, unknown>[]): Record<string, unknown>[] {
  return segments.map(({ passes: _p, ...rest }) => rest);
}

function settingOf(record: RunRecord): Omit<TaskSetting, 'label' | 'basisLabel'> {
  const data = record.config.data;
  const { seed: _seed, ...dataNoSeed } = data;
  const slices = data.test.map((s) => sliceInfoOf(data.task, s));
  const passes = Math.max(1, ...slices.map((s) => s.passes));
  const basis = canonicalJson({
    ...dataNoSeed,
    train: withoutPasses(data.train),
    test: withoutPasses(data.test),
    ...(data.validation ? { validation: withoutPasses(data.validation) } : {}),
  });
  return { id: canonicalJson(data), task: data.task, passes, slices, basis };
}

function describeSlices(task: string, slices: SliceInfo[], passes: number): string {
  const keys = slices.map((s) => s.key.replace(/-P\d+$/, ''));
  const body = keys.length <= 3 ? keys.join(', ') : `${keys.length} test slices`;
  const prefix = task === 'mqar' && keys.length <= 3 ? '' : `${task}: `;
  return `${prefix}${body}${passes > 1 ? `, P${passes}` : ''}`;
}

/** Short labels for settings, made unique with a #n suffix where two settings would read the same. */
function labelSettings(settings: Omit<TaskSetting, 'label' | 'basisLabel'>[]): TaskSetting[] {
  const used = new Map<string, number>();
  const basisLabels = new Map<string, string>();
  const out: TaskSetting[] = [];
  for (const s of settings) {
    let label = describeSlices(s.task, s.slices, s.passes);
    const n = (used.get(label) ?? 0) + 1;
    used.set(label, n);
    if (n > 1) label = `${label} #${n}`;
    if (!basisLabels.has(s.basis)) {
      let b = describeSlices(s.task, s.slices, 1);
      if ([...basisLabels.values()].includes(b)) b = `${b} #${basisLabels.size + 1}`;
      basisLabels.set(s.basis, b);
    }
    out.push({ ...s, label, basisLabel: basisLabels.get(s.basis)! });
  }
  return out;
}

/** Order of settings in panels: by task, then by the slices' sizes (L, K or |A|+|B|), then passes. */
export function compareSettings(a: TaskSetting, b: TaskSetting): number {
  const size = (s: TaskSetting) => Math.max(...s.slices.map((x) => x.seqLen ?? (x.sizeA ?? 0) + (x.sizeB ?? 0)));
  const kv = (s: TaskSetting) => Math.max(...s.slices.map((x) => x.numKvPairs ?? 0));
  return a.task.localeCompare(b.task) || a.slices.length - b.slices.length || size(a) - size(b) || kv(a) - kv(b) || a.passes - b.passes || a.label.localeCompare(b.label);
}

/** Every distinct task setting of the records, in first-seen order. */
export function taskSettings(records: RunRecord[]): TaskSetting[] {
  const seen = new Map<string, Omit<TaskSetting, 'label' | 'basisLabel'>>();
  for (const r of records) {
    const s = settingOf(r);
    if (!seen.has(s.id)) seen.set(s.id, s);
  }
  return labelSettings([...seen.values()]);
}

/** Layer-parameter paths (`layer.param`) whose values differ between runs of the same architecture label. */
function varyingParams(records: RunRecord[]): Map<string, string[]> {
  const byLabel = new Map<string, Map<string, Set<string>>>();
  for (const r of records) {
    const m = byLabel.get(r.label) ?? new Map<string, Set<string>>();
    byLabel.set(r.label, m);
    const add = (k: string, v: unknown) => {
      const set = m.get(k) ?? new Set<string>();
      set.add(JSON.stringify(v));
      m.set(k, set);
    };
    add('nLayers', r.config.model.nLayers);
    r.config.model.layers.forEach((l, i) => {
      add(`${i}.mixer`, l.mixer);
      for (const [k, v] of Object.entries(l.params ?? {})) add(`${i}.${k}`, v);
    });
  }
  const out = new Map<string, string[]>();
  for (const [label, m] of byLabel) out.set(label, [...m].filter(([, vals]) => vals.size > 1).map(([k]) => k));
  return out;
}

function paramAt(record: RunRecord, path: string): unknown {
  if (path === 'nLayers') return record.config.model.nLayers;
  const [i, k] = path.split('.') as [string, string];
  const layer = record.config.model.layers[Number(i)];
  if (!layer) return undefined;
  return k === 'mixer' ? layer.mixer : layer.params?.[k];
}

/** Short names for parameters in legends and tables. */
const SHORT_PARAM: Record<string, string> = { featureDim: 'f', stateDim: 'N', windowSize: 'w', numHeads: 'H', kernelSize: 'k', nLayers: 'layers' };

export interface FigurePoint {
  /** Group key (everything but lr and seed). */
  key: string;
  label: string;
  setting: TaskSetting;
  dModel: number;
  nLayers: number;
  /** Parameters that vary within this label, e.g. { f: 8 } (empty when the label has one variant per d_model). */
  variant: Record<string, unknown>;
  /** e.g. "d64 f8" */
  variantLabel: string;
  params: number;
  stateBytes: { measured: number; paper: number };
  stateFloats: { measured: number; paper: number };
  bestLr: number;
  learningRates: number[];
  validation: Spread;
  test: Spread;
  /** Test accuracy per slice key at the best lr, over seeds. */
  slices: Record<string, Spread>;
  /** The runs at the best lr (one per seed): id, seed and test accuracy per slice. */
  bestRuns: { id: string; seed: number; test: number; slices: Record<string, number> }[];
  /** Ids of every run of the group. */
  runIds: string[];
  /** Runs of the group that failed (excluded from selection). */
  failed: number;
  epochs: number;
}

export function stateBytesOf(p: { stateBytes: { measured: number; paper: number } }, convention: StateConvention): number {
  return p.stateBytes[convention];
}

/**
 * Best learning rate per group, chosen on mean validation accuracy over seeds, reported on test.
 * Failed runs are left out (a group with only failed runs yields no point).
 */
export function figurePoints(records: RunRecord[]): FigurePoint[] {
  const settings = new Map(taskSettings(records).map((s) => [s.id, s]));
  const varying = varyingParams(records);
  const groups = new Map<string, RunRecord[]>();
  for (const r of records) {
    const { lr: _lr, ...trainNoLr } = r.config.train;
    const key = canonicalJson({ label: r.label, model: r.config.model, data: r.config.data, train: trainNoLr });
    const g = groups.get(key) ?? [];
    g.push(r);
    groups.set(key, g);
  }
  const points: FigurePoint[] = [];
  for (const [key, runs] of groups) {
    const ok = runs.filter((r) => r.status !== 'failed');
    if (ok.length === 0) continue;
    const byLr = new Map<number, RunRecord[]>();
    for (const r of ok) byLr.set(r.config.train.lr, [...(byLr.get(r.config.train.lr) ?? []), r]);
    const lrs = [...byLr.keys()].sort((a, b) => a - b);
    let bestLr = lrs[0]!;
    let bestVal = -Infinity;
    for (const lr of lrs) {
      const v = spread(byLr.get(lr)!.map((r) => r.validationAccuracy)).mean;
      if (v > bestVal) {
        bestVal = v;
        bestLr = lr;
      }
    }
    const best = byLr.get(bestLr)!.slice().sort((a, b) => a.seed - b.seed);
    const first = best[0]!;
    const setting = settings.get(canonicalJson(first.config.data))!;
    const variant: Record<string, unknown> = {};
    for (const path of varying.get(first.label) ?? []) {
      const name = path === 'nLayers' ? 'nLayers' : path.split('.')[1]!;
      const short = SHORT_PARAM[name] ?? name;
      const v = paramAt(first, path);
      if (v !== undefined) variant[short in variant ? path : short] = v;
    }
    const sliceKeys = [...new Set(best.flatMap((r) => Object.keys(r.testSlices ?? {})))];
    const slices: Record<string, Spread> = {};
    for (const k of sliceKeys) {
      const vals = best.map((r) => r.testSlices?.[k]).filter((v): v is number => typeof v === 'number');
      if (vals.length) slices[k] = spread(vals);
    }
    points.push({
      key,
      label: first.label,
      setting,
      dModel: first.config.model.dModel,
      nLayers: first.config.model.nLayers,
      variant,
      variantLabel: [`d${first.config.model.dModel}`, ...Object.entries(variant).map(([k, v]) => `${k}${typeof v === 'number' ? '' : '='}${String(v)}`)].join(' '),
      params: first.params,
      stateBytes: first.stateBytes,
      stateFloats: first.stateFloats,
      bestLr,
      learningRates: lrs,
      validation: spread(best.map((r) => r.validationAccuracy)),
      test: spread(best.map((r) => r.testAccuracy)),
      slices,
      bestRuns: best.map((r) => ({ id: r.id, seed: r.seed, test: r.testAccuracy, slices: { ...(r.testSlices ?? {}) } })),
      runIds: runs.map((r) => r.id),
      failed: runs.length - ok.length,
      epochs: Math.max(...best.map((r) => r.epochs)),
    });
  }
  return points.sort(
    (a, b) => a.label.localeCompare(b.label) || a.setting.label.localeCompare(b.setting.label) || a.dModel - b.dModel || a.variantLabel.localeCompare(b.variantLabel, 'en', { numeric: true }),
  );
}

/** Per (label, d_model, setting): the variant with the best mean validation accuracy (for accuracy-vs-width). */
export function bestVariantPerWidth(points: FigurePoint[]): FigurePoint[] {
  const best = new Map<string, FigurePoint>();
  for (const p of points) {
    const k = `${p.label}|${p.dModel}|${p.setting.id}`;
    const prev = best.get(k);
    if (!prev || p.validation.mean > prev.validation.mean) best.set(k, p);
  }
  return [...best.values()];
}

/**
 * Pareto front of (x ↓, y ↑): the points that no other point beats on both (smaller or equal x with larger y,
 * or smaller x with equal y). Returned sorted by x, with y strictly increasing.
 */
export function paretoFront<T>(items: T[], x: (t: T) => number, y: (t: T) => number): T[] {
  const sorted = items.slice().sort((a, b) => x(a) - x(b) || y(b) - y(a));
  const front: T[] = [];
  let bestY = -Infinity;
  for (const t of sorted) {
    if (y(t) > bestY) {
      front.push(t);
      bestY = y(t);
    }
  }
  return front;
}

/** Information-theoretic floor: K values drawn from V/2 tokens take K·log2(V/2) bits to hold. */
export function informationFloorBits(numKvPairs: number, vocabSize: number): number {
  return numKvPairs * Math.log2(vocabSize / 2);
}

export function informationFloorBytes(numKvPairs: number, vocabSize: number): number {
  return informationFloorBits(numKvPairs, vocabSize) / 8;
}

/**
 * The floor of a setting: the state needed to answer every query of its hardest test slice (largest K·log2(V/2)),
 * or undefined for tasks without key-value slices.
 */
export function settingFloor(setting: TaskSetting): { bytes: number; bits: number; numKvPairs: number; vocabSize: number } | undefined {
  let best: { bytes: number; bits: number; numKvPairs: number; vocabSize: number } | undefined;
  for (const s of setting.slices) {
    if (s.numKvPairs === undefined || s.vocabSize === undefined) continue;
    const bits = informationFloorBits(s.numKvPairs, s.vocabSize);
    if (!best || bits > best.bits) best = { bits, bytes: bits / 8, numKvPairs: s.numKvPairs, vocabSize: s.vocabSize };
  }
  return best;
}

export interface OrderSplit {
  /** Mean test accuracy over small-first (|A| < |B|) slices, over large-first slices, and small − large; each
   *  computed per seed and then summarised over the seeds. */
  smallFirst: Spread;
  largeFirst: Spread;
  difference: Spread;
  smallSlices: string[];
  largeSlices: string[];
}

/** Set disjointness order split of a point; undefined unless its setting has both kinds of slice. */
export function orderSplit(point: FigurePoint): OrderSplit | undefined {
  const present = (k: string) => point.bestRuns.every((r) => typeof r.slices[k] === 'number');
  const smallSlices = point.setting.slices.filter((s) => s.order === 'small-first').map((s) => s.key).filter(present);
  const largeSlices = point.setting.slices.filter((s) => s.order === 'large-first').map((s) => s.key).filter(present);
  if (smallSlices.length === 0 || largeSlices.length === 0) return undefined;
  const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
  const small = point.bestRuns.map((r) => mean(smallSlices.map((k) => r.slices[k]!)));
  const large = point.bestRuns.map((r) => mean(largeSlices.map((k) => r.slices[k]!)));
  return {
    smallFirst: spread(small),
    largeFirst: spread(large),
    difference: spread(small.map((s, i) => s - large[i]!)),
    smallSlices,
    largeSlices,
  };
}

/** Training curve of a run (curves/<id>.json), or undefined when absent or unreadable. */
export function readCurve(dir: string, id: string): EpochRecord[] | undefined {
  const path = join(dir, 'curves', `${id}.json`);
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return Array.isArray(parsed) ? (parsed as EpochRecord[]) : undefined;
  } catch {
    return undefined;
  }
}
