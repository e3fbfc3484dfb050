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
import * as tf from '@tensorflow/tfjs';
import type { CachePolicy } from '../../ops/boundedCache/index.js';
import { allocate, declare, dispatch, grid, webgpuBackend } from './dispatch.js';

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

const selectWgsl = (C: number) => () => `
${declare(
  [
    { name: 'scores', type: 'f32' },
    { name: 'bias', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'recent: i32'],
)}
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

let registered = false;

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
      dispatch('H2oMask', `rb_h2o_select_${size}`, selectWgsl(size), [{ tensor: scores! }, { tensor: bias, write: true }], [{ u: B * H }, { u: T }, { i: recent }], grid(Math.ceil((B * H) / WG)));
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
