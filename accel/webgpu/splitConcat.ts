// tf.split and tf.concat along the last axis in one dispatch each (lever `splitConcat`): the projections that one
// matmul makes for several uses — attention's, H3's, Scatterbrain's q, k, v; Mamba's x and z and its Δ, B, C;
// Hyena's and M2's three streams — are split after it, and their gradients concatenated back. tfjs-backend-webgpu
// 4.22 splits by one Slice per part, each thread turning its output index into coordinates and back, and at
// zoology-fig2's L 512, d 256, B128 that moved ~0.8 TB/s of the H200's 4.8: SplitV ×2 1.0 ms and Concat ×2 1.0 ms of
// H3's 34.9 ms step, SplitV, Slice and Concat 5.1 of Mamba's 39.1 (bench/logs/2026-11-30-evening-h200x2,
// 2026-11-30-three-levers-h200). Here every part of a split (or of a concat) goes in one pass over the rows: one
// thread per element of the whole tensor — four elements, as vec4, when every part's width is a multiple of 4 —
// finds its part by its column. A copy: the same bits as the stock kernels (tests/webgpu-splitConcat.test.ts).
// Taken for float32, the last axis, 2 to 7 parts (a buffer for each and one for the whole: WebGPU's 8 storage
// buffers a stage) and tensors within the device's binding limit; the stock kernels otherwise.
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, elementMain, fitsDevice, grid, overrideKernel, webgpuBackend } from './dispatch.js';

const WG = 256;
/** Parts at most: one storage buffer each, and one for the whole tensor, of WebGPU's guaranteed 8 a stage. */
export const SPLIT_CONCAT_MAX_PARTS = 7;

let enabled = false;

/** Lever `splitConcat` (the overrides stay registered; off, they hand every call to the stock kernel). */
export function setSplitConcat(on: boolean): void {
  enabled = on;
}

/**
 * WGSL of one pass: `split` reads the whole tensor `x` [rows, C] and writes part j to `p{j}`, `concat` reads the parts
 * and writes `x`. Element e (of x, in units of `vec` floats) is row r = e / cols, column c = e % cols; part j holds
 * columns [params.o{j}, params.o{j+1}) (o0 = 0), w{j} wide (units of `vec` floats).
 */
const passWgsl = (direction: 'split' | 'concat', parts: number, vec: 1 | 4) => () => {
  const type = vec === 4 ? 'vec4<f32>' : 'f32';
  const names = Array.from({ length: parts }, (_, j) => `p${j}`);
  const whole = { name: 'x', type, write: direction === 'concat' };
  const pieces = names.map((name) => ({ name, type, write: direction === 'split' }));
  const bounds = Array.from({ length: parts - 1 }, (_, j) => `o${j + 1}: u32`);
  const widths = names.map((_, j) => `w${j}: u32`);
  const move = (j: number) => {
    const at = `r * params.w${j} + c${j === 0 ? '' : ` - params.o${j}`}`;
    return direction === 'split' ? `p${j}[${at}] = x[e];` : `x[e] = p${j}[${at}];`;
  };
  const branches = names.map((_, j) => (j === parts - 1 ? `{ ${move(j)} }` : `if (c < params.o${j + 1}) { ${move(j)} }`)).join(' else ');
  return `
${declare(direction === 'split' ? [whole, ...pieces] : [...pieces, whole], ['n: u32', 'cols: u32', ...bounds, ...widths])}
${elementMain(WG)}
  let r = e / params.cols;
  let c = e % params.cols;
  ${branches}
}`;
};

/** One pass over `whole` [.., C] and its parts (widths along the last axis), in `direction`. */
function pass(direction: 'split' | 'concat', whole: tf.TensorInfo, parts: tf.TensorInfo[], widths: number[]): void {
  const vec: 1 | 4 = widths.every((w) => w % 4 === 0) ? 4 : 1;
  const C = widths.reduce((a, b) => a + b, 0);
  const n = tf.util.sizeFromShape(whole.shape) / vec;
  const offsets = widths.map((_, j) => widths.slice(0, j).reduce((a, b) => a + b, 0) / vec);
  const wholeBinding = { tensor: whole, write: direction === 'concat' };
  const partBindings = parts.map((tensor) => ({ tensor, write: direction === 'split' }));
  dispatch(
    direction === 'split' ? 'SplitLastAxis' : 'ConcatLastAxis',
    `rb_${direction}_${parts.length}_v${vec}`,
    passWgsl(direction, parts.length, vec),
    direction === 'split' ? [wholeBinding, ...partBindings] : [...partBindings, wholeBinding],
    [{ u: n }, { u: C / vec }, ...offsets.slice(1).map((o) => ({ u: o })), ...widths.map((w) => ({ u: w / vec }))],
    grid(Math.ceil(n / WG)),
  );
}

/** Whether the fused pass takes these widths of a float32 tensor of `floats` elements split or joined on its last axis. */
function takes(dtype: tf.DataType, floats: number, widths: number[]): boolean {
  return enabled && dtype === 'float32' && widths.length >= 2 && widths.length <= SPLIT_CONCAT_MAX_PARTS && widths.every((w) => w > 0) && floats > 0 && fitsDevice(floats);
}

const lastAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis) === rank - 1;

export function registerSplitConcatWebGpu(): void {
  overrideKernel('SplitV', (stock) => (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const rank = x.shape.length;
    if (!enabled || rank === 0 || !lastAxis(axis, rank)) return stock.kernelFunc(args);
    const widths = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, rank - 1) as number[];
    if (!takes(x.dtype, tf.util.sizeFromShape(x.shape), widths)) return stock.kernelFunc(args);
    const backend = webgpuBackend();
    const lead = x.shape.slice(0, -1);
    const parts = widths.map((w) => allocate(backend, [...lead, w]));
    pass('split', x, parts, widths);
    return parts;
  });
  overrideKernel('Concat', (stock) => (args) => {
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    const { axis } = args.attrs as unknown as { axis: number };
    const first = inputs[0];
    const rank = first?.shape.length ?? 0;
    if (!enabled || !first || rank === 0 || !lastAxis(axis, rank)) return stock.kernelFunc(args);
    const lead = first.shape.slice(0, -1);
    const sameLead = inputs.every((t) => t.dtype === first.dtype && t.shape.length === rank && t.shape.slice(0, -1).every((n, i) => n === lead[i]));
    const widths = inputs.map((t) => t.shape[rank - 1]!);
    const C = widths.reduce((a, b) => a + b, 0);
    if (!sameLead || !takes(first.dtype, tf.util.sizeFromShape(lead) * C, widths)) return stock.kernelFunc(args);
    const out = allocate(webgpuBackend(), [...lead, C]);
    pass('concat', out, inputs, widths);
    return out;
  });
}
