// Forgetting MQAR ('forgetting-mqar'): some keys are reassigned later in the context; the latest value is the
// answer (the model must overwrite, i.e. forget, the old binding). This project's layout:
//
//   [0, C)   C = 2(K + R) tokens: K + R pairs `k v`. The K keys each appear once with an original value;
//            R distinct keys (chosen uniformly) appear a second time with a fresh value. The order of the K + R
//            pair-events is a uniformly random arrangement (so a reassignment may come right after, or long
//            after, the original). All K + R values are distinct.
//   [C, L)   the query region exactly as MQAR (K distinct front-loaded slots, all K keys queried); the label of
//            a key's query is its LATEST value (the reassigned one for the R keys, the original otherwise).
//
// Keys [1, ⌊V/2⌋), values [⌊V/2⌋, V). Per-example draws, in order: keys, K + R values, the R reassigned keys
// (partial Fisher–Yates), the arrangement (Fisher–Yates), slots.
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
  zNonNegInt,
  zPosInt,
  type TaskDefinition,
} from './task.js';
import { TaskConfigError, type Segment } from './types.js';

export const forgettingMqarSchema = z.strictObject({
  count: zCount,
  seqLen: zPosInt,
  numKvPairs: zPosInt,
  /** How many of the K keys get a second, later value (0 ≤ R ≤ K). */
  numReassigned: zNonNegInt,
  vocabSize: zPosInt.default(8192),
  powerA: z.number().positive().default(0.01),
});
export type ForgettingMqarParams = z.output<typeof forgettingMqarSchema>;

function validateForgetting(p: ForgettingMqarParams): void {
  const { numKvPairs: K, numReassigned: R, seqLen: L } = p;
  if (R > K) throw new TaskConfigError(`forgetting-mqar: numReassigned ${R} exceeds numKvPairs ${K}`);
  const need = 2 * (K + R) + 2 * K;
  if (need > L) {
    throw new TaskConfigError(
      `forgetting-mqar: 2·(K + R) + 2·K = 2·(${K} + ${R}) + 2·${K} = ${need} exceeds seqLen ${L}`,
    );
  }
  checkKeyValueFit('forgetting-mqar', p.vocabSize, K, K + R);
  checkSegmentSize('forgetting-mqar', p.count, L);
}

export const forgettingMqar: TaskDefinition<ForgettingMqarParams> = {
  name: 'forgetting-mqar',
  description:
    'Forgetting MQAR: R of the K keys are reassigned a new value later in the context; each query must be answered with the latest value.',
  segmentSchema: forgettingMqarSchema,
  validate: validateForgetting,
  sliceKey: (p) => `L${p.seqLen}-K${p.numKvPairs}-R${p.numReassigned}`,
  vocabSize: (p) => p.vocabSize,
  generate(p: ForgettingMqarParams, seed: number, start = 0): Segment {
    validateForgetting(p);
    checkSegmentSize('forgetting-mqar', p.count, p.seqLen, start);
    const { seqLen: L, numKvPairs: K, numReassigned: R, vocabSize: V, count } = p;
    const C = 2 * (K + R);
    const seg = allocSegment(
      forgettingMqar.sliceKey(p),
      { task: 'forgetting-mqar', seqLen: L, numKvPairs: K, numReassigned: R },
      L,
      count,
      C,
    );
    const { inputs, labels } = seg;
    const { keyLo, keyRange, valueLo, valueRange } = keyValueRanges(V);
    const keys = new Int32Array(K);
    const values = new Int32Array(K + R);
    const latest = new Int32Array(K);
    const perm = new Int32Array(K);
    const events = new Int32Array(K + R);
    const slots = new Int32Array(K);
    const sampler = new SlotSampler(Math.floor((L - C) / 2), p.powerA);
    const seen = new DistinctDraws(V);
    const stream = new SeedStream(seed, 'forgetting-mqar');
    const rng = new Rng(0);
    for (let e = 0; e < count; e++) {
      rng.reseed(stream.seedAt(start + e));
      seen.next();
      drawDistinct(rng, seen, keyLo, keyRange, keys, 0, K);
      drawDistinct(rng, seen, valueLo, valueRange, values, 0, K + R);
      // R distinct keys to reassign: the first R of a partial Fisher–Yates over 0..K−1.
      for (let i = 0; i < K; i++) perm[i] = i;
      for (let i = 0; i < R; i++) {
        const j = i + rng.int(K - i);
        const t = perm[i]!;
        perm[i] = perm[j]!;
        perm[j] = t;
      }
      // Events: every key once, the reassigned keys twice, in uniformly random order.
      for (let i = 0; i < K; i++) events[i] = i;
      for (let i = 0; i < R; i++) events[K + i] = perm[i]!;
      rng.shuffle(events);
      const off = e * L;
      let nextValue = 0;
      for (let j = 0; j < K + R; j++) {
        const k = events[j]!;
        // values are distinct and consumed in order of use: the second occurrence of a key gets a fresh one
        const v = values[nextValue++]!;
        latest[k] = v;
        inputs[off + 2 * j] = keys[k]!;
        inputs[off + 2 * j + 1] = v;
      }
      sampler.draw(rng, K, slots);
      for (let i = 0; i < K; i++) {
        const pos = off + C + 2 * slots[i]!;
        inputs[pos] = keys[i]!;
        labels[pos] = latest[i]!;
      }
    }
    return seg;
  },
};
