// Fused causal long convolution (WebGPU), forward and backward: the fast form of ops/longConv's `longConv`
// (BaseConv-long, H3, Hyena, M2; circularLongConv reaches it too, as the causal conv of [u, u]):
//
//   y[b, t, c]  = Σ_{s≤t} h[c, s] · x[b, t − s, c]                  x [B, T, C], h [C, Lh] (Lh ≥ T; taps ≥ T unused)
//   dx[b, t, c] = Σ_{t'≥t} h[c, t' − t] · dy[b, t', c]
//   dh[c, s]    = Σ_b Σ_{t≥s} dy[b, t, c] · x[b, t − s, c]         (0 for s ≥ T)
//
// A direct O(T²) convolution instead of the blocked Toeplitz matmuls of ops/longConv/blocked.ts (tens of tfjs ops
// per call, host-bound): B·C·T²/2 multiply-adds per product (B64, d 128, T 256: 0.27 G), one dispatch each.
//
// Layout of the work, and why:
//  - forward and dx: one thread per output element (b, t, c), c the fastest index. Neighbouring threads read
//    neighbouring x / dy elements (coalesced), and their loops have the same or nearly the same length (C ≥ 64: a
//    workgroup shares t). h[c, s] is read with a stride of Lh across threads, but h is C·Lh floats (d 256, L 1024:
//    1 MiB) read by every (b, t) and stays in cache — but a warp's reads of it are 32 transactions per tap: lever
//    longConvTiles (below) stages it in workgroup memory, with barriers in a tile loop whose trip count is set per
//    workgroup (so its threads share a channel block and an example); a transposed copy of h would cost a dispatch. Per (b, c) lane with a tile of t would give only B·C
//    threads (8 K at B64, d 128): too few to fill a GPU — so one thread per output.
//  - dh: C·T outputs only (32 K at d 128, T 256), each a sum over B·(T − s) products. A workgroup holds 64 (c, s)
//    lanes × SPLIT threads; the SPLIT threads of a lane take every SPLIT-th t and their partials are added in
//    workgroup memory (SPLIT·64 floats = 1 KiB): SPLIT× the threads without partial tensors or an extra AddN.
//    Lanes are numbered s·C + c (c fastest) so that a warp's reads of dy and x are coalesced.
// Summation order: the forward adds s = 0, 1, … like longConvNaive. Every shape is a uniform; no size in the keys.
// A stack of R runs (engine/stack.ts): h [R, C, Lh], x's examples runs outermost; each example reads its run's filter
// and each run's dh sums its own examples only (R = 1: the same dispatches, bit for bit).
// Reference: longConvNaive (ops/longConv/naive.ts).
//
// Lever `longConvTiles` (on by default since 2026-11-29): the same three products laid out for a GPU's memory system.
//  - forward and dx read h[c, s] through workgroup memory: above, a warp's 32 threads (32 channels) read h 4·Lh
//    bytes apart, 32 separate cache transactions per tap; with the tiles a workgroup of 64 channels × 4 time rows
//    copies TILE taps of its channels' filters at once (coalesced along s) into a padded table (row stride 65: the
//    copy and the reads are each one bank per thread) and reads them from there. Each output still adds s = 0, 1, …
//    in order: the same sums as the untiled kernels, bit for bit. Used for C ≥ 64 (fewer channels would idle most of
//    a 64-channel block).
//  - dh splits the batch into G groups of examples: G·C·Lh partial sums, then one pass adds them in group order.
//    Untiled, dh has only C·Lh lanes (d 64, L 64: 64 workgroups for a GPU of 132 SMs), each walking the whole batch;
//    G is chosen so that the lanes × groups of ONE run reach ≈ DH_TARGET_WORKGROUPS, from a run's own sizes, so a
//    stack's runs sum their examples exactly as each run alone does. G = 1 writes dh directly (no second pass).
//
// Lever `longConvRegisters` (on by default since 2026-11-29): the same products with each thread computing R = 8 outputs
// (forward, dx: 8 consecutive times of one channel; dh: 8 consecutive taps of one channel) from a sliding window of
// 8 inputs held in registers. Tiled, each output's every tap is a global load of x and a workgroup load of h for one
// multiply-add (H3 at zoology-fig2's L 64, d 256, B512: 3.3 GFLOP of forward in 2.86 ms, ≈ 1 TFLOP/s); with the window a tap is one
// load of each for 8 multiply-adds — and the O(T²) taps are what grow with the campaign's L 128–512. Each output still
// adds its taps in increasing order (forward, dx: the window's entries past the sequence are zeros, and adding
// h · 0 leaves a sum unchanged), so y and dx are the untiled kernels' sums; dh adds, per group of examples, example
// by example in increasing t — a different order from the split kernel's, within rounding of it. C ≥ 64, as the tiles.
//
// Lever `longConvBlocks` (off: built 2026-11-30 without a GPU, checked on lavapipe only): the three products as small
// matrix products. The register kernels above do 8 multiply-adds per load of x and per read of h, and move their
// 8-value window one register at a time each tap (7 moves for 8 multiply-adds): at H3 d 256 L 512 B128 (768 channels
// a layer) the forward's 25.8 G multiply-adds took 7.5 ms (~6.9 TFLOP/s), the gradients' 51.6 G 17.2 ms (~6.0), 24.8
// of a 50.7 ms step (bench/logs/2026-11-29-registers-silu). Here
//  - forward and dx: a thread computes R = 8 times × E examples (E = EXAMPLES_PER_THREAD, 4) of one channel. It walks
//    the input positions, holds the 8 taps that meet them in registers, and per step reads one tap of h (from the
//    workgroup tile) and E inputs, for 8·E multiply-adds. Each output still adds its taps 0, 1, 2, … in order, zeros
//    for taps before 0 or inputs outside [0, T): the register kernels' sums.
//  - dh: a thread computes DH_TAPS = 16 taps of one channel (twice the register kernel's): per step one dy and one x
//    for 16 multiply-adds, the batch split into groups as above.
//  - the windows turn by renaming, not moving: the step loop is unrolled by the window's length and step r writes the
//    new value into register r, so the k-th newest value sits in register (r − k) mod length at step r.
// Unlike the register kernels, a thread here also multiplies zeros by inputs it does not need (forward: up to 7 later
// positions of its block; dx: up to 7 earlier; and taps in [T, Lh)): the same sums for finite inputs, but an Inf or
// NaN there makes its outputs NaN where the register kernels' would not (a run with such inputs has already failed).
//
// Lever `shortFilter` (off: built 2026-11-30 without a GPU): a filter of K < T taps (ops/longConv takes it as zero
// beyond them: H3's shift SSM, whose kernel is N ≤ 64 taps) runs through the fused short convolution's kernels
// (shortConv.ts, up to WIDE_MAX_TAPS taps) — T·K multiply-adds an output row instead of the T²/2 of a filter padded to
// T (based-fig2's H3, N = d/4 ≤ 64, wherever N < L: 25–88 % fewer for one of its two long
// convolutions a layer; zoology-fig2's H3 has N = L, a full-length filter, and never takes this path). The short
// convolution adds its taps oldest input first (h[K−1] … h[0]), the reverse of the kernels above: within rounding of
// them. Off, beyond WIDE_MAX_TAPS taps, or where the short convolution declines (a buffer too large for the device):
// the filter is zero-padded to T and runs as above (what H3 did before).
import * as tf from '@tensorflow/tfjs';
import { UserInputError } from '../../core/errors.js';
import { shortConvWebGpu, WIDE_MAX_TAPS } from './shortConv.js';
import { allocate, declare, dispatch, fitsDevice, grid, release, webgpuBackend } from './dispatch.js';

