// The fused generalized delta rule (accel/webgpu/generalizedDeltaRule.ts, lever `generalizedDelta`, RWKV-7) against
// the per-token reference (ops/generalizedDeltaRule/naive.ts): values and the gradients of r, w, k, v, a, b at
// shapes that exercise what the kernel tiles — odd T (a short last checkpoint chunk), d_k ≠ d_v, T = 1, and a head
// of 9 backward column blocks (d_k 128 → 32 columns a block, d_v 260: more partials than one add of tfjs can bind,
// the last block partly empty) — under strong decays (w down to ≈ −12), mixed ones (RWKV-7's range) and none
// (w = 0), with the outputs' buffers poisoned (NaN) first. A mutation check shows the bars catch a kernel that is
// wrong by one token's worth; lever off gives the op its chunked form back; a tiny RWKV-7 model's training step is
// the same either way. Lever deltaRegisters (d_k a shader constant, the column in named scalars; d_k ≤ 32) is checked
// at d_k 8 against the reference and the loop form. Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest);
// skipped, saying why, without any adapter.
import * as tf from '@tensorflow/tfjs';
import { dispatchesSince, errors, expectLayoutsAgree, expectLeverStepAgrees, LAYOUT_PAIRS, poison, RWKV7_LAYOUTS, webgpuDevice } from './webgpuKit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { fastForms } from '../core/fastForms.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { DELTA_SPLIT_MAX_DK, GENERALIZED_DELTA_GRAD_KERNEL, GENERALIZED_DELTA_KERNEL, GENERALIZED_DELTA_MAX_DK, generalizedDeltaRuleForm, generalizedDeltaRuleWebGpu, gradsSize, splitTiling, tiling } from '../accel/webgpu/generalizedDeltaRule.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { generalizedDeltaRule, generalizedDeltaRuleChunked, generalizedDeltaRuleNaive } from '../ops/generalizedDeltaRule/index.js';
import { fromOpsLayout } from '../ops/shared/heads.js';

const device = await webgpuDevice('webgpu-generalizedDeltaRule');

let seed = 7000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const l2 = (x: tf.Tensor) => tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-6))));

type Decay = 'strong' | 'mixed' | 'none';
const NAMES = ['o', 'dr', 'dw', 'dk', 'dv', 'da', 'db'];
const FORWARD_BAR = 5e-6;
const GRAD_BAR = 1e-5;
const bar = (i: number) => (i === 0 ? FORWARD_BAR : GRAD_BAR);

interface Inputs {
  xs: [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]; // r, w, k, v, a, b
  cot: tf.Tensor4D; // cotangent of o: loss = Σ cot ⊙ o
}

/** Inputs as RWKV-7 makes them: a = −κ̂ (κ̂ unit per head), b = κ̂ ⊙ α with α ∈ (0, 1); w ≤ 0 per `decay`. */
function inputs(B: number, H: number, T: number, dk: number, dv: number, decay: Decay): Inputs {
  const kappa = l2(randn([B, H, T, dk]));
  const w = decay === 'none' ? tf.zeros([B, H, T, dk]) : decay === 'strong' ? tf.mul(tf.sigmoid(randn([B, H, T, dk], 2)), -12) : tf.mul(tf.sigmoid(randn([B, H, T, dk])), -Math.exp(-0.5));
  return {
    xs: [
      tf.mul(randn([B, H, T, dk]), dk ** -0.5) as tf.Tensor4D,
      w as tf.Tensor4D,
      tf.mul(randn([B, H, T, dk]), dk ** -0.5) as tf.Tensor4D,
      randn([B, H, T, dv]) as tf.Tensor4D,
      tf.neg(kappa) as tf.Tensor4D,
      tf.mul(kappa, tf.sigmoid(randn([B, H, T, dk]))) as tf.Tensor4D,
    ],
    cot: randn([B, H, T, dv]) as tf.Tensor4D,
  };
}

type Op = (r: tf.Tensor4D, w: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor4D;
const fused: Op = (...a) => generalizedDeltaRuleWebGpu(...a)!;

/** o and the gradients of Σ cot ⊙ o in r, w, k, v, a, b. */
function run(f: Op, x: Inputs): tf.Tensor[] {
  const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(f(...(a as Inputs['xs'])), x.cot));
  return [f(...x.xs), ...tf.grads(loss)(x.xs)];
}
const dispose = (x: Inputs) => tf.dispose([...x.xs, x.cot]);

