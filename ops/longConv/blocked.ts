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
// blocks are built: T_m[s, t] = h[m·Bk + t − s] (T_0 is triangular), d·L·Bk floats (d 256, L 1024, Bk 64:
// 16.8 M floats = 64 MB), built from h by a gather or by reshapes. Then
//   forward:  Y_j = Σ_{i≤j} U_i T_{j−i}       one matmul per output chunk j over the (j+1)·Bk inputs it sees
//   ∂u:       dU_i = Σ_{j≥i} dY_j T_{j−i}ᵀ    one matmul per input chunk i
//   ∂T_m:     dT_m = Σ_i U_iᵀ dY_{i+m}         one matmul per lag m, contracting over (chunk, batch)
//   ∂h:       the adjoint of building the blocks: ∂h[c, τ] = Σ_{(m,s,t): m·Bk+t−s = τ} dT_m[c, s, t]   (one segment sum)
// Work: B·d·L²/2 multiply-adds per product, the dense Toeplitz minus its zero half. Memory beyond the inputs:
// one block table (d·L·Bk floats) in the forward, three in the backward (blocks, ∂T and its transpose), plus one
// chunk's operands (≤ d·L·(B + Bk)); measured peak for B 16, L 1024, d 256 in the report of this op's issue.
// Exact fp32 sums (no FFT round-off). `longConvNaive` (naive.ts) is the plain-tfjs reference (L shifted
// multiply-adds); longConvStep (step.ts) the recurrent view.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { channelMatMul } from './channelMatMul.js';

/** Default block: the whole sequence when the dense [d, L, L] Toeplitz is small (≤ 4 M floats), else 64 steps. */
export function defaultLongConvChunk(seqLen: number, channels: number): number {
  if (seqLen * seqLen * channels <= 4 * 1024 * 1024) return seqLen;
  return Math.min(seqLen, 64);
}

type BlockLayout = 'blocks' | 'stacked' | 'stackedTransposed';
const indexCache = new Map<string, Int32Array>();

/**
 * Index table into the left-padded filter hp[j] = h[j − (Bk − 1)] (hp[0 … Bk−2] = 0), so T_m[s, t] =
 * hp[m·Bk + t − s + Bk − 1] — always in range. Layouts (all flattened row-major):
 *   blocks             [nC, Bk(s), Bk(t)]       T_m in lag order (the layout of ∂T)
 *   stacked            [nC·Bk, Bk]              R = [T_{nC−1}; …; T_1; T_0]: rows L−(j+1)·Bk … L meet u[0, (j+1)·Bk)
 *   stackedTransposed  [nC·Bk, Bk]              V = [T_0ᵀ; T_1ᵀ; …]: rows 0 … (nC−i)·Bk meet dy[i·Bk, L)
 */
function blockIndex(L: number, Bk: number, layout: BlockLayout): Int32Array {
  const key = `${L}:${Bk}:${layout}`;
  let idx = indexCache.get(key);
  if (!idx) {
    const nC = L / Bk;
    idx = new Int32Array(L * Bk);
    let n = 0;
    for (let i = 0; i < nC; i++)
      for (let a = 0; a < Bk; a++)
        for (let b = 0; b < Bk; b++) {
          // (m, s, t) of the element written at position (i, a, b)
          const [m, s2, t2] = layout === 'blocks' ? [i, a, b] : layout === 'stacked' ? [nC - 1 - i, a, b] : [i, b, a];
          idx[n++] = m * Bk + t2 - s2 + Bk - 1;
        }
    indexCache.set(key, idx);
  }
  return idx;
}

/**
 * The Toeplitz blocks of h [d, L] (L a multiple of Bk) in a layout: [d, nC, Bk, Bk], or [d, L, Bk] stacked.
 * Two builders, same values: `gather` (one kernel with the index table: fast on webgpu) and `skew` (copies and
 * reshapes: tfjs-wasm's gather moves ~35 ns per element, 10–80 ms a table at d 64–128; on tfjs-cpu it is the other way
 * round: its strided slice reads element by element, skew 1.7–3.4 s a table at d 64–128, L 128, gather 60–115 ms). `skew` builds
 * v_m = [h[mBk … mBk+Bk−1], h[mBk−Bk+1 … mBk−1]] (length M = 2Bk−1), repeats it Bk times and re-reads it with
 * row stride M − 1, so that element (s, t) = v_m[(t − s) mod M]. Default: skew on wasm, gather elsewhere.
 */
