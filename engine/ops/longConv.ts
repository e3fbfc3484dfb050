// Long causal depthwise convolution (BaseConv-long, H3, Hyena):
//   y[b, t, c] = Σ_{s≤t} h[c, s] · u[b, t − s, c]          (filter h [d, L] per channel)
// and its gradients, which are convolutions too:
//   ∂L/∂u[b, s, c] = Σ_{t≥s} h[c, t − s] · dy[b, t, c]        (anti-causal correlation with h)
//   ∂L/∂h[c, τ]    = Σ_b Σ_t dy[b, t, c] · u[b, t − τ, c]     (correlation of dy with u)
//
// Why not an FFT: tfjs's FFT is an O(N²) DFT with no gradients, and a radix-2 FFT written in tfjs ops costs
// ~10 elementwise kernels per stage (log₂ 2L stages, three transforms per conv) — hundreds of small memory-bound
// kernels where one matmul does the job. So this op is a *blocked Toeplitz matmul*: per channel, y = u·T with
// T[s, t] = h[t − s] (t ≥ s) the [L, L] upper-triangular Toeplitz matrix. Materialising T for every channel is
// d·L² floats (256·1024² = 1 GB), so time is cut into nC chunks of Bk steps and only the nC distinct Bk×Bk
// blocks are built: T_m[s, t] = h[m·Bk + t − s] (T_0 is triangular), d·L·Bk floats in all (d 256, L 1024,
// Bk 64: 16.8 M floats = 64 MB; the per-block tile that builds them is twice that, transiently). Then
//   forward:  Y_j = Σ_{i≤j} U_i T_{j−i}       one matmul per output chunk j over the (j+1)·Bk inputs it sees
//   ∂u:       dU_i = Σ_{j≥i} dY_j T_{j−i}ᵀ    one matmul per input chunk i
//   ∂T_m:     dT_m = Σ_i U_iᵀ dY_{i+m}         one matmul per lag m, contracting over (chunk, batch)
// and ∂h follows from ∂T by the adjoint of the block construction (stock tfjs gradients of slice/reshape/
// broadcast). Work: B·d·L²/2 multiply-adds per product, the same as the dense Toeplitz minus its zero half;
// peak extra memory per call: the blocks (d·L·Bk) plus one chunk's operands (≤ d·L·(B + Bk)).
// Exact fp32 sums (no FFT round-off). `longConvNaive` is the plain-tfjs reference (L shifted multiply-adds).
import * as tf from '@tensorflow/tfjs';
import { channelMatMul } from './channelMatMul.js';

/** Default block: the whole sequence when the dense [d, L, L] Toeplitz is small (≤ 4 M floats), else 64 steps. */
export function defaultLongConvChunk(seqLen: number, channels: number): number {
  if (seqLen * seqLen * channels <= 4 * 1024 * 1024) return seqLen;
  return Math.min(seqLen, 64);
}

/**
 * h [d, L] (L = nC·Bk) → Toeplitz blocks [d, nC, Bk, Bk], T_m[s, t] = h[m·Bk + t − s] (0 where the index < 0).
 * Built without gathers: v_m = [h[mBk … mBk+Bk−1], h[mBk−Bk+1 … mBk−1]] (length 2Bk−1), repeated Bk times and
 * re-read with row stride 2Bk−2, so row s is v_m rotated by s: element (s, t) = v_m[(t − s) mod (2Bk−1)].
 * Differentiable with stock tfjs (slice, pad, concat, broadcast-multiply, reshape).
 */
export function toeplitzBlocks(h: tf.Tensor2D, chunk: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [d, L] = h.shape;
    const Bk = chunk;
    if (L % Bk !== 0) throw new Error(`toeplitzBlocks: length ${L} is not a multiple of the chunk ${Bk}`);
    const nC = L / Bk;
    if (Bk === 1) return h.reshape([d, nC, 1, 1]) as tf.Tensor4D;
    const current = h.reshape([d, nC, Bk]); // h[mBk + k], k ∈ [0, Bk)
    const previous = tf // h[mBk − Bk + 1 + k], k ∈ [0, Bk−1): the tail of the previous block (zeros before t = 0)
      .pad(h, [
        [0, 0],
        [Bk - 1, 0],
      ])
      .slice([0, 0], [d, L])
      .reshape([d, nC, Bk])
      .slice([0, 0, 0], [d, nC, Bk - 1]);
    const v = tf.concat([current, previous], 2).reshape([d, nC, 1, 2 * Bk - 1]);
    const repeated = tf.mul(v, tf.ones([1, 1, Bk, 1])); // broadcast (a multiply, so its gradient is one sum)
    return repeated
      .reshape([d, nC, Bk * (2 * Bk - 1)])
      .slice([0, 0, 0], [d, nC, Bk * (2 * Bk - 2)])
      .reshape([d, nC, Bk, 2 * Bk - 2])
      .slice([0, 0, 0, 0], [d, nC, Bk, Bk]) as tf.Tensor4D;
  });
}

