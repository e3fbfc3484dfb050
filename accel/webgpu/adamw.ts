// Fused AdamW (WebGPU): one dispatch per parameter tensor updates the parameter and both moments in place,
// in the same order of floating-point operations as the plain-tfjs AdamW update of ops/adamw/naive.ts (the reference):
//
//   m ← m·β1 + g·(1 − β1);  v ← v·β2 + g²·(1 − β2)
//   p ← p·(1 − lr·wd) − lr · (m / c1) / (√(v / c2) + eps),   c1 = 1 − β1^t,  c2 = 1 − β2^t
//
// tfjs's AdamW costs ~13 kernels and several scalar uploads per parameter; this is one dispatch with the
// hyperparameters in its uniform buffer. In-place writes are only done when the parameter and the moments are
// the sole owners of their buffers (no other live tensor shares them); otherwise the caller falls back.
// A stack of R runs (engine/stack.ts: parameters [R, ...], a learning rate per run) takes the same dispatch per
// parameter; each element reads its run's lr and decay factor from a table of 2R numbers uploaded once per step.
// Lever `adamwPairs`: two parameters a dispatch — the device's 8 storage buffers a stage hold two (p, m, v, g) sets —
// so a step's AdamW takes ⌈V/2⌉ + ⌈S/2⌉ dispatches where it took P = V + S (V of whole vec4s, S not; P = 15–53 in the
// zoology models: 17–22 % of a step's dispatches, most of them small biases and norms). Each element's arithmetic is the single form's, so
// the results are the same bits; threads [0, n₁) update the first parameter, [n₁, n₁ + n₂) the second. Unstacked
// runs only (a stack's rate table would be a ninth buffer).
import * as tf from '@tensorflow/tfjs';
import type { AdamWStep } from '../../ops/adamw/index.js';
import { endStep } from './bindGroups.js';
import { declare, dispatch, grid, soleOwner, webgpuBackend, type Uniform } from './dispatch.js';

export const ADAMW_KERNEL = 'RecallbenchAdamW';

const WG = 256;

const wgsl = (vec: boolean, stacked = false) => () => {
  const T = vec ? 'vec4<f32>' : 'f32';
  return `
${declare(
  [
    { name: 'p', type: T, write: true },
    { name: 'm', type: T, write: true },
    { name: 'v', type: T, write: true },
    { name: 'g', type: T },
    ...(stacked ? [{ name: 'runRates', type: 'f32' }] : []),
  ],
  stacked
    ? ['n: u32', 'perRun: u32', 'runs: u32', 'beta1: f32', 'oneMinusBeta1: f32', 'beta2: f32', 'oneMinusBeta2: f32', 'c1: f32', 'c2: f32', 'eps: f32']
    : ['n: u32', 'lr: f32', 'beta1: f32', 'oneMinusBeta1: f32', 'beta2: f32', 'oneMinusBeta2: f32', 'c1: f32', 'c2: f32', 'eps: f32', 'decay: f32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let i = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (i >= params.n) { return; }
  let gi = g[i];
  let mi = m[i] * params.beta1 + gi * params.oneMinusBeta1;
  let vi = v[i] * params.beta2 + (gi * gi) * params.oneMinusBeta2;
  m[i] = mi;
  v[i] = vi;
  let update = (mi / params.c1) / (sqrt(vi / params.c2) + params.eps);
  ${stacked ? 'let run = i / params.perRun;' : ''}
  ${stacked ? 'p[i] = p[i] * runRates[params.runs + run] - update * runRates[run];' : 'p[i] = p[i] * params.decay - update * params.lr;'}
}`;
};

