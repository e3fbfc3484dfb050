// Fused causal linear attention (WebGPU), forward and backward: the fast form of ops/linearAttention's causal entry
// without an initial state (shared keys — JRT-RNN's prefix — as a longer walk, causalLinearAttentionWebGpu below; a
// pairScore is ignored: it is φq·φk, which the kernel reads directly, so the function is the same):
//
//   y_i = φq_i·S_i / (φq_i·z_i + eps),   S_i = Σ_{j≤i} φk_jᵀ v_j,   z_i = Σ_{j≤i} φk_j
//
// den = φq·z is written once per row for the backward; y = num / (den + eps) is divided in the kernel, eps as the
// reference adds it.
//
// Backward: with e_t = den_t + eps, the cotangents of num and den are g_t[j] = dy_t[j] / e_t and
// −Σ_j dy_t[j] y_t[j] / e_t, i.e. g over the columns of c_s = [v_s, 1] (z is S of a ones column). Then
//   dφq_t = Σ_{s≤t} (g_t·c_s) φk_s,   dφk_s = Σ_{i≥s} (c_s·g_i) φq_i,   dv_s[j] = Σ_{i≥s} (φk_s·φq_i) g_i[j]
//
// Every pass — the forward and the three gradients — is one walk of the same shape: a state M[a][b] (a: the output's
// index, b: the index reduced over) updated M += x_t[a] u_t[b] and read out_t[a] = Σ_b M[a][b] w_t[b] after the
// update, forward in time or backward:
//   fwd  a = the columns of c = [v, 1] (a block of them plus the ones column, for den), b = f: x = c, u = φk, w = φq
//   dφq  a = f, b = the columns of c:   x = φk, u = c, w = g   (forward in time)
//   dφk  a = f, b = the columns of c:   x = φq, u = g, w = c   (backward)
//   dv   a = j < d_v, b = f:            x = g,  u = φq, w = φk (backward)
// A workgroup owns (batch·head, a block of NA a's) and G threads per a, thread g owning b = g, g + G, … (R =
// ⌈width_b / G⌉ ≤ 32 floats of private state; G a power of two ≤ 32 chosen for that), so NA·G ≤ 256 threads split
// the block's NA × width_b state. Time goes TC steps at a time: the chunk's u, w rows (zero-padded to R·G) and x
// entries are staged in workgroup memory, then each thread walks the TC steps updating its entries and writing its
// partial sum of out_t[a] per step to workgroup memory, then the sums over the G threads are finished and written
// (the forward divides by its ones column's sum, which is den). Two barriers per chunk, no atomics, each output
// written once. TC (≤ 16) is sized from the device's maxComputeWorkgroupStorageSize (16 KiB without a device, at
// most 48 KiB used). g_t (d_v + 1 per row) is one small dispatch first, into a scratch buffer released after.
// Forward one dispatch, backward four (g, dφq, dφk, dv). Every shape and eps is a uniform; the pipeline keys name
// the pass and the tile constants G, R, NA, TC (and AS) only. Reference: causalLinearAttentionNaive (ops/linearAttention/naive.ts).
//
// Lever `linearAttentionWide` (the passes over F: fwd and dv): each thread owns AS a's (slots tid/G + NA·j), so a
// workgroup walks NS = NA·AS of them. With one a per thread at G = 16 a workgroup holds 16 a's — jrt-sd's f 24 (F 325 =
// 1 + 24 + 300) at d_v 18 (19 a's with the ones column) took 2 workgroups per head, each staging the same φq/φk rows and
// each thread reading its 2R staged floats per step for one a; with AS a's per thread those reads serve AS a's (AS·R ≤
// WIDE_STATE floats of private state): AS 2, one workgroup a head.
//
// Lever `linearAttentionColumns` (the gradient's dφq and dφk walks, b over the d_v + 1 columns of c, when d_v + 1 ≤
// COLUMNS_MAX_WIDTH): one thread per a (G = 1) holding its whole state row as named scalars, AS a's a thread, the
// staged u, w rows read as vec4s (the walk's loads: one per four columns where the loop form issues two per column),
// and each step's sum written straight to the output (one thread owns it: no partial sums in workgroup memory, no
// finishing loop) — columnsWgsl below.
//
// Lever `linearAttentionFit`: every walk's NA thread groups fitted to its row (fitThreads below) instead of NA = the
// power of two at or above it — as many a's a thread (AS) as before or fewer, as many workgroups, NA·G threads in
// whole warps of 32. jrt-sd's f 24 (F 325, d_v 18) walked 512 slots a head for 325 a's in the columns form's dφq, dφk
// (256 threads × 2; 187 slots, 36 %, walking every step for a's past F) and 32 slots for 19 (forward) and 18 (dv) a's
// in the wide passes (16 groups of 16 threads × 2); fitted, 192 × 2 = 384 and 10 × 2 = 20 (160 threads): the same serial
// work a thread, fewer threads and — in the wide passes, whose partial sums take NS·(G + 1) floats a step — less
// workgroup memory a workgroup, so more of them resident at once.
import * as tf from '@tensorflow/tfjs';
import { LINEAR_ATTENTION_EPS, type LinearAttentionOptions } from '../../ops/linearAttention/common.js';
import { allocate, declare, dispatch, grid, madeOnce, MAX_WORKGROUP_BYTES, pow2AtLeast, release, webgpuBackend, workgroupStorageBytes } from './dispatch.js';