const WG = 64;
/** Threads per dh lane (see the top of this file). */
const SPLIT = 4;

const lane = `let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;`;
const builtins = '@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32';

// y[b, t, c] = Σ_{s≤t} h[c, s] x[b, t − s, c]; thread = (b·T + t)·C + c
const forwardWgsl = () => `
${declare(
  [
    { name: 'x', type: 'f32' },
    { name: 'h', type: 'f32' },
    { name: 'y', type: 'f32', write: true },
  ],
  ['n: u32', 'T: u32', 'C: u32', 'L: u32', 'examplesPerRun: u32'],
)}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (lane >= params.n) { return; }
  let C = params.C;
  let c = lane % C;
  let bt = lane / C;
  let t = bt % params.T;
  let run = bt / params.T / params.examplesPerRun;
  let hb = (run * C + c) * params.L;
  var acc = 0.0f;
  for (var s = 0u; s <= t; s++) {
    acc += h[hb + s] * x[(bt - s) * C + c];
  }
  y[lane] = acc;
}`;

// dx[b, t, c] = Σ_{t'≥t} h[c, t' − t] dy[b, t', c]; thread = (b·T + t)·C + c
const inputGradWgsl = () => `
${declare(
  [
    { name: 'dy', type: 'f32' },
    { name: 'h', type: 'f32' },
    { name: 'dx', type: 'f32', write: true },
  ],
  ['n: u32', 'T: u32', 'C: u32', 'L: u32', 'examplesPerRun: u32'],
)}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (lane >= params.n) { return; }
  let C = params.C;
  let c = lane % C;
  let bt = lane / C;
  let t = bt % params.T;
  let run = bt / params.T / params.examplesPerRun;
  let hb = (run * C + c) * params.L;
  var acc = 0.0f;
  for (var s = 0u; s < params.T - t; s++) {
    acc += h[hb + s] * dy[(bt + s) * C + c];
  }
  dx[lane] = acc;
}`;

// dh[c, s] = Σ_b Σ_{t≥s} dy[b, t, c] x[b, t − s, c] (0 for T ≤ s < L); lane = s·C + c, SPLIT threads per lane
const filterGradWgsl = () => `
${declare(
  [
    { name: 'dy', type: 'f32' },
    { name: 'x', type: 'f32' },
    { name: 'dh', type: 'f32', write: true },
  ],
  ['n: u32', 'B: u32', 'T: u32', 'C: u32', 'L: u32', 'runs: u32'],
)}
var<workgroup> part: array<f32, ${WG * SPLIT}>;
@compute @workgroup_size(${WG * SPLIT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tid = li % ${WG}u;
  let k = li / ${WG}u;
  ${lane}
  // lane = run·C·L + s·C + c over the runs' filters (n = C·L per run); B: examples per run
  let C = params.C;
  let T = params.T;
  let run = lane / params.n;
  let rest = lane % params.n;
  let c = rest % C;
  let s = rest / C;
  var acc = 0.0f;
  if (lane < params.n * params.runs && s < T) {
    for (var b = run * params.B; b < (run + 1u) * params.B; b++) {
      let base = b * T;
      for (var t = s + k; t < T; t += ${SPLIT}u) {
        acc += dy[(base + t) * C + c] * x[(base + t - s) * C + c];
      }
    }
  }
  part[li] = acc;
  workgroupBarrier();
  if (k == 0u && lane < params.n * params.runs) {
    var sum = part[tid];
    for (var j = 1u; j < ${SPLIT}u; j++) { sum += part[tid + j * ${WG}u]; }
    dh[(run * C + c) * params.L + s] = sum;
  }
}`;

