// Where a per-head tensor keeps its axes. The recurrences' references walk [B, H, T, d] ('bhtd', the ops' own
// layout); a mixer's projections come out [B, T, H, d] ('bthd': heads split by a reshape, no copy), and RWKV-7's
// GroupNorm takes the heads first, [H, B, T, d] ('hbtd'). An op told its inputs' and output's layouts moves the
// heads itself — by transposes around its reference, or (a fused kernel) by reading and writing in place.
import * as tf from '@tensorflow/tfjs';

export type HeadLayout = 'bhtd' | 'bthd' | 'hbtd';

/** The layouts of a recurrence's per-head inputs (every one the same) and of its output. */
export interface HeadLayouts {
  input: HeadLayout;
  output: HeadLayout;
}

export const OPS_LAYOUT: HeadLayouts = { input: 'bhtd', output: 'bhtd' };

// each permutation swaps two of the leading axes B, H, T, so it is its own inverse; a per-head scalar (the delta
// rules' β and g) is the same without its last axis: [B, T, H] is 'bthd' for it
const PERM: Record<HeadLayout, number[]> = { bhtd: [0, 1, 2], bthd: [0, 2, 1], hbtd: [1, 0, 2] };
const perm = (layout: HeadLayout, rank: number) => [...PERM[layout], ...Array.from({ length: rank - 3 }, (_, i) => 3 + i)];

/** x in `layout` → [B, H, T, ·] ([B, H, T] for a per-head scalar). */
export function toOpsLayout<T extends tf.Tensor>(x: T, layout: HeadLayout): T {
  return layout === 'bhtd' ? x : (x.transpose(perm(layout, x.rank)) as T);
}

/** x [B, H, T, ·] ([B, H, T]) → `layout`: the same permutation (each is its own inverse), named for the direction. */
export const fromOpsLayout: <T extends tf.Tensor>(x: T, layout: HeadLayout) => T = toOpsLayout;

/** `f` on the inputs moved from layouts.input to [B, H, T, ·], its output moved to layouts.output: an op in any layouts by transposes around its [B, H, T, ·] form. */
export function throughOpsLayout<I extends tf.Tensor[], T extends tf.Tensor>(layouts: HeadLayouts, inputs: [...I], f: (...xs: I) => T): T {
  return fromOpsLayout(f(...(inputs.map((x) => toOpsLayout(x, layouts.input)) as I)), layouts.output);
}

/** B, H, T of a [·, ·, ·, d] (or [·, ·, ·]) shape in `layout`. */
export function headDims(shape: readonly number[], layout: HeadLayout): { B: number; H: number; T: number } {
  const [a, b, c] = shape as [number, number, number];
  return layout === 'bhtd' ? { B: a, H: b, T: c } : layout === 'bthd' ? { B: a, T: b, H: c } : { H: a, B: b, T: c };
}

/** The shape [·, ·, ·, d] of B, H, T, d in `layout`. */
export function headShape(layout: HeadLayout, B: number, H: number, T: number, d: number): [number, number, number, number] {
  return layout === 'bhtd' ? [B, H, T, d] : layout === 'bthd' ? [B, T, H, d] : [H, B, T, d];
}
