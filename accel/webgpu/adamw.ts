// Fused AdamW (WebGPU): one dispatch per parameter tensor updates the parameter and both moments in place,
// in the same order of floating-point operations as the plain-tfjs AdamW update of ops/adamw/naive.ts (the reference):
//
//   m ← m·β1 + g·(1 − β1);  v ← v·β2 + g²·(1 − β2)
//   p ← p·(1 − lr·wd) − lr · (m / c1) / (√(v / c2) + eps),   c1 = 1 − β1^t,  c2 = 1 − β2^t
//
// tfjs's AdamW costs ~13 kernels and several scalar uploads per parameter; this is one dispatch with the
// hyperparameters in its uniform buffer. In-place writes are only done when the parameter and the moments are
// the sole owners of their buffers (no other live tensor shares them); otherwise the caller falls back.
import * as tf from '@tensorflow/tfjs';
import type { AdamWStep } from '../../ops/adamw/index.js';
import { endStep } from './bindGroups.js';
import { declare, dispatch, grid, soleOwner, webgpuBackend } from './dispatch.js';

export const ADAMW_KERNEL = 'RecallbenchAdamW';

const WG = 256;

const wgsl = (vec: boolean) => () => {
  const T = vec ? 'vec4<f32>' : 'f32';
  return `
${declare(
  [
    { name: 'p', type: T, write: true },
    { name: 'm', type: T, write: true },
    { name: 'v', type: T, write: true },
    { name: 'g', type: T },
  ],
  ['n: u32', 'lr: f32', 'beta1: f32', 'oneMinusBeta1: f32', 'beta2: f32', 'oneMinusBeta2: f32', 'c1: f32', 'c2: f32', 'eps: f32', 'decay: f32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let i = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (i >= params.n) { return; }
  let gi = g[i];
  let mi = m[i] * params.beta1 + gi * params.oneMinusBeta1;
  let vi = v[i] * params.beta2 + (gi * gi) * params.oneMinusBeta2;
  m[i] = mi;
  v[i] = vi;
  let update = (mi / params.c1) / (sqrt(vi / params.c2) + params.eps);
  p[i] = p[i] * params.decay - update * params.lr;
}`;
};

let registered = false;

export function registerAdamWWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: ADAMW_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const h = attrs as unknown as AdamWStep & { count: number; lr: number }; // one rate (adamWWebGpu declines a stack's)
      const named = inputs as Record<string, tf.TensorInfo>;
      for (let i = 0; i < h.count; i++) {
        const [p, m, v, g] = ['p', 'm', 'v', 'g'].map((k) => named[`${k}${i}`]!);
        const n = p!.shape.reduce((a, b) => a * b, 1);
        if (n === 0) continue;
        const vec = n % 4 === 0;
        const threads = vec ? n / 4 : n;
        const wd = h.weightDecays[i]!;
        dispatch(
          'AdamW',
          vec ? 'rb_adamw4' : 'rb_adamw1',
          wgsl(vec),
          [{ tensor: p!, write: true }, { tensor: m!, write: true }, { tensor: v!, write: true }, { tensor: g! }],
          [{ u: threads }, { f: h.lr }, { f: h.beta1 }, { f: 1 - h.beta1 }, { f: h.beta2 }, { f: 1 - h.beta2 }, { f: h.c1 }, { f: h.c2 }, { f: h.eps }, { f: wd > 0 ? 1 - h.lr * wd : 1 }],
          grid(Math.ceil(threads / WG)),
        );
      }
      // The optimizer ends the step: submit now, so every step starts a fresh command batch. Then the buffer
      // pool hands out the same buffers in the same order each step, which is what the bind-group cache needs.
      endStep(webgpuBackend() as unknown as Parameters<typeof endStep>[0]);
      // kernels must return an output: a CPU-side scalar that never reaches the GPU
      return (backend as unknown as { makeTensorInfo(s: number[], d: string, v: Float32Array): tf.TensorInfo }).makeTensorInfo([], 'float32', new Float32Array(1));
    },
  });
}

/**
 * Update params, first and second moments in place. Returns false (and does nothing) when some buffer is shared
 * with another live tensor, so the caller uses the reference path instead.
 */
export function adamWWebGpu(params: tf.Variable[], m: tf.Variable[], v: tf.Variable[], grads: tf.Tensor[], h: AdamWStep): boolean {
  if (typeof h.lr !== 'number') return false; // a stack's per-run rates: the reference
  for (let i = 0; i < params.length; i++) {
    if (!soleOwner(params[i]!) || !soleOwner(m[i]!) || !soleOwner(v[i]!)) return false;
    if (grads[i]!.dtype !== 'float32' || grads[i]!.size !== params[i]!.size) return false;
  }
  const inputs: Record<string, tf.Tensor> = {};
  params.forEach((p, i) => {
    inputs[`p${i}`] = p;
    inputs[`m${i}`] = m[i]!;
    inputs[`v${i}`] = v[i]!;
    inputs[`g${i}`] = grads[i]!;
  });
  const done = tf.engine().runKernel(ADAMW_KERNEL, inputs, { ...h, count: params.length } as unknown as tf.NamedAttrMap) as tf.Tensor;
  done.dispose();
  return true;
}
