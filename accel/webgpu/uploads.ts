/// <reference types="@webgpu/types" />
// Pooled small uploads. tfjs-backend-webgpu's uploadToGPU() takes a buffer from its pool and, when that buffer
// is not mapped (every reused one), creates a fresh MAP_WRITE staging buffer, copies into it, records a
// copyBufferToBuffer and destroys the staging buffer after submit: ~1.2 ms of host time per upload under
// Dawn/Vulkan, and every JS number operand of an op (`tf.mul(x, 0.5)`, constants inside gradients and the
// optimizer) is such an upload. Here the pooled buffer is written with queue.writeBuffer instead (~0.09 ms).
//
// Why it is safe: a buffer in the free pool is referenced by no command of the open (unsubmitted) encoder —
// tfjs releases buffers that the open encoder uses only after submit (commandQueueOwnedIds) — and
// writeBuffer is ordered on the queue after every earlier submit and before the next one, so the commands that
// read the new tensor (recorded later, submitted later) see its data, and earlier commands never do.
import type { WebGpuBackendInternals } from './dispatch.js';

interface UploadData {
  resource: GPUBuffer | null;
  values: ArrayLike<number> | null;
  dtype: string;
  shape: number[];
  external?: boolean;
}

type Proto = { uploadToGPU(this: Backend, dataId: object): void; __recallbenchOriginalUpload?: (this: Backend, dataId: object) => void };
type Backend = WebGpuBackendInternals & { tensorMap: { get(dataId: object): UploadData } };

let enabled = false;

/** Turn pooled uploads on or off for the webgpu backend instance `backend` (patches its class once). */
export function setPooledUploads(backend: object, on: boolean): void {
  const proto = Object.getPrototypeOf(backend) as Proto;
  if (!proto.__recallbenchOriginalUpload) {
    const original = proto.uploadToGPU;
    proto.__recallbenchOriginalUpload = original;
    proto.uploadToGPU = function (this: Backend, dataId: object): void {
      if (!enabled) return original.call(this, dataId);
      const data = this.tensorMap.get(dataId);
      if (data.resource != null || data.values == null) return original.call(this, dataId);
      const n = data.shape.reduce((a, b) => a * b, 1);
      if (n === 0 || !(data.dtype === 'float32' || data.dtype === 'int32' || data.dtype === 'bool')) return original.call(this, dataId);
      const values = data.values as ArrayLike<number>;
      const src = data.dtype === 'float32' ? asTyped(values, Float32Array) : asTyped(values, Int32Array);
      const buffer = this.bufferManager.acquireBuffer(4 * n, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
      this.queue.writeBuffer(buffer, 0, src.buffer as ArrayBuffer, src.byteOffset, 4 * n);
      data.values = null; // once uploaded, tfjs keeps no CPU copy
      data.resource = buffer;
    };
  }
  enabled = on;
}

export function pooledUploadsEnabled(): boolean {
  return enabled;
}

function asTyped<T extends Float32Array | Int32Array>(values: ArrayLike<number>, Type: { new (v: ArrayLike<number>): T }): T {
  return values instanceof Type ? values : new Type(values);
}
