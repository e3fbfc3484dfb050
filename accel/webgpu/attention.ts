// Fused causal softmax attention (WebGPU), flash-style, forward and backward, with its own gradient: the fast form
// of ops/causalAttention. Per (batch·head), with s_{tj} = (q_t · k_j) · scale for j ≤ t, P = softmax_j(s), Pd = P ⊙
// M / (1 − r) (M: ops/dropout's hashed keep mask of the [B, H, T, T] weights, index (bh·T + t)·T + j; r = 0: none):
//
//   forward   o_t = Σ_{j ≤ t} Pd_{tj} v_j,   lse_t = log Σ_{j ≤ t} exp s_{tj}
//
// Backward, with D_t = do_t · o_t (= Σ_j Pd_{tj} (do_t · v_j): the softmax gradient's row sum, dropout included)
// and P recomputed from q, k and lse:
//   dp_{tj} = (do_t · v_j) M_{tj} / (1 − r),   ds_{tj} = P_{tj} (dp_{tj} − D_t)
//   dq_t = scale · Σ_{j ≤ t} ds_{tj} k_j        (pass 1: per query tile; writes D)
//   dk_j = scale · Σ_{t ≥ j} ds_{tj} q_t,   dv_j = Σ_{t ≥ j} Pd_{tj} do_t   (pass 2: per key tile, reads D)
//
// Every pass has the same shape. A workgroup owns a tile of BO rows of one (batch·head) — queries in the forward and
// pass 1, keys in pass 2 — held in workgroup memory, and streams the other side's rows through workgroup memory BS
// at a time, only the tiles on or below the diagonal (the upper triangle is skipped tile-wise, masked inside the
// diagonal tiles). Per streamed tile: (A) the BO × BS block of scores (and in the backward ds, Pd) is computed
// cooperatively, one entry per thread at a time, each a full d_h dot product from workgroup memory (rows padded to
// d_h + 1 floats, blocks to BS + 1: no bank conflicts), the dropout hash once per entry; (B, forward only) the
// online softmax: each thread reads its row's block for the running max and turns its share of the row into Pd;
// (C) each thread — G per own row, owning the columns g, g + G, … of d_h (SW = CAP/G of them: ≤ 16 floats of
// accumulator at d_h 256, 32 in pass 2) — accumulates its columns of block · streamed rows. So a thread holds no
// row of d_h, the grid has B·H·⌈T/BO⌉ workgroups of BO·G threads, and the tiles are sized from the device's
// workgroup storage limit (16 KiB unless it allows more; up to 48 KiB). Forward one dispatch, backward two, no
// atomics, each output written once. Every shape is a uniform; the pipeline key names CAP, BO, BS and whether
// dropout is on. Reference: causalAttentionNaive (ops/causalAttention).
import * as tf from '@tensorflow/tfjs';
import { lowbias32 } from '../../core/prng.js';
import { allocate, declare, dispatch, grid, MAX_WORKGROUP_BYTES, pow2AtLeast, release, webgpuBackend, workgroupStorageBytes } from './dispatch.js';
import { HASH32_WGSL } from './dropout.js';

export const ATTENTION_KERNEL = 'RecallbenchCausalAttention';
export const ATTENTION_GRAD_KERNEL = 'RecallbenchCausalAttentionGrad';

/** Largest head width handled; beyond it the op runs its reference. */
export const ATTENTION_MAX_DH = 256;
/** Own rows per workgroup at most (queries in the forward and pass 1, keys in pass 2). */
export const ATTENTION_BO = 16;
/** Streamed rows per tile at most. */
const MAX_BS = 32;

export type AttentionPass = 'fwd' | 'dq' | 'dkv';

/** A pass's tile constants: CAP ≥ d_h, G threads per own row each owning SW = CAP/G columns, BO own rows, BS streamed rows, NT = BO·G threads. */
export interface AttentionTiles {
  CAP: number;
  G: number;
  SW: number;
  BO: number;
  BS: number;
  NT: number;
}

