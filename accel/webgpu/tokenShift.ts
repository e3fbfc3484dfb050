// RWKV's token shift with its per-channel mixes fused (WebGPU), forward and backward: the fast form of ops/tokenShift
// (lever `tokenShift`). x [B, T, d], mixes μ_c [d]; with x'_t = x_{t−1} (x'_0 = 0) and j the channel:
//
//   y_c[b, t, j] = x[b, t, j] + (x'[b, t, j] − x[b, t, j]) · μ_c[j]
//   dx[b, t, j] = Σ_c dy_c[b, t, j] · (1 − μ_c[j]) + Σ_c dy_c[b, t + 1, j] · μ_c[j]      (the second sum for t + 1 < T)
//   dμ_c[j]    = Σ_{b, t} dy_c[b, t, j] · (x'[b, t, j] − x[b, t, j])
//
// WebGPU binds at most 8 storage buffers a shader stage (tfjs asks for no more), so the mixes go in groups of up to
// GROUP = 3, each group one kernel call with its own gradient: forward one thread per element writing the group's
// outputs (x + 3 μ + 3 y = 7 buffers); backward dx one thread per element (3 dy + 3 μ + dx), dμ in two passes — a
// thread per (block of ROWS rows, channel) sums its rows for every mix of the group into partials, then a thread per
// (mix, channel) adds the blocks' partials in block order. RWKV-7's six mixes: 2 dispatches forward, 6 backward and
// tfjs's one Add of the groups' dx, in place of ~50. Sums in another order than tfjs's Sum: within float32 rounding
// (tests/webgpu-tokenShift.test.ts). Reference: ops/tokenShift/naive.ts.
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, elementMain, grid, release, webgpuBackend } from './dispatch.js';

const WG = 64;
/** Mixes per kernel call (the storage-buffer limit, above). */
export const TOKEN_SHIFT_GROUP = 3;
/** Rows (b, t) a thread of dμ's first pass sums. */
export const TOKEN_SHIFT_ROWS = 128;

const UNIFORMS = ['n: u32', 'T: u32', 'd: u32'];
const range = (C: number) => Array.from({ length: C }, (_, c) => c);

// thread e = element (b, t, j) of x
const forwardWgsl = (C: number) => () => `
${declare(
  [{ name: 'x', type: 'f32' }, ...range(C).map((c) => ({ name: `mu${c}`, type: 'f32' })), ...range(C).map((c) => ({ name: `y${c}`, type: 'f32', write: true }))],
  UNIFORMS,
)}
${elementMain(WG)}
  let j = e % params.d;
  let t = (e / params.d) % params.T;
  var prev = 0.0f;
  if (t > 0u) { prev = x[e - params.d]; }
  let delta = prev - x[e];
${range(C)
  .map((c) => `  y${c}[e] = x[e] + delta * mu${c}[j];`)
  .join('\n')}
}`;

// thread e = element (b, t, j) of dx
const dxWgsl = (C: number) => () => `
${declare(
  [...range(C).map((c) => ({ name: `dy${c}`, type: 'f32' })), ...range(C).map((c) => ({ name: `mu${c}`, type: 'f32' })), { name: 'dx', type: 'f32', write: true }],
  UNIFORMS,
)}
${elementMain(WG)}
  let j = e % params.d;
  let t = (e / params.d) % params.T;
  let last = t + 1u >= params.T;
  var s = 0.0f;
${range(C)
  .map((c) => `  s += dy${c}[e] - dy${c}[e] * mu${c}[j];\n  if (!last) { s += dy${c}[e + params.d] * mu${c}[j]; }`)
  .join('\n')}
  dx[e] = s;
}`;

// thread e = (block, j): rows block·ROWS … of channel j; partials[(block·C + c)·d + j]
const dmuPartialsWgsl = (C: number) => () => `
${declare([{ name: 'x', type: 'f32' }, ...range(C).map((c) => ({ name: `dy${c}`, type: 'f32' })), { name: 'partials', type: 'f32', write: true }], [...UNIFORMS, 'rows: u32'])}
${elementMain(WG)}
  let d = params.d;
  let j = e % d;
  let block = e / d;
  let first = block * ${TOKEN_SHIFT_ROWS}u;
  let end = min(first + ${TOKEN_SHIFT_ROWS}u, params.rows);
${range(C)
  .map((c) => `  var s${c} = 0.0f;`)
  .join('\n')}
  for (var r = first; r < end; r++) {
    let i = r * d + j;
    var prev = 0.0f;
    if (r % params.T > 0u) { prev = x[i - d]; }
    let delta = prev - x[i];
${range(C)
  .map((c) => `    s${c} += dy${c}[i] * delta;`)
  .join('\n')}
  }
${range(C)
  .map((c) => `  partials[(block * ${C}u + ${c}u) * d + j] = s${c};`)
  .join('\n')}
}`;

// thread e = (c, j): the blocks' partials of mix c, channel j, added in block order
const dmuWgsl = (C: number) => () => `
${declare([{ name: 'partials', type: 'f32' }, ...range(C).map((c) => ({ name: `dmu${c}`, type: 'f32', write: true }))], [...UNIFORMS, 'blocks: u32'])}
${elementMain(WG)}
  let d = params.d;
  let j = e % d;
  let c = e / d;
  var s = 0.0f;
  for (var b = 0u; b < params.blocks; b++) { s += partials[(b * ${C}u + c) * d + j]; }
${range(C)
  .map((c) => `  ${c > 0 ? 'else ' : ''}if (c == ${c}u) { dmu${c}[j] = s; }`)
  .join('\n')}
}`;

