// UnsortedSegmentSum, the gradient of every tf.gather (embedding lookup, supervised-row selection):
//   out[s, :] = Σ_{i : ids[i] = s} x[i, :]   (ids outside [0, S) are dropped)
// as a plain loop, O(tokens · d): the reference of the WebGPU kernel (accel/webgpu/segmentSum.ts), and the loop the
// CPU backends' kernels run (accel/wasm/segmentSum.ts). The op itself is tfjs's tf.unsortedSegmentSum.

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

/** The tile the ordered WebGPU segment sum sorts (accel/webgpu/segmentSum.ts): rows per workgroup. */
export const SEGMENT_TILE = 256;
const NONE = 0xffffffff;

/**
 * The same sums in the exact order the ordered WebGPU kernel adds them (lever segmentSumOrdered), in float32: each tile
 * of SEGMENT_TILE rows sorted by id with the kernel's bitonic network (not stable: equal ids keep the network's order),
 * each run of equal ids summed in that order from 0, then each segment's tile partials summed in tile order from 0.
 * Its bits are the kernel's — which is what makes a GPU run reproducible, and what a test can hold it to.
 */
export function segmentSumTileOrderValues(x: Float32Array, ids: Int32Array, numSegments: number, rowSize: number): Float32Array {
  const out = new Float32Array(numSegments * rowSize);
  const keys = new Array<number>(SEGMENT_TILE);
  const rows = new Array<number>(SEGMENT_TILE);
  for (let first = 0; first < ids.length; first += SEGMENT_TILE) {
    for (let t = 0; t < SEGMENT_TILE; t++) {
      const i = first + t;
      const s = i < ids.length ? ids[i]! : -1;
      keys[t] = s >= 0 && s < numSegments ? s : NONE;
      rows[t] = i;
    }
    for (let k = 2; k <= SEGMENT_TILE; k <<= 1)
      for (let j = k >> 1; j > 0; j >>= 1)
        for (let t = 0; t < SEGMENT_TILE; t++) {
          const other = t ^ j;
          if (other > t && keys[t]! > keys[other]! === ((t & k) === 0)) {
            [keys[t], keys[other]] = [keys[other]!, keys[t]!];
            [rows[t], rows[other]] = [rows[other]!, rows[t]!];
          }
        }
    for (let c = 0; c < rowSize; c++) {
      let acc = 0;
      for (let t = 0; t < SEGMENT_TILE && keys[t] !== NONE; t++) {
        acc = Math.fround(acc + x[rows[t]! * rowSize + c]!);
        if (t === SEGMENT_TILE - 1 || keys[t + 1] !== keys[t]) {
          const o = keys[t]! * rowSize + c;
          out[o] = Math.fround(out[o]! + acc);
          acc = 0;
        }
      }
    }
  }
  return out;
}
