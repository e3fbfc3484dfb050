// Fused delta rule and gated delta rule (WebGPU), forward and backward, with their own gradient: the fast form of
// ops/deltaRule and ops/gatedDeltaRule. Per head, state S [d_k, d_v] (S_{−1} = 0), α_t = exp(g_t) (≡ 1 ungated):
//
//   forward   p_t = (S_{t−1}ᵀ k_t)_j,   u_t = β_t (v_t − α_t p_t),   S_t = α_t S_{t−1} + k_t u_tᵀ,   o_t = S_tᵀ q_t
//
// the recurrence of ops/gatedDeltaRule/step.ts (decay, then the delta-rule write on the decayed state; α ≡ 1 is
// ops/deltaRule/step.ts). Each column j of S (one value channel) evolves on its own given k, β, α: one thread per
// (batch·head, column) holds its column (d_k floats, a private array of CAP ≥ d_k baked into the pipeline key)
// and walks time; p_t and o_t are reductions over d_k inside the thread. One dispatch forward.
//
// Backward, per column, reverse time, with dS carried the same way (dS_T = 0):
//   dS_t += q_t do_t;  du = k_tᵀ dS_t;  dv_t = β du;  dβ_t = (v_t − α p_t) du;  dp = −α β du
//   dα_t = S_{t−1}ᵀ dS_t − β p_t du  (dg_t = α_t dα_t);   dq_t = S_t do_t;   dk_t = dS_t u_t + S_{t−1} dp
//   dS_{t−1} = α_t dS_t + k_t dp
// dv is per column; dq, dk (d_k each), dβ, dg are sums over the columns: the threads of one workgroup are COLS
// columns of one head, each writes its 2·d_k + 2 terms into a workgroup tile and the tile is summed per row
// (two barriers per step); a head wider than COLS columns leaves one partial per column block, summed by tfjs.
// S_{t−1} is recomputed, not stored: the forward keeps a checkpoint of S every C = ⌈√T⌉ steps and the backward,
// chunk by chunk from the end, replays the chunk forward from its checkpoint into a scratch buffer (C states per
// column) and walks it back. Storing every state would cost T·d_k·d_v floats per head (537 MB per layer at B64
// H4 T256 d_k 32 d_v 64, and linear in T); checkpoints plus scratch cost 2·√T states per head (33 MB each there)
// for one extra forward walk, which is cheap next to the reductions. Inverting the step instead (S_{t−1} =
// (S_t − k u_tᵀ)/α_t) would divide by a vanishing α under strong forgetting.
// One dispatch backward, plus the slices (and, past COLS columns, a sum) that split its one output buffer. Every
// shape is a uniform; the key names only the gate, CAP and COLS (the register form's: d_k, below). References: deltaRuleNaive, gatedDeltaRuleNaive.
//
// Lever `stridedHeads` (heads.ts): q, k, v, β (g) read and o written in the layouts the caller names — DeltaNet and
// Gated DeltaNet hand over their projections as they come, [B, T, H, ·] (β, g [B, T, H]), and take o the same way —
// instead of transposed to and from [B, H, T, ·] around the kernels.
//
// Lever `deltaRegisters` (d_k ≤ DELTA_REGISTERS_MAX_DK): the same kernels with d_k a constant of the shader and the loops
// over the column unrolled here into named scalars (s0, s1, …; ds0…, sp0…): the loops above run to the uniform d_k, so
// the private arrays sit in per-thread local memory; unrolled, they are registers. Same arithmetic, same order; one
// pipeline per d_k (32 for DeltaNet at d 128 with 4 heads).
import * as tf from '@tensorflow/tfjs';
import { headDims, headShape, OPS_LAYOUT, type HeadLayout, type HeadLayouts } from '../../ops/shared/heads.js';
import { inLayouts, layoutAttrs, layoutKey, layoutsOf, layoutUniforms, layoutValues, outRow, perLayouts, rowOf } from './heads.js';
import { allocate, checkpointInterval, checkpointShape, checkpointStore, chunkReplay, columnBlockSums, columnGradsSize, declare, dispatch, fitsDevice, grid, pow2AtLeast, release, splitColumnGrads, swizzleFn, swizzleKey, unrolled, webgpuBackend } from './dispatch.js';

