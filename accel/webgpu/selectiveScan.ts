// Fused selective scan (Mamba-1, WebGPU), forward and backward, with its own gradient: the fast form of
// ops/selectiveScan. Inputs x, Δ [B, T, E] (Δ softplus'ed), A [E, N] (negative), B, C [B, T, N]; per lane (b, e):
//
//   forward   a_t[n] = exp(Δ_t A[e, n]),   h_t[n] = a_t[n] h_{t−1}[n] + Δ_t x_t B_t[n]   (h_{−1} = 0),   y_t = Σ_n C_t[n] h_t[n]
//
// mamba_ssm's selective_scan (csrc/selective_scan, reference selective_scan_ref) without the D skip and the z
// gate, which stay in architectures/mamba.ts. The blocked reference (ops/selectiveScan/blocked.ts) builds
// exp(Δ A) and (Δ x) Bᵀ as [B, T, E, N] tensors, scans them and reads h_t out with a matmul — four tensors of
// B·T·E·N floats and their gradients (268 MB each at B64 T256 E256 N16); here h[N] lives in one thread's private
// array for the whole walk and nothing of size B·T·E·N is written. One thread per (b, e) lane; a workgroup holds
// WG consecutive channels e of one batch row, so B_t and C_t (shared by every e of the row) are staged in
// workgroup memory a tile of steps at a time. One dispatch forward.
//
// Backward, per lane, reverse time, carrying dh = dL/dh_t (dh_T = 0):
//   dh += dy_t C_t;   dC_t = dy_t h_t;   dB_t = dh Δ_t x_t;   dx_t = Δ_t Σ_n dh B_t;   dΔ_t = Σ_n dh (A a_t h_{t−1} + x_t B_t)
//   dA[e, n] += dh Δ_t a_t h_{t−1};   dh ← a_t ⊙ dh
// dx, dΔ are per lane; dA is summed over time in the thread and written per (b, e, n) (tfjs sums the batch — per
// run for a stack of R runs, whose A [R, E, N] each lane reads at its example's run, examples run-major);
// dB_t, dC_t [N] are sums over e: each thread writes its 2N terms into a workgroup tile and the tile is summed per
// column (two barriers per step); E wider than one workgroup leaves one partial per block of channels, summed by
// tfjs (as accel/webgpu/deltaRule.ts). h_{t−1} is recomputed, not stored: the forward keeps h every
// C = ⌈√T⌉ steps and the backward, chunk by chunk from the end, replays the chunk from its checkpoint into a
// scratch buffer (C states of N floats per lane) and walks it back. Inverting the step (h_{t−1} = (h_t − Δ x B)/a_t)
// would divide by a vanishing a_t (Δ A ≪ 0). B and C travel as one tensor [B, T, 2N] (the backward uses all 8
// storage buffers). Every shape is a uniform; the key names only CAP and the tiles. Reference: selectiveScanNaive.
//
// Lever `selectiveScanRegisters` (N ≤ SCAN_REGISTERS_MAX_N): the same kernels with N a constant of the shader and every
// loop over the state unrolled here, in TypeScript, into named scalars (h0, h1, …). The loops above run to the uniform
// N, so h[], a[] (forward) and a[], hp[], dh[], da[] (backward) are indexed by a value the compiler cannot know and live in per-thread local memory — a
// round trip through the cache for each of the ~6 state reads and writes per step and state. Unrolled, they are
// registers. The arithmetic is the same, in the same order; one pipeline per N (Mamba's N is 8 to 24).
import * as tf from '@tensorflow/tfjs';
import { allocate, checkpointInterval, checkpointShape, checkpointStore, chunkReplay, columnBlockSums, declare, dispatch, fitsDevice, grid, pow2AtLeast, release, sumOfSlices, swizzleFn, swizzleKey, unrolled, webgpuBackend } from './dispatch.js';

export const SELECTIVE_SCAN_KERNEL = 'RecallbenchSelectiveScan';
export const SELECTIVE_SCAN_GRAD_KERNEL = 'RecallbenchSelectiveScanGrad';

