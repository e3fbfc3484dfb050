// The wasm fast form of ops/longConv/channelMatMul.ts (a batched matrix product a[i] · b[i], the per-channel
// products of the blocked long conv; elsewhere it is tf.matMul). tfjs-backend-wasm multiplies a batch (> 1) with a plain loop at
// ~0.7–1 GMAC/s whatever the shape, while a single 2-D product goes through XNNPACK (measured on this project's
// 2-core machine, lightly loaded: [64]×(64×64·64×64) 17.8 → 2.8 ms, [128]×(64×256·256×64, Aᵀ) 167 → 22 ms,
// [32]×(512×512·512×16) 145 → 14 ms when split). So on wasm a kernel of our own runs the batch as 2-D products of
// the registered BatchMatMul kernel, copying each slice in and out of the heap.
// No gradient is registered: it is only used inside custom-gradient ops.
import * as tf from '@tensorflow/tfjs';

const KERNEL = 'RecallbenchChannelMatMul';
let registered = false;

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(id: object): void;
}

function register(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      // looked up per call: the project may wrap BatchMatMul (matMul.ts) after this registers
      const matMul = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
      const wasm = backend as unknown as WasmBackendLike;
      const [n, ar, ac] = a.shape as [number, number, number];
      const [, br, bc] = b.shape as [number, number, number];
      const rows = transposeA ? ac : ar;
      const cols = transposeB ? br : bc;
      const out = wasm.makeOutput([n, rows, cols], 'float32');
      for (let i = 0; i < n; i++) {
        const ai = wasm.makeOutput([ar, ac], 'float32');
        const bi = wasm.makeOutput([br, bc], 'float32');
        // typedArrayFromHeap is re-read after every allocation: the heap may have grown (new buffer)
        wasm.typedArrayFromHeap(ai).set(wasm.typedArrayFromHeap(a).subarray(i * ar * ac, (i + 1) * ar * ac));
        wasm.typedArrayFromHeap(bi).set(wasm.typedArrayFromHeap(b).subarray(i * br * bc, (i + 1) * br * bc));
        const oi = matMul({ inputs: { a: ai, b: bi }, backend, attrs: { transposeA, transposeB } as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
        wasm.typedArrayFromHeap(out).set(wasm.typedArrayFromHeap(oi), i * rows * cols);
        wasm.disposeData(ai.dataId);
        wasm.disposeData(bi.dataId);
        wasm.disposeData(oi.dataId);
      }
      return out;
    },
  });
}

/** a [n, M, K] (or [n, K, M] with transposeA), b [n, K, N] (or [n, N, K]) with n > 1 → [n, M, N], as 2-D products. */
export function channelMatMulWasm(a: tf.Tensor3D, b: tf.Tensor3D, transposeA: boolean, transposeB: boolean): tf.Tensor3D {
  register();
  return tf.engine().runKernel(KERNEL, { a, b }, { transposeA, transposeB } as unknown as tf.NamedAttrMap) as tf.Tensor3D;
}