/** Largest F handled; beyond it the op runs its chunked form. d_v + 1 is the backward's state width: capped alike. */
export const LINEAR_ATTENTION_MAX_WIDTH = 1024;
/** Private state per thread at most (floats). */
const MAX_STATE = 32;
/** Threads per workgroup at most (WebGPU's default maxComputeInvocationsPerWorkgroup). */
const MAX_THREADS = 256;
/** Time steps staged per chunk at most. */
const MAX_TC = 16;
/** Private state per thread at most with lever linearAttentionWide (AS·R floats). */
const WIDE_STATE = 64;
/** Widest state row (d_v + 1) the columns form holds in one thread, and its private state at most (AS·RP floats). */
export const COLUMNS_MAX_WIDTH = 72;
const COLUMNS_STATE = 72;

export type LinearAttentionPass = 'fwd' | 'dq' | 'dk' | 'dv';

/**
 * A pass's tile constants: G threads per a, each holding R state entries (BP = R·G ≥ width_b), NA thread groups per
 * workgroup (NT = NA·G threads), AS a's per thread (NS = NA·AS a's per workgroup; 1 unless lever linearAttentionWide),
 * TC time steps per chunk.
 */
export interface LinearAttentionTiles {
  G: number;
  R: number;
  BP: number;
  NA: number;
  NT: number;
  TC: number;
  AS: number;
  NS: number;
  /** Lever linearAttentionVec4: vec4s of staged u (and w) per thread, odd (0: the strided layout). */
  RV: number;
}

/** Floats of workgroup memory per staged time step: the u and w rows (BPS floats each), the x entries, the partial sums (padded to G + 1 per a). */
const floatsPerStep = (BPS: number, NS: number, G: number) => 2 * BPS + NS + NS * (G + 1);

/**
 * The tiles of a pass reducing over `widthB` (F, or d_v + 1) with `widthA` outputs per row (d_v value columns in the
 * forward, which adds the ones column to each block; F or d_v otherwise), for a device allowing `wgBytes` of
 * workgroup storage (exported for the tests). `wide` (lever linearAttentionWide): as many a's per thread as cover
 * the row in one workgroup, within WIDE_STATE floats of private state. `fit` (lever linearAttentionFit): NA and AS
 * fitted to the row (fitThreads), as many workgroups and at most as many a's a thread.
 */
export function linearAttentionTiles(widthB: number, widthA: number, forward: boolean, wgBytes = 16384, wide = false, vec4 = false, fit = false): LinearAttentionTiles {
  const G = Math.min(32, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(widthB / MAX_STATE)))));
  const R = Math.ceil(widthB / G);
  const slots = forward ? widthA + 1 : widthA;
  const pow2NA = Math.max(2, Math.min(MAX_THREADS / G, pow2AtLeast(slots)));
  const pow2AS = wide ? Math.max(1, Math.min(Math.floor(WIDE_STATE / R), Math.ceil(slots / pow2NA))) : 1;
  const blocks = walkBlocks(widthA, pow2NA * pow2AS, forward);
  const share = forward ? Math.ceil(widthA / blocks) + 1 : Math.ceil(widthA / blocks);
  const { NA, AS } = fit ? fitThreads(share, G, MAX_THREADS / G, pow2AS) : { NA: pow2NA, AS: pow2AS };
  const NS = NA * AS;
  const BP = R * G;
  // vec4 (with several a's a thread): each thread's R entries contiguous, ⌈R/4⌉ vec4s rounded up to an odd count so that
  // neighbouring threads' vec4 reads fall in different banks
  const RV = vec4 && AS > 1 ? Math.ceil(R / 4) | 1 : 0;
  const BPS = RV ? 4 * RV * G : BP;
  const TC = Math.min(MAX_TC, Math.floor(Math.min(wgBytes, MAX_WORKGROUP_BYTES) / 4 / floatsPerStep(BPS, NS, G)));
  if (R > MAX_STATE || TC < 1) throw new Error(`${LINEAR_ATTENTION_KERNEL}: no tiling of width ${widthB} fits ${wgBytes} bytes of workgroup storage`);
  return { G, R, BP, NA, NT: NA * G, TC, AS, NS, RV };
}

let wideOn = false;

/** Lever linearAttentionWide: several a's per thread in the passes over F (fwd, dv). */
export function setLinearAttentionWide(on: boolean): void {
  wideOn = on;
}

let vec4On = false;

/** Lever linearAttentionVec4: with several a's a thread (linearAttentionWide), each thread's staged u, w entries contiguous, read as vec4s. */
export function setLinearAttentionVec4(on: boolean): void {
  vec4On = on;
}

let columnsOn = false;

/** Lever linearAttentionColumns: the dφq and dφk walks in the columns form (d_v + 1 ≤ COLUMNS_MAX_WIDTH). */
export function setLinearAttentionColumns(on: boolean): void {
  columnsOn = on;
}

let fitOn = false;

/** Lever linearAttentionFit: every walk's threads fitted to its row (the tiles' `fit`: fitThreads). */
export function setLinearAttentionFit(on: boolean): void {
  fitOn = on;
}

