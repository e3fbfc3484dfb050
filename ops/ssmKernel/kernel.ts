// S4D: a diagonal state-space model per channel, its convolution kernel and its recurrent step (H3's diagonal
// SSM; zoology/mixers/h3/ss_kernel_diag.py, S4D-Lin init, bilinear discretisation). With n = N/2 complex modes
// (the other half are their conjugates, hence the 2·Re):
//   continuous   x' = A x + B u,  y = 2·Re(C x),  A = −exp(logNegAReal) + i·aImag (diagonal), B = 1
//   bilinear     dA = (1 + Δ·A/2) / (1 − Δ·A/2),   dB = Δ / (1 − Δ·A/2),   Δ = exp(logDt)
//   recurrence   s_t = dA ⊙ s_{t−1} + dB · u_t,    y_t = 2·Re(Σ_n C_n s_t,n)          (N real floats per channel)
//   kernel       K[l] = 2·Re(Σ_n C_n dB_n dA_n^l)  (Vandermonde), so y = K ∗ u
// Init (S4D-Lin): A_n = −1/2 + iπn, C ~ CN(0, 1) (each part N(0, 1/2)), Δ log-uniform in [dtMin, dtMax].
// zoology also learns B; only the products C·B enter the kernel and the step, so B is folded into C here
// (same function class, d·N/2 fewer complex parameters).
// Everything is real arithmetic on (re, im) pairs: tfjs has no gradients for complex ops. dA^l is
// exp(l·log|dA|)·(cos lθ, sin lθ) with θ = arg dA, so the kernel costs H·n·L floats per intermediate.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import type { ParamFactory, Variable } from '../../core/types.js';

export interface S4DParams {
  /** log Δ [H] */
  logDt: Variable;
  /** log(−Re A) [H, n] */
  logNegAReal: Variable;
  /** Im A [H, n] */
  aImag: Variable;
  /** C [H, n] (real and imaginary parts) */
  cRe: Variable;
  cIm: Variable;
}

/** S4D-Lin parameters for H channels with state size N (N even: n = N/2 complex modes). */
export function s4dParams(make: ParamFactory, prefix: string, H: number, N: number, opts: { dtMin?: number; dtMax?: number } = {}): S4DParams {
  if (N < 2 || N % 2 !== 0) throw new Error(`S4D: state size must be even and ≥ 2, got ${N}`);
  const n = N / 2;
  const { dtMin = 1e-3, dtMax = 1e-1 } = opts;
  const dtSeed = make.seed();
  const reSeed = make.seed();
  const imSeed = make.seed();
  return {
    logDt: make.param(`${prefix}.log_dt`, [H], (t) => t.randomUniform([H], Math.log(dtMin), Math.log(dtMax), 'float32', dtSeed)),
    logNegAReal: make.param(`${prefix}.log_neg_A_real`, [H, n], (t) => t.fill([H, n], Math.log(0.5))),
    aImag: make.param(`${prefix}.A_imag`, [H, n], (t) => t.tile(t.mul(t.range(0, n, 1, 'float32'), Math.PI).reshape([1, n]), [H, 1])),
    cRe: make.param(`${prefix}.C_re`, [H, n], (t) => t.randomNormal([H, n], 0, Math.SQRT1_2, 'float32', reSeed)),
    cIm: make.param(`${prefix}.C_im`, [H, n], (t) => t.randomNormal([H, n], 0, Math.SQRT1_2, 'float32', imSeed)),
  };
}

export interface S4DDiscrete {
  /** dA [H, n] */
  aRe: tf.Tensor2D;
  aIm: tf.Tensor2D;
  /** C ⊙ dB [H, n]: the output weights of the recurrence with dB folded in (s_t = dA s + u, y = 2·Re(W s)) */
  wRe: tf.Tensor2D;
  wIm: tf.Tensor2D;
}