export const DELTA_KERNEL = 'RecallbenchDeltaRule';
export const DELTA_GRAD_KERNEL = 'RecallbenchDeltaRuleGrad';

const WG = 64;
/** Floats of workgroup memory the backward's tile may use (WebGPU's guaranteed 16 KiB). */
const TILE_FLOATS = 4096;
/**
 * Largest d_k handled; beyond it the op runs its reference. The backward holds two private arrays of CAP floats
 * (ds, sp), and WGSL caps a function's function-address-space variables at 8192 bytes: CAP 1024 would need 8 KiB
 * for those two alone — a Dawn that enforces the limit would reject the pipeline — so 512.
 */
export const DELTA_MAX_DK = 512;

/** Private column capacity and backward columns per workgroup for d_k (exported for the tests' poisoning). */
export function tiling(dk: number): { CAP: number; COLS: number } {
  const CAP = pow2AtLeast(dk);
  const COLS = Math.min(64, 2 ** Math.floor(Math.log2(TILE_FLOATS / (2 * CAP + 2))));
  return { CAP, COLS };
}

/** α_t: exp(g_t) from the second half of bg (= [β; g]) when gated, else 1. */
const alpha = (gated: boolean) => (gated ? 'exp(bg[params.rows + row])' : '1.0f');

const forwardWgsl = (gated: boolean, CAP: number, L: HeadLayouts) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'bg', type: 'f32' },
    { name: 'o', type: 'f32', write: true },
    { name: 'ckpt', type: 'f32', write: true },
  ],
  ['lanes: u32', 'rows: u32', 'T: u32', 'dk: u32', 'dv: u32', 'C: u32', ...layoutUniforms(L)],
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
    let a = ${alpha(gated)};
    var p = 0.0f;
    for (var i = 0u; i < dk; i++) { p += k[kb + i] * s[i]; }
    let u = bg[row] * (v[row * params.dv + j] - a * p);
    var out = 0.0f;
    for (var i = 0u; i < dk; i++) {
      let si = a * s[i] + k[kb + i] * u;
      s[i] = si;
      out += q[kb + i] * si;
    }
    o[${outRow(L)} * params.dv + j] = out;
  }
}`;

// grads = [dv (rows·d_v) ; partials (blocks, rows, R = 2·d_k + 2: dq, dk, dβ, dg)]
const backwardWgsl = (gated: boolean, CAP: number, COLS: number, L: HeadLayouts) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'bg', type: 'f32' },
    { name: 'dO', type: 'f32' },
    { name: 'ckpt', type: 'f32' },
    { name: 'grads', type: 'f32', write: true },
    { name: 'scratch', type: 'f32', write: true },
  ],
  ['lanes: u32', 'rows: u32', 'T: u32', 'dk: u32', 'dv: u32', 'C: u32', 'blocks: u32', 'groups: u32', ...layoutUniforms(L)],
)}
var<workgroup> red: array<f32, ${(2 * CAP + 2) * COLS}>;
${swizzleFn('redAt', COLS)}
@compute @workgroup_size(${COLS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let dk = params.dk;
  let R = 2u * dk + 2u;
  let bh = w / params.blocks;
  let blk = w % params.blocks;
  let j = blk * ${COLS}u + tid;
  let valid = j < params.dv;
  let lane = bh * params.dv + j;
  let partBase = params.rows * params.dv + blk * params.rows * R;
  var ds: array<f32, ${CAP}>;  // dL/dS_t, column j
  var sp: array<f32, ${CAP}>;  // S_{t−1}, column j
${chunkReplay({ state: 'sp', rows: 'dk' })}
        let row = ${rowOf(L.input, 'bh', 't')};
        let kb = row * dk;
        let a = ${alpha(gated)};
        var p = 0.0f;
        for (var i = 0u; i < dk; i++) { p += k[kb + i] * sp[i]; }
        let u = bg[row] * (v[row * params.dv + j] - a * p);
        for (var i = 0u; i < dk; i++) { sp[i] = a * sp[i] + k[kb + i] * u; }
      }
    }
    for (var tt = t1; tt > t0; tt--) {
      let t = tt - 1u;
      let row = ${rowOf(L.input, 'bh', 't')};
      if (valid) {
        let kb = row * dk;
        let sb = (t - t0) * dk;
        let a = ${alpha(gated)};
        let b = bg[row];
        let dout = dO[${outRow(L)} * params.dv + j];
        var p = 0.0f;
        var du = 0.0f;
        var da = 0.0f;
        for (var i = 0u; i < dk; i++) {
          let spi = scratch[(sb + i) * params.lanes + lane];
          sp[i] = spi;
          let ki = k[kb + i];
          p += ki * spi;
          let dsi = ds[i] + q[kb + i] * dout;
          ds[i] = dsi;
          du += ki * dsi;
          da += spi * dsi;
        }
        let r = v[row * params.dv + j] - a * p;
        let u = b * r;
        let dp = -a * b * du;
        da -= b * p * du;
        grads[row * params.dv + j] = b * du;
        for (var i = 0u; i < dk; i++) {
          let ki = k[kb + i];
          let spi = sp[i];
          let dsi = ds[i];
          red[redAt(i, tid)] = (a * spi + ki * u) * dout;
          red[redAt(dk + i, tid)] = dsi * u + spi * dp;
          ds[i] = a * dsi + ki * dp;
        }
        red[redAt(2u * dk, tid)] = r * du;
        red[redAt(2u * dk + 1u, tid)] = a * da;
${columnBlockSums(COLS)}
    }
  }
}`;

