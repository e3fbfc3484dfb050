// Fused generalized delta rule (WebGPU), forward and backward, with its own gradient: the fast form of
// ops/generalizedDeltaRule (RWKV-7). Per head, state S [d_k, d_v] (S_{−1} = 0), the recurrence of
// ops/generalizedDeltaRule/step.ts:
//
//   forward   u_t = (S_{t−1}ᵀ a_t)_j,   S_t = diag(e^{w_t}) S_{t−1} + k_t v_tᵀ + b_t u_tᵀ,   o_t = S_tᵀ r_t
//
// Each column j of S (one value channel) evolves on its own given r, w, k, a, b — the lane structure of the delta
// rule's kernel (deltaRule.ts), with a decay vector e^{w_t} instead of a scalar and separate a, b instead of −βk, k:
// one thread per (batch·head, column) holds its column (d_k floats, a private array of CAP ≥ d_k baked into the
// pipeline key) and walks time; u_t and o_t are reductions over d_k inside the thread. One dispatch forward. No
// [C, C, d_k] pairwise tensor of the chunked form (chunk.ts) exists anywhere.
//
// Backward, per column, reverse time, with dS carried the same way (dS_T = 0; S_{t−1} recomputed, see below):
//   dS_t += r_t do_t;   du = b_tᵀ dS_t;   dv_t = k_tᵀ dS_t
//   dr_t = S_t do_t;   dw_t = e^{w_t} ⊙ S_{t−1} ⊙ dS_t;   dk_t = dS_t v_t;   da_t = S_{t−1} du;   db_t = dS_t u_t
//   dS_{t−1} = e^{w_t} ⊙ dS_t + a_t du
// dv is per column; dr, dw, dk, da, db (d_k each) are sums over the columns: the threads of one workgroup are COLS
// columns of one head and sum them through a workgroup tile of d_k × COLS floats, one of the five terms at a time
// (five rounds of two barriers per step; a tile of all 5·d_k terms at once, as deltaRule.ts does with its 2·d_k + 2,
// would leave room for only COLS = 8 columns at d_k 64, and the 8 column blocks' partials would be 8 × the size of
// the gradients). A head wider than COLS columns leaves one partial per column block, summed by tfjs (sumOfSlices).
// S_{t−1} is recomputed, not stored: the forward keeps a checkpoint of S every C = ⌈√T⌉ steps and the backward,
// chunk by chunk from the end, replays the chunk forward from its checkpoint into a scratch buffer (C states per
// column) and walks it back — deltaRule.ts's scheme and reasons (inverting the step would divide by a vanishing
// e^{w} under strong decay).
//
// Bindings: WebGPU allows 8 storage buffers per stage, and the backward would need 10 with r, w, k, a, b apart, so
// they travel as one stacked input x = [r; w; k; a; b] [5, B, H, T, d_k] (stacked inside the customGrad and saved
// for the backward); the backward's partials come out in the same [5, ·] layout and are unstacked. Every shape is a uniform;
// the key names only CAP and COLS (the register form's: d_k, below). Reference: generalizedDeltaRuleNaive.
//
// Lever `stridedHeads` (heads.ts): the inputs read and the output written in the layouts the caller names — RWKV-7
// hands over its projections as they come, [B, T, H, ·], and takes o heads first, [H, B, T, d_v], for its GroupNorm —
// instead of transposed to and from [B, H, T, ·] around the kernels.
//
// Lever `deltaRegisters` (d_k ≤ DELTA_REGISTERS_MAX_DK, as deltaRule.ts): the same kernels with d_k a constant of the
// shader and the loops over the column unrolled into named scalars (s0…, ds0…, sp0…), so the column lives in
// registers, not per-thread local memory; same arithmetic, same order, the same five rounds of column sums.
//
// Lever `deltaSplit` (d_k ≤ DELTA_SPLIT_MAX_DK; before deltaRegisters): each column's channels split over P threads,
// P times the threads of the forms above, the same checkpoints and gradient buffer (see "Lever deltaSplit" below).
import * as tf from '@tensorflow/tfjs';
import { allocate, checkpointInterval, checkpointShape, checkpointStore, chunkReplay, columnGradsSize, declare, dispatch, fitsDevice, grid, pow2AtLeast, release, splitColumnGrads, swizzleFn, swizzleKey, unrolled, webgpuBackend } from './dispatch.js';
import { deltaRuleForm } from './deltaRule.js';
import { headDims, headShape, OPS_LAYOUT, type HeadLayout, type HeadLayouts } from '../../ops/shared/heads.js';
import { inLayouts, layoutAttrs, layoutKey, layoutsOf, layoutUniforms, layoutValues, outRow, perLayouts, rowOf } from './heads.js';

export const GENERALIZED_DELTA_KERNEL = 'RecallbenchGeneralizedDeltaRule';
export const GENERALIZED_DELTA_GRAD_KERNEL = 'RecallbenchGeneralizedDeltaRuleGrad';

const WG = 64;
/** Floats of workgroup memory the backward's tile may use (WebGPU's guaranteed 16 KiB). */
const TILE_FLOATS = 4096;
/**
 * Largest d_k handled; beyond it the op runs its reference. The backward holds two private arrays of CAP floats
 * (ds, sp), and WGSL caps a function's function-address-space variables at 8192 bytes: CAP 1024 would need 8 KiB
 * for those two alone — a Dawn that enforces the limit would reject the pipeline — so 512.
 */
