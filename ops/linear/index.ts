// The affine map every linear layer applies (engine/params.ts's `make.linear`, Mamba's projections, the model's MLP).
// A stack of R runs trained as one model (engine/stack.ts) gives every parameter a leading run axis: W [R, in, out],
// b [R, out], with the runs outermost in x's first axis ([R·B, ..., in]); each run's rows go through its own slice
// as one batched matMul.
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '../../core/types.js';

/** x [..., in] @ W [in, out] + b, for any leading shape; stacked: x [R·B, ..., in], W [R, in, out], b [R, out]. */
export function linearApply(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  return tf.tidy(() => {
    const inDim = x.shape[x.shape.length - 1];
    const lead = x.shape.slice(0, -1);
    if (weight.rank === 3) {
      const runs = weight.shape[0]!;
      const y3 = tf.matMul(x.reshape([runs, -1, inDim]), weight as tf.Tensor3D);
      const y = bias ? tf.add(y3, bias.reshape([runs, 1, -1])) : y3;
      return y.reshape([...lead, weight.shape[2]!]);
    }
    const y2 = tf.matMul(x.reshape([-1, inDim]), weight as tf.Tensor2D);
    const y = bias ? tf.add(y2, bias) : y2;
    return y.reshape([...lead, weight.shape[1]!]);
  });
}
