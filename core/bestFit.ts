// Which free buffer a request of some byte size takes when the pool serves it by best fit (lever poolBestFit): the
// one rule that accel/webgpu/bufferPool.ts applies to the GPU buffers and runners/memory.ts replays when it
// estimates what the pool will hold. No tfjs here.
//
// tfjs-backend-webgpu's pool reuses a released buffer only for a request of exactly its size, so a run whose batches
// come in several shapes (a training mixture of lengths, evaluation slices) keeps every shape's working set at once.
// By best fit, a request takes the smallest free buffer of its usage that is at least its size and at most
// BEST_FIT_RATIO times it: the smaller shapes' steps run in the larger shapes' buffers. When none is free, a buffer
// of its own size is made — in place of the largest free one below its size down to 1/BEST_FIT_RATIO of it, if
// there is one (destroyed): the shapes arrive in a shuffled order, and a larger shape that comes after a smaller
// one then grows the smaller one's buffers instead of adding its own beside them. So the pool ends near the largest
// shape's working set whatever the order (runners/memory.ts replays the rule on the probe's buffers).

/**
 * The largest free buffer a request may take, as a multiple of its size. Without a cap a small tensor (a scalar,
 * a bias) could take a large buffer that a large request of the same step then makes again; 4 lets a shape take
 * the buffers of one up to four times its length (jrt-sd's and based-fig2's mixtures step by about 2).
 */
export const BEST_FIT_RATIO = 4;

/** Index of the first entry of the ascending `sizes` that is ≥ `size` (sizes.length if none). */
function lowerBound(sizes: readonly number[], size: number): number {
  let lo = 0;
  let hi = sizes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sizes[mid]! < size) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The byte size of the free buffer a request of `size` bytes takes: the smallest of the ascending `sizes` (every
 * size the pool holds buffers of, free or not) with `hasFree(s)` and size ≤ s ≤ ratio · size; undefined when none
 * is free (a new buffer of `size` bytes is made). ratio 1 is tfjs's own rule: the same size only.
 */
export function bestFitSize(sizes: readonly number[], size: number, hasFree: (s: number) => boolean, ratio: number = BEST_FIT_RATIO): number | undefined {
  for (let i = lowerBound(sizes, size); i < sizes.length && sizes[i]! <= ratio * size; i++) if (hasFree(sizes[i]!)) return sizes[i];
  return undefined;
}

/**
 * On a miss (bestFitSize found nothing), the byte size of the free buffer that the new buffer replaces: the largest
 * of the ascending `sizes` with `hasFree(s)` and size / ratio ≤ s < size; undefined when there is none (the pool
 * grows by the whole request).
 */
export function replacedSize(sizes: readonly number[], size: number, hasFree: (s: number) => boolean, ratio: number = BEST_FIT_RATIO): number | undefined {
  for (let i = lowerBound(sizes, size) - 1; i >= 0 && sizes[i]! * ratio >= size; i--) if (hasFree(sizes[i]!)) return sizes[i];
  return undefined;
}

/** Insert `size` into the ascending `sizes` unless it is there already. */
export function addSize(sizes: number[], size: number): void {
  const i = lowerBound(sizes, size);
  if (sizes[i] !== size) sizes.splice(i, 0, size);
}