/** Channels × time rows of a tiled workgroup, taps per tile, and the padded row stride of the tile table. */
const TILE_C = 64;
const TILE_ROWS = 4;
const TILE = 32;
const TILE_STRIDE = TILE_C + 1;
/** Workgroups the split dh aims for per run (an H200: 132 SMs × 8 workgroups of 256 threads ≈ 1,056). */
export const DH_TARGET_WORKGROUPS = 1024;

/**
 * WGSL: the head of the tiled, the register and the blocked forward / dx kernels — bindings (x or dy, h, y or dx), the
 * filter tile hs, `helpers`, and main's workgroup w = (example b, time block tb, channel block cb; channel blocks
 * fastest) with its run and the thread's channel lane cl. With `examples` E (lever longConvBlocks) a workgroup takes a
 * block of E examples of one run instead of one example: eb = (run, block) in place of b, its first example e0 and
 * the run's end eEnd.
 */
const tiledKernelHead = (threads: number, helpers = '', examples?: number) => `${declare(
  [
    { name: 'x', type: 'f32' }, // x (fwd) or dy (dx)
    { name: 'h', type: 'f32' },
    { name: 'y', type: 'f32', write: true }, // y (fwd) or dx (dx)
  ],
  ['T: u32', 'C: u32', 'L: u32', 'examplesPerRun: u32', ...(examples ? ['exampleBlocks: u32'] : []), 'channelBlocks: u32', 'timeBlocks: u32', 'workgroups: u32'],
)}
var<workgroup> hs: array<f32, ${TILE * TILE_STRIDE}>;
${helpers}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let w = wg.y * nwg.x + wg.x;
  let C = params.C;
  let T = params.T;
  let cb = w % params.channelBlocks;
  let tb = (w / params.channelBlocks) % params.timeBlocks;
  let live = w < params.workgroups;
  ${
    examples
      ? `let eb = w / params.channelBlocks / params.timeBlocks;
  let run = eb / params.exampleBlocks;
  let e0 = run * params.examplesPerRun + (eb % params.exampleBlocks) * ${examples}u;
  let eEnd = (run + 1u) * params.examplesPerRun;`
      : `let b = w / params.channelBlocks / params.timeBlocks;
  let run = b / params.examplesPerRun;`
  }
  let cl = li % ${TILE_C}u;`;

/**
 * WGSL: copy TILE taps of the workgroup's TILE_C channels' filters, h[run, cb·64 + i, s0 + j] (i < 64, j < TILE), into
 * hs[j·65 + i] — consecutive threads along j (coalesced reads along s), one bank per thread on both sides — with
 * `threads` threads (the tiled and the register kernels' shared first half of each tap tile).
 */
const copyFilterTile = (threads: number) => `for (var k = li; k < ${TILE_C * TILE}u; k += ${threads}u) {
      let j = k % ${TILE}u;
      let i = k / ${TILE}u;
      let ci = cb * ${TILE_C}u + i;
      var v = 0.0f;
      if (live && ci < C && s0 + j < params.L) { v = h[(run * C + ci) * params.L + s0 + j]; }
      hs[j * ${TILE_STRIDE}u + i] = v;
    }`;

/**
 * Forward (dir 'fwd') or dx (dir 'dx') with h staged in workgroup memory. Workgroup w = (example b, block of
 * TILE_ROWS times, block of TILE_C channels); thread (row, cl) computes output (b, t, c). The tile loop runs over the
 * taps the block's latest (fwd) or earliest (dx) time needs — uniform across the workgroup, as its barriers require —
 * and each thread adds only the taps it needs, in increasing s.
 */
const tiledWgsl = (dir: 'fwd' | 'dx') => () => `
${tiledKernelHead(TILE_C * TILE_ROWS)}
  let t = tb * ${TILE_ROWS}u + li / ${TILE_C}u;
  let c = cb * ${TILE_C}u + cl;
  let valid = live && t < T && c < C;
  let t0 = tb * ${TILE_ROWS}u;
  // taps the block needs: s ≤ t (fwd) for its latest t; s < T − t (dx) for its earliest
  let taps = ${dir === 'fwd' ? `min(T, t0 + ${TILE_ROWS}u)` : 'T - min(t0, T - 1u)'};
  var acc = 0.0f;
  for (var s0 = 0u; s0 < taps; s0 += ${TILE}u) {
    ${copyFilterTile(TILE_C * TILE_ROWS)}
    workgroupBarrier();
    if (valid) {
      let row = (b * T + t) * C + c;
      let end = ${dir === 'fwd' ? 'min(s0 + ' + TILE + 'u, t + 1u)' : 'min(s0 + ' + TILE + 'u, T - t)'};
      for (var s = s0; s < end; s++) {
        acc += hs[(s - s0) * ${TILE_STRIDE}u + cl] * x[${dir === 'fwd' ? 'row - s * C' : 'row + s * C'}];
      }
    }
    workgroupBarrier();
  }
  if (valid) { y[(b * T + t) * C + c] = acc; }
}`;

/** The split dh kernels' bindings and uniforms (the split and the register forms dispatch them alike). */
const declareDhGroups = () =>
  declare(
    [
      { name: 'dy', type: 'f32' },
      { name: 'x', type: 'f32' },
      { name: 'part', type: 'f32', write: true },
    ],
    ['n: u32', 'B: u32', 'T: u32', 'C: u32', 'L: u32', 'runs: u32', 'laneBlocks: u32', 'groups: u32', 'perGroup: u32'],
  );

