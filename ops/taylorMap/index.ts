// BASED's Taylor feature map φ(x) = [1, x/f^{1/4}, c_ab·x_a·x_b (a ≤ b)] (naive.ts). A backend's fused kernel
// (accel/webgpu/taylorMap.ts, lever `taylorMap`) replaces it while its lever is on — one dispatch forward (φ written
// once) and one backward — in place of two selection matmuls, the products, a division, a concat and their gradients
// (about 15 dispatches a map; BASED, JRT-RNN and the Taylor linear attention apply it to q and k); it may decline
// (undefined: the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { taylorMapNaive } from './naive.js';

export { taylorFeatureSize, taylorMapNaive } from './naive.js';

/** The fast form's signature (with its own gradient); undefined: declined. */
export const taylorMapOp = fastOp<(x: tf.Tensor) => tf.Tensor | undefined>('taylorMap');

/** φ(x) for any leading shape: x [..., f] → [..., 1 + f + f(f+1)/2]. */
export function taylorMap(x: tf.Tensor): tf.Tensor {
  return fastForm(taylorMapOp, tf.getBackend())?.(x) ?? taylorMapNaive(x);
}