export const GENERALIZED_DELTA_MAX_DK = 512;
/** Planes of the stacked input x and of the backward's partials: r, w, k, a, b. */
const PLANES = 5;

/** Private column capacity and backward columns per workgroup for d_k (exported for the tests). */
export function tiling(dk: number): { CAP: number; COLS: number } {
  const CAP = pow2AtLeast(dk);
  const COLS = Math.min(64, TILE_FLOATS / CAP);
  return { CAP, COLS };
}

// plane p of x at row `row`, channel i: x[p·N + row·d_k + i], N = rows·d_k
const plane = (p: number, at: string) => `x[${p}u * params.rows * params.dk + ${at}]`;
const R = (at: string) => plane(0, at);
const W = (at: string) => plane(1, at);
const K = (at: string) => plane(2, at);
const A = (at: string) => plane(3, at);
const Bx = (at: string) => plane(4, at);

/** One step of the recurrence on the private column `col` (reads row `row`'s inputs, value vj): leaves S_t in col. */
const step = (col: string) => `
        var u = 0.0f;
        for (var i = 0u; i < dk; i++) { u += ${A('kb + i')} * ${col}[i]; }
        for (var i = 0u; i < dk; i++) { ${col}[i] = exp(${W('kb + i')}) * ${col}[i] + ${K('kb + i')} * vj + ${Bx('kb + i')} * u; }`;

/** The forward kernels' bindings: x, v in; o, the checkpoints out; the shapes as uniforms (`more`: a form's own). */
const forwardBindings = (L: HeadLayouts, more: string[] = []) =>
  declare(
    [
      { name: 'x', type: 'f32' },
      { name: 'v', type: 'f32' },
      { name: 'o', type: 'f32', write: true },
      { name: 'ckpt', type: 'f32', write: true },
    ],
    ['lanes: u32', 'rows: u32', 'T: u32', 'dk: u32', 'dv: u32', 'C: u32', ...more, ...layoutUniforms(L)],
  );
/** The backward kernels' bindings: x, v, dO, the checkpoints in; the gradients and the replay's scratch out. */
const backwardBindings = (L: HeadLayouts) =>
  declare(
    [
      { name: 'x', type: 'f32' },
      { name: 'v', type: 'f32' },
      { name: 'dO', type: 'f32' },
      { name: 'ckpt', type: 'f32' },
      { name: 'grads', type: 'f32', write: true },
      { name: 'scratch', type: 'f32', write: true },
    ],
    ['lanes: u32', 'rows: u32', 'T: u32', 'dk: u32', 'dv: u32', 'C: u32', 'blocks: u32', 'groups: u32', ...layoutUniforms(L)],
  );

const forwardWgsl = (CAP: number, L: HeadLayouts) => () => `
${forwardBindings(L)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let dk = params.dk;
  let bh = lane / params.dv;
  let j = lane % params.dv;
  var s: array<f32, ${CAP}>;  // column j of S (zero-initialised)
  for (var t = 0u; t < params.T; t++) {
${checkpointStore({ state: 's', rows: 'dk' })}
    let row = ${rowOf(L.input, 'bh', 't')};
    let kb = row * dk;
    let vj = v[row * params.dv + j];
    ${step('s')}
    var out = 0.0f;
    for (var i = 0u; i < dk; i++) { out += ${R('kb + i')} * s[i]; }
    o[${outRow(L)} * params.dv + j] = out;
  }
}`;

/**
 * The five per-channel terms of a channel summed over columns, in the planes' order (spi = S_{t−1,i}, dsi = dS_t,i),
 * `at(p)` reading plane p of x at that channel.
 */
const termsOf = (at: (plane: number) => string) => [
  `(exp(${at(1)}) * spi + ${at(2)} * vj + ${at(4)} * u) * dout`, // dr = S_t do
  `exp(${at(1)}) * spi * dsi`, // dw
  'dsi * vj', // dk
  'spi * du', // da
  'dsi * u', // db
];
/** termsOf channel `i` of the row at kb. */
const termsAt = (i: string) => termsOf((p) => plane(p, `kb + ${i}`));
const TERMS = termsAt('i');

