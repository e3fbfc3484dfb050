// RWKV-7's per-token parts around its recurrence (WebGPU), forward and backward: the fast forms of ops/rwkv7Token
// (lever `rwkv7Token`). One workgroup per (token, head), its threads striding over the head's d_k channels
// (c = h·d_k + i) so that neighbouring threads read and write neighbouring floats, the head's sums (κ's norm, the
// bonus β, their gradients' Σ dκ κ and Σ u v) as workgroup reductions. (The first form, one thread per (token, head)
// walking its channels, read 64 floats apart between neighbours and added GPU time on an H200: 13.7 → 16.1 ms a
// step at B64, 35.6 → 50.0 at B256 — bench/RESULTS.md "rwkv7Token and savedViews timed on an H200".)
//
//   keys    w = −e^{−½} σ(wl),  α = σ(al),  k = k0 (1 + (α − 1) k_a),  κ = k0 k_k / √(Σ_i (k0 k_k)² + ε),
//           a = −κ,  b = κ α — written side by side [.., H, 4·d_k] and split after (tf.customGrad takes one output)
//   output  β = Σ_i r_i k_i r_k,i,  y = (o + β v) g
//
// Backward, from the outputs' gradients gw, gk, ga, gb (keys) and gy (output):
//   keys    dwl = −e^{−½} gw σ_w(1 − σ_w);  dα = gk k0 k_a + gb κ;  dal = dα α(1 − α);  dκ = −ga + gb α;
//           dkk = (dκ − κ Σ_j dκ_j κ_j) / √(Σkk² + ε);  dk0 = gk (1 + (α − 1) k_a) + dkk k_k;
//           per-token shares of dk_k = dkk k0 and dk_a = gk k0 (α − 1), summed over tokens after
//   output  u = gy g;  do = u;  dv = β u;  dg = gy (o + β v);  dβ = Σ_i u_i v_i;  dr = dβ k r_k;  dk = dβ r r_k;
//           per-token share of dr_k = dβ r k, summed over tokens after
// each gradient kernel writing its outputs side by side ([.., H, 5·d_k], [.., H, 6·d_k]: WebGPU's 8 storage buffers a
// stage), split after. In place of tfjs's Sigmoids, Multiplies, Adds, Subs, Negs, the L2 norm and the bonus's Sum and
// their gradients' ~50 kernels a layer. Sums over a head run in channel order; the reference's ops round differently
// (tests/webgpu-rwkv7Token.test.ts: within float32 rounding). Reference: ops/rwkv7Token/naive.ts.
import * as tf from '@tensorflow/tfjs';
import { L2_NORM_EPS } from '../../ops/rmsNorm/index.js';
import { RWKV7_DECAY_SCALE, type Rwkv7Keys } from '../../ops/rwkv7Token/index.js';
import { allocate, declare, dispatch, fitsDevice, grid, kernelWithGrad, webgpuBackend } from './dispatch.js';

/** Threads of a row's workgroup: they stride over the head's d_k channels, neighbours on neighbouring floats. */
const RW = 64;
const UNIFORMS = ['n: u32', 'H: u32', 'dk: u32', 'eps: f32', 'scale: f32'];
const f32s = (names: string[], write = false) => names.map((name) => ({ name, type: 'f32', write }));
const SIGMOID = 'fn sigmoid(v: f32) -> f32 { return 1.0f / (1.0f + exp(-v)); }';
// a sum over the head's channels: each thread's partial, then a tree in workgroup memory; every thread gets the total
// (called by the whole workgroup: its barriers need uniform control flow, which a row's early return keeps)
const TOTAL = `var<workgroup> red: array<f32, ${RW}>;
fn total(tid: u32, partial: f32) -> f32 {
  red[tid] = partial;
  workgroupBarrier();
  for (var s = ${RW / 2}u; s > 0u; s = s >> 1u) {
    if (tid < s) { red[tid] += red[tid + s]; }
    workgroupBarrier();
  }
  let sum = red[0];
  workgroupBarrier();
  return sum;
}`;
// workgroup e = (token, head): its channels start at base in a [.., d] tensor, at hb in a per-channel [d] one; thread
// tid takes channels tid, tid + RW, …
const ROW_MAIN = `@compute @workgroup_size(${RW})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let e = wg.y * nwg.x + wg.x;
  if (e >= params.n) { return; }
  let dk = params.dk;
  let h = e % params.H;
  let base = e * dk;
  let hb = h * dk;`;
const CHANNELS = `for (var i = tid; i < dk; i += ${RW}u)`;
// the removal key's squared norm, as 1 / √(Σkk² + ε)
const INV_NORM = `var ss = 0.0f;
  ${CHANNELS} { let kk = k0[base + i] * kK[hb + i]; ss += kk * kk; }
  let inv = 1.0f / sqrt(total(tid, ss) + params.eps);`;

