// tfjs-backend-wasm's BatchMatMul is ~10x slower when asked to transpose an operand (measured: a
// [4096,64]ᵀ·[4096,192] weight gradient 133 ms with transposeA vs 17 ms transposing first). Every matmul
// gradient asks for a transpose, so wrap the kernel: transpose explicitly, then multiply untransposed.
import * as tf from '@tensorflow/tfjs';

type KernelFunc = NonNullable<ReturnType<typeof tf.getKernel>>['kernelFunc'];

let wrapped = false;

export function registerWasmMatMulTransposeFix(): void {
  if (wrapped) return;
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transposeKernel = tf.getKernel('Transpose', 'wasm');
  if (!original || !transposeKernel) return;
  const matMul = original.kernelFunc;
  const transpose = transposeKernel.kernelFunc;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return matMul({ inputs, backend, attrs });
    const lastTwoSwapped = (t: tf.TensorInfo) => {
      const perm = t.shape.map((_, i) => i);
      const n = perm.length;
      [perm[n - 2], perm[n - 1]] = [perm[n - 1]!, perm[n - 2]!];
      return transpose({ inputs: { x: t }, backend, attrs: { perm } }) as tf.TensorInfo;
    };
    const a2 = transposeA ? lastTwoSwapped(a) : a;
    const b2 = transposeB ? lastTwoSwapped(b) : b;
    const out = matMul({ inputs: { a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
    const disposer = backend as unknown as { disposeData(id: object): void };
    if (a2 !== a) disposer.disposeData(a2.dataId);
    if (b2 !== b) disposer.disposeData(b2.dataId);
    return out;
  };
  tf.registerKernel({ ...original, kernelFunc });
  wrapped = true;
}
