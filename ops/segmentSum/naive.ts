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