/** Two parameters in one dispatch (lever adamwPairs): the single form's update for each, by thread range. */
const pairWgsl = (vec: boolean) => () => {
  const T = vec ? 'vec4<f32>' : 'f32';
  const update = (k: 'a' | 'b', at: string) => `
    let gi = g${k}[${at}];
    let mi = m${k}[${at}] * params.beta1 + gi * params.oneMinusBeta1;
    let vi = v${k}[${at}] * params.beta2 + (gi * gi) * params.oneMinusBeta2;
    m${k}[${at}] = mi;
    v${k}[${at}] = vi;
    let update = (mi / params.c1) / (sqrt(vi / params.c2) + params.eps);
    p${k}[${at}] = p${k}[${at}] * params.decay${k === 'a' ? 'A' : 'B'} - update * params.lr;`;
  return `
${declare(
  (['a', 'b'] as const).flatMap((k) => [
    { name: `p${k}`, type: T, write: true },
    { name: `m${k}`, type: T, write: true },
    { name: `v${k}`, type: T, write: true },
    { name: `g${k}`, type: T },
  ]),
  ['nA: u32', 'nB: u32', 'lr: f32', 'beta1: f32', 'oneMinusBeta1: f32', 'beta2: f32', 'oneMinusBeta2: f32', 'c1: f32', 'c2: f32', 'eps: f32', 'decayA: f32', 'decayB: f32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let i = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (i < params.nA) {${update('a', 'i')}
  } else if (i < params.nA + params.nB) {
    let j = i - params.nA;${update('b', 'j')}
  }
}`;
};

let pairs = false;
/** Lever adamwPairs: two parameters a dispatch (the kernel reads it when it runs). */
export function setAdamWPairs(on: boolean): void {
  pairs = on;
}

let registered = false;

export function registerAdamWWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: ADAMW_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const h = attrs as unknown as AdamWStep & { count: number };
      const named = inputs as Record<string, tf.TensorInfo>;
      const parts: UpdatePart[] = []; // an unstacked run's parameters, dispatched after the loop (alone, or in pairs)
      for (let i = 0; i < h.count; i++) {
        const [p, m, v, g] = ['p', 'm', 'v', 'g'].map((k) => named[`${k}${i}`]!);
        const n = p!.shape.reduce((a, b) => a * b, 1);
        if (n === 0) continue;
        const wd = h.weightDecays[i]!;
        if (typeof h.lr !== 'number') {
          // a stack: elements of run r are [r·n/R, (r+1)·n/R); vec4 only when a run's share is whole vec4s
          const runs = h.lr.length;
          const perRun = n / runs;
          const vec = perRun % 4 === 0;
          dispatch(
            'AdamW',
            vec ? 'rb_adamw4_stacked' : 'rb_adamw1_stacked',
            wgsl(vec, true),
            [{ tensor: p!, write: true }, { tensor: m!, write: true }, { tensor: v!, write: true }, { tensor: g! }, { tensor: named[`rates${wd > 0 ? 'Decayed' : 'Plain'}`]! }],
            [{ u: vec ? n / 4 : n }, { u: vec ? perRun / 4 : perRun }, { u: runs }, { f: h.beta1 }, { f: 1 - h.beta1 }, { f: h.beta2 }, { f: 1 - h.beta2 }, { f: h.c1 }, { f: h.c2 }, { f: h.eps }],
            grid(Math.ceil((vec ? n / 4 : n) / WG)),
          );
          continue;
        }
        parts.push({ p: p!, m: m!, v: v!, g: g!, n, decay: wd > 0 ? 1 - h.lr * wd : 1 });
      }
      if (parts.length) {
        const common = stepUniforms(h);
        if (pairs) dispatchPairs(parts, common);
        else for (const part of parts) dispatchOne(part, common);
      }
      // The optimizer ends the step: submit now, so every step starts a fresh command batch. Then the buffer
      // pool hands out the same buffers in the same order each step, which is what the bind-group cache needs.
      endStep(webgpuBackend() as unknown as Parameters<typeof endStep>[0]);
      // kernels must return an output: a CPU-side scalar that never reaches the GPU
      return (backend as unknown as { makeTensorInfo(s: number[], d: string, v: Float32Array): tf.TensorInfo }).makeTensorInfo([], 'float32', new Float32Array(1));
    },
  });
}

/** One unstacked parameter's buffers, element count and weight-decay factor (1 − lr·wd, or 1). */
interface UpdatePart {
  p: tf.TensorInfo;
  m: tf.TensorInfo;
  v: tf.TensorInfo;
  g: tf.TensorInfo;
  n: number;
  decay: number;
}

/** Pair dispatches so far by form (the tests ask which form each pair took). */
export const adamwPairForms = { vec4: 0, scalar: 0 };

/**
 * Lever adamwPairs: the parameters two a dispatch, those of whole vec4s paired with each other (vec4 reads) and the
 * rest with each other (scalar), each list in the order given (the same buffers pair every step, which the bind-group
 * cache needs): a large embedding never goes scalar for the odd-sized bias beside it. An odd one out of a list takes
 * the single form (a buffer bound twice as writable storage is not valid WebGPU).
 */
