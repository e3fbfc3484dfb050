// Fused depthwise causal short convolution (WebGPU), forward and backward: the fast form of ops/shortConv's
// `shortConv` (BaseConv, DeltaNet, Gated DeltaNet, GLA, Mamba, Mamba-2, Hyena, M2), k taps (1 ≤ k ≤ MAX_TAPS; the
// kernels take up to WIDE_MAX_TAPS for a long convolution's short filter, lever shortFilter in longConv.ts):
//
//   y[b, t, c]  = Σ_{j<k} w[j, c] · x[b, t − (k−1) + j, c]  (+ bias[c])          x[·, < 0, ·] = 0
//   dx[b, s, c] = Σ_{j<k} w[j, c] · dy[b, s + (k−1) − j, c]                       dy[·, ≥ T, ·] = 0
//   dw[j, c]    = Σ_b Σ_t dy[b, t, c] · x[b, t − (k−1) + j, c]        db[c] = Σ_b Σ_t dy[b, t, c]
//
// The reference (ops/shortConv/conv.ts) builds y from a pad, k slices of x and of w, k multiplies and k − 1 adds
// (~17 tfjs kernels forward at k 4, several dozen in their gradients), each ~45 µs of host JavaScript on a GPU
// whose steps are host-bound; here the forward is one dispatch and the backward two:
//  - forward: one thread per output (b, t, c), c the fastest index (coalesced reads of x; w and bias are k·C + C
//    floats, in cache). Taps are added j = 0, 1, … and the bias last, as the reference does.
//  - backward, pass 1: one thread per (row tile, c), rows r = b·T + t of the tile walked in order (ROWS a uniform):
//    it writes dx for its rows and sums its tile's share of dw[·, c] and db[c] into a partials buffer
//    [tiles, k (+1), C] — no atomics, no [B, T, k, C] products.
//  - backward, pass 2: dw and db from the partials, 64 (j, c) lanes × SPLIT threads per workgroup, each thread
//    every SPLIT-th tile, added in workgroup memory (as longConv.ts's dh).
// Every shape is a uniform; the shader keys name whether a bias is bound (its binding exists or not), the circular
// form, and the backward's per-tap slots beyond MAX_TAPS (_k16, _k32, _k64).
// A stack of R runs (engine/stack.ts): w [R, k, C], bias [R, C], x's examples runs outermost; a row reads its run's
// taps, the backward's row tiles never straddle two runs and pass 2 sums each run's own tiles into its dw, db —
// in the order a run alone sums them (R = 1: the same dispatches, bit for bit).
// Storage buffers per stage ≤ 5 (WebGPU allows 8). The non-causal (circular) form (JRT's non-causal BaseConv) is the
// same kernels with every tap's time index wrapped mod T instead of skipped outside [0, T) — dx and dw likewise — its own
// pipelines and its own lever (shortConvCircular). Reference: ops/shortConv/conv.ts.
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, fitsDevice, grid, release, webgpuBackend } from './dispatch.js';

const WG = 64;
/** Most taps the op's fast form takes (its short convolutions have k ≤ 4); more: declined. */
export const MAX_TAPS = 8;
/** Most taps the kernels take: a long convolution whose filter is this short runs here (accel/webgpu/longConv.ts, lever
 * shortFilter: H3's shift SSM, N ≤ 64 taps). */
export const WIDE_MAX_TAPS = 64;
/** Slots of the backward's private per-tap arrays for k taps: MAX_TAPS up to it (the kernel every short convolution
 * has run), else the next power of two — one pipeline per size, not per k. */
export const tapSlots = (K: number) => (K <= MAX_TAPS ? MAX_TAPS : 2 ** Math.ceil(Math.log2(K)));
/** Rows (b·T + t) per tile of the backward's first pass. */
const ROWS = 64;
/** Threads per (j, c) lane of the backward's second pass. */
const SPLIT = 4;

const lane = `let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;`;
const builtins = '@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32';

/** WGSL: the time index t + shift (shift may be negative) wrapped into [0, T) — the circular form's tap (one % and a
 * fix-up: WGSL's % of a negative i32 is negative, and it brings any shift into (−T, T) first). */
const wrapFn = `
fn wrapT(t: u32, shift: i32, T: u32) -> u32 {
  let s = (i32(t) + shift) % i32(T);
  return u32(select(s, s + i32(T), s < 0));
}`;

