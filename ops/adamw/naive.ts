// One AdamW update (Loshchilov & Hutter) as torch.optim.AdamW does it, in plain tfjs ops, parameter by parameter:
//   m ← m·β1 + g·(1 − β1);  v ← v·β2 + g²·(1 − β2)
//   p ← p·(1 − lr·wd);  p ← p − lr · (m / c1) / (√(v / c2) + eps),   c1 = 1 − β1^t,  c2 = 1 − β2^t
// The reference of the fused in-place update (accel/webgpu/adamw.ts). The optimizer around it (moments, step count,
// schedule) is engine/optimizer.ts.
import * as tf from '@tensorflow/tfjs';

/** Hyperparameters of one AdamW step, as every form of the update receives them. */
export interface AdamWStep {
  /** The learning rate; a stack of runs (engine/stack.ts): one per run, for parameters with a leading run axis. */
  lr: number | number[];
  beta1: number;
  beta2: number;
  eps: number;
  /** Bias corrections 1 − β1^t and 1 − β2^t. */
  c1: number;
  c2: number;
  /** Weight decay of each parameter (0 = none). */
  weightDecays: number[];
}

/** Update params and the moments m, v (variables, in the order of params) with grads. */
export function adamWUpdateNaive(params: tf.Variable[], m: tf.Variable[], v: tf.Variable[], grads: tf.Tensor[], h: AdamWStep): void {
  const { beta1: b1, beta2: b2, eps, c1, c2 } = h;
  tf.tidy(() => {
    params.forEach((p, i) => {
      // per run: [R, 1, ..., 1] of the run's number, computed in double precision as the scalar form computes it
      const perRun = (f: (lr: number) => number): number | tf.Tensor =>
        typeof h.lr === 'number' ? f(h.lr) : tf.tensor(h.lr.map(f), [h.lr.length, ...p.shape.slice(1).map(() => 1)]);
      const lr = perRun((x) => x);
      const g = grads[i]!;
      const mi = tf.add(tf.mul(m[i]!, b1), tf.mul(g, 1 - b1));
      const vi = tf.add(tf.mul(v[i]!, b2), tf.mul(tf.square(g), 1 - b2));
      m[i]!.assign(mi);
      v[i]!.assign(vi);
      // torch: p ← p·(1 − lr·wd);  p ← p − lr · m̂ / (√v̂ + eps)
      const wd = h.weightDecays[i]!;
      const decayed = wd > 0 ? tf.mul(p, perRun((x) => 1 - x * wd)) : p;
      const update = tf.div(tf.div(mi, c1), tf.add(tf.sqrt(tf.div(vi, c2)), eps));
      p.assign(tf.sub(decayed, tf.mul(update, lr)));
    });
  });
}
