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
//   left out = runs that are not results: 'failed' (a GPU fault or a crash: status 'failed' with its error),
//               'invalid' (numbers no working model produces: runners/verify.ts, passed in by the caller), or
//               'diverged' before their first evaluation (no finite epoch). They never take part in the best-lr
//               pick and are never drawn as an accuracy: the figures mark them apart (charts/common.ts) and the
//               tables list them with the reason. A run that diverged after some finite epochs counts for those
//               epochs (its record holds its best finite epoch), as every finished run does.
//
//   stopped  = runs that successive halving stopped at a rung (status 'stopped', runners/search.ts): results up to
//               their rung epoch (their curves are drawn, marked as stopped), but not candidates for the point —
//               the point is the best SURVIVING learning rate (with several seeds, the mean over its surviving
//               seeds). A group whose survivors are not stored yet (a sweep in progress) has no point.
//
// Further summaries: the Pareto front of (state bytes ↓, accuracy ↑) per mixer; the information-theoretic floor
// of MQAR (answering K queries whose values are drawn from V/2 tokens needs a state of at least K·log2(V/2)
// bits); set-disjointness accuracy split into small-first (|A| < |B|) and large-first slices.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, type RunConfig } from './config.js';
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

function sliceInfoOf(task: string, segment: Record<string, unknown>): SliceInfo {
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

/** Why a run is not a result (see the header). */
export type LeftOutKind = 'failed' | 'invalid' | 'diverged';
const LEFT_OUT_KINDS: readonly LeftOutKind[] = ['failed', 'invalid', 'diverged'];

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
  /** Ids of every run of the group, left-out ones included. */
  runIds: string[];
  /** Runs of the group that are not results, by why (none of them took part in choosing the best lr). */
  leftOut: Record<LeftOutKind, number>;
  /** Runs of the group that diverged after some finite epochs and count for those epochs. */
  divergedCounted: number;
  /** Runs of the group that successive halving stopped at a rung (not candidates for the point). */
  stopped: number;
  epochs: number;
  /**
   * Learning rates of the label's grid — every lr some run of this label has a record at, in these records — without
   * a result in this group yet (not run, in flight, or left out): a provisional point, which a finished group's
   * other lrs could still move. Empty when the group has them all.
   */
  lrsMissing: number[];
  /**
   * Seeds of the label's grid — every seed some run of this label has a record at, in these records — without a
   * result in this group yet (a campaign that runs one seed of every point first): provisional likewise, its spread
   * over fewer seeds than the others'. Empty when the group has them all.
   */
  seedsMissing: number[];
}

/** One run as the analysis sees it: its group (the point it belongs to) and whether it is a result. */
export interface AnalysedRun {
  record: RunRecord;
  /** Group key: the FigurePoint.key of its group. */
  key: string;
  setting: TaskSetting;
  variantLabel: string;
  /** Present when the run is not a result. */
  leftOut?: { kind: LeftOutKind; reason: string };
  /** One of the runs its group's point is computed from (best lr, every seed). */
  atBestLr: boolean;
  /** Successive halving stopped it at this rung (1-based) and epoch. */
  stopped?: { rung: number; epoch: number };
}

/** A run that is not a result, with where it would have been drawn. */
export interface LeftOutRun {
  id: string;
  /** Group key: the point the run would have belonged to. */
  key: string;
  label: string;
  setting: TaskSetting;
  dModel: number;
  variantLabel: string;
  lr: number;
  seed: number;
  status: RunRecord['status'];
  kind: LeftOutKind;
  reason: string;
  /**
   * The group's state size, for placing a mark on a state axis: the run's own, or that of another run of its
   * group (a failed run never measured it); undefined when no run of the group did.
   */
  stateBytes?: { measured: number; paper: number };
  /** Its group still has a point (from its other runs). */
  groupHasPoint: boolean;
  record: RunRecord;
}

