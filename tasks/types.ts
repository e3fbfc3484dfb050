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
