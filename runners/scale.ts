// `--scale s` (0 < s ≤ 1): a smaller version of a preset with the same axes, so that a partial reproduction still
// draws every figure panel. What shrinks, and how:
//   - examples: every train / validation / test segment count × √s (train at least min(count, 512), test and
//     validation at least min(count, 200) so accuracies stay readable);
//   - epochs × √s (at least 1), so that training steps per run shrink by about s;
//   - size-like axes (d_model, mixer-parameter grids such as f, N, w, and a label's list of architecture entries,
//     e.g. H3 with N = d/4): k = max(2, round(n·s)) values, evenly spread over the list and always keeping both
//     endpoints (the smallest and the largest model stay, so a front keeps its ends);
//   - learning rates: all of them under successive halving (`search: {kind: "halving"}`, the paper presets: every
//     lr starts and the rungs stop the worse ones; explicit `rungs`/`minEpochs` shrink like epochs, ×√s); with
//     `search: {kind: "grid"}` the k = max(1, round(n·s)) middle values (a log grid's extremes are the least often
//     best; with fewer steps the upper middle is favoured);
//   - seeds: the first max(1, round(n·s)).
// Kept whole: every task setting (data entry) and every test slice, every architecture label, batch sizes,
// vocabularies, sequence lengths, and the model and optimiser settings.
import { UserInputError } from '../engine/errors.js';
import type { RunConfig } from './config.js';
import type { Preset } from './config.js';

/** Both endpoints and k − 2 values evenly spaced between them (k = max(2, round(n·s)), never more than n). */
export function keepEndpoints<T>(values: T[], s: number): T[] {
  const n = values.length;
  if (s >= 1 || n <= 2) return values.slice();
  const k = Math.min(n, Math.max(2, Math.round(n * s)));
  const idx = [...new Set(Array.from({ length: k }, (_, i) => Math.round((i * (n - 1)) / (k - 1))))];
  return idx.map((i) => values[i]!);
}

/** The k = max(1, round(n·s)) middle values (upper middle when the split is uneven). */
export function keepMiddle<T>(values: T[], s: number): T[] {
  const n = values.length;
  if (s >= 1) return values.slice();
  const k = Math.min(n, Math.max(1, Math.round(n * s)));
  const start = Math.ceil((n - k) / 2);
  return values.slice(start, start + k);
}

function scaleCount(count: unknown, factor: number, floor: number): unknown {
  if (typeof count !== 'number') return count;
  return Math.max(Math.min(count, floor), Math.ceil(count * factor));
}

const MIN_TRAIN = 512;
const MIN_EVAL = 200;

function scaleSegments(segments: Record<string, unknown>[] | undefined, factor: number, floor: number) {
  return segments?.map((seg) => ('count' in seg ? { ...seg, count: scaleCount(seg.count, factor, floor) } : { ...seg }));
}

function sortedNumbers(xs: number[]): number[] {
  return xs.slice().sort((a, b) => a - b);
}

/** A preset shrunk by `s` (see the header); s = 1 returns an unchanged copy. */
export function scalePreset(preset: Preset, s: number): Preset {
  if (!(Number.isFinite(s) && s > 0 && s <= 1)) throw new UserInputError(`--scale must be in (0, 1], got ${s}`);
  const copy = structuredClone(preset);
  if (s === 1) return copy;
  const f = Math.sqrt(s);
  const epochs = (e: number | undefined) => (e === undefined ? undefined : Math.max(1, Math.ceil(e * f)));

  const data = copy.data.map((d) => ({
    ...d,
    train: scaleSegments(d.train, f, MIN_TRAIN)!,
    test: scaleSegments(d.test, f, MIN_EVAL)!,
    ...(d.validation ? { validation: scaleSegments(d.validation, f, MIN_EVAL) } : {}),
    ...(d.trainOverrides ? { trainOverrides: { ...d.trainOverrides, ...(d.trainOverrides.epochs !== undefined ? { epochs: epochs(d.trainOverrides.epochs) } : {}) } } : {}),
  }));

  // Entries that share a label and task settings are one architecture listed per size (e.g. H3, N = d/4):
  // shrink that list like a size axis.
  const groups = new Map<string, typeof copy.architectures>();
  for (const a of copy.architectures) {
    const key = JSON.stringify([a.label, a.dataLabels ?? null]);
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  const keptEntries = new Set<object>();
  for (const entries of groups.values()) {
    const bySize = entries.slice().sort((a, b) => Math.min(...(a.dModels ?? copy.dModels)) - Math.min(...(b.dModels ?? copy.dModels)));
    for (const e of entries.length > 1 ? keepEndpoints(bySize, s) : entries) keptEntries.add(e);
  }

  // successive halving replaces dropping learning rates: every lr starts, the rungs stop the worse ones
  const halving = copy.search.kind === 'halving';
  const lrsOf = (lrs: number[]) => (halving ? lrs.slice() : keepMiddle(sortedNumbers(lrs), s));
  const search = copy.search.kind === 'halving'
    ? {
        ...copy.search,
        ...(copy.search.rungs ? { rungs: [...new Set(copy.search.rungs.map((r) => epochs(r)!))] } : {}),
        ...(copy.search.minEpochs !== undefined ? { minEpochs: epochs(copy.search.minEpochs) } : {}),
      }
    : copy.search;

  const architectures = copy.architectures
    .filter((a) => keptEntries.has(a))
    .map((a) => ({
      ...a,
      ...(a.dModels ? { dModels: keepEndpoints(sortedNumbers(a.dModels), s) } : {}),
      ...(a.learningRates ? { learningRates: lrsOf(a.learningRates) } : {}),
      ...(a.paramGrid ? { paramGrid: Object.fromEntries(Object.entries(a.paramGrid).map(([k, vs]) => [k, keepEndpoints(vs, s)])) } : {}),
    }));

  return {
    ...copy,
    description: `${copy.description} [--scale ${s}: examples and epochs ×√s, size axes and parameter grids keep their endpoints, ${halving ? 'every learning rate (successive halving)' : 'middle learning rates'}]`.trim(),
    data,
    architectures,
    dModels: keepEndpoints(sortedNumbers(copy.dModels), s),
    learningRates: lrsOf(copy.learningRates),
    search,
    seeds: copy.seeds.slice(0, Math.max(1, Math.round(copy.seeds.length * s))),
    train: { ...copy.train, ...(copy.train.epochs !== undefined ? { epochs: epochs(copy.train.epochs) } : {}) },
  };
}

/** Optimisation steps of a run if it never stops early: epochs × Σ over train segments ⌈count / batch⌉. */
export function trainingSteps(config: RunConfig): number {
  const perEpoch = config.data.train.reduce((n, seg) => n + Math.ceil(Number(seg.count ?? 0) / config.train.batchSize), 0);
  return perEpoch * config.train.epochs;
}