// The split dh kernels' lane, from the thread's index within its workgroup's 64 lanes: workgroup w = g · laneBlocks +
// laneBlock (the layout dhGroups sizes), lane = run · n + rest, channel c = rest % C (rest / C: the tap, or the
// register form's block of R taps). One definition for both forms, so that they read a group the same way.
const dhGroupLane = (thread: string) =>
  [
    'let w = wg.y * nwg.x + wg.x;',
    'let g = w / params.laneBlocks;',
    `let lane = (w % params.laneBlocks) * ${WG}u + ${thread};`,
    'let C = params.C;',
    'let T = params.T;',
    'let total = params.n * params.runs;',
    'let run = lane / params.n;',
    'let rest = lane % params.n;',
    'let c = rest % C;',
  ].join('\n  ');

// dh split over G groups of examples: partial[g, run, c, s] = Σ_{b in group g of run} Σ_{t≥s} dy[b, t, c] x[b, t − s, c]
// (G = 1: that is dh). Lanes as in filterGradWgsl; workgroup w = g · laneBlocks + laneBlock.
const filterGradSplitWgsl = () => `
${declareDhGroups()}
var<workgroup> sums: array<f32, ${WG * SPLIT}>;
@compute @workgroup_size(${WG * SPLIT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tid = li % ${WG}u;
  let k = li / ${WG}u;
  ${dhGroupLane('tid')}
  let s = rest / C;
  let live = g < params.groups && lane < total;
  var acc = 0.0f;
  if (live && s < T) {
    let first = run * params.B + g * params.perGroup;
    let last = min(first + params.perGroup, (run + 1u) * params.B);
    for (var b = first; b < last; b++) {
      let base = b * T;
      for (var t = s + k; t < T; t += ${SPLIT}u) {
        acc += dy[(base + t) * C + c] * x[(base + t - s) * C + c];
      }
    }
  }
  sums[li] = acc;
  workgroupBarrier();
  if (k == 0u && live) {
    var sum = sums[tid];
    for (var j = 1u; j < ${SPLIT}u; j++) { sum += sums[tid + j * ${WG}u]; }
    part[g * total + (run * C + c) * params.L + s] = sum;
  }
}`;

// dh[i] = Σ_g part[g, i], g in order
const groupSumWgsl = () => `
${declare(
  [
    { name: 'part', type: 'f32' },
    { name: 'dh', type: 'f32', write: true },
  ],
  ['n: u32', 'groups: u32'],
)}
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  ${lane}
  if (lane >= params.n) { return; }
  var sum = part[lane];
  for (var g = 1u; g < params.groups; g++) { sum += part[g * params.n + lane]; }
  dh[lane] = sum;
}`;

/** Outputs per thread along time (forward, dx) or taps per thread (dh) of lever longConvRegisters, and its threads along time per workgroup. */
const R = 8;
const REG_ROWS = 4;
/** Times one register workgroup covers. */
const REG_BLOCK = REG_ROWS * R;
const unroll = (f: (r: number) => string, sep = '\n    ') => Array.from({ length: R }, (_, r) => f(r)).join(sep);

/**
 * Forward (dir 'fwd') or dx (dir 'dx') with R outputs per thread. Workgroup = (example b, block of REG_BLOCK times,
 * block of TILE_C channels); thread (row, cl) computes times tf … tf + R − 1 of channel c, tf = t0 + row·R. h comes
 * through the same workgroup tiles as tiledWgsl; the window w_r holds x[tf + r − s] (fwd) or dy[tf + r + s] (dx) for
 * the current tap s, zero outside [0, T), and moves by one load per tap.
 */
const registerWgsl = (dir: 'fwd' | 'dx') => () => `
${tiledKernelHead(
  TILE_C * REG_ROWS,
  `// x[example row ex + t, channel c], 0 for t outside [0, T)
fn at(ex: u32, t: i32, c: u32) -> f32 {
  if (t < 0 || t >= i32(params.T)) { return 0.0f; }
  return x[(ex + u32(t)) * params.C + c];
}`,
)}
  let t0 = tb * ${REG_BLOCK}u;
  let tf = t0 + (li / ${TILE_C}u) * ${R}u;
  let c = cb * ${TILE_C}u + cl;
  let valid = live && tf < T && c < C;
  let ex = b * T;
  let first = i32(tf);
  // taps the block needs: s ≤ t (fwd) for its latest t; s < T − t (dx) for its earliest
  let taps = ${dir === 'fwd' ? `min(T, t0 + ${REG_BLOCK}u)` : 'T - min(t0, T - 1u)'};
  ${unroll((r) => `var w${r} = 0.0f;
  var a${r} = 0.0f;`, '\n  ')}
  if (valid) {
    ${unroll((r) => `w${r} = at(ex, first + ${r}, c);`)}
  }
  for (var s0 = 0u; s0 < taps; s0 += ${TILE}u) {
    ${copyFilterTile(TILE_C * REG_ROWS)}
    workgroupBarrier();
    if (valid) {
      let end = min(s0 + ${TILE}u, taps);
      for (var s = s0; s < end; s++) {
        let hv = hs[(s - s0) * ${TILE_STRIDE}u + cl];
        ${unroll((r) => `a${r} += hv * w${r};`, '\n        ')}
        ${
          dir === 'fwd'
            ? // next tap: w_r = x[tf + r − s − 1] = the old w_{r−1}; w_0 a new load
              Array.from({ length: R - 1 }, (_, i) => `w${R - 1 - i} = w${R - 2 - i};`).join('\n        ') + `\n        w0 = at(ex, first - i32(s) - 1, c);`
            : // next tap: w_r = dy[tf + r + s + 1] = the old w_{r+1}; w_{R−1} a new load
              Array.from({ length: R - 1 }, (_, i) => `w${i} = w${i + 1};`).join('\n        ') + `\n        w${R - 1} = at(ex, first + ${R} + i32(s), c);`
        }
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    ${unroll((r) => `if (tf + ${r}u < T) { y[(ex + tf + ${r}u) * C + c] = a${r}; }`)}
  }
}`;

