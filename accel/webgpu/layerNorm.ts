// Fused LayerNorm over the last axis (WebGPU), forward and backward, with its own gradient.
//
//   forward   μ = mean(x),  σ² = mean((x − μ)²),  r = 1/√(σ² + eps),  x̂ = (x − μ)·r,  y = x̂·γ + β
//   backward  g = dy·γ;  dx = r·(g − mean(g) − x̂·mean(g·x̂));  dγ = Σ_rows dy·x̂;  dβ = Σ_rows dy
//
// Forward: one dispatch (a workgroup of 64 threads per row, the row held in registers, two tree reductions).
// Backward: two dispatches — dx plus per-workgroup column partials of (dγ, dβ) over a block of rows, then one
// pass summing the partials. The statistics are recomputed in the backward from x (cheaper than saving them:
// a second output would cost the engine a zeros tensor for its unused gradient). Reference: layerNormNaive
// (ops/layerNorm/naive.ts).
// A stack of R runs (engine/stack.ts): γ, β [R, d], x's rows runs outermost (run r's rows r·rows/R …), each row
// scaled by its run's γ, β; the backward's row blocks never straddle two runs, so each run's dγ, dβ [R, d] are sums
// of its own blocks — in the order a run alone sums them (R = 1 is the same dispatches, bit for bit).
import * as tf from '@tensorflow/tfjs';
import { allocate, columnSumsDecl, columnSumsReduce, declare, dispatch, grid, release, webgpuBackend } from './dispatch.js';

export const LN_KERNEL = 'RecallbenchLayerNorm';
export const LN_GRAD_KERNEL = 'RecallbenchLayerNormGrad';

const WG = 64;

/** Reduce `value` over the workgroup (sum); every thread gets the result. */
const reduceFn = `
var<workgroup> red: array<vec2<f32>, ${WG}>;
fn reduce2(tid: u32, value: vec2<f32>) -> vec2<f32> {
  red[tid] = value;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] = red[tid] + red[tid + s]; }
    workgroupBarrier();
  }
  let out = red[0];
  workgroupBarrier();
  return out;
}`;

const forwardWgsl = (K: number) => () => `
${declare(
  [
    { name: 'x', type: 'f32' },
    { name: 'gamma', type: 'f32' },
    { name: 'beta', type: 'f32' },
    { name: 'y', type: 'f32', write: true },
  ],
  ['rows: u32', 'd: u32', 'eps: f32', 'rowsPerRun: u32'],
)}
${reduceFn}
const K = ${K}u;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.rows) { return; }
  let d = params.d;
  let base = row * d;
  let gb = (row / params.rowsPerRun) * d; // this row's run's γ, β
  var xs: array<f32, ${K}>;
  var s = 0.0f;
  for (var k = 0u; k < K; k++) {
    let c = tid + k * ${WG}u;
    xs[k] = select(0.0f, x[base + min(c, d - 1u)], c < d);
    s += xs[k];
  }
  let mean = reduce2(tid, vec2<f32>(s, 0.0f)).x / f32(d);
  var q = 0.0f;
  for (var k = 0u; k < K; k++) {
    let c = tid + k * ${WG}u;
    let centered = select(0.0f, xs[k] - mean, c < d);
    q += centered * centered;
  }
  let r = inverseSqrt(reduce2(tid, vec2<f32>(q, 0.0f)).x / f32(d) + params.eps);
  for (var k = 0u; k < K; k++) {
    let c = tid + k * ${WG}u;
    if (c < d) { y[base + c] = (xs[k] - mean) * r * gamma[gb + c] + beta[gb + c]; }
  }
}`;

