// A fix of tfjs-backend-webgpu 4.22's PadV2, always on (it corrects results; it is not a speed lever): the stock
// shader for rank 5 and above does not compile ("cannot index type 'vec5'"), so the pad does nothing and reads back
// zeros — a validation error that a training run's error scopes turn into a failed run, but a silent zero anywhere
// else (found 2026-11-29 testing the fused scan's rank-5 fallback; docs/gpu-faults.md). Padding the outermost axis
// of a block of adjacent axes by p is padding the block, merged into one axis, by p × (the product of the inner
// axes), so a pad of rank > 4 runs on the view that merges each padded axis with the unpadded axes after it (and
// the leading unpadded axes into one): rank ≤ 4 whenever at most 4 such blocks remain, i.e. at most 4 padded axes
// (3 when the first axis is unpadded). Otherwise the stock kernel runs (and fails loudly, as before).
import * as tf from '@tensorflow/tfjs';
import { overrideKernel } from './dispatch.js';


/** The merged view of `shape` for `paddings` (blocks as above), or undefined when more than 4 blocks remain. */
export function padView(shape: number[], paddings: [number, number][]): { shape: number[]; paddings: [number, number][] } | undefined {
  const blocks: { size: number; pad: [number, number] }[] = [];
  shape.forEach((n, i) => {
    const [before, after] = paddings[i]!;
    const last = blocks[blocks.length - 1];
    if (before === 0 && after === 0 && last) {
      // an unpadded axis joins the block before it: that block's padding scales by this axis' size
      last.size *= n;
      last.pad = [last.pad[0] * n, last.pad[1] * n];
    } else blocks.push({ size: n, pad: [before, after] });
  });
  if (blocks.length > 4) return undefined;
  return { shape: blocks.map((b) => b.size), paddings: blocks.map((b) => b.pad) };
}

export function registerPadWebGpu(): void {
  overrideKernel('PadV2', (stock) => (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { paddings } = args.attrs as unknown as { paddings: [number, number][] };
    const view = x.shape.length > 4 ? padView(x.shape, paddings) : undefined;
    if (!view) return stock.kernelFunc(args);
    const out = stock.kernelFunc({ ...args, inputs: { x: { dataId: x.dataId, shape: view.shape, dtype: x.dtype } }, attrs: { ...args.attrs, paddings: view.paddings } }) as tf.TensorInfo;
    return { dataId: out.dataId, shape: x.shape.map((n, i) => n + paddings[i]![0] + paddings[i]![1]), dtype: out.dtype };
  });
}
