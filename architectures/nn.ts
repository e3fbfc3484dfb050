// The shared layers of the mixers, one copy each: built-in mixers import them from here, plugins get them as
// `nn` in their factory ({ tf, z, defineMixer, nn, dropout }). Linear layers come from the parameter factory
// (`make.linear`), dropout is the project's (ops/dropout/).
//
//   silu(x)             = x · σ(x)
//   rmsNorm(x, w?, eps) = x / √(mean(x²) + eps) ⊙ w            over the last axis (eps 1e-5, fla / mamba_ssm)
//   splitHeads(x, H)    : [B, T, H·w] → [B, H, T, w]
//   mergeHeads(x)       : [B, H, T, w] → [B, T, H·w]
//   shortConv(x, w, b)  : depthwise causal conv over time (k taps); shortConvStep its recurrent view
//   mulByRun(x, w), addByRun(x, b) : a stack's per-channel parameter [R, d] on each run's rows of x [R·B, ..., d]
//                       (engine/stack.ts: what a mixer declaring `stackable` uses for its own parameters)
import * as tf from '@tensorflow/tfjs';

export { addByRun, mulByRun } from '../ops/shared/runAxis.js';

export { shortConv, shortConvStep } from '../ops/shortConv/index.js';
/** RMSNorm over the last axis: x / √(mean(x²) + eps) ⊙ weight (ops/rmsNorm: one op with engine/model.ts's pre-norm). */
export { rmsNorm } from '../ops/rmsNorm/index.js';

/** SiLU (swish): x · σ(x). */
export { silu, siluGate } from '../ops/silu/index.js';

/** x [B, T, H·w] → per-head [B, H, T, w], or [B, T, H, w] (`timeFirst`: a reshape, for ops told their layout). */
export function splitHeads(x: tf.Tensor, H: number, timeFirst = false): tf.Tensor4D {
  const [B, T, width] = x.shape as [number, number, number];
  if (width % H !== 0) throw new Error(`splitHeads: width ${width} is not divisible by ${H} heads`);
  const heads = x.reshape([B, T, H, width / H]);
  return (timeFirst ? heads : heads.transpose([0, 2, 1, 3])) as tf.Tensor4D;
}

/** Per-head x [B, H, T, w] → [B, T, H·w]. */
export function mergeHeads(x: tf.Tensor): tf.Tensor3D {
  const [B, H, T, w] = x.shape as [number, number, number, number];
  return x.transpose([0, 2, 1, 3]).reshape([B, T, H * w]) as tf.Tensor3D;
}
