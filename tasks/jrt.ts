// JRT prompting ("just read twice", arXiv 2407.05483) as a transform any task can use: the context is
// repeated `passes` times before the question, so a causal model sees every item after the whole set.
//
//   MQAR:  k1 v1 … kK vK  →  (k1 v1 … kK vK) × P, then the query region (L fixed; the query region shrinks).
//   SD:    [1] A [2] B [3]  →  [1] A [2] B [2] A [2] B [3]   (p = 2; copies joined by the separator 2).
//
// Supervision stays after the last copy. Three levels:
//   - repeatInPlace: the generators' fast path (copyWithin inside the big segment arrays);
//   - repeatContext: one token sequence → its repeated form;
//   - repeatContextSegment: a whole generated Segment (passes = 1) → its JRT form, labels and prefix shifted.
import { IGNORE_INDEX, TaskConfigError, type Segment, type SliceInfo } from './types.js';

/** Length of `passes` copies of a context of `contextLength` tokens, joined by a separator when `separated`. */
export function repeatedLength(contextLength: number, passes: number, separated: boolean): number {
  return passes * contextLength + (separated ? passes - 1 : 0);
}

export function checkPasses(task: string, passes: number): void {
  if (!Number.isInteger(passes) || passes < 1) {
    throw new TaskConfigError(`${task}: passes must be an integer ≥ 1, got ${passes}`);
  }
}

/**
 * The first copy of a context already sits at buf[start, start+length); write copies 2..passes right after it
 * (each preceded by `separator` when given). Returns the index just after the last copy.
 */
export function repeatInPlace(
  buf: Int32Array,
  start: number,
  length: number,
  passes: number,
  separator?: number,
): number {
  let at = start + length;
  for (let p = 1; p < passes; p++) {
    if (separator !== undefined) buf[at++] = separator;
    buf.copyWithin(at, start, start + length);
    at += length;
  }
  return at;
}

/** `passes` copies of `context`, joined by `separator` when given. */
export function repeatContext(context: ArrayLike<number>, passes: number, separator?: number): Int32Array {
  checkPasses('repeatContext', passes);
  const out = new Int32Array(repeatedLength(context.length, passes, separator !== undefined));
  for (let i = 0; i < context.length; i++) out[i] = context[i]!;
  repeatInPlace(out, 0, context.length, passes, separator);
  return out;
}

export interface RepeatSegmentOptions {
  /** Where the context starts in every example (SD: 1, after the start token; MQAR: 0). */
  contextStart: number;
  /** Context length (SD: |A| + 1 + |B|; MQAR: 2K). */
  contextLength: number;
  passes: number;
  /** Token between copies (SD: 2); none when undefined. */
  separator?: number;
  /** Slice of the result; default `{ ...segment.slice, passes }`. */
  slice?: SliceInfo;
  /** Key of the result; default `${segment.key}-P${passes}` (unchanged for passes = 1). */
  key?: string;
}

/**
 * JRT transform of a whole segment: every example's context region is repeated `passes` times (sequences grow
 * by (passes−1)·(contextLength + separator)). Labels inside the earlier copies and separators are IGNORE_INDEX;
 * the last copy keeps the original context labels; everything after the context (questions, labels) is
 * shifted. prefixLength grows by the inserted length when the original prefix covered the context.
 */
export function repeatContextSegment(segment: Segment, opts: RepeatSegmentOptions): Segment {
  const { contextStart: cs, contextLength: cl, passes } = opts;
  checkPasses('repeatContextSegment', passes);
  if (!Number.isInteger(cs) || !Number.isInteger(cl) || cs < 0 || cl < 1 || cs + cl > segment.seqLen) {
    throw new TaskConfigError(
      `repeatContextSegment: context [${cs}, ${cs + cl}) does not fit a sequence of length ${segment.seqLen}`,
    );
  }
  const sep = opts.separator !== undefined;
  const extra = repeatedLength(cl, passes, sep) - cl;
  const L = segment.seqLen;
  const L2 = L + extra;
  const n = segment.count;
  const inputs = new Int32Array(n * L2);
  const labels = new Int32Array(n * L2);
  for (let e = 0; e < n; e++) {
    const src = e * L;
    const dst = e * L2;
    inputs.set(segment.inputs.subarray(src, src + cs + cl), dst);
    labels.set(segment.labels.subarray(src, src + cs + cl), dst);
    // Copies 2..P of the context; the ORIGINAL labels stay on the last copy.
    const end = repeatInPlace(inputs, dst + cs, cl, passes, opts.separator);
    labels.fill(IGNORE_INDEX, dst + cs, end - cl);
    labels.set(segment.labels.subarray(src + cs, src + cs + cl), end - cl);
    inputs.set(segment.inputs.subarray(src + cs + cl, src + L), end);
    labels.set(segment.labels.subarray(src + cs + cl, src + L), end);
  }
  const prefixLength = segment.prefixLength >= cs + cl ? segment.prefixLength + extra : segment.prefixLength;
  return {
    key: opts.key ?? (passes === 1 ? segment.key : `${segment.key}-P${passes}`),
    slice: opts.slice ?? { ...segment.slice, passes },
    seqLen: L2,
    count: n,
    inputs,
    labels,
    prefixLength,
  };
}
