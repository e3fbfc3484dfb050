// H2O's cache selection on WebGPU: the additive causal mask of bounded-cache attention's 'h2o' policy, computed on
// the device from the raw scores. Not a lever but a necessity: the reference (ops/boundedCache/parallel.ts
// h2oMaskBias) reads the scores back with dataSync, which tfjs-backend-webgpu cannot do in Node (its synchronous
// read goes through an OffscreenCanvas: "OffscreenCanvas is not defined"), so on webgpu H2O could not train at all.
//
// Two dispatches: fill the mask with −1e9, then one thread per (example, head) walks time exactly as policy.ts's
// h2oVisible does — softmax of the query over cache ∪ {itself}, accumulate each entry's attention, insert the
// token, evict the smallest accumulated score older than the `recent` newest (ties: the oldest) — and writes 0
// where the query sees a key. The cache (positions, accumulated scores) lives in private arrays of C slots, so C
// is part of the pipeline key. fp32 here, f64 in the reference: a near-tie between two accumulated scores may be
// broken differently (exact ties, from identical keys, are broken the same way: oldest first).
// Reference: h2oMaskBias (ops/boundedCache/parallel.ts), tested against it on the software adapter.
//
// Lever `h2oWorkgroup`: the walk of one (example, head) by a workgroup instead of one thread. The walk is serial in
// time, and with one thread per (example, head) a B64 step runs 64 threads through T · ~4C slot visits each (on an
// H200 the bounded cache's step was 24.1 ms, GPU-bound, against attention's 4.5: bench/RESULTS.md, 2026-11-30 night).
// Here thread i keeps slots i, i + WG, … (WG = C rounded up to a power of two, at most 256): the max over the cache
// and the eviction's argmin are tree reductions in workgroup memory — exact, and the argmin uses the serial loop's
// order (smallest accumulated score, then the oldest), so it picks the same slot — and the softmax total is summed
// by one thread in slot order from workgroup memory, as the serial loop adds it: the same bits, mask for mask.
import * as tf from '@tensorflow/tfjs';
import type { CachePolicy } from '../../ops/boundedCache/index.js';
import { allocate, declare, dispatch, grid, pow2AtLeast, webgpuBackend } from './dispatch.js';

export const H2O_MASK_KERNEL = 'RecallbenchH2oMask';
const WG = 64;
const NEG = '-1e9f';

const fillWgsl = () => `
${declare([{ name: 'bias', type: 'f32', write: true }], ['n: u32'])}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let i = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (i < params.n) { bias[i] = ${NEG}; }
}`;

// the two walks' bindings and uniforms (one thread or one workgroup per (example, head): the same dispatch otherwise)
const selectBindings = () =>
  declare(
    [
      { name: 'scores', type: 'f32' },
      { name: 'bias', type: 'f32', write: true },
    ],
    ['lanes: u32', 'T: u32', 'recent: i32'],
  );

const selectWgsl = (C: number) => () => `
${selectBindings()}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let T = params.T;
  let base = lane * T * T;
  var pos: array<i32, ${C}>;
  var acc: array<f32, ${C}>;
  var w: array<f32, ${C}>;
  var n = 0u;
  for (var t = 0u; t < T; t++) {
    let row = base + t * T;
    let own = scores[row + t];
    var mx = own;
    for (var i = 0u; i < n; i++) { mx = max(mx, scores[row + u32(pos[i])]); }
    var total = exp(own - mx);
    for (var i = 0u; i < n; i++) {
      w[i] = exp(scores[row + u32(pos[i])] - mx);
      total += w[i];
    }
    for (var i = 0u; i < n; i++) {
      acc[i] += w[i] / total;
      bias[row + u32(pos[i])] = 0.0f;
    }
    bias[row + t] = 0.0f;
    let ownWeight = exp(own - mx) / total;
    if (n < ${C}u) {
      pos[n] = i32(t);
      acc[n] = ownWeight;
      n++;
      continue;
    }
    var evict = -1;
    for (var i = 0; i < ${C}; i++) {
      if (pos[i] > i32(t) - params.recent) { continue; }
      if (evict < 0 || acc[i] < acc[evict] || (acc[i] == acc[evict] && pos[i] < pos[evict])) { evict = i; }
    }
    pos[evict] = i32(t);
    acc[evict] = ownWeight;
  }
}`;

/** Largest cache the workgroup walk takes (its softmax weights sit in workgroup memory: 8 KiB at 2048); past it, a thread. */
export const H2O_WORKGROUP_MAX_C = 2048;

/** Threads of the workgroup that walks one (example, head)'s cache of C slots, and the slots each keeps. */
export function h2oLanes(C: number): { WG: number; S: number } {
  const WG = Math.min(256, pow2AtLeast(C));
  return { WG, S: Math.ceil(C / WG) };
}

