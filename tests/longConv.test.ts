// The long causal convolution op (ops/longConv/): blocked-Toeplitz forward and custom gradients against the
// plain reference (shifted multiply-adds with stock gradients), a finite-difference check, the circular variant,
// the step view, and the block construction.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { channelMatMul } from '../ops/longConv/index.js';
import { circularLongConv, defaultLongConvChunk, longConv, longConvNaive, longConvStep, toeplitzBlocks } from '../ops/longConv/index.js';
import { randn, relativeError, useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

/** [B, T, d, filter length, chunk] — chunks that divide T, that do not (padding), 1, and the default. */
const SHAPES: [number, number, number, number, number | undefined][] = [
  [2, 8, 3, 8, undefined],
  [2, 7, 3, 9, 3],
  [3, 13, 4, 13, 4],
  [1, 1, 2, 1, undefined],
  [2, 10, 2, 10, 2],
  [2, 9, 5, 12, 1],
  [2, 16, 3, 16, 5],
];

describe('longConv', () => {
  it.each(SHAPES)('matches the naive conv, forward and gradients (B %i, T %i, d %i, Lh %i, chunk %s)', async (B, T, d, Lh, chunk) => {
    const u = randn([B, T, d], 1) as tf.Tensor3D;
    const h = randn([d, Lh], 2) as tf.Tensor2D;
    const r = randn([B, T, d], 3);
    const fast = (a: tf.Tensor, b: tf.Tensor) => longConv(a as tf.Tensor3D, b as tf.Tensor2D, { chunk });
    const naive = (a: tf.Tensor, b: tf.Tensor) => longConvNaive(a as tf.Tensor3D, (b as tf.Tensor2D).slice([0, 0], [d, T]));
    expect(await relativeError(fast(u, h), naive(u, h))).toBeLessThan(1e-6);
    const loss = (f: typeof fast) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.square(f(a, b)), r));
    const [du, dh] = tf.grads(loss(fast))([u, h]);
    const [duRef, dhRef] = tf.grads(loss(naive))([u, h]);
    expect(await relativeError(du!, duRef!)).toBeLessThan(1e-5);
    expect(await relativeError(dh!, dhRef!)).toBeLessThan(1e-5);
    if (Lh > T) {
      // taps beyond T never reach an output: their gradient is exactly zero
      const tail = await dh!.slice([0, T], [d, Lh - T]).abs().max().data();
      expect(tail[0]).toBe(0);
    }
  });

  it('agrees with an explicit double sum', async () => {
    const [B, T, d] = [2, 6, 3];
    const u = randn([B, T, d], 4) as tf.Tensor3D;
    const h = randn([d, T], 5) as tf.Tensor2D;
    const y = (await longConv(u, h, { chunk: 4 }).array()) as number[][][];
    const ua = (await u.array()) as number[][][];
    const ha = (await h.array()) as number[][];
    let err = 0;
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++)
        for (let c = 0; c < d; c++) {
          let s = 0;
          for (let k = 0; k <= t; k++) s += ha[c]![k]! * ua[b]![t - k]![c]!;
          err = Math.max(err, Math.abs(s - y[b]![t]![c]!));
        }
    expect(err).toBeLessThan(1e-5);
  });

  it('passes a finite-difference gradient check (cpu)', async () => {
    const [B, T, d] = [2, 5, 2];
    const u = randn([B, T, d], 6) as tf.Tensor3D;
    const h = randn([d, T], 7) as tf.Tensor2D;
    const r = randn([B, T, d], 8);
    const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.square(longConv(a as tf.Tensor3D, b as tf.Tensor2D, { chunk: 2 })), r));
    const [du, dh] = tf.grads(loss)([u, h]);
    const eps = 1e-2;
    // the loss is quadratic in each argument, so central differences are exact up to fp32 rounding
    const check = async (which: 0 | 1, grad: tf.Tensor) => {
      const base = which === 0 ? u : h;
      const g = await grad.data();
      const values = await base.data();
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < values.length; i++) {
        const plus = values.slice();
        const minus = values.slice();
        plus[i]! += eps;
        minus[i]! -= eps;
        const at = (v: Float32Array) => {
          const t = tf.tensor(v, base.shape);
          return which === 0 ? loss(t, h) : loss(u, t);
        };
        const numeric = ((await at(plus as Float32Array).data())[0]! - (await at(minus as Float32Array).data())[0]!) / (2 * eps);
        worst = Math.max(worst, Math.abs(numeric - g[i]!));
        scale = Math.max(scale, Math.abs(g[i]!));
      }
      expect(worst / scale).toBeLessThan(2e-3);
    };
    await check(0, du!);
    await check(1, dh!);
  });

  it('leaves no tensors behind (forward and backward)', () => {
    const u = randn([2, 12, 3], 9) as tf.Tensor3D;
    const h = randn([3, 12], 10) as tf.Tensor2D;
    const filter = tf.variable(h);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(longConv(u, filter as tf.Tensor2D, { chunk: 4 })) as tf.Scalar, [filter]);
    expect(grads[filter.name]!.shape).toEqual([3, 12]);
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the circular conv wraps around: y[t] = Σ_s h[s] u[(t − s) mod T]', async () => {
    const [B, T, d] = [2, 6, 3];
    const u = randn([B, T, d], 11) as tf.Tensor3D;
    const h = randn([d, T + 2], 12) as tf.Tensor2D; // taps beyond T are ignored
    const y = (await circularLongConv(u, h).array()) as number[][][];
    const ua = (await u.array()) as number[][][];
    const ha = (await h.array()) as number[][];
    let err = 0;
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++)
        for (let c = 0; c < d; c++) {
          let s = 0;
          for (let k = 0; k < T; k++) s += ha[c]![k]! * ua[b]![(t - k + T) % T]![c]!;
          err = Math.max(err, Math.abs(s - y[b]![t]![c]!));
        }
    expect(err).toBeLessThan(1e-5);
  });

  it('the step view (every past input) reproduces the parallel conv', async () => {
    const [B, T, d, Lmax] = [2, 7, 3, 9];
    const u = randn([B, T, d], 13) as tf.Tensor3D;
    const h = randn([d, Lmax], 14) as tf.Tensor2D;
    let history = tf.zeros([B, Lmax, d]) as tf.Tensor3D;
    const ys: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const out = longConvStep(history, u.slice([0, t, 0], [B, 1, d]).reshape([B, d]) as tf.Tensor2D, h, t);
      ys.push(out.y);
      history = out.history;
    }
    expect(await relativeError(tf.stack(ys, 1), longConv(u, h))).toBeLessThan(1e-6);
    expect(() => longConvStep(history, tf.zeros([B, d]) as tf.Tensor2D, h, Lmax)).toThrow(/beyond/);
  });

  it.each([
    ['gather', 12, 4],
    ['skew', 12, 4],
    ['gather', 12, 1],
    ['skew', 12, 1],
    ['skew', 12, 12],
    ['skew', 6, 2],
  ] as const)('builds Toeplitz blocks T_m[s, t] = h[m·Bk + t − s] in every layout (%s, L %i, Bk %i)', async (builder, L, Bk) => {
    const d = 2;
    const nC = L / Bk;
    const h = tf.tensor2d(Array.from({ length: d * L }, (_, i) => i + 1), [d, L]);
    const expected = (c: number, m: number, s: number, t: number) => (m * Bk + t - s < 0 ? 0 : c * L + m * Bk + t - s + 1);
    const blocks = toeplitzBlocks(h, Bk, 'blocks', builder);
    expect(blocks.shape).toEqual([d, nC, Bk, Bk]);
    // R = [T_{nC−1}; …; T_0] and V = [T_0ᵀ; T_1ᵀ; …], the stacked layouts the products read
    const got = (await blocks.array()) as number[][][][];
    const R = (await toeplitzBlocks(h, Bk, 'stacked', builder).array()) as number[][][];
    const V = (await toeplitzBlocks(h, Bk, 'stackedTransposed', builder).array()) as number[][][];
    for (let c = 0; c < d; c++)
      for (let m = 0; m < nC; m++)
        for (let s = 0; s < Bk; s++)
          for (let t = 0; t < Bk; t++) {
            expect(got[c]![m]![s]![t]).toBe(expected(c, m, s, t));
            expect(R[c]![m * Bk + s]![t]).toBe(expected(c, nC - 1 - m, s, t));
            expect(V[c]![m * Bk + t]![s]).toBe(expected(c, m, s, t));
          }
    expect(() => toeplitzBlocks(h, 5, 'blocks', builder)).toThrow(/multiple/);
  });

  it('keeps the block table memory-sane at L 1024, d 256 (64-step blocks: 64 MB, not the 1 GB dense Toeplitz)', () => {
    expect(defaultLongConvChunk(1024, 256)).toBe(64);
    expect(256 * 1024 * defaultLongConvChunk(1024, 256) * 4).toBe(64 * 1024 * 1024);
    // short sequences take the dense Toeplitz in one block (one matmul per product)
    expect(defaultLongConvChunk(64, 64)).toBe(64);
    expect(defaultLongConvChunk(256, 64)).toBe(256);
  });

  it('never materialises the dense Toeplitz: forward + backward peak stays far below d·L² floats', async () => {
    const [B, T, d, chunk] = [2, 1024, 2, 16];
    const u = tf.variable(randn([B, T, d], 25));
    const h = tf.variable(randn([d, T], 26));
    const base = tf.memory().numBytes;
    const info = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(longConv(u as unknown as tf.Tensor3D, h as unknown as tf.Tensor2D, { chunk })) as tf.Scalar, [u, h]);
      tf.dispose([value, ...Object.values(grads)]);
    });
    const dense = d * T * T * 4; // 8 MiB for one copy of the dense Toeplitz
    // measured 1.5 MiB (tf.profile counts views twice): a few block tables (d·L·Bk·4 = 128 KiB), chunk operands and
    // the 64 chunks' small products
    expect(info.peakBytes - base).toBeLessThan(dense / 2);
    u.dispose();
    h.dispose();
  });

  it("a stack's filters [R, d, L]: each run's examples convolved with its own filter, gradients per run", async () => {
    const [R, b, T, d] = [3, 2, 9, 4];
    const u = randn([R * b, T, d], 31) as tf.Tensor3D;
    const h = randn([R, d, T + 2], 32) as tf.Tensor3D; // Lh > T: only the first T taps reach an output
    const g = randn([R * b, T, d], 33);
    const perRun = (a: tf.Tensor3D, hh: tf.Tensor3D) => tf.concat(tf.split(a, R, 0).map((part, r) => longConvNaive(part as tf.Tensor3D, tf.squeeze(hh.slice([r, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D)), 0);
    expect(await relativeError(longConv(u, h, { chunk: 4 }), perRun(u, h))).toBeLessThan(1e-6);
    const loss = (f: (a: tf.Tensor3D, hh: tf.Tensor3D) => tf.Tensor) => (a: tf.Tensor, hh: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor3D, hh as tf.Tensor3D), g));
    const [du, dh] = tf.grads(loss((a, hh) => longConv(a, hh, { chunk: 4 })))([u, h]);
    const [duRef, dhRef] = tf.grads(loss(perRun))([u, h]);
    expect(dh!.shape).toEqual([R, d, T + 2]);
    expect(await relativeError(du!, duRef!)).toBeLessThan(1e-5);
    expect(await relativeError(dh!, dhRef!)).toBeLessThan(1e-5);
    // and not the first run's filter for all: the runs' outputs differ from convolving every example with run 0's
    const firstOnly = longConvNaive(u, tf.squeeze(h.slice([0, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D);
    expect(await relativeError(longConv(u, h), firstOnly)).toBeGreaterThan(0.1);
    expect(() => longConv(randn([4, T, d], 34) as tf.Tensor3D, h)).toThrow(/3 runs' filters for 4 examples/);
  });

  it('rejects mismatched filters; a filter shorter than the sequence is zero beyond its taps (an FIR: H3\'s shift SSM)', async () => {
    const u = tf.zeros([1, 4, 2]) as tf.Tensor3D;
    expect(() => longConv(u, tf.zeros([3, 4]) as tf.Tensor2D)).toThrow(/channels/);
    expect(() => longConv(u, tf.zeros([2, 0]) as tf.Tensor2D)).toThrow(/no taps/);
    const x = tf.randomNormal([2, 9, 3], 0, 1, 'float32', 4) as tf.Tensor3D;
    const h = tf.randomNormal([3, 4], 0, 1, 'float32', 5) as tf.Tensor2D;
    const padded = tf.pad(h, [[0, 0], [0, 5]]) as tf.Tensor2D;
    expect(Array.from(await longConv(x, h, { chunk: 3 }).data())).toEqual(Array.from(await longConv(x, padded, { chunk: 3 }).data()));
    // and its gradient is the padded filter's, cut to its taps
    const dh = (f: tf.Tensor2D) => tf.grad((g: tf.Tensor) => tf.sum(tf.square(longConv(x, g as tf.Tensor2D, { chunk: 3 }))))(f);
    expect(Array.from(await dh(h).data())).toEqual(Array.from(await dh(padded).slice([0, 0], [3, 4]).data()));
    const stacked = tf.stack([h, tf.mul(h, 2)]) as tf.Tensor3D;
    const stackedPadded = tf.pad(stacked, [[0, 0], [0, 0], [0, 5]]) as tf.Tensor3D;
    const xx = tf.concat([x, x]) as tf.Tensor3D;
    expect(Array.from(await longConv(xx, stacked, { chunk: 3 }).data())).toEqual(Array.from(await longConv(xx, stackedPadded, { chunk: 3 }).data()));
  });

  it('on wasm: the split per-channel products equal tf.matMul, and the op its reference', async () => {
    await useBackend('wasm');
    try {
      for (const [tA, tB] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        const a = randn(tA ? [3, 5, 4] : [3, 4, 5], 20) as tf.Tensor3D;
        const b = randn(tB ? [3, 6, 5] : [3, 5, 6], 21) as tf.Tensor3D;
        const split = channelMatMul(a, b, tA, tB);
        expect(split.shape).toEqual([3, 4, 6]);
        expect(await relativeError(split, tf.matMul(a, b, tA, tB))).toBeLessThan(1e-6);
      }
      const u = randn([2, 11, 3], 22) as tf.Tensor3D;
      const h = randn([3, 11], 23) as tf.Tensor2D;
      const r = randn([2, 11, 3], 24);
      expect(await relativeError(longConv(u, h, { chunk: 4 }), longConvNaive(u, h))).toBeLessThan(1e-6);
      const loss = (f: (u: tf.Tensor3D, h: tf.Tensor2D, o?: { chunk?: number }) => tf.Tensor3D) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor3D, b as tf.Tensor2D, { chunk: 4 }), r));
      const [du, dh] = tf.grads(loss(longConv))([u, h]);
      const [duRef, dhRef] = tf.grads(loss(longConvNaive))([u, h]);
      expect(await relativeError(du!, duRef!)).toBeLessThan(1e-5);
      expect(await relativeError(dh!, dhRef!)).toBeLessThan(1e-5);
    } finally {
      await useBackend('cpu');
    }
  });
});