const keysWgsl = () => `
${declare([...f32s(['wl', 'al', 'k0', 'kK', 'kA']), ...f32s(['out'], true)], UNIFORMS)}
${SIGMOID}
${TOTAL}
${ROW_MAIN}
  ${INV_NORM}
  let ob = e * 4u * dk;
  ${CHANNELS} {
    let alpha = sigmoid(al[base + i]);
    let kap = k0[base + i] * kK[hb + i] * inv;
    out[ob + i] = sigmoid(wl[base + i]) * -params.scale;
    out[ob + dk + i] = k0[base + i] * (1.0f + (alpha - 1.0f) * kA[hb + i]);
    out[ob + 2u * dk + i] = -kap;
    out[ob + 3u * dk + i] = kap * alpha;
  }
}`;

const keysGradWgsl = () => `
${declare([...f32s(['wl', 'al', 'k0', 'kK', 'kA', 'dy']), ...f32s(['grads'], true)], UNIFORMS)}
${SIGMOID}
${TOTAL}
${ROW_MAIN}
  ${INV_NORM}
  let ob = e * 4u * dk;
  let gb5 = e * 5u * dk;
  var part = 0.0f;
  ${CHANNELS} {
    let alpha = sigmoid(al[base + i]);
    let kap = k0[base + i] * kK[hb + i] * inv;
    part += (dy[ob + 3u * dk + i] * alpha - dy[ob + 2u * dk + i]) * kap;
  }
  let dkapKap = total(tid, part); // Σ_j dκ_j κ_j
  ${CHANNELS} {
    let x0 = k0[base + i];
    let ka = kA[hb + i];
    let kk = kK[hb + i];
    let sw = sigmoid(wl[base + i]);
    let alpha = sigmoid(al[base + i]);
    let kap = x0 * kk * inv;
    let gw = dy[ob + i];
    let gk = dy[ob + dk + i];
    let ga = dy[ob + 2u * dk + i];
    let gb = dy[ob + 3u * dk + i];
    let dkk = (gb * alpha - ga - kap * dkapKap) * inv;
    grads[gb5 + i] = gw * -params.scale * sw * (1.0f - sw);
    grads[gb5 + dk + i] = (gk * x0 * ka + gb * kap) * alpha * (1.0f - alpha);
    grads[gb5 + 2u * dk + i] = gk * (1.0f + (alpha - 1.0f) * ka) + dkk * kk;
    grads[gb5 + 3u * dk + i] = dkk * x0;
    grads[gb5 + 4u * dk + i] = gk * x0 * (alpha - 1.0f);
  }
}`;

const outputWgsl = () => `
${declare([...f32s(['o', 'r', 'k', 'v', 'rK', 'g']), ...f32s(['y'], true)], UNIFORMS)}
${TOTAL}
${ROW_MAIN}
  var part = 0.0f;
  ${CHANNELS} { part += r[base + i] * k[base + i] * rK[hb + i]; }
  let beta = total(tid, part);
  ${CHANNELS} { y[base + i] = (o[base + i] + beta * v[base + i]) * g[base + i]; }
}`;

const outputGradWgsl = () => `
${declare([...f32s(['o', 'r', 'k', 'v', 'rK', 'g', 'dy']), ...f32s(['grads'], true)], UNIFORMS)}
${TOTAL}
${ROW_MAIN}
  let gb6 = e * 6u * dk;
  var partBeta = 0.0f;
  var partDbeta = 0.0f;
  ${CHANNELS} {
    partBeta += r[base + i] * k[base + i] * rK[hb + i];
    partDbeta += dy[base + i] * g[base + i] * v[base + i];
  }
  let beta = total(tid, partBeta);
  let dbeta = total(tid, partDbeta);
  ${CHANNELS} {
    let gy = dy[base + i];
    let u = gy * g[base + i];
    grads[gb6 + i] = u;
    grads[gb6 + dk + i] = dbeta * k[base + i] * rK[hb + i];
    grads[gb6 + 2u * dk + i] = dbeta * r[base + i] * rK[hb + i];
    grads[gb6 + 3u * dk + i] = beta * u;
    grads[gb6 + 4u * dk + i] = dbeta * r[base + i] * k[base + i];
    grads[gb6 + 5u * dk + i] = gy * (o[base + i] + beta * v[base + i]);
  }
}`;

export const RWKV7_KEYS_KERNEL = 'RecallbenchRwkv7Keys';
export const RWKV7_KEYS_GRAD_KERNEL = 'RecallbenchRwkv7KeysGrad';
export const RWKV7_OUTPUT_KERNEL = 'RecallbenchRwkv7Output';
export const RWKV7_OUTPUT_GRAD_KERNEL = 'RecallbenchRwkv7OutputGrad';

type Attrs = { H: number; dk: number };
/** The kernels' inputs, in the order their WGSL binds them and their gradient kernels write their parts. */
const KEYS_INPUTS = ['wl', 'al', 'k0', 'kK', 'kA'];
const OUTPUT_INPUTS = ['o', 'r', 'k', 'v', 'rK', 'g'];

/**
 * One kernel over the (token, head) rows of its first input (rows · H · d_k floats): `parts` outputs side by side,
 * [rows, H, parts · d_k], or with parts 0 one output of the last input's shape (the output's y, as g).
 */