const backwardRowsWgsl = (K: number) => () => `
${declare(
  [
    { name: 'dy', type: 'f32' },
    { name: 'x', type: 'f32' },
    { name: 'gamma', type: 'f32' },
    { name: 'dx', type: 'f32', write: true },
    { name: 'partial', type: 'f32', write: true },
  ],
  ['rows: u32', 'd: u32', 'eps: f32', 'rowsPerGroup: u32', 'rowsPerRun: u32', 'groupsPerRun: u32'],
)}
${reduceFn}
const K = ${K}u;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let group = wg.y * nwg.x + wg.x;
  let d = params.d;
  // block (group % groupsPerRun) of run (group / groupsPerRun): it never reaches into the next run's rows
  let run = group / params.groupsPerRun;
  let runEnd = min((run + 1u) * params.rowsPerRun, params.rows);
  let first = run * params.rowsPerRun + (group % params.groupsPerRun) * params.rowsPerGroup;
  if (first >= runEnd) { return; }
  let last = min(first + params.rowsPerGroup, runEnd);
  let gb = run * d;
  var accGamma: array<f32, ${K}>;
  var accBeta: array<f32, ${K}>;
  for (var k = 0u; k < K; k++) { accGamma[k] = 0.0f; accBeta[k] = 0.0f; }
  for (var row = first; row < last; row++) {
    let base = row * d;
    var xs: array<f32, ${K}>;
    var s = 0.0f;
    for (var k = 0u; k < K; k++) {
      let c = tid + k * ${WG}u;
      xs[k] = select(0.0f, x[base + min(c, d - 1u)], c < d);
      s += xs[k];
    }
    let mean = reduce2(tid, vec2<f32>(s, 0.0f)).x / f32(d);
    var q = 0.0f;
    for (var k = 0u; k < K; k++) {
      let c = tid + k * ${WG}u;
      let centered = select(0.0f, xs[k] - mean, c < d);
      q += centered * centered;
    }
    let r = inverseSqrt(reduce2(tid, vec2<f32>(q, 0.0f)).x / f32(d) + params.eps);
    var gs = vec2<f32>(0.0f, 0.0f);
    var dys: array<f32, ${K}>;
    for (var k = 0u; k < K; k++) {
      let c = tid + k * ${WG}u;
      let valid = c < d;
      let cc = min(c, d - 1u);
      dys[k] = select(0.0f, dy[base + cc], valid);
      xs[k] = select(0.0f, (xs[k] - mean) * r, valid);  // x̂
      let g = dys[k] * gamma[gb + cc];
      gs += vec2<f32>(g, g * xs[k]);
    }
    let sums = reduce2(tid, gs) / f32(d);
    for (var k = 0u; k < K; k++) {
      let c = tid + k * ${WG}u;
      if (c < d) {
        let g = dys[k] * gamma[gb + c];
        dx[base + c] = r * (g - sums.x - xs[k] * sums.y);
        accGamma[k] += dys[k] * xs[k];
        accBeta[k] += dys[k];
      }
    }
  }
  for (var k = 0u; k < K; k++) {
    let c = tid + k * ${WG}u;
    if (c < d) {
      partial[group * 2u * d + c] = accGamma[k];
      partial[group * 2u * d + d + c] = accBeta[k];
    }
  }
}`;

const backwardColumnsWgsl = () => `
${declare(
  [
    { name: 'partial', type: 'f32' },
    { name: 'dgamma', type: 'f32', write: true },
    { name: 'dbeta', type: 'f32', write: true },
  ],
  ['groupsPerRun: u32', 'd: u32', 'runs: u32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d = params.d;
  // lane = run·2d + c: column c of run's (dγ | dβ), summed over that run's blocks
  let run = gid.x / (2u * d);
  let c = gid.x % (2u * d);
  if (run >= params.runs) { return; }
  var s = 0.0f;
  let g0 = run * params.groupsPerRun;
  for (var g = 0u; g < params.groupsPerRun; g++) { s += partial[(g0 + g) * 2u * d + c]; }
  if (c < d) { dgamma[run * d + c] = s; } else { dbeta[run * d + c - d] = s; }
}`;

