// Fused causal linear attention (WebGPU), forward and backward: the fast form of ops/linearAttention's causal entry
// in its plain case (no initial state, no shared keys; a pairScore is ignored: it is φq·φk, which the kernel reads
// directly, so the function is the same):
//
//   y_i = φq_i·S_i / (φq_i·z_i + eps),   S_i = Σ_{j≤i} φk_jᵀ v_j,   z_i = Σ_{j≤i} φk_j
//
// One thread per (batch·head, value column j) holds S[:, j] and z (F floats each, private arrays of CAP ≥ F baked
// into the pipeline key) and walks time; y = num / (den + eps) is divided in the kernel, eps as the reference adds
// it. den = φq·z is written once per row for the backward. Forward one dispatch.
//
// Backward: with e_t = den_t + eps, the cotangents of num and den are g_t[j] = dy_t[j] / e_t and
// −Σ_j dy_t[j] y_t[j] / e_t, i.e. g over the columns of c_s = [v_s, 1] (z is S of a ones column). Then
//   dφq_t = Σ_{s≤t} (g_t·c_s) φk_s,   dφk_s = Σ_{i≥s} (c_s·g_i) φq_i,   dv_s[j] = Σ_{i≥s} (φk_s·φq_i) g_i[j]
// each the same walk, one thread per output column with its own state column (d_v + 1 floats for dφq, dφk, F
// for dv): no cross-thread sums, no stored or recomputed states. Two dispatches (dφq and dφk in one, the reverse
// walk for dφk; dv in the other). Every shape and eps is a uniform; the keys name only CAP.
// Reference: causalLinearAttentionNaive (ops/linearAttention/naive.ts).
import * as tf from '@tensorflow/tfjs';
import { LINEAR_ATTENTION_EPS, type LinearAttentionOptions } from '../../ops/linearAttention/common.js';
import { allocate, declare, dispatch, grid, pow2AtLeast, webgpuBackend } from './dispatch.js';

const WG = 64;
/** Largest F handled; beyond it the op runs its chunked form. d_v + 1 is the backward's state width: capped alike. */
export const LINEAR_ATTENTION_MAX_WIDTH = 1024;


const lane = `let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;`;
const builtins = '@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32';

