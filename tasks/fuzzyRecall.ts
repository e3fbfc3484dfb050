// Fuzzy recall ('fuzzy-recall'; MAD, arXiv 2403.17844): keys and values are motifs of 1..maxKeyLength and
// 1..maxValueLength tokens. This project's layout:
//
//   [0, C)   C = K·(maxKeyLength + maxValueLength): the K pairs `key-motif value-motif` in order, then blanks
//            (0) up to C, so the context has a fixed length (prefixLength = C; no query token is ever inside it).
//   [C, L)   the K queries, in a uniformly random order, each `key-motif value-motif 0` (the value motif is
//            teacher-forced), interleaved uniformly at random with the remaining blanks of the region.
//   labels   at a query's LAST key token: the first value token; at value token j (not the last): value token
//            j+1. Everything else −100. So a motif of length m gives m supervised positions.
//
// Motif lengths are uniform in [1, max]. All key tokens of an example are distinct (from [1, ⌊V/2⌋)), and all
// value tokens distinct (from [⌊V/2⌋, V)), so no key motif is a prefix of another: a query is unambiguous.
// Per-example draws, in order: the K (key length, value length) pairs, key tokens, value tokens, the query order
// (Fisher–Yates), the interleaving with blanks (one draw per item).
import { z } from 'zod';
import { SeedStream, Rng } from '../core/prng.js';
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

export const fuzzyRecallSchema = z.strictObject({
  count: zCount,
  seqLen: zPosInt,
  numKvPairs: zPosInt,
  vocabSize: zPosInt.default(8192),
  maxKeyLength: zPosInt.max(8).default(3),
  maxValueLength: zPosInt.max(8).default(3),
});
export type FuzzyRecallParams = z.output<typeof fuzzyRecallSchema>;

/** Fixed context length K·(maxKeyLength + maxValueLength). */
export function fuzzyContextLength(p: FuzzyRecallParams): number {
  return p.numKvPairs * (p.maxKeyLength + p.maxValueLength);
}

function validateFuzzy(p: FuzzyRecallParams): void {
  const { numKvPairs: K, maxKeyLength: mk, maxValueLength: mv, seqLen: L } = p;
  const need = K * (mk + mv) + K * (mk + mv + 1);
  if (need > L) {
    throw new TaskConfigError(
      `fuzzy-recall: context K·(mk + mv) = ${K * (mk + mv)} plus worst-case queries K·(mk + mv + 1) = ${K * (mk + mv + 1)} is ${need}, exceeds seqLen ${L} (K ${K}, mk ${mk}, mv ${mv})`,
    );
  }
  checkKeyValueFit('fuzzy-recall', p.vocabSize, K * mk, K * mv, 'motif tokens (K × max length)');
  checkSegmentSize('fuzzy-recall', p.count, L);
}

export const fuzzyRecall: TaskDefinition<FuzzyRecallParams> = {
  name: 'fuzzy-recall',
  description:
    'Fuzzy recall (MAD): keys and values are motifs of 1..3 tokens; each query (a key motif) must be continued with its value motif.',
  segmentSchema: fuzzyRecallSchema,
  validate: validateFuzzy,
  sliceKey: (p) => `L${p.seqLen}-K${p.numKvPairs}-k${p.maxKeyLength}v${p.maxValueLength}`,
  vocabSize: (p) => p.vocabSize,
  generate(p: FuzzyRecallParams, seed: number, start = 0): Segment {
    validateFuzzy(p);
    checkSegmentSize('fuzzy-recall', p.count, p.seqLen, start);
    const { seqLen: L, numKvPairs: K, vocabSize: V, maxKeyLength: mk, maxValueLength: mv, count } = p;
    const C = fuzzyContextLength(p);
    const seg = allocSegment(
      fuzzyRecall.sliceKey(p),
      { task: 'fuzzy-recall', seqLen: L, numKvPairs: K, maxKeyLength: mk, maxValueLength: mv },
      L,
      count,
      C,
    );
    const { inputs, labels } = seg;
    const { keyLo, keyRange, valueLo, valueRange } = keyValueRanges(V);
    const keyLen = new Int32Array(K);
    const valueLen = new Int32Array(K);
    const keyStart = new Int32Array(K);
    const valueStart = new Int32Array(K);
    const keyTok = new Int32Array(K * mk);
    const valueTok = new Int32Array(K * mv);
    const order = new Int32Array(K);
    const seen = new DistinctDraws(V);
    const stream = new SeedStream(seed, 'fuzzy-recall');
    const rng = new Rng(0);
    for (let e = 0; e < count; e++) {
      rng.reseed(stream.seedAt(start + e));
      seen.next();
      let nk = 0;
      let nv = 0;
      for (let i = 0; i < K; i++) {
        keyLen[i] = 1 + rng.int(mk);
        valueLen[i] = 1 + rng.int(mv);
        keyStart[i] = nk;
        valueStart[i] = nv;
        nk += keyLen[i]!;
        nv += valueLen[i]!;
      }
      drawDistinct(rng, seen, keyLo, keyRange, keyTok, 0, nk);
      drawDistinct(rng, seen, valueLo, valueRange, valueTok, 0, nv);
      const off = e * L;
      // context: pairs in order, then blanks (already 0) up to C
      let at = off;
      for (let i = 0; i < K; i++) {
        for (let j = 0; j < keyLen[i]!; j++) inputs[at++] = keyTok[keyStart[i]! + j]!;
        for (let j = 0; j < valueLen[i]!; j++) inputs[at++] = valueTok[valueStart[i]! + j]!;
      }
      for (let i = 0; i < K; i++) order[i] = i;
      rng.shuffle(order);
      // query region: K query items (key, value, blank) interleaved with the spare blanks
      const used = nk + nv + K;
      const blanks = L - C - used;
      at = off + C;
      let q = 0;
      for (let items = K + blanks; items > 0; items--) {
        if (rng.int(items) < K - q) {
          const i = order[q++]!;
          const ks = keyStart[i]!;
          const vs = valueStart[i]!;
          const lk = keyLen[i]!;
          const lv = valueLen[i]!;
          for (let j = 0; j < lk; j++) inputs[at++] = keyTok[ks + j]!;
          labels[at - 1] = valueTok[vs]!;
          for (let j = 0; j < lv; j++) {
            inputs[at] = valueTok[vs + j]!;
            if (j + 1 < lv) labels[at] = valueTok[vs + j + 1]!;
            at++;
          }
          at++; // the blank after the query (already 0)
        } else {
          at++; // a spare blank
        }
      }
    }
    return seg;
  },
};
