// The fused causal linear attention (accel/webgpu/linearAttention.ts, lever `linearAttention`) against zoology's
// formula (ops/linearAttention/naive.ts): values and the gradients of φq, φk, v at T that is a multiple of nothing
// (1, 7, 19, 37, 45, 70), F 4 / 17 / 40 / 153 / 273 (Based's Taylor map at f 16: 1 + 16 + 256, not a multiple of the
// 16 threads splitting it), d_v 3 / 16 / 37 / 64 / 129 (not multiples of the forward's 15-column blocks; d_v + 1 = 130
// past a power of two for the gradients' state rows) and several B·H, with the kernel's output buffers poisoned (NaN)
// first; again with the workgroup storage capped at 4 and 8 KiB (one and two time steps per chunk). A mutation check shows the bars catch a
// kernel that lets position i see key i + 1; lever off (or an option the fused form declines) gives the op its
// chunked form back exactly; shared keys (JRT-RNN's prefix) match the chunked form in values and all five inputs'
// gradients; a tiny Based model (BaseConv + Taylor linear attention) trains the same either way.
// Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest); skipped, saying why,
// without any adapter.
import * as tf from '@tensorflow/tfjs';
import { errors, expectLeverStepAgrees, poison, webgpuDevice, workgroupBytesDeclared } from './webgpuKit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { fastForms } from '../core/fastForms.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { capLinearAttentionWorkgroupBytes, causalLinearAttentionWebGpu, CHUNKED_WIDE_MIN_F, CHUNKED_WIDE_MIN_WALKS, COLUMNS_MAX_WIDTH, LINEAR_ATTENTION_KERNEL, linearAttentionColumnsTiles, linearAttentionColumnsWalkTiles, linearAttentionColumnsWgsl, linearAttentionWalkTiles, SHARED_KEYS_MAX_WALKS, LINEAR_ATTENTION_MAX_WIDTH, linearAttentionTiles, linearAttentionWgsl } from '../accel/webgpu/linearAttention.js';
import { causalLinearAttention, causalLinearAttentionChunked, causalLinearAttentionNaive, LINEAR_ATTENTION_EPS, linearAttentionState } from '../ops/linearAttention/index.js';
import { programTimes } from '../bench/step.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';

const device = await webgpuDevice('webgpu-linearAttention');

const ALL_ON = allLevers(true);

let seed = 7000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);

interface Inputs {
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  w: tf.Tensor4D; // cotangent of y: loss = Σ w ⊙ y
}

/** Positive features (as the feature maps give: the denominator stays away from 0), v and the cotangent normal. */
function inputs(B: number, H: number, T: number, F: number, dv: number): Inputs {
  return {
    q: tf.softplus(randn([B, H, T, F])) as tf.Tensor4D,
    k: tf.softplus(randn([B, H, T, F])) as tf.Tensor4D,
    v: randn([B, H, T, dv]) as tf.Tensor4D,
    w: randn([B, H, T, dv]) as tf.Tensor4D,
  };
}

type Form = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) => tf.Tensor4D;
const fused: Form = (q, k, v) => causalLinearAttentionWebGpu(q, k, v)!;
const naive: Form = (q, k, v) => causalLinearAttentionNaive(q, k, v);

/** y and the gradients of Σ w ⊙ y in φq, φk, v. */
function run(f: Form, x: Inputs): tf.Tensor[] {
  const loss = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(f(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D), x.w));
  return [f(x.q, x.k, x.v), ...tf.grads(loss)([x.q, x.k, x.v])];
}

/** Quadratic form with the causal band widened by `ahead` keys: 0 is the op itself, 1 lets position i see key i + 1. */
const quadratic =
  (ahead: number): Form =>
  (q, k, v) =>
    tf.tidy(() => {
      const s = tf.linalg.bandPart(tf.matMul(q, k, false, true), -1, ahead);
      return tf.div(tf.matMul(s, v), tf.add(tf.sum(s, -1, true), LINEAR_ATTENTION_EPS)) as tf.Tensor4D;
    });

const NAMES = ['y', 'dφq', 'dφk', 'dv'];
const FORWARD_BAR = 2e-6;
const GRAD_BAR = 5e-6;
const bar = (i: number) => (i === 0 ? FORWARD_BAR : GRAD_BAR);