export interface Analysis {
  points: FigurePoint[];
  /** Every run that is not a result, in the order of the records. */
  leftOut: LeftOutRun[];
  /** Every run, in the order of the records. */
  runs: AnalysedRun[];
}

/**
 * Whether a run is a result, and if not why. `violations`: the run's verify violations (runners/verify.ts
 * recordViolations), [] for a sane run. A failed run's own reason comes first, then impossible numbers, then a
 * run without any evaluated epoch (its record's accuracies are placeholders, not measurements).
 */
export function leftOutReason(record: RunRecord, violations: readonly string[] = []): { kind: LeftOutKind; reason: string } | undefined {
  if (record.status === 'failed') return { kind: 'failed', reason: record.error ?? 'failed without a recorded reason' };
  if (violations.length) return { kind: 'invalid', reason: violations.join('; ') };
  if (record.epochs === 0) {
    return record.status === 'diverged'
      ? { kind: 'diverged', reason: `diverged at step ${record.divergedAtStep ?? '?'}, before its first evaluation: no finite epoch` }
      : { kind: 'invalid', reason: `status '${record.status}' with no evaluated epoch` };
  }
  return undefined;
}

/** A model's key — the figure point it belongs to: its label and config without the learning rate (and seed). */
export function modelKey(label: string, config: RunConfig): string {
  const { lr: _lr, ...trainNoLr } = config.train;
  return canonicalJson({ label, model: config.model, data: config.data, train: trainNoLr });
}

/**
 * Best learning rate per group, chosen on mean validation accuracy over seeds, reported on test. Runs that are
 * not results (failed, `invalid` — id → violations, from runners/verify.ts — or diverged before any evaluation)
 * take no part: a group with only such runs yields no point, and they are returned as `leftOut`.
 */
