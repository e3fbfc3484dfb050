// The fused gated linear attention (accel/webgpu/gla.ts, lever `gla`) against the per-token reference
// (ops/gatedLinearAttention/naive.ts): values and the gradients of every input, at shapes that exercise what the
// kernel tiles — odd T (a short last checkpoint chunk), d_k ≠ d_v, d_v past the backward's column block (several
// blocks, the last one partly empty), T = 1 — with the outputs' buffers poisoned (NaN) first. A mutation check shows
// the bars catch a kernel wrong by one token's worth; through the op, lever off gives the chunked form back, and so
// does a d_k past the op's bound (GLA_FAST_MAX_DK); Mamba-2's SSD through the same kernel (lever `ssd`) likewise; a
// training step of a tiny GLA and Mamba-2 model agrees with the levers on and off. Runs on a real GPU or on lavapipe
// (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest); skipped, saying why, without any adapter.
import * as tf from '@tensorflow/tfjs';
import { errors, expectLayoutsAgree, expectLeverStepAgrees, LAYOUT_PAIRS, poison, webgpuDevice } from './webgpuKit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { fastForms } from '../core/fastForms.js';
import { allLevers, OFF_BY_DEFAULT, setFastPath } from '../accel/webgpu/index.js';
import { GLA_FAST_MAX_DK, glaFastMaxDk, glaWebGpu, gradsSize, SSD_ROW_BLOCK, ssdWebGpu, tiling } from '../accel/webgpu/gla.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { gla, glaChunked, glaNaive } from '../ops/gatedLinearAttention/index.js';
import { ssd, ssdChunked, ssdNaive } from '../ops/ssd/index.js';
import { fromOpsLayout } from '../ops/shared/heads.js';

const device = await webgpuDevice('webgpu-gla');

let seed = 7000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);

interface Inputs {
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  g: tf.Tensor4D;
  w: tf.Tensor4D; // cotangent of o: loss = Σ w ⊙ o
}

/** Inputs as the mixer makes them: q scaled by d_k^−½, g = log σ(·)/16-like forget gates ≤ 0 (some near −4: strong forgetting). */
function inputs(B: number, H: number, T: number, dk: number, dv: number): Inputs {
  return {
    q: tf.mul(randn([B, H, T, dk]), dk ** -0.5) as tf.Tensor4D,
    k: randn([B, H, T, dk]) as tf.Tensor4D,
    v: randn([B, H, T, dv]) as tf.Tensor4D,
    g: tf.neg(tf.softplus(randn([B, H, T, dk], 2))) as tf.Tensor4D,
    w: randn([B, H, T, dv]) as tf.Tensor4D,
  };
}

type Gla = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, g: tf.Tensor4D) => tf.Tensor4D;
const fused: Gla = (...a) => glaWebGpu(...a)!;

/** o and the gradients of Σ w ⊙ o in q, k, v, g. */
function run(f: Gla, x: Inputs): tf.Tensor[] {
  const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(f(a[0] as tf.Tensor4D, a[1] as tf.Tensor4D, a[2] as tf.Tensor4D, a[3] as tf.Tensor4D), x.w));
  return [f(x.q, x.k, x.v, x.g), ...tf.grads(loss)([x.q, x.k, x.v, x.g])];
}

const NAMES = ['o', 'dq', 'dk', 'dv', 'dg'];
const FORWARD_BAR = 5e-6;
const GRAD_BAR = 1e-5;
const bar = (i: number) => (i === 0 ? FORWARD_BAR : GRAD_BAR);

