// The fused causal long convolution (accel/webgpu/longConv.ts, lever `longConv`) against the shifted-sum reference
// (ops/longConv/naive.ts): values and the gradients of x and h at T that is a multiple of nothing (1, 7, 37, 70),
// C 1 / 5 / 64, B 1–3, filters as long as the sequence or longer (and shorter: lever shortFilter, below), with the kernels' output buffers poisoned (NaN)
// first. A mutation check shows the bars catch a kernel that lets t see x[t + 1]; through the op, lever on runs the
// fused kernel and lever off the blocked Toeplitz form (no fused kernel in tf.profile); a tiny H3 model gives the
// same loss and gradients either way. Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`
// before vitest); skipped, saying why, without any adapter.
import * as tf from '@tensorflow/tfjs';
import { dispatchesSince, errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { fastForms } from '../core/fastForms.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dhGroups, EXAMPLES_PER_THREAD, LONG_CONV_GRAD_KERNEL, LONG_CONV_KERNEL, longConvExamplesPerThread, longConvWebGpu } from '../accel/webgpu/longConv.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { SHORT_CONV_GRAD_KERNEL, SHORT_CONV_KERNEL } from '../accel/webgpu/shortConv.js';
import { circularLongConv, longConv, longConvNaive } from '../ops/longConv/index.js';

const device = await webgpuDevice('webgpu-longConv');

const ALL_ON = allLevers(true);

let seed = 13000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);

interface Inputs {
  x: tf.Tensor3D;
  h: tf.Tensor2D;
  w: tf.Tensor3D; // cotangent of y: loss = Σ w ⊙ y
}

function inputs(B: number, T: number, C: number, L: number, draw = randn): Inputs {
  return { x: draw([B, T, C]) as tf.Tensor3D, h: draw([C, L], 0.5) as tf.Tensor2D, w: draw([B, T, C]) as tf.Tensor3D };
}

type Form = (x: tf.Tensor3D, h: tf.Tensor2D) => tf.Tensor3D;
const fused: Form = (x, h) => longConvWebGpu(x, h)!;
const naive: Form = (x, h) => longConvNaive(x, h);

/** y and the gradients of Σ w ⊙ y in x and h. */
function run(f: Form, i: Inputs): tf.Tensor[] {
  const loss = (x: tf.Tensor, h: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor3D, h as tf.Tensor2D), i.w));
  return [f(i.x, i.h), ...tf.grads(loss)([i.x, i.h])];
}

/** The reference plus a tap that reaches one step ahead: y[t] += h[c, 0] · x[t + 1] (the mutation). */
const lookAhead: Form = (x, h) =>
  tf.tidy(() => {
    const [B, T, C] = x.shape;
    const next = tf.pad(x.slice([0, 1, 0], [B, T - 1, C]), [
      [0, 0],
      [0, 1],
      [0, 0],
    ]);
    return tf.add(longConvNaive(x, h), tf.mul(next, h.slice([0, 0], [C, 1]).reshape([C]))) as tf.Tensor3D;
  });

const NAMES = ['y', 'dx', 'dh'];
const FORWARD_BAR = 1e-6;
const GRAD_BAR = 2e-6;
const bar = (i: number) => (i === 0 ? FORWARD_BAR : GRAD_BAR);

