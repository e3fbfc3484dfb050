// Fused RWKV-4 WKV (WebGPU), forward and backward, with its own gradient: the fast form of ops/wkv.
//
//   wkv_t = (Σ_{i<t} e^{−(t−1−i)w + k_i} v_i + e^{u + k_t} v_t) / (Σ_{i<t} e^{−(t−1−i)w + k_i} + e^{u + k_t})
//
// One thread per (batch, channel) lane walks time with the state in scaled form (p, q, o: num = p·e^o, den =
// q·e^o), as RWKV's CUDA kernel (RWKV-LM, wkv_cuda.cu) does; the backward is that kernel's two passes: forward
// again, accumulating ∂/∂w and ∂/∂u and keeping y_t, 1/den_t and the bonus term's exponent per step (a scratch
// buffer), then a reverse pass carrying the later tokens' sensitivities (gp, gq) in the same scaled form, which
// gives ∂/∂k and ∂/∂v. Every exponent is ≤ 0. ∂/∂w and ∂/∂u come out per lane and are summed over the batch by
// tfjs. A stack of R runs (engine/stack.ts) passes [w; u] as [2, R, C]: each lane reads its example's run's pair
// (examples run-major, B/R per run) and the per-lane ∂/∂w, ∂/∂u are summed over each run's examples. The parallel reference (ops/wkv/parallel.ts) is an associative scan of 2·⌈log₂ T⌉ levels of tfjs ops —
// the hundreds of dispatches that make RWKV's step host-bound. Shapes are uniforms (no size in the pipeline key).
// Reference: wkvNaive (ops/wkv/naive.ts).
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, grid, release, webgpuBackend } from './dispatch.js';

export const WKV_KERNEL = 'RecallbenchWkv';
export const WKV_GRAD_KERNEL = 'RecallbenchWkvGrad';

const WG = 64;
const MIN_VALUE = '-1e38f';

// wu = [w (decay rate > 0, C) ; u (C)]: one buffer, so the backward stays within 8 storage buffers
const forwardWgsl = () => `
${declare(
  [
    { name: 'wu', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'y', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'C: u32', 'perRun: u32', 'R: u32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let c = lane % params.C;
  let first = (lane / params.C) * params.T * params.C + c;
  let rc = (lane / params.C / params.perRun) * params.C + c;  // this example's run's channel c
  let w = -wu[rc];
  let u = wu[params.R * params.C + rc];
  var p = 0.0f;
  var q = 0.0f;
  var o = ${MIN_VALUE};
  for (var t = 0u; t < params.T; t++) {
    let i = first + t * params.C;
    let kk = k[i];
    let vv = v[i];
    var no = max(o, u + kk);
    var A = exp(o - no);
    var B = exp(u + kk - no);
    y[i] = (A * p + B * vv) / (A * q + B);
    no = max(w + o, kk);
    A = exp(w + o - no);
    B = exp(kk - no);
    p = A * p + B * vv;
    q = A * q + B;
    o = no;
  }
}`;

const backwardWgsl = () => `
${declare(
  [
    { name: 'wu', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'gy', type: 'f32' },
    { name: 'gk', type: 'f32', write: true },
    { name: 'gv', type: 'f32', write: true },
    { name: 'gwu', type: 'f32', write: true },
    { name: 'scratch', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'C: u32', 'perRun: u32', 'R: u32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let c = lane % params.C;
  let first = (lane / params.C) * params.T * params.C + c;
  let n = params.lanes * params.T;  // scratch = [y; 1/den; bonus exponent], each [B, T, C]
  let rc = (lane / params.C / params.perRun) * params.C + c;  // this example's run's channel c
  let w = -wu[rc];
  let u = wu[params.R * params.C + rc];
  var gw = 0.0f;
  var gu = 0.0f;
  var p = 0.0f;
  var q = 0.0f;
  var dpdw = 0.0f;
  var dqdw = 0.0f;
  var o = ${MIN_VALUE};
  for (var t = 0u; t < params.T; t++) {
    let i = first + t * params.C;
    let kk = k[i];
    let vv = v[i];
    let g = gy[i];
    var no = max(o, kk + u);
    var A = exp(o - no);
    var B = exp(kk + u - no);
    let iden = 1.0f / (A * q + B);
    let yy = (A * p + B * vv) * iden;
    scratch[i] = yy;
    scratch[n + i] = iden;
    scratch[2u * n + i] = kk + u - no;
    gw += g * (dpdw - dqdw * yy) * iden * A;
    gu += g * (vv - yy) * B * iden;
    no = max(w + o, kk);
    A = exp(w + o - no);
    B = exp(kk - no);
    dpdw = A * (p + dpdw);
    dqdw = A * (q + dqdw);
    p = A * p + B * vv;
    q = A * q + B;
    o = no;
  }
  var gp = 0.0f;
  var gq = 0.0f;
  o = ${MIN_VALUE};
  for (var s = 0u; s < params.T; s++) {
    let t = params.T - 1u - s;
    let i = first + t * params.C;
    let kk = k[i];
    let vv = v[i];
    let g = gy[i];
    let yy = scratch[i];
    let iden = scratch[n + i];
    let zexp = scratch[2u * n + i];
    var A = g * iden * exp(zexp);
    var B = exp(kk + o);
    gk[i] = A * (vv - yy) + B * (gp * vv + gq);
    gv[i] = A + B * gp;
    let no = max(w + o, zexp - kk - u);
    A = exp(w + o - no);
    B = g * iden * exp(zexp - kk - u - no);
    gp = A * gp + B;
    gq = A * gq - B * yy;
    o = no;
  }
  // ∂/∂(decay rate) = −∂/∂w (w = −rate here)
  gwu[lane] = -gw;
  gwu[params.lanes + lane] = gu;
}`;

