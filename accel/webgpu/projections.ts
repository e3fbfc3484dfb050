// Several linear maps of one input fused (the fast form of ops/projections, lever `fusedProjections`): the maps'
// weights side by side, W = [W_1 | W_2 | …] [in, Σ out_i] (a concat each step: the weights change every step), one
// matmul x W, then the product split into the maps' outputs and each bias added. tfjs's own gradients: the split's is
// one concat of the outputs' gradients, then dx = dy Wᵀ and dW = xᵀ dy (two matmuls for all maps) and the concat's a
// split back into the W_i — in place of a matmul forward and two backward a map and the adds summing x's gradients
// (Gated DeltaNet: six maps a layer). Each output is the same dot products as the reference's, by a wider product:
// within float32 rounding (tests/webgpu-projections.test.ts). Plain 2-D weights only (a stack's [R, in, out] declines).
// Reference: ops/projections/naive.ts.
import * as tf from '@tensorflow/tfjs';
import type { Projection } from '../../ops/projections/index.js';

/** x [..., in] → [x W_i + b_i], fused; undefined (declined) for stacked weights, one map, or other dtypes. */
export function projectionsWebGpu(x: tf.Tensor, maps: readonly Projection[]): tf.Tensor[] | undefined {
  if (maps.length < 2 || x.dtype !== 'float32' || maps.some((m) => m.weight.rank !== 2 || m.weight.dtype !== 'float32' || (m.bias && m.bias.rank !== 1))) return undefined;
  return tf.tidy(() => {
    const inDim = x.shape[x.rank - 1]!;
    const lead = x.shape.slice(0, -1);
    const widths = maps.map((m) => m.weight.shape[1]!);
    const product = tf.matMul(x.reshape([-1, inDim]), tf.concat(maps.map((m) => m.weight as tf.Tensor2D), 1));
    return tf.split(product, widths, 1).map((y, i) => {
      const bias = maps[i]!.bias;
      return (bias ? tf.add(y, bias) : y).reshape([...lead, widths[i]!]);
    });
  });
}
