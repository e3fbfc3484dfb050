// Sum over a run of adjacent axes, as a plain loop: the reference of the WebGPU kernel that replaces tfjs's Sum
// where each output sums few values (accel/webgpu/narrowSum.ts, lever narrowSum). The op itself is tfjs's tf.sum.
//
// x viewed as [outer, R, inner] (R = the product of the summed axes, which must be adjacent):
//   y[o, i] = Σ_{r < R} x[o, r, i]      summed in order r = 0, 1, …, R − 1

/**
 * The [outer, R, inner] view of `shape` summed over `axes` (any order, negative from the end), with those axes
 * normalised and sorted; undefined if they are not adjacent.
 */
export function axisRunView(shape: number[], axes: number[]): { outer: number; R: number; inner: number; axes: number[] } | undefined {
  const sorted = [...new Set(axes.map((a) => (a < 0 ? a + shape.length : a)))].sort((a, b) => a - b);
  if (sorted.length === 0 || sorted[0]! < 0 || sorted[sorted.length - 1]! >= shape.length) return undefined;
  if (sorted.some((a, k) => k > 0 && a !== sorted[k - 1]! + 1)) return undefined;
  const product = (from: number, to: number) => shape.slice(from, to).reduce((p, n) => p * n, 1);
  const first = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  return { outer: product(0, first), R: product(first, last + 1), inner: product(last + 1, shape.length), axes: sorted };
}

/** Plain reference: out[o·inner + i] = Σ_r x[(o·R + r)·inner + i], accumulated in float32 as the kernel does. */
export function sumAxisRunValues(x: Float32Array, view: { outer: number; R: number; inner: number }): Float32Array {
  const { outer, R, inner } = view;
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let r = 0; r < R; r++) s = Math.fround(s + x[(o * R + r) * inner + i]!);
      out[o * inner + i] = s;
    }
  }
  return out;
}