/** Largest d_k of the register form (lever deltaRegisters): 2·d_k floats of column a backward thread, in registers. */
export const DELTA_REGISTERS_MAX_DK = 32;

// The forward of the register form: forwardWgsl with d_k constant and the column as scalars s0….
const forwardRegistersWgsl = (gated: boolean, DK: number, L: HeadLayouts) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'bg', type: 'f32' },
    { name: 'o', type: 'f32', write: true },
    { name: 'ckpt', type: 'f32', write: true },
  ],
  ['lanes: u32', 'rows: u32', 'T: u32', 'dk: u32', 'dv: u32', 'C: u32', ...layoutUniforms(L)],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let bh = lane / params.dv;
  let j = lane % params.dv;
${unrolled(DK, (i) => `var s${i} = 0.0f;`, '  ')}
  for (var t = 0u; t < params.T; t++) {
${checkpointStore({ state: 's', rows: DK })}
    let row = ${rowOf(L.input, 'bh', 't')};
    let kb = row * ${DK}u;
    let a = ${alpha(gated)};
    var p = 0.0f;
${unrolled(DK, (i) => `p += k[kb + ${i}u] * s${i};`, '    ')}
    let u = bg[row] * (v[row * params.dv + j] - a * p);
    var out = 0.0f;
${unrolled(DK, (i) => `s${i} = a * s${i} + k[kb + ${i}u] * u; out += q[kb + ${i}u] * s${i};`, '    ')}
    o[${outRow(L)} * params.dv + j] = out;
  }
}`;

// The backward of the register form: backwardWgsl with d_k constant and ds, sp as scalars; the replay's scratch and
// the column-sum table as there.
const backwardRegistersWgsl = (gated: boolean, DK: number, COLS: number, L: HeadLayouts) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'bg', type: 'f32' },
    { name: 'dO', type: 'f32' },
    { name: 'ckpt', type: 'f32' },
    { name: 'grads', type: 'f32', write: true },
    { name: 'scratch', type: 'f32', write: true },
  ],
  ['lanes: u32', 'rows: u32', 'T: u32', 'dk: u32', 'dv: u32', 'C: u32', 'blocks: u32', 'groups: u32', ...layoutUniforms(L)],
)}
var<workgroup> red: array<f32, ${(2 * DK + 2) * COLS}>;
${swizzleFn('redAt', COLS)}
@compute @workgroup_size(${COLS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let R = ${2 * DK + 2}u;
  let bh = w / params.blocks;
  let blk = w % params.blocks;
  let j = blk * ${COLS}u + tid;
  let valid = j < params.dv;
  let lane = bh * params.dv + j;
  let partBase = params.rows * params.dv + blk * params.rows * R;
${unrolled(DK, (i) => `var ds${i} = 0.0f; var sp${i} = 0.0f;`, '  ')}
${chunkReplay({ state: 'sp', rows: DK })}
        let row = ${rowOf(L.input, 'bh', 't')};
        let kb = row * ${DK}u;
        let a = ${alpha(gated)};
        var p = 0.0f;
${unrolled(DK, (i) => `p += k[kb + ${i}u] * sp${i};`, '        ')}
        let u = bg[row] * (v[row * params.dv + j] - a * p);
${unrolled(DK, (i) => `sp${i} = a * sp${i} + k[kb + ${i}u] * u;`, '        ')}
      }
    }
    for (var tt = t1; tt > t0; tt--) {
      let t = tt - 1u;
      let row = ${rowOf(L.input, 'bh', 't')};
      if (valid) {
        let kb = row * ${DK}u;
        let sb = (t - t0) * ${DK}u;
        let a = ${alpha(gated)};
        let b = bg[row];
        let dout = dO[${outRow(L)} * params.dv + j];
        var p = 0.0f;
        var du = 0.0f;
        var da = 0.0f;
${unrolled(DK, (i) => `{
          sp${i} = scratch[(sb + ${i}u) * params.lanes + lane];
          let ki = k[kb + ${i}u];
          p += ki * sp${i};
          ds${i} = ds${i} + q[kb + ${i}u] * dout;
          du += ki * ds${i};
          da += sp${i} * ds${i};
        }`, '        ')}
        let r = v[row * params.dv + j] - a * p;
        let u = b * r;
        let dp = -a * b * du;
        da -= b * p * du;
        grads[row * params.dv + j] = b * du;
${unrolled(DK, (i) => `{
          let ki = k[kb + ${i}u];
          red[redAt(${i}u, tid)] = (a * sp${i} + ki * u) * dout;
          red[redAt(${DK + i}u, tid)] = ds${i} * u + sp${i} * dp;
          ds${i} = a * ds${i} + ki * dp;
        }`, '        ')}
        red[redAt(${2 * DK}u, tid)] = r * du;
        red[redAt(${2 * DK + 1}u, tid)] = a * da;
${columnBlockSums(COLS)}
    }
  }
}`;

