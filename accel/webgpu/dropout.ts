// Hashed dropout on WebGPU (ops/dropout has the definition and the reference): one dispatch; its gradient is the
// same kernel applied to dy with the same seed. A stack of R runs folded into the first axis (ops/dropout
// withStackedRuns) hashes each element's index within its run (i mod n/R): every run's mask is the run's alone.
import * as tf from '@tensorflow/tfjs';
import { lowbias32 } from '../../core/prng.js';
import { allocate, declare, dispatch, grid, webgpuBackend } from './dispatch.js';

export const DROPOUT_KERNEL = 'RecallbenchDropout';

/**
 * The mask's hash in WGSL: core/prng.ts lowbias32 (the one definition; ops/dropout's reference uses it), shared by
 * every kernel that draws ops/dropout's mask (this one, the fused attention's weights).
 */
export const HASH32_WGSL = `fn hash32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}`;

const WG = 256;

const wgsl = () => `
${declare(
  [
    { name: 'x', type: 'f32' },
    { name: 'y', type: 'f32', write: true },
  ],
  ['n: u32', 'seedHash: u32', 'rate: f32', 'scale: f32', 'perRun: u32'],
)}
${HASH32_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let i = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (i >= params.n) { return; }
  let u = f32(hash32((i % params.perRun) + params.seedHash) >> 8u) / 16777216.0f;
  y[i] = select(0.0f, x[i] * params.scale, u >= params.rate);
}`;

function run(x: tf.TensorInfo, rate: number, seed: number, runs: number): tf.TensorInfo {
  const n = x.shape.reduce((a, b) => a * b, 1);
  const y = allocate(webgpuBackend(), x.shape);
  dispatch('Dropout', 'rb_dropout', wgsl, [{ tensor: x }, { tensor: y, write: true }], [{ u: n }, { u: lowbias32(seed >>> 0) }, { f: rate }, { f: 1 / (1 - rate) }, { u: Math.max(1, n / runs) }], grid(Math.ceil(n / WG)));
  return y;
}

let registered = false;

export function registerDropoutWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: DROPOUT_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { rate, seed, runs } = attrs as unknown as { rate: number; seed: number; runs: number };
      return run((inputs as { x: tf.TensorInfo }).x, rate, seed, runs);
    },
  });
  tf.registerGradient({
    kernelName: DROPOUT_KERNEL,
    gradFunc: (dy, _saved, attrs) => ({ x: () => tf.engine().runKernel(DROPOUT_KERNEL, { x: dy as tf.Tensor }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor }),
  });
}

export function dropoutWebGpu(x: tf.Tensor, rate: number, seed: number, runs = 1): tf.Tensor {
  if (x.dtype !== 'float32') throw new Error(`dropout: x must be float32, got ${x.dtype}`);
  if (x.shape[0]! % runs !== 0) throw new Error(`dropout: a stack of ${runs} runs needs a first axis divisible by it, got [${x.shape}]`);
  return tf.engine().runKernel(DROPOUT_KERNEL, { x }, { rate, seed, runs } as unknown as tf.NamedAttrMap) as tf.Tensor;
}
