// Scatterbrain's two parts joined (architectures/scatterbrain.ts): the window's softmax part plus the low-rank part's
// ratio, whose sums come back from linear attention's normalised outputs (the op returns N/(D + ε)):
//
//   y = local + ((1 − c)·a·(D + ε) + c·a_lag·(D_lag + ε)) / max((1 − c)·D + c·D_lag, m)
//
// a = N/(D + ε) over every earlier token, a_lag the same over the tokens w + 1 or more back (absent when the lag
// reaches past the sequence: then y = local + (1 − c)·a·(D + ε) / max((1 − c)·D, m)); c = 1/√d_h scales the window's
// share, m = zoology's clamp of the normaliser. This is the reference: tfjs's ops in the order the mixer always took
// them (so a CPU run keeps its bits), the ratio's gradient written without b².
import * as tf from '@tensorflow/tfjs';

/**
 * a / b with the gradient written without b² (dy/b and −dy·(a/b)/b): b spans many decades (the key features are
 * exponentials), and b² underflows in float32 long before b does.
 */
export const ratio = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: (t: tf.Tensor[]) => void) => {
  const y = tf.div(a, b);
  save([b, y]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [bs, ys] = saved as [tf.Tensor, tf.Tensor];
      const da = tf.div(dy, bs);
      return [da, tf.neg(tf.sum(tf.mul(da, ys), -1, true))];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** The low-rank part over the tokens w + 1 or more back: a_lag [B, H, T, d_h] and D_lag [B, H, T, 1]. */
export interface Lagged {
  a: tf.Tensor4D;
  D: tf.Tensor4D;
}

/** Constants of a layer: c = 1/√d_h, ε handed to linear attention, m the normaliser's clamp. */
export interface CombineConstants {
  c: number;
  eps: number;
  minNormaliser: number;
}

/** local, a [B, H, T, d_h], D [B, H, T, 1] (and the lagged pair) → y [B, H, T, d_h]. */
export function scatterbrainCombineNaive(local: tf.Tensor4D, a: tf.Tensor4D, D: tf.Tensor4D, lagged: Lagged | undefined, k: CombineConstants): tf.Tensor4D {
  return tf.tidy(() => {
    const N = tf.mul(a, tf.add(D, k.eps));
    let GN: tf.Tensor = tf.mul(N, 1 - k.c);
    let GD: tf.Tensor = tf.mul(D, 1 - k.c);
    if (lagged) {
      const Nlag = tf.mul(lagged.a, tf.add(lagged.D, k.eps));
      GN = tf.add(GN, tf.mul(Nlag, k.c));
      GD = tf.add(GD, tf.mul(lagged.D, k.c));
    }
    return tf.add(local, ratio(GN, tf.maximum(GD, k.minNormaliser))) as tf.Tensor4D;
  });
}
