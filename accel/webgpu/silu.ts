// Fused SiLU and SiLU gate (WebGPU), forward and backward: the fast forms of ops/silu (lever `silu`).
//
//   silu      y = x σ(x)                      dx = dy · σ(x) (1 + x (1 − σ(x)))
//   siluGate  o = y · z σ(z)                  dy = do · z σ(z),   dz = do · y · σ(z) (1 + z (1 − σ(z)))
//
// One thread per element, forward one dispatch, backward one (the gate's two gradients from one pass). tfjs runs
// Sigmoid and Multiply (the gate: a second Multiply) forward and about five elementwise kernels for each gradient —
// Mamba's block runs both twice a layer, the largest share of a host-bound d 64 step's 194 dispatches after its
// matmuls. σ is 1 / (1 + exp(−x)), as tfjs's Sigmoid computes it; the sums round differently from the reference's
// chain of ops (tests: within float32 rounding). Reference: ops/silu/naive.ts.
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, grid, webgpuBackend } from './dispatch.js';

const WG = 256;
const lane = 'let i = (wg.y * nwg.x + wg.x) * 256u + tid;';
const builtins = '@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32';
const sigmoid = 'fn sigmoid(v: f32) -> f32 { return 1.0f / (1.0f + exp(-v)); }';

const siluForward = () => `
${declare([{ name: 'x', type: 'f32' }, { name: 'y', type: 'f32', write: true }], ['n: u32'])}
${sigmoid}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (i >= params.n) { return; }
  let v = x[i];
  y[i] = v * sigmoid(v);
}`;

const siluBackward = () => `
${declare([{ name: 'x', type: 'f32' }, { name: 'dy', type: 'f32' }, { name: 'dx', type: 'f32', write: true }], ['n: u32'])}
${sigmoid}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (i >= params.n) { return; }
  let v = x[i];
  let s = sigmoid(v);
  dx[i] = dy[i] * s * (1.0f + v * (1.0f - s));
}`;

const gateForward = () => `
${declare([{ name: 'y', type: 'f32' }, { name: 'z', type: 'f32' }, { name: 'o', type: 'f32', write: true }], ['n: u32'])}
${sigmoid}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (i >= params.n) { return; }
  let v = z[i];
  o[i] = y[i] * (v * sigmoid(v));
}`;

const gateBackward = () => `
${declare(
  [
    { name: 'y', type: 'f32' },
    { name: 'z', type: 'f32' },
    { name: 'dout', type: 'f32' },
    { name: 'dy', type: 'f32', write: true },
    { name: 'dz', type: 'f32', write: true },
  ],
  ['n: u32'],
)}
${sigmoid}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (i >= params.n) { return; }
  let v = z[i];
  let s = sigmoid(v);
  let g = dout[i];
  dy[i] = g * (v * s);
  dz[i] = g * y[i] * s * (1.0f + v * (1.0f - s));
}`;

export const SILU_KERNEL = 'RecallbenchSilu';
export const SILU_GRAD_KERNEL = 'RecallbenchSiluGrad';
export const SILU_GATE_KERNEL = 'RecallbenchSiluGate';
export const SILU_GATE_GRAD_KERNEL = 'RecallbenchSiluGateGrad';

const size = (t: tf.TensorInfo) => t.shape.reduce((a, b) => a * b, 1);
const groups = (n: number) => grid(Math.ceil(n / WG));

let registered = false;

export function registerSiluWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: SILU_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { x } = inputs as Record<string, tf.TensorInfo>;
      const n = size(x!);
      const y = allocate(webgpuBackend(), x!.shape);
      dispatch('Silu', 'rb_silu_fwd', siluForward, [{ tensor: x! }, { tensor: y, write: true }], [{ u: n }], groups(n));
      return y;
    },
  });
  tf.registerKernel({
    kernelName: SILU_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { x, dy } = inputs as Record<string, tf.TensorInfo>;
      const n = size(x!);
      const dx = allocate(webgpuBackend(), x!.shape);
      dispatch('SiluGrad', 'rb_silu_bwd', siluBackward, [{ tensor: x! }, { tensor: dy! }, { tensor: dx, write: true }], [{ u: n }], groups(n));
      return dx;
    },
  });
  tf.registerKernel({
    kernelName: SILU_GATE_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { y, z } = inputs as Record<string, tf.TensorInfo>;
      const n = size(y!);
      const o = allocate(webgpuBackend(), y!.shape);
      dispatch('SiluGate', 'rb_silu_gate_fwd', gateForward, [{ tensor: y! }, { tensor: z! }, { tensor: o, write: true }], [{ u: n }], groups(n));
      return o;
    },
  });
  tf.registerKernel({
    kernelName: SILU_GATE_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { y, z, dout } = inputs as Record<string, tf.TensorInfo>;
      const n = size(y!);
      const backend = webgpuBackend();
      const dy = allocate(backend, y!.shape);
      const dz = allocate(backend, z!.shape);
      dispatch('SiluGateGrad', 'rb_silu_gate_bwd', gateBackward, [{ tensor: y! }, { tensor: z! }, { tensor: dout! }, { tensor: dy, write: true }, { tensor: dz, write: true }], [{ u: n }], groups(n));
      return [dy, dz];
    },
  });
}

const fusedSilu = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const y = tf.engine().runKernel(SILU_KERNEL, { x }) as tf.Tensor;
  save([x]);
  return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(SILU_GRAD_KERNEL, { x: saved[0]!, dy }) as tf.Tensor };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

const fusedGate = tf.customGrad(((y: tf.Tensor, z: tf.Tensor, save: tf.GradSaveFunc) => {
  const o = tf.engine().runKernel(SILU_GATE_KERNEL, { y, z }) as tf.Tensor;
  save([y, z]);
  return {
    value: o,
    gradFunc: (dout: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(SILU_GATE_GRAD_KERNEL, { y: saved[0]!, z: saved[1]!, dout }) as unknown as tf.Tensor[],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (y: tf.Tensor, z: tf.Tensor) => tf.Tensor;

/** x · σ(x), fused; undefined (declined: the reference runs) for anything but float32 or an empty tensor. */
export function siluWebGpu(x: tf.Tensor): tf.Tensor | undefined {
  if (x.dtype !== 'float32' || x.size === 0) return undefined;
  return fusedSilu(x);
}

/** y · silu(z), fused; undefined (declined) unless both are float32 of one shape. */
export function siluGateWebGpu(y: tf.Tensor, z: tf.Tensor): tf.Tensor | undefined {
  if (y.dtype !== 'float32' || z.dtype !== 'float32' || y.size === 0 || !tf.util.arraysEqual(y.shape, z.shape)) return undefined;
  return fusedGate(y, z);
}
