// Fused gated linear attention (WebGPU), forward and backward, with its own gradient: the fast form of
// ops/gatedLinearAttention. Per head, state S [d_k, d_v] (S_{−1} = 0), a forget gate per key channel, α_t = exp(g_t):
//
//   forward   S_t = diag(α_t) S_{t−1} + k_t v_tᵀ,   o_t = S_tᵀ q_t
//
// the recurrence of ops/gatedLinearAttention/step.ts. As in deltaRule.ts, each column j of S (one value channel)
// evolves on its own given q, k, α: one thread per (batch·head, column) holds its column (d_k floats, a private
// array of CAP ≥ d_k baked into the pipeline key) and walks time; o_t is a reduction over d_k inside the thread.
// One dispatch forward, where the chunked form (chunk.ts) takes some 330 a training step at zoology's d 128 — its
// step was host-bound on an H200 (16.0 ms against attention's 4.1, bench/RESULTS.md 2026-11-30).
//
// Backward, per column, reverse time, with dS carried the same way (dS_T = 0):
//   dS_t += q_t do_t;   dv_t = dS_tᵀ k_t;   dq_t = S_t do_t;   dk_t = dS_t v_t;   dα_t = (dS_t ⊙ S_{t−1}) 1,
//   dg_t = α_t ⊙ dα_t;   dS_{t−1} = diag(α_t) dS_t
// dv is per column; dq, dk, dg (d_k each) are sums over the columns: the threads of one workgroup are COLS columns
// of one head, each writes its 3·d_k terms into a workgroup tile and the tile is summed per row (two barriers per
// step); a head wider than COLS columns leaves one partial per column block, summed by tfjs. S_{t−1} and S_t are
// recomputed, not stored: the forward keeps a checkpoint of S every C = ⌈√T⌉ steps and the backward, chunk by chunk
// from the end, replays the chunk from its checkpoint into a scratch buffer (C states per column) and walks it back —
// deltaRule.ts says why (memory linear in T otherwise; inverting the step would divide by a vanishing α).
// Every shape is a uniform; the key names only CAP and COLS. Reference: glaNaive (ops/gatedLinearAttention/naive.ts).
// Lever `stridedHeads` (heads.ts): q, k, v, g read and o written in the layouts the caller names — GLA hands over its
// projections as they come, [B, T, H, ·], and takes o the same way — instead of transposed around the kernels.
import * as tf from '@tensorflow/tfjs';
import { UserInputError } from '../../core/errors.js';
import { headDims, headShape, OPS_LAYOUT, type HeadLayout, type HeadLayouts } from '../../ops/shared/heads.js';
import { inLayouts, layoutAttrs, layoutKey, layoutsOf, layoutUniforms, layoutValues, outRow, perLayouts, rowOf } from './heads.js';
import { allocate, checkpointInterval, checkpointShape, checkpointStore, chunkReplay, columnBlockSums, columnGradsSize, declare, dispatch, fitsDevice, grid, pow2AtLeast, release, splitColumnGrads, swizzleFn, swizzleKey, webgpuBackend } from './dispatch.js';

export const GLA_KERNEL = 'RecallbenchGla';
export const GLA_GRAD_KERNEL = 'RecallbenchGlaGrad';

const WG = 64;
/** Floats of workgroup memory the backward's tile may use (WebGPU's guaranteed 16 KiB). */
const TILE_FLOATS = 4096;
/** Largest d_k handled (two private arrays of CAP floats a backward thread: deltaRule.ts's DELTA_MAX_DK says why). */
export const GLA_MAX_DK = 512;

/** Private column capacity and backward columns per workgroup for d_k, at most as many columns as d_v needs. */
export function tiling(dk: number, dv: number): { CAP: number; COLS: number } {
  const CAP = pow2AtLeast(dk);
  const COLS = Math.min(64, pow2AtLeast(dv), 2 ** Math.floor(Math.log2(TILE_FLOATS / (3 * CAP))));
  return { CAP, COLS };
}

