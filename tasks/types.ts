// Shared shapes of every recall task. Tasks are pure TypeScript: no tfjs here.

/** A slice's parameters, e.g. { seqLen: 256, numKvPairs: 16 } — accuracy is reported per slice. */
export type SliceInfo = Record<string, string | number | boolean>;

/**
 * A block of examples that share one shape (one slice): a batch never mixes segments.
 * Arrays are row-major [count, seqLen].
 */
export interface Segment {
  /** Stable, human-readable key of the slice, e.g. "L256-K16" or "A4-B128". */
  key: string;
  slice: SliceInfo;
  seqLen: number;
  count: number;
  inputs: Int32Array;
  /** Token to predict at each position; -100 = not supervised. */
  labels: Int32Array;
  /**
   * Length of the "context" part of every example (MQAR: the kv block × passes; SD: everything before
   * the answer marker). Prefix-linear-attention mixers (JRT-RNN) read it non-causally.
   */
  prefixLength: number;
  /** regbench (tasks/regbench.ts): each example's language, for the set-valued metrics; absent for other tasks. */
  languages?: PackedLanguages;
}

/** The split a segment is drawn for (tasks/dataset.ts buildSplits passes it to generate). */
export type TaskSplit = 'train' | 'validation' | 'test';

/**
 * One canonical minimal DFA per example, packed: next[(e·maxStates + s)·numSymbols + σ] = the state after symbol σ
 * (token σ + 1) from state s, or −1; state 0 starts; bit s of accepting[e] set = state s accepts.
 */
export interface PackedLanguages {
  maxStates: number;
  numSymbols: number;
  next: Int8Array;
  accepting: Int32Array;
  numStates: Uint8Array;
}

/** A curve of the set-valued metrics: index i = position i, or i complete strings seen; null where nothing was scored. */
export interface ValidityCurve {
  validity: (number | null)[];
  tv: (number | null)[];
  /** Scored positions per index. */
  positions: number[];
}

/**
 * Set-valued next-token metrics (regbench): over the split's supervised positions, `validity` = the fraction whose
 * greedy (argmax) token is in the position's allowed set, `tv` = the mean total-variation distance between the
 * model's next-token distribution and the uniform distribution over the allowed set; per position and per number of
 * complete in-context strings seen.
 */
export interface ValidityMetrics {
  validity: number;
  tv: number;
  positions: number;
  /**
   * The validity of a model that always predicts the delimiter: the fraction of positions where a string may end.
   * A floor that needs no knowledge of the language (with every state accepting, every position but a string's first).
   */
  delimiterValidity?: number;
  byStrings: ValidityCurve;
  byPosition: ValidityCurve;
}

/**
 * The per-task evaluation hook for set-valued targets (engine/train.ts evaluate): a task whose positions admit
 * several right tokens scores a batch from its probabilities. Tasks without it (MQAR, SD, ...) keep the
 * single-label path untouched.
 */
export interface SetTargetMetrics {
  name: string;
  /** A fresh accumulator for one evaluated split. */
  start(): SetTargetAccumulator;
}

export interface SetTargetAccumulator {
  /**
   * One evaluated batch: examples [start, start + B) of `segment`; `rows` = the supervised rows (b·T + t, in
   * order); `probs` = their softmax distributions, row-major [rows.length, vocab]. Writes right[i] = 1 when row
   * i's greedy token is right (in its allowed set), predicted[i] = that greedy token, and accumulates the metrics.
   */
  add(segment: Segment, start: number, rows: Int32Array, probs: Float32Array, vocab: number, right: Uint8Array, predicted: Int32Array): void;
  result(): ValidityMetrics;
}

/** One example, as exported by `recallbench data`. */
export interface Example {
  inputs: Int32Array;
  labels: Int32Array;
  slices: SliceInfo;
}

export const IGNORE_INDEX = -100;

/** Thrown for impossible task settings; the CLI turns it into a one-line error with exit code 2. */
export class TaskConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskConfigError';
  }
}

/** Copy example i of a segment out as a standalone Example. */
export function exampleAt(segment: Segment, i: number): Example {
  const from = i * segment.seqLen;
  return {
    inputs: segment.inputs.slice(from, from + segment.seqLen),
    labels: segment.labels.slice(from, from + segment.seqLen),
    slices: segment.slice,
  };
}
