// The fused delta rule and gated delta rule (accel/webgpu/deltaRule.ts, lever `delta`) against the per-token
// references (ops/deltaRule/naive.ts, ops/gatedDeltaRule/naive.ts): values and the gradients of every input, at
// shapes that exercise what the kernel tiles — odd T (a short last checkpoint chunk), d_k ≠ d_v, d_v not a multiple
// of the backward's column block (several blocks, the last one partly empty), T = 1 — with the outputs' buffers
// poisoned (NaN) first, as tests/webgpu-kernels.test.ts does. A mutation check shows the bars catch a kernel that
// is wrong by one token's worth; lever off gives the op its chunked form back. Lever deltaRegisters (d_k a shader
// constant, the column in named scalars) runs where d_k ≤ 32 — every shape below but d_k 40 and 128 — and is checked against
// the loop form too. Runs on a real GPU or on lavapipe
// (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest); skipped, saying why, without any adapter.
import * as tf from '@tensorflow/tfjs';
import { errors, expectLayoutsAgree, expectLeverStepAgrees, LAYOUT_PAIRS, poison, webgpuDevice } from './webgpuKit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { fastForms } from '../core/fastForms.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { DELTA_REGISTERS_MAX_DK, deltaRuleForm, deltaRuleWebGpu, gatedDeltaRuleWebGpu, gradsSize } from '../accel/webgpu/deltaRule.js';
import { dispatchCounts, fitsDevice, webgpuBackend } from '../accel/webgpu/dispatch.js';
import { deltaRule, deltaRuleChunked, deltaRuleNaive } from '../ops/deltaRule/index.js';
import { gatedDeltaRule, gatedDeltaRuleChunked, gatedDeltaRuleNaive } from '../ops/gatedDeltaRule/index.js';
import { fromOpsLayout } from '../ops/shared/heads.js';

const device = await webgpuDevice('webgpu-deltaRule');

const ALL_ON = allLevers(true);

let seed = 5000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const l2 = (x: tf.Tensor) => tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-6))));

interface Inputs {
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  beta: tf.Tensor3D;
  g: tf.Tensor3D;
  w: tf.Tensor4D; // cotangent of o: loss = Σ w ⊙ o
}

/** Inputs as the mixers make them: q, k L2-normalised (q scaled), β ∈ (0, 1), g ≤ 0 (down to ≈ −6: strong forgetting). */
function inputs(B: number, H: number, T: number, dk: number, dv: number): Inputs {
  return {
    q: tf.mul(l2(randn([B, H, T, dk])), dk ** -0.5) as tf.Tensor4D,
    k: l2(randn([B, H, T, dk])) as tf.Tensor4D,
    v: randn([B, H, T, dv]) as tf.Tensor4D,
    beta: tf.sigmoid(randn([B, H, T], 1.5)) as tf.Tensor3D,
    g: tf.neg(tf.softplus(randn([B, H, T], 2))) as tf.Tensor3D,
    w: randn([B, H, T, dv]) as tf.Tensor4D,
  };
}

type Gated = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D, g: tf.Tensor3D) => tf.Tensor4D;
const asGated = (f: (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D) => tf.Tensor4D | undefined): Gated => (q, k, v, beta) => f(q, k, v, beta)!;
const fusedGated: Gated = (...a) => gatedDeltaRuleWebGpu(...a)!;

/** o and the gradients of Σ w ⊙ o in q, k, v, β (and g when gated). */
function run(f: Gated, x: Inputs, gated: boolean): tf.Tensor[] {
  const xs = gated ? [x.q, x.k, x.v, x.beta, x.g] : [x.q, x.k, x.v, x.beta];
  const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(f(a[0] as tf.Tensor4D, a[1] as tf.Tensor4D, a[2] as tf.Tensor4D, a[3] as tf.Tensor3D, (a[4] ?? x.g) as tf.Tensor3D), x.w));
  return [f(x.q, x.k, x.v, x.beta, x.g), ...tf.grads(loss)(xs)];
}

