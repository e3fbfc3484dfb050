// Mamba's selective scan from plain tfjs ops, as architectures/mamba.ts computed it before the op existed (same
// ops in the same order, so the same numbers): decay = exp(Δ A) and drive = (Δ x) Bᵀ as [B, T, E, N] tensors, the
// diagonal scan of ops/scan (itself fused on webgpu while lever `scan` is on), then the readout h_t C_t as one
// batched matmul. h [B, T, E, N] is materialised, so long sequences go through it in blocks of time with the
// state carried (memory bounded by the block; one block at training lengths).
import * as tf from '@tensorflow/tfjs';
import { scan } from '../scan/index.js';
import { byExample } from '../shared/runAxis.js';
import { checkShapes } from './common.js';

/** Largest h [B, block, E, N] the blocked form materialises at once (64 MiB of fp32). */
export const SCAN_BLOCK_FLOATS = 16 * 1024 * 1024;

/** Tokens per block: `timeBlock`, or (undefined) the most that keeps B·block·E·N ≤ SCAN_BLOCK_FLOATS. */
export const timeBlockFor = (Bsz: number, E: number, N: number, timeBlock?: number) => timeBlock ?? Math.max(1, Math.floor(SCAN_BLOCK_FLOATS / (Bsz * E * N)));

/**
 * x, Δ [B, T, E], A [E, N] (negative), B, C [B, T, N] → y [B, T, E] (see naive.ts); differentiable in all five. A stack
 * of R runs (engine/stack.ts): A [R, E, N], each run's examples (B/R of them, run-major) decaying by their run's A.
 */
export function selectiveScanBlocked(x: tf.Tensor3D, dt: tf.Tensor3D, A: tf.Tensor2D | tf.Tensor3D, B: tf.Tensor3D, C: tf.Tensor3D, timeBlock?: number): tf.Tensor3D {
  const { Bsz, T, E, N, runs } = checkShapes(x, dt, A, B, C);
  return tf.tidy(() => {
    // one A for every example, or each example its run's ([B, 1, E, N], broadcast over the block's tokens)
    const negA = runs === 1 ? A : byExample(A, Bsz).reshape([Bsz, 1, E, N]);
    const dtx = tf.mul(dt, x);
    const block = timeBlockFor(Bsz, E, N, timeBlock);
    const window = (t: tf.Tensor, t0: number, len: number) => (len === T ? t : t.slice([0, t0, 0], [Bsz, len, t.shape[2]!]));
    const readouts: tf.Tensor[] = [];
    let carry: tf.Tensor | undefined; // h at the end of the previous block [B, 1, E, N]
    for (let t0 = 0; t0 < T; t0 += block) {
      const len = Math.min(block, T - t0);
      const next = tf.tidy(() => {
        const decay = tf.exp(tf.mul(window(dt, t0, len).reshape([Bsz, len, E, 1]), negA)); // exp(Δ A)
        let drive = tf.mul(window(dtx, t0, len).reshape([Bsz, len, E, 1]), window(B, t0, len).reshape([Bsz, len, 1, N])); // (Δ x) Bᵀ
        if (carry) {
          // h_{t0} = a_{t0} h_{t0−1} + b_{t0}: fold the carried state into the block's first drive
          const first = tf.add(drive.slice([0, 0, 0, 0], [Bsz, 1, E, N]), tf.mul(decay.slice([0, 0, 0, 0], [Bsz, 1, E, N]), carry));
          drive = len > 1 ? tf.concat([first, drive.slice([0, 1, 0, 0], [Bsz, len - 1, E, N])], 1) : first;
        }
        const h = scan(decay, drive);
        // h_t C_t as one batched matmul over the block's tokens: [E, N] @ [N, 1]
        const readout = tf.matMul(h.reshape([Bsz * len, E, N]) as tf.Tensor3D, window(C, t0, len).reshape([Bsz * len, N, 1]) as tf.Tensor3D).reshape([Bsz, len, E]);
        return { readout, carry: t0 + len < T ? h.slice([0, len - 1, 0, 0], [Bsz, 1, E, N]) : undefined };
      });
      carry?.dispose();
      carry = next.carry;
      readouts.push(next.readout);
    }
    return (readouts.length === 1 ? readouts[0]! : tf.concat(readouts, 1)) as tf.Tensor3D;
  });
}