export interface LinearAttentionColumnsTiles {
  R: number;
  RP: number;
  NA: number;
  AS: number;
  NS: number;
  TC: number;
}

/**
 * The columns form's tiles (lever linearAttentionColumns): R = widthB state entries a thread (padded to RP, a multiple
 * of 4, in the staged rows), NA threads of AS a's each (NS = NA·AS a's a workgroup), TC steps a chunk; undefined past
 * COLUMNS_MAX_WIDTH (exported for the tests). With `fit` (lever linearAttentionFit) NA and AS are fitted to widthA
 * (fitThreads); without it NA is the power of two at or above widthA (at most MAX_THREADS).
 */
export function linearAttentionColumnsTiles(widthB: number, widthA: number, wgBytes = 16384, fit = false): LinearAttentionColumnsTiles | undefined {
  if (widthB > COLUMNS_MAX_WIDTH) return undefined;
  const R = widthB;
  const RP = 4 * Math.ceil(R / 4);
  const pow2NA = Math.max(2, Math.min(MAX_THREADS, pow2AtLeast(widthA)));
  const pow2AS = Math.max(1, Math.min(Math.floor(COLUMNS_STATE / RP), Math.ceil(widthA / pow2NA)));
  const share = Math.ceil(widthA / Math.ceil(widthA / (pow2NA * pow2AS)));
  const { NA, AS } = fit ? fitThreads(share, 1, MAX_THREADS, pow2AS) : { NA: pow2NA, AS: pow2AS };
  const NS = NA * AS;
  // per staged step: the u and w rows (RP each) and the x entries
  const TC = Math.min(MAX_TC, Math.floor(Math.min(wgBytes, MAX_WORKGROUP_BYTES) / 4 / (2 * RP + NS)));
  if (TC < 1) throw new Error(`${LINEAR_ATTENTION_KERNEL}: no columns tiling of ${widthA} a's fits ${wgBytes} bytes of workgroup storage`);
  return { R, RP, NA, AS, NS, TC };
}

/** Workgroups a head for widthA a's in NS slots each; the forward's blocks each end with the ones column (NS − 1 value columns a block). */
const walkBlocks = (widthA: number, NS: number, forward: boolean) => Math.ceil(widthA / (forward ? NS - 1 : NS));

/**
 * Lever linearAttentionFit: the fewest slots NA·AS ≥ `share` (a workgroup's a's, the power-of-two tiles' workgroup
 * count kept) with at most `maxAS` a's a thread — the power-of-two tiles' AS: no thread walks more — and NA ≤ `maxNA`
 * groups of G threads, NA·G in whole warps of 32 (a power of two below 32); on a tie the fewer a's a thread.
 */
function fitThreads(share: number, G: number, maxNA: number, maxAS: number): { NA: number; AS: number } {
  const perWarp = Math.max(1, 32 / G);
  let best: { NA: number; AS: number } | undefined;
  for (let AS = maxAS; AS >= 1; AS--) {
    const need = Math.ceil(share / AS);
    const NA = need * G < 32 ? Math.max(2, pow2AtLeast(need)) : perWarp * Math.ceil(need / perWarp);
    if (NA <= maxNA && (!best || NA * AS <= best.NA * best.AS)) best = { NA, AS };
  }
  if (!best) throw new Error(`${LINEAR_ATTENTION_KERNEL}: no fit of ${share} a's in ${maxNA} groups of ${maxAS}`);
  return best;
}

let wgBytesCap: number | undefined;

/** Tile as if the device allowed at most `bytes` of workgroup storage (the tests' way to reach small chunks); undefined: the device's limit. */
export function capLinearAttentionWorkgroupBytes(bytes: number | undefined): void {
  wgBytesCap = bytes;
}


const builtins = '@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32';

/** Per pass: its bindings, the widths (in WGSL), the time direction, the loads of u_b, w_b (b < widthB) and x (slot sl of the block starting at a0), the write of a finished sum. */
interface PassWgsl {
  bindings: Array<{ name: string; type: string; write?: boolean }>;
  widthB: string;
  widthA: string;
  reverse: boolean;
  u: string;
  w: string;
  x: string;
  write: string;
}

// c_b = [v, 1]_b (b ≤ d_v); g has d_v + 1 columns per row
const C_OF = (b: string) => `select(1.0f, v[row * params.dv + min(${b}, params.dv - 1u)], ${b} < params.dv)`;

