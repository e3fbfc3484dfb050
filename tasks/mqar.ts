// MQAR — multi-query associative recall (Zoology, arXiv 2312.04927; zoology/data/multiquery_ar.py), exactly as
// /work/shared/specs/tasks.md defines it:
//
//   positions [0, 2KP)   the kv block `k1 v1 … kK vK`, repeated P times (JRT passes; identical copies)
//   positions [2KP, L)   the query region: space = (L − 2KP)/2 even-offset slots; K distinct slots drawn
//                        sequentially with weight (g+1)^(a−1) (front-loaded); key i at 2KP + 2·g_i, its label
//                        (= v_i) at that same position; every other position is the blank 0 (or, with
//                        randomNonQueries, a uniform token from [0, V)). All other labels are −100.
//
// Keys come from [1, ⌊V/2⌋), values from [⌊V/2⌋, V), K distinct of each. Per-example random draws, in order:
// K keys, K values, K slots (SlotSampler), then the query-region filler (randomNonQueries only).
import { z } from 'zod';
import { SeedStream, Rng } from '../core/prng.js';
import { SlotSampler } from './slots.js';
import { checkPasses, repeatInPlace } from './jrt.js';
import {
  allocSegment,
  checkSegmentSize,
  DistinctDraws,
  drawDistinct,
  keyValueRanges,
  zCount,
  zPosInt,
  type TaskDefinition,
} from './task.js';
import { IGNORE_INDEX, TaskConfigError, type Segment } from './types.js';

export const mqarSchema = z.strictObject({
  count: zCount,
  seqLen: zPosInt,
  numKvPairs: zPosInt,
  vocabSize: zPosInt.default(8192),
  powerA: z.number().positive().default(0.01),
  randomNonQueries: z.boolean().default(false),
  passes: zPosInt.default(1),
});
export type MqarParams = z.output<typeof mqarSchema>;

/**
 * Write one MQAR example at `offset` of the segment arrays from explicit keys, values and slots (slots[i] = the
 * query slot g_i of key i). With `fillRng`, every blank of the query region gets a uniform token from [0, V)
 * (drawn left to right before the keys are placed). Overwrites the whole row of both arrays.
 */
export function writeMqarExample(
  inputs: Int32Array,
  labels: Int32Array,
  offset: number,
  seqLen: number,
  vocabSize: number,
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  slots: ArrayLike<number>,
  passes: number,
  fillRng: Rng | null = null,
): void {
  const K = keys.length;
  const end = offset + seqLen;
  labels.fill(IGNORE_INDEX, offset, end);
  for (let i = 0; i < K; i++) {
    inputs[offset + 2 * i] = keys[i]!;
    inputs[offset + 2 * i + 1] = values[i]!;
  }
  const q0 = repeatInPlace(inputs, offset, 2 * K, passes);
  if (fillRng) {
    for (let t = q0; t < end; t++) inputs[t] = fillRng.int(vocabSize);
  } else {
    inputs.fill(0, q0, end);
  }
  for (let i = 0; i < K; i++) {
    const pos = q0 + 2 * slots[i]!;
    inputs[pos] = keys[i]!;
    labels[pos] = values[i]!;
  }
}

function validateMqar(p: MqarParams): void {
  const { seqLen: L, numKvPairs: K, vocabSize: V, passes: P } = p;
  checkPasses('mqar', P);
  if (L % 2 !== 0) throw new TaskConfigError(`mqar: seqLen must be even, got ${L}`);
  if (V <= L) throw new TaskConfigError(`mqar: vocabSize must exceed seqLen, got vocabSize ${V} ≤ seqLen ${L}`);
  const need = 2 * K * P + 2 * K;
  if (need > L) {
    throw new TaskConfigError(
      `mqar: 2·K·P + 2·K = 2·${K}·${P} + 2·${K} = ${need} exceeds seqLen ${L} (numKvPairs ${K}, passes ${P})`,
    );
  }
  if (!(p.powerA > 0 && Number.isFinite(p.powerA))) {
    throw new TaskConfigError(`mqar: powerA must be a positive finite number, got ${p.powerA}`);
  }
  checkSegmentSize('mqar', p.count, L);
}

export const mqar: TaskDefinition<MqarParams> = {
  name: 'mqar',
  description:
    'Multi-query associative recall (Zoology): K key-value pairs (repeated P times for JRT), then K queries at front-loaded positions; predict each queried key\'s value.',
  segmentSchema: mqarSchema,
  validate: validateMqar,
  sliceKey: (p) => `L${p.seqLen}-K${p.numKvPairs}${p.passes > 1 ? `-P${p.passes}` : ''}`,
  vocabSize: (p) => p.vocabSize,
  generate(p: MqarParams, seed: number, start = 0): Segment {
    validateMqar(p);
    checkSegmentSize('mqar', p.count, p.seqLen, start);
    const { seqLen: L, numKvPairs: K, vocabSize: V, passes: P, count } = p;
    const seg = allocSegment(
      mqar.sliceKey(p),
      { task: 'mqar', seqLen: L, numKvPairs: K, passes: P },
      L,
      count,
      2 * K * P,
    );
    const { inputs, labels } = seg;
    const { keyLo, keyRange, valueLo, valueRange } = keyValueRanges(V);
    const keys = new Int32Array(K);
    const values = new Int32Array(K);
    const slots = new Int32Array(K);
    const sampler = new SlotSampler((L - 2 * K * P) / 2, p.powerA);
    const seen = new DistinctDraws(V);
    const stream = new SeedStream(seed, 'mqar');
    const rng = new Rng(0);
    for (let e = 0; e < count; e++) {
      rng.reseed(stream.seedAt(start + e));
      seen.next();
      drawDistinct(rng, seen, keyLo, keyRange, keys, 0, K);
      drawDistinct(rng, seen, valueLo, valueRange, values, 0, K);
      sampler.draw(rng, K, slots);
      writeMqarExample(inputs, labels, e * L, L, V, keys, values, slots, P, p.randomNonQueries ? rng : null);
    }
    return seg;
  },
};