// y[b, t, c]; thread = (b·T + t)·C + c. circular: tap j reads x[b, (t − (K−1) + j) mod T, c] (no zero padding)
const forwardWgsl = (bias: boolean, circular: boolean) => () => `
${declare(
  [
    { name: 'x', type: 'f32' },
    { name: 'w', type: 'f32' },
    ...(bias ? [{ name: 'bias', type: 'f32' }] : []),
    { name: 'y', type: 'f32', write: true },
  ],
  ['n: u32', 'T: u32', 'C: u32', 'K: u32', 'rowsPerRun: u32'],
)}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (lane >= params.n) { return; }
  let C = params.C;
  let K = params.K;
  let c = lane % C;
  let bt = lane / C;
  let t = bt % params.T;
  let run = bt / params.rowsPerRun;
  var acc = 0.0f;
  for (var j = 0u; j < K; j++) {
    ${circular
      ? 'acc += x[(bt - t + wrapT(t, i32(j) + 1 - i32(K), params.T)) * C + c] * w[(run * K + j) * C + c];'
      : `if (t + j + 1u >= K) {
      acc += x[(bt + j + 1u - K) * C + c] * w[(run * K + j) * C + c];
    }`}
  }
  y[lane] = acc${bias ? ' + bias[run * C + c]' : ''};
}${circular ? wrapFn : ''}`;

// pass 1: thread = tile·C + c; dx for rows [tile·R, tile·R + R) ∩ [0, rows), and that tile's share of dw (and db)
// in part[(tile·KB + j)·C + c] (KB = K, or K + 1 with the bias's row last)
const gradTileWgsl = (bias: boolean, circular: boolean, slots: number) => () => `
${declare(
  [
    { name: 'dy', type: 'f32' },
    { name: 'x', type: 'f32' },
    { name: 'w', type: 'f32' },
    { name: 'dx', type: 'f32', write: true },
    { name: 'part', type: 'f32', write: true },
  ],
  ['n: u32', 'rows: u32', 'T: u32', 'C: u32', 'K: u32', 'R: u32', 'rowsPerRun: u32', 'tilesPerRun: u32'],
)}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (lane >= params.n) { return; }
  let C = params.C;
  let K = params.K;
  let T = params.T;
  let c = lane % C;
  let tile = lane / C;
  // tile (tile % tilesPerRun) of run (tile / tilesPerRun): its rows stay inside that run's
  let run = tile / params.tilesPerRun;
  var wc: array<f32, ${slots}>;
  var acc: array<f32, ${slots}>;
  for (var j = 0u; j < K; j++) { wc[j] = w[(run * K + j) * C + c]; acc[j] = 0.0f; }
  var accB = 0.0f;
  let r0 = run * params.rowsPerRun + (tile % params.tilesPerRun) * params.R;
  let r1 = min(r0 + params.R, min((run + 1u) * params.rowsPerRun, params.rows));
  for (var r = r0; r < r1; r++) {
    let t = r % T;
    let g = dy[r * C + c];
    var s = 0.0f;
    for (var j = 0u; j < K; j++) {
      ${circular
        ? `// circular: dx[t] gets w[j] · dy[(t + (K−1) − j) mod T], dw[j] gets dy[t] · x[(t − (K−1) + j) mod T]
      s += wc[j] * dy[(r - t + wrapT(t, i32(K) - 1 - i32(j), T)) * C + c];
      acc[j] += g * x[(r - t + wrapT(t, i32(j) + 1 - i32(K), T)) * C + c];`
        : `// dx[r] gets w[j] · dy[r + (K−1) − j] while t + (K−1) − j < T
      if (t + K < T + j + 1u) {
        s += wc[j] * dy[(r + K - 1u - j) * C + c];
      }
      // dw[j] gets dy[r] · x[r − (K−1) + j] while t − (K−1) + j ≥ 0
      if (t + j + 1u >= K) {
        acc[j] += g * x[(r + j + 1u - K) * C + c];
      }`}
    }
    dx[r * C + c] = s;
    accB += g;
  }
  let KB = K${bias ? ' + 1u' : ''};
  for (var j = 0u; j < K; j++) { part[(tile * KB + j) * C + c] = acc[j]; }
  ${bias ? 'part[(tile * KB + K) * C + c] = accB;' : ''}
}${circular ? wrapFn : ''}`;