/** Sizes from k [B, T, C] and [w; u] flat [2·R·C] (R runs, B/R examples each). */
function sizes(k: tf.TensorInfo, wu: tf.TensorInfo): { B: number; T: number; C: number; R: number } {
  if (k.shape.length !== 3) throw new Error(`${WKV_KERNEL}: expected k [B, T, C], got [${k.shape}]`);
  const [B, T, C] = k.shape as [number, number, number];
  const R = wu.shape.length === 1 ? wu.shape[0]! / (2 * C) : 0;
  if (!Number.isInteger(R) || R < 1 || B % R !== 0) throw new Error(`${WKV_KERNEL}: [w; u] [${wu.shape}] is not 2 × R runs × C = ${C} with R dividing B = ${B}`);
  return { B, T, C, R };
}

const uniforms = ({ B, T, C, R }: { B: number; T: number; C: number; R: number }) => [{ u: B * C }, { u: T }, { u: C }, { u: B / R }, { u: R }];

const workgroups = (lanes: number) => grid(Math.ceil(lanes / WG));

let registered = false;

export function registerWkvWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: WKV_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { wu, k, v } = inputs as Record<string, tf.TensorInfo>;
      const size = sizes(k!, wu!);
      const y = allocate(webgpuBackend(), k!.shape);
      dispatch('Wkv', 'rb_wkv_fwd', forwardWgsl, [{ tensor: wu! }, { tensor: k! }, { tensor: v! }, { tensor: y, write: true }], uniforms(size), workgroups(size.B * size.C));
      return y;
    },
  });
  tf.registerKernel({
    kernelName: WKV_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { wu, k, v, gy } = inputs as Record<string, tf.TensorInfo>;
      const size = sizes(k!, wu!);
      const { B, T, C } = size;
      const backend = webgpuBackend();
      const gk = allocate(backend, k!.shape);
      const gv = allocate(backend, k!.shape);
      const gwu = allocate(backend, [2, B, C]);
      const scratch = allocate(backend, [3, B, T, C]);
      dispatch(
        'WkvGrad',
        'rb_wkv_bwd',
        backwardWgsl,
        [{ tensor: wu! }, { tensor: k! }, { tensor: v! }, { tensor: gy! }, { tensor: gk, write: true }, { tensor: gv, write: true }, { tensor: gwu, write: true }, { tensor: scratch, write: true }],
        uniforms(size),
        workgroups(B * C),
      );
      release(scratch);
      return [gk, gv, gwu];
    },
  });
  tf.registerGradient({
    kernelName: WKV_KERNEL,
    inputsToSave: ['wu', 'k', 'v'],
    gradFunc: (dy, saved) => {
      const [wu, k, v] = saved as [tf.Tensor1D, tf.Tensor3D, tf.Tensor3D];
      const [gk, gv, gwu] = tf.engine().runKernel(WKV_GRAD_KERNEL, { wu, k, v, gy: dy as tf.Tensor }) as unknown as tf.Tensor[];
      const { B, C, R } = sizes(k, wu);
      // per lane [2, B, C] → summed over each run's examples: [2, R, C], flat as [w; u] came in
      const perRun = () => (R === 1 ? tf.sum(gwu!, 1) : tf.sum(gwu!.reshape([2, R, B / R, C]), 2)).reshape([-1]);
      return { wu: perRun, k: () => gk!, v: () => gv! };
    },
  });
}

/**
 * w (decay rate, > 0) and u [C] — or a stack's [R, C], each run's B/R examples (run-major) with their own — and
 * k, v [B, T, C] → wkv [B, T, C] (the fast form of ops/wkv, registered by index.ts).
 */
export function wkvWebGpu(w: tf.Tensor1D | tf.Tensor2D, u: tf.Tensor1D | tf.Tensor2D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D {
  return tf.engine().runKernel(WKV_KERNEL, { wu: tf.concat([w.reshape([-1]), u.reshape([-1])]), k, v }) as tf.Tensor3D;
}