// grads = [dv (rows·d_v) ; partials (blocks, 5, rows, d_k): dr, dw, dk, da, db]
const backwardWgsl = (CAP: number, COLS: number, L: HeadLayouts) => () => `
${backwardBindings(L)}
var<workgroup> red: array<f32, ${CAP * COLS}>;
${swizzleFn('redAt', COLS)}
@compute @workgroup_size(${COLS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let dk = params.dk;
  let bh = w / params.blocks;
  let blk = w % params.blocks;
  let j = blk * ${COLS}u + tid;
  let valid = j < params.dv;
  let lane = bh * params.dv + j;
  let partBase = params.rows * params.dv + blk * ${PLANES}u * params.rows * dk;
  var ds: array<f32, ${CAP}>;  // dL/dS_t, column j
  var sp: array<f32, ${CAP}>;  // S_{t−1}, column j
${chunkReplay({ state: 'sp', rows: 'dk' })}
        let row = ${rowOf(L.input, 'bh', 't')};
        let kb = row * dk;
        let vj = v[row * params.dv + j];
        ${step('sp')}
      }
    }
    for (var tt = t1; tt > t0; tt--) {
      let t = tt - 1u;
      let row = ${rowOf(L.input, 'bh', 't')};
      let kb = row * dk;
      var u = 0.0f;
      var du = 0.0f;
      var vj = 0.0f;
      var dout = 0.0f;
      if (valid) {
        let sb = (t - t0) * dk;
        vj = v[row * params.dv + j];
        dout = dO[${outRow(L)} * params.dv + j];
        var dvj = 0.0f;
        for (var i = 0u; i < dk; i++) {
          let spi = scratch[(sb + i) * params.lanes + lane];
          sp[i] = spi;
          u += ${A('kb + i')} * spi;
          let dsi = ds[i] + ${R('kb + i')} * dout;
          ds[i] = dsi;
          du += ${Bx('kb + i')} * dsi;
          dvj += ${K('kb + i')} * dsi;
        }
        grads[row * params.dv + j] = dvj;
      }
${TERMS.map(
  (term, p) => `      // ${['dr', 'dw', 'dk', 'da', 'db'][p]}: summed over the block's columns
      for (var i = 0u; i < dk; i++) {
        var term = 0.0f;
        if (valid) {
          let spi = sp[i];
          let dsi = ds[i];
          term = ${term};
        }
        red[redAt(i, tid)] = term;
      }
      workgroupBarrier();
      for (var i = tid; i < dk; i += ${COLS}u) {
        var acc = 0.0f;
        for (var y = 0u; y < ${COLS}u; y++) { acc += red[redAt(i, y)]; }
        grads[partBase + (${p}u * params.rows + row) * dk + i] = acc;
      }
      workgroupBarrier();`,
).join('\n')}
      if (valid) {
        for (var i = 0u; i < dk; i++) { ds[i] = exp(${W('kb + i')}) * ds[i] + ${A('kb + i')} * du; }
      }
    }
  }
}`;

/** One step of the recurrence on the column held in scalars `${col}0…` (reads row `row`'s inputs, value vj). */
const stepRegisters = (col: string, DK: number, indent: string) => `${indent}var u = 0.0f;
${unrolled(DK, (i) => `u += ${A(`kb + ${i}u`)} * ${col}${i};`, indent)}
${unrolled(DK, (i) => `${col}${i} = exp(${W(`kb + ${i}u`)}) * ${col}${i} + ${K(`kb + ${i}u`)} * vj + ${Bx(`kb + ${i}u`)} * u;`, indent)}`;

// The forward of the register form (lever deltaRegisters): forwardWgsl with d_k constant, the column as s0….
const forwardRegistersWgsl = (DK: number, L: HeadLayouts) => () => `
${forwardBindings(L)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let bh = lane / params.dv;
  let j = lane % params.dv;
${unrolled(DK, (i) => `var s${i} = 0.0f;`, '  ')}
  for (var t = 0u; t < params.T; t++) {
${checkpointStore({ state: 's', rows: DK })}
    let row = ${rowOf(L.input, 'bh', 't')};
    let kb = row * ${DK}u;
    let vj = v[row * params.dv + j];
${stepRegisters('s', DK, '    ')}
    var out = 0.0f;
${unrolled(DK, (i) => `out += ${R(`kb + ${i}u`)} * s${i};`, '    ')}
    o[${outRow(L)} * params.dv + j] = out;
  }
}`;

// The backward of the register form: backwardWgsl with d_k constant and ds, sp as scalars; the replay's scratch and
// the five rounds of column sums as there.
const backwardRegistersWgsl = (DK: number, COLS: number, L: HeadLayouts) => () => `
${backwardBindings(L)}
var<workgroup> red: array<f32, ${DK * COLS}>;
${swizzleFn('redAt', COLS)}
@compute @workgroup_size(${COLS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let bh = w / params.blocks;
  let blk = w % params.blocks;
  let j = blk * ${COLS}u + tid;
  let valid = j < params.dv;
  let lane = bh * params.dv + j;
  let partBase = params.rows * params.dv + blk * ${PLANES}u * params.rows * ${DK}u;
${unrolled(DK, (i) => `var ds${i} = 0.0f; var sp${i} = 0.0f;`, '  ')}
${chunkReplay({ state: 'sp', rows: DK })}
        let row = ${rowOf(L.input, 'bh', 't')};
        let kb = row * ${DK}u;
        let vj = v[row * params.dv + j];
${stepRegisters('sp', DK, '        ')}
      }
    }
    for (var tt = t1; tt > t0; tt--) {
      let t = tt - 1u;
      let row = ${rowOf(L.input, 'bh', 't')};
      let kb = row * ${DK}u;
      var u = 0.0f;
      var du = 0.0f;
      var vj = 0.0f;
      var dout = 0.0f;
      if (valid) {
        let sb = (t - t0) * ${DK}u;
        vj = v[row * params.dv + j];
        dout = dO[${outRow(L)} * params.dv + j];
        var dvj = 0.0f;
${unrolled(DK, (i) => `{
          let spi = scratch[(sb + ${i}u) * params.lanes + lane];
          sp${i} = spi;
          u += ${A(`kb + ${i}u`)} * spi;
          let dsi = ds${i} + ${R(`kb + ${i}u`)} * dout;
          ds${i} = dsi;
          du += ${Bx(`kb + ${i}u`)} * dsi;
          dvj += ${K(`kb + ${i}u`)} * dsi;
        }`, '        ')}
        grads[row * params.dv + j] = dvj;
      }
${[0, 1, 2, 3, 4].map(
  (p) => `      // ${['dr', 'dw', 'dk', 'da', 'db'][p]}: summed over the block's columns