let registers = false;
/** Lever deltaRegisters: the register form for d_k ≤ DELTA_REGISTERS_MAX_DK (on), or the loops over a uniform d_k (off). */
export function setDeltaRegisters(on: boolean): void {
  registers = on;
}

/** Which form of the kernels runs for d_k: 'registers' (lever on, d_k ≤ DELTA_REGISTERS_MAX_DK) or 'loops'. */
export function deltaRuleForm(dk: number): 'registers' | 'loops' {
  return registers && dk <= DELTA_REGISTERS_MAX_DK ? 'registers' : 'loops';
}

interface Sizes {
  B: number;
  H: number;
  T: number;
  dk: number;
  dv: number;
  gated: boolean;
}

function sizes(q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo, bg: tf.TensorInfo, input: HeadLayout): Sizes {
  if (q.shape.length !== 4 || v.shape.length !== 4) throw new Error(`${DELTA_KERNEL}: expected q, k [·, ·, ·, d_k], v [·, ·, ·, d_v] (${input}), got q [${q.shape}] v [${v.shape}]`);
  const { B, H, T } = headDims(q.shape, input);
  const dk = q.shape[3]!;
  const dv = v.shape[3]!;
  if (k.shape.join() !== q.shape.join() || v.shape.slice(0, 3).join() !== q.shape.slice(0, 3).join()) throw new Error(`${DELTA_KERNEL}: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not match`);
  const gated = bg.shape.length === 4;
  const lead = q.shape.slice(0, 3);
  const expected = gated ? [2, ...lead] : lead;
  if (bg.shape.join() !== expected.join()) throw new Error(`${DELTA_KERNEL}: β${gated ? ' and g' : ''} [${bg.shape}] do not match [${expected}]`);
  if (dk > DELTA_MAX_DK) throw new Error(`${DELTA_KERNEL}: d_k ${dk} > ${DELTA_MAX_DK}`);
  return { B, H, T, dk, dv, gated };
}



