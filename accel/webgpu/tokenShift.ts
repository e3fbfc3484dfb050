// RWKV's token shift with its per-channel mixes fused (WebGPU), forward and backward: the fast form of ops/tokenShift
// (lever `tokenShift`). x [B, T, d], mixes μ_c [d] (a stack of R runs: x [R·B, T, d], μ_c [R, d], the run of batch row
// b its b / (B/R)); with x'_t = x_{t−1} (x'_0 = 0), j the channel and μ the row's run's:
//
//   rwkv7:  y_c = x + (x' − x) · μ_c         dx_t = Σ_c dy_c,t · (1 − μ_c) + Σ_c dy_c,t+1 · μ_c        dμ_c = Σ dy_c · (x' − x)
//   rwkv4:  y_c = x · μ_c + x' · (1 − μ_c)   dx_t = Σ_c dy_c,t · μ_c + Σ_c dy_c,t+1 · (1 − μ_c)        dμ_c = Σ dy_c · (x − x')
//
// (the t + 1 sums for t + 1 < T; dμ summed over the run's rows (b, t)). WebGPU binds at most 8 storage buffers a shader
// stage (tfjs asks for no more), so the mixes go in groups of up to GROUP = 3, each group one kernel call with its own
// gradient: forward one thread per element writing the group's outputs (x + 3 μ + 3 y = 7 buffers); backward dx one
// thread per element (3 dy + 3 μ + dx), dμ in two passes — a thread per (block of ROWS rows of one run, channel) sums
// its rows for every mix of the group into partials, then a thread per (mix, run, channel) adds its run's blocks in
// block order. RWKV-7's six mixes: 2 dispatches forward, 6 backward and tfjs's one Add of the groups' dx, in place of
// ~50. Sums in another order than tfjs's Sum: within float32 rounding (tests/webgpu-tokenShift.test.ts). Reference:
// ops/tokenShift/naive.ts.
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, elementMain, grid, release, unrolled, webgpuBackend } from './dispatch.js';
import type { TokenShiftForm } from '../../ops/tokenShift/index.js';

const WG = 64;
/** Mixes per kernel call (the storage-buffer limit, above). */
export const TOKEN_SHIFT_GROUP = 3;
/** Rows (b, t) a thread of dμ's first pass sums. */
export const TOKEN_SHIFT_ROWS = 128;

const UNIFORMS = ['n: u32', 'T: u32', 'd: u32', 'bPerRun: u32'];
/** WGSL: the index of μ for element e's row run and channel j. */
const muIndex = `((e / (params.T * params.d)) / params.bPerRun) * params.d + j`;
const range = (C: number) => Array.from({ length: C }, (_, c) => c);

// thread e = element (b, t, j) of x
const forwardWgsl = (C: number, form: TokenShiftForm) => () => `
${declare(
  [{ name: 'x', type: 'f32' }, ...range(C).map((c) => ({ name: `mu${c}`, type: 'f32' })), ...range(C).map((c) => ({ name: `y${c}`, type: 'f32', write: true }))],
  UNIFORMS,
)}
${elementMain(WG)}
  let j = e % params.d;
  let t = (e / params.d) % params.T;
  var prev = 0.0f;
  if (t > 0u) { prev = x[e - params.d]; }
  let xe = x[e];
  let delta = prev - xe;
  let m = ${muIndex};
${unrolled(C, (c) => (form === 'rwkv7' ? `  y${c}[e] = xe + delta * mu${c}[m];` : `  y${c}[e] = xe * mu${c}[m] + prev * (1.0f - mu${c}[m]);`))}
}`;

// thread e = element (b, t, j) of dx
const dxWgsl = (C: number, form: TokenShiftForm) => () => `
${declare(
  [...range(C).map((c) => ({ name: `dy${c}`, type: 'f32' })), ...range(C).map((c) => ({ name: `mu${c}`, type: 'f32' })), { name: 'dx', type: 'f32', write: true }],
  UNIFORMS,
)}
${elementMain(WG)}
  let j = e % params.d;
  let t = (e / params.d) % params.T;
  let last = t + 1u >= params.T;
  let m = ${muIndex};
  var s = 0.0f;
${unrolled(C, (c) =>
  form === 'rwkv7'
    ? `  s += dy${c}[e] - dy${c}[e] * mu${c}[m];\n  if (!last) { s += dy${c}[e + params.d] * mu${c}[m]; }`
    : `  s += dy${c}[e] * mu${c}[m];\n  if (!last) { s += dy${c}[e + params.d] * (1.0f - mu${c}[m]); }`,
)}
  dx[e] = s;
}`;

