// Fused diagonal scan (WebGPU), forward and backward, with its own gradient: the fast form of ops/scan.
//
//   forward   h_t = a_t ⊙ h_{t−1} + b_t                 (h_{−1} = 0), over axis 1 of [B, T, R]
//   backward  δ_t = dy_t + a_{t+1} ⊙ δ_{t+1}            (δ_T = 0),  db_t = δ_t,  da_t = δ_t ⊙ h_{t−1}
//
// The parallel reference (ops/scan/parallel.ts) builds the scan from log₂ T levels of tfjs ops — pads, splits,
// concats, multiplies — hundreds of small dispatches per call, which is why Mamba's step is host-bound. Here one
// thread walks the time axis of one (batch, channel) lane: B·R threads (Mamba: B·E·N, 10⁵–10⁶), T sequential
// multiply-adds each, consecutive threads on consecutive channels so every time step reads and writes
// contiguous memory. One dispatch forward, one backward. Every shape is a uniform: the pipeline key names no
// size (tfjs's Cumsum baked a length into a cached shader, accel/webgpu/cumsum.ts). Reference: scanNaive.
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, grid, webgpuBackend } from './dispatch.js';

export const SCAN_KERNEL = 'RecallbenchScan';
export const SCAN_GRAD_KERNEL = 'RecallbenchScanGrad';

const WG = 64;

const forwardWgsl = () => `
${declare(
  [
    { name: 'a', type: 'f32' },
    { name: 'b', type: 'f32' },
    { name: 'h', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'R: u32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let batch = lane / params.R;
  let r = lane % params.R;
  var i = batch * params.T * params.R + r;
  var state = 0.0f;
  for (var t = 0u; t < params.T; t++) {
    state = a[i] * state + b[i];
    h[i] = state;
    i += params.R;
  }
}`;

const backwardWgsl = () => `
${declare(
  [
    { name: 'dy', type: 'f32' },
    { name: 'a', type: 'f32' },
    { name: 'h', type: 'f32' },
    { name: 'da', type: 'f32', write: true },
    { name: 'db', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'R: u32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let batch = lane / params.R;
  let r = lane % params.R;
  let first = batch * params.T * params.R + r;
  var delta = 0.0f;
  var aNext = 0.0f;  // a_{t+1} (0 past the end)
  for (var k = 0u; k < params.T; k++) {
    let t = params.T - 1u - k;
    let i = first + t * params.R;
    delta = dy[i] + aNext * delta;
    db[i] = delta;
    let hPrev = select(0.0f, h[i - params.R], t > 0u);
    da[i] = delta * hPrev;
    aNext = a[i];
  }
}`;

function lanesOf(x: tf.TensorInfo): { B: number; T: number; R: number } {
  if (x.shape.length !== 3) throw new Error(`${SCAN_KERNEL}: expected [B, T, R], got [${x.shape}]`);
  const [B, T, R] = x.shape as [number, number, number];
  return { B, T, R };
}

const workgroups = (lanes: number) => grid(Math.ceil(lanes / WG));

let registered = false;

export function registerScanWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: SCAN_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { a, b } = inputs as Record<string, tf.TensorInfo>;
      const { B, T, R } = lanesOf(b!);
      if (a!.shape.join() !== b!.shape.join()) throw new Error(`${SCAN_KERNEL}: a [${a!.shape}] and b [${b!.shape}] differ`);
      const h = allocate(webgpuBackend(), b!.shape);
      dispatch('Scan', 'rb_scan_fwd', forwardWgsl, [{ tensor: a! }, { tensor: b! }, { tensor: h, write: true }], [{ u: B * R }, { u: T }, { u: R }], workgroups(B * R));
      return h;
    },
  });
  tf.registerKernel({
    kernelName: SCAN_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { dy, a, h } = inputs as Record<string, tf.TensorInfo>;
      const { B, T, R } = lanesOf(h!);
      const backend = webgpuBackend();
      const da = allocate(backend, h!.shape);
      const db = allocate(backend, h!.shape);
      dispatch('ScanGrad', 'rb_scan_bwd', backwardWgsl, [{ tensor: dy! }, { tensor: a! }, { tensor: h! }, { tensor: da, write: true }, { tensor: db, write: true }], [{ u: B * R }, { u: T }, { u: R }], workgroups(B * R));
      return [da, db];
    },
  });
  tf.registerGradient({
    kernelName: SCAN_KERNEL,
    inputsToSave: ['a'],
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const [a, h] = saved as [tf.Tensor, tf.Tensor];
      const [da, db] = tf.engine().runKernel(SCAN_GRAD_KERNEL, { dy: dy as tf.Tensor, a, h }) as unknown as tf.Tensor[];
      return { a: () => da!, b: () => db! };
    },
  });
}

/**
 * h_t = a_t ⊙ h_{t−1} + b_t over axis 1 for a broadcasting to b [B, T, ...] (the fast form of ops/scan, registered
 * by index.ts). a is expanded by a broadcasting add, whose own gradient sums da back to a's shape.
 */
export function scanWebGpu(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const shape = b.shape;
    const aFull = a.shape.join() === shape.join() ? a : tf.add(a, tf.zeros(shape));
    const flat = (x: tf.Tensor) => x.reshape([shape[0]!, shape[1]!, -1]);
    const h = tf.engine().runKernel(SCAN_KERNEL, { a: flat(aFull), b: flat(b) }) as tf.Tensor;
    return h.reshape(shape);
  });
}
