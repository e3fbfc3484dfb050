// The plain-tfjs references of H3's per-head products (head_dim P > 1, zoology's h3.py):
//   headOuter(k, v)     kv[.., h, i, j] = k[.., h·P + i] · v[.., h·P + j]        [.., H·P] × [.., H·P] → [.., H·P²]
//   headContract(q, z)  y[.., h·P + j] = Σ_i q[.., h·P + i] · z[.., h, i, j]     [.., H·P] × [.., H·P²] → [.., H·P]
// (channel (h, i, j) of kv and z is h·P² + i·P + j), the broadcasting multiply and sum H3 wrote before the op
// existed, so the CPU backends train the same numbers; P = 1 is the elementwise product in both.
import * as tf from '@tensorflow/tfjs';

export function headOuterNaive(k: tf.Tensor, v: tf.Tensor, P: number): tf.Tensor {
  if (P === 1) return tf.mul(k, v);
  const lead = k.shape.slice(0, -1);
  const H = k.shape[k.rank - 1]! / P;
  return tf.mul(k.reshape([...lead, H, P, 1]), v.reshape([...lead, H, 1, P])).reshape([...lead, H * P * P]);
}

export function headContractNaive(q: tf.Tensor, z: tf.Tensor, P: number): tf.Tensor {
  if (P === 1) return tf.mul(q, z);
  const lead = q.shape.slice(0, -1);
  const d = q.shape[q.rank - 1]!;
  const H = d / P;
  return tf.sum(tf.mul(q.reshape([...lead, H, P, 1]), z.reshape([...lead, H, P, P])), -2).reshape([...lead, d]);
}
