// Lever `stridedHeads` for the fused recurrences (generalizedDeltaRule.ts, deltaRule.ts, gla.ts): their kernels walk the
// rows (b, h, t) of [B, H, T, ·] tensors; told the layouts their caller keeps (ops/shared/heads.ts), they find each
// row where its layout puts it instead of having the heads transposed to and from [B, H, T, ·] around them. A thread
// still reads one row's contiguous d floats, so the reads coalesce as before, and the sums run in the same order:
// the same bits as the kernels between transposes. With every layout [B, H, T, ·] the WGSL is the text it was.
import * as tf from '@tensorflow/tfjs';
import { OPS_LAYOUT, throughOpsLayout, type HeadLayout, type HeadLayouts } from '../../ops/shared/heads.js';
import { madeOnce } from './dispatch.js';

let stridedHeads = false;

/** Lever `stridedHeads`: the kernels read and write the caller's layouts (off: transposes around them). */
export function setStridedHeads(on: boolean): void {
  stridedHeads = on;
}

/** Whether the lever is on (the memory probe sets it for its measurement and puts it back). */
export const stridedHeadsOn = (): boolean => stridedHeads;

/** Whether the kernels should take `layouts` as they are (lever on, or nothing to move). */
const inPlace = (layouts: HeadLayouts): boolean => stridedHeads || !strided(layouts);

/** make(L) once per pair of layouts: a differentiable kernel closes over its layouts (its attributes). */
export const perLayouts = <F>(make: (L: HeadLayouts) => F): ((L: HeadLayouts) => F) => madeOnce(make, (L: HeadLayouts) => `${L.input}/${L.output}`);

/**
 * A fused recurrence on `inputs` in `layouts`: its kernels for those layouts read and write them in place when they
 * may (inPlace), else — lever off — its [B, H, T, ·] kernels run between transposes.
 */
export function inLayouts<I extends tf.Tensor[], T extends tf.Tensor>(layouts: HeadLayouts, inputs: [...I], kernelFor: (L: HeadLayouts) => (...xs: I) => T): T {
  return inPlace(layouts) ? kernelFor(layouts)(...inputs) : throughOpsLayout(layouts, inputs, kernelFor(OPS_LAYOUT));
}

/** Whether the kernels read or write anything but [B, H, T, ·] (then B and H are uniforms too). */
export const strided = (L: HeadLayouts): boolean => L.input !== 'bhtd' || L.output !== 'bhtd';

/** WGSL for the row of (bh = b·H + h, t) where `layout` keeps it; [B, H, T, ·] needs no uniforms beyond T. */
export function rowOf(layout: HeadLayout, bh: string, t: string): string {
  if (layout === 'bhtd') return `${bh} * params.T + ${t}`;
  if (layout === 'bthd') return `((${bh} / params.H) * params.T + ${t}) * params.H + ${bh} % params.H`;
  return `((${bh} % params.H) * params.B + ${bh} / params.H) * params.T + ${t}`;
}

/** WGSL for the row of o and dO: `row` itself when the output keeps the inputs' layout. */
export const outRow = (L: HeadLayouts): string => (L.output === L.input ? 'row' : `(${rowOf(L.output, 'bh', 't')})`);

/** The uniforms' fields the layouts add (after a kernel's own), their values, and the pipeline key's suffix. */
export const layoutUniforms = (L: HeadLayouts): string[] => (strided(L) ? ['B: u32', 'H: u32'] : []);
export const layoutValues = (L: HeadLayouts, B: number, H: number): Array<{ u: number }> => (strided(L) ? [{ u: B }, { u: H }] : []);
export const layoutKey = (L: HeadLayouts): string => (strided(L) ? `_${L.input}_${L.output}` : '');

/** A kernel's layouts from its attributes (none: [B, H, T, ·] both ways). */
export function layoutsOf(attrs: unknown): HeadLayouts {
  const a = (attrs ?? {}) as Partial<HeadLayouts>;
  return { input: a.input ?? OPS_LAYOUT.input, output: a.output ?? OPS_LAYOUT.output };
}

/** The layouts as a kernel's attributes. */
export const layoutAttrs = (L: HeadLayouts): tf.NamedAttrMap => ({ input: L.input, output: L.output }) as unknown as tf.NamedAttrMap;
