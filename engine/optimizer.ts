// AdamW (Loshchilov & Hutter) as in torch.optim.AdamW, and the cosine-over-epochs schedule of zoology.
import * as tf from '@tensorflow/tfjs';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay: number;
  /** Which variables decay (zoology decays all of them). */
  decays?: (v: tf.Variable) => boolean;
}

export class AdamW {
  readonly m: tf.Variable[];
  readonly v: tf.Variable[];
  stepCount = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;

  constructor(readonly vars: tf.Variable[], readonly opts: AdamWOptions) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.m = vars.map((x) => tf.variable(tf.zerosLike(x), false));
    this.v = vars.map((x) => tf.variable(tf.zerosLike(x), false));
  }

  /** One update with learning rate `lr`; grads in the order of `vars`. */
  apply(grads: tf.Tensor[], lr: number): void {
    this.stepCount += 1;
    const t = this.stepCount;
    const { beta1: b1, beta2: b2, eps } = this;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    tf.tidy(() => {
      this.vars.forEach((p, i) => {
        const g = grads[i]!;
        const m = tf.add(tf.mul(this.m[i]!, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(this.v[i]!, b2), tf.mul(tf.square(g), 1 - b2));
        this.m[i]!.assign(m);
        this.v[i]!.assign(v);
        // torch: p ← p·(1 − lr·wd);  p ← p − lr · m̂ / (√v̂ + eps)
        const wd = this.opts.decays === undefined || this.opts.decays(p) ? this.opts.weightDecay : 0;
        const decayed = wd > 0 ? tf.mul(p, 1 - lr * wd) : p;
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    });
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

/** Cosine annealing to 0 over `epochs`, stepped per epoch (torch CosineAnnealingLR, T_max = epochs). */
export function cosineLr(baseLr: number, epoch: number, epochs: number): number {
  return 0.5 * baseLr * (1 + Math.cos((Math.PI * epoch) / epochs));
}
