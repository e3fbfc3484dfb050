// The fused selective scan (accel/webgpu/selectiveScan.ts, lever `selectiveScan`) against the per-token reference
// (ops/selectiveScan/naive.ts): values and the gradients of x, Δ, A, B, C, at shapes that exercise what the kernel
// tiles — odd T (a short last checkpoint chunk, a short last staged tile), E not a multiple of the workgroup (the
// last block partly empty, several backward blocks whose dB, dC partials tfjs sums), N = 1, 4, 16, 24, 32 (the register
// form) and 64 (the loops), T = 1 — with the
// outputs' buffers poisoned (NaN) first, as tests/webgpu-kernels.test.ts does. A mutation check shows the bars catch
// a kernel wrong by one token's worth; lever off gives the op its blocked form back; a tiny Mamba model gives the
// same loss and gradients with the lever on and off. Lever selectiveScanRegisters (N a shader constant, the state in
// named scalars) is checked the same way, against the reference and against the loop form. Runs on a real GPU or on lavapipe
// (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest); skipped, saying why, without any adapter.
import * as tf from '@tensorflow/tfjs';
import { errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { fastForms } from '../core/fastForms.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { gradsSize, SCAN_REGISTERS_MAX_N, SELECTIVE_SCAN_MAX_N, selectiveScanForm, selectiveScanWebGpu } from '../accel/webgpu/selectiveScan.js';
import { selectiveScan, selectiveScanBlocked, selectiveScanNaive } from '../ops/selectiveScan/index.js';

const device = await webgpuDevice('webgpu-selectiveScan');

const ALL_ON = allLevers(true);

let seed = 7000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);

interface Inputs {
  x: tf.Tensor3D;
  dt: tf.Tensor3D;
  A: tf.Tensor2D;
  B: tf.Tensor3D;
  C: tf.Tensor3D;
  w: tf.Tensor3D; // cotangent of y: loss = Σ w ⊙ y
}

/** Inputs as Mamba makes them: Δ = softplus(·) spread over (≈0.01, 3), A = −exp(·) from −0.5 down to ≈ −20 (strong forgetting). */
function inputs(B: number, T: number, E: number, N: number): Inputs {
  return {
    x: randn([B, T, E]) as tf.Tensor3D,
    dt: tf.softplus(tf.add(randn([B, T, E], 1.5), -1)) as tf.Tensor3D,
    A: tf.neg(tf.exp(tf.add(randn([E, N], 1), 0.5))) as tf.Tensor2D,
    B: randn([B, T, N]) as tf.Tensor3D,
    C: randn([B, T, N]) as tf.Tensor3D,
    w: randn([B, T, E]) as tf.Tensor3D,
  };
}

type Form = (x: tf.Tensor3D, dt: tf.Tensor3D, A: tf.Tensor2D, B: tf.Tensor3D, C: tf.Tensor3D) => tf.Tensor3D;
const fused: Form = (...a) => selectiveScanWebGpu(...a)!;

/** y and the gradients of Σ w ⊙ y in x, Δ, A, B, C. */
function run(f: Form, v: Inputs): tf.Tensor[] {
  const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(f(a[0] as tf.Tensor3D, a[1] as tf.Tensor3D, a[2] as tf.Tensor2D, a[3] as tf.Tensor3D, a[4] as tf.Tensor3D), v.w));
  return [f(v.x, v.dt, v.A, v.B, v.C), ...tf.grads(loss)([v.x, v.dt, v.A, v.B, v.C])];
}

const NAMES = ['y', 'dx', 'dΔ', 'dA', 'dB', 'dC'];
const FORWARD_BAR = 5e-6;
const GRAD_BAR = 1e-5;
const bar = (i: number) => (i === 0 ? FORWARD_BAR : GRAD_BAR);