/** Channels per forward workgroup. */
const WG = 64;
/** Floats of workgroup memory a tile may use (WebGPU's guaranteed 16 KiB). */
const TILE_FLOATS = 4096;
/** Largest N handled (CAP 256: a backward tile of 8 channels); beyond it the op runs its blocked form. */
export const SELECTIVE_SCAN_MAX_N = 256;

/** Private state capacity, forward steps per staged tile and backward channels per workgroup for N (exported for the tests). */
export function tiling(N: number): { CAP: number; STEPS: number; LANES: number } {
  const CAP = pow2AtLeast(N);
  const STEPS = Math.min(64, Math.floor(TILE_FLOATS / (2 * CAP)));
  const LANES = Math.min(64, 2 ** Math.floor(Math.log2(TILE_FLOATS / (2 * CAP))));
  return { CAP, STEPS, LANES };
}

const forwardWgsl = (CAP: number, STEPS: number) => () => `
${declare(
  [
    { name: 'x', type: 'f32' },
    { name: 'dt', type: 'f32' },
    { name: 'A', type: 'f32' },
    { name: 'bc', type: 'f32' },
    { name: 'y', type: 'f32', write: true },
    { name: 'ckpt', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'E: u32', 'N: u32', 'C: u32', 'blocks: u32', 'groups: u32', 'perRun: u32'],
)}
var<workgroup> tile: array<f32, ${STEPS * 2 * CAP}>;  // [B_t; C_t] of STEPS steps
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let N = params.N;
  let R = 2u * N;
  let b = w / params.blocks;
  let e = (w % params.blocks) * ${WG}u + tid;
  let valid = e < params.E;
  let lane = b * params.E + e;
  var h: array<f32, ${CAP}>;  // h_t[e, :] (zero-initialised)
  var a: array<f32, ${CAP}>;  // A[e, :] of this example's run
  if (valid) {
    let ar = ((b / params.perRun) * params.E + e) * N;
    for (var n = 0u; n < N; n++) { a[n] = A[ar + n]; }
  }
  for (var t0 = 0u; t0 < params.T; t0 += ${STEPS}u) {
    let t1 = min(params.T, t0 + ${STEPS}u);
    let base = (b * params.T + t0) * R;
    workgroupBarrier();
    for (var i = tid; i < (t1 - t0) * R; i += ${WG}u) { tile[i] = bc[base + i]; }
    workgroupBarrier();
    if (valid) {
      for (var t = t0; t < t1; t++) {
${checkpointStore({ state: 'h', rows: 'N', index: 'n' }, '        ', 'cb')}
        let i = (b * params.T + t) * params.E + e;
        let d = dt[i];
        let dx = d * x[i];
        let s = (t - t0) * R;
        var acc = 0.0f;
        for (var n = 0u; n < N; n++) {
          let hn = exp(d * a[n]) * h[n] + dx * tile[s + n];
          h[n] = hn;
          acc += hn * tile[s + N + n];
        }
        y[i] = acc;
      }
    }
  }
}`;

