// The affine map every linear layer applies (engine/params.ts's `make.linear`, Mamba's projections, the model's MLP).
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '../../core/types.js';

/** x [..., in] @ W [in, out] + b, for any leading shape. */
export function linearApply(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  return tf.tidy(() => {
    const inDim = x.shape[x.shape.length - 1];
    const lead = x.shape.slice(0, -1);
    const y2 = tf.matMul(x.reshape([-1, inDim]), weight as tf.Tensor2D);
    const y = bias ? tf.add(y2, bias) : y2;
    return y.reshape([...lead, weight.shape[1]!]);
  });
}
