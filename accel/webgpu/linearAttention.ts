// Fused causal linear attention (WebGPU), forward and backward: the fast form of ops/linearAttention's causal entry
// in its plain case (no initial state, no shared keys; a pairScore is ignored: it is φq·φk, which the kernel reads
// directly, so the function is the same):
//
//   y_i = φq_i·S_i / (φq_i·z_i + eps),   S_i = Σ_{j≤i} φk_jᵀ v_j,   z_i = Σ_{j≤i} φk_j
//
// z is the state column of a ones column appended to v, so the kernel computes one thing, the unnormalised causal
// sum o = causal(a, b, c): o_i = Σ_{s≤i} (a_i·b_s) c_s (a, b [BH, T, F_ab], c [BH, T, W]), and the division with
// its eps stays tfjs's, as the reference writes it (y = num / (den + eps)). One thread per (batch·head, column j of
// c) holds its state column Σ_s b_s c_s[j] (F_ab floats, a private array of CAP ≥ F_ab baked into the pipeline
// key) and walks time: per step F_ab multiply-adds into the state and F_ab for the output. One dispatch.
//
// The backward is the same kernel three times, each thread again owning one output column (no cross-thread sums):
//   da_i = Σ_{s≤i} (dy_i·c_s) b_s   = causal(dy, c, b)         (state width W)
//   db_s = Σ_{i≥s} (c_s·dy_i) a_i   = anticausal(c, dy, a)     (state width W)
//   dc_s = Σ_{i≥s} (b_s·a_i) dy_i   = anticausal(b, a, dy)     (state width F_ab)
// where anticausal walks time backwards. No state is stored or recomputed. Every shape is a uniform; the key
// names only CAP. Reference: causalLinearAttentionNaive (ops/linearAttention/naive.ts).
import * as tf from '@tensorflow/tfjs';
import { LINEAR_ATTENTION_EPS, type LinearAttentionOptions } from '../../ops/linearAttention/common.js';
import { allocate, declare, dispatch, grid, webgpuBackend } from './dispatch.js';

export const LINEAR_ATTENTION_KERNEL = 'RecallbenchLinearAttention';

const WG = 64;
/** Largest state width handled (F, and d_v + 1 for the backward); beyond it the op runs its chunked form. */
export const LINEAR_ATTENTION_MAX_WIDTH = 1024;

const pow2AtLeast = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(4, n)));

const wgsl = (CAP: number) => () => `
${declare(
  [
    { name: 'a', type: 'f32' },
    { name: 'b', type: 'f32' },
    { name: 'c', type: 'f32' },
    { name: 'o', type: 'f32', write: true },
  ],
  ['lanes: u32', 'T: u32', 'fa: u32', 'w: u32', 'rev: u32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (lane >= params.lanes) { return; }
  let fa = params.fa;
  let w = params.w;
  let bh = lane / w;
  let j = lane % w;
  var s: array<f32, ${CAP}>;  // Σ_s b_s c_s[j] over the steps walked so far (zero-initialised)
  for (var step = 0u; step < params.T; step++) {
    let t = select(step, params.T - 1u - step, params.rev == 1u);
    let row = bh * params.T + t;
    let ab = row * fa;
    let cj = c[row * w + j];
    var out = 0.0f;
    for (var i = 0u; i < fa; i++) {
      let si = s[i] + b[ab + i] * cj;
      s[i] = si;
      out += a[ab + i] * si;
    }
    o[row * w + j] = out;
  }
}`;

let registered = false;

export function registerLinearAttentionWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: LINEAR_ATTENTION_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { a, b, c } = inputs as Record<string, tf.TensorInfo>;
      const reverse = Boolean((attrs as { reverse?: boolean }).reverse);
      if (a!.shape.length !== 4 || c!.shape.length !== 4 || b!.shape.join() !== a!.shape.join() || c!.shape.slice(0, 3).join() !== a!.shape.slice(0, 3).join())
        throw new Error(`${LINEAR_ATTENTION_KERNEL}: expected a, b [B, H, T, F], c [B, H, T, W], got a [${a!.shape}] b [${b!.shape}] c [${c!.shape}]`);
      const [B, H, T, fa] = a!.shape as [number, number, number, number];
      const w = c!.shape[3]!;
      if (fa > LINEAR_ATTENTION_MAX_WIDTH) throw new Error(`${LINEAR_ATTENTION_KERNEL}: state width ${fa} > ${LINEAR_ATTENTION_MAX_WIDTH}`);
      const CAP = pow2AtLeast(fa);
      const lanes = B * H * w;
      const o = allocate(webgpuBackend(), c!.shape);
      dispatch(
        'LinearAttention',
        `rb_linattn_${CAP}`,
        wgsl(CAP),
        [{ tensor: a! }, { tensor: b! }, { tensor: c! }, { tensor: o, write: true }],
        [{ u: lanes }, { u: T }, { u: fa }, { u: w }, { u: reverse ? 1 : 0 }],
        grid(Math.ceil(lanes / WG)),
      );
      return o;
    },
  });
}

/** o_i = Σ_{s≤i} (a_i·b_s) c_s (reverse: Σ_{s≥i}), one dispatch, no gradient of its own. */
function causalSum(a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, reverse: boolean): tf.Tensor {
  return tf.engine().runKernel(LINEAR_ATTENTION_KERNEL, { a, b, c }, { reverse } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

const causalSumWithGrad = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b, c]);
  return {
    value: causalSum(a, b, c, false),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb, sc] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      return [causalSum(dy, sc, sb, false), causalSum(sc, dy, sa, true), causalSum(sb, sa, dy, true)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.Tensor;

/**
 * Causal linear attention, fused (the fast form of ops/linearAttention's causalLinearAttention): φq, φk [B, H, T, F],
 * v [B, H, T, d_v] → y [B, H, T, d_v]. Undefined (declined: the op runs its chunked form) with an initial state or
 * shared keys, or past LINEAR_ATTENTION_MAX_WIDTH (F, or d_v + 1). chunkSize is the chunked form's; a pairScore is
 * φq·φk, read here from φq, φk themselves.
 */
export function causalLinearAttentionWebGpu(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions = {}): tf.Tensor4D | undefined {
  if (opts.initial || opts.shared) return undefined;
  const [B, H, T, F] = phiQ.shape;
  const dv = v.shape[3];
  if (F > LINEAR_ATTENTION_MAX_WIDTH || dv + 1 > LINEAR_ATTENTION_MAX_WIDTH) return undefined;
  const eps = opts.eps ?? LINEAR_ATTENTION_EPS;
  return tf.tidy(() => {
    // z is the state column of a ones column: o [.., :dv] = φq·S_i, o [.., dv] = φq·z_i
    const o = causalSumWithGrad(phiQ, phiK, tf.concat([v, tf.ones([B, H, T, 1])], 3));
    const [num, den] = tf.split(o, [dv, 1], 3);
    return tf.div(num!, tf.add(den!, eps)) as tf.Tensor4D;
  });
}