// grads = [dx (B·T·E) ; dΔ (B·T·E) ; dA per batch row (E·N·B, b fastest) ; partials (blocks, B·T, 2N: dB, dC)]
const backwardWgsl = (CAP: number, LANES: number) => () => `
${declare(
  [
    { name: 'x', type: 'f32' },
    { name: 'dt', type: 'f32' },
    { name: 'A', type: 'f32' },
    { name: 'bc', type: 'f32' },
    { name: 'dy', type: 'f32' },
    { name: 'ckpt', type: 'f32' },
    { name: 'grads', type: 'f32', write: true },
    { name: 'scratch', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'E: u32', 'N: u32', 'C: u32', 'blocks: u32', 'groups: u32', 'batch: u32', 'perRun: u32'],
)}
var<workgroup> red: array<f32, ${2 * CAP * LANES}>;
${swizzleFn('redAt', LANES)}
@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let N = params.N;
  let R = 2u * N;
  let b = w / params.blocks;
  let blk = w % params.blocks;
  let e = blk * ${LANES}u + tid;
  let valid = e < params.E;
  let lane = b * params.E + e;
  let dABase = 2u * params.lanes * params.T;
  let partBase = dABase + params.lanes * N + blk * params.batch * params.T * R;
  var a: array<f32, ${CAP}>;   // A[e, :] of this example's run
  var hp: array<f32, ${CAP}>;  // h_{t−1} (replay)
  var dh: array<f32, ${CAP}>;  // dL/dh_t
  var da: array<f32, ${CAP}>;  // dA[e, :] of this batch row, summed over time
  if (valid) {
    let ar = ((b / params.perRun) * params.E + e) * N;
    for (var n = 0u; n < N; n++) { a[n] = A[ar + n]; }
  }
${chunkReplay({ state: 'hp', rows: 'N', index: 'n' }, 'h')}
        let i = (b * params.T + t) * params.E + e;
        let d = dt[i];
        let dx = d * x[i];
        let rb = (b * params.T + t) * R;
        for (var n = 0u; n < N; n++) { hp[n] = exp(d * a[n]) * hp[n] + dx * bc[rb + n]; }
      }
    }
    for (var tt = t1; tt > t0; tt--) {
      let t = tt - 1u;
      let row = b * params.T + t;
      if (valid) {
        let i = row * params.E + e;
        let d = dt[i];
        let xv = x[i];
        let g = dy[i];
        let dx = d * xv;
        let rb = row * R;
        let sb = (t - t0) * N;
        var dd = 0.0f;
        var dxs = 0.0f;
        for (var n = 0u; n < N; n++) {
          let hpn = scratch[(sb + n) * params.lanes + lane];
          let an = exp(d * a[n]);
          let bn = bc[rb + n];
          let dhn = dh[n] + g * bc[rb + N + n];
          red[redAt(N + n, tid)] = g * (an * hpn + dx * bn);
          red[redAt(n, tid)] = dhn * dx;
          dd += dhn * (a[n] * an * hpn + xv * bn);
          dxs += dhn * bn;
          da[n] += dhn * d * an * hpn;
          dh[n] = an * dhn;
        }
        grads[i] = d * dxs;
        grads[params.lanes * params.T + i] = dd;
${columnBlockSums(LANES, 'r', 'm')}
    }
  }
  if (valid) {
    for (var n = 0u; n < N; n++) { grads[dABase + (e * N + n) * params.batch + b] = da[n]; }
  }
}`;

/** Largest N of the register form (lever selectiveScanRegisters): 4N floats of state a backward thread, in registers. */
export const SCAN_REGISTERS_MAX_N = 32;

// The forward of the register form: forwardWgsl with N constant, h and a as scalars h0…, a0…. An idle lane (e ≥ E)
// reads the last channel's A so that every read is in range; it writes nothing.
const forwardRegistersWgsl = (N: number, STEPS: number) => () => `
${declare(
  [
    { name: 'x', type: 'f32' },
    { name: 'dt', type: 'f32' },
    { name: 'A', type: 'f32' },
    { name: 'bc', type: 'f32' },
    { name: 'y', type: 'f32', write: true },
    { name: 'ckpt', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'E: u32', 'N: u32', 'C: u32', 'blocks: u32', 'groups: u32', 'perRun: u32'],
)}
var<workgroup> tile: array<f32, ${STEPS * 2 * N}>;  // [B_t; C_t] of STEPS steps
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let R = ${2 * N}u;
  let b = w / params.blocks;
  let e = (w % params.blocks) * ${WG}u + tid;
  let valid = e < params.E;
  let lane = b * params.E + e;
  let ar = ((b / params.perRun) * params.E + min(e, params.E - 1u)) * ${N}u;
${unrolled(N, (n) => `let a${n} = A[ar + ${n}u];`, '  ')}
${unrolled(N, (n) => `var h${n} = 0.0f;`, '  ')}
  for (var t0 = 0u; t0 < params.T; t0 += ${STEPS}u) {
    let t1 = min(params.T, t0 + ${STEPS}u);
    let base = (b * params.T + t0) * R;
    workgroupBarrier();
    for (var i = tid; i < (t1 - t0) * R; i += ${WG}u) { tile[i] = bc[base + i]; }
    workgroupBarrier();
    if (valid) {
      for (var t = t0; t < t1; t++) {
${checkpointStore({ state: 'h', rows: N }, '        ', 'cb')}
        let i = (b * params.T + t) * params.E + e;
        let d = dt[i];
        let dx = d * x[i];
        let s = (t - t0) * R;
        var acc = 0.0f;
${unrolled(N, (n) => `h${n} = exp(d * a${n}) * h${n} + dx * tile[s + ${n}u]; acc += h${n} * tile[s + ${N + n}u];`, '        ')}
        y[i] = acc;
      }
    }
  }
}`;