function dispatchPairs(parts: UpdatePart[], common: Uniform[]): void {
  const lists = [parts.filter((x) => x.n % 4 === 0), parts.filter((x) => x.n % 4 !== 0)];
  for (const list of lists) for (let at = 0; at < list.length; at += 2) {
    const a = list[at]!;
    const b = list[at + 1];
    if (!b) {
      dispatchOne(a, common);
      continue;
    }
    const vec = a.n % 4 === 0 && b.n % 4 === 0;
    const nA = vec ? a.n / 4 : a.n;
    const nB = vec ? b.n / 4 : b.n;
    adamwPairForms[vec ? 'vec4' : 'scalar']++;
    dispatch('AdamW', vec ? 'rb_adamw4_pair' : 'rb_adamw1_pair', pairWgsl(vec), [...buffers(a), ...buffers(b)], [{ u: nA }, { u: nB }, ...common, { f: a.decay }, { f: b.decay }], grid(Math.ceil((nA + nB) / WG)));
  }
}

/** The uniforms every unstacked dispatch of a step shares, after its element count(s): lr, the betas, c1, c2, eps. */
const stepUniforms = (h: AdamWStep): Uniform[] => [{ f: h.lr as number }, { f: h.beta1 }, { f: 1 - h.beta1 }, { f: h.beta2 }, { f: 1 - h.beta2 }, { f: h.c1 }, { f: h.c2 }, { f: h.eps }];

/** A parameter's p, m, v (written) and g, in the kernels' binding order. */
const buffers = (x: UpdatePart) => [{ tensor: x.p, write: true }, { tensor: x.m, write: true }, { tensor: x.v, write: true }, { tensor: x.g }];

/** One parameter a dispatch (the single form): vec4 when its count is whole vec4s. */
function dispatchOne(x: UpdatePart, common: Uniform[]): void {
  const vec = x.n % 4 === 0;
  const threads = vec ? x.n / 4 : x.n;
  dispatch('AdamW', vec ? 'rb_adamw4' : 'rb_adamw1', wgsl(vec), buffers(x), [{ u: threads }, ...common, { f: x.decay }], grid(Math.ceil(threads / WG)));
}

/**
 * Update params, first and second moments in place. Returns false (and does nothing) when some buffer is shared
 * with another live tensor, so the caller uses the reference path instead.
 */
export function adamWWebGpu(params: tf.Variable[], m: tf.Variable[], v: tf.Variable[], grads: tf.Tensor[], h: AdamWStep): boolean {
  for (let i = 0; i < params.length; i++) {
    if (!soleOwner(params[i]!) || !soleOwner(m[i]!) || !soleOwner(v[i]!)) return false;
    if (grads[i]!.dtype !== 'float32' || grads[i]!.size !== params[i]!.size) return false;
    if (typeof h.lr !== 'number' && params[i]!.shape[0] !== h.lr.length) return false; // not a stack's [R, ...] parameter
  }
  const inputs: Record<string, tf.Tensor> = {};
  // a stack's rates: [lr_r..., decay factor_r...] as the reference computes them (double precision, then f32); one
  // table per weight decay in use (0: the factor is 1)
  const tables: tf.Tensor[] = [];
  if (typeof h.lr !== 'number') {
    const lrs = h.lr;
    const decays = [...new Set(h.weightDecays)];
    if (decays.length > 2 || (decays.length === 2 && !decays.includes(0))) return false;
    const wd = decays.find((x) => x > 0) ?? 0;
    inputs.ratesPlain = tf.tensor1d([...lrs, ...lrs.map(() => 1)]);
    inputs.ratesDecayed = tf.tensor1d([...lrs, ...lrs.map((lr) => 1 - lr * wd)]);
    tables.push(inputs.ratesPlain, inputs.ratesDecayed);
  }
  params.forEach((p, i) => {
    inputs[`p${i}`] = p;
    inputs[`m${i}`] = m[i]!;
    inputs[`v${i}`] = v[i]!;
    inputs[`g${i}`] = grads[i]!;
  });
  const done = tf.engine().runKernel(ADAMW_KERNEL, inputs, { ...h, count: params.length } as unknown as tf.NamedAttrMap) as tf.Tensor;
  done.dispose();
  tf.dispose(tables); // the dispatches own their buffers until the queue has run them (dispatch.ts)
  return true;
}