// dh with R taps per thread, split over G groups of examples as filterGradSplitWgsl: lane = run·C·SB + sb·C + c
// (SB = ⌈L / R⌉ tap blocks per channel), thread = one lane, workgroup w = g · laneBlocks + laneBlock. Over each example
// of its group, for t = s_first … T − 1: a_r += dy[t] · x[t − s_first − r], the window w_r = x[t − s_first − r].
const filterGradRegisterWgsl = () => `
${declareDhGroups()}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  ${dhGroupLane('li')}
  let sf = (rest / C) * ${R}u;
  if (g >= params.groups || lane >= total) { return; }
  ${unroll((r) => `var a${r} = 0.0f;`, '\n  ')}
  let first = run * params.B + g * params.perGroup;
  let last = min(first + params.perGroup, (run + 1u) * params.B);
  for (var b = first; b < last; b++) {
    let ex = b * T;
    var w0 = 0.0f;
    if (sf < T) { w0 = x[ex * C + c]; }
    ${unroll((r) => (r === 0 ? '' : `var w${r} = 0.0f;`), '\n    ')}
    for (var t = sf; t < T; t++) {
      let d = dy[(ex + t) * C + c];
      ${unroll((r) => `a${r} += d * w${r};`, '\n      ')}
      ${Array.from({ length: R - 1 }, (_, i) => `w${R - 1 - i} = w${R - 2 - i};`).join('\n      ')}
      if (t + 1u < T) { w0 = x[(ex + t + 1u - sf) * C + c]; }
    }
  }
  // part [G, runs·C·L] (G = 1: dh itself)
  let out = g * params.runs * C * params.L + (run * C + c) * params.L + sf;
  ${unroll((r) => `if (sf + ${r}u < params.L) { part[out + ${r}u] = a${r}; }`, '\n  ')}
}`;

/** Examples per thread of lever longConvBlocks' forward and dx (RECALLBENCH_LONGCONV_EXAMPLES: 1, 2, 4 or 8, for timing). */
export const EXAMPLES_PER_THREAD = 4;
/** Taps per thread of lever longConvBlocks' dh. */
export const DH_TAPS = 16;

