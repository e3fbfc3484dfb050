// BASED's Taylor feature map (zoology's TaylorExp), the plain-tfjs reference:
//   φ(x) = [1, x/f^{1/4}, x_a·x_b·c_ab for a ≤ b]        x [..., f] → [..., F], F = 1 + f + f(f+1)/2
// with c_aa = 1/(√2·√f) and c_ab = 1/√f for a < b (the pair (a,b),(b,a) stored once), so φ(q)·φ(k) = 1 + s + s²/2,
// s = q·k/√f. The pairs are listed a-major: (0,0), (0,1), …, (0,f−1), (1,1), … The products come from two small
// matmuls with dense 0/1 selection matrices (no gather: every backend runs them), the code the feature map had
// before the op existed, so the CPU backends train the same numbers.
import * as tf from '@tensorflow/tfjs';
import { cachedConstant } from '../shared/constants.js';

/** F = 1 + f + f(f+1)/2. */
export function taylorFeatureSize(f: number): number {
  return 1 + f + (f * (f + 1)) / 2;
}

/** Selection matrices for the upper triangle of x xᵀ: (x Sa) ⊙ (x Sb) ⊙ coef lists c_ab·x_a·x_b for a ≤ b. */
function taylorSelectors(f: number): { sa: tf.Tensor2D; sb: tf.Tensor2D; coef: tf.Tensor1D } {
  const P = (f * (f + 1)) / 2;
  const build = () => {
    const sa = new Float32Array(f * P);
    const sb = new Float32Array(f * P);
    const coef = new Float32Array(P);
    let p = 0;
    for (let a = 0; a < f; a++)
      for (let b = a; b < f; b++) {
        sa[a * P + p] = 1;
        sb[b * P + p] = 1;
        coef[p] = a === b ? 1 / (Math.SQRT2 * Math.sqrt(f)) : 1 / Math.sqrt(f);
        p++;
      }
    return { sa, sb, coef };
  };
  let built: ReturnType<typeof build> | undefined;
  const values = () => (built ??= build());
  return {
    sa: cachedConstant(`taylor-sa:${f}`, () => tf.tensor2d(values().sa, [f, P])),
    sb: cachedConstant(`taylor-sb:${f}`, () => tf.tensor2d(values().sb, [f, P])),
    coef: cachedConstant(`taylor-coef:${f}`, () => tf.tensor1d(values().coef)),
  };
}

/** φ(x) for any leading shape: x [..., f] → [..., 1 + f + f(f+1)/2]. */
export function taylorMapNaive(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const f = x.shape[x.rank - 1]!;
    const lead = x.shape.slice(0, -1);
    const flat = x.reshape([-1, f]) as tf.Tensor2D;
    const { sa, sb, coef } = taylorSelectors(f);
    const second = tf.mul(tf.mul(tf.matMul(flat, sa), tf.matMul(flat, sb)), coef);
    const first = tf.div(flat, Math.pow(f, 0.25));
    const ones = tf.ones([flat.shape[0], 1]);
    return tf.concat([ones, first, second], 1).reshape([...lead, taylorFeatureSize(f)]);
  });
}