const forwardWgsl = (CAP: number, L: HeadLayouts) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'g', type: 'f32' },
    { name: 'o', type: 'f32', write: true },
    { name: 'ckpt', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'dk: u32', 'dv: u32', 'C: u32', ...layoutUniforms(L)],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let dk = params.dk;
  let bh = lane / params.dv;
  let j = lane % params.dv;
  var s: array<f32, ${CAP}>;  // column j of S (zero-initialised)
  for (var t = 0u; t < params.T; t++) {
${checkpointStore({ state: 's', rows: 'dk' })}
    let row = ${rowOf(L.input, 'bh', 't')};
    let kb = row * dk;
    let vj = v[row * params.dv + j];
    var out = 0.0f;
    for (var i = 0u; i < dk; i++) {
      let si = exp(g[kb + i]) * s[i] + k[kb + i] * vj;
      s[i] = si;
      out += q[kb + i] * si;
    }
    o[${outRow(L)} * params.dv + j] = out;
  }
}`;

// grads = [dv (rows·d_v) ; partials (blocks, rows, R = 3·d_k: dq, dk, dg)]
const backwardWgsl = (CAP: number, COLS: number, L: HeadLayouts) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'g', type: 'f32' },
    { name: 'dO', type: 'f32' },
    { name: 'ckpt', type: 'f32' },
    { name: 'grads', type: 'f32', write: true },
    { name: 'scratch', type: 'f32', write: true },
  ],
  ['lanes: u32', 'rows: u32', 'T: u32', 'dk: u32', 'dv: u32', 'C: u32', 'blocks: u32', 'groups: u32', ...layoutUniforms(L)],
)}
var<workgroup> red: array<f32, ${3 * CAP * COLS}>;
${swizzleFn('redAt', COLS)}
@compute @workgroup_size(${COLS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let dk = params.dk;
  let R = 3u * dk;
  let bh = w / params.blocks;
  let blk = w % params.blocks;
  let j = blk * ${COLS}u + tid;
  let valid = j < params.dv;
  let lane = bh * params.dv + j;
  let partBase = params.rows * params.dv + blk * params.rows * R;
  var ds: array<f32, ${CAP}>;  // dL/dS_t, column j
  var sp: array<f32, ${CAP}>;  // the replay's state
${chunkReplay({ state: 'sp', rows: 'dk' })}
        let row = ${rowOf(L.input, 'bh', 't')};
        let kb = row * dk;
        let vj = v[row * params.dv + j];
        for (var i = 0u; i < dk; i++) { sp[i] = exp(g[kb + i]) * sp[i] + k[kb + i] * vj; }
      }
    }
    for (var tt = t1; tt > t0; tt--) {
      let t = tt - 1u;
      let row = ${rowOf(L.input, 'bh', 't')};
      if (valid) {
        let kb = row * dk;
        let sb = (t - t0) * dk;
        let dout = dO[${outRow(L)} * params.dv + j];
        let vj = v[row * params.dv + j];
        var dvj = 0.0f;
        for (var i = 0u; i < dk; i++) {
          let spi = scratch[(sb + i) * params.lanes + lane];  // S_{t−1}
          let ai = exp(g[kb + i]);
          let ki = k[kb + i];
          let dsi = ds[i] + q[kb + i] * dout;  // dL/dS_t
          dvj += ki * dsi;
          red[redAt(i, tid)] = (ai * spi + ki * vj) * dout;  // dq: S_t do_t
          red[redAt(dk + i, tid)] = dsi * vj;  // dk: dS_t v_t
          red[redAt(2u * dk + i, tid)] = ai * spi * dsi;  // dg = α dα, dα = dS_t ⊙ S_{t−1}
          ds[i] = ai * dsi;
        }
        grads[row * params.dv + j] = dvj;
${columnBlockSums(COLS)}
    }
  }
}`;

interface Sizes {
  B: number;
  H: number;
  T: number;
  dk: number;
  dv: number;
}

function sizes(q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo, g: tf.TensorInfo, input: HeadLayout): Sizes {
  if (q.shape.length !== 4 || v.shape.length !== 4) throw new Error(`${GLA_KERNEL}: expected q, k, g [·, ·, ·, d_k], v [·, ·, ·, d_v] (${input}), got q [${q.shape}] v [${v.shape}]`);
  const { B, H, T } = headDims(q.shape, input);
  const dk = q.shape[3]!;
  const dv = v.shape[3]!;
  if (k.shape.join() !== q.shape.join() || g.shape.join() !== q.shape.join() || v.shape.slice(0, 3).join() !== q.shape.slice(0, 3).join()) throw new Error(`${GLA_KERNEL}: q [${q.shape}], k [${k.shape}], v [${v.shape}], g [${g.shape}] do not match`);
  if (dk > GLA_MAX_DK) throw new Error(`${GLA_KERNEL}: d_k ${dk} > ${GLA_MAX_DK}`);
  return { B, H, T, dk, dv };
}

/** Floats of the backward's output buffer (dv, then the column blocks' partials of dq, dk, dg). */
export const gradsSize = (rows: number, dk: number, dv: number) => columnGradsSize(rows, dv, 3 * dk, tiling(dk, dv).COLS);

let registered = false;

