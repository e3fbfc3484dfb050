// The plain-tfjs references of SiLU and of the SiLU gate (Mamba's y · silu(z), Gated DeltaNet's output gate):
//   silu(x)        = x · σ(x)
//   siluGate(y, z) = y · silu(z)
// the same tfjs ops the architectures wrote before the op existed, so the CPU backends train the same numbers.
import * as tf from '@tensorflow/tfjs';

export function siluNaive(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

export function siluGateNaive(y: tf.Tensor, z: tf.Tensor): tf.Tensor {
  return tf.mul(y, siluNaive(z));
}