${unrolled(DK, (i) => `{
        var term = 0.0f;
        if (valid) {
          let spi = sp${i};
          let dsi = ds${i};
          term = ${termsAt(`${i}u`)[p]};
        }
        red[redAt(${i}u, tid)] = term;
      }`, '      ')}
      workgroupBarrier();
      for (var i = tid; i < ${DK}u; i += ${COLS}u) {
        var acc = 0.0f;
        for (var y = 0u; y < ${COLS}u; y++) { acc += red[redAt(i, y)]; }
        grads[partBase + (${p}u * params.rows + row) * ${DK}u + i] = acc;
      }
      workgroupBarrier();`,
).join('\n')}
      if (valid) {
${unrolled(DK, (i) => `ds${i} = exp(${W(`kb + ${i}u`)}) * ds${i} + ${A(`kb + ${i}u`)} * du;`, '        ')}
      }
    }
  }
}`;

// ---- Lever `deltaSplit`: a column's d_k channels split over P threads ----
//
// The forms above run one thread per (batch·head, column): at RWKV-7 d 128 B64 (2 heads of d_k = d_v = 64) that is
// 8,192 threads for a 132-SM GPU, each walking T steps in series — latency-bound. The split forms give each column P
// threads ("parts"), each holding CH = CAP / P of its channels as named scalars (d_k a shader constant, as the
// register form), channel i = c·P + part (c < CH: a warp's parts read adjacent channels; CAP = pow2AtLeast(d_k), the
// channels ≥ d_k padding whose inputs read 0, so their state stays 0 and adds nothing). A workgroup is COLS columns
// of one head × P parts. The reductions over d_k become a partial per part, summed over the P parts through
// workgroup memory in part order (no subgroups: lavapipe and Dawn here may lack them).
//   Forward: per step one barrier. The partials of u_t and of o_{t−1} (the readout of S_{t−1}, the state u_t reads)
//   sit in one of two halves by t's parity, so the next step's writes never meet this step's reads; part 0 of each
//   column writes o_{t−1} after the barrier of step t (o_{T−1} after one barrier past the loop). CH ≤ 8.
//   Backward: COLS = tiling(d_k).COLS, as the loop form, so the one grads buffer (dv, then the column blocks'
//   partials) keeps its layout and size (gradsSize, splitGrads and runners/memory.ts's probe unchanged), and
//   P = min(256 / COLS, CAP / 4) (CH = 16 at d_k ≥ 64). The replay: one barrier a step (u's partials by parity);
//   the reverse walk: one barrier for the partials of u = a·S_{t−1}, du = b·dS_t, dv_j = k·dS_t, one before the
//   column-sum tile (the same workgroup memory: 16 KiB is all of it at d_k ≥ 64) overwrites them, and the five rounds
//   of two barriers of the loop form, each part writing its CH rows of the d_k × COLS tile: 12 a step.
// The checkpoints ([chunks, d_k, lanes]) and the scratch keep the loop form's layout, so either backward reads either
// forward's checkpoints. Reference: generalizedDeltaRuleNaive (tests/webgpu-generalizedDeltaRule.test.ts).

/**
 * Largest d_k of the split forms (lever deltaSplit); beyond it the forms above run. 64: RWKV-7's head in every preset,
 * and the largest d_k the tests compile on lavapipe (each d_k is a pipeline of its own, its cold compile the cost).
 */
export const DELTA_SPLIT_MAX_DK = 64;
/** Threads of a split forward workgroup, channels a forward part at most; a split backward workgroup's threads at most (WebGPU's guaranteed 256). */
const SPLIT_FORWARD_THREADS = 128;
const SPLIT_FORWARD_CHANNELS = 8;
const SPLIT_BACKWARD_THREADS = 256;

export interface SplitShape {
  /** Parts a column. */
  P: number;
  /** Channels a part (P · CH = CAP ≥ d_k). */
  CH: number;
  /** Columns a workgroup. */
  COLS: number;
}

/** The split forms' shapes for d_k (exported for the tests). */
export function splitTiling(dk: number): { forward: SplitShape; backward: SplitShape } {
  const { CAP, COLS } = tiling(dk);
  const Pf = Math.max(1, CAP / SPLIT_FORWARD_CHANNELS);
  const Pb = Math.min(SPLIT_BACKWARD_THREADS / COLS, Math.max(1, CAP / 4));
  return { forward: { P: Pf, CH: CAP / Pf, COLS: SPLIT_FORWARD_THREADS / Pf }, backward: { P: Pb, CH: CAP / Pb, COLS } };
}