// pass 2: lane = j·C + c over KB·C; dw[j, c] (and db[c] for j = K) = Σ_tile part[(tile·KB + j)·C + c]
const gradSumWgsl = (bias: boolean) => () => `
${declare(
  [
    { name: 'part', type: 'f32' },
    { name: 'dw', type: 'f32', write: true },
    ...(bias ? [{ name: 'db', type: 'f32', write: true }] : []),
  ],
  ['n: u32', 'tiles: u32', 'C: u32', 'K: u32', 'runs: u32'],
)}
var<workgroup> sums: array<f32, ${WG * SPLIT}>;
@compute @workgroup_size(${WG * SPLIT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tid = li % ${WG}u;
  let sp = li / ${WG}u;
  ${lane}
  // lane = run·n + (j·C + c) over runs·n (n = KB·C): run's own tiles (tiles per run) summed
  let n = params.n;
  let run = lane / n;
  let rest = lane % n;
  var acc = 0.0f;
  if (run < params.runs) {
    let t0 = run * params.tiles;
    for (var tile = sp; tile < params.tiles; tile += ${SPLIT}u) {
      acc += part[(t0 + tile) * n + rest];
    }
  }
  sums[li] = acc;
  workgroupBarrier();
  if (sp == 0u && run < params.runs) {
    var total = sums[tid];
    for (var j = 1u; j < ${SPLIT}u; j++) { total += sums[tid + j * ${WG}u]; }
    let KC = params.K * params.C;
    if (rest < KC) { dw[run * KC + rest] = total; }${bias ? ' else { db[run * params.C + rest - KC] = total; }' : ''}
  }
}`;

export const SHORT_CONV_KERNEL = 'RecallbenchShortConv';
export const SHORT_CONV_GRAD_KERNEL = 'RecallbenchShortConvGrad';

/** x [B, T, C] and w [k, C] (one run) or [R, k, C] (a stack: R divides B). */
function sizes(x: tf.TensorInfo, w: tf.TensorInfo): { B: number; T: number; C: number; K: number; runs: number } {
  const runs = w.shape.length === 3 ? w.shape[0]! : 1;
  const K = w.shape[w.shape.length - 2]!;
  if (x.shape.length !== 3 || (w.shape.length !== 2 && w.shape.length !== 3) || w.shape[w.shape.length - 1] !== x.shape[2] || K < 1 || K > WIDE_MAX_TAPS || runs < 1 || x.shape[0]! % runs !== 0)
    throw new Error(`${SHORT_CONV_KERNEL}: expected x [B, T, C], w [1 ≤ k ≤ ${WIDE_MAX_TAPS}, C] or [R, k, C] with R dividing B, got x [${x.shape}] w [${w.shape}]`);
  const [B, T, C] = x.shape as [number, number, number];
  return { B, T, C, K, runs };
}

/** Tiles of the backward's first pass for B·T rows. */
export const gradTiles = (rows: number) => Math.ceil(rows / ROWS);

let registered = false;

export function registerShortConvWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: SHORT_CONV_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { x, w, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
      const circular = (attrs as { circular?: boolean }).circular === true;
      const { B, T, C, K, runs } = sizes(x!, w!);
      const n = B * T * C;
      const y = allocate(webgpuBackend(), x!.shape);
      const bindings = [{ tensor: x! }, { tensor: w! }, ...(bias ? [{ tensor: bias }] : []), { tensor: y, write: true }];
      dispatch('ShortConv', `rb_shortconv_fwd${bias ? '_b' : ''}${circular ? '_circ' : ''}`, forwardWgsl(!!bias, circular), bindings, [{ u: n }, { u: T }, { u: C }, { u: K }, { u: Math.max(1, (B / runs) * T) }], grid(Math.ceil(n / WG)));
      return y;
    },
  });
  tf.registerKernel({
    kernelName: SHORT_CONV_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { x, w, dy } = inputs as Record<string, tf.TensorInfo>;
      const bias = (attrs as { hasBias?: boolean }).hasBias === true;
      const circular = (attrs as { circular?: boolean }).circular === true;
      const { B, T, C, K, runs } = sizes(x!, w!);
      const backend = webgpuBackend();
      const rows = B * T;
      // each run's rows in whole tiles of their own (one run: the tiles of the whole)
      const rowsPerRun = Math.max(1, rows / runs);
      const tilesPerRun = gradTiles(rows / runs);
      const tiles = runs * tilesPerRun;
      const KB = K + (bias ? 1 : 0);
      const dx = allocate(backend, x!.shape);
      const part = allocate(backend, [Math.max(1, tiles * KB * C)]);
      const n1 = tiles * C;
      const slots = tapSlots(K);
      dispatch('ShortConvGradTiles', `rb_shortconv_bt${bias ? '_b' : ''}${circular ? '_circ' : ''}${slots > MAX_TAPS ? `_k${slots}` : ''}`, gradTileWgsl(bias, circular, slots), [{ tensor: dy! }, { tensor: x! }, { tensor: w! }, { tensor: dx, write: true }, { tensor: part, write: true }], [{ u: n1 }, { u: rows }, { u: T }, { u: C }, { u: K }, { u: ROWS }, { u: rowsPerRun }, { u: Math.max(1, tilesPerRun) }], grid(Math.ceil(n1 / WG)));
      const dw = allocate(backend, w!.shape);
      const db = bias ? allocate(backend, w!.shape.length === 3 ? [runs, C] : [C]) : undefined; // the bias's shape: [R, C] beside w [R, k, C]
      const n2 = KB * C;
      dispatch('ShortConvGradSum', bias ? 'rb_shortconv_bs_b' : 'rb_shortconv_bs', gradSumWgsl(bias), [{ tensor: part }, { tensor: dw, write: true }, ...(db ? [{ tensor: db, write: true }] : [])], [{ u: n2 }, { u: tilesPerRun }, { u: C }, { u: K }, { u: runs }], grid(Math.ceil((runs * n2) / WG)));
      release(part);
      return db ? [dx, dw, db] : [dx, dw];
    },
  });
}