describe.skipIf(!device)(`fused selective scan on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => {
    setFastPath(ALL_ON);
  });
  afterAll(() => {
    releaseGpu();
  });

  // [B, T, E, N]: odd T with E < one workgroup; E 70 (forward: two blocks of 64, the last holds 6; backward at
  // N 16: LANES 64 → two blocks, partials summed) and T 20 (C = 5: four checkpoint chunks); T 17 (a last chunk of
  // 2) at N 1; T 1; N 4 with E 130 (three forward blocks); T 70 > one staged forward tile at N 64 (STEPS 32); E 520
  // at N 16 (Mamba at d 256 is E 512): 9 blocks of partials, more than one add of tfjs can bind (8 storage buffers)
  const SHAPES = [
    [1, 5, 520, 16],
    [1, 7, 5, 4],
    [2, 20, 70, 16],
    [2, 17, 9, 1],
    [3, 1, 6, 16],
    [1, 12, 130, 4],
    [1, 70, 33, 64],
    [2, 9, 40, 24],
    [1, 4, 6, 32],
  ] as const;

  it('values and the gradients of x, Δ, A, B, C match the per-token reference (register form where N ≤ 32, loops past it)', async () => {
    const worst = NAMES.map(() => ({ abs: 0, rel: 0 }));
    expect([1, 16, 24, SCAN_REGISTERS_MAX_N, SCAN_REGISTERS_MAX_N + 1, 64].map(selectiveScanForm)).toEqual(['registers', 'registers', 'registers', 'registers', 'loops', 'loops']);
    for (const [B, T, E, N] of SHAPES) {
      const v = inputs(B, T, E, N);
      await poison([[B, T, E], [gradsSize(B, T, E, N)]]);
      const got = run(fused, v);
      const ref = run(selectiveScanNaive, v);
      for (let i = 0; i < got.length; i++) {
        const e = await errors(got[i]!, ref[i]!);
        expect(e.rel, `[${B}, ${T}, ${E}, ${N}] ${NAMES[i]}`).toBeLessThan(bar(i));
        worst[i] = { abs: Math.max(worst[i]!.abs, e.abs), rel: Math.max(worst[i]!.rel, e.rel) };
      }
      tf.dispose([...Object.values(v), ...got, ...ref]);
    }
    console.log(`selective scan: worst errors vs naive ${worst.map((e, i) => `${NAMES[i]} abs ${e.abs.toExponential(2)} rel ${e.rel.toExponential(2)}`).join('; ')}`);
  });

  it('lever selectiveScanRegisters off: the loop form matches the reference, and the register form within rounding', async () => {
    seed = 9000;
    for (const [B, T, E, N] of [[2, 20, 70, 16], [1, 7, 5, 4]] as const) {
      const v = inputs(B, T, E, N);
      const ran = (name: string) => dispatchCounts.get(name) ?? 0;
      const before = [ran('SelectiveScanRegisters'), ran('SelectiveScanRegistersGrad'), ran('SelectiveScan'), ran('SelectiveScanGrad')];
      const regs = run(fused, v);
      // y once and again inside tf.grads, the gradient once: the register kernels, not the loops
      expect([ran('SelectiveScanRegisters'), ran('SelectiveScanRegistersGrad'), ran('SelectiveScan'), ran('SelectiveScanGrad')].map((n, i) => n - before[i]!), 'dispatches, registers').toEqual([2, 1, 0, 0]);
      let loops: tf.Tensor[] = [];
      try {
        setFastPath({ selectiveScanRegisters: false });
        expect(selectiveScanForm(N)).toBe('loops');
        await poison([[B, T, E], [gradsSize(B, T, E, N)]]);
        const mid = [ran('SelectiveScanRegisters'), ran('SelectiveScanRegistersGrad'), ran('SelectiveScan'), ran('SelectiveScanGrad')];
        loops = run(fused, v);
        expect([ran('SelectiveScanRegisters'), ran('SelectiveScanRegistersGrad'), ran('SelectiveScan'), ran('SelectiveScanGrad')].map((n, i) => n - mid[i]!), 'dispatches, loops').toEqual([0, 0, 2, 1]);
      } finally {
        setFastPath({ selectiveScanRegisters: true });
      }
      const ref = run(selectiveScanNaive, v);
      for (let i = 0; i < loops.length; i++) {
        expect((await errors(loops[i]!, ref[i]!)).rel, `loops [${B}, ${T}, ${E}, ${N}] ${NAMES[i]}`).toBeLessThan(bar(i));
        // the same arithmetic in the same order: equal up to the compiler's contractions
        expect((await errors(regs[i]!, loops[i]!)).rel, `registers vs loops [${B}, ${T}, ${E}, ${N}] ${NAMES[i]}`).toBeLessThan(1e-6);
      }
      tf.dispose([...Object.values(v), ...regs, ...loops, ...ref]);
    }
  });

  it("mutation check — a kernel wrong by one token's worth fails the same bars", async () => {
    // the reference on inputs with one token's Δ (t = 0: the last the backward reaches, after every replay) moved by
    // 1e-2 (not x: y is linear in x, so dx would not move; 1e-3 left dΔ within the bar for one draw in five), and
    // with Δ shifted by one step: each must fail every bar
    const [B, T, E, N] = [1, 9, 7, 4];
    seed = 8000; // its own draws, whatever the shape list above consumed
    const v = inputs(B, T, E, N);
    const got = run(fused, v);
    const bump = tf.tidy(() => tf.concat([tf.mul(randn([B, 1, E]), 1e-2), tf.zeros([B, T - 1, E])], 1)) as tf.Tensor3D;
    const moved = run(selectiveScanNaive, { ...v, dt: tf.add(v.dt, bump) as tf.Tensor3D });
    for (let i = 0; i < got.length; i++) expect((await errors(got[i]!, moved[i]!)).rel, `Δ_0 moved: ${NAMES[i]}`).toBeGreaterThan(bar(i));
    const shifted = tf.concat([v.dt.slice([0, 1, 0], [B, T - 1, E]), v.dt.slice([0, 0, 0], [B, 1, E])], 1) as tf.Tensor3D;
    const wrong = run(selectiveScanNaive, { ...v, dt: shifted });
    for (let i = 0; i < got.length; i++) expect((await errors(got[i]!, wrong[i]!)).rel, `Δ shifted: ${NAMES[i]}`).toBeGreaterThan(bar(i));
    tf.dispose([...Object.values(v), ...got, ...moved, ...wrong, bump, shifted]);
  });

  it("a stack of R runs' A [R, E, N]: values and gradients equal each run's own scan; one run's A for all fails the bars", async () => {
    // [R, B, T, E, N]: 3 runs of 2 examples each, E 70 (two forward blocks, two backward blocks at N 16), T 9
    // (checkpoint chunks of 3); 2 runs of one example at N 4
    for (const [R, B, T, E, N] of [[3, 6, 9, 70, 16], [2, 2, 5, 5, 4]] as const) {
      const v = inputs(B, T, E, N);
      const A3 = tf.neg(tf.exp(tf.add(randn([R, E, N], 1), 0.5))) as tf.Tensor3D;
      const per = B / R;
      // the reference: each run's examples through the per-token scan with that run's A, in run-major order
      const stackedNaive = (x: tf.Tensor3D, dt: tf.Tensor3D, A: tf.Tensor3D, Bm: tf.Tensor3D, C: tf.Tensor3D) =>
        tf.concat(Array.from({ length: R }, (_, r) => {
          const rows = <T extends tf.Tensor>(t: T) => t.slice([r * per, 0, 0], [per, -1, -1]) as T;
          return selectiveScanNaive(rows(x), rows(dt), A.slice([r, 0, 0], [1, E, N]).reshape([E, N]) as tf.Tensor2D, rows(Bm), rows(C));
        }), 0) as tf.Tensor3D;
      const grad = (f: (x: tf.Tensor3D, dt: tf.Tensor3D, A: tf.Tensor3D, Bm: tf.Tensor3D, C: tf.Tensor3D) => tf.Tensor3D, A: tf.Tensor3D) => {
        const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(f(a[0] as tf.Tensor3D, a[1] as tf.Tensor3D, a[2] as tf.Tensor3D, a[3] as tf.Tensor3D, a[4] as tf.Tensor3D), v.w));
        return [f(v.x, v.dt, A, v.B, v.C), ...tf.grads(loss)([v.x, v.dt, A, v.B, v.C])];
      };
      const fusedStack = (x: tf.Tensor3D, dt: tf.Tensor3D, A: tf.Tensor3D, Bm: tf.Tensor3D, C: tf.Tensor3D) => selectiveScanWebGpu(x, dt, A, Bm, C)!;
      const got = grad(fusedStack, A3);
      const ref = grad(stackedNaive, A3);
      expect(got[3]!.shape, 'dA per run').toEqual([R, E, N]);
      for (let i = 0; i < got.length; i++) expect((await errors(got[i]!, ref[i]!)).rel, `stack [${R}, ${B}, ${T}, ${E}, ${N}] ${NAMES[i]}`).toBeLessThan(bar(i));
      // the mutation a per-run index would hide: every example decaying by run 0's A
      const firstForAll = tf.tile(A3.slice([0, 0, 0], [1, E, N]), [R, 1, 1]) as tf.Tensor3D;
      const wrong = grad(stackedNaive, firstForAll);
      expect((await errors(got[0]!, wrong[0]!)).rel, 'y with run 0\'s A for all').toBeGreaterThan(100 * FORWARD_BAR);
      // and through the op, a stack takes the fused form too (the blocked form agrees with it)
      expect((await errors(selectiveScan(v.x, v.dt, A3, v.B, v.C), selectiveScanBlocked(v.x, v.dt, A3, v.B, v.C))).rel).toBeLessThan(1e-5);
      tf.dispose([...Object.values(v), A3, firstForAll, ...got, ...ref, ...wrong]);
    }
  });

  it('through the op, lever on runs the fused form, lever off the blocked form exactly', async () => {
    const v = inputs(2, 11, 10, 8);
    const same = async (a: tf.Tensor, b: tf.Tensor) => expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    expect(fastForms().filter((f) => f.backend === 'webgpu' && f.lever === 'selectiveScan').map((f) => f.op)).toEqual(['selectiveScan']);
    await same(selectiveScan(v.x, v.dt, v.A, v.B, v.C), fused(v.x, v.dt, v.A, v.B, v.C));
    // past SELECTIVE_SCAN_MAX_N the fused form declines (the op then runs its blocked form)
    const wide = tf.zeros([10, SELECTIVE_SCAN_MAX_N + 1]) as tf.Tensor2D;
    const bcWide = tf.zeros([2, 11, SELECTIVE_SCAN_MAX_N + 1]) as tf.Tensor3D;
    expect(selectiveScanWebGpu(v.x, v.dt, wide, bcWide, bcWide)).toBeUndefined();
    tf.dispose([wide, bcWide]);
    try {
      setFastPath({ selectiveScan: false });
      const viaOp = selectiveScan(v.x, v.dt, v.A, v.B, v.C, 4);
      await same(viaOp, selectiveScanBlocked(v.x, v.dt, v.A, v.B, v.C, 4));
      // and the blocked form agrees with the fused one (both against the same recurrence)
      expect((await errors(viaOp, fused(v.x, v.dt, v.A, v.B, v.C))).rel).toBeLessThan(1e-5);
    } finally {
      setFastPath({ selectiveScan: true });
    }
    tf.dispose(Object.values(v));
  });

  it('a training step of a tiny Mamba model: lever on and off give the same loss and gradients', async () => {
    for (const params of [{}, { stateDim: 4, timeBlock: 3 }]) await expectLeverStepAgrees('selectiveScan', [{ mixer: 'mamba', params }], { label: JSON.stringify(params) });
  });

  it('a training step of a tiny Mamba model: lever selectiveScanRegisters on and off give the same loss and gradients', async () => {
    await expectLeverStepAgrees('selectiveScanRegisters', [{ mixer: 'mamba', params: { stateDim: 8 } }], { label: 'N 8' });
  });
});
