// The interface every recall task implements, plus small helpers the task generators share.
import { z } from 'zod';
import { zodErrorText } from '../core/zodText.js';
import type { Rng } from '../core/prng.js';
import { IGNORE_INDEX, TaskConfigError, type Segment, type SetTargetMetrics, type SliceInfo, type TaskSplit } from './types.js';

export interface TaskDefinition<P extends { count: number }> {
  /** 'mqar' | 'sd' | 'noisy-recall' | ... */
  name: string;
  description: string;
  /** Strict zod object schema of ONE segment's params incl. count, with defaults; unknown keys are rejected. */
  segmentSchema: z.ZodType<P>;
  /** Throws TaskConfigError with a one-line message naming the problem for impossible settings. */
  validate(p: P): void;
  /**
   * Examples [start, start+count) of the stream `seed` — pure: same args → byte-identical output. `split`: the split
   * the segment is drawn for (buildSplits passes it; tasks with held-out structure, e.g. regbench's languages, use
   * it; default 'train').
   */
  generate(p: P, seed: number, start?: number, split?: TaskSplit): Segment;
  /** Fixed slice key for a segment's params, e.g. "L256-K16". */
  sliceKey(p: P): string;
  vocabSize(p: P): number;
  /** Set-valued targets: the evaluation hook that scores a batch's distributions (regbench); absent = single labels. */
  evalMetrics?: SetTargetMetrics;
}

/** A task of unknown parameter type (the registry's element type). */
export type AnyTaskDefinition = TaskDefinition<{ count: number }>;

/** The largest total number of tokens (count × seqLen) one segment may hold (1 GiB per Int32Array). */
export const MAX_SEGMENT_TOKENS = 2 ** 28;
/** The longest sequence any task accepts. */
export const MAX_SEQ_LEN = 2 ** 20;

/** zod field helpers shared by the task schemas. */
export const zCount = z.number().int().min(1);
export const zPosInt = z.number().int().min(1);
export const zNonNegInt = z.number().int().min(0);

/**
 * Parse raw params with a task's schema (defaults filled, unknown keys rejected) and validate them;
 * any problem becomes a one-line TaskConfigError (prefixed with `where`, e.g. "test segment 3").
 */
export function parseParams<P extends { count: number }>(
  task: TaskDefinition<P>,
  raw: unknown,
  where?: string,
): P {
  const prefix = `${task.name}${where ? ` ${where}` : ''}`;
  const r = task.segmentSchema.safeParse(raw);
  if (!r.success) throw new TaskConfigError(`${prefix}: invalid params: ${zodErrorText(r.error, { all: true })}`);
  try {
    task.validate(r.data);
  } catch (e) {
    if (e instanceof TaskConfigError && where) throw new TaskConfigError(`${where}: ${e.message}`);
    throw e;
  }
  return r.data;
}

/** Checks `start` and the segment's total size; throws TaskConfigError. */
export function checkSegmentSize(task: string, count: number, seqLen: number, start = 0): void {
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new TaskConfigError(`${task}: start must be a non-negative integer, got ${start}`);
  }
  if (seqLen > MAX_SEQ_LEN) throw new TaskConfigError(`${task}: seqLen ${seqLen} exceeds the maximum ${MAX_SEQ_LEN}`);
  if (count * seqLen > MAX_SEGMENT_TOKENS) {
    throw new TaskConfigError(
      `${task}: count × seqLen = ${count} × ${seqLen} = ${count * seqLen} tokens exceeds the per-segment maximum ${MAX_SEGMENT_TOKENS}; split it into several segments`,
    );
  }
}

/** A zeroed inputs array and an IGNORE_INDEX-filled labels array for `count` rows of `seqLen`. */
export function allocSegment(
  key: string,
  slice: SliceInfo,
  seqLen: number,
  count: number,
  prefixLength: number,
): Segment {
  const labels = new Int32Array(count * seqLen);
  labels.fill(IGNORE_INDEX);
  return { key, slice, seqLen, count, inputs: new Int32Array(count * seqLen), labels, prefixLength };
}

/**
 * Distinct-token draws without allocation: `mark[t] === stamp` means token t is taken in the current example;
 * `next()` starts a new example (all marks cleared in O(1)). Output never depends on the stamp values.
 */
export class DistinctDraws {
  readonly mark: Uint32Array;
  stamp = 0;
  constructor(size: number) {
    this.mark = new Uint32Array(size);
  }
  next(): void {
    this.stamp++;
    if (this.stamp === 0xffffffff) {
      this.mark.fill(0);
      this.stamp = 1;
    }
  }
}

/**
 * Draw n distinct tokens uniformly from [lo, lo + range) into out[offset ..), in draw order (a uniformly random
 * ordered sample without replacement; rejection against `draws`' marks of the current example, so tokens
 * already taken in this example — e.g. keys when drawing values from an overlapping range — are excluded too).
 */
export function drawDistinct(
  rng: Rng,
  draws: DistinctDraws,
  lo: number,
  range: number,
  out: Int32Array,
  offset: number,
  n: number,
): void {
  const mark = draws.mark;
  const stamp = draws.stamp;
  for (let i = 0; i < n; i++) {
    let t: number;
    do t = lo + rng.int(range);
    while (mark[t] === stamp);
    mark[t] = stamp;
    out[offset + i] = t;
  }
}

/** Keys from [1, ⌊V/2⌋) and values from [⌊V/2⌋, V), the MQAR convention shared by the recall tasks. */
export function keyValueRanges(vocabSize: number): { keyLo: number; keyRange: number; valueLo: number; valueRange: number } {
  const half = Math.floor(vocabSize / 2);
  return { keyLo: 1, keyRange: half - 1, valueLo: half, valueRange: vocabSize - half };
}

/** Throws unless nKeys distinct keys fit [1, ⌊V/2⌋) and nValues distinct values fit [⌊V/2⌋, V). */
export function checkKeyValueFit(task: string, vocabSize: number, nKeys: number, nValues: number, what = 'tokens'): void {
  const { keyRange, valueRange } = keyValueRanges(vocabSize);
  if (nKeys > keyRange) {
    throw new TaskConfigError(
      `${task}: ${nKeys} distinct key ${what} do not fit the key range [1, ${keyRange + 1}) of vocabSize ${vocabSize}`,
    );
  }
  if (nValues > valueRange) {
    throw new TaskConfigError(
      `${task}: ${nValues} distinct value ${what} do not fit the value range [${vocabSize - valueRange}, ${vocabSize}) of vocabSize ${vocabSize}`,
    );
  }
}