// forward: thread (bh, j) holds S[:, j] and z; y = φq·S / (φq·z + eps); lane j = 0 also writes den = φq·z
const forwardWgsl = (CAP: number) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'y', type: 'f32', write: true },
    { name: 'den', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'F: u32', 'dv: u32', 'eps: f32'],
)}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (lane >= params.lanes) { return; }
  let F = params.F;
  let bh = lane / params.dv;
  let j = lane % params.dv;
  var s: array<f32, ${CAP}>;  // S[:, j]
  var z: array<f32, ${CAP}>;  // z
  for (var t = 0u; t < params.T; t++) {
    let row = bh * params.T + t;
    let fb = row * F;
    let vj = v[row * params.dv + j];
    var num = 0.0f;
    var d = 0.0f;
    for (var i = 0u; i < F; i++) {
      let ki = k[fb + i];
      let qi = q[fb + i];
      let si = s[i] + ki * vj;
      let zi = z[i] + ki;
      s[i] = si;
      z[i] = zi;
      num += qi * si;
      d += qi * zi;
    }
    y[row * params.dv + j] = num / (d + params.eps);
    if (j == 0u) { den[row] = d; }
  }
}`;

// backward, with e_t = den_t + eps, g_t[j] = dy_t[j] / e_t (j < d_v) and g_t[d_v] = −Σ_j dy_t[j] y_t[j] / e_t (the
// cotangents of num and den), c_s = [v_s, 1]:
//   dφq_t[f] = Σ_{s≤t} (g_t·c_s) φk_s[f]   thread (bh, f) holds u = Σ_s c_s φk_s[f]   (lanes [0, BH·F))
//   dφk_s[f] = Σ_{i≥s} (c_s·g_i) φq_i[f]   thread (bh, f) holds r = Σ_i g_i φq_i[f]   (lanes [BH·F, 2·BH·F))
const qkGradWgsl = (CAP: number) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'dy', type: 'f32' },
    { name: 'y', type: 'f32' },
    { name: 'den', type: 'f32' },
    { name: 'dq', type: 'f32', write: true },
    { name: 'dk', type: 'f32', write: true },
  ],
  ['half: u32', 'T: u32', 'F: u32', 'dv: u32', 'eps: f32'],
)}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (lane >= 2u * params.half) { return; }
  let F = params.F;
  let dv = params.dv;
  let forQ = lane < params.half;
  let l = select(lane - params.half, lane, forQ);
  let bh = l / F;
  let f = l % F;
  var u: array<f32, ${CAP}>;  // state over the d_v + 1 columns of c (zero-initialised)
  for (var step = 0u; step < params.T; step++) {
    let t = select(params.T - 1u - step, step, forQ);
    let row = bh * params.T + t;
    let vb = row * dv;
    let inv = 1.0f / (den[row] + params.eps);
    if (forQ) {
      let kf = k[row * F + f];
      var acc = 0.0f;
      for (var j = 0u; j < dv; j++) {
        let uj = u[j] + v[vb + j] * kf;
        u[j] = uj;
        acc += dy[vb + j] * uj;
      }
      let ud = u[dv] + kf;
      u[dv] = ud;
      var dyy = 0.0f;
      for (var j = 0u; j < dv; j++) { dyy += dy[vb + j] * y[vb + j]; }
      dq[row * F + f] = (acc - dyy * ud) * inv;
    } else {
      let qf = q[row * F + f] * inv;
      var acc = 0.0f;
      var dyy = 0.0f;
      for (var j = 0u; j < dv; j++) {
        let dyj = dy[vb + j];
        dyy += dyj * y[vb + j];
        let rj = u[j] + dyj * qf;
        u[j] = rj;
        acc += v[vb + j] * rj;
      }
      let rd = u[dv] - dyy * qf;
      u[dv] = rd;
      dk[row * F + f] = acc + rd;
    }
  }
}`;