const NAMES = ['o', 'dq', 'dk', 'dv', 'dβ', 'dg'];
const FORWARD_BAR = 5e-6;
const GRAD_BAR = 1e-5;
const bar = (i: number) => (i === 0 ? FORWARD_BAR : GRAD_BAR);

describe.skipIf(!device)(`fused delta rule on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => {
    setFastPath(ALL_ON);
  });
  afterAll(() => {
    releaseGpu();
  });

  // [B, H, T, d_k, d_v]: odd T and d_k ≠ d_v; d_k 40 → a backward block of 16 columns, so d_v 37 is three blocks
  // (the last holds 5); T 1; T 20 with C = 5 → four checkpoint chunks, T 17 → a last chunk of 2; d_k = d_v = 128
  // (icll's one-head DeltaNet at d 128): 8 columns per block → 16 blocks of partials, more than one add of tfjs
  // can bind (WebGPU's 8 storage buffers per stage)
  const SHAPES = [
    [1, 2, 7, 5, 3],
    [2, 1, 17, 8, 20],
    [1, 1, 20, 40, 37],
    [2, 2, 1, 6, 9],
    [1, 1, 5, 128, 128],
  ] as const;

  for (const gated of [false, true]) {
    const name = gated ? 'gated delta rule' : 'delta rule';
    const fused = gated ? fusedGated : asGated(deltaRuleWebGpu);
    const naive: Gated = gated ? gatedDeltaRuleNaive : (q, k, v, beta) => deltaRuleNaive(q, k, v, beta);

    it(`${name}: values and the gradients of every input match the per-token reference`, async () => {
      const worst = NAMES.map(() => ({ abs: 0, rel: 0 }));
      for (const [B, H, T, dk, dv] of SHAPES) {
        const x = inputs(B, H, T, dk, dv);
        await poison([[B, H, T, dv], [gradsSize(B * H * T, dk, dv)]]);
        const got = run(fused, x, gated);
        const ref = run(naive, x, gated);
        for (let i = 0; i < got.length; i++) {
          const e = await errors(got[i]!, ref[i]!);
          expect(e.rel, `[${B}, ${H}, ${T}, ${dk}, ${dv}] ${NAMES[i]}`).toBeLessThan(bar(i));
          worst[i] = { abs: Math.max(worst[i]!.abs, e.abs), rel: Math.max(worst[i]!.rel, e.rel) };
        }
        tf.dispose([...Object.values(x), ...got, ...ref]);
      }
      console.log(`${name}: worst errors vs naive ${worst.slice(0, gated ? 6 : 5).map((e, i) => `${NAMES[i]} abs ${e.abs.toExponential(2)} rel ${e.rel.toExponential(2)}`).join('; ')}`);
    });

    it(`${name}: lever stridedHeads — inputs and o in the layouts named, read and written in place: bit for bit the kernels between transposes, within rounding of the reference, and no Transpose run`, async () => {
      // B, H > 1 and unequal (a row formula with B and H, or b and h, swapped lands elsewhere); d_k 33, d_v 20: two
      // backward column blocks of 16 (dv and the partials at the layout's rows)
      // d_k 5: the register form; d_k 33: the loop form
      for (const [B, H, T, dk, dv] of [[2, 3, 7, 5, 3], [3, 2, 5, 33, 20]] as const) {
        const x = inputs(B, H, T, dk, dv);
        const ref = run(naive, x, gated);
        for (const L of LAYOUT_PAIRS) {
          const tag = `[${B}, ${H}, ${T}, ${dk}, ${dv}] ${L.input} → ${L.output}`;
          const at = <T extends tf.Tensor>(t: T, layout = L.input): T => fromOpsLayout(t, layout);
          const moved: Inputs = { q: at(x.q), k: at(x.k), v: at(x.v), beta: at(x.beta), g: at(x.g), w: at(x.w, L.output) };
          const inLayout: Gated = gated ? (q, k, v, beta, g) => gatedDeltaRuleWebGpu(q, k, v, beta, g, L)! : (q, k, v, beta) => deltaRuleWebGpu(q, k, v, beta, L)!;
          await expectLayoutsAgree(tag, L, () => run(inLayout, moved, gated), ref, NAMES, bar);
          tf.dispose(Object.values(moved));
        }
        tf.dispose([...ref, ...Object.values(x)]);
      }
    });

    it(`${name}: lever deltaRegisters off — the loop form matches the reference and the register form within rounding`, async () => {
      expect([8, DELTA_REGISTERS_MAX_DK, DELTA_REGISTERS_MAX_DK + 1, 40, 128].map(deltaRuleForm)).toEqual(['registers', 'registers', 'loops', 'loops', 'loops']);
      const kernel = gated ? 'GatedDeltaRule' : 'DeltaRule';
      const counts = () => [`${kernel}Registers`, `${kernel}RegistersGrad`, kernel, `${kernel}Grad`].map((n) => dispatchCounts.get(n) ?? 0);
      // d_k 8: 64 columns a backward block, so d_v 80 is two blocks, the second partly idle; T 11 (C 4: a last chunk
      // of 3). Not d_k 32 (DeltaNet's at d 128, 4 heads): lavapipe's LLVM takes minutes over that unrolled backward —
      // the GPU ≡ CPU check on the GPU host covers it (docs/campaign.md)
      const [B, H, T, dk, dv] = [1, 1, 11, 8, 80];
      const x = inputs(B, H, T, dk, dv);
      const before = counts();
      const regs = run(fused, x, gated);
      // o once and again inside tf.grads, the gradient once: the register kernels
      expect(counts().map((n, i) => n - before[i]!), 'dispatches, registers').toEqual([2, 1, 0, 0]);
      let loops: tf.Tensor[] = [];
      try {
        setFastPath({ deltaRegisters: false });
        await poison([[B, H, T, dv], [gradsSize(B * H * T, dk, dv)]]);
        const mid = counts();
        loops = run(fused, x, gated);
        expect(counts().map((n, i) => n - mid[i]!), 'dispatches, loops').toEqual([0, 0, 2, 1]);
      } finally {
        setFastPath({ deltaRegisters: true });
      }
      const ref = run(naive, x, gated);
      for (let i = 0; i < loops.length; i++) {
        expect((await errors(loops[i]!, ref[i]!)).rel, `loops ${NAMES[i]}`).toBeLessThan(bar(i));
        expect((await errors(regs[i]!, loops[i]!)).rel, `registers vs loops ${NAMES[i]}`).toBeLessThan(1e-6);
      }
      tf.dispose([...Object.values(x), ...regs, ...loops, ...ref]);
    });

    it(`${name}: mutation check — a kernel wrong by one token's worth fails the same bars`, async () => {
      // the reference on inputs with one token's k (t = 0: the last the backward reaches, after every replay)
      // moved by 1e-3, or the gate dropped: each must fail at least one bar for each output and gradient
      const [B, H, T, dk, dv] = [1, 2, 9, 6, 7];
      seed = gated ? 6100 : 6000; // its own draws, whatever the shape list above consumed
      const x = inputs(B, H, T, dk, dv);
      const got = run(fused, x, gated);
      const bump = tf.tidy(() => tf.concat([tf.mul(randn([B, H, 1, dk]), 1e-3), tf.zeros([B, H, T - 1, dk])], 2));
      const mutated = run(naive, { ...x, k: tf.add(x.k, bump) as tf.Tensor4D }, gated);
      for (let i = 0; i < got.length; i++) expect((await errors(got[i]!, mutated[i]!)).rel, `k_0 moved: ${NAMES[i]}`).toBeGreaterThan(bar(i));
      // a time-shifted β (the step reading its neighbour's) and, gated, a missing gate
      const shifted = tf.concat([x.beta.slice([0, 0, 1], [B, H, T - 1]), x.beta.slice([0, 0, 0], [B, H, 1])], 2) as tf.Tensor3D;
      const wrongs = [run(naive, { ...x, beta: shifted }, gated), ...(gated ? [run((q, k, v, beta, g) => gatedDeltaRuleNaive(q, k, v, beta, tf.mul(g, 0) as tf.Tensor3D), x, true)] : [])];
      for (const wrong of wrongs) for (let i = 0; i < 4; i++) expect((await errors(got[i]!, wrong[i]!)).rel, NAMES[i]).toBeGreaterThan(bar(i));
      tf.dispose([...Object.values(x), ...got, ...mutated, ...wrongs.flat(), bump, shifted]);
    });

    it(`${name}: through the op, lever on runs the fused form, lever off the chunked form exactly`, async () => {
      const x = inputs(2, 2, 11, 8, 12);
      const op: Gated = gated ? gatedDeltaRule : (q, k, v, beta) => deltaRule(q, k, v, beta);
      const chunked: Gated = gated ? (q, k, v, beta, g) => gatedDeltaRuleChunked(q, k, v, beta, g, 4) : (q, k, v, beta) => deltaRuleChunked(q, k, v, beta, 4);
      const same = async (a: tf.Tensor, b: tf.Tensor) => expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
      expect(fastForms().filter((f) => f.backend === 'webgpu' && f.lever === 'delta').map((f) => f.op)).toEqual(['deltaRule', 'gatedDeltaRule']);
      await same(op(x.q, x.k, x.v, x.beta, x.g), fused(x.q, x.k, x.v, x.beta, x.g));
      try {
        setFastPath({ delta: false });
        const viaOp = gated ? gatedDeltaRule(x.q, x.k, x.v, x.beta, x.g, 4) : deltaRule(x.q, x.k, x.v, x.beta, 4);
        await same(viaOp, chunked(x.q, x.k, x.v, x.beta, x.g));
        // and the chunked form agrees with the fused one (both against the same recurrence)
        expect((await errors(viaOp, fused(x.q, x.k, x.v, x.beta, x.g))).rel).toBeLessThan(1e-5);
      } finally {
        setFastPath({ delta: true });
      }
      tf.dispose(Object.values(x));
    });
  }

  it("declines (the op runs its chunked form) where its buffers would pass the device's limits, instead of failing validation", async () => {
    const { limits } = webgpuBackend().device;
    const most = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    expect(fitsDevice(1024)).toBe(true);
    expect(fitsDevice(Math.floor(most / 4))).toBe(true);
    expect(fitsDevice(Math.floor(most / 4) + 1)).toBe(false);
    // T 4096, d_k = d_v = 1024, one head: q, v are 16 MB each, but the backward's partials would be ~8.6e9 floats
    const [B, H, T, dk, dv] = [1, 1, 4096, 1024, 1024];
    expect(4 * gradsSize(B * H * T, dk, dv)).toBeGreaterThan(most);
    const q = tf.zeros([B, H, T, dk]) as tf.Tensor4D;
    const v = tf.zeros([B, H, T, dv]) as tf.Tensor4D;
    const beta = tf.zeros([B, H, T]) as tf.Tensor3D;
    expect(deltaRuleWebGpu(q, q, v, beta)).toBeUndefined();
    expect(gatedDeltaRuleWebGpu(q, q, v, beta, beta)).toBeUndefined();
    tf.dispose([q, v, beta]);
  });

  it('a training step of tiny DeltaNet and Gated DeltaNet models: lever on and off give the same loss and gradients', async () => {
    for (const mixer of ['deltanet', 'gated-deltanet']) await expectLeverStepAgrees('delta', [{ mixer, params: { chunkSize: 4 } }], { label: mixer });
  });

  it('a training step of tiny DeltaNet and Gated DeltaNet models: lever stridedHeads on and off give the same loss and gradients', async () => {
    for (const mixer of ['deltanet', 'gated-deltanet']) await expectLeverStepAgrees('stridedHeads', [{ mixer, params: { chunkSize: 4, numHeads: 2 } }, { mixer, params: { chunkSize: 4, numHeads: 2 } }], { label: mixer, kernels: ['RecallbenchDeltaRule', 'RecallbenchDeltaRuleGrad'] });
  });

  it('a training step of tiny DeltaNet and Gated DeltaNet models: lever deltaRegisters on and off give the same loss and gradients', async () => {
    for (const mixer of ['deltanet', 'gated-deltanet']) await expectLeverStepAgrees('deltaRegisters', [{ mixer, params: { chunkSize: 4 } }], { label: mixer });
  });
});
