// BatchMatMul on WebGPU with register-blocked tiles (lever `matmul`) — every tf.matMul of the models and of their
// gradients: the linears, attention's QKᵀ and PV, the tied LM head.
//
// Why: tfjs 4.22 multiplies in 32 × 32 output tiles of 64 threads, each thread 4 × 4 outputs, so every value it
// reads from workgroup memory feeds 4 multiply-adds (profiles on an H200: ≈ 7 TFLOP/s in a Mamba step, and 12.3 of
// attention's 18.1 GPU ms at B256). Here a workgroup of 256 threads computes a 128 × 128 tile, each thread 8 × 8
// outputs held in registers, so each value read feeds 8 (the classic SGEMM blocking); a 64 × 64 tile (4 × 4 per
// thread) when the output has too few 128-tiles to fill the GPU or would leave most of one empty, a 32 × 32 one
// (tfjs's) for outputs of ≤ 32 rows or columns, and K split over workgroups (partial products summed by a second
// dispatch) when even those are too few — the weight gradients, [d, B·T] × [B·T, d'].
// Each thread takes rows ty + i·16 and columns tx + j·16 (not a contiguous block), so a warp's workgroup-memory
// reads and its global stores are contiguous; the tiles' rows are padded by 4 floats so the transposing stores into
// workgroup memory do not fall into one bank. Out-of-range rows, columns and k read 0, so any M, N, K works.
// Reference: batchMatMulValues (ops/matmul/naive.ts); tests/webgpu-matmul.test.ts.
import * as tf from '@tensorflow/tfjs';
import { UserInputError } from '../../core/errors.js';
import { allocate, dispatch, grid, MAX_WORKGROUPS_PER_DIMENSION, overrideKernel, release, webgpuBackend, workgroupStorageBytes } from './dispatch.js';

export const MATMUL_KERNEL = 'RecallbenchMatMul';
export const MATMUL_SPLIT_SUM_KERNEL = 'RecallbenchMatMulSplitSum';
/** Counts (matmulDispatches) the dispatches of MATMUL_KERNEL that took the vec4 form (lever matmulVec4). */
export const MATMUL_VEC4 = 'RecallbenchMatMul (vec4)';
/** Counts the dispatches of MATMUL_KERNEL that took the vec4 form with the next tile read ahead (lever matmulPrefetch). */
export const MATMUL_PREFETCH = 'RecallbenchMatMul (vec4, prefetch)';

/**
 * Dispatches of each kernel so far in this process. The kernel stands in for tfjs's own BatchMatMul, so tf.profile
 * names it 'BatchMatMul' either way; these counts are how a test sees which one ran.
 */
export const matmulDispatches = { [MATMUL_KERNEL]: 0, [MATMUL_SPLIT_SUM_KERNEL]: 0, [MATMUL_VEC4]: 0, [MATMUL_PREFETCH]: 0 };

/** A tiling: BM × BN outputs per workgroup, BK of K per pass through workgroup memory, TM × TN outputs per thread. */
interface Tiling {
  name: string;
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}
const LARGE: Tiling = { name: 'large', BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 };
/**
 * K per pass of the 128-tile: 8, or RECALLBENCH_MATMUL_LARGE_BK (16 or 32: half or a quarter of the barriers per K,
 * twice or four times the workgroup memory) for a benchmark to time. The 128-tile never takes a K split (matmulPlan),
 * so BK changes no sum: each output adds k = 0, 1, … in order whatever the pass length.
 */
