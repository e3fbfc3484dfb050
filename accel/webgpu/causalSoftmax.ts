// The causal softmax of attention scores, fused (WebGPU), forward and backward: the fast form of ops/causalSoftmax
// (lever `causalSoftmax`), which causal attention runs on its [.., T, T] scores whenever the flash form is off; and its
// band form (lever `bandSoftmax`), which the sliding window's masked form runs (row i: keys i − w … i).
//
//   y[r, j]  = exp(x_j − m) / Σ_{k ≤ i} exp(x_k − m),  x_j = s[r, j] · scale,  m = max_{k ≤ i} x_k    (j ≤ i; 0 above)
//   ds[r, j] = scale · y[r, j] · (dy[r, j] − Σ_k y[r, k] dy[r, k])
//
// r a row of the scores (a query), i = r mod T its position. tfjs runs Multiply (the scale), Add (the mask: −1e9 above
// the diagonal) and Softmax forward, and for the gradient Multiply, Sum, Multiply, Sub and the scale's Multiply: eight
// dispatches a layer, each a pass over B·H·T² floats (attention d 128 at L 512, B128: 134 MB a pass). Here one
// workgroup a row, one dispatch each way: the row's max and sums reduced in workgroup memory (the forward reads the
// row's unmasked part three times — max, sum, output — from cache after the first), the masked part written as zeros
// (the reference's exp(−1e9 − m) is 0 in float32) and never read. The sums' order differs from tfjs's
// reductions: within float32 rounding of the reference (tests/webgpu-causalSoftmax.test.ts).
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, fitsDevice, grid, madeOnce, treeReduce, webgpuBackend } from './dispatch.js';

const WG = 64;
export const CAUSAL_SOFTMAX_KERNEL = 'RecallbenchCausalSoftmax';
export const CAUSAL_SOFTMAX_GRAD_KERNEL = 'RecallbenchCausalSoftmaxGrad';
// The band form (lever `bandSoftmax`, the sliding window's masked scores): row i's keys i − w … i, the rest 0. Its
// WGSL adds the band's first key `lo`; with band false the text is the causal kernels' as GPU-checked on 2026-12-01.
export const BAND_SOFTMAX_KERNEL = 'RecallbenchBandSoftmax';
export const BAND_SOFTMAX_GRAD_KERNEL = 'RecallbenchBandSoftmaxGrad';

const uniforms = (band: boolean) => ['rows: u32', 'T: u32', 'scale: f32', ...(band ? ['window: u32'] : [])];

const prologue = (band: boolean) => `
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let r = wg.y * nwg.x + wg.x;
  if (r >= params.rows) { return; }  // uniform per workgroup: every thread of a row leaves, or none
  let T = params.T;
  let i = r % T;
  let base = r * T;${band ? `
  let lo = select(0u, i - params.window, i > params.window);  // the band's first key, i − w (0 near the start)` : ''}`;

/** The loop start over a row's visible keys, and the test of a visible key j. */
const first = (band: boolean) => (band ? 'lo + tid' : 'tid');
const visible = (band: boolean) => (band ? 'j >= lo && j <= i' : 'j <= i');

const forwardWgsl = (band: boolean) => () => `
${declare([{ name: 'scores', type: 'f32' }, { name: 'y', type: 'f32', write: true }], uniforms(band))}
${prologue(band)}
  var m = -3.0e38f;
  for (var j = ${first(band)}; j <= i; j += ${WG}u) { m = max(m, scores[base + j] * params.scale); }
  red[tid] = m;
  workgroupBarrier();
  ${treeReduce(WG, (a, b) => `max(${a}, ${b})`)}
  m = red[0];
  workgroupBarrier();
  var total = 0.0f;
  for (var j = ${first(band)}; j <= i; j += ${WG}u) { total += exp(scores[base + j] * params.scale - m); }
  red[tid] = total;
  workgroupBarrier();
  ${treeReduce(WG, (a, b) => `${a} + ${b}`)}
  total = red[0];
  // (an if, not select(): select evaluates both arms, and would read the masked scores too)
  for (var j = tid; j < T; j += ${WG}u) {
    if (${visible(band)}) { y[base + j] = exp(scores[base + j] * params.scale - m) / total; } else { y[base + j] = 0.0f; }
  }
}`;