/** Floats of the backward's output buffer (dv, then the column blocks' partials). */
export const gradsSize = (rows: number, dk: number, dv: number) => columnGradsSize(rows, dv, 2 * dk + 2, tiling(dk).COLS);

let registered = false;

export function registerDeltaRuleWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: DELTA_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v, bg } = inputs as Record<string, tf.TensorInfo>;
      const L = layoutsOf(attrs);
      const { B, H, T, dk, dv, gated } = sizes(q!, k!, v!, bg!, L.input);
      const { CAP } = tiling(dk);
      const C = checkpointInterval(T);
      const lanes = B * H * dv;
      const backend = webgpuBackend();
      const o = allocate(backend, headShape(L.output, B, H, T, dv));
      const ckpt = allocate(backend, checkpointShape(T, dk, B * H * dv));
      const regs = deltaRuleForm(dk) === 'registers';
      dispatch(
        `${gated ? 'GatedDeltaRule' : 'DeltaRule'}${regs ? 'Registers' : ''}`,
        (regs ? `rb_delta_fwd_${gated ? 'g' : 'u'}_r${dk}` : `rb_delta_fwd_${gated ? 'g' : 'u'}${CAP}`) + layoutKey(L),
        regs ? forwardRegistersWgsl(gated, dk, L) : forwardWgsl(gated, CAP, L),
        [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: bg! }, { tensor: o, write: true }, { tensor: ckpt, write: true }],
        [{ u: lanes }, { u: B * H * T }, { u: T }, { u: dk }, { u: dv }, { u: C }, ...layoutValues(L, B, H)],
        grid(Math.ceil(lanes / WG)),
      );
      return [o, ckpt];
    },
  });
  tf.registerKernel({
    kernelName: DELTA_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v, bg, dO, ckpt } = inputs as Record<string, tf.TensorInfo>;
      const L = layoutsOf(attrs);
      const { B, H, T, dk, dv, gated } = sizes(q!, k!, v!, bg!, L.input);
      const { CAP, COLS } = tiling(dk);
      const C = checkpointInterval(T);
      const rows = B * H * T;
      const blocks = Math.ceil(dv / COLS);
      const groups = B * H * blocks;
      const backend = webgpuBackend();
      const grads = allocate(backend, [gradsSize(B * H * T, dk, dv)]);
      const scratch = allocate(backend, [C, dk, B * H * dv]);
      const regs = deltaRuleForm(dk) === 'registers';
      dispatch(
        `${gated ? 'GatedDeltaRule' : 'DeltaRule'}${regs ? 'Registers' : ''}Grad`,
        (regs ? `rb_delta_bwd_${gated ? 'g' : 'u'}_r${dk}_${COLS}${swizzleKey()}` : `rb_delta_bwd_${gated ? 'g' : 'u'}${CAP}_${COLS}${swizzleKey()}`) + layoutKey(L),
        regs ? backwardRegistersWgsl(gated, dk, COLS, L) : backwardWgsl(gated, CAP, COLS, L),
        [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: bg! }, { tensor: dO! }, { tensor: ckpt! }, { tensor: grads, write: true }, { tensor: scratch, write: true }],
        [{ u: B * H * dv }, { u: rows }, { u: T }, { u: dk }, { u: dv }, { u: C }, { u: blocks }, { u: groups }, ...layoutValues(L, B, H)],
        grid(groups),
      );
      release(scratch);
      return grads;
    },
  });
}