// thread e = (block, j), blocks run-major (blocksPerRun a run): rows first … of channel j, all of one run;
// partials[(block·C + c)·d + j]
const dmuPartialsWgsl = (C: number, form: TokenShiftForm) => () => `
${declare([{ name: 'x', type: 'f32' }, ...range(C).map((c) => ({ name: `dy${c}`, type: 'f32' })), { name: 'partials', type: 'f32', write: true }], ['n: u32', 'T: u32', 'd: u32', 'rowsPerRun: u32', 'blocksPerRun: u32'])}
${elementMain(WG)}
  let d = params.d;
  let j = e % d;
  let block = e / d;
  let run = block / params.blocksPerRun;
  let runEnd = (run + 1u) * params.rowsPerRun;
  let first = run * params.rowsPerRun + (block % params.blocksPerRun) * ${TOKEN_SHIFT_ROWS}u;
  let end = min(first + ${TOKEN_SHIFT_ROWS}u, runEnd);
${unrolled(C, (c) => `  var s${c} = 0.0f;`)}
  for (var r = first; r < end; r++) {
    let i = r * d + j;
    var prev = 0.0f;
    if (r % params.T > 0u) { prev = x[i - d]; }
    let delta = ${form === 'rwkv7' ? 'prev - x[i]' : 'x[i] - prev'};
${unrolled(C, (c) => `    s${c} += dy${c}[i] * delta;`)}
  }
${unrolled(C, (c) => `  partials[(block * ${C}u + ${c}u) * d + j] = s${c};`)}
}`;

// thread e = (c, run, j): the partials of mix c, channel j over the run's blocks, added in block order
const dmuWgsl = (C: number) => () => `
${declare([{ name: 'partials', type: 'f32' }, ...range(C).map((c) => ({ name: `dmu${c}`, type: 'f32', write: true }))], ['n: u32', 'd: u32', 'runs: u32', 'blocksPerRun: u32'])}
${elementMain(WG)}
  let d = params.d;
  let j = e % d;
  let run = (e / d) % params.runs;
  let c = e / (d * params.runs);
  var s = 0.0f;
  for (var b = 0u; b < params.blocksPerRun; b++) { s += partials[((run * params.blocksPerRun + b) * ${C}u + c) * d + j]; }
${unrolled(C, (c) => `  ${c > 0 ? 'else ' : ''}if (c == ${c}u) { dmu${c}[run * d + j] = s; }`)}
}`;

/** The forward kernel for a group of C mixes in one form (RecallbenchTokenShift1 … 3, …Rwkv4_1 … 3). */
export const tokenShiftKernel = (C: number, form: TokenShiftForm = 'rwkv7') => `RecallbenchTokenShift${form === 'rwkv7' ? '' : 'Rwkv4_'}${C}`;
export const TOKEN_SHIFT_GRAD_KERNEL = 'RecallbenchTokenShiftGrad';

const muNames = (C: number) => range(C).map((c) => `mu${c}`);
const FORMS: TokenShiftForm[] = ['rwkv7', 'rwkv4'];
/** Runs R of μ [d] (1) or a stack's [R, d]. */
const runsOf = (mu: tf.TensorInfo) => (mu.shape.length === 2 ? mu.shape[0]! : 1);

let registered = false;