/** Floats of workgroup memory a pass uses with these tiles (rows padded to CAP + 1, score blocks to BS + 1). */
function wgFloats(pass: AttentionPass, CAP: number, BO: number, BS: number): number {
  const row = CAP + 1;
  const block = BO * (BS + 1);
  const NT = BO * Math.min(16, CAP);
  if (pass === 'fwd') return BO * row + 2 * BS * row + 2 * block + NT; // q; k, v; scores, Pd; the final row-sum partials
  if (pass === 'dq') return 2 * BO * row + 2 * BS * row + block + 2 * BO; // q, dO; k, v; ds; lse, D
  return 2 * BO * row + 2 * BS * row + 2 * block + 2 * BS; // k, v; q, dO; Pd, ds; lse, D
}

/**
 * The tiles of `pass` at head width dh for a device allowing `wgBytes` of workgroup storage (exported for the
 * tests): the most own rows (≤ 16), then the most streamed rows (≤ 32), that fit.
 */
export function attentionTiles(pass: AttentionPass, dh: number, wgBytes = 16384): AttentionTiles {
  const CAP = pow2AtLeast(dh);
  const G = Math.min(16, CAP);
  const floats = Math.floor(Math.min(wgBytes, MAX_WORKGROUP_BYTES) / 4);
  for (let BO = ATTENTION_BO; BO >= 1; BO /= 2) {
    for (let BS = MAX_BS; BS >= 1; BS /= 2) if (wgFloats(pass, CAP, BO, BS) <= floats) return { CAP, G, SW: CAP / G, BO, BS, NT: BO * G };
  }
  throw new Error(`${ATTENTION_KERNEL}: no tiling of d_h ${dh} fits ${wgBytes} bytes of workgroup storage`);
}

let wgBytesCap: number | undefined;

/** Tile as if the device allowed at most `bytes` of workgroup storage (the tests' way to reach the small tilings); undefined: the device's limit. */
export function capAttentionWorkgroupBytes(bytes: number | undefined): void {
  wgBytesCap = bytes;
}


const HASH = `
${HASH32_WGSL}
// ops/dropout's keep mask of weight element idx, times 1/(1 − rate) (accel/webgpu/dropout.ts, same hash)
fn keepScale(idx: u32) -> f32 {
  let u = f32(hash32(idx + params.seedHash) >> 8u) / 16777216.0f;
  return select(0.0f, params.dropScale, u >= params.rate);
}`;

const COMMON_UNIFORMS = ['T: u32', 'dh: u32', 'tiles: u32', 'groups: u32', 'scale: f32', 'seedHash: u32', 'rate: f32', 'dropScale: f32'];

/**
 * Workgroup w → bh, its own tile's first row r0, base = bh·T (the row index of (bh, 0)); this thread's own row oi
 * (its row r = r0 + oi) and column phase g.
 */
const PROLOGUE = (t: AttentionTiles) => `
  let w = wg.y * nwg.x + wg.x;
  if (w >= params.groups) { return; }
  let T = params.T;
  let dh = params.dh;
  let P = dh + 1u;
  let bh = w / params.tiles;
  let base = bh * T;
  let r0 = (w % params.tiles) * ${t.BO}u;
  let oi = tid / ${t.G}u;
  let g = tid % ${t.G}u;
  let r = r0 + oi;`;

/** Load `rows` rows of the [BH·T, d_h] buffers srcs from row `first` into the padded tiles dsts (zero past T). */
const loadRows = (t: AttentionTiles, rows: number, first: string, srcs: string[], dsts: string[]) => `
  for (var x = tid; x < ${rows}u * dh; x += ${t.NT}u) {
    let i = x / dh;
    let c = x % dh;
    let s = ${first} + i;
${srcs.map((_, n) => `    var v${n} = 0.0f;`).join('\n')}
    if (s < T) {
      let gi = (base + s) * dh + c;
${srcs.map((src, n) => `      v${n} = ${src}[gi];`).join('\n')}
    }
${dsts.map((dst, n) => `    ${dst}[i * P + c] = v${n};`).join('\n')}
  }`;

const HEADER = (t: AttentionTiles) => `@compute @workgroup_size(${t.NT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {`;