const PASSES: Record<LinearAttentionPass, PassWgsl> = {
  // a: NS − 1 value columns j = a0 + sl, and the ones column in the last slot (its sum is den)
  fwd: {
    bindings: [{ name: 'q', type: 'f32' }, { name: 'k', type: 'f32' }, { name: 'v', type: 'f32' }, { name: 'y', type: 'f32', write: true }, { name: 'den', type: 'f32', write: true }],
    widthB: 'params.F',
    widthA: 'params.dv',
    reverse: false,
    u: 'k[row * params.F + b]',
    w: 'q[row * params.F + b]',
    x: `if (sl == NS - 1u) { xx = 1.0f; } else if (a0 + sl < params.dv) { xx = v[row * params.dv + a0 + sl]; }`,
    write: `
        let d = redSum(tc, NS - 1u);
        if (sl == NS - 1u) {
          if (blk == 0u) { den[row] = d; }
        } else if (a0 + sl < params.dv) {
          y[row * params.dv + a0 + sl] = redSum(tc, sl) / (d + params.eps);
        }`,
  },
  dq: {
    bindings: [{ name: 'k', type: 'f32' }, { name: 'v', type: 'f32' }, { name: 'g', type: 'f32' }, { name: 'out', type: 'f32', write: true }],
    widthB: 'params.dv + 1u',
    widthA: 'params.F',
    reverse: false,
    u: C_OF('b'),
    w: 'g[row * (params.dv + 1u) + b]',
    x: 'if (a0 + sl < params.F) { xx = k[row * params.F + a0 + sl]; }',
    write: 'if (a0 + sl < params.F) { out[row * params.F + a0 + sl] = redSum(tc, sl); }',
  },
  dk: {
    bindings: [{ name: 'q', type: 'f32' }, { name: 'v', type: 'f32' }, { name: 'g', type: 'f32' }, { name: 'out', type: 'f32', write: true }],
    widthB: 'params.dv + 1u',
    widthA: 'params.F',
    reverse: true,
    u: 'g[row * (params.dv + 1u) + b]',
    w: C_OF('b'),
    x: 'if (a0 + sl < params.F) { xx = q[row * params.F + a0 + sl]; }',
    write: 'if (a0 + sl < params.F) { out[row * params.F + a0 + sl] = redSum(tc, sl); }',
  },
  dv: {
    bindings: [{ name: 'q', type: 'f32' }, { name: 'k', type: 'f32' }, { name: 'g', type: 'f32' }, { name: 'out', type: 'f32', write: true }],
    widthB: 'params.F',
    widthA: 'params.dv',
    reverse: true,
    u: 'q[row * params.F + b]',
    w: 'k[row * params.F + b]',
    x: 'if (a0 + sl < params.dv) { xx = g[row * (params.dv + 1u) + a0 + sl]; }',
    write: 'if (a0 + sl < params.dv) { out[row * params.dv + a0 + sl] = redSum(tc, sl); }',
  },
};

const UNIFORMS = ['groups: u32', 'blocks: u32', 'T: u32', 'F: u32', 'dv: u32', 'eps: f32'];

/** A pass's time index of chunk step `s` (backward passes walk from T − 1 down). */
const timeOf = (p: PassWgsl) => (s: string) => (p.reverse ? `(T - 1u - ${s})` : s);

/** Both forms' staging of a chunk's x entries (TC·NS of them, `threads` at a time; zero past T). */
const stageX = (p: PassWgsl, threads: string) => `    for (var i = tid; i < TC * NS; i += ${threads}) {
      let s = ch * TC + i / NS;
      let sl = i % NS;
      var xx = 0.0f;
      if (s < T) {
        let row = bh * T + ${timeOf(p)('s')};
        ${p.x}
      }
      sx[i] = xx;
    }`;

/**
 * Both vec4 layouts' staging of a chunk's u, w rows: `perStep` vec4s a step, `threads` at a time; `place` (WGSL lines)
 * sets b0, the first b of vec4 i of its step, and `lane` a further condition on lane c (zero past it, widthB and T).
 */
const stageRowsVec4 = (p: PassWgsl, perStep: string, threads: string, place: string, lane = '') => `    for (var i = tid; i < TC * ${perStep}; i += ${threads}) {
      let s = ch * TC + i / ${perStep};
${place}
      var uu = vec4<f32>(0.0f);
      var ww = vec4<f32>(0.0f);
      if (s < T) {
        let row = bh * T + ${timeOf(p)('s')};
        for (var c = 0u; c < 4u; c++) {
          let b = b0 + c;
          if (${lane}b < widthB) {
            uu[c] = ${p.u};
            ww[c] = ${p.w};
          }
        }
      }
      su[i] = uu;
      sw[i] = ww;
    }`;

/** The vec4 layout of the passes over F (lever linearAttentionVec4): vec4 iv of a step holds thread iv / RV's entries r = 4·(iv % RV) + c, b = (iv / RV)·R + r (not named v: the forward binds v). */
const stageVec4 = (p: PassWgsl) =>
  stageRowsVec4(p, 'BPV', 'NT', `      let iv = i % BPV;
      let r0 = (iv % RV) * 4u;
      let b0 = (iv / RV) * R + r0;`, 'r0 + c < R && ');

/** AS·R private state entries as named scalars m<j>_<r> (a loop-indexed array may live in local memory). */
const namedState = (AS: number, R: number) => Array.from({ length: AS }, (_, j) => Array.from({ length: R }, (_, r) => `var m${j}_${r} = 0.0f;`).join(' ')).join(' ');