export function registerTokenShiftWebGpu(): void {
  if (registered) return;
  registered = true;
  // one forward kernel per group size C and form (its gradient saves x and exactly its C mixes)
  for (const form of FORMS)
    for (const C of range(TOKEN_SHIFT_GROUP).map((c) => c + 1)) {
      tf.registerKernel({
        kernelName: tokenShiftKernel(C, form),
        backendName: 'webgpu',
        kernelFunc: ({ inputs }) => {
          const named = inputs as Record<string, tf.TensorInfo>;
          const x = named.x!;
          const mus = muNames(C).map((m) => named[m]!);
          const [B, T, d] = x.shape as [number, number, number];
          const backend = webgpuBackend();
          const ys = mus.map(() => allocate(backend, x.shape));
          const n = B * T * d;
          const uniforms = [{ u: n }, { u: T }, { u: d }, { u: B / runsOf(mus[0]!) }];
          dispatch('TokenShift', `rb_token_shift_${form}_${C}`, forwardWgsl(C, form), [{ tensor: x }, ...mus.map((tensor) => ({ tensor })), ...ys.map((tensor) => ({ tensor, write: true }))], uniforms, grid(Math.ceil(n / WG)));
          return ys;
        },
      });
      tf.registerGradient({
        kernelName: tokenShiftKernel(C, form),
        inputsToSave: ['x', ...muNames(C)],
        gradFunc: (dy, saved) => {
          // one dy per output (tfjs makes zeros for an output the loss does not reach)
          const dys = Array.isArray(dy) ? dy : [dy];
          const [x, ...mus] = saved as tf.Tensor[];
          const inputs: Record<string, tf.Tensor> = { x: x! };
          range(C).forEach((c) => ((inputs[`mu${c}`] = mus[c]!), (inputs[`dy${c}`] = dys[c]!)));
          const [dx, ...dmus] = tf.engine().runKernel(TOKEN_SHIFT_GRAD_KERNEL, inputs as unknown as tf.NamedTensorMap, { rwkv4: form === 'rwkv4' } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
          return { x: () => dx!, ...Object.fromEntries(range(C).map((c) => [`mu${c}`, () => dmus[c]!])) };
        },
      });
    }
  tf.registerKernel({
    kernelName: TOKEN_SHIFT_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const form: TokenShiftForm = (attrs as unknown as { rwkv4: boolean }).rwkv4 ? 'rwkv4' : 'rwkv7';
      const named = inputs as Record<string, tf.TensorInfo>;
      const x = named.x!;
      const C = (Object.keys(named).length - 1) / 2;
      const mus = muNames(C).map((m) => named[m]!);
      const dys = range(C).map((c) => named[`dy${c}`]!);
      const [B, T, d] = x.shape as [number, number, number];
      const R = runsOf(mus[0]!);
      const backend = webgpuBackend();
      const n = B * T * d;
      const dx = allocate(backend, x.shape);
      dispatch('TokenShiftDx', `rb_token_shift_dx_${form}_${C}`, dxWgsl(C, form), [...dys.map((tensor) => ({ tensor })), ...mus.map((tensor) => ({ tensor })), { tensor: dx, write: true }], [{ u: n }, { u: T }, { u: d }, { u: B / R }], grid(Math.ceil(n / WG)));
      const rowsPerRun = (B / R) * T;
      const blocksPerRun = Math.ceil(rowsPerRun / TOKEN_SHIFT_ROWS);
      const blocks = R * blocksPerRun;
      const partials = allocate(backend, [blocks * C * d]);
      dispatch('TokenShiftDmuPartials', `rb_token_shift_dmu_partials_${form}_${C}`, dmuPartialsWgsl(C, form), [{ tensor: x }, ...dys.map((tensor) => ({ tensor })), { tensor: partials, write: true }], [{ u: blocks * d }, { u: T }, { u: d }, { u: rowsPerRun }, { u: blocksPerRun }], grid(Math.ceil((blocks * d) / WG)));
      const dmus = mus.map((mu) => allocate(backend, mu.shape));
      dispatch('TokenShiftDmu', `rb_token_shift_dmu_${C}`, dmuWgsl(C), [{ tensor: partials }, ...dmus.map((tensor) => ({ tensor, write: true }))], [{ u: C * R * d }, { u: d }, { u: R }, { u: blocksPerRun }], grid(Math.ceil((C * R * d) / WG)));
      release(partials);
      return [dx, ...dmus];
    },
  });
}

/**
 * The mixes of x [B, T, d] with each μ_c [d] (a stack's x [R·B, T, d] with μ_c [R, d]) fused, in groups of
 * TOKEN_SHIFT_GROUP; undefined (declined: the reference runs) for other shapes or dtypes, or an empty x.
 */
export function tokenShiftMixWebGpu(x: tf.Tensor3D, mus: tf.Tensor[], form: TokenShiftForm): tf.Tensor3D[] | undefined {
  const [B, , d] = x.shape;
  if (x.dtype !== 'float32' || x.size === 0 || mus.length === 0) return undefined;
  const R = runsOf(mus[0]!);
  const shapeOk = (mu: tf.Tensor) => mu.dtype === 'float32' && (mu.rank === 1 ? R === 1 && mu.shape[0] === d : mu.rank === 2 && mu.shape[0] === R && mu.shape[1] === d);
  if (!mus.every(shapeOk) || B % R !== 0) return undefined;
  const out: tf.Tensor3D[] = [];
  for (let first = 0; first < mus.length; first += TOKEN_SHIFT_GROUP) {
    const group = mus.slice(first, first + TOKEN_SHIFT_GROUP);
    const inputs: Record<string, tf.Tensor> = { x };
    group.forEach((mu, c) => (inputs[`mu${c}`] = mu));
    out.push(...(tf.engine().runKernel(tokenShiftKernel(group.length, form), inputs as unknown as tf.NamedTensorMap) as unknown as tf.Tensor3D[]));
  }
  return out;
}
