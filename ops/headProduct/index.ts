// H3's per-head products for head_dim P > 1 (naive.ts): the outer product kv = k ⊗ v per head, and the contraction
// y = q · z per head. A backend's fused kernels (accel/webgpu/headProduct.ts, lever `headProduct`) replace them while
// their lever is on — each product one dispatch forward and one backward, reading its inputs once — in place of
// tfjs's broadcasting Multiply, Sum and their gradients' Multiplies and Sums (each a tensor of kv's size); they may
// decline (undefined: the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { headContractNaive, headOuterNaive } from './naive.js';

export { headContractNaive, headOuterNaive } from './naive.js';

/** The fast forms' signatures (each with its own gradient); undefined: declined. */
export const headOuterOp = fastOp<(k: tf.Tensor, v: tf.Tensor, P: number) => tf.Tensor | undefined>('headOuter');
export const headContractOp = fastOp<(q: tf.Tensor, z: tf.Tensor, P: number) => tf.Tensor | undefined>('headContract');

function check(name: string, a: tf.Tensor, b: tf.Tensor, P: number, bWidth: number): void {
  const d = a.shape[a.rank - 1]!;
  if (!Number.isInteger(P) || P < 1 || d % P !== 0) throw new Error(`${name}: width ${d} is not a multiple of head_dim ${P}`);
  if (a.rank !== b.rank || !tf.util.arraysEqual(a.shape.slice(0, -1), b.shape.slice(0, -1)) || b.shape[b.rank - 1] !== bWidth)
    throw new Error(`${name}: shapes [${a.shape}] and [${b.shape}] do not pair (head_dim ${P})`);
}

/** kv [.., H·P²] from k, v [.., H·P]: kv[.., h, i, j] = k[.., h·P + i] · v[.., h·P + j]. */
export function headOuter(k: tf.Tensor, v: tf.Tensor, P: number): tf.Tensor {
  check('headOuter', k, v, P, k.shape[k.rank - 1]!);
  return (P > 1 ? fastForm(headOuterOp, tf.getBackend())?.(k, v, P) : undefined) ?? headOuterNaive(k, v, P);
}

/** y [.., H·P] from q [.., H·P] and z [.., H·P²]: y[.., h·P + j] = Σ_i q[.., h·P + i] · z[.., h, i, j]. */
export function headContract(q: tf.Tensor, z: tf.Tensor, P: number): tf.Tensor {
  check('headContract', q, z, P, q.shape[q.rank - 1]! * P);
  return (P > 1 ? fastForm(headContractOp, tf.getBackend())?.(q, z, P) : undefined) ?? headContractNaive(q, z, P);
}