function register(kernelName: string, name: string, wgsl: () => string, inputs: string[], parts: number): void {
  tf.registerKernel({
    kernelName,
    backendName: 'webgpu',
    kernelFunc: ({ inputs: given, attrs }) => {
      const ins = inputs.map((n) => (given as Record<string, tf.TensorInfo>)[n]!);
      const { H, dk } = attrs as unknown as Attrs;
      const n = tf.util.sizeFromShape(ins[0]!.shape) / dk;
      const out = allocate(webgpuBackend(), parts ? [n / H, H, parts * dk] : ins[ins.length - 1]!.shape);
      dispatch(name, `rb_${name}`, wgsl, [...ins.map((tensor) => ({ tensor })), { tensor: out, write: true }], [{ u: n }, { u: H }, { u: dk }, { f: L2_NORM_EPS }, { f: RWKV7_DECAY_SCALE }], grid(n));
      return out;
    },
  });
}

let registered = false;

export function registerRwkv7TokenWebGpu(): void {
  if (registered) return;
  registered = true;
  register(RWKV7_KEYS_KERNEL, 'Rwkv7Keys', keysWgsl, KEYS_INPUTS, 4);
  register(RWKV7_KEYS_GRAD_KERNEL, 'Rwkv7KeysGrad', keysGradWgsl, [...KEYS_INPUTS, 'dy'], KEYS_INPUTS.length);
  register(RWKV7_OUTPUT_KERNEL, 'Rwkv7Output', outputWgsl, OUTPUT_INPUTS, 0);
  register(RWKV7_OUTPUT_GRAD_KERNEL, 'Rwkv7OutputGrad', outputGradWgsl, [...OUTPUT_INPUTS, 'dy'], OUTPUT_INPUTS.length);
}

/**
 * `kernel` over the tensors named `inputs`, differentiable in all of them (kernelWithGrad): `gradKernel` writes one
 * part per input side by side, in the inputs' order — a per-token input's gradient, or for the per-channel
 * parameters named in `perChannel` their per-token share, summed over the tokens here.
 */
function fusedWithGrad(kernel: string, gradKernel: string, inputs: string[], perChannel: string[], attrs: Attrs): (...tensors: tf.Tensor[]) => tf.Tensor {
  return kernelWithGrad(kernel, gradKernel, inputs, 'dy', attrs, (packed, saved) =>
    tf.split(packed as tf.Tensor, inputs.length, -1).map((part, i) => {
      const shape = saved[i]!.shape;
      return perChannel.includes(inputs[i]!) ? tf.sum(part.reshape([-1, tf.util.sizeFromShape(shape)]), 0).reshape(shape) : part.reshape(shape);
    }),
  );
}

/** The keys' packed output [rows, H, 4·d_k] of wl, al, k0 [.., d] and k_k, k_a [d], differentiable. */
const keysPacked = (attrs: Attrs) => fusedWithGrad(RWKV7_KEYS_KERNEL, RWKV7_KEYS_GRAD_KERNEL, KEYS_INPUTS, ['kK', 'kA'], attrs);
/** y = (o + β v) g, differentiable in all six inputs. */
const outputFused = (attrs: Attrs) => fusedWithGrad(RWKV7_OUTPUT_KERNEL, RWKV7_OUTPUT_GRAD_KERNEL, OUTPUT_INPUTS, ['rK'], attrs);

const f32 = (ts: tf.Tensor[]) => ts.every((t) => t.dtype === 'float32') && ts[0]!.size > 0;

/** The fused keys: w, k, a, b [.., H, d_k]; undefined (declined) for other dtypes, an empty input or a gradient past the device's binding limit. */
export function rwkv7KeysWebGpu(wLogit: tf.Tensor, aLogit: tf.Tensor, k0: tf.Tensor, kK: tf.Tensor, kA: tf.Tensor, H: number): Rwkv7Keys | undefined {
  if (!f32([wLogit, aLogit, k0, kK, kA]) || !fitsDevice(5 * k0.size)) return undefined;
  const dk = k0.shape[k0.rank - 1]! / H;
  return tf.tidy(() => {
    const packed = keysPacked({ H, dk })(wLogit, aLogit, k0, kK, kA).reshape([...k0.shape.slice(0, -1), H, 4 * dk]);
    const [w, k, a, b] = tf.split(packed, 4, -1) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    return { w, k, a, b };
  });
}

/** The fused output (o + β v) g [.., H·d_k]; undefined (declined) for other dtypes, an empty input or a gradient past the device's binding limit. */
export function rwkv7OutputWebGpu(o: tf.Tensor, r: tf.Tensor, k: tf.Tensor, v: tf.Tensor, rK: tf.Tensor, g: tf.Tensor): tf.Tensor | undefined {
  if (!f32([o, r, k, v, rK, g]) || !fitsDevice(6 * o.size)) return undefined;
  const [H, dk] = o.shape.slice(-2) as [number, number];
  return outputFused({ H, dk })(o, r, k, v, rK, g);
}