export function toeplitzBlocks(h: tf.Tensor2D, chunk: number, layout: BlockLayout = 'blocks', builder?: 'gather' | 'skew'): tf.Tensor {
  return tf.tidy(() => {
    const [d, L] = h.shape;
    const Bk = chunk;
    if (L % Bk !== 0) throw new Error(`toeplitzBlocks: length ${L} is not a multiple of the chunk ${Bk}`);
    const nC = L / Bk;
    const hp = tf.pad(h, [
      [0, 0],
      [Bk - 1, 0],
    ]); // hp[j] = h[j − (Bk − 1)], zeros before t = 0
    if ((builder ?? (tf.getBackend() === 'wasm' ? 'skew' : 'gather')) === 'gather') {
      const table = tf.gather(hp, tf.tensor1d(blockIndex(L, Bk, layout), 'int32'), 1); // [d, L·Bk]
      return layout === 'blocks' ? table.reshape([d, nC, Bk, Bk]) : table.reshape([d, L, Bk]);
    }
    if (Bk === 1) return layout === 'blocks' ? h.reshape([d, nC, 1, 1]) : (layout === 'stacked' ? tf.reverse(h, 1) : h).reshape([d, L, 1]);
    const current = h.reshape([d, nC, Bk]);
    const previous = hp.slice([0, 0], [d, L]).reshape([d, nC, Bk]).slice([0, 0, 0], [d, nC, Bk - 1]);
    let v = tf.concat([current, previous], 2); // [d, nC, 2Bk−1], small
    if (layout === 'stacked' && nC > 1) v = tf.reverse(v, 1); // R lists the blocks last to first
    const M = 2 * Bk - 1;
    const blocks = tf
      .mul(v.reshape([d, nC, 1, M]), tf.ones([1, 1, Bk, 1])) // Bk copies
      .reshape([d, nC, Bk * M])
      .slice([0, 0, 0], [d, nC, Bk * (M - 1)])
      .reshape([d, nC, Bk, M - 1])
      .slice([0, 0, 0, 0], [d, nC, Bk, Bk]);
    if (layout === 'blocks') return blocks;
    if (layout === 'stacked') return blocks.reshape([d, L, Bk]);
    return tf.transpose(blocks, [0, 1, 3, 2]).reshape([d, L, Bk]);
  });
}

/** The adjoint of building the blocks (of the gather): ∂T [d, nC, Bk, Bk] (lag order) → ∂h [d, L], summing every entry into its tap. */
function blocksToFilterGrad(dT: tf.Tensor4D): tf.Tensor2D {
  const [d, nC, Bk] = dT.shape;
  const L = nC * Bk;
  const rows = tf.transpose(dT.reshape([d, L * Bk])); // [L·Bk, d]: segment sums run over the leading axis
  const summed = tf.unsortedSegmentSum(rows, tf.tensor1d(blockIndex(L, Bk, 'blocks'), 'int32'), L + Bk - 1); // [L+Bk−1, d]
  return tf.transpose(summed.slice([Bk - 1, 0], [L, d])) as tf.Tensor2D; // drop the zero padding's slots
}

/** Y_jᵀ = Σ_{i≤j} T_{j−i}ᵀ U_iᵀ for every chunk j; uT [d, L, B] (time-major per channel), R stacked → [d, L, B]. */
function causalBlocks(uT: tf.Tensor3D, R: tf.Tensor3D, Bk: number): tf.Tensor3D {
  const [d, L, B] = uT.shape;
  const nC = L / Bk;
  const outs: tf.Tensor[] = [];
  for (let j = 0; j < nC; j++) {
    const K = (j + 1) * Bk;
    // a tidy per chunk frees its operand copies at once (the whole op otherwise runs inside one tidy)
    outs.push(tf.tidy(() => channelMatMul(R.slice([0, L - K, 0], [d, K, Bk]), uT.slice([0, 0, 0], [d, K, B]), true, false))); // [d, Bk, B]
  }
  return (nC === 1 ? outs[0]! : tf.concat(outs, 1)) as tf.Tensor3D;
}