const walkWgsl = (pass: LinearAttentionPass, t: LinearAttentionTiles) => () => {
  const p = PASSES[pass];
  const { G, R, BP, NA, NT, TC, AS, NS } = t;
  const time = timeOf(p);
  // each thread's walk over a chunk: one a (slot), or AS a's (slots slot + NA·j) reading each staged u, w once — their
  // state as named scalars m<j>_<r>, the loops unrolled here (a private array indexed in a loop may live in local
  // memory: the delta rules' and the selective scan's register levers measured that)
  const js = Array.from({ length: AS }, (_, j) => j);
  const rs = Array.from({ length: R }, (_, r) => r);
  const { RV } = t;
  const component = ['x', 'y', 'z', 'w'];
  // lever linearAttentionVec4: thread gi's entries r are b = gi·R + r, staged as RV vec4s from gi·RV (lanes past R zero)
  const vecSteps = `
    for (var tc = 0u; tc < TC; tc++) {
${js.map((j) => `      let x${j} = sx[tc * NS + slot + ${NA * j}u];\n      var p${j} = 0.0f;`).join('\n')}
      let base = tc * BPV + gi * RV;
${Array.from({ length: Math.ceil(R / 4) }, (_, q) => `      { let u4 = su[base + ${q}u]; let w4 = sw[base + ${q}u];${[0, 1, 2, 3].filter((c) => 4 * q + c < R).flatMap((c) => js.map((j) => ` m${j}_${4 * q + c} += x${j} * u4.${component[c]}; p${j} += m${j}_${4 * q + c} * w4.${component[c]};`)).join('')} }`).join('\n')}
${js.map((j) => `      red[(tc * NS + slot + ${NA * j}u) * GP + gi] = p${j};`).join('\n')}
    }`;
  const steps = RV
    ? vecSteps
    : AS === 1
      ? `
    for (var tc = 0u; tc < TC; tc++) {
      let xa = sx[tc * NS + slot];
      var part = 0.0f;
      for (var r = 0u; r < R; r++) {
        let b = tc * BP + r * G + gi;
        let mr = m[r] + xa * su[b];
        m[r] = mr;
        part += mr * sw[b];
      }
      red[(tc * NS + slot) * GP + gi] = part;
    }`
      : `
    for (var tc = 0u; tc < TC; tc++) {
${js.map((j) => `      let x${j} = sx[tc * NS + slot + ${NA * j}u];\n      var p${j} = 0.0f;`).join('\n')}
      let base = tc * BP + gi;
${rs.map((r) => `      { let ub = su[base + ${r * G}u]; let wb = sw[base + ${r * G}u];${js.map((j) => ` m${j}_${r} += x${j} * ub; p${j} += m${j}_${r} * wb;`).join('')} }`).join('\n')}
${js.map((j) => `      red[(tc * NS + slot + ${NA * j}u) * GP + gi] = p${j};`).join('\n')}
    }`;
  const state = AS === 1 ? `var m: array<f32, ${R}>;` : namedState(AS, R);
  return `
${declare(p.bindings, UNIFORMS)}
const G = ${G}u;
const R = ${R}u;
const BP = ${BP}u;
const NA = ${NA}u;
const NT = ${NT}u;
const TC = ${TC}u;
const AS = ${AS}u;
const NS = ${NS}u;
const GP = ${G + 1}u;
${RV ? `const RV = ${RV}u;\nconst BPV = ${RV * G}u;\nvar<workgroup> su: array<vec4<f32>, ${TC * RV * G}>;\nvar<workgroup> sw: array<vec4<f32>, ${TC * RV * G}>;` : `var<workgroup> su: array<f32, ${TC * BP}>;\nvar<workgroup> sw: array<f32, ${TC * BP}>;`}
var<workgroup> sx: array<f32, ${TC * NS}>;
var<workgroup> red: array<f32, ${TC * NS * (G + 1)}>;

// out_t[a] of step tc, slot sl: the G threads' partial sums
fn redSum(tc: u32, sl: u32) -> f32 {
  let base = (tc * NS + sl) * GP;
  var acc = 0.0f;
  for (var i = 0u; i < G; i++) { acc += red[base + i]; }
  return acc;
}

@compute @workgroup_size(${NT})
fn main(${builtins}) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let T = params.T;
  let widthB = ${p.widthB};
  let bh = w / params.blocks;
  let blk = w % params.blocks;
  let a0 = blk * ${pass === 'fwd' ? '(NS - 1u)' : 'NS'};
  let slot = tid / G;
  let gi = tid % G;
  ${state}
  let chunks = (T + TC - 1u) / TC;
  for (var ch = 0u; ch < chunks; ch++) {
    // stage the chunk's u, w rows (zero past widthB and past T: the state stays as it is) and x entries
${RV ? stageVec4(p) : `    for (var i = tid; i < TC * BP; i += NT) {
      let s = ch * TC + i / BP;
      let b = i % BP;
      var uu = 0.0f;
      var ww = 0.0f;
      if (s < T && b < widthB) {
        let row = bh * T + ${time('s')};
        uu = ${p.u};
        ww = ${p.w};
      }
      su[i] = uu;
      sw[i] = ww;
    }`}
${stageX(p, 'NT')}
    workgroupBarrier();
    // each thread: its R entries of M[slot][·] (of each of its AS slots), updated then read against w, per step${steps}
    workgroupBarrier();
    // finish the sums over the G threads and write them (the next chunk's staging touches neither red nor what is read here)
    for (var i = tid; i < TC * NS; i += NT) {
      let tc = i / NS;
      let sl = i % NS;
      let s = ch * TC + tc;
      if (s < T) {
        let row = bh * T + ${time('s')};${p.write}
      }
    }
  }
}`;
};

