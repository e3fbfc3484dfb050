// RWKV-4's WKV: parallel associative scan (parallel.ts), per-token reference (naive.ts), step view (step.ts).
// `wkv` runs a backend's fused form (accel/webgpu/wkv.ts, registered in core/fastForms.ts) while its lever is
// on, else the parallel form.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { wkvParallel } from './parallel.js';

export { wkvParallel } from './parallel.js';
export { wkvNaive } from './naive.js';
export { wkvInitState, wkvStep, type WkvState } from './step.js';

type Wkv = (w: tf.Tensor1D | tf.Tensor2D, u: tf.Tensor1D | tf.Tensor2D, k: tf.Tensor3D, v: tf.Tensor3D) => tf.Tensor3D;

/** The fast form's signature (with its own gradient). */
export const wkvOp = fastOp<Wkv>('wkv');

/**
 * w (decay rate, > 0) and u [C]; k, v [B, T, C] → wkv [B, T, C]; differentiable in all four. A stack of R runs
 * (engine/stack.ts): w, u [R, C], each run's examples (B/R, run-major) with their own (both forms take it).
 */
export function wkv(w: tf.Tensor1D | tf.Tensor2D, u: tf.Tensor1D | tf.Tensor2D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D {
  return (fastForm(wkvOp, tf.getBackend()) ?? wkvParallel)(w, u, k, v);
}
