// The register-blocked BatchMatMul (accel/webgpu/matmul.ts, lever `matmul`) against the plain loop (ops/matmul):
// each tiling (128-tiles, 64-tiles, 64-tiles with K split over workgroups) × each transpose of A and B, at sizes that
// are no multiple of any tile (ragged rows, columns and K), with the output buffers poisoned (NaN) first; a batch of 1
// broadcast on either side; a mutation check (a product that drops the last k fails the same bar); through tf.matMul,
// lever off runs tfjs's kernel and lever on this one with the same values within the bar, and a tiny model's training
// step agrees either way; the kernel with vec4 workgroup memory (lever matmulVec4) gives the scalar one's bits on
// every case (lavapipe), and tf.matMul takes it only with its lever on; so does its form that reads the next K tile
// ahead (lever matmulPrefetch), and the 128-tile at K passes 16 and 32 (RECALLBENCH_MATMUL_LARGE_BK; refused in one line
// where workgroup memory is short). Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest);
// skipped, saying why, without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, OFF_BY_DEFAULT, setFastPath } from '../accel/webgpu/index.js';
import { workgroupStorageBytes } from '../accel/webgpu/dispatch.js';
import { largeTileK, MATMUL_KERNEL, MATMUL_PREFETCH, MATMUL_SPLIT_SUM_KERNEL, MATMUL_VEC4, matmulDispatches, matmulPlan, matmulWebGpu } from '../accel/webgpu/matmul.js';
import { batchMatMulValues, type MatMulShape } from '../ops/matmul/index.js';

const device = await webgpuDevice('webgpu-matmul');

// float32 sums of K ≤ 600 products of unit normals against float64 ones: relative to the output's largest element
const BAR = 1e-5;

let seed = 31000;
const randn = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);

/** A and B stored as `s` says, the kernel's product (forced onto the plan that `busy` picks), and the plain loop's. */
/**
 * Both kernels (scalar and vec4 workgroup-memory reads, lever matmulVec4) on the same A and B: each one's error
 * against the loop, and whether the two products are bit-identical (they add the same products in the same order).
 */
async function compare(s: MatMulShape, busy: number): Promise<{ rel: number; relVec4: number; identical: boolean; prefetchIdentical: boolean; plan: ReturnType<typeof matmulPlan> }> {
  const a = randn(s.transposeA ? [s.batchA, s.K, s.M] : [s.batchA, s.M, s.K]);
  const b = randn(s.transposeB ? [s.batchB, s.N, s.K] : [s.batchB, s.K, s.N]);
  const batch = Math.max(s.batchA, s.batchB);
  const product = async (vec4: boolean, prefetch = false) => {
    await poison([[batch, s.M, s.N]]);
    return tf.engine().makeTensorFromTensorInfo(matmulWebGpu(a, b, s.batchA, s.batchB, s.M, s.N, s.K, s.transposeA, s.transposeB, busy, vec4, prefetch)!);
  };
  const [out, out4, outP] = [await product(false), await product(true), await product(true, true)];
  const expected = tf.tensor(batchMatMulValues(await a.data(), await b.data(), s), [batch, s.M, s.N]);
  const { rel } = await errors(out, expected);
  const { rel: relVec4 } = await errors(out4, expected);
  const [v, v4, vP] = [await out.data(), await out4.data(), await outP.data()];
  const same = (x: Float32Array | Int32Array | Uint8Array, y: Float32Array | Int32Array | Uint8Array) => x.length === y.length && x.every((e, i) => Object.is(e, y[i]));
  const identical = same(v, v4);
  const prefetchIdentical = same(v4, vP);
  tf.dispose([a, b, out, out4, outP, expected]);
  return { rel, relVec4, identical, prefetchIdentical, plan: matmulPlan(batch, s.M, s.N, s.K, busy) };
}

