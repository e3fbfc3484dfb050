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
//
// A broadcast a is read in place through strides (0 on a broadcast axis), never expanded to b's shape: b's
// trailing axes are grouped into at most two runs [X, Y], each either full in a or broadcast (SSD's carry a
// [B·H, n, 1, 1] against b [B·H, n, N, P]: one broadcast run; GLA's a [.., d_k, 1]: a full run then a broadcast
// one), and a's batch axis may be 1. The backward writes da at b's shape and sums it over the broadcast axes — the
// same sum a broadcasting add's gradient takes. (Expanding a by tf.add(a, tf.zeros(b.shape)) built a Float32Array
// of b's size in JavaScript and uploaded it on every call: for Mamba-2 at d 128, L 256, B 64, 16.8 M floats = 67 MB
// per layer and step, which made its step host-bound — 120.5 ms of host time on an H200 for 516 dispatches.)
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, grid, webgpuBackend } from './dispatch.js';

export const SCAN_KERNEL = 'RecallbenchScan';
export const SCAN_GRAD_KERNEL = 'RecallbenchScanGrad';

const WG = 64;

// a's index of lane (batch, r = x·Y + y) at time t: batch·aB + t·aT + x·aX + y·aY (a stride is 0 on a broadcast axis)
const forwardWgsl = () => `
${declare(
  [
    { name: 'a', type: 'f32' },
    { name: 'b', type: 'f32' },
    { name: 'h', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'R: u32', 'Y: u32', 'aB: u32', 'aT: u32', 'aX: u32', 'aY: u32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let batch = lane / params.R;
  let r = lane % params.R;
  var i = batch * params.T * params.R + r;
  var ai = batch * params.aB + (r / params.Y) * params.aX + (r % params.Y) * params.aY;
  var state = 0.0f;
  for (var t = 0u; t < params.T; t++) {
    state = a[ai] * state + b[i];
    h[i] = state;
    i += params.R;
    ai += params.aT;
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
  ['lanes: u32', 'T: u32', 'R: u32', 'Y: u32', 'aB: u32', 'aT: u32', 'aX: u32', 'aY: u32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let batch = lane / params.R;
  let r = lane % params.R;
  let first = batch * params.T * params.R + r;
  let aFirst = batch * params.aB + (r / params.Y) * params.aX + (r % params.Y) * params.aY;
  var delta = 0.0f;
  var aNext = 0.0f;  // a_{t+1} (0 past the end)
  for (var k = 0u; k < params.T; k++) {
    let t = params.T - 1u - k;
    let i = first + t * params.R;
    delta = dy[i] + aNext * delta;
    db[i] = delta;
    let hPrev = select(0.0f, h[i - params.R], t > 0u);
    da[i] = delta * hPrev;
    aNext = a[aFirst + t * params.aT];
  }
}`;

/**
 * The kernels' view: b (and h, dy, da, db) [B, T, X, Y], a [B or 1, T, X or 1, Y or 1]; the lane and stride
 * uniforms of that pair (in the WGSL's order).
 */
function layout(a: tf.TensorInfo, b: tf.TensorInfo, kernel: string): { lanes: number; uniforms: Array<{ u: number }> } {
  if (b.shape.length !== 4 || a.shape.length !== 4) throw new Error(`${kernel}: expected a, b of rank 4 [B, T, X, Y], got a [${a.shape}] b [${b.shape}]`);
  const [B, T, X, Y] = b.shape as [number, number, number, number];
  const [aB, aT, aX, aY] = a.shape as [number, number, number, number];
  if (aT !== T || [aB, aX, aY].some((n, i) => n !== 1 && n !== [B, X, Y][i])) throw new Error(`${kernel}: a [${a.shape}] does not broadcast to b [${b.shape}]`);
  const R = X * Y;
  const strides = [aB > 1 ? T * aX * aY : 0, aX * aY, aX > 1 ? aY : 0, aY > 1 ? 1 : 0];
  return { lanes: B * R, uniforms: [B * R, T, R, Y, ...strides].map((u) => ({ u })) };
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
      const { lanes, uniforms } = layout(a!, b!, SCAN_KERNEL);
      const h = allocate(webgpuBackend(), b!.shape);
      dispatch('Scan', 'rb_scan_fwd', forwardWgsl, [{ tensor: a! }, { tensor: b! }, { tensor: h, write: true }], uniforms, workgroups(lanes));
      return h;
    },
  });
  tf.registerKernel({
    kernelName: SCAN_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { dy, a, h } = inputs as Record<string, tf.TensorInfo>;
      const { lanes, uniforms } = layout(a!, h!, SCAN_GRAD_KERNEL);
      const backend = webgpuBackend();
      const da = allocate(backend, h!.shape); // at b's shape: summed over a's broadcast axes by the gradient below
      const db = allocate(backend, h!.shape);
      dispatch('ScanGrad', 'rb_scan_bwd', backwardWgsl, [{ tensor: dy! }, { tensor: a! }, { tensor: h! }, { tensor: da, write: true }, { tensor: db, write: true }], uniforms, workgroups(lanes));
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
      const broadcast = a.shape.map((n, i) => (n === 1 && h.shape[i]! > 1 ? i : -1)).filter((i) => i >= 0);
      return { a: () => (broadcast.length ? tf.sum(da!, broadcast, true) : da!), b: () => db! };
    },
  });
}

/**
 * b's trailing axes (2, 3, …) as runs of neighbours that a holds in full or broadcasts (size-1 axes of b belong to
 * neither): [{ size, full }], at most one run of each kind in a row.
 */
function trailingRuns(a: number[], b: number[]): Array<{ size: number; full: boolean }> {
  const runs: Array<{ size: number; full: boolean }> = [];
  for (let i = 2; i < b.length; i++) {
    if (b[i] === 1) continue;
    const full = a[i] === b[i];
    const last = runs[runs.length - 1];
    if (last && last.full === full) last.size *= b[i]!;
    else runs.push({ size: b[i]!, full });
  }
  return runs;
}

/**
 * h_t = a_t ⊙ h_{t−1} + b_t over axis 1 for a broadcasting to b [B, T, ...] (the fast form of ops/scan, registered
 * by index.ts). A broadcast a is read in place (see the top of the file) when b's trailing axes form at most two
 * runs; otherwise (three or more alternating runs, which no mixer makes) it is expanded on the device first.
 */
export function scanWebGpu(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const shape = b.shape;
    const [B, T] = [shape[0]!, shape[1]!];
    let runs = trailingRuns(a.shape, shape);
    let aIn = a;
    if (runs.length > 2) {
      aIn = tf.add(a, tf.fill(shape, 0)); // a device-side fill: no array of b's size in JavaScript
      runs = trailingRuns(aIn.shape, shape);
    }
    const [X, Y] = runs.length === 2 ? [runs[0]!, runs[1]!] : [{ size: 1, full: true }, runs[0] ?? { size: 1, full: true }];
    const aView = aIn.reshape([aIn.shape[0]!, T, X.full ? X.size : 1, Y.full ? Y.size : 1]);
    const h = tf.engine().runKernel(SCAN_KERNEL, { a: aView, b: b.reshape([B, T, X.size, Y.size]) }) as tf.Tensor;
    return h.reshape(shape);
  });
}