/** A pass's WGSL for these tiles (the tests read its workgroup arrays back against the tile budget). */
export const linearAttentionWgsl = (pass: LinearAttentionPass, t: LinearAttentionTiles): string => walkWgsl(pass, t)();

// The columns form of the dφq and dφk walks (lever linearAttentionColumns): thread `slot` owns a's slot + NA·j, each
// with its whole row of R state entries (m<j>_<r>); the staged u, w rows are vec4s of RP/4 (zero past widthB and T).
const columnsWgsl = (pass: 'dq' | 'dk', t: LinearAttentionColumnsTiles) => () => {
  const p = PASSES[pass];
  const { R, RP, NA, AS, NS, TC } = t;
  const RP4 = RP / 4;
  const time = timeOf(p);
  const js = Array.from({ length: AS }, (_, j) => j);
  const qs = Array.from({ length: RP4 }, (_, q) => q);
  const lanes = (q: number) => [0, 1, 2, 3].filter((c) => 4 * q + c < R);
  const component = ['x', 'y', 'z', 'w'];
  return `
${declare(p.bindings, UNIFORMS)}
const NA = ${NA}u;
const NS = ${NS}u;
const TC = ${TC}u;
const RP4 = ${RP4}u;
var<workgroup> su: array<vec4<f32>, ${TC * RP4}>;
var<workgroup> sw: array<vec4<f32>, ${TC * RP4}>;
var<workgroup> sx: array<f32, ${TC * NS}>;

@compute @workgroup_size(${NA})
fn main(${builtins}) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let T = params.T;
  let widthB = ${p.widthB};
  let bh = w / params.blocks;
  let a0 = (w % params.blocks) * NS;
  let slot = tid;
  ${namedState(AS, R)}
  let chunks = (T + TC - 1u) / TC;
  for (var ch = 0u; ch < chunks; ch++) {
    // stage the chunk's u, w rows as vec4s (zero past widthB and past T) and x entries
${stageRowsVec4(p, 'RP4', 'NA', '      let b0 = (i % RP4) * 4u;')}
${stageX(p, 'NA')}
    workgroupBarrier();
    // each thread: its AS rows, updated then read against w, per step; the step's sums are this thread's alone
    for (var tc = 0u; tc < TC; tc++) {
${js.map((j) => `      let x${j} = sx[tc * NS + slot + ${NA * j}u];\n      var p${j} = 0.0f;`).join('\n')}
${qs.map((q) => `      { let u4 = su[tc * RP4 + ${q}u]; let w4 = sw[tc * RP4 + ${q}u];${js.flatMap((j) => lanes(q).map((c) => ` m${j}_${4 * q + c} += x${j} * u4.${component[c]}; p${j} += m${j}_${4 * q + c} * w4.${component[c]};`)).join('')} }`).join('\n')}
      let s = ch * TC + tc;
      if (s < T) {
        let row = bh * T + ${time('s')};
${js.map((j) => `        { let sl = slot + ${NA * j}u; ${p.write.replace('redSum(tc, sl)', `p${j}`)} }`).join('\n')}
      }
    }
    workgroupBarrier();
  }
}`;
};

/** The columns form's WGSL for these tiles (the tests read its workgroup arrays back against the tile budget). */
export const linearAttentionColumnsWgsl = (pass: 'dq' | 'dk', t: LinearAttentionColumnsTiles): string => columnsWgsl(pass, t)();

// g_t = [dy_t / e_t, −(dy_t·y_t) / e_t], e_t = den_t + eps: one thread per row
const gradInWgsl = () => `
${declare(
  [
    { name: 'dy', type: 'f32' },
    { name: 'y', type: 'f32' },
    { name: 'den', type: 'f32' },
    { name: 'g', type: 'f32', write: true },
  ],
  ['rows: u32', 'dv: u32', 'eps: f32'],
)}
@compute @workgroup_size(64)
fn main(${builtins}) {
  let row = (wg.y * nwg.x + wg.x) * 64u + tid;
  if (row >= params.rows) { return; }
  let dv = params.dv;
  let inv = 1.0f / (den[row] + params.eps);
  var dyy = 0.0f;
  for (var j = 0u; j < dv; j++) {
    let d = dy[row * dv + j];
    dyy += d * y[row * dv + j];
    g[row * (dv + 1u) + j] = d * inv;
  }
  g[row * (dv + 1u) + dv] = -dyy * inv;
}`;

export const LINEAR_ATTENTION_KERNEL = 'RecallbenchLinearAttention';
export const LINEAR_ATTENTION_GRAD_KERNEL = 'RecallbenchLinearAttentionGrad';

function sizes(q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo): { B: number; H: number; T: number; F: number; dv: number } {
  if (q.shape.length !== 4 || v.shape.length !== 4 || k.shape.join() !== q.shape.join() || v.shape.slice(0, 3).join() !== q.shape.slice(0, 3).join())
    throw new Error(`${LINEAR_ATTENTION_KERNEL}: expected φq, φk [B, H, T, F], v [B, H, T, d_v], got φq [${q.shape}] φk [${k.shape}] v [${v.shape}]`);
  const [B, H, T, F] = q.shape as [number, number, number, number];
  const dv = v.shape[3]!;
  if (F > LINEAR_ATTENTION_MAX_WIDTH || dv + 1 > LINEAR_ATTENTION_MAX_WIDTH) throw new Error(`${LINEAR_ATTENTION_KERNEL}: F ${F} or d_v + 1 ${dv + 1} > ${LINEAR_ATTENTION_MAX_WIDTH}`);
  return { B, H, T, F, dv };
}

