// Fused per-head products of H3 (WebGPU), forward and backward: the fast forms of ops/headProduct (lever
// `headProduct`). With W = H·P channels a row (P = head_dim) and channel (h, i, j) of the wide side at h·P² + i·P + j:
//
//   outer     kv[r, h, i, j] = k[r, hP+i] · v[r, hP+j]          dk[r, hP+i] = Σ_j dkv[r, h, i, j] · v[r, hP+j]
//                                                                dv[r, hP+j] = Σ_i dkv[r, h, i, j] · k[r, hP+i]
//   contract  y[r, hP+j] = Σ_i q[r, hP+i] · z[r, h, i, j]       dq[r, hP+i] = Σ_j dy[r, hP+j] · z[r, h, i, j]
//                                                                dz[r, h, i, j] = q[r, hP+i] · dy[r, hP+j]
//
// One thread per output element, reading only the P values of its head that it needs (a gradient of outer reads each
// dkv element twice, once for dk and once for dv) and writing its outputs once. tfjs runs these as a
// broadcasting Multiply (and a Sum) whose gradients are further Multiplies and Sums, each materialising a tensor of
// kv's size (at zoology-fig2's H3 d 256, L 512, B128: 33.5 M floats each): about 10 Multiply and Sum dispatches a
// layer become 4. The backward of outer computes dk and dv in one thread per (r, c): dk at c = hP + i, dv at
// c = hP + j, both c's products looped over the other index in increasing order; contract's backward writes dz per
// thread and, in the threads of j = 0, dq. Sums run over the head's P values in increasing index, as tfjs's Sum of so
// few values does (tests: within float32 rounding of the reference). Reference: ops/headProduct/naive.ts.
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, elementMain, grid, kernelWithGrad, webgpuBackend } from './dispatch.js';

const WG = 256;
// thread e = wide element (r, h, i, j): the narrow channels it pairs, hP + i and hP + j, on row r
const wideElement = `let P = params.P;
  let W = params.W;
  let r = e / (W * P);
  let rest = e % (W * P);
  let h = rest / (P * P);
  let i = (rest / P) % P;
  let j = rest % P;
  let rowNarrow = r * W + h * P;`;
// thread e = narrow element (r, c), c = hP + a: row r's head h starts at rowNarrow (narrow) and rowWide (wide side)
const narrowElement = `let P = params.P;
  let W = params.W;
  let r = e / W;
  let c = e % W;
  let h = c / P;
  let a = c % P;
  let rowNarrow = r * W + h * P;
  let rowWide = r * W * P + h * P * P;`;

const outerWgsl = () => `
${declare([{ name: 'k', type: 'f32' }, { name: 'v', type: 'f32' }, { name: 'kv', type: 'f32', write: true }], ['n: u32', 'W: u32', 'P: u32'])}
${elementMain(WG)}
  ${wideElement}
  kv[e] = k[rowNarrow + i] * v[rowNarrow + j];
}`;

// thread e = narrow element (r, c), c = hP + a: dk[r, c] = Σ_j dkv[r, h, a, j] v[r, hP + j]; dv[r, c] = Σ_i dkv[r, h, i, a] k[r, hP + i]
const outerGradWgsl = () => `
${declare(
  [
    { name: 'k', type: 'f32' },
    { name: 'v', type: 'f32' },
    { name: 'dkv', type: 'f32' },
    { name: 'dk', type: 'f32', write: true },
    { name: 'dv', type: 'f32', write: true },
  ],
  ['n: u32', 'W: u32', 'P: u32'],
)}
${elementMain(WG)}
  ${narrowElement}
  var sk = 0.0f;
  var sv = 0.0f;
  for (var b = 0u; b < P; b++) {
    sk += dkv[rowWide + a * P + b] * v[rowNarrow + b];
    sv += dkv[rowWide + b * P + a] * k[rowNarrow + b];
  }
  dk[e] = sk;
  dv[e] = sv;
}`;

// thread e = narrow element (r, hP + a): y = Σ_i q[r, hP + i] z[r, h, i, a]
const contractWgsl = () => `
${declare([{ name: 'q', type: 'f32' }, { name: 'z', type: 'f32' }, { name: 'y', type: 'f32', write: true }], ['n: u32', 'W: u32', 'P: u32'])}
${elementMain(WG)}
  ${narrowElement}
  var s = 0.0f;
  for (var i = 0u; i < P; i++) { s += q[rowNarrow + i] * z[rowWide + i * P + a]; }
  y[e] = s;
}`;

// thread e = wide element (r, h, i, j): dz = q[r, hP + i] dy[r, hP + j]; threads of j = 0 also dq[r, hP + i] = Σ_j dy[r, hP + j] z[r, h, i, j]
const contractGradWgsl = () => `
${declare(
  [
    { name: 'q', type: 'f32' },
    { name: 'z', type: 'f32' },
    { name: 'dy', type: 'f32' },
    { name: 'dq', type: 'f32', write: true },
    { name: 'dz', type: 'f32', write: true },
  ],
  ['n: u32', 'W: u32', 'P: u32'],
)}
${elementMain(WG)}
  ${wideElement}
  dz[e] = q[rowNarrow + i] * dy[rowNarrow + j];
  if (j == 0u) {
    var s = 0.0f;
    for (var b = 0u; b < P; b++) { s += dy[rowNarrow + b] * z[e + b]; }
    dq[rowNarrow + i] = s;
  }
}`;