describe.skipIf(!device)(`fused generalized delta rule on WebGPU (${device ?? 'no adapter'})`, () => {
  // every lever on but deltaRegisters and deltaSplit: the shapes below check the loop form; the register and split
  // forms have their own tests (their unrolled shaders cost lavapipe seconds to minutes each to compile)
  beforeAll(() => {
    setFastPath({ ...allLevers(true), deltaRegisters: false, deltaSplit: false });
  });
  afterAll(() => {
    releaseGpu();
  });

  // [B, H, T, d_k, d_v, decay]: T 7 (C 3: a last chunk of 1) with d_k ≠ d_v; T 17 (C 5: a last chunk of 2) with
  // d_v > d_k; T 1; d_k 128 (32 columns a block) and d_v 260: 9 column blocks, the last holding 4; T 20 (C 5: four
  // full chunks) under RWKV-7's own decay range
  const SHAPES: Array<[number, number, number, number, number, Decay]> = [
    [1, 2, 7, 5, 3, 'strong'],
    [2, 1, 17, 8, 20, 'none'],
    [2, 2, 1, 6, 9, 'strong'],
    [1, 1, 4, 128, 260, 'mixed'],
    [1, 2, 20, 16, 16, 'mixed'],
    [1, 1, 12, 12, 7, 'none'],
  ];

  it('values and the gradients of r, w, k, v, a, b match the per-token reference', async () => {
    expect(Math.ceil(260 / tiling(128).COLS)).toBe(9);
    const worst = NAMES.map(() => ({ abs: 0, rel: 0 }));
    for (const [B, H, T, dk, dv, decay] of SHAPES) {
      const x = inputs(B, H, T, dk, dv, decay);
      await poison([[B, H, T, dv], [gradsSize(B * H * T, dk, dv)]]);
      const got = run(fused, x);
      const ref = run(generalizedDeltaRuleNaive, x);
      for (let i = 0; i < got.length; i++) {
        const e = await errors(got[i]!, ref[i]!);
        expect(e.rel, `[${B}, ${H}, ${T}, ${dk}, ${dv}] w ${decay}: ${NAMES[i]}`).toBeLessThan(bar(i));
        worst[i] = { abs: Math.max(worst[i]!.abs, e.abs), rel: Math.max(worst[i]!.rel, e.rel) };
      }
      tf.dispose([...got, ...ref]);
      dispose(x);
    }
    console.log(`generalized delta rule: worst errors vs naive ${worst.map((e, i) => `${NAMES[i]} abs ${e.abs.toExponential(2)} rel ${e.rel.toExponential(2)}`).join('; ')}`);
  });

  it('lever deltaRegisters: the register form matches the reference, and the loop form within rounding (d_k 8, two column blocks)', async () => {
    const counts = () => ['GeneralizedDeltaRuleRegisters', 'GeneralizedDeltaRuleRegistersGrad', 'GeneralizedDeltaRule', 'GeneralizedDeltaRuleGrad'].map((n) => dispatchCounts.get(n) ?? 0);
    // odd T 11 (C 4: a last chunk of 3) with d_v ≠ d_k under RWKV-7's decays; d_v 70 under strong ones: two backward
    // blocks of 64 columns, the second partly idle — one pipeline (d_k 8). Not d_k 32 (RWKV-7's at d 128, 4 heads):
    // lavapipe's LLVM takes minutes over that unrolled backward; the GPU ≡ CPU check on the GPU host covers it
    for (const [B, H, T, dk, dv, decay] of [[1, 2, 11, 8, 10, 'mixed'], [1, 1, 6, 8, 70, 'strong']] as const) {
      const x = inputs(B, H, T, dk, dv, decay);
      const loops = run(fused, x);
      let regs: tf.Tensor[] = [];
      try {
        setFastPath({ deltaRegisters: true });
        await poison([[B, H, T, dv], [gradsSize(B * H * T, dk, dv)]]);
        const before = counts();
        regs = run(fused, x);
        // o once and again inside tf.grads, the gradient once: the register kernels, not the loops
        expect(counts().map((n, i) => n - before[i]!), 'dispatches, registers').toEqual([2, 1, 0, 0]);
      } finally {
        setFastPath({ deltaRegisters: false });
      }
      const ref = run(generalizedDeltaRuleNaive, x);
      for (let i = 0; i < regs.length; i++) {
        expect((await errors(regs[i]!, ref[i]!)).rel, `registers [${B}, ${H}, ${T}, ${dk}, ${dv}] ${NAMES[i]}`).toBeLessThan(bar(i));
        expect((await errors(regs[i]!, loops[i]!)).rel, `registers vs loops [${B}, ${H}, ${T}, ${dk}, ${dv}] ${NAMES[i]}`).toBeLessThan(1e-6);
      }
      tf.dispose([...regs, ...loops, ...ref]);
      dispose(x);
    }
  });

  /** Runs `f` with lever deltaSplit on (then off again: this file's setting), checking that only the split kernels ran: per run of o and its gradients, o twice (once inside tf.grads), the gradient once. */
  async function withSplit<R>(tag: string, f: () => R | Promise<R>, runs = 1): Promise<R> {
    const names = ['GeneralizedDeltaRuleSplit', 'GeneralizedDeltaRuleSplitGrad', 'GeneralizedDeltaRuleRegisters', 'GeneralizedDeltaRuleRegistersGrad', 'GeneralizedDeltaRule', 'GeneralizedDeltaRuleGrad'];
    const before = new Map(dispatchCounts);
    try {
      setFastPath({ deltaSplit: true });
      const got = await f();
      expect(names.map((n) => dispatchesSince(before, n)), `${tag}: dispatches, split`).toEqual([2 * runs, runs, 0, 0, 0, 0]);
      return got;
    } finally {
      setFastPath({ deltaSplit: false });
    }
  }

  it('lever deltaSplit: the split form (a column over P threads) matches the reference', async () => {
    // [B, H, T, d_k, d_v, decay]: RWKV-7 d 128's head (d_k = d_v = 64; forward 8 parts of 8 channels, backward 4 of
    // 16) at T 11 (C 4: a last chunk of 3); d_k 16 (2 and 4 parts) with d_v 20, one backward block of 64 columns
    // mostly idle, T 7 (C 3: a last chunk of 1), strong decay; T 1 at d_k 5 (channels padded to 8: 2 backward parts
    // of 4, channel 2 of part 0 live and of part 1 padding, channel 3 padding in both; its T 9 in the mutation check);
    // d_k 5 again with d_v 70 and no decay (2 backward blocks of 64 columns, the last of 6; one forward block of 128,
    // partly empty) — the same pipelines: d_v is a uniform
    const shapes: Array<[number, number, number, number, number, Decay]> = [
      [1, 2, 11, 64, 64, 'mixed'],
      [2, 1, 7, 16, 20, 'strong'],
      [2, 2, 1, 5, 3, 'strong'],
      [1, 1, 5, 5, 70, 'none'],
    ];
    expect(shapes.map(([, , , dk]) => splitTiling(dk))).toEqual([
      { forward: { P: 8, CH: 8, COLS: 16 }, backward: { P: 4, CH: 16, COLS: 64 } },
      { forward: { P: 2, CH: 8, COLS: 64 }, backward: { P: 4, CH: 4, COLS: 64 } },
      { forward: { P: 1, CH: 8, COLS: 128 }, backward: { P: 2, CH: 4, COLS: 64 } },
      { forward: { P: 1, CH: 8, COLS: 128 }, backward: { P: 2, CH: 4, COLS: 64 } },
    ]);
    expect([64, DELTA_SPLIT_MAX_DK, DELTA_SPLIT_MAX_DK + 1].map(generalizedDeltaRuleForm)).toEqual(['loops', 'loops', 'loops']); // lever off
    const worst = NAMES.map(() => 0);
    for (const [B, H, T, dk, dv, decay] of shapes) {
      const tag = `split [${B}, ${H}, ${T}, ${dk}, ${dv}] w ${decay}`;
      const x = inputs(B, H, T, dk, dv, decay);
      await poison([[B, H, T, dv], [gradsSize(B * H * T, dk, dv)]]);
      const got = await withSplit(tag, () => run(fused, x));
      const ref = run(generalizedDeltaRuleNaive, x);
      for (let i = 0; i < got.length; i++) {
        const e = await errors(got[i]!, ref[i]!);
        expect(e.rel, `${tag}: ${NAMES[i]}`).toBeLessThan(bar(i));
        worst[i] = Math.max(worst[i]!, e.rel);
      }
      tf.dispose([...got, ...ref]);
      dispose(x);
    }
    try {
      setFastPath({ deltaSplit: true });
      expect([64, DELTA_SPLIT_MAX_DK, DELTA_SPLIT_MAX_DK + 1].map(generalizedDeltaRuleForm)).toEqual(['split', 'split', 'loops']);
    } finally {
      setFastPath({ deltaSplit: false });
    }
    console.log(`generalized delta rule, split: worst relative errors vs naive ${worst.map((e, i) => `${NAMES[i]} ${e.toExponential(2)}`).join('; ')}`);
  });

  it("lever deltaSplit: a kernel wrong by one token's worth fails the same bars (mutation check), and either backward reads either forward's checkpoints", async () => {
    // as the mutation check below, on the split form at d_k 5 (padded channels): the reference with token 0's k
    // moved by 1e-3, or w read one token late, must miss every output (but dk under the k bump)
    const [B, H, T, dk, dv] = [1, 2, 9, 5, 7];
    seed = 7700;
    const x = inputs(B, H, T, dk, dv, 'mixed');
    const got = await withSplit('split mutation', () => run(fused, x));
    const [r, w, k, v, a, b] = x.xs;
    const bump = tf.concat([tf.mul(randn([B, H, 1, dk]), 1e-3), tf.zeros([B, H, T - 1, dk])], 2);
    const shifted = tf.concat([w.slice([0, 0, 0, 0], [B, H, 1, dk]), w.slice([0, 0, 0, 0], [B, H, T - 1, dk])], 2) as tf.Tensor4D;
    const wrongs = [run(generalizedDeltaRuleNaive, { ...x, xs: [r, w, tf.add(k, bump) as tf.Tensor4D, v, a, b] }), run(generalizedDeltaRuleNaive, { ...x, xs: [r, shifted, k, v, a, b] })];
    for (const [m, wrong] of wrongs.entries()) for (let i = 0; i < got.length; i++) if (m === 1 || NAMES[i] !== 'dk') expect((await errors(got[i]!, wrong[i]!)).rel, `split mutation ${m}: ${NAMES[i]}`).toBeGreaterThan(bar(i));
    // the checkpoints' layout is shared: the split forward's with the loop backward, and the loop forward's with the
    // split backward, give the reference's gradients
    const xs = tf.stack([r, w, k, a, b]);
    const kernels = (splitForward: boolean, splitBackward: boolean) => {
      setFastPath({ deltaSplit: splitForward });
      const [o, ckpt] = tf.engine().runKernel(GENERALIZED_DELTA_KERNEL, { x: xs, v }) as unknown as [tf.Tensor, tf.Tensor];
      setFastPath({ deltaSplit: splitBackward });
      const grads = tf.engine().runKernel(GENERALIZED_DELTA_GRAD_KERNEL, { x: xs, v, dO: x.cot, ckpt }) as tf.Tensor;
      setFastPath({ deltaSplit: false });
      tf.dispose([o, ckpt]);
      return grads;
    };
    const whole = kernels(false, false);
    for (const [f, g] of [[true, false], [false, true]] as const) {
      const mixed = kernels(f, g);
      expect((await errors(mixed, whole)).rel, `forward ${f ? 'split' : 'loops'}, backward ${g ? 'split' : 'loops'}`).toBeLessThan(1e-6);
      mixed.dispose();
    }
    tf.dispose([...got, ...wrongs.flat(), bump, shifted, xs, whole]);
    dispose(x);
  });

  it("mutation check — a kernel wrong by one token's worth fails the same bars", async () => {
    // the reference on inputs with token 0's k moved by 1e-3 (the last step the backward reaches, after every
    // replay), or with w read one token late: each must fail the bar of every output and gradient (but dk, which
    // does not depend on k: dk_t = dS_t v_t)
    const [B, H, T, dk, dv] = [1, 2, 9, 6, 7];
    seed = 7600;
    const x = inputs(B, H, T, dk, dv, 'mixed');
    const got = run(fused, x);
    const [r, w, k, v, a, b] = x.xs;
    const bump = tf.concat([tf.mul(randn([B, H, 1, dk]), 1e-3), tf.zeros([B, H, T - 1, dk])], 2);
    const shifted = tf.concat([w.slice([0, 0, 0, 0], [B, H, 1, dk]), w.slice([0, 0, 0, 0], [B, H, T - 1, dk])], 2) as tf.Tensor4D;
    const wrongs = [run(generalizedDeltaRuleNaive, { ...x, xs: [r, w, tf.add(k, bump) as tf.Tensor4D, v, a, b] }), run(generalizedDeltaRuleNaive, { ...x, xs: [r, shifted, k, v, a, b] })];
    for (const [m, wrong] of wrongs.entries()) for (let i = 0; i < got.length; i++) if (m === 1 || NAMES[i] !== 'dk') expect((await errors(got[i]!, wrong[i]!)).rel, `mutation ${m}: ${NAMES[i]}`).toBeGreaterThan(bar(i));
    tf.dispose([...got, ...wrongs.flat(), bump, shifted]);
    dispose(x);
  });

  it('through the op, lever on runs the fused form, lever off the chunked form exactly; declines past its d_k cap', async () => {
    const x = inputs(2, 2, 11, 8, 12, 'mixed');
    const same = async (p: tf.Tensor, q: tf.Tensor) => expect(Array.from(await p.data())).toEqual(Array.from(await q.data()));
    expect(fastForms().filter((f) => f.backend === 'webgpu' && f.lever === 'generalizedDelta').map((f) => f.op)).toEqual(['generalizedDeltaRule']);
    await same(generalizedDeltaRule(...x.xs, 4), fused(...x.xs));
    try {
      setFastPath({ generalizedDelta: false });
      const viaOp = generalizedDeltaRule(...x.xs, 4);
      await same(viaOp, generalizedDeltaRuleChunked(...x.xs, 4));
      expect((await errors(viaOp, fused(...x.xs))).rel).toBeLessThan(1e-5);
    } finally {
      setFastPath({ generalizedDelta: true });
    }
    dispose(x);
    const wide = tf.zeros([1, 1, 1, GENERALIZED_DELTA_MAX_DK + 1]) as tf.Tensor4D;
    expect(generalizedDeltaRuleWebGpu(wide, wide, wide, wide, wide, wide)).toBeUndefined();
    wide.dispose();
  });

  it('lever stridedHeads: inputs and o in the layouts named, read and written in place — bit for bit the kernels between transposes, within rounding of the reference, and no Transpose run', async () => {
    // [B, H, T, d_k, d_v, decay]: B, H > 1 and unequal, so a row formula with B and H swapped, or b and h, lands
    // elsewhere; d_v 70: two backward column blocks (dv and the partials written at the layout's rows)
    // the loop form (this file's setting) at both shapes; the register form (lever deltaRegisters, d_k 8) with RWKV-7's pair
    for (const [B, H, T, dk, dv, decay, registers] of [[2, 3, 7, 5, 3, 'strong', false], [3, 2, 9, 8, 70, 'mixed', false], [3, 2, 9, 8, 70, 'mixed', true]] as const) {
      const x = inputs(B, H, T, dk, dv, decay);
      const ref = run(generalizedDeltaRuleNaive, x);
      setFastPath({ deltaRegisters: registers });
      try {
        for (const L of registers ? [RWKV7_LAYOUTS] : LAYOUT_PAIRS) {
          const tag = `[${B}, ${H}, ${T}, ${dk}, ${dv}] ${registers ? 'registers' : 'loops'} ${L.input} → ${L.output}`;
          const moved: Inputs = { xs: x.xs.map((t) => fromOpsLayout(t, L.input)) as Inputs['xs'], cot: fromOpsLayout(x.cot, L.output) };
          const inLayout: Op = (...a) => generalizedDeltaRuleWebGpu(...a, L)!;
          await expectLayoutsAgree(tag, L, () => run(inLayout, moved), ref, NAMES, bar);
          tf.dispose([...moved.xs, moved.cot]);
        }
      } finally {
        setFastPath({ deltaRegisters: false }); // this file's setting (beforeAll)
      }
      tf.dispose(ref);
      dispose(x);
    }
  });

  it("lever deltaSplit with stridedHeads: RWKV-7's layouts read and written in place — bit for bit the split kernels between transposes, within rounding of the reference", async () => {
    // d_k 16 and d_v 70: two column blocks each way (forward and backward 64 columns a block), B, H > 1 and unequal
    const [B, H, T, dk, dv] = [3, 2, 9, 16, 70];
    const x = inputs(B, H, T, dk, dv, 'mixed');
    const ref = run(generalizedDeltaRuleNaive, x);
    const L = RWKV7_LAYOUTS;
    const moved: Inputs = { xs: x.xs.map((t) => fromOpsLayout(t, L.input)) as Inputs['xs'], cot: fromOpsLayout(x.cot, L.output) };
    const inLayout: Op = (...a) => generalizedDeltaRuleWebGpu(...a, L)!;
    // in place, then between transposes: two runs
    await withSplit('split in layouts', () => expectLayoutsAgree(`[${B}, ${H}, ${T}, ${dk}, ${dv}] split ${L.input} → ${L.output}`, L, () => run(inLayout, moved), ref, NAMES, bar), 2);
    tf.dispose([...ref, ...moved.xs, moved.cot]);
    dispose(x);
  });

  it('lever stridedHeads: a kernel reading the heads where another layout keeps them fails the reference (mutation check)', async () => {
    // the inputs handed over [B, T, H, ·] but declared [B, H, T, ·]-with-H-and-T-swapped, i.e. read as 'hbtd': the
    // same numbers at the wrong rows must miss the reference's o and every gradient
    const [B, H, T, dk, dv] = [2, 3, 6, 4, 5];
    const x = inputs(B, H, T, dk, dv, 'mixed');
    const ref = run(generalizedDeltaRuleNaive, x);
    const moved: Inputs = { xs: x.xs.map((t) => fromOpsLayout(t, 'bthd')) as Inputs['xs'], cot: fromOpsLayout(x.cot, 'bthd') };
    const misread: Op = (...a) => generalizedDeltaRuleWebGpu(...(a.map((t) => t.reshape([H, B, T, t.shape[3]!])) as Inputs['xs']), { input: 'hbtd', output: 'hbtd' })!.reshape([B, T, H, dv]) as tf.Tensor4D;
    const wrong = run(misread, moved);
    const refIn = ref.map((t) => fromOpsLayout(t, 'bthd'));
    for (let i = 0; i < wrong.length; i++) expect((await errors(wrong[i]!, refIn[i]!)).rel, `misread: ${NAMES[i]}`).toBeGreaterThan(bar(i));
    tf.dispose([...wrong, ...ref, ...refIn, ...moved.xs, moved.cot]);
    dispose(x);
  });

  it('a training step of a tiny RWKV-7 model: lever stridedHeads on and off give the same loss and gradients', async () => {
    await expectLeverStepAgrees('stridedHeads', [{ mixer: 'rwkv7', params: { chunkSize: 4, numHeads: 2 } }, { mixer: 'rwkv7', params: { chunkSize: 4, numHeads: 2 } }], { kernels: ['RecallbenchGeneralizedDeltaRule', 'RecallbenchGeneralizedDeltaRuleGrad'] });
  });

  it('a training step of a tiny RWKV-7 model: lever on and off give the same loss and gradients', async () => {
    await expectLeverStepAgrees('generalizedDelta', [{ mixer: 'rwkv7', params: { chunkSize: 4 } }]);
  });

  it("a training step of a tiny RWKV-7 model: its GroupNorm through the fused LayerNorm's run-axis form (heads as runs) gives the reference's loss and gradients (lever layerNorm on and off)", async () => {
    // 2 heads of d_k 8: each head's own γ, β; the kernels run (a GroupNorm written as a broadcast would not)
    await expectLeverStepAgrees('layerNorm', [{ mixer: 'rwkv7', params: { chunkSize: 4, numHeads: 2 } }], { kernels: ['RecallbenchLayerNorm', 'RecallbenchLayerNormGrad'], label: 'rwkv7 groupNorm' });
  });

  it('a training step of a tiny RWKV-7 model: lever deltaSplit on and off give the same loss and gradients', async () => {
    // d 16, 1 head: d_k 16 (forward 2 parts, backward 4), the head in RWKV-7's layouts (stridedHeads, this file's setting)
    const before = new Map(dispatchCounts);
    await expectLeverStepAgrees('deltaSplit', [{ mixer: 'rwkv7', params: { chunkSize: 4, numHeads: 1 } }]);
    setFastPath({ deltaSplit: false }); // this file's setting (beforeAll)
    expect(['GeneralizedDeltaRuleSplit', 'GeneralizedDeltaRuleSplitGrad'].map((n) => dispatchesSince(before, n) > 0)).toEqual([true, true]);
  });

  it('a training step of a tiny RWKV-7 model: lever deltaRegisters on and off give the same loss and gradients', async () => {
    await expectLeverStepAgrees('deltaRegisters', [{ mixer: 'rwkv7', params: { chunkSize: 4 } }]);
    setFastPath({ deltaRegisters: false }); // this file's setting (beforeAll)
  });
});