/** dU_iᵀ = Σ_{j≥i} T_{j−i} dY_jᵀ for every chunk i; dyT [d, L, B], V stacked transposed → [d, L, B]. */
function antiCausalBlocks(dyT: tf.Tensor3D, V: tf.Tensor3D, Bk: number): tf.Tensor3D {
  const [d, L, B] = dyT.shape;
  const nC = L / Bk;
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < nC; i++) {
    const K = L - i * Bk;
    outs.push(tf.tidy(() => channelMatMul(V.slice([0, 0, 0], [d, K, Bk]), dyT.slice([0, i * Bk, 0], [d, K, B]), true, false))); // [d, Bk, B]
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

/** The custom-gradient core for one block size: uT [d, L, B], h [d, L] (L a multiple of Bk) → yT [d, L, B]. */
const coreCache = new Map<number, (uT: tf.Tensor3D, h: tf.Tensor2D) => tf.Tensor3D>();
function blockToeplitzConv(chunk: number): (uT: tf.Tensor3D, h: tf.Tensor2D) => tf.Tensor3D {
  let op = coreCache.get(chunk);
  if (!op) {
    op = tf.customGrad(((uT: tf.Tensor3D, h: tf.Tensor2D, save: tf.GradSaveFunc) => {
      save([uT, h]);
      return {
        value: causalBlocks(uT, toeplitzBlocks(h, chunk, 'stacked') as tf.Tensor3D, chunk),
        gradFunc: (dyT: tf.Tensor3D, saved: tf.Tensor[]) => {
          const [u, filter] = saved as [tf.Tensor3D, tf.Tensor2D];
          const du = antiCausalBlocks(dyT, toeplitzBlocks(filter, chunk, 'stackedTransposed') as tf.Tensor3D, chunk);
          return [du, blocksToFilterGrad(lagCorrelationBlocks(u, dyT, chunk))];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad<tf.Tensor3D>>[0]) as unknown as (uT: tf.Tensor3D, h: tf.Tensor2D) => tf.Tensor3D;
    coreCache.set(chunk, op);
  }
  return op;
}

export interface LongConvOptions {
  /** Time block Bk (default: `defaultLongConvChunk`). The sequence is zero-padded to a multiple of it. */
  chunk?: number;
}

/**
 * The key of longConv's fast form (accel/webgpu/longConv.ts: a direct convolution, one dispatch forward, two
 * backward): u [B, T, d], h [d, Lh] → y (Lh < T: zero beyond its taps), or undefined where it declines (then the
 * blocked form runs). The
 * blocked form's `chunk` is only its tiling, so the fast form does not see it.
 */
export const longConvOp = fastOp<(u: tf.Tensor3D, h: tf.Tensor2D | tf.Tensor3D) => tf.Tensor3D | undefined>('longConv');

/**
 * Causal long convolution, u [B, T, d], h [d, Lh] → [B, T, d]: only taps 0 … T−1 can reach an output, and a filter of
 * Lh < T taps is zero beyond them (an FIR: H3's shift SSM), which a backend's fast form may run as a short convolution.
 * Differentiable in u and h (custom gradient, see the top of this file). A backend's fast form (longConvOp) runs in
 * place of the blocked matmuls while its lever is on. A stack of R runs (engine/stack.ts): h [R, d, Lh], u's examples
 * runs outermost — the fast form takes the run axis; the blocked form convolves each run's examples with its filter.
 */
export function longConv(u: tf.Tensor3D, h: tf.Tensor2D | tf.Tensor3D, opts: LongConvOptions = {}): tf.Tensor3D {
  const r = h.rank;
  if (h.shape[r - 2] !== u.shape[2]) throw new Error(`longConv: filter has ${h.shape[r - 2]} channels, input ${u.shape[2]}`);
  if (h.shape[r - 1]! < 1) throw new Error(`longConv: a filter of no taps`);
  const fast = fastForm(longConvOp, tf.getBackend())?.(u, h);
  if (fast) return fast;
  if (r === 3) {
    const runs = h.shape[0]!;
    if (u.shape[0] % runs !== 0) throw new Error(`longConv: ${runs} runs' filters for ${u.shape[0]} examples`);
    return tf.tidy(() => tf.concat(tf.split(u, runs, 0).map((part, k) => longConv(part as tf.Tensor3D, tf.squeeze(h.slice([k, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D, opts)), 0) as tf.Tensor3D);
  }
  return tf.tidy(() => {
    const [B, T, d] = u.shape;
    const Bk = Math.max(1, Math.min(T, Math.floor(opts.chunk ?? defaultLongConvChunk(T, d))));
    const nC = Math.ceil(T / Bk);
    const L = nC * Bk;
    // zero padding at the end is harmless for a causal conv: padded inputs only reach padded outputs
    const h2 = h as tf.Tensor2D; // one run (a stack's filters went per run above)
    // the filter as L taps: cut at T (later taps reach no output), zeros past a short filter's taps and past T
    const taps = Math.min(h2.shape[1], T);
    let filter: tf.Tensor2D = h2.shape[1] === taps ? h2 : h2.slice([0, 0], [d, taps]);
    if (L > taps) filter = tf.pad(filter, [
      [0, 0],
      [0, L - taps],
    ]);
    let uT = tf.transpose(u, [2, 1, 0]) as tf.Tensor3D; // [d, T, B]
    if (L > T) uT = tf.pad(uT, [
      [0, 0],
      [0, L - T],
      [0, 0],
    ]);
    const yT = blockToeplitzConv(Bk)(uT, filter);
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
