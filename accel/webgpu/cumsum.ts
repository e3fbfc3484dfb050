// Two fixes of tfjs-backend-webgpu 4.22's Cumsum, always on (they correct results; they are not speed levers):
//
// 1. Reverse cumsums read a stale shader. CumProgram writes the scanned axis' length into the WGSL of a reverse
//    scan (`end + pow2 < length`, `end != length − 1`) but leaves it out of its shaderKey ("cum_op_excl_rev" plus
//    the ranks), so the pipeline compiled for the first length is reused for every later length of the same rank:
//    reverse cumsums of another length come out wrong, silently. Every gradient of a cumsum is a reverse cumsum,
//    so chunked linear attention (BASED, JRT-RNN: the chunk count changes with the sequence length) and GLA (after
//    any other mixer's reverse cumsum in the same process) trained on wrong gradients (found by the GPU ≡ CPU
//    check, bench/RESULTS.md; docs/gpu-faults.md). A forward scan's shader has no length in it, so a reverse scan
//    runs as reverse → forward scan → reverse (Reverse takes the shape from its uniforms).
// 2. The stock shader handles rank ≤ 4 only ("Cumulative + for rank 5 is not yet supported"); the chunked causal
//    linear attention (ops/linearAttention/chunk.ts) takes an exclusive cumsum over [B, H, chunks, F, dv]. A scan along
//    the last axis is the same scan on the 2-D view [outer, n] of the same buffer, so rank > 4 along the last
//    axis runs that way.
import * as tf from '@tensorflow/tfjs';
import { overrideKernel, release } from './dispatch.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];

export function registerCumsumWebGpu(): void {
  const reverseKernel = tf.getKernel('Reverse', 'webgpu');
  if (!reverseKernel) return;
  const run = (kernel: tf.KernelConfig, args: KernelArgs) => kernel.kernelFunc(args) as tf.TensorInfo;
  overrideKernel('Cumsum', (stock) => (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, exclusive, reverse } = args.attrs as unknown as { axis: number; exclusive: boolean; reverse: boolean };
    const rank = x.shape.length;
    const lastAxis = axis === rank - 1 || axis === -1;
    if (rank > 4 && !lastAxis) return stock.kernelFunc(args); // the stock kernel's own error
    // rank > 4 along the last axis: the 2-D view of the same buffer
    const view: tf.TensorInfo = rank > 4 ? { dataId: x.dataId, shape: [x.shape.slice(0, -1).reduce((a, b) => a * b, 1), x.shape[rank - 1]!], dtype: x.dtype } : x;
    const scanAxis = rank > 4 ? 1 : axis < 0 ? rank + axis : axis;
    let out: tf.TensorInfo;
    if (!reverse) out = run(stock, { ...args, inputs: { x: view }, attrs: { ...args.attrs, axis: scanAxis } });
    else {
      const flipped = run(reverseKernel, { inputs: { x: view }, backend: args.backend, attrs: { dims: [scanAxis] } });
      const scanned = run(stock, { inputs: { x: flipped }, backend: args.backend, attrs: { axis: scanAxis, exclusive, reverse: false } });
      out = run(reverseKernel, { inputs: { x: scanned }, backend: args.backend, attrs: { dims: [scanAxis] } });
      release(flipped);
      release(scanned);
    }
    return rank > 4 ? { dataId: out.dataId, shape: x.shape, dtype: out.dtype } : out;
  });
}