/** `let i0 = 0u · P + part; …`: the thread's channels. */
const splitChannels = (S: SplitShape, indent: string) => unrolled(S.CH, (c) => `let i${c} = ${c * S.P}u + part;`, indent);

/** Plane p of x at channel c of the thread (0 for a padding channel ≥ d_k). */
const splitRead = (DK: number, S: SplitShape) => (p: number, c: number) => (S.P * S.CH > DK ? `xm(${p}u, kb + i${c}, i${c})` : plane(p, `kb + i${c}`));

/** WGSL `fn xm`: x read as splitRead's padded form does. */
const splitReadFn = (DK: number, S: SplitShape) => (S.P * S.CH > DK ? `fn xm(p: u32, at: u32, i: u32) -> f32 { if (i < ${DK}u) { return x[p * params.rows * params.dk + at]; } return 0.0f; }` : '');

/** `if (guard) { body }` with `i_c < d_k` added where channel c may be padding (the body alone when nothing is left to test). */
function channelGuard(DK: number, S: SplitShape, c: number, guard: string | undefined, body: string): string {
  const tests = [...(guard ? [guard] : []), ...(c * S.P + S.P - 1 >= DK ? [`i${c} < ${DK}u`] : [])];
  return tests.length ? `if (${tests.join(' && ')}) { ${body} }` : body;
}

/** The row (and o's row) of step `t` named `tv` into a variable `rv`. */
const outRowAt = (L: HeadLayouts, rv: string, tv: string) => (L.output === L.input ? rv : `(${rowOf(L.output, 'bh', tv)})`);

/** The first lines of a split kernel's main: its head, column block, column j and part. */
const splitHead = (S: SplitShape) => `  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let bh = w / params.blocks;
  let blk = w % params.blocks;
  let cl = tid / ${S.P}u;
  let part = tid % ${S.P}u;
  let col0 = cl * ${S.P}u;  // the column's partials: col0 … col0 + P − 1
  let j = blk * ${S.COLS}u + cl;
  let valid = j < params.dv;  // an idle column (past d_v) still passes every barrier
  let lane = bh * params.dv + j;`;

/**
 * The split forms' step of the recurrence on the channels held in `${col}0…` (as step() for the loop form), first
 * half: row t's value vj and this part's partial of u_t = aᵀS_{t−1}, stored in the half of red that t's parity picks
 * (halves of `half` floats); a barrier must follow before splitStepUpdate.
 */
const splitStepPartials = (DK: number, S: SplitShape, L: HeadLayouts, col: string, half: number, I: string) => {
  const rd = splitRead(DK, S);
  return `${I}let row = ${rowOf(L.input, 'bh', 't')};
${I}let kb = row * ${DK}u;
${I}var vj = 0.0f;
${I}if (valid) { vj = v[row * params.dv + j]; }
${I}var pu = 0.0f;
${unrolled(S.CH, (c) => `pu += ${rd(3, c)} * ${col}${c};`, I)}
${I}let h = (t & 1u) * ${half}u;
${I}red[h + tid] = pu;`;
};
/** Second half: u_t summed over the column's P partials, then S_t = diag(e^{w}) S_{t−1} + k vjᵀ + b u on the channels. */
const splitStepUpdate = (DK: number, S: SplitShape, col: string, I: string) => {
  const rd = splitRead(DK, S);
  return `${I}var u = 0.0f;
${I}for (var q = 0u; q < ${S.P}u; q++) { u += red[h + col0 + q]; }
${unrolled(S.CH, (c) => `${col}${c} = exp(${rd(1, c)}) * ${col}${c} + ${rd(2, c)} * vj + ${rd(4, c)} * u;`, I)}`;
};

// The split forward (lever deltaSplit): red holds two halves by t's parity, each [u partials | o partials].
const forwardSplitWgsl = (DK: number, S: SplitShape, L: HeadLayouts) => () => {
  const NT = S.P * S.COLS;
  const rd = splitRead(DK, S);
  // part 0 of a valid column: o at step tp from the o partials in the half at offset h
  const writeOut = (h: string, indent: string) => [
    `let rowp = ${rowOf(L.input, 'bh', 'tp')};`,
    'var out = 0.0f;',
    `for (var q = 0u; q < ${S.P}u; q++) { out += red[${h} + ${NT}u + col0 + q]; }`,
    `o[${outRowAt(L, 'rowp', 'tp')} * params.dv + j] = out;`,
  ].map((line) => indent + line).join('\n');
  return `
${forwardBindings(L, ['blocks: u32', 'groups: u32'])}
var<workgroup> red: array<f32, ${4 * NT}>;
${splitReadFn(DK, S)}
@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
${splitHead(S)}
${splitChannels(S, '  ')}
${unrolled(S.CH, (c) => `var s${c} = 0.0f;`, '  ')}
  for (var t = 0u; t < params.T; t++) {
    if (t % params.C == 0u && valid) {
      let base = (t / params.C) * ${DK}u;
${unrolled(S.CH, (c) => channelGuard(DK, S, c, undefined, `ckpt[(base + i${c}) * params.lanes + lane] = s${c};`), '      ')}
    }
${splitStepPartials(DK, S, L, 's', 2 * NT, '    ')}
    workgroupBarrier();
    if (t > 0u && part == 0u && valid) {
      let tp = t - 1u;
${writeOut(`${2 * NT}u - h`, '      ')}
    }
${splitStepUpdate(DK, S, 's', '    ')}
    var po = 0.0f;
${unrolled(S.CH, (c) => `po += ${rd(0, c)} * s${c};`, '    ')}
    red[h + ${NT}u + tid] = po;
  }
  workgroupBarrier();
  if (params.T > 0u && part == 0u && valid) {
    let tp = params.T - 1u;
${writeOut(`(tp & 1u) * ${2 * NT}u`, '    ')}
  }
}`;
};

