// Set disjointness ('sd'; Just read twice, arXiv 2407.05483, Appendix B.1), as /work/shared/specs/tasks.md
// defines it. Tokens: 1 = start, 2 = separator, 3 = answer marker; ordinary tokens 4..V−1.
//
//   passes 1:  [1] A [2] B [3]                  label t at the final position (the `3`) only
//   passes 2:  [1] A [2] B [2] A [2] B [3]      (JRT: the context `A [2] B` repeated, copies joined by 2)
//
// A and B are disjoint random sets of ordinary tokens (|A| and |B| distinct tokens; the spec's "permute 4..V−1,
// split in halves, draw A from one half and B from the other" gives a uniformly random ordered disjoint pair,
// which is what we draw directly); then t is drawn uniformly from A and written over a uniformly chosen
// position of B, so A ∩ B = {t} exactly. Per-example draws, in order: A, B, t's index in A, the position in B.
import { z } from 'zod';
import { SeedStream, Rng } from '../core/prng.js';
import { checkPasses, repeatInPlace, repeatedLength } from './jrt.js';
import { allocSegment, checkSegmentSize, DistinctDraws, zCount, zPosInt, type TaskDefinition } from './task.js';
import { TaskConfigError, type Segment } from './types.js';

export const SD_START = 1;
export const SD_SEPARATOR = 2;
export const SD_ANSWER = 3;
export const SD_FIRST_ORDINARY = 4;

export const sdSchema = z.strictObject({
  count: zCount,
  sizeA: zPosInt,
  sizeB: zPosInt,
  vocabSize: zPosInt.default(2048),
  passes: zPosInt.default(1),
});
export type SdParams = z.output<typeof sdSchema>;

/** Sequence length: [1] + passes copies of (A [2] B) joined by [2] + [3]. */
export function sdSeqLen(p: { sizeA: number; sizeB: number; passes: number }): number {
  return 2 + repeatedLength(p.sizeA + 1 + p.sizeB, p.passes, true);
}

export function sdOrder(sizeA: number, sizeB: number): 'small-first' | 'large-first' | 'equal' {
  return sizeA < sizeB ? 'small-first' : sizeA > sizeB ? 'large-first' : 'equal';
}

function validateSd(p: SdParams): void {
  checkPasses('sd', p.passes);
  const ordinary = p.vocabSize - SD_FIRST_ORDINARY;
  const half = Math.floor(ordinary / 2);
  if (ordinary < 2) {
    throw new TaskConfigError(`sd: vocabSize ${p.vocabSize} leaves ${Math.max(0, ordinary)} ordinary tokens (4..V−1); need at least 2`);
  }
  if (p.sizeA < 1 || p.sizeB < 1) throw new TaskConfigError(`sd: set sizes must be ≥ 1, got sizeA ${p.sizeA}, sizeB ${p.sizeB}`);
  for (const [name, size] of [['sizeA', p.sizeA], ['sizeB', p.sizeB]] as const) {
    if (size > half) {
      throw new TaskConfigError(
        `sd: ${name} ${size} exceeds half the ordinary vocabulary (${half} of ${ordinary} tokens 4..${p.vocabSize - 1}); raise vocabSize`,
      );
    }
  }
  checkSegmentSize('sd', p.count, sdSeqLen(p));
}

export const setDisjointness: TaskDefinition<SdParams> = {
  name: 'sd',
  description:
    'Set disjointness (JRT): [1] A [2] B [3] with |A ∩ B| = 1; predict the shared token at the answer marker. passes > 1 repeats A [2] B (JRT prompting).',
  segmentSchema: sdSchema,
  validate: validateSd,
  sliceKey: (p) => `A${p.sizeA}-B${p.sizeB}${p.passes > 1 ? `-P${p.passes}` : ''}`,
  vocabSize: (p) => p.vocabSize,
  generate(p: SdParams, seed: number, start = 0): Segment {
    validateSd(p);
    const L = sdSeqLen(p);
    checkSegmentSize('sd', p.count, L, start);
    const { sizeA: a, sizeB: b, passes: P, count } = p;
    const seg = allocSegment(
      setDisjointness.sliceKey(p),
      { task: 'sd', sizeA: a, sizeB: b, order: sdOrder(a, b), passes: P },
      L,
      count,
      L - 1,
    );
    const { inputs, labels } = seg;
    const ordinary = p.vocabSize - SD_FIRST_ORDINARY;
    const seen = new DistinctDraws(p.vocabSize);
    const mark = seen.mark;
    const stream = new SeedStream(seed, 'sd');
    const rng = new Rng(0);
    for (let e = 0; e < count; e++) {
      rng.reseed(stream.seedAt(start + e));
      seen.next();
      const stamp = seen.stamp;
      const off = e * L;
      const aStart = off + 1;
      const bStart = aStart + a + 1;
      // A then B: a + b distinct ordinary tokens, written in place.
      for (let i = 0; i < a + b; i++) {
        let t: number;
        do t = SD_FIRST_ORDINARY + rng.int(ordinary);
        while (mark[t] === stamp);
        mark[t] = stamp;
        inputs[i < a ? aStart + i : bStart + (i - a)] = t;
      }
      const shared = inputs[aStart + rng.int(a)]!;
      inputs[bStart + rng.int(b)] = shared;
      inputs[off] = SD_START;
      inputs[aStart + a] = SD_SEPARATOR;
      repeatInPlace(inputs, aStart, a + 1 + b, P, SD_SEPARATOR);
      inputs[off + L - 1] = SD_ANSWER;
      labels[off + L - 1] = shared;
    }
    return seg;
  },
};