/** Y_jᵀ = Σ_{i≤j} T_{j−i}ᵀ U_iᵀ for every chunk j; uT [d, L, B] (time-major per channel) → [d, L, B]. */
function causalBlocks(uT: tf.Tensor3D, blocks: tf.Tensor4D): tf.Tensor3D {
  const [d, nC, Bk] = blocks.shape;
  const [, L, B] = uT.shape;
  // R = [T_{nC−1}; …; T_1; T_0] stacked along rows: its last (j+1)·Bk rows multiply u[0 … (j+1)·Bk).
  // (block order reversed by slices + concat: tfjs-wasm's Reverse kernel is ~15x slower than a transpose)
  const R = (nC === 1 ? blocks : tf.concat(Array.from({ length: nC }, (_, i) => blocks.slice([0, nC - 1 - i, 0, 0], [d, 1, Bk, Bk])), 1)).reshape([d, L, Bk]);
  const outs: tf.Tensor[] = [];
  for (let j = 0; j < nC; j++) {
    const K = (j + 1) * Bk;
    // a tidy per chunk frees its operand copies at once (the whole op otherwise runs inside one tidy)
    outs.push(tf.tidy(() => channelMatMul(R.slice([0, L - K, 0], [d, K, Bk]) as tf.Tensor3D, uT.slice([0, 0, 0], [d, K, B]), true, false))); // [d, Bk, B]
  }
  return (nC === 1 ? outs[0]! : tf.concat(outs, 1)) as tf.Tensor3D;
}

/** dU_iᵀ = Σ_{j≥i} T_{j−i} dY_jᵀ for every chunk i; dyT [d, L, B] → [d, L, B]. */
function antiCausalBlocks(dyT: tf.Tensor3D, blocks: tf.Tensor4D): tf.Tensor3D {
  const [d, nC, Bk] = blocks.shape;
  const [, L, B] = dyT.shape;
  // V = [T_0ᵀ; T_1ᵀ; …] stacked along rows: its first (nC−i)·Bk rows meet dy[i·Bk … L).
  const V = tf.transpose(blocks, [0, 1, 3, 2]).reshape([d, L, Bk]);
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < nC; i++) {
    const K = L - i * Bk;
    outs.push(tf.tidy(() => channelMatMul(V.slice([0, 0, 0], [d, K, Bk]) as tf.Tensor3D, dyT.slice([0, i * Bk, 0], [d, K, B]), true, false))); // [d, Bk, B]
  }
  return (nC === 1 ? outs[0]! : tf.concat(outs, 1)) as tf.Tensor3D;
}

/** dT_m = Σ_i U_iᵀ dY_{i+m} for every lag m (the correlation of dy with u, in blocks) → [d, nC, Bk, Bk]. */
function lagCorrelationBlocks(uT: tf.Tensor3D, dyT: tf.Tensor3D, chunk: number): tf.Tensor4D {
  const [d, L, B] = uT.shape;
  const Bk = chunk;
  const nC = L / Bk;
  // chunk-major layout [d, nC, B, Bk]: the chunks a lag pairs up are contiguous, batch and chunk contract together
  const U = tf.transpose(uT.reshape([d, nC, Bk, B]), [0, 1, 3, 2]);
  const DY = tf.transpose(dyT.reshape([d, nC, Bk, B]), [0, 1, 3, 2]);
  const outs: tf.Tensor[] = [];
  for (let m = 0; m < nC; m++) {
    const n = nC - m;
    outs.push(
      tf.tidy(() => {
        const Um = U.slice([0, 0, 0, 0], [d, n, B, Bk]).reshape([d, n * B, Bk]);
        const DYm = DY.slice([0, m, 0, 0], [d, n, B, Bk]).reshape([d, n * B, Bk]);
        return channelMatMul(Um as tf.Tensor3D, DYm as tf.Tensor3D, true, false); // [d, Bk, Bk]
      }),
    );
  }
  return tf.stack(outs, 1) as tf.Tensor4D;
}