// The split backward: red is the replay's u partials by parity, then the walk's three partials, then the column-sum
// tile (d_k × COLS, as the loop form's) — one buffer, its uses kept apart by barriers.
const backwardSplitWgsl = (DK: number, S: SplitShape, L: HeadLayouts) => () => {
  const NT = S.P * S.COLS;
  const CAP = S.P * S.CH;
  const rd = splitRead(DK, S);
  const terms = (c: number) => termsOf((p) => rd(p, c));
  return `
${backwardBindings(L)}
var<workgroup> red: array<f32, ${CAP * S.COLS}>;
${swizzleFn('redAt', S.COLS)}
${splitReadFn(DK, S)}
@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
${splitHead(S)}
  let partBase = params.rows * params.dv + blk * ${PLANES}u * params.rows * ${DK}u;
${splitChannels(S, '  ')}
${unrolled(S.CH, (c) => `var ds${c} = 0.0f; var sp${c} = 0.0f;`, '  ')}
  let chunks = (params.T + params.C - 1u) / params.C;
  for (var cc = 0u; cc < chunks; cc++) {
    let c = chunks - 1u - cc;
    let t0 = c * params.C;
    let t1 = min(params.T, t0 + params.C);
    // replay the chunk from its checkpoint: scratch[m] = S_{t0+m−1}, each part its own channels
${unrolled(S.CH, (c) => `sp${c} = 0.0f; ${channelGuard(DK, S, c, 'valid', `sp${c} = ckpt[(c * ${DK}u + i${c}) * params.lanes + lane];`)}`, '    ')}
    for (var t = t0; t < t1; t++) {
      let sb = (t - t0) * ${DK}u;
${unrolled(S.CH, (c) => channelGuard(DK, S, c, 'valid', `scratch[(sb + i${c}) * params.lanes + lane] = sp${c};`), '      ')}
${splitStepPartials(DK, S, L, 'sp', NT, '      ')}
      workgroupBarrier();
${splitStepUpdate(DK, S, 'sp', '      ')}
    }
    workgroupBarrier();  // the replay's last sums read before the walk's partials overwrite them
    for (var tt = t1; tt > t0; tt--) {
      let t = tt - 1u;
      let row = ${rowOf(L.input, 'bh', 't')};
      let kb = row * ${DK}u;
      let sb = (t - t0) * ${DK}u;
      var vj = 0.0f;
      var dout = 0.0f;
      if (valid) {
        vj = v[row * params.dv + j];
        dout = dO[${outRow(L)} * params.dv + j];
      }
      var pu = 0.0f;
      var pdu = 0.0f;
      var pdv = 0.0f;
${unrolled(S.CH, (c) => `{
        var spi = 0.0f;
        ${channelGuard(DK, S, c, 'valid', `spi = scratch[(sb + i${c}) * params.lanes + lane];`)}
        sp${c} = spi;
        pu += ${rd(3, c)} * spi;
        let dsi = ds${c} + ${rd(0, c)} * dout;
        ds${c} = dsi;
        pdu += ${rd(4, c)} * dsi;
        pdv += ${rd(2, c)} * dsi;
      }`, '      ')}
      red[tid] = pu;
      red[${NT}u + tid] = pdu;
      red[${2 * NT}u + tid] = pdv;
      workgroupBarrier();
      var u = 0.0f;
      var du = 0.0f;
      var dvj = 0.0f;
      for (var q = 0u; q < ${S.P}u; q++) {
        u += red[col0 + q];
        du += red[${NT}u + col0 + q];
        dvj += red[${2 * NT}u + col0 + q];
      }
      workgroupBarrier();  // the partials read before the tile overwrites them
      if (valid && part == 0u) { grads[row * params.dv + j] = dvj; }
${[0, 1, 2, 3, 4].map(
  (p) => `      // ${['dr', 'dw', 'dk', 'da', 'db'][p]}: summed over the block's columns (an idle column writes 0; padding rows ≥ d_k are not summed)
${unrolled(S.CH, (c) => `{ let spi = sp${c}; let dsi = ds${c}; red[redAt(i${c}, cl)] = select(0.0f, ${terms(c)[p]}, valid); }`, '      ')}
      workgroupBarrier();
      for (var r = tid; r < ${DK}u; r += ${NT}u) {
        var acc = 0.0f;
        for (var y = 0u; y < ${S.COLS}u; y++) { acc += red[redAt(r, y)]; }
        grads[partBase + (${p}u * params.rows + row) * ${DK}u + r] = acc;
      }
      workgroupBarrier();`,
).join('\n')}
${unrolled(S.CH, (c) => `ds${c} = exp(${rd(1, c)}) * ds${c} + ${rd(3, c)} * du;`, '      ')}
    }
  }
}`;
};