/** Split the backward's one buffer into dq, dk, dv, dβ and dg (the partials of the column blocks summed), in the inputs' layout (lead: their first three axes). */
function splitGrads(grads: tf.Tensor, s: Sizes, lead: number[]): tf.Tensor[] {
  const { B, H, T, dk, dv } = s;
  const rows = B * H * T;
  const R = 2 * dk + 2;
  const { dV, terms } = splitColumnGrads(grads, rows, dv, R, tiling(dk).COLS);
  const [dQ, dK, dBeta, dG] = tf.split(terms.reshape([...lead, R]), [dk, dk, 1, 1], 3);
  return [dQ!, dK!, dV.reshape([...lead, dv]), dBeta!.reshape(lead), dG!.reshape(lead)];
}

type Ungated = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
type Gated = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, beta: tf.Tensor, g: tf.Tensor) => tf.Tensor;

/** The kernels with their gradient, ungated and gated, for one pair of layouts. */
function withGrad(L: HeadLayouts): { ungated: Ungated; gated: Gated } {
  const attrs = layoutAttrs(L);
  const forward = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, bg: tf.Tensor) => tf.engine().runKernel(DELTA_KERNEL, { q, k, v, bg }, attrs) as unknown as [tf.Tensor, tf.Tensor];
  const grads = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
    const [q, k, v, bg, ckpt] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor, tf.Tensor];
    const all = tf.engine().runKernel(DELTA_GRAD_KERNEL, { q, k, v, bg, dO: dy, ckpt }, attrs) as tf.Tensor;
    return splitGrads(all, sizes(q, k, v, bg, L.input), q.shape.slice(0, 3));
  };
  const ungated = tf.customGrad(((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const [o, ckpt] = forward(q, k, v, beta);
    save([q, k, v, beta, ckpt]);
    return { value: o, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => grads(dy, saved).slice(0, 4) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Ungated;
  const gated = tf.customGrad(((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, beta: tf.Tensor, g: tf.Tensor, save: tf.GradSaveFunc) => {
    const bg = tf.stack([beta, g]); // [2, ·, ·, ·]: one binding for β and g (the backward uses all 8 storage buffers)
    const [o, ckpt] = forward(q, k, v, bg);
    save([q, k, v, bg, ckpt]);
    return { value: o, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => grads(dy, saved) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Gated;
  return { ungated, gated };
}
const fusedFor = perLayouts(withGrad);

/** d_k within the private arrays' cap, and the checkpoints, the backward's scratch and its gradients within the device's buffer limits. */
function fits(q: tf.Tensor4D, v: tf.Tensor4D, input: HeadLayout): boolean {
  const { B, H, T } = headDims(q.shape, input);
  const dk = q.shape[3];
  const dv = v.shape[3];
  return dk <= DELTA_MAX_DK && fitsDevice(tf.util.sizeFromShape(checkpointShape(T, dk, B * H * dv)), checkpointInterval(T) * dk * B * H * dv, gradsSize(B * H * T, dk, dv));
}

/**
 * The delta rule, fused (the fast form of ops/deltaRule): q, k [·, ·, ·, d_k], v [·, ·, ·, d_v], β [·, ·, ·] in
 * layouts.input → o [·, ·, ·, d_v] in layouts.output ([B, H, T, ·] both by default); undefined (declined: the op runs
 * its reference) past d_k = DELTA_MAX_DK or past the device's buffer limits. Lever stridedHeads off, the heads move
 * by transposes around the kernels in [B, H, T, ·] (heads.ts).
 */
export function deltaRuleWebGpu(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D, layouts: HeadLayouts = OPS_LAYOUT): tf.Tensor4D | undefined {
  if (!fits(q, v, layouts.input)) return undefined;
  return inLayouts(layouts, [q, k, v, beta], (L) => fusedFor(L).ungated) as tf.Tensor4D;
}

/** The gated delta rule, fused (the fast form of ops/gatedDeltaRule): as deltaRuleWebGpu with the log decay g, laid out as β. */
export function gatedDeltaRuleWebGpu(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D, g: tf.Tensor3D, layouts: HeadLayouts = OPS_LAYOUT): tf.Tensor4D | undefined {
  if (!fits(q, v, layouts.input)) return undefined;
  return inLayouts(layouts, [q, k, v, beta, g], (L) => fusedFor(L).gated) as tf.Tensor4D;
}