/** The custom-gradient core: uT [d, L, B], blocks [d, nC, Bk, Bk] → yT [d, L, B]. */
const blockToeplitzConv = tf.customGrad(((uT: tf.Tensor3D, blocks: tf.Tensor4D, save: tf.GradSaveFunc) => {
  save([uT, blocks]);
  return {
    value: causalBlocks(uT, blocks),
    gradFunc: (dyT: tf.Tensor3D, saved: tf.Tensor[]) => {
      const [u, T] = saved as [tf.Tensor3D, tf.Tensor4D];
      return [antiCausalBlocks(dyT, T), lagCorrelationBlocks(u, dyT, T.shape[2])];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad<tf.Tensor3D>>[0]);

export interface LongConvOptions {
  /** Time block Bk (default: `defaultLongConvChunk`). The sequence is zero-padded to a multiple of it. */
  chunk?: number;
}

/**
 * Causal long convolution, u [B, T, d], h [d, Lh] with Lh ≥ T (only taps 0 … T−1 can reach an output) → [B, T, d].
 * Differentiable in u and h (custom gradient, see the top of this file).
 */
export function longConv(u: tf.Tensor3D, h: tf.Tensor2D, opts: LongConvOptions = {}): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, d] = u.shape;
    if (h.shape[0] !== d) throw new Error(`longConv: filter has ${h.shape[0]} channels, input ${d}`);
    if (h.shape[1] < T) throw new Error(`longConv: filter length ${h.shape[1]} < sequence length ${T}`);
    const Bk = Math.max(1, Math.min(T, Math.floor(opts.chunk ?? defaultLongConvChunk(T, d))));
    const nC = Math.ceil(T / Bk);
    const L = nC * Bk;
    // zero padding at the end is harmless for a causal conv: padded inputs only reach padded outputs
    let filter: tf.Tensor2D = h.shape[1] === T ? h : h.slice([0, 0], [d, T]);
    if (L > T) filter = tf.pad(filter, [
      [0, 0],
      [0, L - T],
    ]);
    let uT = tf.transpose(u, [2, 1, 0]) as tf.Tensor3D; // [d, T, B]
    if (L > T) uT = tf.pad(uT, [
      [0, 0],
      [0, L - T],
      [0, 0],
    ]);
    const yT = blockToeplitzConv(uT, toeplitzBlocks(filter, Bk));
    const y = L > T ? yT.slice([0, 0, 0], [d, T, B]) : yT;
    return tf.transpose(y, [2, 1, 0]) as tf.Tensor3D;
  });
}

/**
 * Non-causal circular convolution, y[t] = Σ_{s<T} h[c, s] · u[(t − s) mod T] (a long conv that wraps around:
 * the non-causal baseline of JRT). Computed as the causal conv of [u, u] read at positions T … 2T−1.
 */
export function circularLongConv(u: tf.Tensor3D, h: tf.Tensor2D, opts: LongConvOptions = {}): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, d] = u.shape;
    if (h.shape[1] < T) throw new Error(`circularLongConv: filter length ${h.shape[1]} < sequence length ${T}`);
    const taps = h.shape[1] === T ? h : h.slice([0, 0], [d, T]);
    const doubled = tf.concat([u, u], 1) as tf.Tensor3D;
    const filter = tf.pad(taps, [
      [0, 0],
      [0, T],
    ]) as tf.Tensor2D;
    return longConv(doubled, filter, opts).slice([0, T, 0], [B, T, d]) as tf.Tensor3D;
  });
}

/** Plain-tfjs reference: y = Σ_s h[:, s] ⊙ (u shifted right by s), T shifted multiply-adds (stock gradients). */
export function longConvNaive(u: tf.Tensor3D, h: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, d] = u.shape;
    let y: tf.Tensor = tf.mul(u, h.slice([0, 0], [d, 1]).reshape([d]));
    for (let s = 1; s < T; s++) {
      const shifted = tf.pad(u.slice([0, 0, 0], [B, T - s, d]), [
        [0, 0],
        [s, 0],
        [0, 0],
      ]);
      y = tf.add(y, tf.mul(shifted, h.slice([0, s], [d, 1]).reshape([d])));
    }
    return y as tf.Tensor3D;
  });
}

/**
 * Recurrent view of the long conv: the state is every past input, history [B, Lmax, d] (slot p holds u_p),
 * d·Lmax floats per example. Writes x [B, d] at `position` and returns y_p = Σ_{s≤p} h[:, s] ⊙ u_{p−s}.
 */
export function longConvStep(history: tf.Tensor3D, x: tf.Tensor2D, h: tf.Tensor2D, position: number): { y: tf.Tensor2D; history: tf.Tensor3D } {
  return tf.tidy(() => {
    const [B, Lmax, d] = history.shape;
    if (position >= Lmax) throw new Error(`longConvStep: position ${position} beyond the history (${Lmax})`);
    if (h.shape[1] < position + 1) throw new Error(`longConvStep: filter length ${h.shape[1]} < ${position + 1}`);
    const slot = tf.oneHot(tf.tensor1d([position], 'int32'), Lmax).reshape([1, Lmax, 1]);
    const next = tf.add(tf.mul(history, tf.sub(1, slot)), tf.mul(slot, x.reshape([B, 1, d]))) as tf.Tensor3D;
    // taps aligned with the slots: slot j (j ≤ p) meets h[:, p − j]; later slots meet 0
    const taps = tf.reverse(h.slice([0, 0], [d, position + 1]), 1);
    const aligned = tf.pad(tf.transpose(taps), [
      [0, Lmax - position - 1],
      [0, 0],
    ]); // [Lmax, d]
    const y = tf.sum(tf.mul(next, aligned), 1) as tf.Tensor2D;
    return { y, history: next };
  });
}
