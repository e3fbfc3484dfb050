// Fused causal softmax attention (WebGPU), flash-style, forward and backward, with its own gradient: the fast form
// of ops/causalAttention. Per (batch·head), with s_{tj} = (q_t · k_j) · scale for j ≤ t, P = softmax_j(s), Pd = P ⊙
// M / (1 − r) (M: ops/dropout's hashed keep mask of the [B, H, T, T] weights, index (bh·T + t)·T + j; r = 0: none):
//
//   forward   o_t = Σ_{j ≤ t} Pd_{tj} v_j,   lse_t = log Σ_{j ≤ t} exp s_{tj}
//
// One workgroup per (batch·head, tile of WG queries), one thread per query holding q_t and its accumulator (CAP ≥
// d_h floats each); the keys and values up to the tile's last query (the diagonal: the upper half is never
// touched) pass through workgroup memory BK rows at a time, and each thread keeps a running max and sum (online
// softmax: the accumulator is rescaled when the max grows). It writes o and lse (for the backward). One dispatch.
//
// Backward, with D_t = do_t · o_t (= Σ_j Pd_{tj} (do_t · v_j): the softmax gradient's row sum, dropout included)
// and P recomputed from q, k and lse:
//   dp_{tj} = (do_t · v_j) M_{tj} / (1 − r),   ds_{tj} = P_{tj} (dp_{tj} − D_t)
//   dq_t = scale · Σ_{j ≤ t} ds_{tj} k_j        (pass 1: per query tile, keys through workgroup memory; writes D)
//   dk_j = scale · Σ_{t ≥ j} ds_{tj} q_t,   dv_j = Σ_{t ≥ j} Pd_{tj} do_t   (pass 2: per key tile, queries through
//                                                                          workgroup memory, reads D)
// Two dispatches, no atomics, every output written once by one thread. Every shape is a uniform; the pipeline key
// names CAP (which fixes BK) and whether dropout is on. Reference: causalAttentionNaive (ops/causalAttention).
import * as tf from '@tensorflow/tfjs';
import { lowbias32 } from '../../core/prng.js';
import { allocate, declare, dispatch, grid, pow2AtLeast, webgpuBackend } from './dispatch.js';
import { HASH32_WGSL } from './dropout.js';

export const ATTENTION_KERNEL = 'RecallbenchCausalAttention';
export const ATTENTION_GRAD_KERNEL = 'RecallbenchCausalAttentionGrad';

/** Queries (forward, pass 1) or keys (pass 2) per workgroup: one per thread. */
export const ATTENTION_WG = 64;
/** Floats of workgroup memory the tiles may use (WebGPU's guaranteed 16 KiB, less room for lse and D rows). */
const TILE_FLOATS = 4000;
/** Largest head width handled; beyond it the op runs its reference. */
export const ATTENTION_MAX_DH = 256;

/** Private row capacity and rows per workgroup-memory tile for d_h (exported for the tests). */
export function tiling(dh: number): { CAP: number; BK: number } {
  const CAP = pow2AtLeast(dh);
  return { CAP, BK: Math.max(1, Math.min(32, Math.floor(TILE_FLOATS / (2 * CAP + 2)))) };
}

const HASH = `
${HASH32_WGSL}
// ops/dropout's keep mask of weight element idx, times 1/(1 − rate) (accel/webgpu/dropout.ts, same hash)
fn keepScale(idx: u32) -> f32 {
  let u = f32(hash32(idx + params.seedHash) >> 8u) / 16777216.0f;
  return select(0.0f, params.dropScale, u >= params.rate);
}`;

const COMMON_UNIFORMS = ['T: u32', 'dh: u32', 'tiles: u32', 'groups: u32', 'scale: f32', 'seedHash: u32', 'rate: f32', 'dropScale: f32'];

/** Workgroup index w → bh, the tile's first row r0; this thread's row r = r0 + tid (valid when < T). */
const PROLOGUE = `
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let T = params.T;
  let dh = params.dh;
  let bh = w / params.tiles;
  let r0 = (w % params.tiles) * ${ATTENTION_WG}u;
  let r = r0 + tid;
  let valid = r < T;
  let row = bh * T + r;`;