export function largeTileK(): number {
  const raw = typeof process !== 'undefined' ? process.env.RECALLBENCH_MATMUL_LARGE_BK : undefined;
  if (raw === undefined || raw === '') return LARGE.BK;
  if (!['8', '16', '32'].includes(raw.trim())) throw new UserInputError(`RECALLBENCH_MATMUL_LARGE_BK: 8, 16 or 32 (K per pass of the matmul's 128-tile), got '${raw}'`);
  return Number(raw.trim());
}
/** Workgroup memory of the 128-tile at K pass `BK`: its As and Bs tiles, rows padded (both kernels). */
export const largeTileBytes = (BK: number): number => 4 * BK * (LARGE.BM + LARGE.BN + 2 * PAD);
const largeTilings = new Map<number, Tiling>([[LARGE.BK, LARGE]]);
/** The 128-tile at largeTileK(), one object per BK (matmulPlan compares tilings by identity). */
function largeTiling(): Tiling {
  const BK = largeTileK();
  let t = largeTilings.get(BK);
  if (!t) largeTilings.set(BK, (t = { ...LARGE, name: `large${BK}`, BK }));
  return t;
}
const SMALL: Tiling = { name: 'small', BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
// tfjs's own tile (64 threads, 4 × 4 each), for outputs of 32 rows or columns or fewer — the batched small products
// of GLA's and Mamba-2's chunks ([B·H·chunks, 16, 16] · [16, 32]), the narrow projections (d → 16, d → 40)
const TINY: Tiling = { name: 'tiny', BM: 32, BN: 32, BK: 16, TM: 4, TN: 4 };

/**
 * Workgroups that keep the GPU busy: below this many output tiles the next smaller tiling (or a K split) is taken.
 * WebGPU does not say how many multiprocessors a GPU has; 264 is two workgroups on each of an H100's or H200's 132.
 */
export const BUSY_WORKGROUPS = 264;
/** Least K per split: fewer would spend more on the partials' sum than the split gains. */
const MIN_K_PER_SPLIT = 256;
const PAD = 4;

// What both kernels (scalar and vec4 workgroup memory) share: the bindings and uniforms; the first lines of main —
// which output tile (row0, col0), K split and batch a workgroup takes, where its A and B start; and the reads of
// element (gm, gk) of A and (gk, gn) of B from global memory (A [M, K], or stored [K, M] when transposed; likewise B).
const MATMUL_BINDINGS = `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
struct Params { M: u32, N: u32, K: u32, aBatchStride: u32, bBatchStride: u32, splits: u32, kPerSplit: u32, batch: u32, };
@group(0) @binding(3) var<uniform> params: Params;
`;
const MATMUL_PROLOGUE = `  let tx = tid % WX;
  let ty = tid / WX;
  let batch = wg.z / params.splits;
  let split = wg.z % params.splits;
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  let kBegin = split * params.kPerSplit;
  let kEnd = min(params.K, kBegin + params.kPerSplit);
  let aBase = batch * params.aBatchStride;
  let bBase = batch * params.bBatchStride;
`;
const globalReads = (transposeA: boolean, transposeB: boolean) => ({
  aRead: transposeA ? 'A[aBase + gk * params.M + gm]' : 'A[aBase + gm * params.K + gk]',
  bRead: transposeB ? 'B[bBase + gn * params.K + gk]' : 'B[bBase + gk * params.N + gn]',
});

const matmulWgsl = (t: Tiling, transposeA: boolean, transposeB: boolean) => () => {
  const WX = t.BN / t.TN; // threads along a row of the tile
  const WY = t.BM / t.TM;
  const THREADS = WX * WY;
  const SA = t.BM + PAD; // row stride of As[k][m]
  const SB = t.BN + PAD;
  const loadsA = (t.BM * t.BK) / THREADS;
  const loadsB = (t.BN * t.BK) / THREADS;
  // element e of a tile, read where global memory is contiguous (k for A [M, K], m for Aᵀ stored [K, M]; likewise B)
  const aIndex = transposeA ? 'let k = e / BM; let m = e % BM;' : 'let m = e / BK; let k = e % BK;';
  const bIndex = transposeB ? 'let n = e / BK; let k = e % BK;' : 'let k = e / BN; let n = e % BN;';
  const { aRead, bRead } = globalReads(transposeA, transposeB);
  return `
${MATMUL_BINDINGS}
const BM = ${t.BM}u;
const BN = ${t.BN}u;
const BK = ${t.BK}u;
const TM = ${t.TM}u;
const TN = ${t.TN}u;
const WX = ${WX}u;
const WY = ${WY}u;
const THREADS = ${THREADS}u;
const SA = ${SA}u;
const SB = ${SB}u;
var<workgroup> As: array<f32, ${SA * t.BK}>;
var<workgroup> Bs: array<f32, ${SB * t.BK}>;

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
${MATMUL_PROLOGUE}  var acc: array<f32, ${t.TM * t.TN}>;
  var a: array<f32, ${t.TM}>;
  var b: array<f32, ${t.TN}>;
  for (var k0 = kBegin; k0 < kEnd; k0 += BK) {
    for (var l = 0u; l < ${loadsA}u; l++) {
      let e = tid + l * THREADS;
      ${aIndex}
      let gm = row0 + m;
      let gk = k0 + k;
      var v = 0.0;
      if (gm < params.M && gk < kEnd) { v = ${aRead}; }
      As[k * SA + m] = v;
    }
    for (var l = 0u; l < ${loadsB}u; l++) {
      let e = tid + l * THREADS;
      ${bIndex}
      let gn = col0 + n;
      let gk = k0 + k;
      var v = 0.0;
      if (gn < params.N && gk < kEnd) { v = ${bRead}; }
      Bs[k * SB + n] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      for (var i = 0u; i < TM; i++) { a[i] = As[k * SA + ty + i * WY]; }
      for (var j = 0u; j < TN; j++) { b[j] = Bs[k * SB + tx + j * WX]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]); }
      }
    }
    workgroupBarrier();
  }
  // split s of batch p writes partials [s, p, M, N] (the output itself when there is one split)
  let cBase = (split * params.batch + batch) * params.M * params.N;
  for (var i = 0u; i < TM; i++) {
    let gm = row0 + ty + i * WY;
    if (gm >= params.M) { continue; }
    for (var j = 0u; j < TN; j++) {
      let gn = col0 + tx + j * WX;
      if (gn < params.N) { C[cBase + gm * params.N + gn] = acc[i * TN + j]; }
    }
  }
}`;
};

/**
 * The same product and tiles with vec4 workgroup memory (lever `matmulVec4`): thread (tx, ty) owns rows
 * 4·(ty + g·WY) + c and columns 4·(tx + h·WX) + c (c < 4), so each k reads its TM + TN values as (TM + TN) / 4
 * vec4 loads instead of TM + TN scalar ones (an 8 × 8 thread: 4 loads per 64 multiply-adds, not 16 — the scalar
 * kernel issues one workgroup-memory load per 4 multiply-adds, which the GPU's load units cannot feed at its
 * multiply-add rate), and accumulates in vec4s. Each thread fills whole vec4s of the tiles (4 rows, or 4 columns,
 * at one k): WGSL lets a store to one component of a vector touch the whole vector, so threads sharing a vec4 could
 * race (gpuweb #2112). Workgroup memory keeps the scalar kernel's float layout As[k][m] (rows padded by 4 floats);
 * every output is the same chain of fma in the same k order, so the products equal the scalar kernel's (bit for bit
 * on the drivers tested: lavapipe; bench/step.ts --matmul prints the difference on a GPU).
 * `prefetch` (lever matmulPrefetch): each thread reads its share of the next K tile from global memory into registers
 * while the workgroup multiplies the current one, and stores it to workgroup memory after the tile's last barrier —
 * the global reads' latency hidden behind the products instead of every thread waiting on them before each tile. The
 * same fma chains in the same k order: the same bits.
 */
const matmulVec4Wgsl = (t: Tiling, transposeA: boolean, transposeB: boolean, prefetch = false) => () => {
  const WX = t.BN / t.TN;
  const WY = t.BM / t.TM;
  const THREADS = WX * WY;
  const GM = t.TM / 4; // vec4 groups of rows per thread
  const GN = t.TN / 4;
  const SA4 = t.BM / 4 + PAD / 4; // row stride of As[k][·] in vec4
  const SB4 = t.BN / 4 + PAD / 4;
  // vec4s per tile and per thread; vec4 e of a tile = (k, 4 consecutive m) — consecutive threads take consecutive
  // k where global memory is contiguous along k (A [M, K], Bᵀ stored [N, K]), consecutive m or n otherwise
  const loadsA = (t.BM * t.BK) / 4 / THREADS;
  const loadsB = (t.BN * t.BK) / 4 / THREADS;
  const aIndex = transposeA ? 'let k = e / (BM / 4u); let m4 = e % (BM / 4u);' : 'let m4 = e / BK; let k = e % BK;';
  const bIndex = transposeB ? 'let n4 = e / BK; let k = e % BK;' : 'let k = e / (BN / 4u); let n4 = e % (BN / 4u);';
  const { aRead, bRead } = globalReads(transposeA, transposeB);
  // the tile at k offset `k0` read from global memory, each thread's vec4s of A then of B handed to `putA` / `putB`
  // (with l, k, m4 or n4 and v in scope): stored into workgroup memory, or (prefetch) held in registers
  const loads = (k0: string, putA: string, putB: string) => `for (var l = 0u; l < ${loadsA}u; l++) {
      let e = tid + l * THREADS;
      ${aIndex}
      let gk = ${k0} + k;
      var v = vec4<f32>(0.0);
      for (var q = 0u; q < 4u; q++) {
        let gm = row0 + m4 * 4u + q;
        if (gm < params.M && gk < kEnd) { v[q] = ${aRead}; }
      }
      ${putA}
    }
    for (var l = 0u; l < ${loadsB}u; l++) {
      let e = tid + l * THREADS;
      ${bIndex}
      let gk = ${k0} + k;
      var v = vec4<f32>(0.0);
      for (var q = 0u; q < 4u; q++) {
        let gn = col0 + n4 * 4u + q;
        if (gn < params.N && gk < kEnd) { v[q] = ${bRead}; }
      }
      ${putB}
    }`;
  // the held vec4s into workgroup memory, at the places `loads` would have stored them
  const stores = (heldA: string, heldB: string) => `for (var l = 0u; l < ${loadsA}u; l++) {
      let e = tid + l * THREADS;
      ${aIndex}
      As[k * SA4 + m4] = ${heldA};
    }
    for (var l = 0u; l < ${loadsB}u; l++) {
      let e = tid + l * THREADS;
      ${bIndex}
      Bs[k * SB4 + n4] = ${heldB};
    }`;
  return `
${MATMUL_BINDINGS}
const BM = ${t.BM}u;
const BN = ${t.BN}u;
const BK = ${t.BK}u;
const GM = ${GM}u;
const GN = ${GN}u;
const WX = ${WX}u;
const WY = ${WY}u;
const THREADS = ${THREADS}u;
const SA4 = ${SA4}u;
const SB4 = ${SB4}u;
var<workgroup> As: array<vec4<f32>, ${SA4 * t.BK}>;
var<workgroup> Bs: array<vec4<f32>, ${SB4 * t.BK}>;

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
${MATMUL_PROLOGUE}  var acc: array<vec4<f32>, ${t.TM * GN}>;
  var a: array<vec4<f32>, ${GM}>;
  var b: array<vec4<f32>, ${GN}>;
  ${
    prefetch
      ? `var pa: array<vec4<f32>, ${loadsA}>;
  var pb: array<vec4<f32>, ${loadsB}>;
  ${loads('kBegin', 'pa[l] = v;', 'pb[l] = v;')}`
      : ''
  }
  for (var k0 = kBegin; k0 < kEnd; k0 += BK) {
    ${
      prefetch
        ? // the tile read during the previous tile's products goes to workgroup memory; the next one's reads start
          `${stores('pa[l]', 'pb[l]')}
    workgroupBarrier();
    if (k0 + BK < kEnd) {
      ${loads('k0 + BK', 'pa[l] = v;', 'pb[l] = v;')}
    }`
        : `${loads('k0', 'As[k * SA4 + m4] = v;', 'Bs[k * SB4 + n4] = v;')}
    workgroupBarrier();`
    }
    for (var k = 0u; k < BK; k++) {
      for (var g = 0u; g < GM; g++) { a[g] = As[k * SA4 + ty + g * WY]; }
      for (var h = 0u; h < GN; h++) { b[h] = Bs[k * SB4 + tx + h * WX]; }
      for (var g = 0u; g < GM; g++) {
        for (var c = 0u; c < 4u; c++) {
          let ai = vec4<f32>(a[g][c]);
          let i = g * 4u + c;
          for (var h = 0u; h < GN; h++) { acc[i * GN + h] = fma(ai, b[h], acc[i * GN + h]); }
        }
      }
    }
    workgroupBarrier();
  }
  let cBase = (split * params.batch + batch) * params.M * params.N;
  for (var g = 0u; g < GM; g++) {
    for (var c = 0u; c < 4u; c++) {
      let gm = row0 + (ty + g * WY) * 4u + c;
      if (gm >= params.M) { continue; }
      for (var h = 0u; h < GN; h++) {
        let v = acc[(g * 4u + c) * GN + h];
        let gn0 = col0 + (tx + h * WX) * 4u;
        for (var q = 0u; q < 4u; q++) {
          if (gn0 + q < params.N) { C[cBase + gm * params.N + gn0 + q] = v[q]; }
        }
      }
    }
  }
}`;
};

const splitSumWgsl = () => `
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> C: array<f32>;
struct Params { size: u32, splits: u32, };
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + tid;
  if (i >= params.size) { return; }
  var sum = 0.0;
  for (var s = 0u; s < params.splits; s++) { sum += partials[s * params.size + i]; }
  C[i] = sum;
}`;

/** Fraction of a tiling's padded output that is real: below one half, most of its threads compute zeros. */
const used = (t: Tiling, M: number, N: number) => (M * N) / (Math.ceil(M / t.BM) * t.BM * Math.ceil(N / t.BN) * t.BN);

/**
 * The tiling and K split for an output of `batch` × M × N over K: the largest tile that wastes at most half its
 * outputs and still gives `busy` workgroups (BUSY_WORKGROUPS; the tests pass small values to reach each path on small
 * shapes); with none, the 64- (else 32-) tile and K split over workgroups until there are (each split ≥ 256 of K).
 */
export function matmulPlan(batch: number, M: number, N: number, K: number, busy = BUSY_WORKGROUPS): { tiling: Tiling; splits: number; kPerSplit: number } {
  const tiles = (t: Tiling) => batch * Math.ceil(M / t.BM) * Math.ceil(N / t.BN);
  const large = largeTiling();
  const fitting = [large, SMALL, TINY].filter((t) => used(t, M, N) >= 0.5);
  const busyOne = fitting.find((t) => tiles(t) >= busy);
  if (busyOne) return { tiling: busyOne, splits: 1, kPerSplit: K };
  // a K split takes 64-tiles where they fit (256 threads a workgroup; 32-tiles have 64), else 32-tiles
  const tiling = fitting.find((t) => t !== large) ?? TINY;
  const splits = Math.max(1, Math.min(Math.ceil(busy / tiles(tiling)), Math.floor(K / MIN_K_PER_SPLIT)));
  // a whole number of BK per split, so only the last split has a ragged end
  const kPerSplit = Math.ceil(Math.ceil(K / splits) / tiling.BK) * tiling.BK;
  return { tiling, splits: Math.ceil(K / kPerSplit), kPerSplit };
}

/**
 * out [batch, M, N] = A · B with A [batchA, M, K] (stored [batchA, K, M] when transposeA), B [batchB, K, N] (stored
 * [batchB, N, K] when transposeB), batchA and batchB equal or one of them 1 (`busy`: matmulPlan's; `vec4`: the kernel with
 * vec4 workgroup-memory reads, lever matmulVec4); undefined where the grid would pass the device's dispatch limits (the
 * stock kernel runs then).
 */
export function matmulWebGpu(a: tf.TensorInfo, b: tf.TensorInfo, batchA: number, batchB: number, M: number, N: number, K: number, transposeA: boolean, transposeB: boolean, busy = BUSY_WORKGROUPS, vec4 = vec4Reads, prefetch = prefetchReads): tf.TensorInfo | undefined {
  const batch = Math.max(batchA, batchB);
  const { tiling, splits, kPerSplit } = matmulPlan(batch, M, N, K, busy);
  if (tiling.BM === LARGE.BM && largeTileBytes(tiling.BK) > workgroupStorageBytes()) throw new UserInputError(`RECALLBENCH_MATMUL_LARGE_BK ${tiling.BK}: the 128-tile needs ${largeTileBytes(tiling.BK)} bytes of workgroup memory, this device allows ${workgroupStorageBytes()}`);
  const groups: [number, number, number] = [Math.ceil(N / tiling.BN), Math.ceil(M / tiling.BM), batch * splits];
  if (groups.some((g) => g > MAX_WORKGROUPS_PER_DIMENSION)) return undefined;
  const backend = webgpuBackend();
  const out = allocate(backend, [batch, M, N]);
  const target = splits > 1 ? allocate(backend, [splits, batch, M, N]) : out;
  const ahead = vec4 && prefetch; // prefetch is a form of the vec4 kernel
  const key = `rb_matmul${vec4 ? '4' : ''}${ahead ? 'p' : ''}_${tiling.name}_${transposeA ? 't' : 'n'}${transposeB ? 't' : 'n'}`;
  const uniforms = [{ u: M }, { u: N }, { u: K }, { u: batchA === 1 ? 0 : M * K }, { u: batchB === 1 ? 0 : K * N }, { u: splits }, { u: kPerSplit }, { u: batch }];
  matmulDispatches[MATMUL_KERNEL]++;
  if (vec4) matmulDispatches[MATMUL_VEC4]++;
  if (ahead) matmulDispatches[MATMUL_PREFETCH]++;
  dispatch(MATMUL_KERNEL, key, vec4 ? matmulVec4Wgsl(tiling, transposeA, transposeB, ahead) : matmulWgsl(tiling, transposeA, transposeB), [{ tensor: a }, { tensor: b }, { tensor: target, write: true }], uniforms, groups);
  if (splits > 1) {
    const size = batch * M * N;
    matmulDispatches[MATMUL_SPLIT_SUM_KERNEL]++;
    dispatch(MATMUL_SPLIT_SUM_KERNEL, 'rb_matmul_split_sum', splitSumWgsl, [{ tensor: target }, { tensor: out, write: true }], [{ u: size }, { u: splits }], grid(Math.ceil(size / 256)));
    release(target);
  }
  return out;
}

let enabled = false;
let vec4Reads = false;
let prefetchReads = false;

export function setMatmulWebGpu(on: boolean): void {
  enabled = on;
}

/** Lever matmulVec4: the kernel reads workgroup memory as vec4s (matmulVec4Wgsl); only with lever matmul on. */
export function setMatmulVec4(on: boolean): void {
  vec4Reads = on;
}

/** Lever matmulPrefetch: the vec4 kernel reads the next K tile while multiplying the current one; only with matmul and matmulVec4 on. */
export function setMatmulPrefetch(on: boolean): void {
  prefetchReads = on;
}

/** Replace tfjs's webgpu BatchMatMul (kept for other dtypes, batches that do not broadcast as 1-or-equal, and lever off). */
export function registerMatmulWebGpu(): void {
  overrideKernel('BatchMatMul', (stock) => (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!enabled || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return stock.kernelFunc(args);
    const ra = a.shape.length;
    const rb = b.shape.length;
    const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
    const K = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    const kB = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const batchA = outerA.reduce((x, y) => x * y, 1);
    const batchB = outerB.reduce((x, y) => x * y, 1);
    // the stock kernel says what is wrong with mismatched or non-broadcasting shapes; empty products are its too
    if (K !== kB || M * N * K * batchA * batchB === 0 || (batchA !== batchB && batchA !== 1 && batchB !== 1)) return stock.kernelFunc(args);
    let outer: number[];
    try {
      outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
    } catch {
      return stock.kernelFunc(args); // its own error
    }
    // the kernel pairs batch p of A with batch p of B (or batch 0 of a side of 1): outer shapes whose broadcast is larger
    // than either side ([3, 1] · [1, 3]; [6] · [6, 1]) are not that pairing — the stock kernel's (it refuses them)
    if (outer.reduce((x, y) => x * y, 1) !== Math.max(batchA, batchB)) return stock.kernelFunc(args);
    const out = matmulWebGpu(a, b, batchA, batchB, M, N, K, transposeA, transposeB);
    if (!out) return stock.kernelFunc(args);
    return { dataId: out.dataId, shape: [...outer, M, N], dtype: 'float32' };
  });
}