export function analyseRuns(records: RunRecord[], invalid: ReadonlyMap<string, readonly string[]> = new Map()): Analysis {
  const settings = new Map(taskSettings(records).map((s) => [s.id, s]));
  const varying = varyingParams(records);
  const groups = new Map<string, RunRecord[]>();
  const keyOf = new Map<RunRecord, string>();
  for (const r of records) {
    const key = modelKey(r.label, r.config);
    const g = groups.get(key) ?? [];
    g.push(r);
    groups.set(key, g);
    keyOf.set(r, key);
  }
  const reasonOf = new Map(records.map((r) => [r, leftOutReason(r, invalid.get(r.id) ?? [])]));
  const points: FigurePoint[] = [];
  // each label's learning-rate and seed grids as these records show them (the preset's once any width has run each)
  const lrGrid = new Map<string, Set<number>>();
  const seedGrid = new Map<string, Set<number>>();
  for (const r of records) {
    lrGrid.set(r.label, (lrGrid.get(r.label) ?? new Set()).add(r.config.train.lr));
    seedGrid.set(r.label, (seedGrid.get(r.label) ?? new Set()).add(r.seed));
  }
  const groupInfo = new Map<string, { variantLabel: string; setting: TaskSetting; stateBytes?: { measured: number; paper: number }; bestIds: Set<string>; hasPoint: boolean }>();
  for (const [key, runs] of groups) {
    const first = runs[0]!;
    const setting = settings.get(canonicalJson(first.config.data))!;
    const variant: Record<string, unknown> = {};
    for (const path of varying.get(first.label) ?? []) {
      const name = path === 'nLayers' ? 'nLayers' : path.split('.')[1]!;
      const short = SHORT_PARAM[name] ?? name;
      const v = paramAt(first, path);
      if (v !== undefined) variant[short in variant ? path : short] = v;
    }
    const variantLabel = [`d${first.config.model.dModel}`, ...Object.entries(variant).map(([k, v]) => `${k}${typeof v === 'number' ? '' : '='}${String(v)}`)].join(' ');
    // the state size is the model's (counted from its shapes, not trained): any run that built the model has it
    const measuredState = runs.find((r) => r.status !== 'failed' && r.stateBytes.measured > 0)?.stateBytes;
    const info = { variantLabel, setting, ...(measuredState ? { stateBytes: measuredState } : {}), bestIds: new Set<string>(), hasPoint: false };
    groupInfo.set(key, info);
    const results = runs.filter((r) => !reasonOf.get(r));
    // a stopped run is a result for its epochs, not a candidate: the point is the best surviving lr
    const ok = results.filter((r) => r.status !== 'stopped');
    if (ok.length === 0) continue;
    const byLr = new Map<number, RunRecord[]>();
    for (const r of ok) byLr.set(r.config.train.lr, [...(byLr.get(r.config.train.lr) ?? []), r]);
    const lrs = [...new Set(results.map((r) => r.config.train.lr))].sort((a, b) => a - b);
    const candidateLrs = [...byLr.keys()].sort((a, b) => a - b);
    let bestLr = candidateLrs[0]!;
    let bestVal = -Infinity;
    for (const lr of candidateLrs) {
      const v = spread(byLr.get(lr)!.map((r) => r.validationAccuracy)).mean;
      if (v > bestVal) {
        bestVal = v;
        bestLr = lr;
      }
    }
    const best = byLr.get(bestLr)!.slice().sort((a, b) => a.seed - b.seed);
    const sliceKeys = [...new Set(best.flatMap((r) => Object.keys(r.testSlices ?? {})))];
    const slices: Record<string, Spread> = {};
    for (const k of sliceKeys) {
      const vals = best.map((r) => r.testSlices?.[k]).filter((v): v is number => typeof v === 'number');
      if (vals.length) slices[k] = spread(vals);
    }
    const leftOut: Record<LeftOutKind, number> = { failed: 0, invalid: 0, diverged: 0 };
    for (const r of runs) {
      const why = reasonOf.get(r);
      if (why) leftOut[why.kind]++;
    }
    info.hasPoint = true;
    for (const r of best) info.bestIds.add(r.id);
    const pointState = best[0]!.stateBytes;
    points.push({
      key,
      label: first.label,
      setting,
      dModel: first.config.model.dModel,
      nLayers: first.config.model.nLayers,
      variant,
      variantLabel,
      params: best[0]!.params,
      stateBytes: pointState,
      stateFloats: best[0]!.stateFloats,
      bestLr,
      learningRates: lrs,
      validation: spread(best.map((r) => r.validationAccuracy)),
      test: spread(best.map((r) => r.testAccuracy)),
      slices,
      bestRuns: best.map((r) => ({ id: r.id, seed: r.seed, test: r.testAccuracy, slices: { ...(r.testSlices ?? {}) } })),
      runIds: runs.map((r) => r.id),
      leftOut,
      divergedCounted: ok.filter((r) => r.status === 'diverged').length,
      stopped: results.length - ok.length,
      epochs: Math.max(...best.map((r) => r.epochs)),
      lrsMissing: [...lrGrid.get(first.label)!].filter((lr) => !lrs.includes(lr)).sort((a, b) => a - b),
      seedsMissing: [...seedGrid.get(first.label)!].filter((seed) => !results.some((r) => r.seed === seed)).sort((a, b) => a - b),
    });
  }
  const runs: AnalysedRun[] = records.map((record) => {
    const key = keyOf.get(record)!;
    const info = groupInfo.get(key)!;
    const why = reasonOf.get(record);
    const s = record.status === 'stopped' && !why ? { stopped: { rung: record.search?.stoppedAtRung ?? 0, epoch: record.search?.rungEpoch ?? record.epochs } } : {};
    return { record, key, setting: info.setting, variantLabel: info.variantLabel, ...(why ? { leftOut: why } : {}), atBestLr: info.bestIds.has(record.id), ...s };
  });
  const leftOut: LeftOutRun[] = runs.flatMap((a) => {
    if (!a.leftOut) return [];
    const r = a.record;
    const info = groupInfo.get(a.key)!;
    const stateBytes = r.status !== 'failed' && r.stateBytes.measured > 0 ? r.stateBytes : info.stateBytes;
    return [{
      id: r.id,
      key: a.key,
      label: r.label,
      setting: a.setting,
      dModel: r.config.model.dModel,
      variantLabel: a.variantLabel,
      lr: r.config.train.lr,
      seed: r.seed,
      status: r.status,
      kind: a.leftOut.kind,
      reason: a.leftOut.reason,
      ...(stateBytes ? { stateBytes } : {}),
      groupHasPoint: info.hasPoint,
      record: r,
    }];
  });
  points.sort(
    (a, b) => a.label.localeCompare(b.label) || a.setting.label.localeCompare(b.setting.label) || a.dModel - b.dModel || a.variantLabel.localeCompare(b.variantLabel, 'en', { numeric: true }),
  );
  return { points, leftOut, runs };
}

