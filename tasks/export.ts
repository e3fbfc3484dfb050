// Example export for `recallbench data <task> ... -n N --seed S --format jsonl`.
//
// exportExamples generates lazily in chunks (bounded memory for any n); because generation is counter-based,
// the chunks concatenate to exactly task.generate({ ...params, count: n }, streamSeed). With `split` (and
// `segmentIndex`), the stream is the one buildSplits uses for that segment, so the exported examples are exactly
// the ones a training run with dataSeed = seed saw.
import { segmentSeed, type SplitName } from './dataset.js';
import { getTask } from './registry.js';
import { parseParams } from './task.js';
import { exampleAt, TaskConfigError, type Example, type SliceInfo } from './types.js';

export interface ExportOptions {
  /** Draw from buildSplits' stream of this split (segment `segmentIndex`, default 0) instead of the raw seed. */
  split?: SplitName;
  segmentIndex?: number;
  /** Index of the first example (default 0). */
  start?: number;
  /** Examples generated per chunk (default 4096). */
  chunkSize?: number;
}

export interface ExampleJson {
  inputs: number[];
  labels: number[];
  slices: SliceInfo;
}

/**
 * Examples [start, start + n) of `taskName` with `params` (CLI-style segment params; `count` is ignored — n
 * decides). Params are parsed and validated eagerly: a bad setting throws TaskConfigError on the call, not on
 * iteration.
 */
export function exportExamples(
  taskName: string,
  params: Record<string, unknown>,
  n: number,
  seed: number,
  opts: ExportOptions = {},
): Iterable<Example> {
  const task = getTask(taskName);
  if (!Number.isSafeInteger(n) || n < 0) throw new TaskConfigError(`${taskName}: n must be a non-negative integer, got ${n}`);
  if (!Number.isFinite(seed)) throw new TaskConfigError(`${taskName}: seed must be a finite number, got ${seed}`);
  const start = opts.start ?? 0;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new TaskConfigError(`${taskName}: start must be a non-negative integer, got ${start}`);
  }
  const chunk = opts.chunkSize ?? 4096;
  if (!Number.isSafeInteger(chunk) || chunk < 1) throw new TaskConfigError(`chunkSize must be a positive integer, got ${chunk}`);
  const { count: _ignored, ...rest } = params;
  // Validate the real shape once (count = 1), then per chunk.
  parseParams(task, { ...rest, count: 1 });
  let streamSeed = seed;
  if (opts.split !== undefined) {
    const idx = opts.segmentIndex ?? 0;
    if (!Number.isSafeInteger(idx) || idx < 0) throw new TaskConfigError(`segmentIndex must be a non-negative integer, got ${idx}`);
    streamSeed = segmentSeed(seed, opts.split, idx);
  } else if (opts.segmentIndex !== undefined) {
    throw new TaskConfigError('segmentIndex needs split');
  }
  return {
    *[Symbol.iterator]() {
      for (let done = 0; done < n; ) {
        const count = Math.min(chunk, n - done);
        const seg = task.generate(parseParams(task, { ...rest, count }), streamSeed, start + done, opts.split);
        for (let i = 0; i < count; i++) yield exampleAt(seg, i);
        done += count;
      }
    },
  };
}

/** Plain-JSON form of an example: { inputs, labels, slices }. */
export function exampleToJson(e: Example): ExampleJson {
  return { inputs: Array.from(e.inputs), labels: Array.from(e.labels), slices: { ...e.slices } };
}

/** One JSONL line (no trailing newline). */
export function exampleToJsonLine(e: Example): string {
  return JSON.stringify(exampleToJson(e));
}