//   dv_s[j] = Σ_{i≥s} (φk_s·φq_i) g_i[j]   thread (bh, j) holds p = Σ_i φq_i g_i[j]
const vGradWgsl = (CAP: number) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'dy', type: 'f32' },
    { name: 'den', type: 'f32' },
    { name: 'dv', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'F: u32', 'W: u32', 'eps: f32'],
)}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (lane >= params.lanes) { return; }
  let F = params.F;
  let bh = lane / params.W;
  let j = lane % params.W;
  var p: array<f32, ${CAP}>;
  for (var step = 0u; step < params.T; step++) {
    let t = params.T - 1u - step;
    let row = bh * params.T + t;
    let fb = row * F;
    let g = dy[row * params.W + j] / (den[row] + params.eps);
    var out = 0.0f;
    for (var i = 0u; i < F; i++) {
      let pi = p[i] + q[fb + i] * g;
      p[i] = pi;
      out += k[fb + i] * pi;
    }
    dv[row * params.W + j] = out;
  }
}`;

export const LINEAR_ATTENTION_KERNEL = 'RecallbenchLinearAttention';
export const LINEAR_ATTENTION_GRAD_KERNEL = 'RecallbenchLinearAttentionGrad';

function sizes(q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo): { B: number; H: number; T: number; F: number; dv: number } {
  if (q.shape.length !== 4 || v.shape.length !== 4 || k.shape.join() !== q.shape.join() || v.shape.slice(0, 3).join() !== q.shape.slice(0, 3).join())
    throw new Error(`${LINEAR_ATTENTION_KERNEL}: expected φq, φk [B, H, T, F], v [B, H, T, d_v], got φq [${q.shape}] φk [${k.shape}] v [${v.shape}]`);
  const [B, H, T, F] = q.shape as [number, number, number, number];
  const dv = v.shape[3]!;
  if (F > LINEAR_ATTENTION_MAX_WIDTH || dv + 1 > LINEAR_ATTENTION_MAX_WIDTH) throw new Error(`${LINEAR_ATTENTION_KERNEL}: F ${F} or d_v + 1 ${dv + 1} > ${LINEAR_ATTENTION_MAX_WIDTH}`);
  return { B, H, T, F, dv };
}

const epsOf = (attrs: unknown) => (attrs as { eps: number }).eps;

let registered = false;

export function registerLinearAttentionWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: LINEAR_ATTENTION_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v } = inputs as Record<string, tf.TensorInfo>;
      const { B, H, T, F, dv } = sizes(q!, k!, v!);
      const CAP = pow2AtLeast(F);
      const lanes = B * H * dv;
      const backend = webgpuBackend();
      const y = allocate(backend, v!.shape);
      const den = allocate(backend, [B, H, T]);
      dispatch('LinearAttention', `rb_linattn_fwd${CAP}`, forwardWgsl(CAP), [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: y, write: true }, { tensor: den, write: true }], [{ u: lanes }, { u: T }, { u: F }, { u: dv }, { f: epsOf(attrs) }], grid(Math.ceil(lanes / WG)));
      return [y, den];
    },
  });
  tf.registerKernel({
    kernelName: LINEAR_ATTENTION_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v, dy, y, den } = inputs as Record<string, tf.TensorInfo>;
      const { B, H, T, F, dv } = sizes(q!, k!, v!);
      const eps = epsOf(attrs);
      const backend = webgpuBackend();
      const dq = allocate(backend, q!.shape);
      const dk = allocate(backend, q!.shape);
      const dV = allocate(backend, v!.shape);
      const half = B * H * F;
      const capW = pow2AtLeast(dv + 1);
      dispatch('LinearAttentionGradQK', `rb_linattn_bqk${capW}`, qkGradWgsl(capW), [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: dy! }, { tensor: y! }, { tensor: den! }, { tensor: dq, write: true }, { tensor: dk, write: true }], [{ u: half }, { u: T }, { u: F }, { u: dv }, { f: eps }], grid(Math.ceil((2 * half) / WG)));
      const lanes = B * H * dv;
      const capF = pow2AtLeast(F);
      dispatch('LinearAttentionGradV', `rb_linattn_bv${capF}`, vGradWgsl(capF), [{ tensor: q! }, { tensor: k! }, { tensor: dy! }, { tensor: den! }, { tensor: dV, write: true }], [{ u: lanes }, { u: T }, { u: F }, { u: dv }, { f: eps }], grid(Math.ceil(lanes / WG)));
      return [dq, dk, dV];
    },
  });
}

const attrs = (eps: number) => ({ eps }) as unknown as tf.NamedAttrMap;

const withGrad = (eps: number) =>
  tf.customGrad(((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, den] = tf.engine().runKernel(LINEAR_ATTENTION_KERNEL, { q, k, v }, attrs(eps)) as unknown as [tf.Tensor, tf.Tensor];
    save([q, k, v, y!, den!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sy, sden] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(LINEAR_ATTENTION_GRAD_KERNEL, { q: sq, k: sk, v: sv, dy, y: sy, den: sden }, attrs(eps)) as unknown as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor;

/** One customGrad per eps (the default and Scatterbrain's). */
const byEps = new Map<number, (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor>();

/**
 * Causal linear attention, fused (the fast form of ops/linearAttention's causalLinearAttention): φq, φk [B, H, T, F],
 * v [B, H, T, d_v] → y [B, H, T, d_v]. Undefined (declined: the op runs its chunked form) with an initial state or
 * shared keys, or past LINEAR_ATTENTION_MAX_WIDTH (F, or d_v + 1). chunkSize is the chunked form's; a pairScore is
 * φq·φk, read here from φq, φk themselves.
 */
export function causalLinearAttentionWebGpu(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions = {}): tf.Tensor4D | undefined {
  if (opts.initial || opts.shared) return undefined;
  const F = phiQ.shape[3];
  const dv = v.shape[3];
  if (F > LINEAR_ATTENTION_MAX_WIDTH || dv + 1 > LINEAR_ATTENTION_MAX_WIDTH) return undefined;
  const eps = opts.eps ?? LINEAR_ATTENTION_EPS;
  let f = byEps.get(eps);
  if (!f) byEps.set(eps, (f = withGrad(eps)));
  return f(phiQ, phiK, v) as tf.Tensor4D;
}
