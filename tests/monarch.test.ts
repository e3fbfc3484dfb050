// The Monarch matmul op (ops/monarch/): the fast batched-matmul form against the dense reference (block-diagonal
// matrices and permutation gathers, m2's blockdiag_butterfly_multiply_reference version 3), forward and gradients;
// both against an explicit loop of m2's version-2 einsum and, for square factors, its version-1 einsum; the dense
// equivalent matrix.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { monarch, monarchDense, monarchNaive } from '../ops/monarch/index.js';
import { randn, relativeError, useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

/** [label, lead shape of x, w1 [k, q, p], w2 [l, s, r]] */
const SHAPES: [string, number[], [number, number, number], [number, number, number]][] = [
  ['square 16 → 16, 4 blocks', [5], [4, 4, 4], [4, 4, 4]],
  ['expanding 16 → 48 (MonarchLinear shapes)', [2, 3], [4, 4, 4], [4, 12, 4]],
  ['contracting 16 → 12 (MonarchLinear shapes)', [7], [4, 3, 4], [4, 3, 3]],
  ['uneven chain 8 → 15 (k 2, l 3)', [2, 4], [2, 6, 4], [3, 5, 4]],
  ['one block (a dense product)', [3], [1, 5, 6], [1, 4, 5]],
];

/** m2's version-2 einsum as loops: h[(k q)] = Σ_p w1[k,q,p] x[(k p)]; read h as (r l); y[(s l)] = Σ_r w2[l,s,r] h[(r l)]. */
function loopReference(x: number[], w1: number[][][], w2: number[][][]): number[] {
  const [k, q, p] = [w1.length, w1[0]!.length, w1[0]![0]!.length];
  const [l, s, r] = [w2.length, w2[0]!.length, w2[0]![0]!.length];
  const h = new Array<number>(k * q).fill(0);
  for (let a = 0; a < k; a++) for (let b = 0; b < q; b++) for (let c = 0; c < p; c++) h[a * q + b]! += w1[a]![b]![c]! * x[a * p + c]!;
  const y = new Array<number>(l * s).fill(0);
  for (let a = 0; a < l; a++) for (let b = 0; b < s; b++) for (let c = 0; c < r; c++) y[b * l + a]! += w2[a]![b]![c]! * h[c * l + a]!;
  return y;
}

describe('monarch', () => {
  it.each(SHAPES)('fast form matches the dense reference, forward and gradients (%s)', async (_label, lead, s1, s2) => {
    const x = randn([...lead, s1[0] * s1[2]], 1);
    const w1 = randn(s1, 2) as tf.Tensor3D;
    const w2 = randn(s2, 3) as tf.Tensor3D;
    const y = monarch(x, w1, w2);
    expect(y.shape).toEqual([...lead, s2[0] * s2[1]]);
    expect(await relativeError(y, monarchNaive(x, w1, w2))).toBeLessThan(1e-6);
    const r = randn(y.shape, 4);
    const loss = (f: typeof monarch) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(tf.square(f(a, b as tf.Tensor3D, c as tf.Tensor3D)), r));
    const g = tf.grads(loss(monarch))([x, w1, w2]);
    const gRef = tf.grads(loss(monarchNaive))([x, w1, w2]);
    for (let i = 0; i < 3; i++) expect(await relativeError(g[i]!, gRef[i]!)).toBeLessThan(1e-5);
  });

  it.each(SHAPES)('both agree with an explicit loop of the reference einsum (%s)', async (_label, _lead, s1, s2) => {
    const x = randn([3, s1[0] * s1[2]], 5) as tf.Tensor2D;
    const w1 = randn(s1, 6) as tf.Tensor3D;
    const w2 = randn(s2, 7) as tf.Tensor3D;
    const [xa, w1a, w2a] = [(await x.array()) as number[][], (await w1.array()) as number[][][], (await w2.array()) as number[][][]];
    const ref = tf.tensor2d(xa.map((row) => loopReference(row, w1a, w2a)));
    expect(await relativeError(monarch(x, w1, w2), ref)).toBeLessThan(1e-6);
    expect(await relativeError(monarchNaive(x, w1, w2), ref)).toBeLessThan(1e-6);
  });

  it("square factors: m2's version-1 einsum 'bkp,kqp,qlk->blq' gives the same product", async () => {
    const b = 4; // k = q = p = l = s = r = √n
    const x = randn([2, b * b], 8) as tf.Tensor2D;
    const w1 = randn([b, b, b], 9) as tf.Tensor3D;
    const w2 = randn([b, b, b], 10) as tf.Tensor3D;
    const [xa, w1a, w2a] = [(await x.array()) as number[][], (await w1.array()) as number[][][], (await w2.array()) as number[][][]];
    const ref = xa.map((row) => {
      const y = new Array<number>(b * b).fill(0);
      for (let L = 0; L < b; L++) for (let Q = 0; Q < b; Q++) for (let K = 0; K < b; K++) for (let P = 0; P < b; P++) y[L * b + Q]! += row[K * b + P]! * w1a[K]![Q]![P]! * w2a[Q]![L]![K]!;
      return y;
    });
    expect(await relativeError(monarch(x, w1, w2), tf.tensor2d(ref))).toBeLessThan(1e-6);
  });

  it('the dense equivalent: x · monarchDense(w1, w2) = monarch(x, w1, w2); its nonzeros are at most k·q·p + l·s·r products', async () => {
    const w1 = randn([4, 4, 4], 11) as tf.Tensor3D;
    const w2 = randn([4, 12, 4], 12) as tf.Tensor3D;
    const x = randn([6, 16], 13);
    const M = monarchDense(w1, w2);
    expect(M.shape).toEqual([16, 48]);
    expect(await relativeError(tf.matMul(x, M), monarch(x, w1, w2))).toBeLessThan(1e-6);
    // every entry of a Monarch matrix is one product w2·w1 (one path through the two block-diagonals): with 4 blocks
    // of 4 on the input side, output j reads all 16 inputs (dense), through distinct single paths
    expect((await tf.notEqual(M, 0).sum().data())[0]).toBe(16 * 48);
  });

  it('rejects factors that do not chain', () => {
    expect(() => monarch(tf.zeros([2, 16]), tf.zeros([4, 4, 4]) as tf.Tensor3D, tf.zeros([3, 4, 4]) as tf.Tensor3D)).toThrow(/chain/);
    expect(() => monarch(tf.zeros([2, 15]), tf.zeros([4, 4, 4]) as tf.Tensor3D, tf.zeros([4, 4, 4]) as tf.Tensor3D)).toThrow(/features/);
  });
});
