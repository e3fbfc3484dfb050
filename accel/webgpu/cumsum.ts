// tfjs-backend-webgpu's Cumsum shader handles rank ≤ 4 only ("Cumulative + for rank 5 is not yet supported");
// the chunked causal linear attention (ops/linearAttention/chunk.ts) takes an exclusive cumsum over
// [B, H, chunks, F, dv]. A scan along the last axis is the same scan on the 2-D view [outer, n] of the same
// buffer, so rank > 4 with the last axis is run that way; everything else goes to the stock kernel.
import * as tf from '@tensorflow/tfjs';

let registered = false;

export function registerCumsumRank5WebGpu(): void {
  if (registered) return;
  const stock = tf.getKernel('Cumsum', 'webgpu');
  if (!stock) return;
  registered = true;
  tf.unregisterKernel('Cumsum', 'webgpu');
  tf.registerKernel({
    kernelName: 'Cumsum',
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { axis } = args.attrs as unknown as { axis: number };
      const rank = x.shape.length;
      if (rank <= 4 || (axis !== rank - 1 && axis !== -1)) return stock.kernelFunc(args);
      const n = x.shape[rank - 1]!;
      const view: tf.TensorInfo = { dataId: x.dataId, shape: [x.shape.slice(0, -1).reduce((a, b) => a * b, 1), n], dtype: x.dtype };
      const out = stock.kernelFunc({ ...args, inputs: { x: view }, attrs: { ...args.attrs, axis: 1 } }) as tf.TensorInfo;
      return { dataId: out.dataId, shape: x.shape, dtype: out.dtype };
    },
  });
}
