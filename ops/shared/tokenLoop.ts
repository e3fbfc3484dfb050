// The per-token loop of a matrix-state recurrence, the naive reference of the chunked delta rule and of GLA (one
// helper: the two loops were the same but for the step):
//   S_0 = 0 [B, H, d_k, d_v];   (o_t, S_t) = step(S_{t−1}, x_t)   for t = 0 … T−1;   o = stack_t o_t on axis 2
// where x_t is every input taken at time t (axis 2 of [B, H, T, ...], the time axis dropped).
import * as tf from '@tensorflow/tfjs';

export function tokenByToken(inputs: tf.Tensor[], dk: number, dv: number, step: (S: tf.Tensor4D, x: tf.Tensor[]) => { o: tf.Tensor3D; S: tf.Tensor4D }): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T] = inputs[0]!.shape as [number, number, number];
    const at = (x: tf.Tensor, t: number) => x.slice(x.shape.map((_, i) => (i === 2 ? t : 0)), x.shape.map((n, i) => (i === 2 ? 1 : n))).reshape(x.shape.filter((_, i) => i !== 2));
    let S: tf.Tensor4D = tf.zeros([B, H, dk, dv]);
    const outs: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const r = step(S, inputs.map((x) => at(x, t)));
      outs.push(r.o);
      S = r.S;
    }
    return tf.stack(outs, 2) as tf.Tensor4D;
  });
}