/** The examples per thread in force: EXAMPLES_PER_THREAD, or RECALLBENCH_LONGCONV_EXAMPLES when set (a benchmark timing others). */
export function longConvExamplesPerThread(): number {
  const raw = typeof process !== 'undefined' ? process.env.RECALLBENCH_LONGCONV_EXAMPLES : undefined;
  if (raw === undefined || raw === '') return EXAMPLES_PER_THREAD;
  if (!['1', '2', '4', '8'].includes(raw.trim())) throw new UserInputError(`RECALLBENCH_LONGCONV_EXAMPLES: 1, 2, 4 or 8 (examples a thread of the long convolution's blocked kernels computes), got '${raw}'`);
  return Number(raw.trim());
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const mod = (a: number, n: number) => ((a % n) + n) % n;

/**
 * Forward (dir 'fwd') or dx (dir 'dx') of lever longConvBlocks, E examples a thread. Workgroup = (run's example block,
 * block of REG_BLOCK times, block of TILE_C channels), examples blocks never straddle runs; thread (row, cl) computes
 * times tf … tf + R − 1 of channel c for examples e0 … e0 + E − 1. Step k (the same k for the whole workgroup, so the
 * filter comes through the same tiles as the register kernels):
 *   fwd: input p = tf + R − 1 − k, tap k enters the window; output i meets tap k − (R − 1) + i (hw_i, zero below 0)
 *   dx:  input p = tf + k,         tap k enters the window; output i meets tap k − i
 * so each output adds taps 0, 1, 2, … in order. fwd runs k < t0 + REG_BLOCK (the block's last output reaches input
 * 0 there), dx k < T − t0; inputs outside [0, T) and examples past the run's last are zeros.
 */
const blocksWgsl = (dir: 'fwd' | 'dx', E: number) => () => {
  // the register holding window entry i (tap k − (R−1) + i for fwd, k − i for dx) at unrolled step r
  const hw = (i: number, r: number) => `v${dir === 'fwd' ? mod(r + 1 + i, R) : mod(r - i, R)}`;
  const step = (r: number) => `{
          let k = s0 + q * ${R}u + ${r}u;
          v${r} = hs[(k - s0) * ${TILE_STRIDE}u + cl];
          let p = ${dir === 'fwd' ? `i32(tf) + ${R - 1} - i32(k)` : 'i32(tf) + i32(k)'};
          let inside = p >= 0 && p < i32(T);
          let at = select(0u, u32(p) * C, inside);
          ${range(E).map((j) => `let x${j} = select(0.0f, x[base${j} + at], inside && ok${j});`).join('\n          ')}
          ${range(R).map((i) => range(E).map((j) => `a${i}_${j} += ${hw(i, r)} * x${j};`).join(' ')).join('\n          ')}
        }`;
  return `
${tiledKernelHead(TILE_C * REG_ROWS, '', E)}
  let c = cb * ${TILE_C}u + cl;
  let t0 = tb * ${REG_BLOCK}u;
  let tf = t0 + (li / ${TILE_C}u) * ${R}u;
  let valid = live && tf < T && c < C;
  // example j's first row at channel c (0 where it is past the run's last example or the thread idles: read as zeros)
  ${range(E).map((j) => `let ok${j} = valid && e0 + ${j}u < eEnd;\n  let base${j} = select(0u, (e0 + ${j}u) * T * C + c, ok${j});`).join('\n  ')}
  let steps = ${dir === 'fwd' ? `t0 + ${REG_BLOCK}u` : 'T - min(t0, T - 1u)'};
  ${range(R).map((r) => `var v${r} = 0.0f;`).join(' ')}
  ${range(R).map((i) => range(E).map((j) => `var a${i}_${j} = 0.0f;`).join(' ')).join('\n  ')}
  for (var s0 = 0u; s0 < steps; s0 += ${TILE}u) {
    ${copyFilterTile(TILE_C * REG_ROWS)}
    workgroupBarrier();
    if (valid) {
      // ${TILE} steps a tile, ${R} at a time (the window's registers turn once per ${R})
      for (var q = 0u; q < ${TILE / R}u; q++) {
        ${range(R).map(step).join('\n        ')}
      }
    }
    workgroupBarrier();
  }
  ${range(E)
    .map((j) => `if (ok${j}) {\n    ${range(R).map((i) => `if (tf + ${i}u < T) { y[base${j} + (tf + ${i}u) * C] = a${i}_${j}; }`).join('\n    ')}\n  }`)
    .join('\n  ')}
}`;
};

// dh of lever longConvBlocks: DH_TAPS taps a thread, split over G groups of examples as filterGradRegisterWgsl — lane =
// run·C·SB + sb·C + c (SB = ⌈L / DH_TAPS⌉), one thread a lane, workgroup w = g · laneBlocks + laneBlock. Over each
// example of its group, for t = sf, sf + 1, …: a_i += dy[t] · x[t − sf − i], the window entry i (x[t − sf − i]) in
// register (t − sf − i) mod DH_TAPS; steps past T read zeros.
const filterGradBlocksWgsl = () => {
  const N = DH_TAPS;
  const step = (r: number) => `{
        let t = sf + q * ${N}u + ${r}u;
        let inside = t < T;
        let row = select(ex, ex + t, inside) * C + c;
        v${r} = select(0.0f, x[row - select(0u, sf * C, inside)], inside);
        let d = select(0.0f, dy[row], inside);
        ${range(N).map((i) => `a${i} += d * v${mod(r - i, N)};`).join(' ')}
      }`;
  return `
${declareDhGroups()}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  ${dhGroupLane('li')}
  let sf = (rest / C) * ${N}u;
  if (g >= params.groups || lane >= total) { return; }
  ${range(N).map((i) => `var a${i} = 0.0f;`).join(' ')}
  ${range(N).map((r) => `var v${r} = 0.0f;`).join(' ')}
  let first = run * params.B + g * params.perGroup;
  let last = min(first + params.perGroup, (run + 1u) * params.B);
  let rounds = (max(T, sf) - sf + ${N - 1}u) / ${N}u;
  for (var b = first; b < last; b++) {
    let ex = b * T;
    ${range(N).map((r) => `v${r} = 0.0f;`).join(' ')}
    for (var q = 0u; q < rounds; q++) {
      ${range(N).map(step).join('\n      ')}
    }
  }
  // part [G, runs·C·L] (G = 1: dh itself)
  let out = g * params.runs * C * params.L + (run * C + c) * params.L + sf;
  ${range(N).map((i) => `if (sf + ${i}u < params.L) { part[out + ${i}u] = a${i}; }`).join('\n  ')}
}`;
};

let shortFilter = false;
/** Lever shortFilter: a filter of fewer taps than the sequence runs as a short FIR (on), or zero-padded to T (off). */
export function setShortFilter(on: boolean): void {
  shortFilter = on;
}

let blocks = false;
/** Lever longConvBlocks: the blocked forward, dx and dh above, C ≥ 64 (on), or the register / tiled / plain kernels (off). Takes precedence over both levers. */
export function setLongConvBlocks(on: boolean): void {
  blocks = on;
}

let tiles = false;
/** Lever longConvTiles: the tiled forward and dx (C ≥ 64) and the batch-split dh (on), or the kernels above (off). */
export function setLongConvTiles(on: boolean): void {
  tiles = on;
}

let registers = false;
/** Lever longConvRegisters: R outputs (taps) per thread from a window in registers, C ≥ 64 (on), or the above (off). */
export function setLongConvRegisters(on: boolean): void {
  registers = on;
}

/**
 * Groups of examples the split dh uses for one run of `examples` examples whose filter has C·L taps: enough that
 * groups × lane blocks reach DH_TARGET_WORKGROUPS workgroups of 256 threads (the split kernel: 64 lanes × SPLIT), each
 * group at least one example, no group empty. `form` 'registers' (lever longConvRegisters): R taps a lane, one
 * thread a lane, 64 a workgroup — as many groups as give the same threads (4x the workgroups); 'blocks' (lever
 * longConvBlocks) the same with DH_TAPS taps a lane.
 */
export function dhGroups(examples: number, C: number, L: number, form: 'split' | 'registers' | 'blocks' = 'split'): { groups: number; perGroup: number } {
  const laneBlocks = Math.ceil((C * Math.ceil(L / DH_TAPS_OF[form])) / WG);
  const target = form === 'split' ? DH_TARGET_WORKGROUPS : DH_TARGET_WORKGROUPS * SPLIT;
  const wanted = Math.max(1, Math.min(examples, Math.ceil(target / laneBlocks)));
  const perGroup = Math.ceil(examples / wanted);
  return { groups: Math.ceil(examples / perGroup), perGroup };
}

/** Taps a dh lane of each form computes. */
const DH_TAPS_OF = { split: 1, registers: R, blocks: DH_TAPS } as const;

/**
 * Dispatch a forward or dx kernel built on tiledKernelHead: workgroups over (example — or, with `examples` E, block of
 * E examples of one run —, block of `times` times, block of TILE_C channels), its uniforms in the head's order.
 */
function dispatchTiled(name: string, key: string, wgsl: () => string, input: tf.TensorInfo, h: tf.TensorInfo, out: tf.TensorInfo, B: number, T: number, C: number, L: number, runs: number, times: number, examples?: number): void {
  const perRun = B / runs;
  const exampleBlocks = examples ? Math.ceil(perRun / examples) : 0;
  const channelBlocks = Math.ceil(C / TILE_C);
  const timeBlocks = Math.ceil(T / times);
  const workgroups = (examples ? runs * exampleBlocks : B) * timeBlocks * channelBlocks;
  const uniforms = [T, C, L, perRun, ...(examples ? [exampleBlocks] : []), channelBlocks, timeBlocks, workgroups].map((u) => ({ u }));
  dispatch(name, key, wgsl, [{ tensor: input }, { tensor: h }, { tensor: out, write: true }], uniforms, grid(workgroups));
}

/** Forward or dx through the blocked, register or tiled kernels (C ≥ 64 with their lever on): false where none applies. */
function tiledPass(dir: 'fwd' | 'dx', input: tf.TensorInfo, h: tf.TensorInfo, out: tf.TensorInfo, B: number, T: number, C: number, L: number, runs: number): boolean {
  if (C < TILE_C) return false;
  const fwd = dir === 'fwd';
  if (blocks) {
    const E = longConvExamplesPerThread();
    dispatchTiled(fwd ? 'LongConvBlocks' : 'LongConvGradXBlocks', `rb_longconv_${dir}_blocks${E}`, blocksWgsl(dir, E), input, h, out, B, T, C, L, runs, REG_BLOCK, E);
  } else if (registers) {
    dispatchTiled(fwd ? 'LongConvReg' : 'LongConvGradXReg', `rb_longconv_${dir}_reg`, registerWgsl(dir), input, h, out, B, T, C, L, runs, REG_BLOCK);
  } else if (tiles) {
    dispatchTiled(fwd ? 'LongConvTiled' : 'LongConvGradXTiled', `rb_longconv_${dir}_tiled`, tiledWgsl(dir), input, h, out, B, T, C, L, runs, TILE_ROWS);
  } else return false;
  return true;
}

export const LONG_CONV_KERNEL = 'RecallbenchLongConv';
export const LONG_CONV_GRAD_KERNEL = 'RecallbenchLongConvGrad';

/** x [B, T, C] and h [C, Lh ≥ T] (one run) or [R, C, Lh] (a stack: R divides B). */
function sizes(x: tf.TensorInfo, h: tf.TensorInfo): { B: number; T: number; C: number; L: number; runs: number } {
  const r = h.shape.length;
  const runs = r === 3 ? h.shape[0]! : 1;
  if (x.shape.length !== 3 || (r !== 2 && r !== 3) || h.shape[r - 2] !== x.shape[2] || h.shape[r - 1]! < x.shape[1]! || runs < 1 || x.shape[0]! % runs !== 0)
    throw new Error(`${LONG_CONV_KERNEL}: expected x [B, T, C], h [C, Lh ≥ T] or [R, C, Lh] with R dividing B, got x [${x.shape}] h [${h.shape}]`);
  const [B, T, C] = x.shape as [number, number, number];
  return { B, T, C, L: h.shape[r - 1]!, runs };
}

let registered = false;

export function registerLongConvWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: LONG_CONV_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { x, h } = inputs as Record<string, tf.TensorInfo>;
      const { B, T, C, L, runs } = sizes(x!, h!);
      const n = B * T * C;
      const y = allocate(webgpuBackend(), x!.shape);
      if (!tiledPass('fwd', x!, h!, y, B, T, C, L, runs)) dispatch('LongConv', 'rb_longconv_fwd', forwardWgsl, [{ tensor: x! }, { tensor: h! }, { tensor: y, write: true }], [{ u: n }, { u: T }, { u: C }, { u: L }, { u: B / runs }], grid(Math.ceil(n / WG)));
      return y;
    },
  });
  tf.registerKernel({
    kernelName: LONG_CONV_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { x, h, dy } = inputs as Record<string, tf.TensorInfo>;
      const { B, T, C, L, runs } = sizes(x!, h!);
      const backend = webgpuBackend();
      const dx = allocate(backend, x!.shape);
      const dh = allocate(backend, h!.shape);
      const n = B * T * C;
      if (!tiledPass('dx', dy!, h!, dx, B, T, C, L, runs)) dispatch('LongConvGradX', 'rb_longconv_bx', inputGradWgsl, [{ tensor: dy! }, { tensor: h! }, { tensor: dx, write: true }], [{ u: n }, { u: T }, { u: C }, { u: L }, { u: B / runs }], grid(Math.ceil(n / WG)));
      const m = C * L;
      if ((blocks || registers) && C >= TILE_C) {
        const form = blocks ? 'blocks' : 'registers';
        const lanes = C * Math.ceil(L / DH_TAPS_OF[form]);
        const { groups, perGroup } = dhGroups(B / runs, C, L, form);
        const laneBlocks = Math.ceil((runs * lanes) / WG);
        const part = groups === 1 ? dh : allocate(backend, [groups, runs * m]);
        const [name, key, wgsl] = blocks ? ['LongConvGradHBlocks', 'rb_longconv_bh_blocks', filterGradBlocksWgsl] : ['LongConvGradHReg', 'rb_longconv_bh_reg', filterGradRegisterWgsl];
        dispatch(name, key, wgsl, [{ tensor: dy! }, { tensor: x! }, { tensor: part, write: true }], [{ u: lanes }, { u: B / runs }, { u: T }, { u: C }, { u: L }, { u: runs }, { u: laneBlocks }, { u: groups }, { u: perGroup }], grid(groups * laneBlocks));
        if (part !== dh) {
          dispatch('LongConvGradHGroups', 'rb_longconv_bh_groups', groupSumWgsl, [{ tensor: part }, { tensor: dh, write: true }], [{ u: runs * m }, { u: groups }], grid(Math.ceil((runs * m) / WG)));
          release(part);
        }
        return [dx, dh];
      }
      if (!tiles) {
        dispatch('LongConvGradH', 'rb_longconv_bh', filterGradWgsl, [{ tensor: dy! }, { tensor: x! }, { tensor: dh, write: true }], [{ u: m }, { u: B / runs }, { u: T }, { u: C }, { u: L }, { u: runs }], grid(Math.ceil((runs * m) / WG)));
        return [dx, dh];
      }
      const { groups, perGroup } = dhGroups(B / runs, C, L);
      const laneBlocks = Math.ceil((runs * m) / WG);
      const part = groups === 1 ? dh : allocate(backend, [groups, runs * m]);
      dispatch('LongConvGradHSplit', 'rb_longconv_bh_split', filterGradSplitWgsl, [{ tensor: dy! }, { tensor: x! }, { tensor: part, write: true }], [{ u: m }, { u: B / runs }, { u: T }, { u: C }, { u: L }, { u: runs }, { u: laneBlocks }, { u: groups }, { u: perGroup }], grid(groups * laneBlocks));
      if (part !== dh) {
        dispatch('LongConvGradHGroups', 'rb_longconv_bh_groups', groupSumWgsl, [{ tensor: part }, { tensor: dh, write: true }], [{ u: runs * m }, { u: groups }], grid(Math.ceil((runs * m) / WG)));
        release(part);
      }
      return [dx, dh];
    },
  });
}