let split = false;
/** Lever deltaSplit: the split forms for d_k ≤ DELTA_SPLIT_MAX_DK (on; before deltaRegisters' form), or the forms above (off). */
export function setDeltaSplit(on: boolean): void {
  split = on;
}

/** Which form of the kernels runs for d_k: 'split' (lever deltaSplit), else deltaRule.ts's choice ('registers' or 'loops'). */
export function generalizedDeltaRuleForm(dk: number): 'split' | 'registers' | 'loops' {
  return split && dk <= DELTA_SPLIT_MAX_DK ? 'split' : deltaRuleForm(dk);
}

interface Sizes {
  B: number;
  H: number;
  T: number;
  dk: number;
  dv: number;
}

function sizes(x: tf.TensorInfo, v: tf.TensorInfo, input: HeadLayout): Sizes {
  if (x.shape.length !== 5 || v.shape.length !== 4) throw new Error(`${GENERALIZED_DELTA_KERNEL}: expected x [5, ·, ·, ·, d_k], v [·, ·, ·, d_v] (${input}), got x [${x.shape}] v [${v.shape}]`);
  const { B, H, T } = headDims(x.shape.slice(1), input);
  const dk = x.shape[4]!;
  const dv = v.shape[3]!;
  if (x.shape[0] !== PLANES || v.shape.slice(0, 3).join() !== x.shape.slice(1, 4).join()) throw new Error(`${GENERALIZED_DELTA_KERNEL}: x [${x.shape}] and v [${v.shape}] do not match`);
  if (dk > GENERALIZED_DELTA_MAX_DK) throw new Error(`${GENERALIZED_DELTA_KERNEL}: d_k ${dk} > ${GENERALIZED_DELTA_MAX_DK}`);
  return { B, H, T, dk, dv };
}

/** Floats of the backward's output buffer (dv, then the column blocks' partials of dr, dw, dk, da, db). */
export const gradsSize = (rows: number, dk: number, dv: number) => columnGradsSize(rows, dv, PLANES * dk, tiling(dk).COLS);

let registered = false;

export function registerGeneralizedDeltaRuleWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: GENERALIZED_DELTA_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { x, v } = inputs as Record<string, tf.TensorInfo>;
      const L = layoutsOf(attrs);
      const { B, H, T, dk, dv } = sizes(x!, v!, L.input);
      const { CAP } = tiling(dk);
      const C = checkpointInterval(T);
      const lanes = B * H * dv;
      const backend = webgpuBackend();
      const o = allocate(backend, headShape(L.output, B, H, T, dv));
      const ckpt = allocate(backend, checkpointShape(T, dk, B * H * dv));
      if (generalizedDeltaRuleForm(dk) === 'split') {
        const S = splitTiling(dk).forward;
        const blocks = Math.ceil(dv / S.COLS);
        const groups = B * H * blocks;
        dispatch(
          'GeneralizedDeltaRuleSplit',
          `rb_gdelta_fwd_s${dk}_${S.P}x${S.CH}_${S.COLS}` + layoutKey(L),
          forwardSplitWgsl(dk, S, L),
          [{ tensor: x! }, { tensor: v! }, { tensor: o, write: true }, { tensor: ckpt, write: true }],
          [{ u: lanes }, { u: B * H * T }, { u: T }, { u: dk }, { u: dv }, { u: C }, { u: blocks }, { u: groups }, ...layoutValues(L, B, H)],
          grid(groups),
        );
        return [o, ckpt];
      }
      const regs = deltaRuleForm(dk) === 'registers';
      dispatch(
        regs ? 'GeneralizedDeltaRuleRegisters' : 'GeneralizedDeltaRule',
        (regs ? `rb_gdelta_fwd_r${dk}` : `rb_gdelta_fwd_${CAP}`) + layoutKey(L),
        regs ? forwardRegistersWgsl(dk, L) : forwardWgsl(CAP, L),
        [{ tensor: x! }, { tensor: v! }, { tensor: o, write: true }, { tensor: ckpt, write: true }],
        [{ u: lanes }, { u: B * H * T }, { u: T }, { u: dk }, { u: dv }, { u: C }, ...layoutValues(L, B, H)],
        grid(Math.ceil(lanes / WG)),
      );
      return [o, ckpt];
    },
  });
  tf.registerKernel({
    kernelName: GENERALIZED_DELTA_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { x, v, dO, ckpt } = inputs as Record<string, tf.TensorInfo>;
      const L = layoutsOf(attrs);
      const { B, H, T, dk, dv } = sizes(x!, v!, L.input);
      const { CAP, COLS } = tiling(dk);
      const C = checkpointInterval(T);
      const rows = B * H * T;
      const blocks = Math.ceil(dv / COLS);
      const groups = B * H * blocks;
      const backend = webgpuBackend();
      const grads = allocate(backend, [gradsSize(rows, dk, dv)]);
      const scratch = allocate(backend, [C, dk, B * H * dv]);
      if (generalizedDeltaRuleForm(dk) === 'split') {
        const S = splitTiling(dk).backward; // S.COLS = COLS: the same column blocks, the same grads layout
        dispatch(
          'GeneralizedDeltaRuleSplitGrad',
          `rb_gdelta_bwd_s${dk}_${S.P}x${S.CH}_${S.COLS}${swizzleKey()}` + layoutKey(L),
          backwardSplitWgsl(dk, S, L),
          [{ tensor: x! }, { tensor: v! }, { tensor: dO! }, { tensor: ckpt! }, { tensor: grads, write: true }, { tensor: scratch, write: true }],
          [{ u: B * H * dv }, { u: rows }, { u: T }, { u: dk }, { u: dv }, { u: C }, { u: blocks }, { u: groups }, ...layoutValues(L, B, H)],
          grid(groups),
        );
        release(scratch);
        return grads;
      }
      const regs = deltaRuleForm(dk) === 'registers';
      dispatch(
        regs ? 'GeneralizedDeltaRuleRegistersGrad' : 'GeneralizedDeltaRuleGrad',
        (regs ? `rb_gdelta_bwd_r${dk}_${COLS}${swizzleKey()}` : `rb_gdelta_bwd_${CAP}_${COLS}${swizzleKey()}`) + layoutKey(L),
        regs ? backwardRegistersWgsl(dk, COLS, L) : backwardWgsl(CAP, COLS, L),
        [{ tensor: x! }, { tensor: v! }, { tensor: dO! }, { tensor: ckpt! }, { tensor: grads, write: true }, { tensor: scratch, write: true }],
        [{ u: B * H * dv }, { u: rows }, { u: T }, { u: dk }, { u: dv }, { u: C }, { u: blocks }, { u: groups }, ...layoutValues(L, B, H)],
        grid(groups),
      );
      release(scratch);
      return grads;
    },
  });
}

