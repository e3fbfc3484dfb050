// UnsortedSegmentSum in O(tokens · d): the gradient of the embedding lookup (tf.gather). The wasm backend
// has no such kernel and tfjs-backend-cpu's is O(numSegments · tokens) (seconds for a tiny batch).
import * as tf from '@tensorflow/tfjs';

type Attrs = { numSegments: number };

/** Plain reference: out[s] = Σ_{i: ids[i] = s} x[i]; x [N, ...rest], ids [N]. Negative/out-of-range ids are dropped. */
export function unsortedSegmentSumValues(x: Float32Array | Int32Array, ids: Int32Array, numSegments: number, rowSize: number, out: Float32Array | Int32Array): void {
  out.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * rowSize;
    const dst = s * rowSize;
    for (let j = 0; j < rowSize; j++) out[dst + j]! += x[src + j]!;
  }
}

function checkShapes(x: tf.TensorInfo, ids: tf.TensorInfo): number {
  if (ids.shape.length !== 1 || ids.shape[0] !== x.shape[0]) {
    // tfjs passes flattened indices for gather's gradient; other uses are not needed here
    throw new Error(`UnsortedSegmentSum: expected segmentIds [${x.shape[0]}], got [${ids.shape}]`);
  }
  return x.shape.slice(1).reduce((a, b) => a * b, 1);
}

export function registerUnsortedSegmentSum(): void {
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as Attrs;
      const cpu = backend as unknown as { readSync(id: object): Float32Array | Int32Array; makeTensorInfo(shape: number[], dtype: string, values: Float32Array | Int32Array): tf.TensorInfo };
      const rowSize = checkShapes(x, segmentIds);
      const out = x.dtype === 'int32' ? new Int32Array(numSegments * rowSize) : new Float32Array(numSegments * rowSize);
      unsortedSegmentSumValues(cpu.readSync(x.dataId), cpu.readSync(segmentIds.dataId) as Int32Array, numSegments, rowSize, out);
      return cpu.makeTensorInfo([numSegments, ...x.shape.slice(1)], x.dtype, out);
    },
  });
}

/** Register on the wasm backend (called after the backend is loaded). */
export function registerUnsortedSegmentSumWasm(): void {
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as Attrs;
      const wasm = backend as unknown as {
        typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array;
        makeOutput(shape: number[], dtype: string): tf.TensorInfo;
      };
      const rowSize = checkShapes(x, segmentIds);
      const output = wasm.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype);
      unsortedSegmentSumValues(wasm.typedArrayFromHeap(x), wasm.typedArrayFromHeap(segmentIds) as Int32Array, numSegments, rowSize, wasm.typedArrayFromHeap(output));
      return output;
    },
  });
}