describe.skipIf(!device)(`fused causal linear attention on WebGPU (${device ?? 'no adapter'})`, () => {
  // levers linearAttentionWide, linearAttentionColumns, linearAttentionFit and linearAttentionVec4 have their own tests below: the others
  // cover the loop form
  beforeAll(() => {
    setFastPath({ ...ALL_ON, linearAttentionWide: false, linearAttentionColumns: false, linearAttentionVec4: false, linearAttentionFit: false });
  });
  afterAll(() => {
    releaseGpu();
  });

  // [B, H, T, F, d_v]
  const SHAPES = [
    [1, 2, 7, 4, 3],
    [2, 1, 37, 17, 16],
    [1, 1, 70, 153, 64],
    [2, 2, 1, 17, 3],
    [3, 1, 70, 4, 16],
    [1, 2, 37, 153, 3],
    [1, 1, 45, 273, 37],
    [2, 3, 1, 273, 20],
    [1, 3, 19, 40, 129],
  ] as const;

  /** Worst errors of the fused form against naive over `shapes`, each within the bars. */
  async function check(shapes: ReadonlyArray<readonly [number, number, number, number, number]>, label: string): Promise<void> {
    const worst = NAMES.map(() => ({ abs: 0, rel: 0 }));
    let noise = 0;
    for (const [B, H, T, F, dv] of shapes) {
      const x = inputs(B, H, T, F, dv);
      // the kernels' outputs: y and dv [.., d_v], den [B, H, T], dφq and dφk [.., F]
      await poison([[B, H, T, dv], [B, H, T], [B, H, T, F]]);
      const got = run(fused, x);
      const ref = run(naive, x);
      for (let i = 0; i < got.length; i++) {
        const e = await errors(got[i]!, ref[i]!);
        // T = 1: y = v·s/(s + eps), so dφq and dφk are O(eps) — both forms give rounding noise around 0, bound it absolutely
        if (T === 1 && (i === 1 || i === 2)) {
          expect(e.abs, `[${B}, ${H}, ${T}, ${F}, ${dv}] ${NAMES[i]}`).toBeLessThan(1e-6);
          noise = Math.max(noise, e.abs);
          continue;
        }
        expect(e.rel, `[${B}, ${H}, ${T}, ${F}, ${dv}] ${NAMES[i]}`).toBeLessThan(bar(i));
        worst[i] = { abs: Math.max(worst[i]!.abs, e.abs), rel: Math.max(worst[i]!.rel, e.rel) };
      }
      tf.dispose([...Object.values(x), ...got, ...ref]);
    }
    console.log(`linear attention (${label}): worst errors vs naive ${worst.map((e, i) => `${NAMES[i]} abs ${e.abs.toExponential(2)} rel ${e.rel.toExponential(2)}`).join('; ')}; T 1 dφq, dφk abs ${noise.toExponential(2)}`);
  }

  it('values and the gradients of φq, φk, v match zoology’s formula', async () => {
    await check(SHAPES, 'device tiles');
  });

  it('the same with the workgroup storage capped: one and two time steps per chunk', async () => {
    try {
      capLinearAttentionWorkgroupBytes(4096);
      expect(linearAttentionTiles(273, 17, true, 4096).TC).toBe(1);
      await check([[1, 1, 5, 273, 17], [2, 1, 5, 6, 3]], '4 KiB'); // 5 chunks of 1 step
      capLinearAttentionWorkgroupBytes(8192);
      expect(linearAttentionTiles(273, 17, true, 8192).TC).toBe(2);
      await check([[1, 1, 5, 273, 17]], '8 KiB'); // 2 chunks of 2 steps and one of 1 (kept small: lavapipe compiles each tiling anew)
    } finally {
      capLinearAttentionWorkgroupBytes(undefined);
    }
  });

  it('tiles: at most 32 floats of private state, at most 256 threads, within the workgroup storage', () => {
    // BASED d128: F 273 split 16 ways (18 each), 15 value columns + the ones column per forward workgroup; d_v + 1 = 129 split 8 ways
    expect(linearAttentionTiles(273, 128, true, 48 * 1024)).toEqual({ G: 16, R: 18, BP: 288, NA: 16, NT: 256, TC: 14, AS: 1, NS: 16, RV: 0 });
    expect(linearAttentionTiles(273, 128, true)).toMatchObject({ TC: 4 });
    expect(linearAttentionTiles(129, 273, false, 48 * 1024)).toMatchObject({ G: 8, R: 17, NA: 32, NT: 256 });
    for (const width of [1, 3, 17, 32, 33, 129, 273, 512, LINEAR_ATTENTION_MAX_WIDTH])
      for (const wgBytes of [16384, 32768, 48 * 1024])
        for (const forward of [true, false]) {
          const t = linearAttentionTiles(width, 128, forward, wgBytes);
          expect(t.R).toBeLessThanOrEqual(32);
          expect(t.BP).toBeGreaterThanOrEqual(width);
          expect(t.NT).toBeLessThanOrEqual(256);
          expect(4 * t.TC * (2 * t.BP + t.NA + t.NA * (t.G + 1))).toBeLessThanOrEqual(wgBytes);
          // and the arrays the generated WGSL declares
          for (const pass of forward ? (['fwd'] as const) : (['dq', 'dk', 'dv'] as const)) expect(workgroupBytesDeclared(linearAttentionWgsl(pass, t)), `${pass} ${width} at ${wgBytes}`).toBeLessThanOrEqual(wgBytes);
        }
  });

  it('lever linearAttentionWide: several a\'s a thread in the passes over F — tiles, values and gradients against naive', async () => {
    // jrt-sd's f 24 (F 325 = 1 + 24 + 300, the upper triangle) at d 36 (2 heads, d_v 18): 16 thread groups of 16, 2 a's
    // each: the 18 value columns and the ones column in one workgroup a head (2 without the lever), 42 floats of state
    expect(linearAttentionTiles(325, 18, true, 48 * 1024, true)).toMatchObject({ G: 16, R: 21, NA: 16, AS: 2, NS: 32 });
    expect(linearAttentionTiles(325, 18, true, 48 * 1024, false)).toMatchObject({ AS: 1, NS: 16 });
    // a wider F 601: 8 thread groups of 32, 3 a's each (57 floats of private state); 3 workgroups a head without
    expect(linearAttentionTiles(601, 18, true, 48 * 1024, true)).toMatchObject({ G: 32, R: 19, NA: 8, AS: 3, NS: 24 });
    expect(linearAttentionTiles(601, 18, true, 48 * 1024, false)).toMatchObject({ AS: 1, NS: 8 });
    // F 273 at d_v 64: 16 groups of 16 threads, AS 3 (54 floats) → 48 a's a workgroup (16 without)
    expect(linearAttentionTiles(273, 64, false, 48 * 1024, true)).toMatchObject({ G: 16, R: 18, NA: 16, AS: 3, NS: 48 });
    // no wider than the row needs: d_v 18 over F 21 already fits one workgroup
    expect(linearAttentionTiles(21, 18, false, 48 * 1024, true)).toMatchObject({ AS: 1 });
    for (const width of [17, 153, 273, 601, LINEAR_ATTENTION_MAX_WIDTH])
      for (const widthA of [3, 18, 64, 129])
        for (const wgBytes of [16384, 48 * 1024]) {
          const t = linearAttentionTiles(width, widthA, true, wgBytes, true);
          expect(t.AS * t.R).toBeLessThanOrEqual(64);
          expect(t.NS).toBe(t.NA * t.AS);
          expect(4 * t.TC * (2 * t.BP + t.NS + t.NS * (t.G + 1))).toBeLessThanOrEqual(wgBytes);
          for (const pass of ['fwd', 'dv'] as const) expect(workgroupBytesDeclared(linearAttentionWgsl(pass, t)), `${pass} ${width} ${widthA} at ${wgBytes}`).toBeLessThanOrEqual(wgBytes);
        }
    expect(linearAttentionWalkTiles('fwd', 601, 18).AS).toBe(1);
    try {
      setFastPath({ linearAttentionWide: true });
      // the walks take the wide tiles with the lever on (the passes over F only)
      expect([linearAttentionWalkTiles('fwd', 601, 18).AS, linearAttentionWalkTiles('dv', 1000, 37).AS, linearAttentionWalkTiles('dq', 601, 18).AS]).toEqual([3, 2, 1]);
      // [B, H, T, F, d_v]: jrt-sd's f 24 tile (F 325: G 16, AS 2, one block); F 1000 (R 32: AS 2, 16 a's — 3 blocks at
      // d_v 37: the wide form's block offsets); F 273 at d_v 37 (G 16, AS 3: 48 a's). Kept to three: lavapipe compiles
      // each tiling anew
      await check([[1, 2, 9, 325, 18], [1, 1, 7, 1000, 37], [1, 1, 45, 273, 37]], 'lever linearAttentionWide');
    } finally {
      setFastPath({ linearAttentionWide: false });
    }
  });

  it("lever linearAttentionVec4: the passes over F read each thread's contiguous entries as vec4s — tiles, values and gradients against naive", async () => {
    // jrt-sd's f 24 at d 36: R 21 entries a thread as 6 vec4s, padded to 7 (odd: neighbouring threads' reads in other
    // banks); a chunk of 8 steps where the strided layout stages 9
    expect(linearAttentionTiles(325, 18, true, 48 * 1024, true, true)).toMatchObject({ G: 16, R: 21, AS: 2, NS: 32, RV: 7, TC: 8 });
    expect(linearAttentionTiles(325, 18, true, 48 * 1024, true, false)).toMatchObject({ RV: 0, TC: 9 });
    // only with several a's a thread: one a a thread keeps its loop form
    expect(linearAttentionTiles(325, 18, true, 48 * 1024, false, true).RV).toBe(0);
    for (const width of [17, 153, 273, 300, 601, LINEAR_ATTENTION_MAX_WIDTH])
      for (const widthA of [3, 18, 64, 129])
        for (const wgBytes of [16384, 48 * 1024]) {
          const t = linearAttentionTiles(width, widthA, true, wgBytes, true, true);
          if (t.AS === 1) continue;
          expect(t.RV % 2, `${width} ${widthA}`).toBe(1);
          expect(4 * t.RV).toBeGreaterThanOrEqual(t.R);
          expect(4 * t.TC * (2 * 4 * t.RV * t.G + t.NS + t.NS * (t.G + 1))).toBeLessThanOrEqual(wgBytes);
          for (const pass of ['fwd', 'dv'] as const) expect(workgroupBytesDeclared(linearAttentionWgsl(pass, t)), `${pass} ${width} ${widthA} at ${wgBytes}`).toBeLessThanOrEqual(wgBytes);
        }
    try {
      setFastPath({ linearAttentionWide: true, linearAttentionVec4: true });
      expect([linearAttentionWalkTiles('fwd', 325, 18).RV, linearAttentionWalkTiles('dv', 325, 18).RV, linearAttentionWalkTiles('dq', 325, 18).RV]).toEqual([7, 7, 0]);
      // [B, H, T, F, d_v]: R mod 4 = 1 (jrt-sd's F 325: R 21), 0 (F 1000: R 32, 3 blocks at d_v 37) and 3 (F 300: R
      // 19) — the last vec4's unused lanes; kept to three (lavapipe compiles each tiling anew)
      await check([[1, 2, 9, 325, 18], [1, 1, 7, 1000, 37], [1, 1, 11, 300, 18]], 'lever linearAttentionVec4');
    } finally {
      setFastPath({ linearAttentionWide: false, linearAttentionVec4: false });
    }
  });

  it('lever linearAttentionColumns: the dφq, dφk walks a feature a thread — tiles, values and gradients against naive', async () => {
    // jrt-sd's f 24 at d 36: d_v + 1 = 19 state entries a thread (staged as 5 vec4s), 256 threads of 2 features each:
    // F 325 in one workgroup a head; a wider F 601 at 3 features a thread
    expect(linearAttentionColumnsTiles(19, 325, 48 * 1024)).toMatchObject({ R: 19, RP: 20, NA: 256, AS: 2, NS: 512 });
    expect(linearAttentionColumnsTiles(19, 601, 48 * 1024)).toMatchObject({ R: 19, RP: 20, NA: 256, AS: 3, NS: 768 });
    // d 128 (d_v 64): 65 entries, one feature a thread; past 72 entries the loop form
    expect(linearAttentionColumnsTiles(65, 273, 48 * 1024)).toMatchObject({ RP: 68, AS: 1, NS: 256 });
    expect(linearAttentionColumnsTiles(COLUMNS_MAX_WIDTH + 1, 273, 48 * 1024)).toBeUndefined();
    for (const widthB of [2, 4, 19, 38, COLUMNS_MAX_WIDTH])
      for (const widthA of [4, 21, 273, 601, LINEAR_ATTENTION_MAX_WIDTH])
        for (const wgBytes of [16384, 48 * 1024]) {
          const t = linearAttentionColumnsTiles(widthB, widthA, wgBytes)!;
          expect(t.AS * t.RP).toBeLessThanOrEqual(Math.max(72, t.RP));
          expect(t.NS).toBe(t.NA * t.AS);
          expect(4 * t.TC * (2 * t.RP + t.NS)).toBeLessThanOrEqual(wgBytes);
          for (const pass of ['dq', 'dk'] as const) expect(workgroupBytesDeclared(linearAttentionColumnsWgsl(pass, t)), `${pass} ${widthB} ${widthA} at ${wgBytes}`).toBeLessThanOrEqual(wgBytes);
        }
    expect(linearAttentionColumnsWalkTiles('dq', 601, 18)).toBeUndefined();
    try {
      setFastPath({ linearAttentionWide: true, linearAttentionColumns: true });
      // the walks take the columns form with the lever on: dφq and dφk only, up to d_v + 1 = 72
      expect([linearAttentionColumnsWalkTiles('dq', 601, 18)?.AS, linearAttentionColumnsWalkTiles('dk', 601, 18)?.AS, linearAttentionColumnsWalkTiles('dv', 601, 18), linearAttentionColumnsWalkTiles('dq', 21, 72)]).toEqual([3, 3, undefined, undefined]);
      // [B, H, T, F, d_v]: jrt-sd's f 24 tile (F 325: AS 2, one block); F 1000 at d_v 37 (38 entries, 4 blocks); F 273 at
      // d_v 37 with T 1; d_v 71 (the widest row, 72 entries) over F 21 (32 threads); a one-column row over F 4
      await check([[1, 2, 9, 325, 18], [1, 1, 7, 1000, 37], [2, 1, 1, 273, 37], [1, 2, 13, 21, 71], [2, 1, 11, 4, 1]], 'lever linearAttentionColumns');
    } finally {
      setFastPath({ linearAttentionWide: false, linearAttentionColumns: false });
    }
  });

  it('lever linearAttentionFit: every walk\'s threads fitted to its row in whole warps — tiles, values and gradients against naive', async () => {
    // the columns form (dφq, dφk), jrt-sd's f 24 at d 36 (F 325, 19 entries): 256 × 2 = 512 slots → 192 × 2 = 384 (no
    // more a's a thread than the power-of-two tiles' 2); F 273 at 65 entries (one a a thread): two workgroups of 256 →
    // of 160; F 21 and F 4 as before (below a warp: the power of two); F 1000 at 38 entries: 4 × 256 either way
    expect(linearAttentionColumnsTiles(19, 325, 48 * 1024, true)).toMatchObject({ R: 19, RP: 20, NA: 192, AS: 2, NS: 384 });
    expect(linearAttentionColumnsTiles(65, 273, 48 * 1024, true)).toMatchObject({ RP: 68, NA: 160, AS: 1, NS: 160 });
    expect(linearAttentionColumnsTiles(72, 21, 48 * 1024, true)).toMatchObject({ NA: 32, AS: 1 });
    expect(linearAttentionColumnsTiles(2, 4, 48 * 1024, true)).toMatchObject({ NA: 4, AS: 1 });
    expect(linearAttentionColumnsTiles(38, 1000, 48 * 1024, true)).toMatchObject({ NA: 256, AS: 1 });
    // the wide passes over F 325 (G 16 threads an a, R 21): the forward's 18 value columns and the ones column, and dv's
    // 18 columns, 16 groups × 2 = 32 slots → 10 × 2 = 20 (160 threads: whole warps); d_v 100 at F 325: the forward's 3
    // blocks of 16 × 3 = 48 slots → of 12 × 3 = 36; the loop form's dφq, dφk over 101 entries (G 4): 6 workgroups of 64
    // a's → of 56 (224 threads)
    expect(linearAttentionTiles(325, 18, true, 48 * 1024, true, false, true)).toMatchObject({ G: 16, R: 21, NA: 10, NT: 160, AS: 2, NS: 20 });
    expect(linearAttentionTiles(325, 100, true, 48 * 1024, true, false, true)).toMatchObject({ NA: 12, NT: 192, AS: 3, NS: 36 });
    expect(linearAttentionTiles(101, 325, false, 48 * 1024, false, false, true)).toMatchObject({ G: 4, NA: 56, NT: 224, AS: 1, NS: 56 });
    expect(linearAttentionTiles(325, 18, false, 48 * 1024, true, false, true)).toMatchObject({ G: 16, NA: 10, NT: 160, AS: 2, NS: 20 });
    expect(linearAttentionTiles(325, 18, true, 48 * 1024, true)).toMatchObject({ NA: 16, NT: 256, AS: 2, NS: 32 });
    const tilesChecked = { columns: 0, walks: 0 };
    for (const wgBytes of [16384, 48 * 1024]) {
      for (const widthB of [2, 4, 19, 38, COLUMNS_MAX_WIDTH])
        for (const widthA of [4, 21, 100, 273, 325, 601, 777, LINEAR_ATTENTION_MAX_WIDTH]) {
          const fit = linearAttentionColumnsTiles(widthB, widthA, wgBytes, true)!;
          const pow2 = linearAttentionColumnsTiles(widthB, widthA, wgBytes)!;
          const at = `columns ${widthB} × ${widthA} at ${wgBytes}`;
          // as many workgroups, no more slots nor a's a thread; whole warps (or a power of two below one)
          expect(Math.ceil(widthA / fit.NS), at).toBe(Math.ceil(widthA / pow2.NS));
          expect(fit.NS, at).toBeLessThanOrEqual(pow2.NS);
          expect(fit.AS, at).toBeLessThanOrEqual(pow2.AS);
          expect(fit.NA % 32 === 0 || (fit.NA < 32 && (fit.NA & (fit.NA - 1)) === 0), at).toBe(true);
          expect(fit.NS).toBe(fit.NA * fit.AS);
          expect(4 * fit.TC * (2 * fit.RP + fit.NS)).toBeLessThanOrEqual(wgBytes);
          for (const pass of ['dq', 'dk'] as const) expect(workgroupBytesDeclared(linearAttentionColumnsWgsl(pass, fit)), `${pass} ${at}`).toBeLessThanOrEqual(wgBytes);
          tilesChecked.columns++;
        }
      // the loop form's walks, wide or not: [widthB, widthA, forward]
      for (const widthB of [3, 19, 64, 325, LINEAR_ATTENTION_MAX_WIDTH])
        for (const widthA of [1, 18, 37, 100, 325, LINEAR_ATTENTION_MAX_WIDTH])
          for (const forward of [true, false])
            for (const wide of [true, false]) {
              const fit = linearAttentionTiles(widthB, widthA, forward, wgBytes, wide, false, true);
              const pow2 = linearAttentionTiles(widthB, widthA, forward, wgBytes, wide);
              const at = `walk ${widthB} × ${widthA}${forward ? ' fwd' : ''}${wide ? ' wide' : ''} at ${wgBytes}`;
              const blocks = (t: typeof fit) => Math.ceil(widthA / (forward ? t.NS - 1 : t.NS));
              expect(blocks(fit), at).toBe(blocks(pow2));
              expect(fit.NS, at).toBeLessThanOrEqual(pow2.NS);
              expect(fit.AS, at).toBeLessThanOrEqual(pow2.AS);
              expect([fit.G, fit.R], at).toEqual([pow2.G, pow2.R]);
              expect(fit.NT % 32 === 0 || (fit.NT < 32 && (fit.NT & (fit.NT - 1)) === 0), at).toBe(true);
              expect(fit.NT).toBe(fit.NA * fit.G);
              expect(workgroupBytesDeclared(linearAttentionWgsl(forward ? 'fwd' : 'dv', fit)), at).toBeLessThanOrEqual(wgBytes);
              tilesChecked.walks++;
            }
    }
    expect(tilesChecked).toEqual({ columns: 80, walks: 240 });
    try {
      setFastPath({ linearAttentionWide: true, linearAttentionColumns: true, linearAttentionFit: true });
      expect(linearAttentionColumnsWalkTiles('dk', 325, 18)).toMatchObject({ NA: 192, AS: 2 });
      expect([linearAttentionWalkTiles('fwd', 325, 18).NA, linearAttentionWalkTiles('dv', 325, 18).NA]).toEqual([10, 10]);
      // [B, H, T, F, d_v]: jrt-sd's f 24 tiles (192 × 2 in dφq, dφk; 10 × 2 in the forward and dv), F 273 at d_v 64 (dφq,
      // dφk in two workgroups of 160, the second's last 47 slots past F), F 150 at d_v 37 (160 threads, 10 past F; 256
      // without), d_v 100 at F 325 (the forward and dv in 3 blocks of 12 × 3, dφq and dφk in the loop form, 6 of 56)
      await check([[1, 2, 9, 325, 18], [1, 1, 7, 273, 64], [2, 1, 5, 150, 37], [1, 1, 6, 325, 100]], 'lever linearAttentionFit');
    } finally {
      setFastPath({ linearAttentionWide: false, linearAttentionColumns: false, linearAttentionFit: false });
    }
  });

  it('shared keys (JRT-RNN\'s prefix): the fused walk over [shared, own] matches the chunked form, values and the gradients of all five inputs', async () => {
    // [B, H, M shared, T, F, d_v]
    for (const [B, H, M, T, F, dv] of [[2, 2, 5, 11, 6, 5], [1, 2, 19, 3, 6, 5]] as const) {
      const x = inputs(B, H, T, F, dv);
      const sk = tf.softplus(randn([B, H, M, F])) as tf.Tensor4D;
      const sv = randn([B, H, M, dv]) as tf.Tensor4D;
      const loss =
        (f: (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, shared: { phiK: tf.Tensor4D; v: tf.Tensor4D }) => tf.Tensor4D) =>
        (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(f(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, { phiK: a as tf.Tensor4D, v: b as tf.Tensor4D }), x.w));
      const fusedShared = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, shared: { phiK: tf.Tensor4D; v: tf.Tensor4D }) => causalLinearAttentionWebGpu(q, k, v, { shared })!;
      const chunked = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, shared: { phiK: tf.Tensor4D; v: tf.Tensor4D }) => causalLinearAttentionChunked(q, k, v, { shared, chunkSize: 4 });
      const args = [x.q, x.k, x.v, sk, sv];
      const got = [fusedShared(x.q, x.k, x.v, { phiK: sk, v: sv }), ...tf.grads(loss(fusedShared))(args)];
      const ref = [chunked(x.q, x.k, x.v, { phiK: sk, v: sv }), ...tf.grads(loss(chunked))(args)];
      const names = ['y', 'dφq', 'dφk', 'dv', 'dφk shared', 'dv shared'];
      for (let i = 0; i < got.length; i++) expect((await errors(got[i]!, ref[i]!)).rel, `[${B}, ${H}, ${M} + ${T}, ${F}, ${dv}] ${names[i]}`).toBeLessThan(i === 0 ? FORWARD_BAR : GRAD_BAR);
      // past SHARED_KEYS_MAX_WALKS batch·head rows the chunked form runs (measured faster there)
      const wide = [SHARED_KEYS_MAX_WALKS + 1, 1, 2, 3] as const;
      const [wq, wk, wv] = [tf.ones([...wide]), tf.ones([...wide]), tf.ones([...wide])] as tf.Tensor4D[];
      expect(causalLinearAttentionWebGpu(wq!, wk!, wv!, { shared: { phiK: wk!, v: wv! } })).toBeUndefined();
      tf.dispose([wq!, wk!, wv!]);
      // the shared keys matter: without them the output differs
      expect((await errors(got[0]!, causalLinearAttentionChunked(x.q, x.k, x.v))).rel).toBeGreaterThan(100 * FORWARD_BAR);
      // the shared positions' zero queries are a pad made on the device, not a zeros array built and uploaded each call
      // (it was 6 % of JRT-RNN's host time at B64): the forward's kernels are one PadV2 and the keys' and values' Concats
      const profile = await tf.profile(() => fusedShared(x.q, x.k, x.v, { phiK: sk, v: sv }));
      const kernels = profile.kernels.map((kernel) => kernel.name);
      expect(kernels.filter((n) => n === 'PadV2').length, kernels.join(' ')).toBe(1);
      expect(kernels.filter((n) => n === 'Concat').length, kernels.join(' ')).toBe(2);
      tf.dispose(profile.result as tf.Tensor);
      tf.dispose([...Object.values(x), sk, sv, ...got, ...ref]);
    }
  });

  it('mutation check: a kernel that lets position i see key i + 1 fails the same bars', async () => {
    const x = inputs(2, 1, 9, 17, 5);
    const got = run(fused, x);
    // the harness is fair: the quadratic form of the op itself passes, the one looking a key ahead fails everywhere
    const same = run(quadratic(0), x);
    const ahead = run(quadratic(1), x);
    for (let i = 0; i < got.length; i++) {
      expect((await errors(got[i]!, same[i]!)).rel, `band 0: ${NAMES[i]}`).toBeLessThan(bar(i));
      expect((await errors(got[i]!, ahead[i]!)).rel, `one key ahead: ${NAMES[i]}`).toBeGreaterThan(bar(i));
    }
    tf.dispose([...Object.values(x), ...got, ...same, ...ahead]);
  });

  it("bench/step.ts's profile by program: the gradient's four dispatches apart, each program counted once", async () => {
    // tf.profile lists the customGrad scope around the fused forward as well as the kernel inside it; the scope's own
    // timers are empty, so summing every entry's programs gives each dispatch once — what 'top programs' prints
    const [B, H, T, F, dv] = [1, 2, 9, 17, 3];
    const [q, k, v] = [randn([B, H, T, F]), randn([B, H, T, F]), randn([B, H, T, dv])].map((t) => tf.abs(t) as tf.Tensor4D);
    const info = await tf.profile(() => tf.grad((x: tf.Tensor) => tf.sum(causalLinearAttention(x as tf.Tensor4D, k!, v!)))(q!));
    const kernels = info.kernels as unknown as Array<{ name: string; kernelTimeMs: number; extraInfo: unknown }>;
    const programs = kernels.flatMap((kr) => programTimes(kr.extraInfo));
    const names = programs.map((p) => p.name);
    for (const name of ['LinearAttention', 'LinearAttentionGradIn', 'LinearAttentionGradQ', 'LinearAttentionGradK', 'LinearAttentionGradV']) expect(names.filter((n) => n === name), name).toHaveLength(1);
    // every program's time belongs to exactly one entry: the programs' sum is the entries' sum
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const kernelSum = sum(kernels.map((kr) => (typeof kr.kernelTimeMs === 'number' ? kr.kernelTimeMs : 0)));
    expect(sum(programs.map((p) => p.ms))).toBeCloseTo(kernelSum, 3);
    tf.dispose([q!, k!, v!]);
  });

  it('through the op: lever on runs the fused form, lever off (or a declined option) the chunked form exactly', async () => {
    const x = inputs(2, 2, 11, 6, 5);
    const data = async (t: tf.Tensor) => Array.from(await t.data());
    const same = async (a: tf.Tensor, b: tf.Tensor) => expect(await data(a)).toEqual(await data(b));
    expect(fastForms().filter((f) => f.backend === 'webgpu' && f.lever === 'linearAttention').map((f) => f.op)).toEqual(['causalLinearAttention']);
    await same(causalLinearAttention(x.q, x.k, x.v, { chunkSize: 4 }), fused(x.q, x.k, x.v));
    // a pairScore is φq·φk: the fused form reads φq, φk and gives the same function
    const raw = { q: randn([2, 2, 11, 3]) as tf.Tensor4D, k: randn([2, 2, 11, 3]) as tf.Tensor4D, score: (s: tf.Tensor) => s };
    await same(causalLinearAttention(x.q, x.k, x.v, { pairScore: raw }), fused(x.q, x.k, x.v));
    // an initial state: declined, the chunked form runs
    const initial = linearAttentionState(x.k, x.v);
    await same(causalLinearAttention(x.q, x.k, x.v, { initial, chunkSize: 4 }), causalLinearAttentionChunked(x.q, x.k, x.v, { initial, chunkSize: 4 }));
    expect(causalLinearAttentionWebGpu(x.q, x.k, x.v, { initial })).toBeUndefined();
    // shared keys: the fused form (tested against the chunked form above)
    await same(causalLinearAttention(x.q, x.k, x.v, { shared: { phiK: x.k, v: x.v } }), causalLinearAttentionWebGpu(x.q, x.k, x.v, { shared: { phiK: x.k, v: x.v } })!);
    try {
      setFastPath({ linearAttention: false });
      const viaOp = causalLinearAttention(x.q, x.k, x.v, { chunkSize: 4 });
      await same(viaOp, causalLinearAttentionChunked(x.q, x.k, x.v, { chunkSize: 4 }));
      expect((await errors(viaOp, fused(x.q, x.k, x.v))).rel).toBeLessThan(FORWARD_BAR);
    } finally {
      setFastPath({ linearAttention: true });
    }
    tf.dispose([...Object.values(x), raw.q, raw.k, initial.kv, initial.k]);
  });

  it('lever linearAttentionChunkedWide: F ≥ 256 on ≥ 256 batch·head rows runs the chunked form exactly, anything narrower or fewer the walk', async () => {
    const data = async (t: tf.Tensor) => Array.from(await t.data());
    const walks = () => dispatchCounts.get('LinearAttention') ?? 0;
    // [B, H] = [128, 2]: 256 rows (jrt-sd's are 768 a process); T 3 keeps it small; F at the bound and one below it
    const wide = inputs(128, 2, 3, CHUNKED_WIDE_MIN_F, 4);
    const narrow = inputs(128, 2, 3, CHUNKED_WIDE_MIN_F - 1, 4);
    const few = inputs(127, 2, 3, CHUNKED_WIDE_MIN_F, 4); // 254 rows
    expect(CHUNKED_WIDE_MIN_WALKS).toBe(256);
    try {
      setFastPath({ linearAttentionChunkedWide: true });
      let before = walks();
      // y and the gradients of φq, φk, v (run above): the chunked form's exactly (tfjs differentiates its ops)
      const viaOp = run((q, k, v) => causalLinearAttention(q, k, v), wide);
      expect(walks()).toBe(before); // no walk dispatched
      const chunked = run((q, k, v) => causalLinearAttentionChunked(q, k, v), wide);
      for (const [i, t] of viaOp.entries()) expect(await data(t), i ? `gradient ${i}` : 'y').toEqual(await data(chunked[i]!));
      for (const x of [narrow, few]) {
        before = walks();
        await data(causalLinearAttention(x.q, x.k, x.v));
        expect(walks()).toBeGreaterThan(before); // the walk still takes these
      }
    } finally {
      setFastPath({ linearAttentionChunkedWide: false });
    }
    // off: the walk takes the wide one too
    const before = walks();
    await data(causalLinearAttention(wide.q, wide.k, wide.v));
    expect(walks()).toBeGreaterThan(before);
    tf.dispose([...Object.values(wide), ...Object.values(narrow), ...Object.values(few)]);
  });

  it('a training step of a tiny Based model (BaseConv + Taylor linear attention) and of a JRT-RNN with a prefix: lever on and off give the same loss and gradients', async () => {
    const e = await expectLeverStepAgrees('linearAttention', [{ mixer: 'baseconv', params: {} }, { mixer: 'based', params: { featureDim: 4, numHeads: 2 } }], { seqLen: 13 });
    console.log(`tiny Based: loss rel ${e.lossRel.toExponential(2)}, worst gradient rel ${e.worstGradRel.toExponential(2)}`);
    // JRT-RNN reads a prefix of 4 (its encoder's keys shared with every position): the fused walk over [prefix, all]
    const j = await expectLeverStepAgrees('linearAttention', [{ mixer: 'jrt-rnn', params: { featureDim: 4, numHeads: 2 } }], { seqLen: 13, prefixLength: 4, label: 'jrt-rnn', kernels: [LINEAR_ATTENTION_KERNEL] });
    console.log(`tiny JRT-RNN: loss rel ${j.lossRel.toExponential(2)}, worst gradient rel ${j.worstGradRel.toExponential(2)}`);
  });
});