describe.skipIf(!device)(`fused gated linear attention on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => {
    setFastPath(allLevers(true));
  });
  afterAll(() => {
    releaseGpu();
  });

  it("GLA runs through it by default; Mamba-2's SSD only under its own lever, off with the measured reason", () => {
    expect(OFF_BY_DEFAULT.gla).toBeUndefined();
    expect(OFF_BY_DEFAULT.ssd).toMatch(/11x slower/);
    const forms = (lever: string) => fastForms().filter((f) => f.backend === 'webgpu' && f.lever === lever).map((f) => f.op);
    expect([forms('gla'), forms('ssd')]).toEqual([['gla'], ['ssd']]);
  });

  // [B, H, T, d_k, d_v]: odd T and d_k ≠ d_v; d_k 48 → CAP 64, 16 columns a backward block, so d_v 37 is three
  // blocks (the last holds 5); T 1; T 17 with C = 5 → a last chunk of 2; zoology's d 128 head (d_k 16, d_v 32);
  // d_k 128 → 8 columns a block (Mamba-2's default N 128), d_v 20 three blocks over two heads
  const SHAPES = [
    [1, 2, 7, 5, 3],
    [2, 1, 17, 8, 20],
    [1, 1, 12, 48, 37],
    [2, 2, 1, 6, 9],
    [1, 2, 9, 16, 32],
    [1, 2, 5, 128, 20],
  ] as const;

  it('values and the gradients of every input match the per-token reference', async () => {
    expect(tiling(48, 37)).toEqual({ CAP: 64, COLS: 16 });
    expect(tiling(128, 20)).toEqual({ CAP: 128, COLS: 8 });
    const worst = NAMES.map(() => ({ abs: 0, rel: 0 }));
    for (const [B, H, T, dk, dv] of SHAPES) {
      const x = inputs(B, H, T, dk, dv);
      await poison([[B, H, T, dv], [gradsSize(B * H * T, dk, dv)]]);
      const before = [dispatchCounts.get('Gla') ?? 0, dispatchCounts.get('GlaGrad') ?? 0];
      const got = run(fused, x);
      // o once and again inside tf.grads, the gradient once
      expect([(dispatchCounts.get('Gla') ?? 0) - before[0]!, (dispatchCounts.get('GlaGrad') ?? 0) - before[1]!]).toEqual([2, 1]);
      const ref = run(glaNaive, x);
      for (let i = 0; i < got.length; i++) {
        const e = await errors(got[i]!, ref[i]!);
        expect(e.rel, `[${B}, ${H}, ${T}, ${dk}, ${dv}] ${NAMES[i]}`).toBeLessThan(bar(i));
        worst[i] = { abs: Math.max(worst[i]!.abs, e.abs), rel: Math.max(worst[i]!.rel, e.rel) };
      }
      tf.dispose([...Object.values(x), ...got, ...ref]);
    }
    console.log(`gla: worst errors vs naive ${worst.map((e, i) => `${NAMES[i]} abs ${e.abs.toExponential(2)} rel ${e.rel.toExponential(2)}`).join('; ')}`);
  });

  it('lever stridedHeads: inputs and o in the layouts named, read and written in place — bit for bit the kernels between transposes, within rounding of the reference, and no Transpose run', async () => {
    // B, H > 1 and unequal (a row formula with B and H, or b and h, swapped lands elsewhere); d_v 70: two or more
    // backward column blocks (dv and the partials written at the layout's rows)
    for (const [B, H, T, dk, dv] of [[2, 3, 7, 5, 3], [3, 2, 9, 8, 70]] as const) {
      const x = inputs(B, H, T, dk, dv);
      const ref = run(glaNaive, x);
      for (const L of LAYOUT_PAIRS) {
        const tag = `[${B}, ${H}, ${T}, ${dk}, ${dv}] ${L.input} → ${L.output}`;
        const at = <T extends tf.Tensor>(t: T, layout = L.input): T => fromOpsLayout(t, layout);
        const moved: Inputs = { q: at(x.q), k: at(x.k), v: at(x.v), g: at(x.g), w: at(x.w, L.output) };
        const inLayout: Gla = (q, k, v, g) => glaWebGpu(q, k, v, g, L)!;
        await expectLayoutsAgree(tag, L, () => run(inLayout, moved), ref, NAMES, bar);
        tf.dispose(Object.values(moved));
      }
      tf.dispose([...ref, ...Object.values(x)]);
    }
  });

  it("mutation check — a kernel wrong by one token's worth fails the same bars", async () => {
    // the reference on inputs with the first token's k moved by 1e-3 (t = 0: the last the backward reaches, after
    // every replay), or with each step's gate read from its neighbour: each must fail the bars
    const [B, H, T, dk, dv] = [1, 2, 9, 6, 7];
    seed = 7600;
    const x = inputs(B, H, T, dk, dv);
    const got = run(fused, x);
    const bump = tf.tidy(() => tf.concat([tf.mul(randn([B, H, 1, dk]), 1e-3), tf.zeros([B, H, T - 1, dk])], 2));
    const moved = run(glaNaive, { ...x, k: tf.add(x.k, bump) as tf.Tensor4D });
    // every output but dk, which does not depend on k (dk_t = dS_t v_t, and dS_t is made of q, α and do alone)
    for (let i = 0; i < got.length; i++) if (NAMES[i] !== 'dk') expect((await errors(got[i]!, moved[i]!)).rel, `k_0 moved: ${NAMES[i]}`).toBeGreaterThan(bar(i));
    const shifted = tf.concat([x.g.slice([0, 0, 1, 0], [B, H, T - 1, dk]), x.g.slice([0, 0, 0, 0], [B, H, 1, dk])], 2) as tf.Tensor4D;
    const wrong = run(glaNaive, { ...x, g: shifted });
    for (let i = 0; i < got.length; i++) expect((await errors(got[i]!, wrong[i]!)).rel, `g shifted: ${NAMES[i]}`).toBeGreaterThan(bar(i));
    tf.dispose([...Object.values(x), ...got, ...moved, ...wrong, bump, shifted]);
  });

  it('through the op, lever on runs the fused form, lever off the chunked form exactly', async () => {
    const x = inputs(2, 2, 11, 8, 12);
    const same = async (a: tf.Tensor, b: tf.Tensor) => expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    await same(gla(x.q, x.k, x.v, x.g, 4), fused(x.q, x.k, x.v, x.g));
    try {
      setFastPath({ gla: false });
      const viaOp = gla(x.q, x.k, x.v, x.g, 4);
      await same(viaOp, glaChunked(x.q, x.k, x.v, x.g, 4));
      // and the chunked form agrees with the fused one (both against the same recurrence)
      expect((await errors(viaOp, fused(x.q, x.k, x.v, x.g))).rel).toBeLessThan(1e-5);
    } finally {
      setFastPath({ gla: true });
    }
    tf.dispose(Object.values(x));
  });

  it(`past d_k ${GLA_FAST_MAX_DK} the op declines the fused form (its columns would spill out of registers) and runs the chunked one exactly; RECALLBENCH_GLA_FAST_MAX_DK moves the bound, a bad value is a one-line error`, async () => {
    const bound = glaFastMaxDk(); // GLA_FAST_MAX_DK unless the variable is set
    const wide = inputs(1, 1, 7, bound + 1, 4);
    const narrow = inputs(1, 1, 7, bound, 4);
    const same = async (a: tf.Tensor, b: tf.Tensor) => expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    await same(gla(wide.q, wide.k, wide.v, wide.g, 4), glaChunked(wide.q, wide.k, wide.v, wide.g, 4));
    await same(gla(narrow.q, narrow.k, narrow.v, narrow.g, 4), fused(narrow.q, narrow.k, narrow.v, narrow.g));
    const saved = process.env.RECALLBENCH_GLA_FAST_MAX_DK;
    try {
      process.env.RECALLBENCH_GLA_FAST_MAX_DK = String(bound + 1);
      await same(gla(wide.q, wide.k, wide.v, wide.g, 4), fused(wide.q, wide.k, wide.v, wide.g));
      for (const bad of ['abc', ' ', '-1', '2.5']) {
        process.env.RECALLBENCH_GLA_FAST_MAX_DK = bad;
        expect(() => glaFastMaxDk(), bad).toThrow(/^RECALLBENCH_GLA_FAST_MAX_DK: a whole number/);
      }
    } finally {
      if (saved === undefined) delete process.env.RECALLBENCH_GLA_FAST_MAX_DK;
      else process.env.RECALLBENCH_GLA_FAST_MAX_DK = saved;
    }
    tf.dispose([...Object.values(wide), ...Object.values(narrow)]);
  });

  it("Mamba-2's SSD through the same kernel (one decay per head): values and the gradients of c, b, v, a match its per-token reference; through the op, lever off = the chunked form", async () => {
    // [B, H, T, N, P]: N ≠ P, T odd (C 4: a last chunk of 3); N 48 and 64 past SSD_ROW_BLOCK (32): two kernel calls
    // over row blocks, the last one partial at 48
    for (const [B, H, T, N, P] of [[2, 2, 11, 6, 5], [1, 2, 7, 48, 20], [1, 1, 9, 64, 8]] as const) {
      const c = randn([B, H, T, N]) as tf.Tensor4D;
      const b = randn([B, H, T, N]) as tf.Tensor4D;
      const v = randn([B, H, T, P]) as tf.Tensor4D;
      const a = tf.neg(tf.softplus(randn([B, H, T], 2))) as tf.Tensor3D;
      const w = randn([B, H, T, P]);
      type Ssd = (c: tf.Tensor4D, b: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor3D) => tf.Tensor4D;
      const both = (f: Ssd) => [f(c, b, v, a), ...tf.grads((...x: tf.Tensor[]) => tf.sum(tf.mul(f(x[0] as tf.Tensor4D, x[1] as tf.Tensor4D, x[2] as tf.Tensor4D, x[3] as tf.Tensor3D), w)))([c, b, v, a])];
      const calls = dispatchCounts.get('Gla') ?? 0;
      const got = both((...x) => ssdWebGpu(...x)!);
      // both() runs the forward twice (the value, then under tf.grads)
      expect((dispatchCounts.get('Gla') ?? 0) - calls, `[${B}, ${H}, ${T}, ${N}, ${P}] forward kernel calls`).toBe(2 * Math.ceil(N / SSD_ROW_BLOCK));
      const ref = both(ssdNaive);
      for (const [i, name] of ['o', 'dc', 'db', 'dv', 'da'].entries()) expect((await errors(got[i]!, ref[i]!)).rel, `[${B}, ${H}, ${T}, ${N}, ${P}] ${name}`).toBeLessThan(bar(i));
      const same = async (x: tf.Tensor, y: tf.Tensor) => expect(Array.from(await x.data())).toEqual(Array.from(await y.data()));
      await same(ssd(c, b, v, a, 4), got[0]!);
      try {
        setFastPath({ ssd: false });
        await same(ssd(c, b, v, a, 4), ssdChunked(c, b, v, a, 4));
      } finally {
        setFastPath({ ssd: true });
      }
      tf.dispose([c, b, v, a, w, ...got, ...ref]);
    }
  });

  it('a training step of a tiny GLA model and of a tiny Mamba-2 model: lever on and off give the same loss and gradients', async () => {
    await expectLeverStepAgrees('gla', [{ mixer: 'gla', params: { chunkSize: 4 } }], { label: 'gla', kernels: ['RecallbenchGla', 'RecallbenchGlaGrad'] });
    await expectLeverStepAgrees('ssd', [{ mixer: 'mamba2', params: { chunkSize: 4, headDim: 8, stateDim: 8 } }], { label: 'mamba2', kernels: ['RecallbenchGla', 'RecallbenchGlaGrad'] });
  });

  it('a training step of a tiny GLA model: lever stridedHeads on and off give the same loss and gradients', async () => {
    await expectLeverStepAgrees('stridedHeads', [{ mixer: 'gla', params: { chunkSize: 4, numHeads: 2 } }, { mixer: 'gla', params: { chunkSize: 4, numHeads: 2 } }], { label: 'gla', kernels: ['RecallbenchGla', 'RecallbenchGlaGrad'] });
  });
});