/** Split the backward's one buffer into dx [5, ...v's lead, d_k] (the column blocks' partials summed) and dv, in the inputs' layout. */
function splitGrads(grads: tf.Tensor, s: Sizes, lead: number[]): [tf.Tensor, tf.Tensor] {
  const { B, H, T, dk, dv } = s;
  const rows = B * H * T;
  const { dV, terms } = splitColumnGrads(grads, rows, dv, PLANES * dk, tiling(dk).COLS);
  return [terms.reshape([PLANES, ...lead, dk]), dV.reshape([...lead, dv])];
}

type Fused = (r: tf.Tensor, w: tf.Tensor, k: tf.Tensor, v: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** The kernels with their gradient, for one pair of layouts. */
function withGrad(L: HeadLayouts): Fused {
  const attrs = layoutAttrs(L);
  return tf.customGrad(((r: tf.Tensor, w: tf.Tensor, k: tf.Tensor, v: tf.Tensor, a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const x = tf.stack([r, w, k, a, b]); // [5, ·, ·, ·, d_k]: one binding for the five (the backward uses 6 of the 8 storage buffers)
    const [o, ckpt] = tf.engine().runKernel(GENERALIZED_DELTA_KERNEL, { x, v }, attrs) as unknown as [tf.Tensor, tf.Tensor];
    save([x, v, ckpt]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, vs, ck] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const grads = tf.engine().runKernel(GENERALIZED_DELTA_GRAD_KERNEL, { x: xs, v: vs, dO: dy, ckpt: ck }, attrs) as tf.Tensor;
        const [dX, dV] = splitGrads(grads, sizes(xs, vs, L.input), vs.shape.slice(0, 3));
        const [dR, dW, dK, dA, dB] = tf.unstack(dX);
        return [dR!, dW!, dK!, dV, dA!, dB!];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Fused;
}
const fusedFor = perLayouts(withGrad);

/** d_k within the private arrays' cap, and the stacked input, checkpoints, the backward's scratch and its gradients within the device's buffer limits. */
function fits(r: tf.Tensor4D, v: tf.Tensor4D, input: HeadLayout): boolean {
  const { B, H, T } = headDims(r.shape, input);
  const dk = r.shape[3];
  const dv = v.shape[3];
  return dk <= GENERALIZED_DELTA_MAX_DK && fitsDevice(PLANES * B * H * T * dk, tf.util.sizeFromShape(checkpointShape(T, dk, B * H * dv)), checkpointInterval(T) * dk * B * H * dv, gradsSize(B * H * T, dk, dv));
}

/**
 * The generalized delta rule, fused (the fast form of ops/generalizedDeltaRule): r, w, k, a, b [·, ·, ·, d_k],
 * v [·, ·, ·, d_v] in layouts.input (arguments as generalizedDeltaRuleChunked) → o [·, ·, ·, d_v] in layouts.output;
 * undefined (declined: the op runs its reference) past d_k = GENERALIZED_DELTA_MAX_DK or past the device's buffer
 * limits. Lever stridedHeads off, the heads move by transposes around the kernels in [B, H, T, ·].
 */
export function generalizedDeltaRuleWebGpu(r: tf.Tensor4D, w: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor4D, b: tf.Tensor4D, layouts: HeadLayouts = OPS_LAYOUT): tf.Tensor4D | undefined {
  if (!fits(r, v, layouts.input)) return undefined;
  return inLayouts(layouts, [r, w, k, v, a, b], fusedFor) as tf.Tensor4D;
}