/** Bilinear discretisation; returns dA and W = C·dB (the step and the kernel both use exactly these). */
export function s4dDiscretize(p: S4DParams): S4DDiscrete {
  return tf.tidy(() => {
    const dt = tf.exp(p.logDt).reshape([-1, 1]);
    const a = tf.mul(tf.neg(tf.exp(p.logNegAReal)), dt); // Re(Δ·A) < 0
    const b = tf.mul(p.aImag, dt); // Im(Δ·A)
    // den = 1 − Δ·A/2 = (1 − a/2) − i·b/2; |den|² = (1 − a/2)² + b²/4
    const denRe = tf.sub(1, tf.mul(a, 0.5));
    const denIm = tf.mul(b, -0.5);
    const den2 = tf.add(tf.square(denRe), tf.square(denIm));
    // dA = (1 + Δ·A/2)/den = ((1 − (a² + b²)/4) + i·b) / |den|²
    const aRe = tf.div(tf.sub(1, tf.mul(tf.add(tf.square(a), tf.square(b)), 0.25)), den2) as tf.Tensor2D;
    const aIm = tf.div(b, den2) as tf.Tensor2D;
    // dB = Δ/den = Δ·conj(den)/|den|²
    const bRe = tf.div(tf.mul(dt, denRe), den2);
    const bIm = tf.div(tf.mul(dt, tf.neg(denIm)), den2);
    // W = C·dB
    const wRe = tf.sub(tf.mul(p.cRe, bRe), tf.mul(p.cIm, bIm)) as tf.Tensor2D;
    const wIm = tf.add(tf.mul(p.cRe, bIm), tf.mul(p.cIm, bRe)) as tf.Tensor2D;
    return { aRe, aIm, wRe, wIm };
  });
}

/** The fast form's signature (with its own gradient in every parameter); undefined: declined, the tfjs form runs. */
export const s4dKernelOp = fastOp<(p: S4DParams, L: number) => tf.Tensor2D | undefined>('s4dKernel');

/**
 * Convolution kernel K [H, L], K[h, l] = 2·Re(Σ_n W[h, n]·dA[h, n]^l): a backend's fused form while its lever is on
 * (accel/webgpu/s4dKernel.ts: the discretisation and the Vandermonde product in one dispatch, its gradient in two),
 * else s4dKernelVandermonde.
 */
export function s4dKernel(p: S4DParams, L: number): tf.Tensor2D {
  return fastForm(s4dKernelOp, tf.getBackend())?.(p, L) ?? s4dKernelVandermonde(p, L);
}

/** K [H, L] in tfjs ops: s4dDiscretize, then the Vandermonde product over the modes (the reference of the fused form). */
export function s4dKernelVandermonde(p: S4DParams, L: number): tf.Tensor2D {
  return tf.tidy(() => {
    const { aRe, aIm, wRe, wIm } = s4dDiscretize(p);
    const [H, n] = aRe.shape;
    const logR = tf.mul(tf.log(tf.add(tf.square(aRe), tf.square(aIm))), 0.5).reshape([H, n, 1]); // log|dA| < 0
    const theta = tf.atan2(aIm, aRe).reshape([H, n, 1]); // arg dA
    const l = tf.range(0, L, 1, 'float32').reshape([1, 1, L]);
    const magnitude = tf.exp(tf.mul(logR, l)); // |dA|^l
    const angle = tf.mul(theta, l);
    const powRe = tf.mul(magnitude, tf.cos(angle)); // Re dA^l  [H, n, L]
    const powIm = tf.mul(magnitude, tf.sin(angle)); // Im dA^l
    // Re(W·dA^l) = W_re·Re − W_im·Im, summed over modes by a batched [1, n]×[n, L] product per channel
    const k = tf.sub(tf.matMul(wRe.reshape([H, 1, n]), powRe), tf.matMul(wIm.reshape([H, 1, n]), powIm));
    return tf.mul(k.reshape([H, L]), 2) as tf.Tensor2D;
  });
}