export function registerGlaWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: GLA_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v, g } = inputs as Record<string, tf.TensorInfo>;
      const L = layoutsOf(attrs);
      const { B, H, T, dk, dv } = sizes(q!, k!, v!, g!, L.input);
      const { CAP } = tiling(dk, dv);
      const lanes = B * H * dv;
      const backend = webgpuBackend();
      const o = allocate(backend, headShape(L.output, B, H, T, dv));
      const ckpt = allocate(backend, checkpointShape(T, dk, lanes));
      dispatch(
        'Gla',
        `rb_gla_fwd_${CAP}${layoutKey(L)}`,
        forwardWgsl(CAP, L),
        [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: g! }, { tensor: o, write: true }, { tensor: ckpt, write: true }],
        [{ u: lanes }, { u: T }, { u: dk }, { u: dv }, { u: checkpointInterval(T) }, ...layoutValues(L, B, H)],
        grid(Math.ceil(lanes / WG)),
      );
      return [o, ckpt];
    },
  });
  tf.registerKernel({
    kernelName: GLA_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v, g, dO, ckpt } = inputs as Record<string, tf.TensorInfo>;
      const L = layoutsOf(attrs);
      const { B, H, T, dk, dv } = sizes(q!, k!, v!, g!, L.input);
      const { CAP, COLS } = tiling(dk, dv);
      const C = checkpointInterval(T);
      const rows = B * H * T;
      const blocks = Math.ceil(dv / COLS);
      const groups = B * H * blocks;
      const backend = webgpuBackend();
      const grads = allocate(backend, [gradsSize(rows, dk, dv)]);
      const scratch = allocate(backend, [C, dk, B * H * dv]);
      dispatch(
        'GlaGrad',
        `rb_gla_bwd_${CAP}_${COLS}${swizzleKey()}${layoutKey(L)}`,
        backwardWgsl(CAP, COLS, L),
        [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: g! }, { tensor: dO! }, { tensor: ckpt! }, { tensor: grads, write: true }, { tensor: scratch, write: true }],
        [{ u: B * H * dv }, { u: rows }, { u: T }, { u: dk }, { u: dv }, { u: C }, { u: blocks }, { u: groups }, ...layoutValues(L, B, H)],
        grid(groups),
      );
      release(scratch);
      return grads;
    },
  });
}

/** Split the backward's one buffer into dq, dk, dv and dg (the partials of the column blocks summed), in the inputs' layout (lead: their first three axes). */
function splitGrads(grads: tf.Tensor, s: Sizes, lead: number[]): tf.Tensor[] {
  const { B, H, T, dk, dv } = s;
  const rows = B * H * T;
  const { dV, terms } = splitColumnGrads(grads, rows, dv, 3 * dk, tiling(dk, dv).COLS);
  const [dQ, dK, dG] = tf.split(terms.reshape([...lead, 3 * dk]), 3, 3);
  return [dQ!, dK!, dV.reshape([...lead, dv]), dG!];
}

type Fused = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, g: tf.Tensor) => tf.Tensor;

