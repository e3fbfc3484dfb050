// Gradients of Sum and Mean without a CPU-side array. tfjs-core's gradients broadcast dy by multiplying with
// `ones(x.shape)`, which fills a JavaScript array of x's size and uploads it, every step: for the chunked
// linear attention's score sums ([B·H, chunks, C, C], 4M floats at batch 256) that is tens of milliseconds of host
// time, growing with the batch. Here dy is broadcast on the device (tf.broadcastTo: one Tile dispatch); the
// values are identical (x·1 = x, and (x·1)/n = x/n, exactly). Only on webgpu with the lever on; every other
// backend keeps tfjs's own gradient, so the CPU path is unchanged.
import * as tf from '@tensorflow/tfjs';

let enabled = false;
let registered = false;

export function setReduceGrads(on: boolean): void {
  enabled = on;
}

type GradConfig = NonNullable<ReturnType<typeof tf.getGradient>>;

function expandedShape(x: tf.Tensor, axis: number | number[]): number[] {
  const shape = x.shape.slice();
  const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + x.rank : a));
  for (const a of axes) shape[a] = 1;
  return shape;
}

function wrap(original: GradConfig, fast: (dy: tf.Tensor, x: tf.Tensor, axis: number | number[]) => tf.Tensor): void {
  tf.registerGradient({
    kernelName: original.kernelName,
    inputsToSave: original.inputsToSave,
    outputsToSave: original.outputsToSave,
    gradFunc: (dy, saved, attrs) => {
      if (!enabled || tf.getBackend() !== 'webgpu') return original.gradFunc(dy, saved, attrs);
      const [x] = saved as tf.Tensor[];
      const axis = (attrs as unknown as { axis: number | number[] | null }).axis;
      const axes = axis == null ? [...Array(x!.rank).keys()] : axis;
      return { x: () => fast(dy as tf.Tensor, x!, axes) };
    },
  });
}

/**
 * broadcastTo(small, shape) with the rank kept ≤ 4: tfjs-webgpu's Tile (behind broadcastTo) falls back to a
 * synchronous CPU read for rank ≥ 5, which Node cannot do (no OffscreenCanvas). Adjacent axes that are both
 * broadcast (size 1 in `small`) or both kept are merged first; an alternating pattern that stays at rank ≥ 5
 * uses tfjs's own gradient.
 */
function broadcastBack(small: tf.Tensor, shape: number[], original: GradConfig, dy: tf.Tensor, x: tf.Tensor, axes: number | number[]): tf.Tensor {
  if (shape.length <= 4) return tf.broadcastTo(small, shape);
  const merged: Array<{ broadcast: boolean; size: number }> = [];
  shape.forEach((size, i) => {
    const broadcast = small.shape[i] === 1 && size !== 1;
    const last = merged[merged.length - 1];
    if (last && (last.broadcast === broadcast || size === 1)) last.size *= size;
    else merged.push({ broadcast, size });
  });
  if (merged.length > 4) {
    const grads = original.gradFunc(dy, [x], { axis: axes } as unknown as tf.NamedAttrMap) as { x: () => tf.Tensor };
    return grads.x();
  }
  const collapsed = tf.reshape(small, merged.map((m) => (m.broadcast ? 1 : m.size)));
  return tf.reshape(tf.broadcastTo(collapsed, merged.map((m) => m.size)), shape);
}

export function registerReduceGradsWebGpu(): void {
  if (registered) return;
  const sum = tf.getGradient('Sum');
  const mean = tf.getGradient('Mean');
  if (!sum || !mean) return;
  registered = true;
  wrap(sum, (dy, x, axes) => broadcastBack(tf.reshape(dy, expandedShape(x, axes)), x.shape, sum, dy, x, axes));
  wrap(mean, (dy, x, axes) => {
    const reduceSize = expandedShape(x, axes).reduce((n, s, i) => (s === 1 && x.shape[i] !== 1 ? n * x.shape[i]! : n), 1);
    return broadcastBack(tf.div(tf.reshape(dy, expandedShape(x, axes)), reduceSize), x.shape, mean, dy, x, axes);
  });
}