// The backward of the register form: backwardWgsl with N constant and a, hp, dh, da as scalars; the replay's scratch
// and the dB, dC reduction as there.
const backwardRegistersWgsl = (N: number, LANES: number) => () => `
${declare(
  [
    { name: 'x', type: 'f32' },
    { name: 'dt', type: 'f32' },
    { name: 'A', type: 'f32' },
    { name: 'bc', type: 'f32' },
    { name: 'dy', type: 'f32' },
    { name: 'ckpt', type: 'f32' },
    { name: 'grads', type: 'f32', write: true },
    { name: 'scratch', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'E: u32', 'N: u32', 'C: u32', 'blocks: u32', 'groups: u32', 'batch: u32', 'perRun: u32'],
)}
var<workgroup> red: array<f32, ${2 * N * LANES}>;
${swizzleFn('redAt', LANES)}
@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let R = ${2 * N}u;
  let b = w / params.blocks;
  let blk = w % params.blocks;
  let e = blk * ${LANES}u + tid;
  let valid = e < params.E;
  let lane = b * params.E + e;
  let dABase = 2u * params.lanes * params.T;
  let partBase = dABase + params.lanes * ${N}u + blk * params.batch * params.T * R;
  let ar = ((b / params.perRun) * params.E + min(e, params.E - 1u)) * ${N}u;
${unrolled(N, (n) => `let a${n} = A[ar + ${n}u];`, '  ')}
${unrolled(N, (n) => `var hp${n} = 0.0f; var dh${n} = 0.0f; var da${n} = 0.0f;`, '  ')}
${chunkReplay({ state: 'hp', rows: N }, 'h')}
        let i = (b * params.T + t) * params.E + e;
        let d = dt[i];
        let dx = d * x[i];
        let rb = (b * params.T + t) * R;
${unrolled(N, (n) => `hp${n} = exp(d * a${n}) * hp${n} + dx * bc[rb + ${n}u];`, '        ')}
      }
    }
    for (var tt = t1; tt > t0; tt--) {
      let t = tt - 1u;
      let row = b * params.T + t;
      if (valid) {
        let i = row * params.E + e;
        let d = dt[i];
        let xv = x[i];
        let g = dy[i];
        let dx = d * xv;
        let rb = row * R;
        let sb = (t - t0) * ${N}u;
        var dd = 0.0f;
        var dxs = 0.0f;
${unrolled(N, (n) => `{
          let hpn = scratch[(sb + ${n}u) * params.lanes + lane];
          let an = exp(d * a${n});
          let bn = bc[rb + ${n}u];
          let dhn = dh${n} + g * bc[rb + ${N + n}u];
          red[redAt(${N + n}u, tid)] = g * (an * hpn + dx * bn);
          red[redAt(${n}u, tid)] = dhn * dx;
          dd += dhn * (a${n} * an * hpn + xv * bn);
          dxs += dhn * bn;
          da${n} += dhn * d * an * hpn;
          dh${n} = an * dhn;
        }`, '        ')}
        grads[i] = d * dxs;
        grads[params.lanes * params.T + i] = dd;
${columnBlockSums(LANES, 'r', 'm')}
    }
  }
  if (valid) {
${unrolled(N, (n) => `grads[dABase + (e * ${N}u + ${n}u) * params.batch + b] = da${n};`, '    ')}
  }
}`;

let registers = false;
/** Lever selectiveScanRegisters: the register form for N ≤ SCAN_REGISTERS_MAX_N (on), or the loops over a uniform N (off). */
export function setSelectiveScanRegisters(on: boolean): void {
  registers = on;
}

/** Which form of the kernels runs for state size N: 'registers' (lever on, N ≤ SCAN_REGISTERS_MAX_N) or 'loops'. */
export function selectiveScanForm(N: number): 'registers' | 'loops' {
  return registers && N <= SCAN_REGISTERS_MAX_N ? 'registers' : 'loops';
}

