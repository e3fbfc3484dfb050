// Several linear maps of one input fused (the fast form of ops/projections, lever `fusedProjections`): the maps'
// weights side by side, W = [W_1 | W_2 | …] [in, Σ out_i] (a concat each step: the weights change every step), one
// matmul x W, then the product split into the maps' outputs and each bias added. tfjs's own gradients: the split's is
// one concat of the outputs' gradients, then dx = dy Wᵀ and dW = xᵀ dy (two matmuls for all maps) and the concat's a
// split back into the W_i — in place of a matmul forward and two backward a map and the adds summing x's gradients
// (Gated DeltaNet: six maps a layer). Each output is the same dot products as the reference's, by a wider product:
// within float32 rounding (tests/webgpu-projections.test.ts). A stack's weights [R, in, out] (engine/stack.ts: x
// [R·B, ..., in], each run's rows by its own slice) go side by side along their last axis and through one batched
// matmul, as ops/linear does a stack's one map.
// Reference: ops/projections/naive.ts.
import * as tf from '@tensorflow/tfjs';
import type { Projection } from '../../ops/projections/index.js';

/** x [..., in] → [x W_i + b_i], fused; undefined (declined) for one map, weights of mixed ranks, or other dtypes. */
export function projectionsWebGpu(x: tf.Tensor, maps: readonly Projection[]): tf.Tensor[] | undefined {
  const rank = maps[0]?.weight.rank;
  if (maps.length < 2 || x.dtype !== 'float32' || (rank !== 2 && rank !== 3)) return undefined;
  if (maps.some((m) => m.weight.rank !== rank || m.weight.dtype !== 'float32' || (m.bias && m.bias.rank !== rank - 1))) return undefined;
  return tf.tidy(() => {
    const inDim = x.shape[x.rank - 1]!;
    const lead = x.shape.slice(0, -1);
    const widths = maps.map((m) => m.weight.shape[rank - 1]!);
    const runs = rank === 3 ? maps[0]!.weight.shape[0]! : 0;
    // plain: [N, in] · [in, Σ out]; a stack: [R, N/R, in] · [R, in, Σ out] (each run's rows by its own weights)
    const rows = rank === 3 ? x.reshape([runs, -1, inDim]) : x.reshape([-1, inDim]);
    const product = tf.matMul(rows as tf.Tensor2D, tf.concat(maps.map((m) => m.weight), rank - 1) as tf.Tensor2D);
    return tf.split(product, widths, rank - 1).map((y, i) => {
      const bias = maps[i]!.bias;
      const biased = bias ? tf.add(y, rank === 3 ? bias.reshape([runs, 1, -1]) : bias) : y;
      return biased.reshape([...lead, widths[i]!]);
    });
  });
}