// one workgroup per (example, head): thread tid keeps slots tid + s·WG (s < S) of the cache
const selectWorkgroupWgsl = (C: number) => () => {
  const { WG, S } = h2oLanes(C);
  return `
${selectBindings()}
var<workgroup> redM: array<f32, ${WG}>;
var<workgroup> redA: array<f32, ${WG}>;
var<workgroup> redP: array<i32, ${WG}>;
var<workgroup> redI: array<i32, ${WG}>;
var<workgroup> wsh: array<f32, ${C}>;
var<workgroup> tot: f32;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = wg.y * nwg.x + wg.x;
  if (lane >= params.lanes) { return; }
  let T = params.T;
  let base = lane * T * T;
  var pos: array<i32, ${S}>;
  var acc: array<f32, ${S}>;
  var w: array<f32, ${S}>;
  var n = 0u;
  for (var t = 0u; t < T; t++) {
    let row = base + t * T;
    let own = scores[row + t];
    var mx = own;
    for (var s = 0u; s < ${S}u; s++) {
      if (tid + s * ${WG}u < n) { mx = max(mx, scores[row + u32(pos[s])]); }
    }
    redM[tid] = mx;
    workgroupBarrier();
    for (var stride = ${WG / 2}u; stride > 0u; stride = stride / 2u) {
      if (tid < stride) { redM[tid] = max(redM[tid], redM[tid + stride]); }
      workgroupBarrier();
    }
    mx = redM[0];
    for (var s = 0u; s < ${S}u; s++) {
      let i = tid + s * ${WG}u;
      if (i < n) {
        w[s] = exp(scores[row + u32(pos[s])] - mx);
        wsh[i] = w[s];
      }
    }
    workgroupBarrier();
    if (tid == 0u) {
      var total = exp(own - mx);
      for (var i = 0u; i < n; i++) { total += wsh[i]; }
      tot = total;
    }
    workgroupBarrier();
    let total = tot;
    for (var s = 0u; s < ${S}u; s++) {
      if (tid + s * ${WG}u < n) {
        acc[s] += w[s] / total;
        bias[row + u32(pos[s])] = 0.0f;
      }
    }
    if (tid == 0u) { bias[row + t] = 0.0f; }
    let ownWeight = exp(own - mx) / total;
    if (n < ${C}u) {
      if (n % ${WG}u == tid) {
        pos[n / ${WG}u] = i32(t);
        acc[n / ${WG}u] = ownWeight;
      }
      n++;
      continue;
    }
    // the eviction: among slots older than the recent window, the smallest accumulated score, then the oldest
    var best = -1;
    var bestAcc = 0.0f;
    var bestPos = 0;
    for (var s = 0u; s < ${S}u; s++) {
      let i = tid + s * ${WG}u;
      if (i >= ${C}u || pos[s] > i32(t) - params.recent) { continue; }
      if (best < 0 || acc[s] < bestAcc || (acc[s] == bestAcc && pos[s] < bestPos)) {
        best = i32(i);
        bestAcc = acc[s];
        bestPos = pos[s];
      }
    }
    redA[tid] = bestAcc;
    redP[tid] = bestPos;
    redI[tid] = best;
    workgroupBarrier();
    for (var stride = ${WG / 2}u; stride > 0u; stride = stride / 2u) {
      if (tid < stride) {
        let o = tid + stride;
        if (redI[o] >= 0 && (redI[tid] < 0 || redA[o] < redA[tid] || (redA[o] == redA[tid] && redP[o] < redP[tid]))) {
          redA[tid] = redA[o];
          redP[tid] = redP[o];
          redI[tid] = redI[o];
        }
      }
      workgroupBarrier();
    }
    let evict = redI[0];
    if (evict >= 0 && u32(evict) % ${WG}u == tid) {
      pos[u32(evict) / ${WG}u] = i32(t);
      acc[u32(evict) / ${WG}u] = ownWeight;
    }
  }
}`;
};

let registered = false;
let workgroupWalk = false;

/** Lever `h2oWorkgroup`: a workgroup walks each (example, head)'s cache (on), or one thread does (off). */
export function setH2oWorkgroup(on: boolean): void {
  workgroupWalk = on;
}

export function registerH2oMaskWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: H2O_MASK_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { scores } = inputs as Record<string, tf.TensorInfo>;
      const { size, recent } = attrs as unknown as { size: number; recent: number };
      if (scores!.shape.length !== 4 || scores!.shape[2] !== scores!.shape[3]) throw new Error(`${H2O_MASK_KERNEL}: expected scores [B, H, T, T], got [${scores!.shape}]`);
      const [B, H, T] = scores!.shape as [number, number, number, number];
      const bias = allocate(webgpuBackend(), scores!.shape);
      const n = B * H * T * T;
      dispatch('H2oMaskFill', 'rb_h2o_fill', fillWgsl, [{ tensor: bias, write: true }], [{ u: n }], grid(Math.ceil(n / WG)));
      const bindings = [{ tensor: scores! }, { tensor: bias, write: true }];
      const uniforms = [{ u: B * H }, { u: T }, { i: recent }];
      if (workgroupWalk && size <= H2O_WORKGROUP_MAX_C) dispatch('H2oMaskWorkgroup', `rb_h2o_select_wg_${size}`, selectWorkgroupWgsl(size), bindings, uniforms, grid(B * H));
      else dispatch('H2oMask', `rb_h2o_select_${size}`, selectWgsl(size), bindings, uniforms, grid(Math.ceil((B * H) / WG)));
      return bias;
    },
  });
  // the mask is a constant of the forward (no gradient through the choice, as in the reference)
  tf.registerGradient({ kernelName: H2O_MASK_KERNEL, gradFunc: (dy) => ({ scores: () => tf.zerosLike(dy as tf.Tensor) }) });
}

/** The additive [B, H, T, T] mask of H2O's causal selection from the raw scores (the webgpu form of h2oMaskBias). */
export function h2oMaskWebGpu(p: CachePolicy, scores: tf.Tensor4D): tf.Tensor4D {
  return tf.engine().runKernel(H2O_MASK_KERNEL, { scores }, { size: p.size, recent: p.recent } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}
