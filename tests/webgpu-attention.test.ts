// The fused causal attention (accel/webgpu/attention.ts, lever `attention`) against the plain-tfjs reference
// (ops/causalAttention/naive.ts): values, the log-sum-exp it keeps for the backward, and the gradients of q, k, v,
// with and without attention dropout (the same hashed mask as ops/dropout), at shapes that exercise what the kernel
// tiles — T below, at and past the 16-row own tile and not a multiple of it nor of the streamed tile (1, 7, 16, 33,
// 37, 70), head widths 8 to 256 (threads owning 1 to 16 columns each), several heads and batches, and again with
// the tiles sized for 16 KiB of workgroup storage (own tiles of 8 and 4 rows, streamed tiles down to 2) — with the
// outputs' buffers poisoned (NaN) first, as tests/webgpu-deltaRule.test.ts does. A mutation check shows the bars
// catch a query that sees the next key, or another dropout mask; through the op, lever on is the fused form and
// lever off the reference exactly; a tiny attention model's training step gives the same loss and gradients either
// way. Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest); skipped, saying
// why, without any adapter.
import * as tf from '@tensorflow/tfjs';
import { errors, expectLeverStepAgrees, poison, webgpuDevice, workgroupBytesDeclared } from './webgpuKit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { fastForms } from '../core/fastForms.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { attentionTiles, attentionWgsl, capAttentionWorkgroupBytes, causalAttentionForwardWebGpu, causalAttentionWebGpu } from '../accel/webgpu/attention.js';
import { causalAttention, causalAttentionNaive, causalMaskBias } from '../ops/causalAttention/index.js';
import { dropout } from '../ops/dropout/index.js';

const device = await webgpuDevice('webgpu-attention');

const ALL_ON = allLevers(true);

let seed = 7000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);

type Attn = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) => tf.Tensor4D;

/** o and the gradients of Σ w ⊙ o in q, k, v. */
function run(f: Attn, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, w: tf.Tensor): tf.Tensor[] {
  const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(f(a[0] as tf.Tensor4D, a[1] as tf.Tensor4D, a[2] as tf.Tensor4D), w));
  return [f(q, k, v), ...tf.grads(loss)([q, k, v])];
}

/** The reference's log-sum-exp of the masked scores (what the fused forward keeps for its backward). */
const lseRef = (q: tf.Tensor4D, k: tf.Tensor4D, scale: number) => tf.tidy(() => tf.logSumExp(tf.add(tf.mul(tf.matMul(q, k, false, true), scale), causalMaskBias(q.shape[2])), -1));

const NAMES = ['o', 'dq', 'dk', 'dv'];
const FORWARD_BAR = 2e-6;
const GRAD_BAR = 1e-5;
const LSE_BAR = 1e-6;
const bar = (i: number) => (i === 0 ? FORWARD_BAR : GRAD_BAR);

