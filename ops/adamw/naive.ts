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
    // a stack's numbers per run, made once per step (computed in double precision as the scalar form computes them):
    // its rates, and the decay factor 1 − lr·wd of each weight decay in use; each parameter [R, ...] reads them as
    // [R, 1, ..., 1]
    const lrs = h.lr;
    const runRates = typeof lrs === 'number' ? undefined : tf.tensor1d(lrs);
    const runDecays = new Map<number, tf.Tensor>();
    const runDecay = (wd: number) => {
      let factors = runDecays.get(wd);
      if (!factors) runDecays.set(wd, (factors = tf.tensor1d((lrs as number[]).map((x) => 1 - x * wd))));
      return factors;
    };
    params.forEach((p, i) => {
      const perRun = (t: tf.Tensor) => t.reshape([t.size, ...p.shape.slice(1).map(() => 1)]);
      const lr = runRates ? perRun(runRates) : (lrs as number);
      const g = grads[i]!;
      const mi = tf.add(tf.mul(m[i]!, b1), tf.mul(g, 1 - b1));
      const vi = tf.add(tf.mul(v[i]!, b2), tf.mul(tf.square(g), 1 - b2));
      m[i]!.assign(mi);
      v[i]!.assign(vi);
      // torch: p ← p·(1 − lr·wd);  p ← p − lr · m̂ / (√v̂ + eps)
      const wd = h.weightDecays[i]!;
      const decayed = wd > 0 ? tf.mul(p, runRates ? perRun(runDecay(wd)) : 1 - (lrs as number) * wd) : p;
      const update = tf.div(tf.div(mi, c1), tf.add(tf.sqrt(tf.div(vi, c2)), eps));
      p.assign(tf.sub(decayed, tf.mul(update, lr)));
    });
  });
}