export const HEAD_OUTER_KERNEL = 'RecallbenchHeadOuter';
export const HEAD_OUTER_GRAD_KERNEL = 'RecallbenchHeadOuterGrad';
export const HEAD_CONTRACT_KERNEL = 'RecallbenchHeadContract';
export const HEAD_CONTRACT_GRAD_KERNEL = 'RecallbenchHeadContractGrad';

/** Rows, narrow width W = H·P of a [.., W] tensor. */
const narrow = (t: tf.TensorInfo) => ({ rows: tf.util.sizeFromShape(t.shape.slice(0, -1)), W: t.shape[t.shape.length - 1]! });
const wideShape = (t: tf.TensorInfo, P: number) => [...t.shape.slice(0, -1), t.shape[t.shape.length - 1]! * P];

let registered = false;

export function registerHeadProductWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: HEAD_OUTER_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { k, v } = inputs as Record<string, tf.TensorInfo>;
      const P = (attrs as { P: number }).P;
      const { rows, W } = narrow(k!);
      const kv = allocate(webgpuBackend(), wideShape(k!, P));
      const n = rows * W * P;
      dispatch('HeadOuter', 'rb_head_outer', outerWgsl, [{ tensor: k! }, { tensor: v! }, { tensor: kv, write: true }], [{ u: n }, { u: W }, { u: P }], grid(Math.ceil(n / WG)));
      return kv;
    },
  });
  tf.registerKernel({
    kernelName: HEAD_OUTER_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { k, v, dkv } = inputs as Record<string, tf.TensorInfo>;
      const P = (attrs as { P: number }).P;
      const { rows, W } = narrow(k!);
      const backend = webgpuBackend();
      const dk = allocate(backend, k!.shape);
      const dv = allocate(backend, k!.shape);
      const n = rows * W;
      dispatch('HeadOuterGrad', 'rb_head_outer_grad', outerGradWgsl, [{ tensor: k! }, { tensor: v! }, { tensor: dkv! }, { tensor: dk, write: true }, { tensor: dv, write: true }], [{ u: n }, { u: W }, { u: P }], grid(Math.ceil(n / WG)));
      return [dk, dv];
    },
  });
  tf.registerKernel({
    kernelName: HEAD_CONTRACT_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, z } = inputs as Record<string, tf.TensorInfo>;
      const P = (attrs as { P: number }).P;
      const { rows, W } = narrow(q!);
      const y = allocate(webgpuBackend(), q!.shape);
      const n = rows * W;
      dispatch('HeadContract', 'rb_head_contract', contractWgsl, [{ tensor: q! }, { tensor: z! }, { tensor: y, write: true }], [{ u: n }, { u: W }, { u: P }], grid(Math.ceil(n / WG)));
      return y;
    },
  });
  tf.registerKernel({
    kernelName: HEAD_CONTRACT_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, z, dy } = inputs as Record<string, tf.TensorInfo>;
      const P = (attrs as { P: number }).P;
      const { rows, W } = narrow(q!);
      const backend = webgpuBackend();
      const dq = allocate(backend, q!.shape);
      const dz = allocate(backend, z!.shape);
      const n = rows * W * P;
      dispatch('HeadContractGrad', 'rb_head_contract_grad', contractGradWgsl, [{ tensor: q! }, { tensor: z! }, { tensor: dy! }, { tensor: dq, write: true }, { tensor: dz, write: true }], [{ u: n }, { u: W }, { u: P }], grid(Math.ceil(n / WG)));
      return [dq, dz];
    },
  });
}

/** The differentiable form of one product at one head_dim P (an attribute of its kernels, not a tensor), made once. */
const forms = new Map<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor>();
function fusedForm(kernel: string, gradKernel: string, [a, b, grad]: [string, string, string], P: number): (a: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  const key = `${kernel}:${P}`;
  let f = forms.get(key);
  if (!f) forms.set(key, (f = kernelWithGrad(kernel, gradKernel, [a, b], grad, { P })));
  return f;
}

const plain = (...ts: tf.Tensor[]) => ts.every((t) => t.dtype === 'float32' && t.size > 0);

/** kv = k ⊗ v per head, fused; undefined (declined: the reference runs) unless float32 and non-empty. */
export function headOuterWebGpu(k: tf.Tensor, v: tf.Tensor, P: number): tf.Tensor | undefined {
  return plain(k, v) ? fusedForm(HEAD_OUTER_KERNEL, HEAD_OUTER_GRAD_KERNEL, ['k', 'v', 'dkv'], P)(k, v) : undefined;
}

/** y = q · z per head, fused; undefined (declined) unless float32 and non-empty. */
export function headContractWebGpu(q: tf.Tensor, z: tf.Tensor, P: number): tf.Tensor | undefined {
  return plain(q, z) ? fusedForm(HEAD_CONTRACT_KERNEL, HEAD_CONTRACT_GRAD_KERNEL, ['q', 'z', 'dy'], P)(q, z) : undefined;
}