const forwardWgsl = (t: AttentionTiles, drop: boolean) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'o', type: 'f32', write: true },
    { name: 'lse', type: 'f32', write: true },
  ],
  COMMON_UNIFORMS,
)}
${HASH}
var<workgroup> qs: array<f32, ${t.BO * (t.CAP + 1)}>;
var<workgroup> ks: array<f32, ${t.BS * (t.CAP + 1)}>;
var<workgroup> vs: array<f32, ${t.BS * (t.CAP + 1)}>;
var<workgroup> ss: array<f32, ${t.BO * (t.BS + 1)}>;
var<workgroup> ps: array<f32, ${t.BO * (t.BS + 1)}>;
var<workgroup> lsum: array<f32, ${t.NT}>;
${HEADER(t)}
  ${PROLOGUE(t)}
  ${loadRows(t, t.BO, 'r0', ['q'], ['qs'])}
  var acc: array<f32, ${t.SW}>;
  var m = -3.0e38f;
  var lg = 0.0f;  // this thread's share (columns j ≡ g mod G of each tile) of the row's Σ exp(s − m)
  let kEnd = min(T, r0 + ${t.BO}u);  // keys up to the tile's last query
  for (var s0 = 0u; s0 < kEnd; s0 += ${t.BS}u) {
    ${loadRows(t, t.BS, 's0', ['k', 'v'], ['ks', 'vs'])}
    workgroupBarrier();
    // (A) scores, −3e38 where masked (a key after the query, or past T)
    for (var e = tid; e < ${t.BO * t.BS}u; e += ${t.NT}u) {
      let i = e / ${t.BS}u;
      let j = e % ${t.BS}u;
      let s = s0 + j;
      var sc = -3.0e38f;
      if (s <= r0 + i && s < T) {
        let qb = i * P;
        let kb = j * P;
        var d = 0.0f;
        for (var c = 0u; c < dh; c++) { d += qs[qb + c] * ks[kb + c]; }
        sc = d * params.scale;
      }
      ss[i * ${t.BS + 1}u + j] = sc;
    }
    workgroupBarrier();
    // (B) online softmax: the row's new max (every thread of the row alike), rescale, this thread's share of Pd
    let rb = oi * ${t.BS + 1}u;
    var mt = m;
    for (var j = 0u; j < ${t.BS}u; j++) { mt = max(mt, ss[rb + j]); }
    let corr = exp(m - mt);
    lg *= corr;
    for (var n = 0u; n < ${t.SW}u; n++) { acc[n] *= corr; }
    m = mt;
    for (var j = g; j < ${t.BS}u; j += ${t.G}u) {
      let sc = ss[rb + j];
      var pd = 0.0f;
      if (sc > -1.0e38f) {
        let p = exp(sc - m);
        lg += p;
        pd = ${drop ? 'p * keepScale((base + r) * T + s0 + j)' : 'p'};
      }
      ps[rb + j] = pd;
    }
    workgroupBarrier();
    // (C) this thread's columns of Pd · v
    for (var j = 0u; j < ${t.BS}u; j++) {
      let pd = ps[rb + j];
      let vb = j * P + g;
      for (var n = 0u; n < ${t.SW}u; n++) { acc[n] += pd * vs[vb + n * ${t.G}u]; }
    }
    workgroupBarrier();
  }
  lsum[tid] = lg;
  workgroupBarrier();
  var l = 0.0f;
  for (var h = 0u; h < ${t.G}u; h++) { l += lsum[oi * ${t.G}u + h]; }
  if (r < T) {
    let inv = 1.0f / l;
    let ob = (base + r) * dh;
    for (var n = 0u; n < ${t.SW}u; n++) {
      let c = g + n * ${t.G}u;
      if (c < dh) { o[ob + c] = acc[n] * inv; }
    }
    if (g == 0u) { lse[base + r] = m + log(l); }
  }
}`;

// pass 1: dq and D, per query tile
const dqWgsl = (t: AttentionTiles, drop: boolean) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'o', type: 'f32' },
    { name: 'dO', type: 'f32' },
    { name: 'lse', type: 'f32' },
    { name: 'dq', type: 'f32', write: true },
    { name: 'D', type: 'f32', write: true },
  ],
  COMMON_UNIFORMS,
)}
${HASH}
var<workgroup> qs: array<f32, ${t.BO * (t.CAP + 1)}>;
var<workgroup> dos: array<f32, ${t.BO * (t.CAP + 1)}>;
var<workgroup> ks: array<f32, ${t.BS * (t.CAP + 1)}>;
var<workgroup> vs: array<f32, ${t.BS * (t.CAP + 1)}>;
var<workgroup> dss: array<f32, ${t.BO * (t.BS + 1)}>;
var<workgroup> ls: array<f32, ${t.BO}>;
var<workgroup> Ds: array<f32, ${t.BO}>;
${HEADER(t)}
  ${PROLOGUE(t)}
  ${loadRows(t, t.BO, 'r0', ['q', 'dO'], ['qs', 'dos'])}
  workgroupBarrier();
  for (var i = tid; i < ${t.BO}u; i += ${t.NT}u) {
    var Dt = 0.0f;
    var lt = 0.0f;
    let ri = r0 + i;
    if (ri < T) {
      let ob = (base + ri) * dh;
      for (var c = 0u; c < dh; c++) { Dt += dos[i * P + c] * o[ob + c]; }
      D[base + ri] = Dt;
      lt = lse[base + ri];
    }
    Ds[i] = Dt;
    ls[i] = lt;
  }
  var acc: array<f32, ${t.SW}>;
  let kEnd = min(T, r0 + ${t.BO}u);
  for (var s0 = 0u; s0 < kEnd; s0 += ${t.BS}u) {
    ${loadRows(t, t.BS, 's0', ['k', 'v'], ['ks', 'vs'])}
    workgroupBarrier();
    // (A) ds of each (query, key) entry; 0 where masked
    for (var e = tid; e < ${t.BO * t.BS}u; e += ${t.NT}u) {
      let i = e / ${t.BS}u;
      let j = e % ${t.BS}u;
      let s = s0 + j;
      var ds = 0.0f;
      if (s <= r0 + i && s < T) {
        let qb = i * P;
        let kb = j * P;
        var qk = 0.0f;
        var dp = 0.0f;
        for (var c = 0u; c < dh; c++) {
          qk += qs[qb + c] * ks[kb + c];
          dp += dos[qb + c] * vs[kb + c];
        }
        let p = exp(qk * params.scale - ls[i]);
        ds = p * (${drop ? 'dp * keepScale((base + r0 + i) * T + s)' : 'dp'} - Ds[i]);
      }
      dss[i * ${t.BS + 1}u + j] = ds;
    }
    workgroupBarrier();
    // (C) this thread's columns of ds · k
    let rb = oi * ${t.BS + 1}u;
    for (var j = 0u; j < ${t.BS}u; j++) {
      let ds = dss[rb + j];
      let kb = j * P + g;
      for (var n = 0u; n < ${t.SW}u; n++) { acc[n] += ds * ks[kb + n * ${t.G}u]; }
    }
    workgroupBarrier();
  }
  if (r < T) {
    let ob = (base + r) * dh;
    for (var n = 0u; n < ${t.SW}u; n++) {
      let c = g + n * ${t.G}u;
      if (c < dh) { dq[ob + c] = acc[n] * params.scale; }
    }
  }
}`;

