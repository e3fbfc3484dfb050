// BASED's Taylor feature map fused (WebGPU), forward and backward: the fast form of ops/taylorMap (lever `taylorMap`).
//
//   φ[r, 0] = 1,   φ[r, 1 + a] = x[r, a] / f^{1/4},   φ[r, 1 + f + q(a, b)] = (x[r, a] · x[r, b]) · c_ab   (a ≤ b)
//   dx[r, a] = dφ[r, 1 + a] / f^{1/4} + Σ_b dφ[r, 1 + f + q(min(a, b), max(a, b))] · c · x[r, b]   (b = a: twice)
//
// q(a, b) = a·f − a(a − 1)/2 + (b − a) lists the pairs a-major, as the reference's selection matrices do;
// c_aa = 1/(√2·√f), c_ab = 1/√f (from the host in float32, as the reference's coefficient tensor holds them).
// Forward: one thread per element of φ, which is written once; the reference's selection matmuls pick x_a and x_b
// exactly (a sum of one product by 1 and zeros), so φ is the reference's bit for bit. Backward: one thread per
// element of x, adding its f pairs in increasing b, then the linear term — an order of its own (tests: within
// float32 rounding of the reference's two matmuls). Reference: ops/taylorMap/naive.ts.
//
// Lever `taylorMapConst`: f and F as WGSL constants (a pipeline per f), so the divisions by F and f become a multiply
// and a shift, and the forward finds its pair's row a from the quadratic start(a) = a·f − a(a − 1)/2 = q, a =
// ⌊((2f + 1) − √((2f + 1)² − 8q)) / 2⌋, corrected by one row either way (at a row's start the root is an integer, and a
// GPU's float sqrt rounding up there would floor it one row short; lavapipe's is exact, and the tests pass without
// the correction; inside a row the root lies ≥ 0.015 from the next integer, far past float rounding), in place of
// walking the triangle's rows — up to f steps a thread. At jrt-sd's f 24 (F 325) the forward is four dispatches of
// 69 M elements a step, bound by that index arithmetic: ~0.3 ms each on an H200 (2026-12-03), where writing φ once
// takes ~0.07. φ stays the reference's bit for bit (the same product and coefficient); the backward keeps its order.
import * as tf from '@tensorflow/tfjs';
import { taylorFeatureSize } from '../../ops/taylorMap/index.js';
import { allocate, declare, dispatch, elementMain, grid, kernelWithGrad, webgpuBackend } from './dispatch.js';

const WG = 256;
/** Widest f the fused form takes (its backward loops over f per thread; BASED uses 8–24). */
export const TAYLOR_MAP_MAX_F = 64;
const UNIFORMS = ['n: u32', 'f: u32', 'F: u32', 'rootF4: f32', 'cDiag: f32', 'cOff: f32'];
// q(a, b) for a ≤ b: the pair's place in the quadratic block
const pairIndex = `fn pairIndex(a: u32, b: u32, f: u32) -> u32 { return a * f - (a * (a - 1u)) / 2u + (b - a); }`;

let constOn = false;

/** Lever taylorMapConst: f and F baked into the kernels, the forward's pair by the closed form. */
export function setTaylorMapConst(on: boolean): void {
  constOn = on;
}

// f and F (and the forward's start(a), the first pair of row a of the triangle) as WGSL constants: lever taylorMapConst
const constantsOf = (f: number, withStart: boolean) =>
  `\nconst FD = ${f}u;\nconst FW = ${taylorFeatureSize(f)}u;${withStart ? '\nfn start(a: u32) -> u32 { return a * FD - (a * (a - 1u)) / 2u; }' : ''}`;

// The forward with f and F as uniforms — the pair (a, b) of place q by walking the rows of the triangle (f − a pairs
// each) — or (lever taylorMapConst) as constants, the row a from the quadratic's root, corrected by one either way
const forwardWgsl = (f?: number) => () => `
${declare([{ name: 'x', type: 'f32' }, { name: 'phi', type: 'f32', write: true }], UNIFORMS)}${f === undefined ? '' : constantsOf(f, true)}
${elementMain(WG)}
  let f = ${f === undefined ? 'params.f' : 'FD'};
  let r = e / ${f === undefined ? 'params.F' : 'FW'};
  let p = e % ${f === undefined ? 'params.F' : 'FW'};
  let row = r * f;
  if (p == 0u) {
    phi[e] = 1.0f;
  } else if (p <= f) {
    phi[e] = x[row + p - 1u] / params.rootF4;
  } else {
${
  f === undefined
    ? `    // the pair (a, b) of place q: walk the rows of the triangle (f - a pairs each)
    let q = p - 1u - f;
    var a = 0u;
    var start = 0u;
    loop {
      let len = f - a;
      if (q < start + len) { break; }
      start += len;
      a++;
    }
    let b = a + (q - start);`
    : `    let q = p - 1u - f;
    let n = f32(2u * f + 1u);
    var a = min(u32(max(floor((n - sqrt(n * n - 8.0f * f32(q))) * 0.5f), 0.0f)), f - 1u);
    if (start(a) > q) { a -= 1u; } else if (start(a + 1u) <= q) { a += 1u; }
    let b = a + (q - start(a));`
}
    phi[e] = (x[row + a] * x[row + b]) * select(params.cOff, params.cDiag, a == b);
  }
}`;