const fused = tf.customGrad(((x: tf.Tensor3D, h: tf.Tensor2D | tf.Tensor3D, save: tf.GradSaveFunc) => {
  const y = tf.engine().runKernel(LONG_CONV_KERNEL, { x, h }) as tf.Tensor3D;
  save([x, h]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => {
      const [sx, sh] = saved as [tf.Tensor3D, tf.Tensor2D | tf.Tensor3D];
      return tf.engine().runKernel(LONG_CONV_GRAD_KERNEL, { x: sx, h: sh, dy }) as unknown as tf.Tensor[];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor3D, h: tf.Tensor2D | tf.Tensor3D) => tf.Tensor3D;

/**
 * Causal long convolution, fused (the fast form of ops/longConv's longConv): u [B, T, d], h [d, Lh] → y [B, T, d],
 * differentiable in u and h; a stack of R runs: h [R, d, Lh], u's examples runs outermost (R divides B). A filter of
 * Lh < T taps is zero beyond them: a short FIR with lever shortFilter, else padded to T. Undefined (declined: the op
 * runs its blocked form) for anything but float32 inputs of those shapes, or where a buffer would not fit the device
 * (fitsDevice). The blocked form's `chunk` is its tiling only: the function is the same.
 */
export function longConvWebGpu(u: tf.Tensor3D, h: tf.Tensor2D | tf.Tensor3D): tf.Tensor3D | undefined {
  if (u.rank !== 3 || (h.rank !== 2 && h.rank !== 3) || u.dtype !== 'float32' || h.dtype !== 'float32') return undefined;
  const [B, T, C] = u.shape;
  const runs = h.rank === 3 ? h.shape[0] : 1;
  const Lh = h.shape[h.rank - 1]!;
  if (h.shape[h.rank - 2] !== C || Lh < 1 || B * T * C === 0 || runs < 1 || B % runs !== 0) return undefined;
  if (Lh < T) {
    if (!fitsDevice(B * T * C, runs * C * T)) return undefined;
    return tf.tidy(() => {
      if (shortFilter && Lh <= WIDE_MAX_TAPS) {
        // the short convolution's weight w[j] multiplies x[t − (K−1) + j]: h with its taps reversed, channels last
        const weight = h.rank === 3 ? tf.reverse(tf.transpose(h, [0, 2, 1]), 1) : tf.reverse(tf.transpose(h), 0);
        const y = shortConvWebGpu(u, weight as tf.Tensor2D | tf.Tensor3D, undefined, { wide: true });
        if (y) return y;
      }
      return fused(u, tf.pad(h, [...(h.rank === 3 ? [[0, 0] as [number, number]] : []), [0, 0], [0, T - Lh]]) as tf.Tensor2D | tf.Tensor3D);
    });
  }
  if (!fitsDevice(B * T * C, runs * C * Lh)) return undefined;
  return fused(u, h);
}