// pass 2: dk and dv, per key tile (the own rows are keys; the queries t ≥ r0 stream through the tiles)
const dkvWgsl = (t: AttentionTiles, drop: boolean) => () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'dO', type: 'f32' },
    { name: 'lse', type: 'f32' },
    { name: 'D', type: 'f32' },
    { name: 'dk', type: 'f32', write: true },
    { name: 'dv', type: 'f32', write: true },
  ],
  COMMON_UNIFORMS,
)}
${HASH}
var<workgroup> ks: array<f32, ${t.BO * (t.CAP + 1)}>;
var<workgroup> vs: array<f32, ${t.BO * (t.CAP + 1)}>;
var<workgroup> qs: array<f32, ${t.BS * (t.CAP + 1)}>;
var<workgroup> dos: array<f32, ${t.BS * (t.CAP + 1)}>;
var<workgroup> pds: array<f32, ${t.BO * (t.BS + 1)}>;
var<workgroup> dss: array<f32, ${t.BO * (t.BS + 1)}>;
var<workgroup> ls: array<f32, ${t.BS}>;
var<workgroup> Ds: array<f32, ${t.BS}>;
${HEADER(t)}
  ${PROLOGUE(t)}
  ${loadRows(t, t.BO, 'r0', ['k', 'v'], ['ks', 'vs'])}
  var dka: array<f32, ${t.SW}>;
  var dva: array<f32, ${t.SW}>;
  for (var s0 = r0; s0 < T; s0 += ${t.BS}u) {
    ${loadRows(t, t.BS, 's0', ['q', 'dO'], ['qs', 'dos'])}
    for (var x = tid; x < ${t.BS}u; x += ${t.NT}u) {
      let s = s0 + x;
      var a = 0.0f;
      var b = 0.0f;
      if (s < T) {
        a = lse[base + s];
        b = D[base + s];
      }
      ls[x] = a;
      Ds[x] = b;
    }
    workgroupBarrier();
    // (A) Pd and ds of each (key, query) entry; 0 where masked (a query before the key, or past T)
    for (var e = tid; e < ${t.BO * t.BS}u; e += ${t.NT}u) {
      let i = e / ${t.BS}u;
      let j = e % ${t.BS}u;
      let s = s0 + j;
      let key = r0 + i;
      var pd = 0.0f;
      var ds = 0.0f;
      if (s >= key && s < T) {
        let kb = i * P;
        let qb = j * P;
        var qk = 0.0f;
        var dp = 0.0f;
        for (var c = 0u; c < dh; c++) {
          qk += qs[qb + c] * ks[kb + c];
          dp += dos[qb + c] * vs[kb + c];
        }
        let p = exp(qk * params.scale - ls[j]);
        ${drop ? 'let kp = keepScale((base + s) * T + key);' : 'let kp = 1.0f;'}
        pd = p * kp;
        ds = p * (dp * kp - Ds[j]);
      }
      pds[i * ${t.BS + 1}u + j] = pd;
      dss[i * ${t.BS + 1}u + j] = ds;
    }
    workgroupBarrier();
    // (C) this thread's columns of Pdᵀ · dO and dsᵀ · q
    let rb = oi * ${t.BS + 1}u;
    for (var j = 0u; j < ${t.BS}u; j++) {
      let pd = pds[rb + j];
      let ds = dss[rb + j];
      let qb = j * P + g;
      for (var n = 0u; n < ${t.SW}u; n++) {
        dva[n] += pd * dos[qb + n * ${t.G}u];
        dka[n] += ds * qs[qb + n * ${t.G}u];
      }
    }
    workgroupBarrier();
  }
  if (r < T) {
    let ob = (base + r) * dh;
    for (var n = 0u; n < ${t.SW}u; n++) {
      let c = g + n * ${t.G}u;
      if (c < dh) {
        dk[ob + c] = dka[n] * params.scale;
        dv[ob + c] = dva[n];
      }
    }
  }
}`;

/** Each pass's WGSL for these tiles (the tests read its workgroup arrays back against the tile budget). */
export const attentionWgsl = (pass: AttentionPass, t: AttentionTiles, drop = true): string => ({ fwd: forwardWgsl, dq: dqWgsl, dkv: dkvWgsl })[pass](t, drop)();

interface Attrs {
  scale: number;
  rate: number;
  seed: number;
}

function sizes(q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo): { BH: number; T: number; dh: number } {
  if (q.shape.length !== 4) throw new Error(`${ATTENTION_KERNEL}: expected q, k, v [B, H, T, d_h], got q [${q.shape}]`);
  if (k.shape.join() !== q.shape.join() || v.shape.join() !== q.shape.join()) throw new Error(`${ATTENTION_KERNEL}: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not match`);
  const [B, H, T, dh] = q.shape as [number, number, number, number];
  if (dh > ATTENTION_MAX_DH) throw new Error(`${ATTENTION_KERNEL}: d_h ${dh} > ${ATTENTION_MAX_DH}`);
  if (B * H * T * T >= 2 ** 32) throw new Error(`${ATTENTION_KERNEL}: B·H·T² = ${B * H * T * T} overflows the u32 dropout index`);
  return { BH: B * H, T, dh };
}

/** The uniforms every pass shares, in COMMON_UNIFORMS' order, for own tiles of BO rows. */
function uniforms(BH: number, T: number, dh: number, BO: number, a: Attrs) {
  const tiles = Math.ceil(T / BO);
  return [{ u: T }, { u: dh }, { u: tiles }, { u: BH * tiles }, { f: a.scale }, { u: lowbias32(a.seed >>> 0) }, { f: a.rate }, { f: a.rate > 0 ? 1 / (1 - a.rate) : 1 }];
}

/** Pipeline key of a pass: its tile constants and whether dropout is on. */
const key = (pass: AttentionPass, t: AttentionTiles, drop: boolean) => `rb_attn_${pass}_${t.CAP}_${t.BO}_${t.BS}${drop ? '_d' : ''}`;

let registered = false;

export function registerAttentionWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: ATTENTION_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v } = inputs as Record<string, tf.TensorInfo>;
      const a = attrs as unknown as Attrs;
      const { BH, T, dh } = sizes(q!, k!, v!);
      const t = attentionTiles('fwd', dh, workgroupStorageBytes(wgBytesCap));
      const drop = a.rate > 0;
      const backend = webgpuBackend();
      const o = allocate(backend, q!.shape);
      const lse = allocate(backend, q!.shape.slice(0, 3));
      dispatch('CausalAttention', key('fwd', t, drop), forwardWgsl(t, drop), [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: o, write: true }, { tensor: lse, write: true }], uniforms(BH, T, dh, t.BO, a), grid(BH * Math.ceil(T / t.BO)));
      return [o, lse];
    },
  });
  tf.registerKernel({
    kernelName: ATTENTION_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k, v, o, lse, dO } = inputs as Record<string, tf.TensorInfo>;
      const a = attrs as unknown as Attrs;
      const { BH, T, dh } = sizes(q!, k!, v!);
      const wgBytes = workgroupStorageBytes(wgBytesCap);
      const t1 = attentionTiles('dq', dh, wgBytes);
      const t2 = attentionTiles('dkv', dh, wgBytes);
      const drop = a.rate > 0;
      const backend = webgpuBackend();
      const dq = allocate(backend, q!.shape);
      const dk = allocate(backend, q!.shape);
      const dv = allocate(backend, q!.shape);
      const D = allocate(backend, q!.shape.slice(0, 3));
      dispatch('CausalAttentionGradQ', key('dq', t1, drop), dqWgsl(t1, drop), [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: o! }, { tensor: dO! }, { tensor: lse! }, { tensor: dq, write: true }, { tensor: D, write: true }], uniforms(BH, T, dh, t1.BO, a), grid(BH * Math.ceil(T / t1.BO)));
      dispatch('CausalAttentionGradKV', key('dkv', t2, drop), dkvWgsl(t2, drop), [{ tensor: q! }, { tensor: k! }, { tensor: v! }, { tensor: dO! }, { tensor: lse! }, { tensor: D }, { tensor: dk, write: true }, { tensor: dv, write: true }], uniforms(BH, T, dh, t2.BO, a), grid(BH * Math.ceil(T / t2.BO)));
      release(D);
      return [dq, dk, dv];
    },
  });
}

/** o and lse of the fused forward (tests read lse against the reference's log-sum-exp). */
export function causalAttentionForwardWebGpu(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, rate = 0, seed = 0): [tf.Tensor4D, tf.Tensor3D] {
  return tf.engine().runKernel(ATTENTION_KERNEL, { q, k, v }, { scale, rate, seed } as unknown as tf.NamedAttrMap) as unknown as [tf.Tensor4D, tf.Tensor3D];
}

/**
 * Causal softmax attention, fused (the fast form of ops/causalAttention): q, k, v [B, H, T, d_h] → o [B, H, T, d_h]
 * with its own gradient in q, k, v; dropout at `rate` with ops/dropout's hashed mask of `seed`. Undefined
 * (declined: the op runs its reference) past d_h = ATTENTION_MAX_DH, for q, k, v of different shapes or not f32,
 * or past 2³² attention weights (the dropout index is a u32).
 */
export function causalAttentionWebGpu(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, rate: number, seed: number): tf.Tensor4D | undefined {
  const [B, H, T, dh] = q.shape;
  if (dh > ATTENTION_MAX_DH || k.shape.join() !== q.shape.join() || v.shape.join() !== q.shape.join() || B * H * T * T >= 2 ** 32) return undefined;
  if (q.dtype !== 'float32' || k.dtype !== 'float32' || v.dtype !== 'float32') return undefined;
  const attrs = { scale, rate, seed } as unknown as tf.NamedAttrMap;
  const f = tf.customGrad(((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, save: tf.GradSaveFunc) => {
    const [o, lse] = tf.engine().runKernel(ATTENTION_KERNEL, { q: qi, k: ki, v: vi }, attrs) as unknown as [tf.Tensor, tf.Tensor];
    save([qi, ki, vi, o, lse]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, so, slse] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { q: sq, k: sk, v: sv, o: so, lse: slse, dO: dy }, attrs) as unknown as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor;
  return f(q, k, v) as tf.Tensor4D;
}
