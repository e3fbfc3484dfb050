// ops/headProduct on the cpu backend: the naive forms (H3's broadcasting multiply and sum, moved here unchanged) against
// the definitions written as loops — kv[r, h, i, j] = k[r, hP+i] · v[r, hP+j], y[r, hP+j] = Σ_i q[r, hP+i] · z[r, h, i, j]
// — at head_dim 1, 2 and 3; the fused WebGPU forms are checked against these in tests/webgpu-headProduct.test.ts.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { headContract, headOuter } from '../ops/headProduct/index.js';
import { useBackend } from './helpers.js';

const values = (n: number, s: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + s) * 2);

describe('ops/headProduct (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  for (const [rows, H, P] of [[3, 4, 1], [5, 3, 2], [2, 2, 3]] as const) {
    it(`rows ${rows}, ${H} heads of ${P}: outer and contract match their definitions`, async () => {
      const W = H * P;
      const [k, v, q] = [values(rows * W, 1), values(rows * W, 2), values(rows * W, 3)];
      const z = values(rows * W * P, 4);
      const kv = new Float32Array(rows * W * P);
      const y = new Float32Array(rows * W);
      for (let r = 0; r < rows; r++)
        for (let h = 0; h < H; h++)
          for (let i = 0; i < P; i++)
            for (let j = 0; j < P; j++) {
              kv[r * W * P + h * P * P + i * P + j] = Math.fround(k[r * W + h * P + i]!) * Math.fround(v[r * W + h * P + j]!);
              y[r * W + h * P + j] = y[r * W + h * P + j]! + Math.fround(q[r * W + h * P + i]!) * Math.fround(z[r * W * P + h * P * P + i * P + j]!);
            }
      const got = await headOuter(tf.tensor2d(k, [rows, W]), tf.tensor2d(v, [rows, W]), P).data();
      expect(got.length).toBe(rows * W * P);
      for (let i = 0; i < kv.length; i++) expect(got[i]).toBeCloseTo(kv[i]!, 5);
      const gotY = await headContract(tf.tensor2d(q, [rows, W]), tf.tensor2d(z, [rows, W * P]), P).data();
      for (let i = 0; i < y.length; i++) expect(gotY[i]).toBeCloseTo(y[i]!, 5);
      expect(gotY.length).toBe(rows * W);
    });
  }
});