/** Load rows [s0, s0 + BK) of a and b ([BH·T, d_h]) into the tiles at, bt (zero past T). */
const loadTiles = (BK: number, a: string, b: string, at: string, bt: string) => `
    for (var x = tid; x < ${BK}u * dh; x += ${ATTENTION_WG}u) {
      let tr = x / dh;
      let s = s0 + tr;
      var va = 0.0f;
      var vb = 0.0f;
      if (s < T) {
        let g = (bh * T + s) * dh + x % dh;
        va = ${a}[g];
        vb = ${b}[g];
      }
      ${at}[x] = va;
      ${bt}[x] = vb;
    }`;

const forwardWgsl = (CAP: number, BK: number, drop: boolean) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'o', type: 'f32', write: true },
    { name: 'lse', type: 'f32', write: true },
  ],
  COMMON_UNIFORMS,
)}
${HASH}
var<workgroup> kt: array<f32, ${BK * CAP}>;
var<workgroup> vt: array<f32, ${BK * CAP}>;
@compute @workgroup_size(${ATTENTION_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  ${PROLOGUE}
  var qv: array<f32, ${CAP}>;
  var acc: array<f32, ${CAP}>;
  if (valid) { for (var i = 0u; i < dh; i++) { qv[i] = q[row * dh + i]; } }
  var m = -3.0e38f;
  var l = 0.0f;
  let kEnd = min(T, r0 + ${ATTENTION_WG}u);  // keys up to the tile's last query
  for (var s0 = 0u; s0 < kEnd; s0 += ${BK}u) {
    ${loadTiles(BK, 'k', 'v', 'kt', 'vt')}
    workgroupBarrier();
    if (valid) {
      let sEnd = min(s0 + ${BK}u, r + 1u);
      for (var s = s0; s < sEnd; s++) {
        let kb = (s - s0) * dh;
        var qk = 0.0f;
        for (var i = 0u; i < dh; i++) { qk += qv[i] * kt[kb + i]; }
        let sc = qk * params.scale;
        if (sc > m) {
          let corr = exp(m - sc);
          l *= corr;
          for (var i = 0u; i < dh; i++) { acc[i] *= corr; }
          m = sc;
        }
        let p = exp(sc - m);
        l += p;
        let pd = ${drop ? 'p * keepScale(row * T + s)' : 'p'};
        for (var i = 0u; i < dh; i++) { acc[i] += pd * vt[kb + i]; }
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    let inv = 1.0f / l;
    for (var i = 0u; i < dh; i++) { o[row * dh + i] = acc[i] * inv; }
    lse[row] = m + log(l);
  }
}`;

// pass 1: dq and D, per query tile
const dqWgsl = (CAP: number, BK: number, drop: boolean) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'o', type: 'f32' },
    { name: 'dO', type: 'f32' },
    { name: 'lse', type: 'f32' },
    { name: 'dq', type: 'f32', write: true },
    { name: 'D', type: 'f32', write: true },
  ],
  COMMON_UNIFORMS,
)}
${HASH}
var<workgroup> kt: array<f32, ${BK * CAP}>;
var<workgroup> vt: array<f32, ${BK * CAP}>;
@compute @workgroup_size(${ATTENTION_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  ${PROLOGUE}
  var qv: array<f32, ${CAP}>;
  var dov: array<f32, ${CAP}>;
  var acc: array<f32, ${CAP}>;
  var Dt = 0.0f;
  var lt = 0.0f;
  if (valid) {
    for (var i = 0u; i < dh; i++) {
      qv[i] = q[row * dh + i];
      let d = dO[row * dh + i];
      dov[i] = d;
      Dt += d * o[row * dh + i];
    }
    D[row] = Dt;
    lt = lse[row];
  }
  let kEnd = min(T, r0 + ${ATTENTION_WG}u);
  for (var s0 = 0u; s0 < kEnd; s0 += ${BK}u) {
    ${loadTiles(BK, 'k', 'v', 'kt', 'vt')}
    workgroupBarrier();
    if (valid) {
      let sEnd = min(s0 + ${BK}u, r + 1u);
      for (var s = s0; s < sEnd; s++) {
        let kb = (s - s0) * dh;
        var qk = 0.0f;
        var dp = 0.0f;
        for (var i = 0u; i < dh; i++) {
          qk += qv[i] * kt[kb + i];
          dp += dov[i] * vt[kb + i];
        }
        let p = exp(qk * params.scale - lt);
        let ds = p * (${drop ? 'dp * keepScale(row * T + s)' : 'dp'} - Dt);
        for (var i = 0u; i < dh; i++) { acc[i] += ds * kt[kb + i]; }
      }
    }
    workgroupBarrier();
  }
  if (valid) { for (var i = 0u; i < dh; i++) { dq[row * dh + i] = acc[i] * params.scale; } }
}`;

// pass 2: dk and dv, per key tile (this thread's row r is a key; the queries t ≥ r pass through the tiles)
const dkvWgsl = (CAP: number, BK: number, drop: boolean) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'dO', type: 'f32' },
    { name: 'lse', type: 'f32' },
    { name: 'D', type: 'f32' },
    { name: 'dk', type: 'f32', write: true },
    { name: 'dv', type: 'f32', write: true },
  ],
  COMMON_UNIFORMS,
)}
${HASH}
var<workgroup> qt: array<f32, ${BK * CAP}>;
var<workgroup> dot_: array<f32, ${BK * CAP}>;
var<workgroup> lt: array<f32, ${BK}>;
var<workgroup> Dt: array<f32, ${BK}>;
@compute @workgroup_size(${ATTENTION_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  ${PROLOGUE}
  var kv: array<f32, ${CAP}>;
  var vv: array<f32, ${CAP}>;
  var dka: array<f32, ${CAP}>;
  var dva: array<f32, ${CAP}>;
  if (valid) {
    for (var i = 0u; i < dh; i++) {
      kv[i] = k[row * dh + i];
      vv[i] = v[row * dh + i];
    }
  }
  for (var s0 = r0; s0 < T; s0 += ${BK}u) {
    ${loadTiles(BK, 'q', 'dO', 'qt', 'dot_')}
    for (var x = tid; x < ${BK}u; x += ${ATTENTION_WG}u) {
      let s = s0 + x;
      var a = 0.0f;
      var b = 0.0f;
      if (s < T) {
        a = lse[bh * T + s];
        b = D[bh * T + s];
      }
      lt[x] = a;
      Dt[x] = b;
    }
    workgroupBarrier();
    if (valid) {
      let tEnd = min(s0 + ${BK}u, T);
      for (var t = max(s0, r); t < tEnd; t++) {
        let tr = t - s0;
        let qb = tr * dh;
        var qk = 0.0f;
        var dp = 0.0f;
        for (var i = 0u; i < dh; i++) {
          qk += qt[qb + i] * kv[i];
          dp += dot_[qb + i] * vv[i];
        }
        let p = exp(qk * params.scale - lt[tr]);
        ${drop ? 'let ks = keepScale((bh * T + t) * T + r);' : 'let ks = 1.0f;'}
        let pd = p * ks;
        let ds = p * (dp * ks - Dt[tr]);
        for (var i = 0u; i < dh; i++) {
          dva[i] += pd * dot_[qb + i];
          dka[i] += ds * qt[qb + i];
        }
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    for (var i = 0u; i < dh; i++) {
      dk[row * dh + i] = dka[i] * params.scale;
      dv[row * dh + i] = dva[i];
    }
  }
}`;

interface Attrs {
  scale: number;
  rate: number;
  seed: number;
}

function sizes(q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo): { BH: number; T: number; dh: number } {
  if (q.shape.length !== 4) throw new Error(`${ATTENTION_KERNEL}: expected q, k, v [B, H, T, d_h], got q [${q.shape}]`);
  if (k.shape.join() !== q.shape.join() || v.shape.join() !== q.shape.join()) throw new Error(`${ATTENTION_KERNEL}: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not match`);
  const [B, H, T, dh] = q.shape as [number, number, number, number];
  if (dh > ATTENTION_MAX_DH) throw new Error(`${ATTENTION_KERNEL}: d_h ${dh} > ${ATTENTION_MAX_DH}`);
  if (B * H * T * T >= 2 ** 32) throw new Error(`${ATTENTION_KERNEL}: B·H·T² = ${B * H * T * T} overflows the u32 dropout index`);
  return { BH: B * H, T, dh };
}

/** The uniforms every pass shares, in COMMON_UNIFORMS' order. */
function uniforms(BH: number, T: number, dh: number, a: Attrs) {
  const tiles = Math.ceil(T / ATTENTION_WG);
  return [{ u: T }, { u: dh }, { u: tiles }, { u: BH * tiles }, { f: a.scale }, { u: lowbias32(a.seed >>> 0) }, { f: a.rate }, { f: a.rate > 0 ? 1 / (1 - a.rate) : 1 }];
}

let registered = false;

export function registerAttentionWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: ATTENTION_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v } = inputs as Record<string, tf.TensorInfo>;
      const a = attrs as unknown as Attrs;
      const { BH, T, dh } = sizes(q!, k!, v!);
      const { CAP, BK } = tiling(dh);
      const drop = a.rate > 0;
      const backend = webgpuBackend();
      const o = allocate(backend, q!.shape);
      const lse = allocate(backend, q!.shape.slice(0, 3));
      const u = uniforms(BH, T, dh, a);
      dispatch('CausalAttention', `rb_attn_fwd_${CAP}${drop ? '_d' : ''}`, forwardWgsl(CAP, BK, drop), [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: o, write: true }, { tensor: lse, write: true }], u, grid(BH * Math.ceil(T / ATTENTION_WG)));
      return [o, lse];
    },
  });
  tf.registerKernel({
    kernelName: ATTENTION_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v, o, lse, dO } = inputs as Record<string, tf.TensorInfo>;
      const a = attrs as unknown as Attrs;
      const { BH, T, dh } = sizes(q!, k!, v!);
      const { CAP, BK } = tiling(dh);
      const drop = a.rate > 0;
      const backend = webgpuBackend();
      const dq = allocate(backend, q!.shape);
      const dk = allocate(backend, q!.shape);
      const dv = allocate(backend, q!.shape);
      const D = allocate(backend, q!.shape.slice(0, 3));
      const u = uniforms(BH, T, dh, a);
      const wgs = grid(BH * Math.ceil(T / ATTENTION_WG));
      dispatch('CausalAttentionGradQ', `rb_attn_dq_${CAP}${drop ? '_d' : ''}`, dqWgsl(CAP, BK, drop), [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: o! }, { tensor: dO! }, { tensor: lse! }, { tensor: dq, write: true }, { tensor: D, write: true }], u, wgs);
      dispatch('CausalAttentionGradKV', `rb_attn_dkv_${CAP}${drop ? '_d' : ''}`, dkvWgsl(CAP, BK, drop), [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: dO! }, { tensor: lse! }, { tensor: D }, { tensor: dk, write: true }, { tensor: dv, write: true }], u, wgs);
      (tf.backend() as unknown as { disposeData(id: object): void }).disposeData(D.dataId);
      return [dq, dk, dv];
    },
  });
}

/** o and lse of the fused forward (tests read lse against the reference's log-sum-exp). */
export function causalAttentionForwardWebGpu(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, rate = 0, seed = 0): [tf.Tensor4D, tf.Tensor3D] {
  return tf.engine().runKernel(ATTENTION_KERNEL, { q, k, v }, { scale, rate, seed } as unknown as tf.NamedAttrMap) as unknown as [tf.Tensor4D, tf.Tensor3D];
}

/**
 * Causal softmax attention, fused (the fast form of ops/causalAttention): q, k, v [B, H, T, d_h] → o [B, H, T, d_h]
 * with its own gradient in q, k, v; dropout at `rate` with ops/dropout's hashed mask of `seed`. Undefined
 * (declined: the op runs its reference) past d_h = ATTENTION_MAX_DH, for q, k, v of different shapes or not f32,
 * or past 2³² attention weights (the dropout index is a u32).
 */
export function causalAttentionWebGpu(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, rate: number, seed: number): tf.Tensor4D | undefined {
  const [B, H, T, dh] = q.shape;
  if (dh > ATTENTION_MAX_DH || k.shape.join() !== q.shape.join() || v.shape.join() !== q.shape.join() || B * H * T * T >= 2 ** 32) return undefined;
  if (q.dtype !== 'float32' || k.dtype !== 'float32' || v.dtype !== 'float32') return undefined;
  const attrs = { scale, rate, seed } as unknown as tf.NamedAttrMap;
  const f = tf.customGrad(((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, save: tf.GradSaveFunc) => {
    const [o, lse] = tf.engine().runKernel(ATTENTION_KERNEL, { q: qi, k: ki, v: vi }, attrs) as unknown as [tf.Tensor, tf.Tensor];
    save([qi, ki, vi, o, lse]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, so, slse] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { q: sq, k: sk, v: sv, o: so, lse: slse, dO: dy }, attrs) as unknown as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor;
  return f(q, k, v) as tf.Tensor4D;
}