/** The points of analyseRuns (runs that are not results left out; see there). */
export function figurePoints(records: RunRecord[], invalid: ReadonlyMap<string, readonly string[]> = new Map()): FigurePoint[] {
  return analyseRuns(records, invalid).points;
}

/** Left-out runs per kind, e.g. "failed 1, invalid 2" ('' for none). */
export function leftOutSummary(runs: { kind: LeftOutKind }[]): string {
  return LEFT_OUT_KINDS.map((k) => [k, runs.filter((r) => r.kind === k).length] as const)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
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

/**
 * Where a run's numbers came from, as table cells (runners/provenance.ts): the commit (short hash, "+dirty" when
 * the tree had uncommitted changes), the WebGPU fast-path levers (how many on, and which are off) and the driver.
 * 'unknown' for records made before provenance was stored.
 */
export function provenanceCells(record: RunRecord): { commit: string; levers: string; driver: string } {
  const p = record.provenance;
  if (!p) return { commit: 'unknown', levers: 'unknown', driver: 'unknown' };
  const cells = { commit: commitCell(p), levers: leversCell(p, record.backend), driver: p.driver ?? 'not reported' };
  // a resumed run whose earlier processes ran other code or levers says so beside the finishing process's
  const parts = record.parts ?? [];
  const epochs = (i: number) => `epochs ${parts[i]!.fromEpoch + 1}–${parts[i + 1]!.fromEpoch}`;
  for (const [key, of] of [['commit', (q: Part) => commitCell(q.provenance)], ['levers', (q: Part) => leversCell(q.provenance, q.backend)]] as const) {
    const earlier = parts.slice(0, -1).flatMap((q, i) => (of(q) !== cells[key] ? [`${epochs(i)}: ${of(q)}`] : []));
    if (earlier.length) cells[key] += ` (${earlier.join('; ')})`;
  }
  return cells;
}

type Part = NonNullable<RunRecord['parts']>[number];

function commitCell(p: NonNullable<RunRecord['provenance']>): string {
  return !p.commit || p.commit === 'unknown' ? 'unknown' : `${p.commit.slice(0, 7)}${p.dirty === true ? ' +dirty' : p.dirty === undefined ? ' (dirty?)' : ''}`;
}

function leversCell(p: NonNullable<RunRecord['provenance']>, backend: string): string {
  if (!p.fastPath) return `none (${backend})`;
  const entries = Object.entries(p.fastPath);
  const off = entries.filter(([, on]) => !on).map(([name]) => name);
  const toggles = p.dawnToggles?.length ? `; Dawn toggles ${p.dawnToggles.join(', ')}` : '';
  return `${entries.length - off.length}/${entries.length} on${off.length ? ` (off: ${off.join(', ')})` : ''}${toggles}`;
}

/** Training curve of a run: one reader, in results.ts. */
export { readCurve } from './results.js';