interface Sizes {
  B: number;
  T: number;
  E: number;
  N: number;
  /** Runs of a stack (A [R, E, N]; 1 for A [E, N]): each run's B/R examples, run-major, decay by their run's A. */
  R: number;
}

function sizes(x: tf.TensorInfo, dt: tf.TensorInfo, A: tf.TensorInfo, bc: tf.TensorInfo): Sizes {
  if (x.shape.length !== 3 || (A.shape.length !== 2 && A.shape.length !== 3) || bc.shape.length !== 3) throw new Error(`${SELECTIVE_SCAN_KERNEL}: expected x, Δ [B, T, E], A [E, N] or [R, E, N], BC [B, T, 2N], got x [${x.shape}] A [${A.shape}] BC [${bc.shape}]`);
  const [B, T, E] = x.shape as [number, number, number];
  const R = A.shape.length === 3 ? A.shape[0]! : 1;
  const N = A.shape[A.shape.length - 1]!;
  if (dt.shape.join() !== x.shape.join() || A.shape[A.shape.length - 2] !== E || B % R !== 0 || bc.shape.join() !== [B, T, 2 * N].join()) throw new Error(`${SELECTIVE_SCAN_KERNEL}: x [${x.shape}], Δ [${dt.shape}], A [${A.shape}], BC [${bc.shape}] do not match`);
  if (N > SELECTIVE_SCAN_MAX_N) throw new Error(`${SELECTIVE_SCAN_KERNEL}: N ${N} > ${SELECTIVE_SCAN_MAX_N}`);
  return { B, T, E, N, R };
}



/** Floats of the backward's output buffer (dx, dΔ, dA per batch row, then the channel blocks' dB, dC partials). */
export const gradsSize = (B: number, T: number, E: number, N: number) => 2 * B * T * E + E * N * B + Math.ceil(E / tiling(N).LANES) * B * T * 2 * N;

let registered = false;

export function registerSelectiveScanWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: SELECTIVE_SCAN_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { x, dt, A, bc } = inputs as Record<string, tf.TensorInfo>;
      const { B, T, E, N, R } = sizes(x!, dt!, A!, bc!);
      const { CAP, STEPS } = tiling(N);
      const C = checkpointInterval(T);
      const lanes = B * E;
      const blocks = Math.ceil(E / WG);
      const backend = webgpuBackend();
      const y = allocate(backend, x!.shape);
      const ckpt = allocate(backend, checkpointShape(T, N, B * E));
      const regs = selectiveScanForm(N) === 'registers';
      dispatch(
        regs ? 'SelectiveScanRegisters' : 'SelectiveScan',
        regs ? `rb_sscan_fwd_r${N}_${STEPS}` : `rb_sscan_fwd_${CAP}_${STEPS}`,
        regs ? forwardRegistersWgsl(N, STEPS) : forwardWgsl(CAP, STEPS),
        [{ tensor: x! }, { tensor: dt! }, { tensor: A! }, { tensor: bc! }, { tensor: y, write: true }, { tensor: ckpt, write: true }],
        [{ u: lanes }, { u: T }, { u: E }, { u: N }, { u: C }, { u: blocks }, { u: B * blocks }, { u: B / R }],
        grid(B * blocks),
      );
      return [y, ckpt];
    },
  });
  tf.registerKernel({
    kernelName: SELECTIVE_SCAN_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { x, dt, A, bc, dy, ckpt } = inputs as Record<string, tf.TensorInfo>;
      const { B, T, E, N, R } = sizes(x!, dt!, A!, bc!);
      const { CAP, LANES } = tiling(N);
      const C = checkpointInterval(T);
      const lanes = B * E;
      const blocks = Math.ceil(E / LANES);
      const backend = webgpuBackend();
      const grads = allocate(backend, [gradsSize(B, T, E, N)]);
      const scratch = allocate(backend, [C, N, lanes]);
      const regs = selectiveScanForm(N) === 'registers';
      dispatch(
        regs ? 'SelectiveScanRegistersGrad' : 'SelectiveScanGrad',
        regs ? `rb_sscan_bwd_r${N}_${LANES}${swizzleKey()}` : `rb_sscan_bwd_${CAP}_${LANES}${swizzleKey()}`,
        regs ? backwardRegistersWgsl(N, LANES) : backwardWgsl(CAP, LANES),
        [{ tensor: x! }, { tensor: dt! }, { tensor: A! }, { tensor: bc! }, { tensor: dy! }, { tensor: ckpt! }, { tensor: grads, write: true }, { tensor: scratch, write: true }],
        [{ u: lanes }, { u: T }, { u: E }, { u: N }, { u: C }, { u: blocks }, { u: B * blocks }, { u: B }, { u: B / R }],
        grid(B * blocks),
      );
      release(scratch);
      return grads;
    },
  });
}