const NAMES: Record<LinearAttentionPass, string> = { fwd: 'LinearAttention', dq: 'LinearAttentionGradQ', dk: 'LinearAttentionGradK', dv: 'LinearAttentionGradV' };

/** The tiles a walk of `pass` takes at F and d_v on this device with the levers as set (exported for the tests). */
export function linearAttentionWalkTiles(pass: LinearAttentionPass, F: number, dv: number): LinearAttentionTiles {
  const overF = pass === 'fwd' || pass === 'dv';
  return linearAttentionTiles(overF ? F : dv + 1, overF ? dv : F, pass === 'fwd', workgroupStorageBytes(wgBytesCap), wideOn && overF, vec4On && overF, fitOn);
}

/** The columns form's tiles a walk of `pass` takes at F and d_v with the levers as set; undefined: the walk above (exported for the tests). */
export function linearAttentionColumnsWalkTiles(pass: LinearAttentionPass, F: number, dv: number): LinearAttentionColumnsTiles | undefined {
  if (!columnsOn || (pass !== 'dq' && pass !== 'dk')) return undefined;
  return linearAttentionColumnsTiles(dv + 1, F, workgroupStorageBytes(wgBytesCap), fitOn);
}

/** Record one walk of `pass` over the B·H sequences. */
function walk(pass: LinearAttentionPass, bindings: Array<{ tensor: tf.TensorInfo; write?: boolean }>, BH: number, T: number, F: number, dv: number, eps: number): void {
  const columns = linearAttentionColumnsWalkTiles(pass, F, dv);
  if (columns && (pass === 'dq' || pass === 'dk')) {
    const blocks = Math.ceil(F / columns.NS);
    const groups = BH * blocks;
    const key = `rb_linattn_${pass}_cols_r${columns.R}_a${columns.NA}_s${columns.AS}_t${columns.TC}`;
    dispatch(NAMES[pass], key, columnsWgsl(pass, columns), bindings, [{ u: groups }, { u: blocks }, { u: T }, { u: F }, { u: dv }, { f: eps }], grid(groups));
    return;
  }
  const widthA = pass === 'fwd' || pass === 'dv' ? dv : F;
  const t = linearAttentionWalkTiles(pass, F, dv);
  const blocks = walkBlocks(widthA, t.NS, pass === 'fwd');
  const groups = BH * blocks;
  dispatch(NAMES[pass], `rb_linattn_${pass}_g${t.G}_r${t.R}_a${t.NA}_t${t.TC}${t.AS > 1 ? `_s${t.AS}` : ''}${t.RV ? `_v${t.RV}` : ''}`, walkWgsl(pass, t), bindings, [{ u: groups }, { u: blocks }, { u: T }, { u: F }, { u: dv }, { f: eps }], grid(groups));
}

const epsOf = (attrs: unknown) => (attrs as { eps: number }).eps;

let registered = false;

export function registerLinearAttentionWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: LINEAR_ATTENTION_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v } = inputs as Record<string, tf.TensorInfo>;
      const { B, H, T, F, dv } = sizes(q!, k!, v!);
      const backend = webgpuBackend();
      const y = allocate(backend, v!.shape);
      const den = allocate(backend, [B, H, T]);
      walk('fwd', [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: y, write: true }, { tensor: den, write: true }], B * H, T, F, dv, epsOf(attrs));
      return [y, den];
    },
  });
  tf.registerKernel({
    kernelName: LINEAR_ATTENTION_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v, dy, y, den } = inputs as Record<string, tf.TensorInfo>;
      const { B, H, T, F, dv } = sizes(q!, k!, v!);
      const eps = epsOf(attrs);
      const backend = webgpuBackend();
      const rows = B * H * T;
      const g = allocate(backend, [rows, dv + 1]);
      dispatch('LinearAttentionGradIn', 'rb_linattn_g', gradInWgsl, [{ tensor: dy! }, { tensor: y! }, { tensor: den! }, { tensor: g, write: true }], [{ u: rows }, { u: dv }, { f: eps }], grid(Math.ceil(rows / 64)));
      const dq = allocate(backend, q!.shape);
      const dk = allocate(backend, q!.shape);
      const dV = allocate(backend, v!.shape);
      walk('dq', [{ tensor: k! }, { tensor: v! }, { tensor: g }, { tensor: dq, write: true }], B * H, T, F, dv, eps);
      walk('dk', [{ tensor: q! }, { tensor: v! }, { tensor: g }, { tensor: dk, write: true }], B * H, T, F, dv, eps);
      walk('dv', [{ tensor: q! }, { tensor: k! }, { tensor: g }, { tensor: dV, write: true }], B * H, T, F, dv, eps);
      release(g);
      return [dq, dk, dV];
    },
  });
}

const attrs = (eps: number) => ({ eps }) as unknown as tf.NamedAttrMap;