// the backward with f and F as uniforms, or (lever taylorMapConst) as constants: the same loop in the same order
const backwardWgsl = (f?: number) => () => `
${declare([{ name: 'x', type: 'f32' }, { name: 'dphi', type: 'f32' }, { name: 'dx', type: 'f32', write: true }], UNIFORMS)}
${pairIndex}${f === undefined ? '' : constantsOf(f, false)}
${elementMain(WG)}
  let f = ${f === undefined ? 'params.f' : 'FD'};
  let r = e / f;
  let a = e % f;
  let row = r * f;
  let g = r * ${f === undefined ? 'params.F' : 'FW'};
  var s = 0.0f;
  for (var b = 0u; b < f; b++) {
    let q = select(pairIndex(b, a, f), pairIndex(a, b, f), a <= b);
    let d = dphi[g + 1u + f + q];
    if (b == a) {
      s += 2.0f * d * params.cDiag * x[row + a];
    } else {
      s += d * params.cOff * x[row + b];
    }
  }
  dx[e] = s + dphi[g + 1u + a] / params.rootF4;
}`;

export const TAYLOR_MAP_KERNEL = 'RecallbenchTaylorMap';
export const TAYLOR_MAP_GRAD_KERNEL = 'RecallbenchTaylorMapGrad';

/** The uniforms after n: f, F, f^{1/4} and the two coefficients, each rounded to float32 as the reference's tensors are. */
const constants = (f: number) => [{ u: f }, { u: taylorFeatureSize(f) }, { f: Math.pow(f, 0.25) }, { f: 1 / (Math.SQRT2 * Math.sqrt(f)) }, { f: 1 / Math.sqrt(f) }];

let registered = false;

export function registerTaylorMapWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: TAYLOR_MAP_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { x } = inputs as Record<string, tf.TensorInfo>;
      const f = x!.shape[x!.shape.length - 1]!;
      const rows = tf.util.sizeFromShape(x!.shape) / f;
      const phi = allocate(webgpuBackend(), [...x!.shape.slice(0, -1), taylorFeatureSize(f)]);
      const n = rows * taylorFeatureSize(f);
      const [key, wgsl] = constOn ? [`rb_taylor_map_c${f}`, forwardWgsl(f)] : ['rb_taylor_map', forwardWgsl()];
      dispatch('TaylorMap', key, wgsl, [{ tensor: x! }, { tensor: phi, write: true }], [{ u: n }, ...constants(f)], grid(Math.ceil(n / WG)));
      return phi;
    },
  });
  tf.registerKernel({
    kernelName: TAYLOR_MAP_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { x, dphi } = inputs as Record<string, tf.TensorInfo>;
      const f = x!.shape[x!.shape.length - 1]!;
      const n = tf.util.sizeFromShape(x!.shape);
      const dx = allocate(webgpuBackend(), x!.shape);
      const [key, wgsl] = constOn ? [`rb_taylor_map_grad_c${f}`, backwardWgsl(f)] : ['rb_taylor_map_grad', backwardWgsl()];
      dispatch('TaylorMapGrad', key, wgsl, [{ tensor: x! }, { tensor: dphi! }, { tensor: dx, write: true }], [{ u: n }, ...constants(f)], grid(Math.ceil(n / WG)));
      return dx;
    },
  });
}

const fused = kernelWithGrad(TAYLOR_MAP_KERNEL, TAYLOR_MAP_GRAD_KERNEL, ['x'], 'dphi');

/** φ(x), fused; undefined (declined: the reference runs) unless float32, non-empty, f ≤ TAYLOR_MAP_MAX_F. */
export function taylorMapWebGpu(x: tf.Tensor): tf.Tensor | undefined {
  const f = x.shape[x.rank - 1];
  if (x.dtype !== 'float32' || x.size === 0 || x.rank < 1 || f === undefined || f > TAYLOR_MAP_MAX_F) return undefined;
  return fused(x);
}