type Fused3 = (x: tf.Tensor3D, w: tf.Tensor2D | tf.Tensor3D, bias: tf.Tensor1D | tf.Tensor2D) => tf.Tensor3D;
type Fused2 = (x: tf.Tensor3D, w: tf.Tensor2D | tf.Tensor3D) => tf.Tensor3D;

/** The fused conv with its own gradient; customGrad takes a fixed argument list, so one function per bias case. */
const fusedConv = (hasBias: boolean, circular: boolean) =>
  tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [x, w, bias] = args as [tf.Tensor3D, tf.Tensor2D | tf.Tensor3D, tf.Tensor1D | tf.Tensor2D | undefined];
    const y = tf.engine().runKernel(SHORT_CONV_KERNEL, hasBias ? { x, w, bias: bias! } : { x, w }, { circular } as unknown as tf.NamedAttrMap) as tf.Tensor3D;
    save([x, w]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor3D, tf.Tensor2D | tf.Tensor3D];
        return tf.engine().runKernel(SHORT_CONV_GRAD_KERNEL, { x: sx, w: sw, dy }, { hasBias, circular } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);

const forms = {
  causal: { withBias: fusedConv(true, false) as unknown as Fused3, withoutBias: fusedConv(false, false) as unknown as Fused2 },
  circular: { withBias: fusedConv(true, true) as unknown as Fused3, withoutBias: fusedConv(false, true) as unknown as Fused2 },
};

/**
 * Causal short convolution, fused (the fast form of ops/shortConv's shortConv): x [B, T, d], weight [k, d],
 * bias [d]? → y [B, T, d], differentiable in x, weight and bias; a stack of R runs: weight [R, k, d], bias [R, d],
 * x's examples runs outermost (R divides B). Undefined (declined: the op runs its reference) for anything but
 * float32 inputs of those shapes, k outside 1 … MAX_TAPS (… WIDE_MAX_TAPS with `wide`: a long convolution's short
 * filter), an empty x, or buffers that would not fit the device (fitsDevice).
 */
export function shortConvWebGpu(x: tf.Tensor3D, weight: tf.Tensor2D | tf.Tensor3D, bias?: tf.Tensor1D | tf.Tensor2D, opts: { circular?: boolean; wide?: boolean } = {}): tf.Tensor3D | undefined {
  if (x.rank !== 3 || (weight.rank !== 2 && weight.rank !== 3) || x.dtype !== 'float32' || weight.dtype !== 'float32') return undefined;
  const [B, T, C] = x.shape;
  const runs = weight.rank === 3 ? weight.shape[0] : 1;
  const K = weight.shape[weight.rank - 2]!;
  if (weight.shape[weight.rank - 1] !== C || K < 1 || K > (opts.wide ? WIDE_MAX_TAPS : MAX_TAPS) || B * T * C === 0 || runs < 1 || B % runs !== 0) return undefined;
  const biasShape = weight.rank === 3 ? [runs, C] : [C];
  if (bias && (bias.dtype !== 'float32' || bias.shape.length !== biasShape.length || bias.shape.some((s, i) => s !== biasShape[i]))) return undefined;
  if (!fitsDevice(B * T * C, runs * gradTiles((B / runs) * T) * (K + 1) * C)) return undefined;
  const form = opts.circular ? forms.circular : forms.causal;
  return bias ? form.withBias(x, weight, bias) : form.withoutBias(x, weight);
}

/** The circular (non-causal) short convolution, fused (lever shortConvCircular): as shortConvWebGpu, wrapping around. */
export const circularShortConvWebGpu = (x: tf.Tensor3D, weight: tf.Tensor2D | tf.Tensor3D, bias?: tf.Tensor1D | tf.Tensor2D) => shortConvWebGpu(x, weight, bias, { circular: true });