const withGrad = (eps: number) =>
  tf.customGrad(((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, den] = tf.engine().runKernel(LINEAR_ATTENTION_KERNEL, { q, k, v }, attrs(eps)) as unknown as [tf.Tensor, tf.Tensor];
    save([q, k, v, y!, den!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sy, sden] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(LINEAR_ATTENTION_GRAD_KERNEL, { q: sq, k: sk, v: sv, dy, y: sy, den: sden }, attrs(eps)) as unknown as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor;

/** One customGrad per eps (the default and Scatterbrain's). */
const withGradFor = madeOnce(withGrad);

/**
 * Most batch·head walks for which shared keys take the fused form. Measured on an H200 (bench/RESULTS.md "JRT-RNN's
 * prefix through the fused kernel"; JRT-RNN d 128, L 256, one head): at B·H 64 the step is host-bound and the fused
 * walk faster (12.4 / 11.7 vs 15.9 / 18.8 ms), at 256 GPU-bound and the chunked form faster (22.1 / 22.5 vs 30.2 /
 * 28.2 ms); between the two nothing was measured, so only what was measured faster takes the walk.
 */
export const SHARED_KEYS_MAX_WALKS = 64;

/**
 * Lever linearAttentionChunkedWide: wide feature rows on many walks go to the op's chunked form (declined here).
 * Without shared keys the walk was never timed against the chunked form where the GPU is full; with them (F 273) it
 * lost at 256 batch·head rows (22.1 / 22.5 against 30.2 / 28.2 ms, above), and jrt-sd's f 24 (F 325) trains 768 rows a
 * process (B128 × 2 heads × stacks of 3), 8 processes a GPU, its four walks ~11 of a step's ~20 GPU ms (bench/RESULTS.md
 * "linearAttentionFit stays off"): the chunked form's matmuls over C = 64 chunks may do the same sums sooner. Both
 * bounds are the only measured case's. Timed there on an H200 (2026-12-03): far slower — 31.0 against the walk's 19.2 ms
 * a step, 8 processes 77–80 against 138–142 run-steps a second —, so it stays off (OFF_BY_DEFAULT says why).
 */
export const CHUNKED_WIDE_MIN_F = 256;
export const CHUNKED_WIDE_MIN_WALKS = 256;
let chunkedWideOn = false;
/** Lever linearAttentionChunkedWide (read when the op runs). */
export function setLinearAttentionChunkedWide(on: boolean): void {
  chunkedWideOn = on;
}

/**
 * Causal linear attention, fused (the fast form of ops/linearAttention's causalLinearAttention): φq, φk [B, H, T, F],
 * v [B, H, T, d_v] → y [B, H, T, d_v]. Undefined (declined: the op runs its chunked form) with an initial state, or
 * past LINEAR_ATTENTION_MAX_WIDTH (F, or d_v + 1). chunkSize is the chunked form's; a pairScore is φq·φk, read here
 * from φq, φk themselves.
 *
 * Shared keys (JRT-RNN's prefix encoder: M keys and values every position sees) run as the same causal walk over the
 * M shared tokens followed by the T tokens — position M + t of that sequence sees all M shared tokens and tokens ≤ t,
 * which is exactly y_t's sums — with zero queries at the shared positions, whose outputs are dropped (their gradient
 * is zero). The gradients of the shared keys and values flow back through the concatenation. Only up to
 * SHARED_KEYS_MAX_WALKS batch·head rows (declined past it).
 */
export function causalLinearAttentionWebGpu(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions = {}): tf.Tensor4D | undefined {
  if (opts.initial) return undefined;
  if (opts.shared) {
    const { shared, ...rest } = opts;
    const M = shared.phiK.shape[2];
    const [B, H, T] = phiQ.shape;
    // the shared positions' zero queries have den 0: their (dropped) rows divide by eps, so eps must be > 0
    if (B * H > SHARED_KEYS_MAX_WALKS || !((opts.eps ?? LINEAR_ATTENTION_EPS) > 0)) return undefined;
    return tf.tidy(() => {
      // the zero queries by a pad on the device: tf.zeros would build and upload a [B, H, M, F] array every step
      // (6 % of JRT-RNN's host time at B64, bench/RESULTS.md 2026-11-30 late), and the pad's gradient is one slice
      const q = tf.pad(phiQ, [[0, 0], [0, 0], [M, 0], [0, 0]]) as tf.Tensor4D;
      const k = tf.concat([shared.phiK, phiK], 2) as tf.Tensor4D;
      const values = tf.concat([shared.v, v], 2) as tf.Tensor4D;
      const y = causalLinearAttentionWebGpu(q, k, values, { ...rest, pairScore: undefined });
      return y?.slice([0, 0, M, 0], [B, H, T, v.shape[3]]);
    });
  }
  const F = phiQ.shape[3];
  const dv = v.shape[3];
  if (F > LINEAR_ATTENTION_MAX_WIDTH || dv + 1 > LINEAR_ATTENTION_MAX_WIDTH) return undefined;
  if (chunkedWideOn && F >= CHUNKED_WIDE_MIN_F && phiQ.shape[0] * phiQ.shape[1] >= CHUNKED_WIDE_MIN_WALKS) return undefined;
  const eps = opts.eps ?? LINEAR_ATTENTION_EPS;
  return withGradFor(eps)(phiQ, phiK, v) as tf.Tensor4D;
}