/** Split the backward's one buffer into dx, dΔ, dA, dB and dC (dA summed over each run's examples, the blocks' partials summed). */
function splitGrads(grads: tf.Tensor, s: Sizes): tf.Tensor[] {
  const { B, T, E, N, R } = s;
  const rows = B * T * E;
  const blocks = Math.ceil(E / tiling(N).LANES);
  const dX = grads.slice([0], [rows]).reshape([B, T, E]);
  const dDt = grads.slice([rows], [rows]).reshape([B, T, E]);
  const dAPerRow = grads.slice([2 * rows], [E * N * B]);
  const dA = R === 1 ? tf.sum(dAPerRow.reshape([E * N, B]), 1).reshape([E, N]) : tf.sum(dAPerRow.reshape([E * N, R, B / R]), 2).transpose().reshape([R, E, N]);
  const flat = grads.slice([2 * rows + E * N * B], [blocks * B * T * 2 * N]);
  const parts = sumOfSlices(flat, blocks); // the column blocks' partials (dispatch.ts says why not tf.sum / one addN)
  const [dB, dC] = tf.split(parts.reshape([B, T, 2 * N]), 2, 2);
  return [dX, dDt, dA, dB!, dC!];
}

const withGrad = tf.customGrad(((x: tf.Tensor, dt: tf.Tensor, A: tf.Tensor, B: tf.Tensor, C: tf.Tensor, save: tf.GradSaveFunc) => {
  const bc = tf.concat([B, C], 2); // [B, T, 2N]: one binding for B and C
  const [y, ckpt] = tf.engine().runKernel(SELECTIVE_SCAN_KERNEL, { x, dt, A, bc }) as unknown as [tf.Tensor, tf.Tensor];
  save([x, dt, A, bc, ckpt]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sdt, sA, sbc, sckpt] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      const grads = tf.engine().runKernel(SELECTIVE_SCAN_GRAD_KERNEL, { x: sx, dt: sdt, A: sA, bc: sbc, dy, ckpt: sckpt }) as tf.Tensor;
      return splitGrads(grads, sizes(sx, sdt, sA, sbc));
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, dt: tf.Tensor, A: tf.Tensor, B: tf.Tensor, C: tf.Tensor) => tf.Tensor;

/**
 * The selective scan, fused (the fast form of ops/selectiveScan): x, Δ [B, T, E], A [E, N] — or a stack's [R, E, N],
 * each run's B/R examples (run-major) with their own — B, C [B, T, N] → y [B, T, E]; undefined (declined: the op runs its blocked form) past N = SELECTIVE_SCAN_MAX_N or past the device's
 * buffer limits.
 */
export function selectiveScanWebGpu(x: tf.Tensor3D, dt: tf.Tensor3D, A: tf.Tensor2D | tf.Tensor3D, B: tf.Tensor3D, C: tf.Tensor3D): tf.Tensor3D | undefined {
  const [batch, T, E] = x.shape;
  const N = A.shape[A.rank - 1]!;
  if (N > SELECTIVE_SCAN_MAX_N) return undefined;
  // the checkpoints, the backward's scratch and its gradients within the device's buffer limits
  if (!fitsDevice(tf.util.sizeFromShape(checkpointShape(T, N, batch * E)), checkpointInterval(T) * N * batch * E, gradsSize(batch, T, E, N))) return undefined;
  return withGrad(x, dt, A, B, C) as tf.Tensor3D;
}
