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
import { allocate, declare, dispatch, elementMain, grid, kernelWithGrad, webgpuBackend } from './dispatch.js';

const WG = 256;

/**
 * Register one elementwise kernel: `inputs` and `outputs` name its f32 buffers (every output the first input's
 * shape), `body` computes element e (σ available as `sigmoid`); `name` is its dispatch name (dispatch.ts counts).
 */
function registerElementwise(kernelName: string, name: string, inputs: string[], outputs: string[], body: string): void {
  const wgsl = () => `
${declare([...inputs.map((n) => ({ name: n, type: 'f32' })), ...outputs.map((n) => ({ name: n, type: 'f32', write: true }))], ['n: u32'])}
fn sigmoid(v: f32) -> f32 { return 1.0f / (1.0f + exp(-v)); }
${elementMain(WG)}
  ${body}
}`;
  tf.registerKernel({
    kernelName,
    backendName: 'webgpu',
    kernelFunc: ({ inputs: given }) => {
      const ins = inputs.map((n) => (given as Record<string, tf.TensorInfo>)[n]!);
      const n = tf.util.sizeFromShape(ins[0]!.shape);
      const backend = webgpuBackend();
      const outs = outputs.map(() => allocate(backend, ins[0]!.shape));
      dispatch(name, `rb_${name}`, wgsl, [...ins.map((tensor) => ({ tensor })), ...outs.map((tensor) => ({ tensor, write: true }))], [{ u: n }], grid(Math.ceil(n / WG)));
      return outs.length === 1 ? outs[0]! : outs;
    },
  });
}

export const SILU_KERNEL = 'RecallbenchSilu';
export const SILU_GRAD_KERNEL = 'RecallbenchSiluGrad';
export const SILU_GATE_KERNEL = 'RecallbenchSiluGate';
export const SILU_GATE_GRAD_KERNEL = 'RecallbenchSiluGateGrad';

let registered = false;

export function registerSiluWebGpu(): void {
  if (registered) return;
  registered = true;
  registerElementwise(SILU_KERNEL, 'Silu', ['x'], ['y'], 'let v = x[e];\n  y[e] = v * sigmoid(v);');
  registerElementwise(SILU_GRAD_KERNEL, 'SiluGrad', ['x', 'dy'], ['dx'], 'let v = x[e];\n  let s = sigmoid(v);\n  dx[e] = dy[e] * s * (1.0f + v * (1.0f - s));');
  registerElementwise(SILU_GATE_KERNEL, 'SiluGate', ['y', 'z'], ['o'], 'let v = z[e];\n  o[e] = y[e] * (v * sigmoid(v));');
  registerElementwise(
    SILU_GATE_GRAD_KERNEL,
    'SiluGateGrad',
    ['y', 'z', 'dout'],
    ['dy', 'dz'],
    'let v = z[e];\n  let s = sigmoid(v);\n  let g = dout[e];\n  dy[e] = g * (v * s);\n  dz[e] = g * y[e] * s * (1.0f + v * (1.0f - s));',
  );
}

const fusedSilu = kernelWithGrad(SILU_KERNEL, SILU_GRAD_KERNEL, ['x'], 'dy');
const fusedGate = kernelWithGrad(SILU_GATE_KERNEL, SILU_GATE_GRAD_KERNEL, ['y', 'z'], 'dout');

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