// Lever layerNormColumns: the same column sums of the partials, each column by COL_SPLIT threads (a workgroup of
// COL_WIDTH columns × COL_SPLIT) whose sums meet in workgroup memory, over up to 4x as many row blocks (8 rows a
// block, ≥ 32,768 rows a run: 4x; fewer rows: as many blocks as before or a few more). Above, 2d threads
// (128 at d 64: 2 workgroups) each walk every block's partial one load after another — 1,024 dependent loads at
// zoology's L 64, B512 — while the rows kernel has only 1,024 workgroups of 2 warps, each row 24 barriers deep.
// dx is computed row by row either way: the same bits; dγ, dβ are summed in another order.
const COL_WIDTH = 8;
const COL_SPLIT = 32;
const backwardColumnsSplitWgsl = () => `
${declare(
  [
    { name: 'partial', type: 'f32' },
    { name: 'dgamma', type: 'f32', write: true },
    { name: 'dbeta', type: 'f32', write: true },
  ],
  ['groupsPerRun: u32', 'd: u32', 'runs: u32', 'blocksPerRun: u32'],
)}
${columnSumsDecl(COL_WIDTH, COL_SPLIT)}
@compute @workgroup_size(${COL_WIDTH * COL_SPLIT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let d = params.d;
  let w = wg.y * nwg.x + wg.x;
  // workgroup = (run, block of COL_WIDTH of the run's 2d columns (dγ | dβ)); thread = (column in block, k)
  let run = w / params.blocksPerRun;
  let cl = li % ${COL_WIDTH}u;
  let k = li / ${COL_WIDTH}u;
  let c = (w % params.blocksPerRun) * ${COL_WIDTH}u + cl;
  let live = run < params.runs && c < 2u * d;
  var s = 0.0f;
  if (live) {
    let g0 = run * params.groupsPerRun;
    for (var g = k; g < params.groupsPerRun; g += ${COL_SPLIT}u) { s += partial[(g0 + g) * 2u * d + c]; }
  }
  ${columnSumsReduce(COL_WIDTH, COL_SPLIT)}
  if (k == 0u && live) {
    let total = sums[cl];
    if (c < d) { dgamma[run * d + c] = total; } else { dbeta[run * d + c - d] = total; }
  }
}`;

let splitColumns = false;
/** Lever layerNormColumns: the backward's column sums split over threads and more row blocks (on), or as above (off). */
export function setLayerNormColumns(on: boolean): void {
  splitColumns = on;
}

/** Rows, width, registers per thread, and runs (γ [d]: 1; γ [R, d]: R, which must divide the rows). */
function sizes(x: tf.TensorInfo, gamma: tf.TensorInfo): { rows: number; d: number; K: number; runs: number } {
  const d = x.shape[x.shape.length - 1]!;
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const runs = gamma.shape.length === 2 ? gamma.shape[0]! : 1;
  if (gamma.shape.length > 2 || gamma.shape[gamma.shape.length - 1] !== d || runs < 1 || rows % runs !== 0)
    throw new Error(`${LN_KERNEL}: gamma [${gamma.shape}] does not match x [${x.shape}] (expected [d] or [runs, d] with runs dividing the rows)`);
  return { rows, d, K: Math.ceil(d / WG), runs };
}

function forward(x: tf.TensorInfo, gamma: tf.TensorInfo, beta: tf.TensorInfo, eps: number): tf.TensorInfo {
  const { rows, d, K, runs } = sizes(x, gamma);
  if (beta.shape.join() !== gamma.shape.join()) throw new Error(`${LN_KERNEL}: beta [${beta.shape}] does not match gamma [${gamma.shape}]`);
  const y = allocate(webgpuBackend(), x.shape);
  dispatch('LayerNorm', `rb_ln_fwd_${K}`, forwardWgsl(K), [{ tensor: x }, { tensor: gamma }, { tensor: beta }, { tensor: y, write: true }], [{ u: rows }, { u: d }, { f: eps }, { u: Math.max(1, rows / runs) }], grid(rows));
  return y;
}

