// Train / validation / test splits from a mixture spec, with disjoint seed streams and an overlap check.
//
// Segment i of split s is generated from the seed stream hashSeeds(dataSeed, s, i): the three splits (and all
// segments) draw from disjoint streams. Validation defaults to the test segments (same params and counts) drawn
// from the validation stream. After building, every validation/test example is checked against the train
// examples (hash of the inputs, confirmed by comparing the tokens): any equal one is a TaskConfigError.
import { z } from 'zod';
import { fmix32, hashSeeds, murmur3Round } from '../core/prng.js';
import { getTask } from './registry.js';
import { parseParams, type AnyTaskDefinition } from './task.js';
import { TaskConfigError, type Segment } from './types.js';

/**
 * A mixture spec: the task and its segments per split. The run config's `data` (runners/config.ts dataSchema) is
 * this schema plus the data seed and a default task; SplitSpec, what buildSplits takes, is its input type.
 */
export const splitSpecSchema = z
  .object({
    task: z.string().min(1),
    /** Parameters shared by every segment (vocabSize, powerA, randomNonQueries, passes, ...); a segment's own keys win. */
    common: z.record(z.string(), z.unknown()).default({}),
    train: z.array(z.record(z.string(), z.unknown())).min(1),
    /** Default: the test segments (same params, same counts), drawn from the validation seed stream. */
    validation: z.array(z.record(z.string(), z.unknown())).optional(),
    test: z.array(z.record(z.string(), z.unknown())).min(1),
  })
  .strict();

export type SplitSpec = z.input<typeof splitSpecSchema>;

export interface Splits {
  train: Segment[];
  validation: Segment[];
  test: Segment[];
}

export type SplitName = 'train' | 'validation' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'validation', 'test'];

export interface BuildSplitsOptions {
  /** Run the train vs validation/test overlap check (default true). */
  checkOverlap?: boolean;
}

/** The seed stream of segment `index` of `split`: hashSeeds(dataSeed, split, index). */
export function segmentSeed(dataSeed: number, split: SplitName, index: number): number {
  return hashSeeds(dataSeed, split, index);
}

/** Parsed (defaults filled) and validated params of every segment of every split, without generating anything. */
export function resolveSplitSpec(spec: SplitSpec): {
  task: AnyTaskDefinition;
  params: Record<SplitName, { count: number }[]>;
} {
  if (spec === null || typeof spec !== 'object') throw new TaskConfigError('split spec must be an object');
  const task = getTask(spec.task);
  const parseList = (split: SplitName, list: unknown): { count: number }[] => {
    if (!Array.isArray(list)) throw new TaskConfigError(`split spec: '${split}' must be an array of segment params`);
    return list.map((seg, i) => {
      if (seg === null || typeof seg !== 'object' || Array.isArray(seg)) {
        throw new TaskConfigError(`${split} segment ${i}: must be an object of params`);
      }
      return parseParams(task, { ...(spec.common ?? {}), ...(seg as Record<string, unknown>) }, `${split} segment ${i}`);
    });
  };
  const train = parseList('train', spec.train);
  const test = parseList('test', spec.test);
  const validation = spec.validation === undefined ? test.map((p) => ({ ...p })) : parseList('validation', spec.validation);
  const params: Record<SplitName, { count: number }[]> = { train, validation, test };
  return { task, params };
}

export function buildSplits(spec: SplitSpec, dataSeed: number, opts: BuildSplitsOptions = {}): Splits {
  if (!Number.isFinite(dataSeed)) throw new TaskConfigError(`dataSeed must be a finite number, got ${dataSeed}`);
  const { task, params } = resolveSplitSpec(spec);
  const out = {} as Splits;
  for (const split of SPLIT_NAMES) {
    out[split] = params[split].map((p, i) => task.generate(p, segmentSeed(dataSeed, split, i), 0, split));
  }
  if (opts.checkOverlap !== false) {
    const index = new OverlapIndex(out.train);
    const v = index.count(out.validation);
    const t = index.count(out.test);
    if (v + t > 0) {
      const nv = out.validation.reduce((s, g) => s + g.count, 0);
      const nt = out.test.reduce((s, g) => s + g.count, 0);
      throw new TaskConfigError(
        `${spec.task}: ${v + t} held-out examples equal a train example (validation ${v} of ${nv}, test ${t} of ${nt}); the task space is too small for these counts — enlarge vocabSize/seqLen or reduce the counts`,
      );
    }
  }
  return out;
}

/** Two independent 32-bit hashes of example e's inputs (murmur3: core/prng.ts, and an FNV-like lane), combined into a 53-bit Map key. */
function exampleKey(inputs: Int32Array, from: number, len: number): number {
  let h1 = 0x1b873593 ^ len;
  let h2 = 0x5bd1e995 ^ len;
  for (let i = from, end = from + len; i < end; i++) {
    h1 = murmur3Round(h1, inputs[i]!);
    h2 = Math.imul(h2 ^ inputs[i]!, 0x01000193); // FNV-1a-like second lane
    h2 ^= h2 >>> 15;
  }
  h1 = fmix32(h1);
  h2 ^= h2 >>> 16;
  h2 = Math.imul(h2, 0x7feb352d);
  h2 ^= h2 >>> 15;
  return (h1 >>> 0) * 2097152 + (h2 >>> 11);
}

function sameInputs(a: Segment, i: number, b: Segment, j: number): boolean {
  if (a.seqLen !== b.seqLen) return false;
  const L = a.seqLen;
  const x = a.inputs;
  const y = b.inputs;
  for (let t = 0, pa = i * L, pb = j * L; t < L; t++) if (x[pa + t] !== y[pb + t]) return false;
  return true;
}

/** Hash index of a set of segments' examples; `count(other)` = how many examples of `other` equal one of them. */
export class OverlapIndex {
  // key → first ref; refs chained through `next` (ref = position in refSeg/refEx).
  private readonly head = new Map<number, number>();
  private readonly next: Int32Array;
  private readonly refSeg: Int32Array;
  private readonly refEx: Int32Array;

  constructor(private readonly segments: Segment[]) {
    const total = segments.reduce((s, g) => s + g.count, 0);
    this.next = new Int32Array(total);
    this.refSeg = new Int32Array(total);
    this.refEx = new Int32Array(total);
    let r = 0;
    segments.forEach((seg, s) => {
      for (let e = 0; e < seg.count; e++, r++) {
        const key = exampleKey(seg.inputs, e * seg.seqLen, seg.seqLen);
        this.refSeg[r] = s;
        this.refEx[r] = e;
        this.next[r] = this.head.get(key) ?? -1;
        this.head.set(key, r);
      }
    });
  }

  /** True when example e of `seg` equals (same length, same input tokens) an indexed example. */
  contains(seg: Segment, e: number): boolean {
    let r = this.head.get(exampleKey(seg.inputs, e * seg.seqLen, seg.seqLen)) ?? -1;
    while (r >= 0) {
      if (sameInputs(this.segments[this.refSeg[r]!]!, this.refEx[r]!, seg, e)) return true;
      r = this.next[r]!;
    }
    return false;
  }

  count(segments: Segment[]): number {
    let n = 0;
    for (const seg of segments) for (let e = 0; e < seg.count; e++) if (this.contains(seg, e)) n++;
    return n;
  }
}

/** Number of examples of `b` whose inputs equal those of some example of `a`. */
export function checkOverlap(a: Segment[], b: Segment[]): number {
  return new OverlapIndex(a).count(b);
}
