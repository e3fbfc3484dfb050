// Selective copying ('selective-copying'; MAD, arXiv 2403.17844; Mamba's selective copy): copy the non-blank
// tokens of a sparse sequence, in order, after a marker. Tokens: 0 = blank, 1 = copy marker, content 2..V−1.
//
//   [0, D)        the data region, D = L − N: N content tokens (uniform from [2, V), with replacement) at a
//                 uniformly random set of N positions, blanks elsewhere.
//   D             the marker 1, labelled with c_0.
//   D+1 .. L−1    c_0 … c_{N−2} (teacher-forced), position D + j labelled with c_j.
//
// So labels c_0 … c_{N−1} sit at positions D … L−1 (the model emits the copy after the marker), and
// prefixLength = D. Per-example draws, in order: the positions (selection sampling, one draw per data position
// until all N are placed), then the N content tokens.
import { z } from 'zod';
import { SeedStream, Rng } from '../core/prng.js';
import { allocSegment, checkSegmentSize, zCount, zPosInt, type TaskDefinition } from './task.js';
import { TaskConfigError, type Segment } from './types.js';

export const COPY_MARKER = 1;
export const FIRST_CONTENT_TOKEN = 2;

export const selectiveCopyingSchema = z.strictObject({
  count: zCount,
  seqLen: zPosInt,
  numTokensToCopy: zPosInt,
  vocabSize: zPosInt.default(16),
});
export type SelectiveCopyingParams = z.output<typeof selectiveCopyingSchema>;

function validateSelectiveCopying(p: SelectiveCopyingParams): void {
  const { seqLen: L, numTokensToCopy: N } = p;
  if (2 * N > L) {
    throw new TaskConfigError(
      `selective-copying: 2·numTokensToCopy = 2·${N} = ${2 * N} exceeds seqLen ${L} (the data region L − N must hold the N tokens)`,
    );
  }
  if (p.vocabSize < 3) {
    throw new TaskConfigError(`selective-copying: vocabSize must be ≥ 3 (blank, marker, ≥ 1 content token), got ${p.vocabSize}`);
  }
  checkSegmentSize('selective-copying', p.count, L);
}

export const selectiveCopying: TaskDefinition<SelectiveCopyingParams> = {
  name: 'selective-copying',
  description:
    'Selective copying (MAD): N content tokens scattered among blanks; after the marker, reproduce them in order.',
  segmentSchema: selectiveCopyingSchema,
  validate: validateSelectiveCopying,
  sliceKey: (p) => `L${p.seqLen}-N${p.numTokensToCopy}`,
  vocabSize: (p) => p.vocabSize,
  generate(p: SelectiveCopyingParams, seed: number, start = 0): Segment {
    validateSelectiveCopying(p);
    checkSegmentSize('selective-copying', p.count, p.seqLen, start);
    const { seqLen: L, numTokensToCopy: N, vocabSize: V, count } = p;
    const D = L - N;
    const seg = allocSegment(
      selectiveCopying.sliceKey(p),
      { task: 'selective-copying', seqLen: L, numTokensToCopy: N },
      L,
      count,
      D,
    );
    const { inputs, labels } = seg;
    const positions = new Int32Array(N);
    const stream = new SeedStream(seed, 'selective-copying');
    const rng = new Rng(0);
    const contentRange = V - FIRST_CONTENT_TOKEN;
    for (let e = 0; e < count; e++) {
      rng.reseed(stream.seedAt(start + e));
      const off = e * L;
      // Knuth's selection sampling: a uniform N-subset of [0, D), in increasing order.
      let chosen = 0;
      for (let t = 0; chosen < N; t++) {
        if (rng.int(D - t) < N - chosen) positions[chosen++] = t;
      }
      for (let j = 0; j < N; j++) {
        const c = FIRST_CONTENT_TOKEN + rng.int(contentRange);
        inputs[off + positions[j]!] = c;
        labels[off + D + j] = c;
        if (j + 1 < N) inputs[off + D + 1 + j] = c;
      }
      inputs[off + D] = COPY_MARKER;
    }
    return seg;
  },
};
