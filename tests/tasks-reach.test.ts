// tasks/reach.ts: the share of MQAR queries whose answer lies within a given distance (bench/window_reach.ts reads the
// campaign's sliding-window accuracies against it).
import { describe, expect, it } from 'vitest';
import { mqar, writeMqarExample } from '../tasks/mqar.js';
import { mqarShareWithinReach } from '../tasks/reach.js';

describe('mqarShareWithinReach', () => {
  it('counts the distance from each query back to its value, not to its key', () => {
    // L 16, K 2: k5 v100 k6 v101 | queries: key 5 at 4 + 2·0 = 4 (its value at 1: distance 3), key 6 at 4 + 2·3 = 10
    // (value at 3: distance 7)
    const L = 16;
    const inputs = new Int32Array(L);
    const labels = new Int32Array(L);
    writeMqarExample(inputs, labels, 0, L, 128, [5, 6], [100, 101], [0, 3], 1);
    const seg = { seqLen: L, count: 1, inputs, labels };
    expect([2, 3, 6, 7, 100].map((d) => mqarShareWithinReach(seg, d))).toEqual([0, 0.5, 0.5, 1, 1]);
  });

  it('on generated data: rises with the distance, reaches 1 at L, and matches a direct count at every distance', () => {
    const seg = mqar.generate({ count: 200, seqLen: 64, numKvPairs: 8, vocabSize: 8192, powerA: 0.01, randomNonQueries: true, passes: 1 }, 3);
    const distances = [1, 7, 15, 31, 63];
    const shares = distances.map((d) => mqarShareWithinReach(seg, d));
    for (let i = 1; i < shares.length; i++) expect(shares[i]!).toBeGreaterThan(shares[i - 1]!);
    expect(shares[4]).toBe(1);
    // direct count from the generator's layout: the query at t holds key k; its value follows k in the kv block [0, 16)
    const direct = (d: number) => {
      let within = 0;
      let total = 0;
      for (let e = 0; e < seg.count; e++) {
        const row = seg.inputs.subarray(e * 64, e * 64 + 64);
        for (let t = 16; t < 64; t++) {
          if (seg.labels[e * 64 + t]! < 0) continue;
          total++;
          const keyAt = [0, 2, 4, 6, 8, 10, 12, 14].find((p) => row[p] === row[t])!;
          if (t - (keyAt + 1) <= d) within++;
        }
      }
      expect(total).toBe(200 * 8);
      return within / total;
    };
    expect(shares).toEqual(distances.map(direct));
  });
});