describe.skipIf(!device)(`register-blocked BatchMatMul on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => {
    // the scalar kernel here; the vec4 form (on by default since an H200 cleared it) is compared with it below
    setFastPath({ ...allLevers(true), matmulVec4: false });
  });
  afterAll(() => {
    releaseGpu();
  });

  it('each tiling and transpose matches the plain loop at ragged sizes', async () => {
    const transposes = [[false, false], [true, false], [false, true], [true, true]] as const;
    // [batch, M, N, K, busy] → the plan it must take
    const cases = [
      { dims: [2, 200, 190, 37], busy: 1, tiling: 'large', splits: 1 }, // 2 × 2 × 2 tiles of 128, ragged everywhere
      { dims: [3, 100, 60, 21], busy: 6, tiling: 'small', splits: 1 }, // a 128-tile 63 % empty; 3 × 2 × 1 64-tiles
      { dims: [1, 100, 60, 600], busy: 1e9, tiling: 'small', splits: 2 }, // K split in 2 (⌊600 / 256⌋), the last ragged
      { dims: [5, 19, 30, 21], busy: 5, tiling: 'tiny', splits: 1 }, // a 64-tile would be 86 % empty: 32-tiles
      { dims: [1, 20, 300, 530], busy: 1e9, tiling: 'tiny', splits: 2 }, // 20 rows: 32-tiles, K split
    ] as const;
    let worst = 0;
    for (const c of cases) {
      const [batch, M, N, K] = c.dims;
      for (const [transposeA, transposeB] of transposes) {
        const { rel, relVec4, identical, prefetchIdentical, plan } = await compare({ batchA: batch, batchB: batch, M, N, K, transposeA, transposeB }, c.busy);
        const name = `${c.tiling} ×${c.splits} [${c.dims}] ${transposeA ? 't' : 'n'}${transposeB ? 't' : 'n'}`;
        expect([plan.tiling.name, plan.splits]).toEqual([c.tiling, c.splits]);
        expect(rel, name).toBeLessThan(BAR);
        expect(relVec4, `${name} vec4`).toBeLessThan(BAR);
        expect(identical, `${name}: vec4 reads give the scalar kernel's bits`).toBe(true);
        expect(prefetchIdentical, `${name}: the vec4 kernel reading the next tile ahead gives its bits`).toBe(true);
        worst = Math.max(worst, rel, relVec4);
      }
    }
    console.log(`matmul: worst relative error vs the plain loop ${worst.toExponential(2)}`);
  });

  it('a batch of 1 on either side is broadcast', async () => {
    for (const [batchA, batchB] of [[1, 3], [3, 1]] as const) {
      const { rel, relVec4, identical, prefetchIdentical } = await compare({ batchA, batchB, M: 9, N: 11, K: 13, transposeA: batchA === 1, transposeB: batchB === 1 }, 1);
      expect(rel, `batches ${batchA} × ${batchB}`).toBeLessThan(BAR);
      expect(relVec4, `batches ${batchA} × ${batchB}, vec4`).toBeLessThan(BAR);
      expect(identical).toBe(true);
      expect(prefetchIdentical).toBe(true);
    }
  });

  it('outer shapes whose broadcast is larger than either side go to tfjs (which refuses them), never out mislabelled', () => {
    const before = matmulDispatches[MATMUL_KERNEL];
    for (const [sa, sb] of [[[3, 1, 4, 5], [1, 3, 5, 2]], [[6, 4, 5], [6, 1, 5, 2]]]) {
      const a = tf.ones(sa!);
      const b = tf.ones(sb!);
      expect(() => tf.matMul(a, b), `[${sa}] · [${sb}]`).toThrow();
      tf.dispose([a, b]);
    }
    expect(matmulDispatches[MATMUL_KERNEL] - before).toBe(0);
  });

  it('mutation check: a product that drops the last k fails the same bar', async () => {
    const s: MatMulShape = { batchA: 1, batchB: 1, M: 20, N: 24, K: 40, transposeA: false, transposeB: false };
    const a = randn([1, s.M, s.K]);
    const b = randn([1, s.K, s.N]);
    const [av, bv] = [await a.data(), await b.data()];
    // the same product with A's last column and B's last row zeroed
    const dropped = batchMatMulValues(av.map((v, i) => (i % s.K === s.K - 1 ? 0 : v)), bv.map((v, i) => (i >= (s.K - 1) * s.N ? 0 : v)), s);
    const exact = batchMatMulValues(av, bv, s);
    for (const [vec4, prefetch] of [[false, false], [true, false], [true, true]]) {
      const out = tf.engine().makeTensorFromTensorInfo(matmulWebGpu(a, b, 1, 1, s.M, s.N, s.K, false, false, undefined, vec4, prefetch)!);
      expect((await errors(out, tf.tensor(exact, [1, s.M, s.N]))).rel).toBeLessThan(BAR);
      expect((await errors(out, tf.tensor(dropped, [1, s.M, s.N]))).rel).toBeGreaterThan(100 * BAR);
      out.dispose();
    }
    tf.dispose([a, b]);
  });

  it('through tf.matMul: lever off runs tfjs, lever on this kernel (rank 2 and 4, a K split), same values', async () => {
    // rank 4 with a broadcast batch; rank 2 weight-gradient shape [16, 1200]ᵀ-like whose few tiles take a K split
    const pairs = [
      { a: randn([2, 3, 17, 33]), b: randn([1, 1, 33, 19]), tA: false, tB: false },
      { a: randn([1200, 16]), b: randn([1200, 24]), tA: true, tB: false },
    ];
    for (const { a, b, tA, tB } of pairs) {
      // tf.profile names the kernel BatchMatMul either way: the dispatch counts say which one ran
      const traced = (on: boolean) => {
        setFastPath({ matmul: on });
        const before = { ...matmulDispatches };
        const out = tf.matMul(a, b, tA, tB);
        return { ran: (k: keyof typeof matmulDispatches) => matmulDispatches[k] - before[k], out };
      };
      const on = traced(true);
      const off = traced(false);
      setFastPath({ matmul: true });
      expect(on.ran(MATMUL_KERNEL), `[${a.shape}] × [${b.shape}] runs the kernel`).toBe(1);
      expect(off.ran(MATMUL_KERNEL)).toBe(0);
      expect(on.out.shape).toEqual(off.out.shape);
      expect((await errors(on.out, off.out)).rel, `[${a.shape}] × [${b.shape}]`).toBeLessThan(BAR);
      expect(on.ran(MATMUL_SPLIT_SUM_KERNEL), 'a K split sums its partials').toBe(a.shape.length === 2 ? 1 : 0);
      tf.dispose([a, b, on.out, off.out]);
    }
  });

  it('a training step of a tiny attention model agrees with the lever on and off', async () => {
    const before = matmulDispatches[MATMUL_KERNEL];
    const e = await expectLeverStepAgrees('matmul', [{ mixer: 'attention', params: { numHeads: 2 } }]);
    // the qkv and output projections forward, and each one's two gradients (attention itself is the fused kernel
    // with every lever on; lever-off steps add none)
    expect(matmulDispatches[MATMUL_KERNEL] - before).toBe(6);
    console.log(`matmul: attention step loss ${e.lossRel.toExponential(2)}, worst gradient ${e.worstGradRel.toExponential(2)}`);
  });

  it('lever matmulVec4: tf.matMul takes the vec4 form only with it on, and a training step agrees either way', async () => {
    const [a, b] = [randn([3, 40, 24]), randn([3, 24, 36])];
    const ran = (on: boolean) => {
      setFastPath({ matmulVec4: on });
      const before = { ...matmulDispatches };
      tf.matMul(a, b).dispose();
      return { ours: matmulDispatches[MATMUL_KERNEL] - before[MATMUL_KERNEL], vec4: matmulDispatches[MATMUL_VEC4] - before[MATMUL_VEC4] };
    };
    expect(ran(true)).toEqual({ ours: 1, vec4: 1 });
    expect(ran(false)).toEqual({ ours: 1, vec4: 0 });
    tf.dispose([a, b]);
    const e = await expectLeverStepAgrees('matmulVec4', [{ mixer: 'attention', params: { numHeads: 2 } }]);
    setFastPath({ matmulVec4: false });
    expect(OFF_BY_DEFAULT.matmulVec4).toBeUndefined(); // cleared on an H200 (bench/RESULTS.md)
    console.log(`matmulVec4: attention step loss ${e.lossRel.toExponential(2)}, worst gradient ${e.worstGradRel.toExponential(2)}`);
  });

  it('the 128-tile at 16 and 32 of K a pass (RECALLBENCH_MATMUL_LARGE_BK) gives the same bits as at 8, each kernel form', async () => {
    const saved = process.env.RECALLBENCH_MATMUL_LARGE_BK;
    try {
      // [1, 200, 260, 77]: the 128-tile (busy 1), K not a multiple of any pass; and a transposed pair
      for (const [tA, tB] of [[false, false], [true, true]] as const) {
        const s: MatMulShape = { batchA: 1, batchB: 1, M: 200, N: 260, K: 77, transposeA: tA, transposeB: tB };
        const a = randn(tA ? [1, s.K, s.M] : [1, s.M, s.K]);
        const b = randn(tB ? [1, s.N, s.K] : [1, s.K, s.N]);
        const run = async (bk: string, vec4: boolean, prefetch: boolean) => {
          process.env.RECALLBENCH_MATMUL_LARGE_BK = bk;
          expect(matmulPlan(1, s.M, s.N, s.K, 1).tiling.BK).toBe(Number(bk));
          await poison([[1, s.M, s.N]]); // a kernel that wrote nothing must not pass on the last product's buffer
          const out = tf.engine().makeTensorFromTensorInfo(matmulWebGpu(a, b, 1, 1, s.M, s.N, s.K, tA, tB, 1, vec4, prefetch)!);
          const v = Array.from(await out.data());
          out.dispose();
          return v;
        };
        for (const [vec4, prefetch] of [[false, false], [true, false], [true, true]] as const) {
          const at8 = await run('8', vec4, prefetch);
          for (const bk of ['16', '32']) {
            const label = `BK ${bk} ${vec4 ? (prefetch ? 'prefetch' : 'vec4') : 'scalar'} ${tA ? 'tt' : 'nn'}`;
            // 4 · BK · (128 + 128 + 8) bytes of workgroup memory: BK 32 needs 33,792 (lavapipe allows 32,768, an H200 48 KiB)
            const needs = 4 * Number(bk) * 264;
            if (needs > workgroupStorageBytes()) await expect(run(bk, vec4, prefetch), label).rejects.toThrow(new RegExp(`^RECALLBENCH_MATMUL_LARGE_BK ${bk}: the 128-tile needs ${needs} bytes of workgroup memory, this device allows \\d+$`));
            else expect(await run(bk, vec4, prefetch), label).toEqual(at8);
          }
        }
        tf.dispose([a, b]);
      }
      process.env.RECALLBENCH_MATMUL_LARGE_BK = '12';
      expect(() => largeTileK()).toThrow(/^RECALLBENCH_MATMUL_LARGE_BK: 8, 16 or 32 .*got '12'$/);
    } finally {
      if (saved === undefined) delete process.env.RECALLBENCH_MATMUL_LARGE_BK;
      else process.env.RECALLBENCH_MATMUL_LARGE_BK = saved;
    }
  });

  it('lever matmulPrefetch: tf.matMul reads the next tile ahead only with it (and matmulVec4) on, and a training step agrees either way', async () => {
    const [a, b] = [randn([3, 40, 24]), randn([3, 24, 36])];
    const ran = (vec4: boolean, prefetch: boolean) => {
      setFastPath({ matmulVec4: vec4, matmulPrefetch: prefetch });
      const before = { ...matmulDispatches };
      tf.matMul(a, b).dispose();
      return { ours: matmulDispatches[MATMUL_KERNEL] - before[MATMUL_KERNEL], vec4: matmulDispatches[MATMUL_VEC4] - before[MATMUL_VEC4], prefetch: matmulDispatches[MATMUL_PREFETCH] - before[MATMUL_PREFETCH] };
    };
    expect(ran(true, true)).toEqual({ ours: 1, vec4: 1, prefetch: 1 });
    expect(ran(true, false)).toEqual({ ours: 1, vec4: 1, prefetch: 0 });
    expect(ran(false, true)).toEqual({ ours: 1, vec4: 0, prefetch: 0 }); // a form of the vec4 kernel only
    tf.dispose([a, b]);
    setFastPath({ matmulVec4: true });
    const e = await expectLeverStepAgrees('matmulPrefetch', [{ mixer: 'attention', params: { numHeads: 2 } }]);
    expect(e.lossRel).toBe(0); // the same sums in the same order
    setFastPath({ matmulVec4: false, matmulPrefetch: false });
    console.log(`matmulPrefetch: attention step loss ${e.lossRel.toExponential(2)}, worst gradient ${e.worstGradRel.toExponential(2)}`);
  });
});
