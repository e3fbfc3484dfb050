// Several linear maps of one input (naive.ts). A backend's fused form (accel/webgpu/projections.ts, lever
// `fusedProjections`) multiplies once by the maps' weights side by side and splits the product — one matmul forward
// and two backward for the lot, in place of one forward and two backward a map and the sum of x's gradients; it may
// decline (undefined: the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { projectionsNaive, type Projection } from './naive.js';

export { projectionsNaive, type Projection } from './naive.js';

/** The fast form's signature (differentiable); undefined: declined. */
export const projectionsOp = fastOp<(x: tf.Tensor, maps: readonly Projection[]) => tf.Tensor[] | undefined>('projections');

/** x [..., in] → [x W_i + b_i for each map], each [..., out_i]. */
export function projections(x: tf.Tensor, maps: readonly Projection[]): tf.Tensor[] {
  const inDim = x.shape[x.rank - 1];
  for (const m of maps) if (m.weight.shape[m.weight.rank - 2] !== inDim) throw new Error(`projections: x has ${inDim} features, a map takes ${m.weight.shape[m.weight.rank - 2]}`);
  return fastForm(projectionsOp, tf.getBackend())?.(x, maps) ?? projectionsNaive(x, maps);
}