const backwardWgsl = (band: boolean) => () => `
${declare([{ name: 'y', type: 'f32' }, { name: 'dy', type: 'f32' }, { name: 'ds', type: 'f32', write: true }], uniforms(band))}
${prologue(band)}
  var ydy = 0.0f;
  for (var j = ${first(band)}; j <= i; j += ${WG}u) { ydy += y[base + j] * dy[base + j]; }
  red[tid] = ydy;
  workgroupBarrier();
  ${treeReduce(WG, (a, b) => `${a} + ${b}`)}
  ydy = red[0];
  for (var j = tid; j < T; j += ${WG}u) {
    if (${visible(band)}) { ds[base + j] = params.scale * y[base + j] * (dy[base + j] - ydy); } else { ds[base + j] = 0.0f; }
  }
}`;

let registered = false;

function registerKernels(): void {
  if (registered) return;
  registered = true;
  const run = (name: string, key: string, wgsl: () => string, ins: tf.TensorInfo[], scale: number, window?: number) => {
    const T = ins[0]!.shape[ins[0]!.shape.length - 1]!;
    const rows = tf.util.sizeFromShape(ins[0]!.shape) / T;
    const out = allocate(webgpuBackend(), ins[0]!.shape);
    dispatch(name, key, wgsl, [...ins.map((tensor) => ({ tensor })), { tensor: out, write: true }], [{ u: rows }, { u: T }, { f: scale }, ...(window !== undefined ? [{ u: window }] : [])], grid(rows));
    return out;
  };
  type Attrs = { scale: number; window: number };
  for (const band of [false, true]) {
    const [kernel, gradKernel, name, key] = band
      ? [BAND_SOFTMAX_KERNEL, BAND_SOFTMAX_GRAD_KERNEL, 'BandSoftmax', 'rb_band_softmax']
      : [CAUSAL_SOFTMAX_KERNEL, CAUSAL_SOFTMAX_GRAD_KERNEL, 'CausalSoftmax', 'rb_causal_softmax'];
    const windowOf = (attrs: Attrs) => (band ? attrs.window : undefined);
    tf.registerKernel({
      kernelName: kernel,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, attrs }) => run(name, key, forwardWgsl(band), [(inputs as { s: tf.TensorInfo }).s], (attrs as unknown as Attrs).scale, windowOf(attrs as unknown as Attrs)),
    });
    tf.registerKernel({
      kernelName: gradKernel,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, attrs }) => {
        const { y, dy } = inputs as { y: tf.TensorInfo; dy: tf.TensorInfo };
        return run(`${name}Grad`, `${key}_grad`, backwardWgsl(band), [y, dy], (attrs as unknown as Attrs).scale, windowOf(attrs as unknown as Attrs));
      },
    });
  }
}

/**
 * softmax(s · scale + mask) with its gradient, the output saved for the backward (the softmax's own rule); one function
 * a scale (causal) or a scale and window (band).
 */
const fusedWith = (kernel: string, gradKernel: string, attrs: { scale: number; window?: number }) =>
  tf.customGrad(((s: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.engine().runKernel(kernel, { s }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    save([y]);
    return { value: y, gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => tf.engine().runKernel(gradKernel, { y: saved!, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (s: tf.Tensor) => tf.Tensor;
const fused = madeOnce((scale: number) => fusedWith(CAUSAL_SOFTMAX_KERNEL, CAUSAL_SOFTMAX_GRAD_KERNEL, { scale }));
const fusedBand = madeOnce(
  ([scale, window]: [number, number]) => fusedWith(BAND_SOFTMAX_KERNEL, BAND_SOFTMAX_GRAD_KERNEL, { scale, window }),
  ([scale, window]) => `${scale}:${window}`,
);

/** Square float32 [.., T, T] scores within the device's limits: what the fused forms take. */
const takes = (scores: tf.Tensor) => {
  const n = scores.rank;
  return scores.dtype === 'float32' && n >= 2 && scores.shape[n - 1] === scores.shape[n - 2] && scores.size > 0 && fitsDevice(scores.size);
};

/** The fused causal softmax; undefined (declined) unless float32 [.., T, T] scores within the device's limits. */
export function causalSoftmaxWebGpu(scores: tf.Tensor, scale: number): tf.Tensor | undefined {
  if (!takes(scores)) return undefined;
  registerKernels();
  return fused(scale)(scores);
}

/** The fused band softmax (query i sees keys i − w … i); declined as the causal one, and for a window that is not a whole number ≥ 0. */
export function bandSoftmaxWebGpu(scores: tf.Tensor, scale: number, window: number): tf.Tensor | undefined {
  if (!takes(scores) || !Number.isInteger(window) || window < 0) return undefined;
  registerKernels();
  return fusedBand([scale, window])(scores);
}