/** The forward kernel for a group of C mixes (RecallbenchTokenShift1 … 3). */
export const tokenShiftKernel = (C: number) => `RecallbenchTokenShift${C}`;
export const TOKEN_SHIFT_GRAD_KERNEL = 'RecallbenchTokenShiftGrad';

const muNames = (C: number) => range(C).map((c) => `mu${c}`);

let registered = false;

export function registerTokenShiftWebGpu(): void {
  if (registered) return;
  registered = true;
  // one forward kernel per group size C (its gradient saves x and exactly its C mixes)
  for (const C of range(TOKEN_SHIFT_GROUP).map((c) => c + 1)) {
    tf.registerKernel({
      kernelName: tokenShiftKernel(C),
      backendName: 'webgpu',
      kernelFunc: ({ inputs }) => {
        const named = inputs as Record<string, tf.TensorInfo>;
        const x = named.x!;
        const mus = muNames(C).map((m) => named[m]!);
        const [, T, d] = x.shape as [number, number, number];
        const backend = webgpuBackend();
        const ys = mus.map(() => allocate(backend, x.shape));
        const n = x.shape.reduce((a, b) => a * b, 1);
        dispatch('TokenShift', `rb_token_shift_${C}`, forwardWgsl(C), [{ tensor: x }, ...mus.map((tensor) => ({ tensor })), ...ys.map((tensor) => ({ tensor, write: true }))], [{ u: n }, { u: T }, { u: d }], grid(Math.ceil(n / WG)));
        return ys;
      },
    });
    tf.registerGradient({
      kernelName: tokenShiftKernel(C),
      inputsToSave: ['x', ...muNames(C)],
      gradFunc: (dy, saved) => {
        // one dy per output (tfjs makes zeros for an output the loss does not reach)
        const dys = Array.isArray(dy) ? dy : [dy];
        const [x, ...mus] = saved as tf.Tensor[];
        const inputs: Record<string, tf.Tensor> = { x: x! };
        range(C).forEach((c) => ((inputs[`mu${c}`] = mus[c]!), (inputs[`dy${c}`] = dys[c]!)));
        const [dx, ...dmus] = tf.engine().runKernel(TOKEN_SHIFT_GRAD_KERNEL, inputs as unknown as tf.NamedTensorMap) as unknown as tf.Tensor[];
        return { x: () => dx!, ...Object.fromEntries(range(C).map((c) => [`mu${c}`, () => dmus[c]!])) };
      },
    });
  }
  tf.registerKernel({
    kernelName: TOKEN_SHIFT_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const named = inputs as Record<string, tf.TensorInfo>;
      const x = named.x!;
      const C = (Object.keys(named).length - 1) / 2;
      const mus = muNames(C).map((m) => named[m]!);
      const dys = range(C).map((c) => named[`dy${c}`]!);
      const [B, T, d] = x.shape as [number, number, number];
      const backend = webgpuBackend();
      const n = B * T * d;
      const dx = allocate(backend, x.shape);
      dispatch('TokenShiftDx', `rb_token_shift_dx_${C}`, dxWgsl(C), [...dys.map((tensor) => ({ tensor })), ...mus.map((tensor) => ({ tensor })), { tensor: dx, write: true }], [{ u: n }, { u: T }, { u: d }], grid(Math.ceil(n / WG)));
      const rows = B * T;
      const blocks = Math.ceil(rows / TOKEN_SHIFT_ROWS);
      const partials = allocate(backend, [blocks * C * d]);
      dispatch('TokenShiftDmuPartials', `rb_token_shift_dmu_partials_${C}`, dmuPartialsWgsl(C), [{ tensor: x }, ...dys.map((tensor) => ({ tensor })), { tensor: partials, write: true }], [{ u: blocks * d }, { u: T }, { u: d }, { u: rows }], grid(Math.ceil((blocks * d) / WG)));
      const dmus = mus.map((mu) => allocate(backend, mu.shape));
      dispatch('TokenShiftDmu', `rb_token_shift_dmu_${C}`, dmuWgsl(C), [{ tensor: partials }, ...dmus.map((tensor) => ({ tensor, write: true }))], [{ u: C * d }, { u: T }, { u: d }, { u: blocks }], grid(Math.ceil((C * d) / WG)));
      release(partials);
      return [dx, ...dmus];
    },
  });
}

/**
 * The mixes of x [B, T, d] with each μ_c [d] fused, in groups of TOKEN_SHIFT_GROUP; undefined (declined: the
 * reference runs) for other shapes or dtypes, or a T of 0.
 */
export function tokenShiftMixWebGpu(x: tf.Tensor3D, mus: tf.Tensor[]): tf.Tensor3D[] | undefined {
  const d = x.shape[2];
  if (x.dtype !== 'float32' || x.size === 0 || mus.length === 0) return undefined;
  if (!mus.every((mu) => mu.dtype === 'float32' && mu.rank === 1 && mu.shape[0] === d)) return undefined;
  const out: tf.Tensor3D[] = [];
  for (let first = 0; first < mus.length; first += TOKEN_SHIFT_GROUP) {
    const group = mus.slice(first, first + TOKEN_SHIFT_GROUP);
    const inputs: Record<string, tf.Tensor> = { x };
    group.forEach((mu, c) => (inputs[`mu${c}`] = mu));
    out.push(...(tf.engine().runKernel(tokenShiftKernel(group.length), inputs as unknown as tf.NamedTensorMap) as unknown as tf.Tensor3D[]));
  }
  return out;
}
