// UnsortedSegmentSum in O(tokens · d) on the CPU backends: the gradient of the embedding lookup (tf.gather). The
// wasm backend has no such kernel and tfjs-backend-cpu's is O(numSegments · tokens) (seconds for a tiny batch).
// Both run the plain loop of ops/segmentSum/naive.ts on the tensors' host memory.
import * as tf from '@tensorflow/tfjs';
import { unsortedSegmentSumValues } from '../../ops/segmentSum/index.js';

type Attrs = { numSegments: number };

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