describe.skipIf(!device)(`fused causal long convolution on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => {
    setFastPath(ALL_ON);
  });
  afterAll(() => {
    releaseGpu();
  });

  // [B, T, C, Lh]
  const SHAPES = [
    [1, 1, 1, 1],
    [2, 1, 5, 3],
    [3, 7, 5, 7],
    [2, 37, 64, 37],
    [1, 70, 5, 74],
    [3, 70, 1, 70],
    [1, 37, 64, 40],
    // lever longConvTiles: two channel blocks (the second half full), T not a multiple of the 4 time rows or the
    // 32-tap tile, Lh > T; and dh in 7 groups of 2 examples, the last of 1 (C·Lh 6,400 → 100 lane blocks → 11 of 13)
    [3, 70, 96, 75],
    [13, 100, 64, 100],
    // lever longConvRegisters (8 times or taps a thread, 32 times a workgroup): T < 8, T past two blocks of 32 with a
    // ragged last thread, Lh > T with tap blocks wholly past T (dh zeros there)
    [2, 5, 64, 5],
    [1, 33, 128, 40],
  ] as const;
  type Mode = 'blocks' | 'registers' | 'tiles' | 'plain';
  const mode = (m: Mode) => setFastPath({ longConvBlocks: m === 'blocks', longConvRegisters: m === 'registers', longConvTiles: m !== 'plain' });

  /**
   * Form `m` against the plain kernels on the same inputs (its outputs poisoned first): the dispatches each ran, by
   * name, equal `expected` (and `plainExpected`), y and dx the same bits, dh within GRAD_BAR.
   */
  async function expectFormMatchesPlain(m: Mode, [B, T, C, L]: readonly [number, number, number, number], expected: Record<string, number>, label = '', plainExpected?: Record<string, number>): Promise<void> {
    const data = async (t: tf.Tensor) => Array.from(await t.data());
    const ranSince = (before: Map<string, number>, names: Record<string, number>) => Object.fromEntries(Object.keys(names).map((n) => [n, (dispatchCounts.get(n) ?? 0) - (before.get(n) ?? 0)]));
    const x = inputs(B, T, C, L);
    mode('plain');
    let before = new Map(dispatchCounts);
    const plain = run(fused, x);
    await plain[2]!.data();
    if (plainExpected) expect(ranSince(before, plainExpected)).toEqual(plainExpected);
    mode(m);
    await poison([[B, T, C], [C, L]]);
    before = new Map(dispatchCounts);
    const got = run(fused, x);
    await got[2]!.data();
    const at = `${label}[${B}, ${T}, ${C}, ${L}] (${m})`;
    expect(ranSince(before, expected), at).toEqual(expected);
    expect(await data(got[0]!), `${at} y`).toEqual(await data(plain[0]!));
    expect(await data(got[1]!), `${at} dx`).toEqual(await data(plain[1]!));
    expect((await errors(got[2]!, plain[2]!)).rel, `${at} dh`).toBeLessThan(GRAD_BAR);
    tf.dispose([...Object.values(x), ...plain, ...got]);
  }

  it('values and the gradients of x and h match the shifted-sum reference: blocks, registers, tiles and neither', async () => {
    const worst = NAMES.map(() => ({ abs: 0, rel: 0 }));
    // (the tiled and register shapes last: the plain kernels run them as the other shapes already cover)
    // (blocks, registers: only C ≥ 64 — below it they run the tiles' kernels, covered by the tiles pass)
    for (const m of ['blocks', 'registers', 'tiles', 'plain'] as Mode[]) for (const [B, T, C, L] of m === 'plain' ? SHAPES.slice(0, -4) : m === 'registers' || m === 'blocks' ? SHAPES.filter((s) => s[2] >= 64) : SHAPES) {
      mode(m);
      const tiles = m !== 'plain';
      const x = inputs(B, T, C, L);
      // the kernels' outputs: y and dx [B, T, C], dh [C, Lh]
      await poison([[B, T, C], [C, L]]);
      const got = run(fused, x);
      const ref = run(naive, x);
      for (let i = 0; i < got.length; i++) {
        const e = await errors(got[i]!, ref[i]!);
        expect(e.rel, `[${B}, ${T}, ${C}, ${L}] ${NAMES[i]}${tiles ? ` (${m})` : ''}`).toBeLessThan(bar(i));
        worst[i] = { abs: Math.max(worst[i]!.abs, e.abs), rel: Math.max(worst[i]!.rel, e.rel) };
      }
      tf.dispose([...Object.values(x), ...got, ...ref]);
    }
    setFastPath(ALL_ON);
    console.log(`long conv: worst errors vs naive ${worst.map((e, i) => `${NAMES[i]} abs ${e.abs.toExponential(2)} rel ${e.rel.toExponential(2)}`).join('; ')}`);
  });

  it("a stack's filters [R, C, Lh]: each run's examples with its own filter, and each run's dh from its own examples (blocks, registers, tiles, neither)", async () => {
    for (const m of ['blocks', 'registers', 'tiles', 'plain'] as Mode[]) for (const [R, b, T, C, L] of [[3, 2, 7, 5, 9], [2, 3, 37, 64, 37], [4, 1, 20, 3, 20], [2, 2, 45, 64, 48]] as const) {
      mode(m);
      const tiles = m !== 'plain';
      const x = randn([R * b, T, C]) as tf.Tensor3D;
      const h = randn([R, C, L], 0.5) as tf.Tensor3D;
      const g = randn([R * b, T, C]);
      const perRun = (a: tf.Tensor3D, hh: tf.Tensor3D) =>
        tf.concat(tf.split(a, R, 0).map((part, r) => longConvNaive(part as tf.Tensor3D, tf.squeeze(hh.slice([r, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D)), 0) as tf.Tensor3D;
      const both = (f: (a: tf.Tensor3D, hh: tf.Tensor3D) => tf.Tensor3D) => [f(x, h), ...tf.grads((a: tf.Tensor, hh: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor3D, hh as tf.Tensor3D), g)))([x, h])];
      await poison([[R * b, T, C], [R, C, L]]);
      const got = both((a, hh) => longConvWebGpu(a, hh)!);
      const ref = both(perRun);
      for (let i = 0; i < 3; i++) {
        expect(got[i]!.shape).toEqual(ref[i]!.shape);
        expect((await errors(got[i]!, ref[i]!)).rel, `R ${R} [${b}, ${T}, ${C}, ${L}] ${NAMES[i]}${tiles ? ` (${m})` : ''}`).toBeLessThan(bar(i));
      }
      tf.dispose([x, h, g, ...got, ...ref]);
    }
    setFastPath(ALL_ON);
  });

  it("levers longConvTiles, longConvRegisters and longConvBlocks, a stack: each run's y, dx and dh are the run alone's bit for bit (two channel blocks, dh in groups)", async () => {
    // a run's 5 examples in 3 groups (C·Lh 16,896: 264 lane blocks → 4 wanted); grouped by the stack's 10 examples they would be 3 and 2
    const [R, b, T, C, L] = [2, 5, 172, 96, 176];
    expect(dhGroups(b, C, L)).toEqual({ groups: 3, perGroup: 2 });
    // with 8 taps a lane: 96 · 22 lanes, 33 lane blocks → 125 groups wanted, one example each
    expect(dhGroups(b, C, L, 'registers')).toEqual({ groups: 5, perGroup: 1 });
    // blocks: 5 examples a run, 4 a thread — a run's second example block holds one; 16 taps a dh lane
    expect(dhGroups(b, C, L, 'blocks')).toEqual({ groups: 5, perGroup: 1 });
    for (const m of ['tiles', 'registers', 'blocks'] as Mode[]) {
    mode(m);
    const x = randn([R * b, T, C]) as tf.Tensor3D;
    const h = randn([R, C, L], 0.5) as tf.Tensor3D;
    const g = randn([R * b, T, C]);
    const both = (xx: tf.Tensor3D, hh: tf.Tensor, gg: tf.Tensor) => [longConvWebGpu(xx, hh as tf.Tensor3D)!, ...tf.grads((a: tf.Tensor, f: tf.Tensor) => tf.sum(tf.mul(longConvWebGpu(a as tf.Tensor3D, f as tf.Tensor3D)!, gg)))([xx, hh])];
    const stacked = both(x, h, g);
    for (let r = 0; r < R; r++) {
      const rows = (t: tf.Tensor) => t.slice([r * b, 0, 0], [b, T, C]);
      const alone = both(rows(x) as tf.Tensor3D, tf.squeeze(h.slice([r, 0, 0], [1, C, L]), [0]), rows(g));
      const mine = [rows(stacked[0]!), rows(stacked[1]!), tf.squeeze(stacked[2]!.slice([r, 0, 0], [1, C, L]), [0])];
      for (let i = 0; i < 3; i++) expect(Array.from(await mine[i]!.data()), `${m}: run ${r} ${NAMES[i]}`).toEqual(Array.from(await alone[i]!.data()));
      tf.dispose([...alone, ...mine]);
    }
    tf.dispose([x, h, g, ...stacked]);
    }
    setFastPath(ALL_ON);
  });

  it('lever longConvTiles: the tiled forward and dx give the untiled sums bit for bit (C ≥ 64), dh its batch split', async () => {
    // dhGroups: enough groups for DH_TARGET_WORKGROUPS per run, none empty, from one run's sizes only
    expect(dhGroups(12, 64, 100)).toEqual({ groups: 6, perGroup: 2 });
    expect(dhGroups(13, 64, 100)).toEqual({ groups: 7, perGroup: 2 }); // the last group of 1
    expect(dhGroups(512, 64, 64)).toEqual({ groups: 16, perGroup: 32 }); // zoology-fig2 L 64, d 64: 64 lane blocks
    expect(dhGroups(3, 5, 7)).toEqual({ groups: 3, perGroup: 1 });
    expect(dhGroups(512, 512, 2048)).toEqual({ groups: 1, perGroup: 512 }); // 16,384 lane blocks: no second pass
    for (const shape of [[3, 70, 96, 75], [2, 37, 64, 37], [13, 100, 64, 100]] as const) {
      const groups = dhGroups(shape[0], shape[2], shape[3]).groups;
      // run(): the value, then the value again under tf.grads
      await expectFormMatchesPlain('tiles', shape, { LongConvTiled: 2, LongConvGradXTiled: 1, LongConvGradHSplit: 1, LongConvGradHGroups: groups > 1 ? 1 : 0, LongConv: 0 }, '', { LongConv: 2, LongConvGradX: 1, LongConvGradH: 1, LongConvTiled: 0 });
    }
    setFastPath(ALL_ON);
  });

  it('lever longConvRegisters: y and dx the untiled sums bit for bit, dh within rounding of them; its kernels and no others', async () => {
    expect(dhGroups(512, 64, 64, 'registers')).toEqual({ groups: 512, perGroup: 1 }); // zoology-fig2 L 64, d 64: 512 lanes, 8 lane blocks of 64 threads
    expect(dhGroups(128, 768, 512, 'registers')).toEqual({ groups: 6, perGroup: 22 }); // L 512, B128, 768 channels (H3 d 256's two convolutions together): 768 lane blocks → 6 wanted
    for (const shape of [[3, 70, 96, 75], [2, 5, 64, 5], [13, 100, 64, 100], [1, 33, 128, 40]] as const) {
      const groups = dhGroups(shape[0], shape[2], shape[3], 'registers').groups;
      await expectFormMatchesPlain('registers', shape, { LongConvReg: 2, LongConvGradXReg: 1, LongConvGradHReg: 1, LongConvGradHGroups: groups > 1 ? 1 : 0, LongConv: 0, LongConvTiled: 0, LongConvGradHSplit: 0 });
    }
    setFastPath(ALL_ON);
  });

  it('lever longConvBlocks: y and dx the untiled sums bit for bit at 1, 2, 4 and 8 examples a thread, dh within rounding of them; its kernels and no others', async () => {
    expect(EXAMPLES_PER_THREAD).toBe(4);
    expect(dhGroups(128, 512, 512, 'blocks')).toEqual({ groups: 16, perGroup: 8 }); // H3 d 256's kv convolution at L 512 (B128, d·P = 512 channels): 16 taps a lane, 256 lane blocks → 16 wanted
    const saved = process.env.RECALLBENCH_LONGCONV_EXAMPLES;
    try {
      // B 13: a ragged last block at every E; T 100: a ragged last time block; [1, 33, 128, 40]: Lh > T, 2 channel blocks
      // (E 4 at every shape of SHAPES is the first test's, against the reference)
      for (const [E, [B, T, C, L]] of [[1, [3, 70, 96, 75]], [2, [13, 100, 64, 100]], [4, [1, 33, 128, 40]], [8, [13, 100, 64, 100]]] as const) {
        process.env.RECALLBENCH_LONGCONV_EXAMPLES = String(E);
        expect(longConvExamplesPerThread()).toBe(E);
        const groups = dhGroups(B, C, L, 'blocks').groups;
        const none = { LongConv: 0, LongConvReg: 0, LongConvTiled: 0, LongConvGradHReg: 0, LongConvGradHSplit: 0 };
        await expectFormMatchesPlain('blocks', [B, T, C, L], { LongConvBlocks: 2, LongConvGradXBlocks: 1, LongConvGradHBlocks: 1, LongConvGradHGroups: groups > 1 ? 1 : 0, ...none }, `E ${E} `);
      }
      process.env.RECALLBENCH_LONGCONV_EXAMPLES = '3';
      expect(() => longConvExamplesPerThread()).toThrow(/^RECALLBENCH_LONGCONV_EXAMPLES: 1, 2, 4 or 8 .*got '3'$/);
    } finally {
      if (saved === undefined) delete process.env.RECALLBENCH_LONGCONV_EXAMPLES;
      else process.env.RECALLBENCH_LONGCONV_EXAMPLES = saved;
      setFastPath(ALL_ON);
    }
  });

  it('a training step of a small H3 model (d 64: the blocked kernels run): longConvBlocks on and off give the same loss and gradients', async () => {
    const before = dispatchCounts.get('LongConvBlocks') ?? 0;
    const e = await expectLeverStepAgrees('longConvBlocks', [{ mixer: 'h3', params: { stateDim: 8 } }], { seqLen: 12, seed: 5, dModel: 64, kernels: [LONG_CONV_KERNEL, LONG_CONV_GRAD_KERNEL] });
    expect((dispatchCounts.get('LongConvBlocks') ?? 0) - before).toBeGreaterThan(0);
    console.log(`H3 d 64, longConvBlocks: loss rel ${e.lossRel.toExponential(2)}, worst gradient rel ${e.worstGradRel.toExponential(2)}`);
  });

  it('a training step of a small H3 model (d 64: the register kernels run): longConvRegisters on and off give the same loss and gradients', async () => {
    setFastPath({ longConvBlocks: false }); // it takes precedence over the register kernels
    const before = dispatchCounts.get('LongConvReg') ?? 0;
    const e = await expectLeverStepAgrees('longConvRegisters', [{ mixer: 'h3', params: { stateDim: 8 } }], { seqLen: 12, seed: 5, dModel: 64, kernels: [LONG_CONV_KERNEL, LONG_CONV_GRAD_KERNEL] });
    expect((dispatchCounts.get('LongConvReg') ?? 0) - before).toBeGreaterThan(0);
    setFastPath(ALL_ON);
    console.log(`H3 d 64, longConvRegisters: loss rel ${e.lossRel.toExponential(2)}, worst gradient rel ${e.worstGradRel.toExponential(2)}`);
  });

  it('a training step of a tiny H3 model: longConvTiles on and off give the same loss and gradients', async () => {
    const e = await expectLeverStepAgrees('longConvTiles', [{ mixer: 'h3', params: { stateDim: 8 } }], { seqLen: 12, seed: 5, kernels: [LONG_CONV_KERNEL, LONG_CONV_GRAD_KERNEL] });
    console.log(`tiny H3, longConvTiles: loss rel ${e.lossRel.toExponential(2)}, worst gradient rel ${e.worstGradRel.toExponential(2)}`);
  });

  it('mutation check: a kernel that lets t see x[t + 1] fails the same bars', async () => {
    // its own draws (seeded here), independent of how many the other tests take
    let own = 99000;
    const x = inputs(2, 9, 5, 9, (shape, std = 1) => tf.randomNormal(shape, 0, std, 'float32', own++));
    const got = run(fused, x);
    const same = run(naive, x);
    const ahead = run(lookAhead, x);
    for (let i = 0; i < got.length; i++) {
      expect((await errors(got[i]!, same[i]!)).rel, `reference: ${NAMES[i]}`).toBeLessThan(bar(i));
      expect((await errors(got[i]!, ahead[i]!)).rel, `one step ahead: ${NAMES[i]}`).toBeGreaterThan(100 * bar(i));
    }
    tf.dispose([...Object.values(x), ...got, ...same, ...ahead]);
  });

  it('through the op: lever on runs the fused kernels, lever off the blocked form (circular form too)', async () => {
    const x = inputs(2, 11, 6, 13);
    const data = async (t: tf.Tensor) => Array.from(await t.data());
    expect(fastForms().filter((f) => f.backend === 'webgpu' && f.lever === 'longConv').map((f) => f.op)).toEqual(['longConv']);
    /** The kernels a training-style call (value and both gradients) runs, and its outputs. */
    const traced = async () => {
      let out: tf.Tensor[] = [];
      const info = await tf.profile(() => {
        out = run((a, b) => longConv(a, b, { chunk: 4 }), x);
        return out;
      });
      return { kernels: new Set(info.kernelNames), out };
    };
    const on = await traced();
    expect(on.kernels.has(LONG_CONV_KERNEL) && on.kernels.has(LONG_CONV_GRAD_KERNEL)).toBe(true);
    const direct = run(fused, x);
    for (let i = 0; i < 3; i++) expect(await data(on.out[i]!), NAMES[i]).toEqual(await data(direct[i]!));
    const circOn = circularLongConv(x.x, x.h.slice([0, 0], [6, 11]) as tf.Tensor2D);
    // declined: not float32
    expect(longConvWebGpu(x.x.cast('int32') as tf.Tensor3D, x.h)).toBeUndefined();
    try {
      setFastPath({ longConv: false });
      const off = await traced();
      expect(off.kernels.has(LONG_CONV_KERNEL) || off.kernels.has(LONG_CONV_GRAD_KERNEL)).toBe(false);
      expect(off.kernels.has('BatchMatMul')).toBe(true); // the blocked Toeplitz matmuls
      for (let i = 0; i < 3; i++) expect((await errors(off.out[i]!, on.out[i]!)).rel, NAMES[i]).toBeLessThan(bar(i));
      const circOff = circularLongConv(x.x, x.h.slice([0, 0], [6, 11]) as tf.Tensor2D);
      expect((await errors(circOff, circOn)).rel).toBeLessThan(FORWARD_BAR);
      tf.dispose([...off.out, circOff]);
    } finally {
      setFastPath({ longConv: true });
    }
    tf.dispose([...Object.values(x), ...on.out, ...direct, circOn]);
  });

  // lever shortFilter: a filter of K < T taps (zero beyond them) through the short convolution's kernels
  describe('lever shortFilter: a filter shorter than the sequence as a short FIR', () => {
    const padTo = (h: tf.Tensor, T: number) => tf.pad(h, [...(h.rank === 3 ? [[0, 0] as [number, number]] : []), [0, 0], [0, T - h.shape[h.rank - 1]!]]);
    /** y, dx and dh (the short filter's own [C, K] or [R, C, K]) of Σ w ⊙ f(x, h). */
    const grads = (f: (x: tf.Tensor3D, h: tf.Tensor) => tf.Tensor3D, x: tf.Tensor3D, h: tf.Tensor, w: tf.Tensor3D) =>
      [f(x, h), ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor3D, b), w)))([x, h])];
    const reference = (x: tf.Tensor3D, h: tf.Tensor) => longConvNaive(x, padTo(h, x.shape[1]) as tf.Tensor2D);

    it('values and the gradients of x and of the short filter match the shifted-sum reference of the filter zero-padded; its kernels and no long-conv ones', async () => {
      setFastPath({ shortFilter: true });
      // [B, T, C, K]: one tap; ≤ 8 (the short conv's own slots); 9, 16, 33 and 64 (16, 32 and 64 slots); K = T − 1;
      // C 5 and 64; T not a multiple of the backward's 64-row tiles
      for (const [B, T, C, K] of [[2, 12, 5, 1], [3, 70, 5, 7], [2, 37, 64, 9], [1, 100, 5, 16], [2, 70, 64, 33], [2, 130, 5, 64], [2, 17, 64, 16]] as const) {
        const x = randn([B, T, C]) as tf.Tensor3D;
        const h = randn([C, K], 0.5);
        const w = randn([B, T, C]) as tf.Tensor3D;
        await poison([[B, T, C], [K, C]]);
        const before = new Map(dispatchCounts);
        const got = grads((a, b) => longConvWebGpu(a, b as tf.Tensor2D)!, x, h, w);
        await got[2]!.data();
        expect(dispatchesSince(before, 'ShortConv'), `[${B}, ${T}, ${C}, ${K}]`).toBe(2); // the value, and again inside tf.grads
        expect(dispatchesSince(before, 'ShortConvGradTiles') + dispatchesSince(before, 'ShortConvGradSum')).toBe(2);
        expect([...dispatchCounts.keys()].filter((n) => n.startsWith('LongConv') && dispatchesSince(before, n) > 0)).toEqual([]);
        const ref = grads(reference, x, h, w);
        for (let i = 0; i < 3; i++) expect((await errors(got[i]!, ref[i]!)).rel, `[${B}, ${T}, ${C}, ${K}] ${NAMES[i]}`).toBeLessThan(bar(i));
        expect(got[2]!.shape).toEqual([C, K]);
        tf.dispose([x, h, w, ...got, ...ref]);
      }
      setFastPath(ALL_ON);
    });

    it("a stack's short filters [R, C, K]: each run's examples with its own taps, each run's dh from its own examples; its kernels and no long-conv ones", async () => {
      setFastPath({ shortFilter: true });
      // [R, B, T, C, K]: 16 slots at C 64; 64 slots at C 5 with K = T − 1
      for (const [R, B, T, C, K] of [[3, 6, 40, 64, 16], [2, 4, 34, 5, 33]] as const) {
        const x = randn([B, T, C]) as tf.Tensor3D;
        const h = randn([R, C, K], 0.5);
        const w = randn([B, T, C]) as tf.Tensor3D;
        const perRun = (a: tf.Tensor3D, hh: tf.Tensor) =>
          tf.concat(tf.split(a, R, 0).map((part, r) => reference(part as tf.Tensor3D, tf.squeeze(hh.slice([r, 0, 0], [1, -1, -1]), [0]))), 0) as tf.Tensor3D;
        await poison([[B, T, C], [R, K, C]]);
        const before = new Map(dispatchCounts);
        const got = grads((a, b) => longConvWebGpu(a, b as tf.Tensor3D)!, x, h, w);
        await got[2]!.data();
        const at = `stack [${R}, ${B}, ${T}, ${C}, ${K}]`;
        // a weight of the wrong layout would be declined by the short convolution and run padded, unseen by the values
        expect(dispatchesSince(before, 'ShortConv'), at).toBe(2);
        expect(dispatchesSince(before, 'ShortConvGradTiles') + dispatchesSince(before, 'ShortConvGradSum'), at).toBe(2);
        expect([...dispatchCounts.keys()].filter((n) => n.startsWith('LongConv') && dispatchesSince(before, n) > 0), at).toEqual([]);
        const ref = grads(perRun, x, h, w);
        for (let i = 0; i < 3; i++) expect((await errors(got[i]!, ref[i]!)).rel, `${at} ${NAMES[i]}`).toBeLessThan(bar(i));
        expect(got[2]!.shape).toEqual([R, C, K]);
        tf.dispose([x, h, w, ...got, ...ref]);
      }
      setFastPath(ALL_ON);
    });

    it('off: the filter zero-padded to T through the long-conv kernels, bit for bit what a padded filter gives; through the op (cpu path too) the same function', async () => {
      const [B, T, C, K] = [2, 30, 64, 16];
      const x = randn([B, T, C]) as tf.Tensor3D;
      const h = randn([C, K], 0.5);
      const w = randn([B, T, C]) as tf.Tensor3D;
      setFastPath({ shortFilter: false });
      const before = new Map(dispatchCounts);
      const off = grads((a, b) => longConvWebGpu(a, b as tf.Tensor2D)!, x, h, w);
      await off[2]!.data();
      expect(dispatchesSince(before, 'ShortConv')).toBe(0);
      const padded = grads((a, b) => longConvWebGpu(a, padTo(b, T) as tf.Tensor2D)!, x, h, w);
      for (let i = 0; i < 3; i++) expect(Array.from(await off[i]!.data()), `off ${NAMES[i]}`).toEqual(Array.from(await padded[i]!.data()));
      setFastPath({ shortFilter: true });
      const on = grads((a, b) => longConv(a, b as tf.Tensor2D), x, h, w);
      for (let i = 0; i < 3; i++) expect((await errors(on[i]!, off[i]!)).rel, `on vs off ${NAMES[i]}`).toBeLessThan(bar(i));
      // the op's blocked form (no fast form: lever longConv off) pads the short filter itself
      setFastPath({ longConv: false });
      const blocked = grads((a, b) => longConv(a, b as tf.Tensor2D, { chunk: 8 }), x, h, w);
      for (let i = 0; i < 3; i++) expect((await errors(blocked[i]!, off[i]!)).rel, `blocked ${NAMES[i]}`).toBeLessThan(bar(i));
      setFastPath(ALL_ON);
      tf.dispose([x, h, w, ...off, ...padded, ...on, ...blocked]);
    });

    it('mutation check: a FIR one tap short (the oldest tap dropped) fails the same bars', async () => {
      setFastPath({ shortFilter: true });
      const [B, T, C, K] = [2, 40, 5, 16];
      const x = randn([B, T, C]) as tf.Tensor3D;
      const h = randn([C, K], 0.5);
      const w = randn([B, T, C]) as tf.Tensor3D;
      const got = grads((a, b) => longConvWebGpu(a, b as tf.Tensor2D)!, x, h, w);
      const shortOne = grads((a, b) => reference(a, tf.concat([b.slice([0, 0], [C, K - 1]), tf.zeros([C, 1])], 1)), x, h, w);
      for (let i = 0; i < 2; i++) expect((await errors(got[i]!, shortOne[i]!)).rel, `one tap short: ${NAMES[i]}`).toBeGreaterThan(100 * bar(i));
      tf.dispose([x, h, w, ...got, ...shortOne]);
      setFastPath(ALL_ON);
    });

    it('a training step of a small H3 model (N 16 taps at T 24): shortFilter on and off give the same loss and gradients', async () => {
      const before = new Map(dispatchCounts);
      const e = await expectLeverStepAgrees('shortFilter', [{ mixer: 'h3', params: { stateDim: 16 } }], { seqLen: 24, seed: 5, dModel: 64, kernels: [SHORT_CONV_KERNEL, SHORT_CONV_GRAD_KERNEL] });
      // H3 has no short convolution of its own: every ShortConv dispatch is its shift SSM (one forward, one backward
      // a step: the lever-on step), and its diagonal SSM's kernel is the one long convolution left (two a step)
      expect(dispatchesSince(before, 'ShortConv')).toBe(1);
      expect(dispatchesSince(before, 'ShortConvGradTiles')).toBe(1);
      console.log(`H3 d 64, shortFilter: loss rel ${e.lossRel.toExponential(2)}, worst gradient rel ${e.worstGradRel.toExponential(2)}`);
    });
  });

  it('a training step of a tiny H3 model: lever on and off give the same loss and gradients', async () => {
    const e = await expectLeverStepAgrees('longConv', [{ mixer: 'h3', params: { stateDim: 8 } }], { seqLen: 12, seed: 5, kernels: [LONG_CONV_KERNEL, LONG_CONV_GRAD_KERNEL] });
    console.log(`tiny H3: loss rel ${e.lossRel.toExponential(2)}, worst gradient rel ${e.worstGradRel.toExponential(2)}`);
  });
});
