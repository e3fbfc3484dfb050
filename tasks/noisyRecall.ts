// Noisy recall ('noisy-recall'; MAD, arXiv 2403.17844): MQAR with noise tokens from an extra vocabulary
// inserted into the context. This project's layout (MQAR's, so the same metric applies):
//
//   [0, C)   the K pairs `k_i v_i` in order, with N noise tokens interleaved between (never inside) pairs:
//            a uniformly random arrangement of the K pair-items and N noise-items; C = 2K + N.
//   [C, L)   the query region exactly as MQAR: space = ⌊(L − C)/2⌋ slots, K distinct front-loaded slots,
//            key i at C + 2·g_i with label v_i there; everything else blank (0), labels −100.
//
// Recall tokens: keys [1, ⌊V/2⌋), values [⌊V/2⌋, V) (V = vocabSize); noise tokens: [V, V + noiseVocabSize),
// uniform with replacement, never supervised. N = round(noiseFraction · 2K / (1 − noiseFraction)), i.e. noise
// is `noiseFraction` of the context. Per-example draws, in order: keys, values, the arrangement (one
// draw per item, plus one per noise token), slots.
import { z } from 'zod';
import { SeedStream, Rng } from '../core/prng.js';
import { SlotSampler } from './slots.js';
import {
  allocSegment,
  checkKeyValueFit,
  checkSegmentSize,
  DistinctDraws,
  drawDistinct,
  keyValueRanges,
  zCount,
  zPosInt,
  type TaskDefinition,
} from './task.js';
import { TaskConfigError, type Segment } from './types.js';

export const noisyRecallSchema = z.strictObject({
  count: zCount,
  seqLen: zPosInt,
  numKvPairs: zPosInt,
  /** Recall vocabulary (keys and values); noise tokens come after it. */
  vocabSize: zPosInt.default(8192),
  noiseVocabSize: zPosInt.default(16),
  /** Fraction of the context made of noise tokens, in [0, 0.9]. */
  noiseFraction: z.number().min(0).max(0.9).default(0.25),
  powerA: z.number().positive().default(0.01),
});
export type NoisyRecallParams = z.output<typeof noisyRecallSchema>;

/** Number of noise tokens in the context. */
export function numNoiseTokens(p: { numKvPairs: number; noiseFraction: number }): number {
  return Math.round((p.noiseFraction * 2 * p.numKvPairs) / (1 - p.noiseFraction));
}

function validateNoisy(p: NoisyRecallParams): void {
  const K = p.numKvPairs;
  const N = numNoiseTokens(p);
  const C = 2 * K + N;
  if (C + 2 * K > p.seqLen) {
    throw new TaskConfigError(
      `noisy-recall: context 2·K + N = 2·${K} + ${N} = ${C} plus 2·K = ${2 * K} query slots exceeds seqLen ${p.seqLen}`,
    );
  }
  checkKeyValueFit('noisy-recall', p.vocabSize, K, K);
  checkSegmentSize('noisy-recall', p.count, p.seqLen);
}

export const noisyRecall: TaskDefinition<NoisyRecallParams> = {
  name: 'noisy-recall',
  description:
    'Noisy recall (MAD): MQAR whose context has noise tokens from an extra vocabulary interleaved between the key-value pairs.',
  segmentSchema: noisyRecallSchema,
  validate: validateNoisy,
  sliceKey: (p) => `L${p.seqLen}-K${p.numKvPairs}-N${numNoiseTokens(p)}`,
  vocabSize: (p) => p.vocabSize + p.noiseVocabSize,
  generate(p: NoisyRecallParams, seed: number, start = 0): Segment {
    validateNoisy(p);
    checkSegmentSize('noisy-recall', p.count, p.seqLen, start);
    const { seqLen: L, numKvPairs: K, vocabSize: V, count } = p;
    const N = numNoiseTokens(p);
    const C = 2 * K + N;
    const seg = allocSegment(
      noisyRecall.sliceKey(p),
      { task: 'noisy-recall', seqLen: L, numKvPairs: K, numNoise: N },
      L,
      count,
      C,
    );
    const { inputs, labels } = seg;
    const { keyLo, keyRange, valueLo, valueRange } = keyValueRanges(V);
    const keys = new Int32Array(K);
    const values = new Int32Array(K);
    const slots = new Int32Array(K);
    const sampler = new SlotSampler(Math.floor((L - C) / 2), p.powerA);
    const seen = new DistinctDraws(V);
    const stream = new SeedStream(seed, 'noisy-recall');
    const rng = new Rng(0);
    for (let e = 0; e < count; e++) {
      rng.reseed(stream.seedAt(start + e));
      seen.next();
      drawDistinct(rng, seen, keyLo, keyRange, keys, 0, K);
      drawDistinct(rng, seen, valueLo, valueRange, values, 0, K);
      const off = e * L;
      // Selection sampling: a uniformly random interleaving of K pair-items and N noise-items.
      let at = off;
      let pair = 0;
      for (let items = K + N; items > 0; items--) {
        if (rng.int(items) < K - pair) {
          inputs[at++] = keys[pair]!;
          inputs[at++] = values[pair]!;
          pair++;
        } else {
          inputs[at++] = V + rng.int(p.noiseVocabSize);
        }
      }
      sampler.draw(rng, K, slots);
      for (let i = 0; i < K; i++) {
        const pos = off + C + 2 * slots[i]!;
        inputs[pos] = keys[i]!;
        labels[pos] = values[i]!;
      }
    }
    return seg;
  },
};