function backward(dy: tf.TensorInfo, x: tf.TensorInfo, gamma: tf.TensorInfo, eps: number): tf.TensorInfo[] {
  const { rows, d, K, runs } = sizes(x, gamma);
  const backend = webgpuBackend();
  // enough workgroups to fill a large GPU, enough rows per workgroup to keep the partials small; a run's rows in
  // whole blocks of their own (one run: the blocks of the whole)
  const rowsPerRun = Math.max(1, rows / runs);
  // (blocks sized from one run's rows, so that a stacked run's dγ, dβ are summed as the run alone sums them)
  const rowsPerGroup = Math.max(8, Math.ceil(rowsPerRun / (splitColumns ? 4096 : 1024)));
  const groupsPerRun = rows === 0 ? 0 : Math.ceil(rowsPerRun / rowsPerGroup);
  const groups = runs * groupsPerRun;
  const dx = allocate(backend, x.shape);
  const partial = allocate(backend, [groups, 2, d]);
  const dgamma = allocate(backend, gamma.shape);
  const dbeta = allocate(backend, gamma.shape);
  dispatch(
    'LayerNormGradRows',
    `rb_ln_bwd_rows_${K}`,
    backwardRowsWgsl(K),
    [{ tensor: dy }, { tensor: x }, { tensor: gamma }, { tensor: dx, write: true }, { tensor: partial, write: true }],
    [{ u: rows }, { u: d }, { f: eps }, { u: rowsPerGroup }, { u: rowsPerRun }, { u: groupsPerRun }],
    grid(groups),
  );
  if (splitColumns) {
    const blocksPerRun = Math.ceil((2 * d) / COL_WIDTH);
    dispatch('LayerNormGradColumnsSplit', 'rb_ln_bwd_cols_split', backwardColumnsSplitWgsl, [{ tensor: partial }, { tensor: dgamma, write: true }, { tensor: dbeta, write: true }], [{ u: groupsPerRun }, { u: d }, { u: runs }, { u: blocksPerRun }], grid(runs * blocksPerRun));
  } else {
    dispatch('LayerNormGradColumns', 'rb_ln_bwd_cols', backwardColumnsWgsl, [{ tensor: partial }, { tensor: dgamma, write: true }, { tensor: dbeta, write: true }], [{ u: groupsPerRun }, { u: d }, { u: runs }], [Math.ceil((2 * d * runs) / WG), 1, 1]);
  }
  release(partial);
  return [dx, dgamma, dbeta];
}

let registered = false;

export function registerLayerNormWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: LN_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
      return forward(x!, gamma!, beta!, (attrs as unknown as { eps: number }).eps);
    },
  });
  tf.registerKernel({
    kernelName: LN_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { dy, x, gamma } = inputs as Record<string, tf.TensorInfo>;
      return backward(dy!, x!, gamma!, (attrs as unknown as { eps: number }).eps);
    },
  });
  tf.registerGradient({
    kernelName: LN_KERNEL,
    inputsToSave: ['x', 'gamma'],
    gradFunc: (dy, saved, attrs) => {
      const [x, gamma] = saved as [tf.Tensor, tf.Tensor];
      const [dx, dgamma, dbeta] = tf.engine().runKernel(LN_GRAD_KERNEL, { dy: dy as tf.Tensor, x, gamma }, attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
      return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
    },
  });
}

/**
 * LayerNorm of x [..., d] through the fused kernels (the fast form of ops/layerNorm, registered by index.ts); a stack
 * of runs: γ, β [R, d] with x's rows runs outermost.
 */
export function layerNormWebGpu(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  return tf.engine().runKernel(LN_KERNEL, { x, gamma, beta }, { eps } as unknown as tf.NamedAttrMap) as tf.Tensor;
}