describe.skipIf(!device)(`fused causal attention on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => {
    setFastPath(ALL_ON);
  });
  afterAll(() => {
    releaseGpu();
  });

  // [B, H, T, d_h]
  const SHAPES = [
    [1, 1, 1, 8],
    [2, 3, 7, 8],
    [1, 2, 37, 32],
    [2, 1, 70, 64],
    [1, 1, 37, 128],
    [2, 2, 16, 16],
    [1, 3, 33, 64],
    [1, 1, 21, 256],
  ] as const;
  // the 16 KiB tilings: [B, H, T, d_h] with own tiles of 8 (d_h 128) and 4 rows (d_h 256 backward)
  const SMALL_TILE_SHAPES = [
    [1, 2, 19, 128],
    [1, 1, 11, 256],
  ] as const;

  it('the tiles fit the workgroup storage they are sized for, and a thread holds at most 32 floats of d_h', () => {
    for (const bytes of [16384, 32768, 49152])
      for (const dh of [1, 8, 16, 64, 128, 256])
        for (const pass of ['fwd', 'dq', 'dkv'] as const) {
          const t = attentionTiles(pass, dh, bytes);
          expect(t.G * t.SW, `${pass} d_h ${dh}`).toBeGreaterThanOrEqual(dh);
          expect(t.SW * (pass === 'dkv' ? 2 : 1)).toBeLessThanOrEqual(32);
          expect(t.NT).toBeLessThanOrEqual(256);
          // the arrays the generated WGSL declares, not the tile arithmetic: within the storage the tiles are sized for
          expect(workgroupBytesDeclared(attentionWgsl(pass, t)), `${pass} d_h ${dh} at ${bytes}`).toBeLessThanOrEqual(bytes);
        }
    expect(attentionTiles('dq', 128, 16384).BO).toBe(8);
    expect(attentionTiles('dkv', 256, 16384).BO).toBe(4);
  });

  for (const [rate, shapes, cap] of [
    [0, SHAPES, undefined],
    [0.3, SHAPES, undefined],
    [0, SMALL_TILE_SHAPES, 16384],
    [0.3, SMALL_TILE_SHAPES, 16384],
  ] as const) {
    it(`dropout ${rate}${cap ? `, tiles for ${cap / 1024} KiB` : ''}: values, log-sum-exp and the gradients of q, k, v match the reference`, async () => {
      const worst = [...NAMES, 'lse'].map(() => ({ abs: 0, rel: 0 }));
      capAttentionWorkgroupBytes(cap);
      try {
        for (const [B, H, T, dh] of shapes) {
          const scale = 1 / Math.sqrt(dh);
          const [q, k, v, w] = [randn([B, H, T, dh]), randn([B, H, T, dh]), randn([B, H, T, dh]), randn([B, H, T, dh])] as tf.Tensor4D[];
          await poison([[B, H, T, dh], [B, H, T]]);
          const got = run((a, b, c) => causalAttentionWebGpu(a, b, c, scale, rate, 11)!, q!, k!, v!, w!);
          const ref = run((a, b, c) => causalAttentionNaive(a, b, c, scale, rate, 11), q!, k!, v!, w!);
          const [, lse] = causalAttentionForwardWebGpu(q!, k!, v!, scale, rate, 11);
          const lr = lseRef(q!, k!, scale);
          for (let i = 0; i <= got.length; i++) {
            const e = i < got.length ? await errors(got[i]!, ref[i]!) : await errors(lse, lr);
            expect(e.rel, `[${B}, ${H}, ${T}, ${dh}] ${i < got.length ? NAMES[i] : 'lse'}`).toBeLessThan(i < got.length ? bar(i) : LSE_BAR);
            worst[i] = { abs: Math.max(worst[i]!.abs, e.abs), rel: Math.max(worst[i]!.rel, e.rel) };
          }
          tf.dispose([q!, k!, v!, w!, ...got, ...ref, lse, lr]);
        }
      } finally {
        capAttentionWorkgroupBytes(undefined);
      }
      console.log(`attention (dropout ${rate}${cap ? `, ${cap / 1024} KiB tiles` : ''}): worst errors vs reference ${worst.map((e, i) => `${[...NAMES, 'lse'][i]} abs ${e.abs.toExponential(2)} rel ${e.rel.toExponential(2)}`).join('; ')}`);
    });
  }

  it('mutation check — a query that sees the next key, or another dropout mask, fails the same bars', async () => {
    const [B, H, T, dh] = [1, 2, 9, 8];
    const scale = 1 / Math.sqrt(dh);
    const [q, k, v, w] = [randn([B, H, T, dh]), randn([B, H, T, dh]), randn([B, H, T, dh]), randn([B, H, T, dh])] as tf.Tensor4D[];
    // the reference with a mask one wider: query t sees key t + 1
    const peek: Attn = (a, b, c) =>
      tf.tidy(() => {
        const leak = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 1)), -1e9);
        return tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(a, b, false, true), scale), leak)), c) as tf.Tensor4D;
      });
    const got = run((a, b, c) => causalAttentionWebGpu(a, b, c, scale, 0, 0)!, q!, k!, v!, w!);
    const wrong = run(peek, q!, k!, v!, w!);
    for (let i = 0; i < got.length; i++) expect((await errors(got[i]!, wrong[i]!)).rel, `peek: ${NAMES[i]}`).toBeGreaterThan(bar(i));
    // dropout: the fused mask against the reference's with another seed, and against weights dropped by a mask
    // of the transposed index (key-major)
    const gotD = run((a, b, c) => causalAttentionWebGpu(a, b, c, scale, 0.3, 5)!, q!, k!, v!, w!);
    const otherSeed = run((a, b, c) => causalAttentionNaive(a, b, c, scale, 0.3, 6), q!, k!, v!, w!);
    const transposed: Attn = (a, b, c) =>
      tf.tidy(() => tf.matMul(tf.transpose(dropout(tf.transpose(tf.softmax(tf.add(tf.mul(tf.matMul(a, b, false, true), scale), causalMaskBias(T))), [0, 1, 3, 2]), 0.3, 5), [0, 1, 3, 2]), c) as tf.Tensor4D);
    const wrongD = run(transposed, q!, k!, v!, w!);
    for (const bad of [otherSeed, wrongD]) for (let i = 0; i < gotD.length; i++) expect((await errors(gotD[i]!, bad[i]!)).rel, `dropout mask: ${NAMES[i]}`).toBeGreaterThan(bar(i));
    tf.dispose([q!, k!, v!, w!, ...got, ...wrong, ...gotD, ...otherSeed, ...wrongD]);
  });

  it('through the op, lever on runs the fused form, lever off the reference exactly', async () => {
    const [B, H, T, dh] = [2, 2, 11, 16];
    const scale = 0.25;
    const [q, k, v] = [randn([B, H, T, dh]), randn([B, H, T, dh]), randn([B, H, T, dh])] as tf.Tensor4D[];
    const same = async (a: tf.Tensor, b: tf.Tensor) => expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    expect(fastForms().filter((f) => f.backend === 'webgpu' && f.lever === 'attention').map((f) => f.op)).toEqual(['causalAttention']);
    for (const rate of [0, 0.2]) await same(causalAttention(q!, k!, v!, scale, rate, 3), causalAttentionWebGpu(q!, k!, v!, scale, rate, 3)!);
    try {
      setFastPath({ attention: false });
      for (const rate of [0, 0.2]) {
        const viaOp = causalAttention(q!, k!, v!, scale, rate, 3);
        await same(viaOp, causalAttentionNaive(q!, k!, v!, scale, rate, 3));
        expect((await errors(viaOp, causalAttentionWebGpu(q!, k!, v!, scale, rate, 3)!)).rel).toBeLessThan(FORWARD_BAR);
      }
      // with dropout off the reference's mask is tf.dropout's, not the hash: the op must not take the fused form
      setFastPath({ attention: true, dropout: false });
      await same(causalAttention(q!, k!, v!, scale, 0.2, 3), causalAttentionNaive(q!, k!, v!, scale, 0.2, 3));
    } finally {
      setFastPath(ALL_ON);
    }
    tf.dispose([q!, k!, v!]);
  });

  it('a training step of a tiny attention model: lever on and off give the same loss and gradients', async () => {
    await expectLeverStepAgrees('attention', [{ mixer: 'attention', params: { numHeads: 2, dropout: 0.1 } }]);
  });
});