/** The kernels with their gradient, for one pair of layouts. */
function withGrad(L: HeadLayouts): Fused {
  const attrs = layoutAttrs(L);
  return tf.customGrad(((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, g: tf.Tensor, save: tf.GradSaveFunc) => {
    const [o, ckpt] = tf.engine().runKernel(GLA_KERNEL, { q, k, v, g }, attrs) as unknown as [tf.Tensor, tf.Tensor];
    save([q, k, v, g, ckpt]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sg, sckpt] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const grads = tf.engine().runKernel(GLA_GRAD_KERNEL, { q: sq, k: sk, v: sv, g: sg, dO: dy, ckpt: sckpt }, attrs) as tf.Tensor;
        return splitGrads(grads, sizes(sq, sk, sv, sg, L.input), sq.shape.slice(0, 3));
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Fused;
}
const fusedFor = perLayouts(withGrad);

/**
 * Gated linear attention, fused (the fast form of ops/gatedLinearAttention): q, k, g [·, ·, ·, d_k] (q scaled, g ≤ 0
 * the log forget gate), v [·, ·, ·, d_v] in layouts.input → o [·, ·, ·, d_v] in layouts.output ([B, H, T, ·] both by
 * default); undefined (declined: the op runs its chunked form) past d_k = GLA_MAX_DK or past the device's buffer
 * limits. Lever stridedHeads off, the heads move by transposes around the kernels in [B, H, T, ·] (heads.ts).
 */
export function glaWebGpu(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, g: tf.Tensor4D, layouts: HeadLayouts = OPS_LAYOUT): tf.Tensor4D | undefined {
  if (!fits(q, v, layouts.input)) return undefined;
  return inLayouts(layouts, [q, k, v, g], fusedFor) as tf.Tensor4D;
}

/**
 * Largest d_k the gla op runs fused by default (lever gla; glaWebGpu itself takes up to GLA_MAX_DK). A thread's
 * column lives in a private array that spills to local memory as d_k grows: at d_k 16 (GLA at d 128) the fused step
 * was 1.62x faster than the chunked one on an H200, but Mamba-2's SSD through the same kernel at N 128 was 11x
 * slower (bench/RESULTS.md "GLA fused, and the B256 host wait, 2026-11-30"). Between them nothing is measured: 32
 * is GPU ≡ CPU checked (d 256) and keeps the backward's two columns at 64 floats.
 */
export const GLA_FAST_MAX_DK = 32;

/**
 * The bound in force: GLA_FAST_MAX_DK, or RECALLBENCH_GLA_FAST_MAX_DK when set (a benchmark timing the kernel past
 * it): a whole number ≥ 0, else a one-line error naming the variable — a typo must not time the wrong form.
 */
export function glaFastMaxDk(): number {
  const raw = typeof process !== 'undefined' ? process.env.RECALLBENCH_GLA_FAST_MAX_DK : undefined;
  if (raw === undefined || raw === '') return GLA_FAST_MAX_DK;
  if (!/^\d+$/.test(raw.trim())) throw new UserInputError(`RECALLBENCH_GLA_FAST_MAX_DK: a whole number ≥ 0 (the largest d_k the gla op runs fused), got '${raw}'`);
  return Number(raw.trim());
}

/** The gla op's fast form: fused up to d_k glaFastMaxDk(), else declined (the chunked form runs). */
export function glaFastForm(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, g: tf.Tensor4D, layouts: HeadLayouts = OPS_LAYOUT): tf.Tensor4D | undefined {
  return q.shape[3] <= glaFastMaxDk() ? glaWebGpu(q, k, v, g, layouts) : undefined;
}

/** d_k within the private arrays' cap, and the checkpoints, the backward's scratch and its gradients within the device's buffer limits. */
function fits(q: tf.Tensor4D, v: tf.Tensor4D, input: HeadLayout = 'bhtd'): boolean {
  const { B, H, T } = headDims(q.shape, input);
  const dk = q.shape[3];
  const dv = v.shape[3];
  return dk <= GLA_MAX_DK && fitsDevice(tf.util.sizeFromShape(checkpointShape(T, dk, B * H * dv)), checkpointInterval(T) * dk * B * H * dv, gradsSize(B * H * T, dk, dv));
}

/**
 * Rows of the SSD state per kernel call: the state's rows evolve apart (one decay for all of them), so an SSD of N
 * rows is the sum of SSDs over row blocks, each as narrow as the GLA kernel runs fast (GLA_FAST_MAX_DK). Through
 * one call, Mamba-2's N 128 was 11x slower than its chunked form (index.ts, lever ssd).
 */
export const SSD_ROW_BLOCK = GLA_FAST_MAX_DK;

/**
 * Mamba-2's SSD through the same kernel (the fast form of ops/ssd, lever ssd, off by default: index.ts says why): its
 * recurrence h_t = exp(a_t) h_{t−1} + b_t v_tᵀ, o_t = h_tᵀ c_t is GLA's with q = c, k = b and one log decay a_t per
 * head and token, the same for every state row (a's gradient sums the rows', through the broadcast). The rows go in
 * blocks of SSD_ROW_BLOCK, one kernel call each, o the sum of the blocks'. c, b [B, H, T, N], v [B, H, T, P],
 * a [B, H, T] → o.
 */
export function ssdWebGpu(c: tf.Tensor4D, b: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor3D): tf.Tensor4D | undefined {
  if (!fits(c, v)) return undefined;
  const [B, H, T, N] = c.shape;
  const rows = Math.min(N, SSD_ROW_BLOCK);
  // a broadcasting add of zeros, not tf.tile or tf.broadcastTo (a Tile underneath): tfjs differentiates a Tile by
  // one Slice and one Add per repetition — N of each — and an Add by one Sum over the broadcast axis
  const decay = tf.add(a.reshape([B, H, T, 1]), tf.zeros([1, 1, 1, rows])) as tf.Tensor4D;
  if (rows === N) return glaWebGpu(c, b, v, decay);
  let o: tf.Tensor4D | undefined;
  for (let n0 = 0; n0 < N; n0 += rows) {
    const width = Math.min(rows, N - n0);
    const block = (x: tf.Tensor4D) => x.slice([0, 0, 0, n0], [B, H, T, width]);
    const part = glaWebGpu(block(c), block(b), v, width === rows ? decay : decay.slice([0, 0, 0, 0], [B, H, T, width]))!;
    o = o ? (tf.add(o, part) as tf.Tensor4D) : part;
  }
  return o;
}
