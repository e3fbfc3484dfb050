// Transposes that only move axes of size 1 (e.g. [B, T, 1, d] → [B, 1, T, d], one attention head) leave the
// elements in the same memory order: they are reshapes. tfjs-backend-webgpu copies them anyway (one dispatch
// each, ~20 per training step of a one-head model); here they become views of the same buffer, as tfjs's own
// Reshape does (shared dataId, reference count +1). Other transposes go to the stock kernel.
import * as tf from '@tensorflow/tfjs';
import { overrideKernel } from './dispatch.js';

let enabled = false;

export function setTransposeViews(on: boolean): void {
  enabled = on;
}

/** Whether permuting `shape` by `perm` keeps the memory order (only size-1 axes move). */
export function isReshapeTranspose(shape: number[], perm: number[]): boolean {
  let last = -1;
  for (const axis of perm) {
    if (shape[axis] === 1) continue;
    if (axis < last) return false;
    last = axis;
  }
  return true;
}

export function registerTransposeViewsWebGpu(): void {
  overrideKernel('Transpose', (stock) => (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    if (!enabled || !isReshapeTranspose(x.shape, perm)) return stock.kernelFunc(args);
    (args.backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: perm.map((a) => x.shape[a]!), dtype: x.dtype };
  });
}
